# baseline.apply {"steps": [{"do": "setStart", "name", "start", "delayed"} | {"do": "stop", "name"} |
#                           {"do": "start", "name"}], "startTimeoutSeconds"}
#  -> {"changed": bool, "state": {"steps": [{"do","name","changed"}], "services": [rows of the touched services]}}
# Python plans and orders the steps (stops dependents-first, starts dependencies-first); this script
# performs them and stops at the first failure.
#   setStart  sc.exe config <name> start= auto|delayed-auto|demand|disabled: an argument array; only the
#             exit code is used (it is the Win32 error: 5 access denied for protected services, 1060 not
#             installed), never sc.exe's localized text. delayed-auto sets SERVICE_AUTO_START plus the
#             DelayedAutostart flag, auto clears it; demand/disabled leave the flag as it is (Windows ignores
#             it unless the start type is automatic), so restoring a prior start type is exact.
#   stop      refuses while a dependent still runs (the SCM's ControlService semantics; .NET's Stop()
#             would silently stop dependents, which the plan must have decided instead).
#   start     ServiceController.Start(); the SCM starts dependencies first.
param($P)
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.ServiceProcess
function Get-BaselineSvc {
    param([string]$Name)
    $s = Get-Svc -Name $Name
    if ($null -eq $s) { Fail 'SERVICE_NOT_FOUND' "${Name}: the service does not exist" }
    return $s
}

function Get-Row {
    param($Svc)
    $o = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + $Svc.ServiceName)
    try {
        $deps = $k.GetValue('DependOnService', $null, $o)
        if ($null -eq $deps) { $deps = [string[]]@() }
        return @{ name = $Svc.ServiceName; type = [int]$k.GetValue('Type', 0, $o); start = [int]$k.GetValue('Start', 3, $o)
            delayedAutostart = ([int]$k.GetValue('DelayedAutostart', 0, $o) -eq 1); status = $Svc.Status.ToString()
            dependencies = [string[]]$deps }
    } finally { $k.Close() }
}

$timeout = 60.0
if ($P.startTimeoutSeconds) { $timeout = [double]$P.startTimeoutSeconds }
$done = @()
$touched = @()
foreach ($step in @($P.steps)) {
    $verb = [string]$step.'do'
    $s = Get-BaselineSvc -Name ([string]$step.name)
    $name = $s.ServiceName
    $changed = $false
    switch ($verb) {
        'setStart' {
            $row = Get-Row -Svc $s
            $start = [int]$step.start
            $wantDelayed = $row.delayedAutostart
            if ($start -eq 2) { $wantDelayed = [bool]$step.delayed }
            if ($row.start -ne $start -or $row.delayedAutostart -ne $wantDelayed) {
                $mode = @{ 2 = 'auto'; 3 = 'demand'; 4 = 'disabled' }[$start]
                if ($start -eq 2 -and $wantDelayed) { $mode = 'delayed-auto' }
                if (-not $mode) { Fail 'BAD_PARAMS' "unsupported start type $start for $name" }
                $null = & sc.exe config $name start= $mode
                if ($LASTEXITCODE -ne 0) { Fail (ConvertTo-OpCode $LASTEXITCODE) "sc.exe config $name start= $mode exited with $LASTEXITCODE" }
                $changed = $true
            }
        }
        'stop' {
            if ($s.Status -ne 'Stopped') {
                $running = @($s.DependentServices | Where-Object { $_.Status -ne 'Stopped' } | ForEach-Object { $_.ServiceName })
                if ($running.Count -gt 0) { Fail 'DEPENDENT_SERVICES_RUNNING' "$name has running dependents: $($running -join ', ')" }
                Invoke-Win32 "stop $name" { $s.Stop() }
                try { $s.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($timeout)) } catch [System.ServiceProcess.TimeoutException] {
                    Fail 'SERVICE_REQUEST_TIMEOUT' "$name did not stop within $timeout s"
                }
                $changed = $true
            }
        }
        'start' {
            if ($s.Status -eq 'Stopped') {
                Invoke-Win32 "start $name" { $s.Start() }
                $changed = $true
            }
            try { $s.WaitForStatus('Running', [TimeSpan]::FromSeconds($timeout)) } catch [System.ServiceProcess.TimeoutException] {
                Fail 'SERVICE_REQUEST_TIMEOUT' "$name did not start within $timeout s"
            }
        }
        default { Fail 'BAD_PARAMS' "unknown step $verb" }
    }
    $done += @{ 'do' = $verb; name = $name; changed = $changed }
    if ($touched -notcontains $name) { $touched += $name }
}
$rows = @()
foreach ($n in $touched) { $s = Get-BaselineSvc -Name $n; $s.Refresh(); $rows += (Get-Row -Svc $s) }
$anyChange = @($done | Where-Object { $_.changed }).Count -gt 0
@{ changed = $anyChange; state = @{ steps = $done; services = $rows } }

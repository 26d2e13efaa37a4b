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
$opCodes = @{ 5 = 'ACCESS_DENIED'; 87 = 'INVALID_PARAMETER'; 1051 = 'DEPENDENT_SERVICES_RUNNING'
    1052 = 'INVALID_SERVICE_CONTROL'; 1053 = 'SERVICE_REQUEST_TIMEOUT'; 1056 = 'SERVICE_ALREADY_RUNNING'
    1058 = 'SERVICE_DISABLED'; 1060 = 'SERVICE_NOT_FOUND'; 1062 = 'SERVICE_NOT_ACTIVE'
    1068 = 'SERVICE_DEPENDENCY_FAIL'; 1072 = 'SERVICE_MARKED_FOR_DELETE'; 1075 = 'SERVICE_DEPENDENCY_DELETED' }

function ConvertTo-OpCode {
    param([int]$Win32)
    if ($opCodes.ContainsKey($Win32)) { return $opCodes[$Win32] }
    return "WIN32_$Win32"
}

function Get-Svc {
    param([string]$Name)
    foreach ($s in [System.ServiceProcess.ServiceController]::GetServices()) {
        if ($s.ServiceName -eq $Name) { return $s }
    }
    Fail 'SERVICE_NOT_FOUND' "${Name}: the service does not exist"
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

function Invoke-ServiceCall {
    param([string]$What, [scriptblock]$Action)
    try { & $Action } catch {
        $e = $_.Exception
        while ($null -ne $e) {
            if ($e -is [System.ComponentModel.Win32Exception]) {
                Fail (ConvertTo-OpCode $e.NativeErrorCode) "$What failed: $($e.Message) (Win32 error $($e.NativeErrorCode))"
            }
            $e = $e.InnerException
        }
        throw
    }
}

$timeout = 60.0
if ($P.startTimeoutSeconds) { $timeout = [double]$P.startTimeoutSeconds }
$done = @()
$touched = @()
foreach ($step in @($P.steps)) {
    $verb = [string]$step.'do'
    $s = Get-Svc -Name ([string]$step.name)
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
                Invoke-ServiceCall "stop $name" { $s.Stop() }
                try { $s.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($timeout)) } catch [System.ServiceProcess.TimeoutException] {
                    Fail 'SERVICE_REQUEST_TIMEOUT' "$name did not stop within $timeout s"
                }
                $changed = $true
            }
        }
        'start' {
            if ($s.Status -eq 'Stopped') {
                Invoke-ServiceCall "start $name" { $s.Start() }
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
foreach ($n in $touched) { $s = Get-Svc -Name $n; $s.Refresh(); $rows += (Get-Row -Svc $s) }
$anyChange = @($done | Where-Object { $_.changed }).Count -gt 0
@{ changed = $anyChange; state = @{ steps = $done; services = $rows } }

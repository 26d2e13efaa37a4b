# The Windows workflow (job real-host): what winfleet may change on a host, as JSON, so the workflow can
# compare the runner before `pulumi up` and after `pulumi destroy` (python -m tests.scripts.windows_ci compare).
# Registry through Microsoft.Win32.Registry (channel names hold '/'); numbers and names, no localized text.
param(
    [Parameter(Mandatory = $true)][int]$DiskNumber,
    [Parameter(Mandatory = $true)][string]$OutFile
)
$ErrorActionPreference = 'Stop'
$hklm = [Microsoft.Win32.Registry]::LocalMachine

function Get-Values {
    # {name: "<kind>:<data>"} of HKLM\<SubKey>, or $null when the key does not exist
    param([string]$SubKey)
    $k = $hklm.OpenSubKey($SubKey)
    if ($null -eq $k) { return $null }
    try {
        $out = [ordered]@{}
        foreach ($n in @($k.GetValueNames() | Sort-Object)) {
            $v = $k.GetValue($n, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
            $out[$n] = ([string]$k.GetValueKind($n)) + ':' + (@($v) -join '|')
        }
        return $out
    } finally { $k.Close() }
}

function Get-SubKeys {
    param([string]$SubKey)
    $k = $hklm.OpenSubKey($SubKey)
    if ($null -eq $k) { return @() }
    try { return @($k.GetSubKeyNames() | Sort-Object) } finally { $k.Close() }
}

$services = [ordered]@{}
foreach ($name in (Get-SubKeys -SubKey 'SYSTEM\CurrentControlSet\Services')) {
    $v = Get-Values -SubKey ('SYSTEM\CurrentControlSet\Services\' + $name)
    if ($null -eq $v -or -not $v.Contains('Type')) { continue }
    $type = [int](($v['Type'] -split ':', 2)[1])
    if (($type -band 0x30) -eq 0) { continue }          # Win32 services only (own/share process)
    $services[$name] = [ordered]@{ start = $v['Start']; delayed = $v['DelayedAutostart']; account = $v['ObjectName']
        image = $v['ImagePath']; failureActions = $v['FailureActions']; environment = $v['Environment'] }
}

$logs = [ordered]@{}
foreach ($log in (Get-SubKeys -SubKey 'SYSTEM\CurrentControlSet\Services\EventLog')) {
    $sub = 'SYSTEM\CurrentControlSet\Services\EventLog\' + $log
    $v = Get-Values -SubKey $sub
    $logs[$log] = [ordered]@{ maxSize = $v['MaxSize']; retention = $v['Retention']; autoBackup = $v['AutoBackupLogFiles']
        sources = (Get-SubKeys -SubKey $sub) }
}
$channels = [ordered]@{}
foreach ($ch in @('Setup', 'Microsoft-Windows-PowerShell/Operational')) {
    $channels[$ch] = Get-Values -SubKey ('SOFTWARE\Microsoft\Windows\CurrentVersion\WINEVT\Channels\' + $ch)
}
$localDumps = [ordered]@{}
$wer = 'SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps'
foreach ($exe in (Get-SubKeys -SubKey $wer)) { $localDumps[$exe] = Get-Values -SubKey ($wer + '\' + $exe) }

$disk = Get-Disk -Number $DiskNumber
$partitions = @(Get-Partition -DiskNumber $DiskNumber -ErrorAction SilentlyContinue | ForEach-Object {
        [ordered]@{ number = [int]$_.PartitionNumber; letter = [string]$_.DriveLetter; size = [long]$_.Size } })
$rules = @(Get-NetFirewallRule -ErrorAction SilentlyContinue | Where-Object { $_.Name -like 'winfleet*' } |
    ForEach-Object { [string]$_.Name } | Sort-Object)

$snapshot = [ordered]@{
    services     = $services
    eventLogs    = $logs
    channels     = $channels
    eventPolicy  = (Get-SubKeys -SubKey 'SOFTWARE\Policies\Microsoft\Windows\EventLog')
    localDumps   = $localDumps
    winfleetKey  = (Get-Values -SubKey 'SOFTWARE\winfleet')
    winfleetSubs = (Get-SubKeys -SubKey 'SOFTWARE\winfleet')
    installRoot  = (Test-Path -LiteralPath 'C:\Program Files\winfleet')
    disk         = [ordered]@{ style = [string]$disk.PartitionStyle; online = [string]$disk.OperationalStatus
        readOnly = [bool]$disk.IsReadOnly; partitions = $partitions }
    firewall     = $rules
}
$json = ConvertTo-Json -InputObject $snapshot -Depth 8
[System.IO.File]::WriteAllText($OutFile, $json, (New-Object System.Text.UTF8Encoding -ArgumentList $false))
Write-Output ("snapshot: {0} services, {1} event logs -> {2}" -f $services.Count, $logs.Count, $OutFile)

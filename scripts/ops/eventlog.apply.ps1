# eventlog.apply {"changes": [{"log", "maxSizeBytes"?, "retention"?}], "logs": [name]}
#   -> {"changed": bool, "state": {"logs": [log as eventlog.read], "applied": [{"log", "changed"}]}}
# Each change is one EventLogConfiguration.SaveChanges() (the API wevtutil sl uses; works in Windows
# PowerShell 5.1 and PowerShell 7, unlike Limit-EventLog). Python has already validated the sizes
# (>= 1 MB, multiples of 64 KB) and decided what to change; this script only applies it.
param($P)
$ErrorActionPreference = 'Stop'
# PowerShell 7 loads System.Diagnostics.EventLog on demand; Windows PowerShell has it in System.Core.
if (-not ('System.Diagnostics.Eventing.Reader.EventLogConfiguration' -as [type])) {
    Add-Type -AssemblyName 'System.Diagnostics.EventLog'
}

function ConvertTo-RetentionName {
    param([bool]$Keep, [bool]$Backup)
    if (-not $Keep) { return 'circular' }
    if ($Backup) { return 'autoBackup' }
    return 'retain'
}

function Read-EventLogState {
    param([Parameter(Mandatory = $true)][string]$Name)
    try {
        $cfg = New-Object System.Diagnostics.Eventing.Reader.EventLogConfiguration -ArgumentList $Name
    } catch {
        # Not found, or a name the event log service cannot parse as a channel path: no such log.
        # Anything else (access denied, service down) is a real failure.
        $inner = $_.Exception.InnerException
        if ($inner -is [System.Diagnostics.Eventing.Reader.EventLogException]) {
            return @{ request = $Name; exists = $false; reason = $inner.Message }
        }
        throw
    }
    try {
        $mode = [string]$cfg.LogMode
        $effective = @{ Circular = 'circular'; AutoBackup = 'autoBackup'; Retain = 'retain' }[$mode]
        $size = [long]$cfg.MaximumSizeInBytes
        $classic = [bool]$cfg.IsClassicLog
        $logName = [string]$cfg.LogName
    } finally {
        $cfg.Dispose()
    }
    if ($classic) {
        $key = 'HKLM:\SYSTEM\CurrentControlSet\Services\EventLog\' + $logName
    } else {
        $key = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WINEVT\Channels\' + $logName
    }
    $localSize = Get-RegistryValue -Path $key -Name 'MaxSize' -Default $size
    $retention = Get-RegistryValue -Path $key -Name 'Retention' -Default $null
    $backup = Get-RegistryValue -Path $key -Name 'AutoBackupLogFiles' -Default 0
    if ($null -eq $retention) {
        $localMode = $effective
    } else {
        $localMode = ConvertTo-RetentionName -Keep ([long]$retention -ne 0) -Backup ([long]$backup -ne 0)
    }
    $policyKey = 'HKLM:\SOFTWARE\Policies\Microsoft\Windows\EventLog\' + $logName
    $policy = $null
    if (Test-RegistryKey -Path $policyKey) {
        $policy = @{}
        $v = Get-RegistryValue -Path $policyKey -Name 'MaxSize'
        if ($null -ne $v) { $policy['maxSizeKb'] = [long]$v }
        $v = Get-RegistryValue -Path $policyKey -Name 'Retention'
        if ($null -ne $v) { $policy['retention'] = [string]$v }
        $v = Get-RegistryValue -Path $policyKey -Name 'AutoBackupLogFiles'
        if ($null -ne $v) { $policy['autoBackup'] = [string]$v }
        if ($policy.Count -eq 0) { $policy = $null }
    }
    @{
        request      = $Name
        exists       = $true
        name         = $logName
        classic      = $classic
        maxSizeBytes = $size
        retention    = $effective
        local        = @{ maxSizeBytes = [long]$localSize; retention = $localMode }
        policy       = $policy
    }
}

$modes = @{
    circular   = [System.Diagnostics.Eventing.Reader.EventLogMode]::Circular
    autoBackup = [System.Diagnostics.Eventing.Reader.EventLogMode]::AutoBackup
    retain     = [System.Diagnostics.Eventing.Reader.EventLogMode]::Retain
}
$applied = @()
foreach ($ch in @($P.changes)) {
    $name = [string]$ch.log
    try {
        $cfg = New-Object System.Diagnostics.Eventing.Reader.EventLogConfiguration -ArgumentList $name
    } catch {
        Fail 'LOG_NOT_FOUND' "There is no event log named '$name': $($_.Exception.Message)"
    }
    try {
        $before = '{0}/{1}' -f $cfg.MaximumSizeInBytes, $cfg.LogMode
        if ($null -ne $ch.maxSizeBytes) {
            $cfg.MaximumSizeInBytes = [long]$ch.maxSizeBytes
        }
        if ($null -ne $ch.retention) {
            $mode = [string]$ch.retention
            if (-not $modes.ContainsKey($mode)) { Fail 'INVALID_PARAMS' "unknown retention '$mode'" }
            $cfg.LogMode = $modes[$mode]
        }
        $cfg.SaveChanges()
        $after = '{0}/{1}' -f $cfg.MaximumSizeInBytes, $cfg.LogMode
    } finally {
        $cfg.Dispose()
    }
    $applied += , @{ log = $name; changed = ($before -ne $after) }
}

$logs = @()
foreach ($name in @($P.logs)) {
    $logs += , (Read-EventLogState -Name ([string]$name))
}
$changed = @($applied | Where-Object { $_.changed }).Count -gt 0
@{ changed = $changed; state = @{ logs = $logs; applied = $applied } }

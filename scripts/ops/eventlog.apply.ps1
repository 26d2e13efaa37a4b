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
@{ changed = $changed; state = @{ logs = $logs; volumes = (Read-LogVolume -Logs $logs); applied = $applied } }

# eventlog.read {"logs": [name]} -> {"changed": false, "state": {"logs": [log]}}
# log: {request, exists, name, classic, maxSizeBytes, retention, local: {maxSizeBytes, retention}, policy,
#       filePath, fileSizeBytes}; + "volumes": [{letter, sizeBytes, freeBytes}] the log files live on
# Effective values come from EventLogConfiguration (what Get-WinEvent -ListLog returns), opened by
# exact name (no wildcards); "local" is the registry configuration; "policy" the Group Policy values
# that override it. Numbers and enum names only: nothing here depends on the display language.
param($P)
$ErrorActionPreference = 'Stop'
# PowerShell 7 loads System.Diagnostics.EventLog on demand; Windows PowerShell has it in System.Core.
if (-not ('System.Diagnostics.Eventing.Reader.EventLogConfiguration' -as [type])) {
    Add-Type -AssemblyName 'System.Diagnostics.EventLog'
}

$logs = @()
foreach ($name in @($P.logs)) {
    $logs += , (Read-EventLogState -Name ([string]$name))
}
@{ changed = $false; state = @{ logs = $logs; volumes = (Read-LogVolume -Logs $logs) } }

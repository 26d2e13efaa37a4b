# service.read {"name", "binaryPath"|null, "previousPath"|null, "eventSource": {"logName","source"}|null, "dirs": [path],
#               "logonAccount"|null, "crashEvents": {"since", "serviceName", "displayName", "exeName"}|absent (refresh)}
#  -> {"changed": false, "state": {exists, service, dependents: [{name, status}], binary, leftoverPrevious, eventSource, dirs,
#      logonRight: {account, held, otherServices}|null}}
# leftoverPrevious: previousPath when that file exists (an <exe>.previous an apply that died left behind), else null.
# Locale-independent reads only: the service's registry key (what the SCM persists for
# CreateService/ChangeServiceConfig/ChangeServiceConfig2: Start, DelayedAutostart, ServiceSidType,
# FailureActions (SERVICE_FAILURE_ACTIONS, REG_BINARY, returned as hex for Python to decode),
# FailureActionsOnNonCrashFailures, PreshutdownTimeout, DeleteFlag, Environment), the ServiceController
# status enum, Get-FileHash and Get-Acl. Never sc.exe text (localized). Matching is by service
# name only (ServiceName -eq, case-insensitive), never by display name.
param($P)
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.ServiceProcess

$result = @{ changed = $false; state = (Read-ServiceState -P $P) }
if ($null -ne $P.crashEvents) {
    # refresh only: the SCM's and WER's reports about this service since the last apply (scripts/lib/events.ps1)
    $result.state['crashEvents'] = @(Read-CrashEvent -Query $P.crashEvents)
}
$result

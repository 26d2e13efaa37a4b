# port.read {"port": int, "protocol": "TCP", "ruleName": str}
#   -> {"changed": false, "state": {port, dynamic, excluded, listeners, rule, profiles}}
# Whether the port can be bound (dynamic range per TCP setting, excluded ranges, current listeners with
# their process and services) and the inbound firewall rule winfleet keeps for it. Python decides.
param($P)
$ErrorActionPreference = 'Stop'
if ([string]$P.protocol -ne 'TCP') { Fail 'INVALID_PARAMS' 'protocol must be TCP' }
$ruleName = [string]$P.ruleName
Test-WinfleetRuleName -RuleName $ruleName
@{ changed = $false; state = (Read-PortState -Port ([int]$P.port) -RuleName $ruleName) }

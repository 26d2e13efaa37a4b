# quota.read {"volume": "D", "accounts": [name]}
#   -> {"changed": false, "state": {"volume": {letter, exists, fileSystem, state, defaultLimit, defaultWarning},
#                                   "accounts": [{name, exists, admin, entry: {warningBytes, limitBytes, usedBytes, explicit}|null}]}}
# Quota state and entries come from the DiskQuotaControl COM object (numbers, not fsutil's localized
# text); accounts are resolved to SIDs, and "admin" compares SIDs (LocalSystem S-1-5-18, members of
# BUILTIN\Administrators S-1-5-32-544): Windows exempts those from quotas.
param($P)
$ErrorActionPreference = 'Stop'

$names = @()
if ($null -ne $P.accounts) { $names = [string[]]@($P.accounts) }
@{ changed = $false; state = (Read-QuotaState -Letter ([string]$P.volume) -Accounts $names) }

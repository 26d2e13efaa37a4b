# journal.read {"keys": [..] | null} -> {"changed": false, "state": {"entries": {key: value}}}
param($P)
$keys = $null
if ($null -ne $P -and $null -ne $P.keys) {
    if (-not ($P.keys -is [array])) { Fail 'INVALID_PARAMS' 'keys must be a list of strings or null' }
    foreach ($k in $P.keys) {
        if (-not ($k -is [string])) { Fail 'INVALID_PARAMS' 'keys must be a list of strings or null' }
    }
    $keys = [string[]]$P.keys
}
$entries = Read-Journal -Keys $keys
@{ changed = $false; state = @{ entries = $entries } }

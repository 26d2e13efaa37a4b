# quota.apply {"volume": "D", "changes": [change], "accounts": [name]}
#   change: {"do": "setState", "state": "disabled"|"tracked"|"enforced"}
#         | {"do": "setEntry", "account", "warningBytes", "limitBytes"}   (-1 = no limit)
#         | {"do": "removeEntry", "account"}
#         | {"do": "setLogging", "logThreshold": bool, "logLimit": bool}   (System log events 36 / 37)
#   -> {"changed": bool, "state": <as quota.read> + {"applied": [{"do", "changed"}]}}
# Python decides what to change (and refuses exempt accounts); this script applies the list in
# order through the DiskQuotaControl COM object and reads the result back. An account's record is found by
# enumerating the volume's records (Get-QuotaRecord), never by FindUser, which answers for any account.
param($P)
$ErrorActionPreference = 'Stop'

$letter = [string]$P.volume
$vol = Get-Volume -DriveLetter $letter -ErrorAction SilentlyContinue
if ($null -eq $vol) { Fail 'VOLUME_NOT_FOUND' "There is no volume ${letter}:" }
if ([string]$vol.FileSystem -ne 'NTFS') { Fail 'NOT_NTFS' "Disk quotas need an NTFS volume; ${letter}: is $($vol.FileSystem)" }
$dq = New-Object -ComObject Microsoft.DiskQuota
$dq.UserNameResolution = 1
$dq.Initialize(($letter + ':\'), $true)
$states = @{ disabled = 0; tracked = 1; enforced = 2 }

$applied = @()
foreach ($ch in @($P.changes)) {
    $do = [string]$ch.do
    $changed = $false
    switch ($do) {
        'setState' {
            $want = [string]$ch.state
            if (-not $states.ContainsKey($want)) { Fail 'INVALID_PARAMS' "unknown quota state '$want'" }
            if ([int]$dq.QuotaState -ne $states[$want]) {
                $dq.QuotaState = $states[$want]
                $changed = $true
            }
        }
        'setEntry' {
            $account = [string]$ch.account
            $acct = Resolve-QuotaAccount -Name $account
            if (-not $acct.exists) {
                Fail 'ACCOUNT_NOT_FOUND' "No mapping between account names and security IDs was done: $account"
            }
            $user = Get-QuotaRecord -Dq $dq -Sid $acct.sid
            if ($null -eq $user) {
                $user = $dq.AddUser($account)
                $changed = $true
            }
            if ([long]$user.QuotaThreshold -ne [long]$ch.warningBytes -or [long]$user.QuotaLimit -ne [long]$ch.limitBytes) {
                $user.QuotaThreshold = [double]$ch.warningBytes
                $user.QuotaLimit = [double]$ch.limitBytes
                $changed = $true
            }
        }
        'removeEntry' {
            $account = [string]$ch.account
            $acct = Resolve-QuotaAccount -Name $account
            $user = Get-QuotaRecord -Dq $dq -Sid ([string]$acct.sid)    # no SID (no such account): no record
            if ($null -ne $user) {
                if ([long]$user.QuotaUsed -gt 0) {
                    Fail 'QUOTA_ENTRY_IN_USE' "The quota entry for $account cannot be deleted: the account still owns files on ${letter}:"
                }
                $dq.DeleteUser($user)
                $changed = $true
            }
        }
        'setLogging' {
            $wantThreshold = [bool]$ch.logThreshold
            $wantLimit = [bool]$ch.logLimit
            if ([bool]$dq.LogQuotaThreshold -ne $wantThreshold) {
                $dq.LogQuotaThreshold = $wantThreshold
                $changed = $true
            }
            if ([bool]$dq.LogQuotaLimit -ne $wantLimit) {
                $dq.LogQuotaLimit = $wantLimit
                $changed = $true
            }
        }
        default { Fail 'INVALID_PARAMS' "unknown quota change '$do'" }
    }
    $applied += , @{ do = $do; changed = $changed }
}

$names = @()
if ($null -ne $P.accounts) { $names = [string[]]@($P.accounts) }
$state = Read-QuotaState -Letter $letter -Accounts $names
$state['applied'] = $applied
$any = @($applied | Where-Object { $_.changed }).Count -gt 0
@{ changed = $any; state = $state }

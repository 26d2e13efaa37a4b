# The Windows workflow (job real-host), after `pulumi up`: the reference service runs as its virtual account
# NT SERVICE\<name> from the binary the driver downloaded, answers its readiness endpoint, and the data volume
# carries a quota record for that account (set after the service existed: the name resolves only then).
param(
    [Parameter(Mandatory = $true)][string]$Service,
    [Parameter(Mandatory = $true)][int]$Port,
    [Parameter(Mandatory = $true)][string]$DriveLetter
)
$ErrorActionPreference = 'Stop'

$svc = Get-CimInstance -ClassName Win32_Service -Filter ("Name='" + $Service + "'")
if ($null -eq $svc) { throw "service $Service does not exist" }
$account = 'NT SERVICE\' + $Service
if ($svc.StartName -ne $account) { throw "service $Service runs as $($svc.StartName), not $account" }
if ($svc.State -ne 'Running') { throw "service $Service is $($svc.State)" }
Write-Output ("{0}: {1} as {2}, {3}" -f $Service, $svc.State, $svc.StartName, $svc.PathName)

$ready = Invoke-WebRequest -Uri ("http://localhost:{0}/readyz" -f $Port) -UseBasicParsing
if ([int]$ready.StatusCode -ne 200) { throw "readiness answered $($ready.StatusCode)" }

$sid = (New-Object System.Security.Principal.NTAccount -ArgumentList $account).Translate([System.Security.Principal.SecurityIdentifier]).Value
$dq = New-Object -ComObject Microsoft.DiskQuota
$dq.UserNameResolution = 1
$dq.Initialize(($DriveLetter + ':\'), $false)
$found = $null
foreach ($u in $dq) {
    try {
        $s = (New-Object System.Security.Principal.NTAccount -ArgumentList ([string]$u.LogonName)).Translate([System.Security.Principal.SecurityIdentifier]).Value
    } catch { $s = $null }
    if ($s -eq $sid) { $found = $u }
}
if ($null -eq $found) { throw "no quota record for $account on ${DriveLetter}:" }
if ([long]$found.QuotaLimit -le 0) { throw "the quota record for $account has no limit ($($found.QuotaLimit))" }
Write-Output ("quota on {0}: {1} limit {2} warning {3} used {4} (state {5})" -f $DriveLetter, $account,
    [long]$found.QuotaLimit, [long]$found.QuotaThreshold, [long]$found.QuotaUsed, [int]$dq.QuotaState)

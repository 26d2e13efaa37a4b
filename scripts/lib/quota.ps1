# winfleet library (scripts/lib/quota.ps1): what quota.read reports: quota state and entries of a volume (see its header).
# Used by quota.read and quota.apply. Functions only.

function Resolve-QuotaAccount {
    param([Parameter(Mandatory = $true)][string]$Name)
    try {
        $nt = New-Object System.Security.Principal.NTAccount -ArgumentList $Name
        $sid = $nt.Translate([System.Security.Principal.SecurityIdentifier]).Value
    } catch {
        return @{ name = $Name; exists = $false; admin = $false; sid = $null }
    }
    $admin = ($sid -eq 'S-1-5-18') -or ($sid -eq 'S-1-5-32-544')
    if (-not $admin) {
        foreach ($m in @(Get-LocalGroupMember -SID 'S-1-5-32-544' -ErrorAction SilentlyContinue)) {
            if ($null -ne $m.SID -and $m.SID.Value -eq $sid) { $admin = $true }
        }
    }
    @{ name = $Name; exists = $true; admin = $admin; sid = $sid }
}

function Get-QuotaRecord {
    # The record of the quota file for the SID $Sid, or $null, by enumerating the volume's records.
    # Never FindUser: it returns an object with the volume defaults even when there is no record
    # (https://learn.microsoft.com/en-us/windows/win32/api/dskquota/nf-dskquota-idiskquotacontrol-findusername).
    param($Dq, [string]$Sid)
    foreach ($u in $Dq) {
        $s = $null
        try {
            $nt = New-Object System.Security.Principal.NTAccount -ArgumentList ([string]$u.LogonName)
            $s = $nt.Translate([System.Security.Principal.SecurityIdentifier]).Value
        } catch { $s = $null }
        if ($s -eq $Sid) { return $u }
    }
    return $null
}

function Read-QuotaState {
    param([Parameter(Mandatory = $true)][string]$Letter, [string[]]$Accounts)
    $vol = Get-Volume -DriveLetter $Letter -ErrorAction SilentlyContinue
    if ($null -eq $vol) {
        return @{ volume = @{ letter = $Letter; exists = $false }; accounts = @() }
    }
    $info = @{ letter = $Letter; exists = $true; fileSystem = [string]$vol.FileSystem }
    $dq = $null
    if ($info.fileSystem -eq 'NTFS') {
        $dq = New-Object -ComObject Microsoft.DiskQuota
        $dq.UserNameResolution = 1
        $dq.Initialize(($Letter + ':\'), $false)
        $info['state'] = @('disabled', 'tracked', 'enforced')[[int]$dq.QuotaState]
        $info['defaultLimit'] = [long]$dq.DefaultQuotaLimit
        $info['defaultWarning'] = [long]$dq.DefaultQuotaThreshold
        $info['logThreshold'] = [bool]$dq.LogQuotaThreshold
        $info['logLimit'] = [bool]$dq.LogQuotaLimit
    }
    $out = @()
    foreach ($name in $Accounts) {
        $acct = Resolve-QuotaAccount -Name $name
        $entry = $null
        if ($acct.exists -and $null -ne $dq) {
            $user = Get-QuotaRecord -Dq $dq -Sid $acct.sid
            if ($null -ne $user) {
                $entry = @{
                    warningBytes = [long]$user.QuotaThreshold
                    limitBytes   = [long]$user.QuotaLimit
                    usedBytes    = [long]$user.QuotaUsed
                    explicit     = $true
                }
            }
        }
        $out += , @{ name = $name; exists = $acct.exists; admin = $acct.admin; entry = $entry }
    }
    @{ volume = $info; accounts = $out }
}

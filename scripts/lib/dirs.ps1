# winfleet library (scripts/lib/dirs.ps1): directories winfleet creates and removes (recorded under
# HKLM\SOFTWARE\winfleet\Directories, so shared parents are removed by whoever empties them last),
# their explicit Allow ACEs, and the read-back of a directory's owner and ACL. Functions only.

function Read-Dir {
    param([string]$Path)
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) {
        return @{ path = $Path; exists = $false; owner = $null; acl = @() }
    }
    $acl = Get-Acl -LiteralPath $Path
    $entries = @()
    foreach ($r in $acl.Access) {
        $entries += @{ identity = $r.IdentityReference.Value; rights = $r.FileSystemRights.ToString()
            type = $r.AccessControlType.ToString(); inherited = [bool]$r.IsInherited }
    }
    return @{ path = $Path; exists = $true; owner = $acl.Owner; acl = $entries }
}

function Get-Identity {
    param($Step)
    if ($Step.sid) { return New-Object System.Security.Principal.SecurityIdentifier ([string]$Step.sid) }
    return New-Object System.Security.Principal.NTAccount ([string]$Step.grant)
}

function Get-DirAccess {
    # The directory's DACL only, and its DirectoryInfo to write it back with SetAccessControl. Never
    # Get-Acl | Set-Acl: Set-Acl writes the owner Get-Acl read too, which fails on a folder owned by SYSTEM
    # or TrustedInstaller ("The security identifier is not allowed to be the owner of this object",
    # ansible/ansible#20553, dsccommunity/xSystemSecurity#11).
    param([string]$Path)
    $dir = Get-Item -LiteralPath $Path -Force
    $acl = $dir.GetAccessControl([System.Security.AccessControl.AccessControlSections]::Access)
    return @{ dir = $dir; acl = $acl }
}

function Set-DirAce {
    param([string]$Path, $Step)
    $a = Get-DirAccess -Path $Path
    $id = Get-Identity -Step $Step
    $rights = [System.Security.AccessControl.FileSystemRights]([string]$Step.rights)
    $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
    $rule = New-Object System.Security.AccessControl.FileSystemAccessRule ($id, $rights, $inherit, 'None', 'Allow')
    $a.acl.SetAccessRule($rule)
    $a.dir.SetAccessControl($a.acl)
}

function Revoke-DirAce {
    # Remove the explicit ACEs of the identity ($Step.sid, else the account $Step.identity) from the
    # directory $Path. Returns $true when any was removed.
    param([string]$Path, $Step)
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) { return $false }
    $a = Get-DirAccess -Path $Path
    $acl = $a.acl
    $id = Get-Identity -Step @{ sid = $Step.sid; grant = $Step.identity }
    $sid = $id
    if ($id -is [System.Security.Principal.NTAccount]) { $sid = $id.Translate([System.Security.Principal.SecurityIdentifier]) }
    $explicit = @($acl.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]) |
        Where-Object { $_.IdentityReference.Value -eq $sid.Value })
    if ($explicit.Count -eq 0) { return $false }
    $acl.PurgeAccessRules($sid)
    $a.dir.SetAccessControl($acl)
    return $true
}

function Get-CreatedDirsKey {
    # HKLM\SOFTWARE\winfleet\Directories (or $null): one REG_SZ value per directory winfleet created (name =
    # lower-case path), so whichever resource removes the last thing in a shared parent also removes the
    # parent. The key exists only while it lists something (see common.ps1). Caller holds the lock.
    param([bool]$Writable = $false)
    return [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Directories', $Writable)
}

function New-OwnedDirectory {
    # Create $Path (and missing parents); record every directory created here. Returns $true if any.
    param([string]$Path)
    $missing = @()
    $q = $Path
    while ($q.Length -gt 3 -and -not (Test-Path -LiteralPath $q -PathType Container)) {
        $missing += $q
        $q = Split-Path -LiteralPath $q -Parent
    }
    if ($missing.Count -eq 0) { return $false }
    $null = [System.IO.Directory]::CreateDirectory($Path)
    $lock = Enter-WinfleetRegistryLock
    try {
        foreach ($m in $missing) { Set-WinfleetValue -Sub 'Directories' -Name $m.ToLowerInvariant() -Data $m }
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
    return $true
}

function Test-OwnedDirectory {
    param([string]$Path)
    $lock = Enter-WinfleetRegistryLock
    try {
        $k = Get-CreatedDirsKey
        if ($null -eq $k) { return $false }
        try { return ($k.GetValueNames() -contains $Path.ToLowerInvariant()) } finally { $k.Close() }
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

function Remove-OwnedDirectoryRecord {
    # Forget $Path and everything recorded below it; the Directories key goes with its last value.
    param([string]$Path)
    $lock = Enter-WinfleetRegistryLock
    try {
        $k = Get-CreatedDirsKey -Writable $true
        if ($null -ne $k) {
            try {
                $lower = $Path.ToLowerInvariant().TrimEnd('\')
                foreach ($n in $k.GetValueNames()) {
                    if ($n -eq $lower -or $n.StartsWith($lower + '\')) { $k.DeleteValue($n) }
                }
            } finally { $k.Close() }
        }
        Remove-EmptyWinfleetKey -Sub 'Directories'
    } finally { Exit-WinfleetRegistryLock -Mutex $lock }
}

function Remove-TreeNoFollow {
    # Delete the directory $Path and everything below it without ever following a reparse point: a
    # junction or symbolic link met on the way is removed as a link, its target untouched. Remove-Item
    # -Recurse in Windows PowerShell 5.1 follows junctions (PowerShell/PowerShell#621), and the service
    # account may create one in its own (log) folder.
    param([string]$Path)
    $item = Get-Item -LiteralPath $Path -Force
    $reparse = [System.IO.FileAttributes]::ReparsePoint
    if (($item.Attributes -band $reparse) -eq 0) {
        foreach ($child in @($item.GetFileSystemInfos())) {
            if ($child -is [System.IO.DirectoryInfo]) {
                Remove-TreeNoFollow -Path $child.FullName
            } else {
                # a read-only file is deleted too (as -Force did); a file link's attributes are left alone
                if (($child.Attributes -band $reparse) -eq 0) { $child.Attributes = [System.IO.FileAttributes]::Normal }
                $child.Delete()
            }
        }
    }
    # RemoveDirectory on a reparse point deletes the point itself, never what it points to
    [System.IO.Directory]::Delete($item.FullName, $false)
}

function Remove-DirUpTo {
    # Remove $Path (ours, recursively), then each parent that is empty and was created by winfleet
    # (recorded above, by whichever resource) or lies within $UpTo (the highest directory found missing).
    param([string]$Path, [string]$UpTo)
    if (-not $UpTo) { $UpTo = $Path }
    $top = $UpTo.ToLowerInvariant()
    $changed = $false
    if (Test-Path -LiteralPath $Path -PathType Container) {
        Remove-TreeNoFollow -Path $Path
        $changed = $true
    }
    Remove-OwnedDirectoryRecord -Path $Path
    $parent = $Path
    while ($true) {
        $parent = Split-Path -LiteralPath $parent -Parent
        if (-not $parent -or $parent.Length -le 3) { break }
        $low = $parent.ToLowerInvariant()
        $ours = (Test-OwnedDirectory -Path $parent) -or $low -eq $top -or $low.StartsWith($top + '\')
        if ($ours -and (Test-Path -LiteralPath $parent -PathType Container) -and -not (Get-ChildItem -LiteralPath $parent -Force | Select-Object -First 1)) {
            Remove-Item -LiteralPath $parent -Force
            Remove-OwnedDirectoryRecord -Path $parent
            $changed = $true
        } else { break }
    }
    return $changed
}

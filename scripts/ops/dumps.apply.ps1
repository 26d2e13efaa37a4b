# dumps.apply {"exeName", "dumpFolder", "dirs", "serviceName"|null, "steps": [
#     {"do": "mkdir", "path", "grant", "sid", "rights"} | {"do": "localDumps", "values"|null, "exeName"?, "upTo"?} |
#     {"do": "revoke", "path", "identity", "sid"} | {"do": "removeDir", "path", "upTo"}]}
#  -> {"changed": bool, "state": {<as dumps.read>, "steps": [{"do","changed"}]}}
# Python (components/host/crash_dumps.py) plans; this script performs the steps in order:
#   mkdir       folder (+ parents) and an explicit Allow ACE (inheritable) for the service account, by SID
#               for NT SERVICE\<name> so it works before the service exists; WER writes the dump in the
#               crashing process's context, so the account must be able to write (DumpFolder doc).
#   localDumps  the LocalDumps\<exe> key set to exactly the given values (DumpFolder REG_EXPAND_SZ,
#               DumpCount/DumpType REG_DWORD), or removed when values is null.
#   revoke / removeDir (+ empty parents up to upTo): the restore of what mkdir did.
param($P)
$ErrorActionPreference = 'Stop'

#region dump-read-functions
function ConvertTo-RegData {
    param($Key, [string]$Name)
    $kind = $Key.GetValueKind($Name)
    $data = $Key.GetValue($Name, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    switch ($kind.ToString()) {
        'String' { return @{ kind = 'REG_SZ'; data = [string]$data } }
        'ExpandString' { return @{ kind = 'REG_EXPAND_SZ'; data = [string]$data } }
        'MultiString' { return @{ kind = 'REG_MULTI_SZ'; data = [string[]]$data } }
        'DWord' { return @{ kind = 'REG_DWORD'; data = [BitConverter]::ToUInt32([BitConverter]::GetBytes([int32]$data), 0) } }
        'QWord' { return @{ kind = 'REG_QWORD'; data = [int64]$data } }
        default { return @{ kind = 'REG_BINARY'; data = ([BitConverter]::ToString([byte[]]$data) -replace '-', '').ToLowerInvariant() } }
    }
}

function Get-KeySnapshot {
    param([string]$SubKey)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($SubKey)
    if ($null -eq $k) { return $null }
    try {
        $out = @{}
        foreach ($n in $k.GetValueNames()) { $out[$n] = ConvertTo-RegData -Key $k -Name $n }
        return $out
    } finally { $k.Close() }
}

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

function Read-DumpState {
    param($P)
    $exe = [string]$P.exeName
    $folder = [string]$P.dumpFolder
    $dirs = @()
    foreach ($d in @($P.dirs)) { if ($d) { $dirs += (Read-Dir -Path ([string]$d)) } }
    $auto = Get-RegistryValue -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion\AeDebug' -Name 'Auto' -Default $null
    $envBlock = $null
    if ($P.serviceName) {
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + [string]$P.serviceName)
        if ($null -ne $k) {
            try { $envBlock = $k.GetValue('Environment', $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames) } finally { $k.Close() }
        }
    }
    $missing = $null
    foreach ($parent in @('SOFTWARE\Microsoft\Windows\Windows Error Reporting', 'SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps')) {
        if (-not (Test-Path -LiteralPath ('HKLM:\' + $parent))) { $missing = 'HKLM\' + $parent; break }
    }
    return @{
        localDumps         = @{ exeName = $exe; missingParent = $missing
            values = (Get-KeySnapshot -SubKey ('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\' + $exe)) }
        folder             = (Read-Dir -Path $folder)
        dirs               = $dirs
        driveExists        = (Test-Path -LiteralPath ($folder.Substring(0, 2) + '\') -PathType Container)
        aeDebugAuto        = ([string]$auto -eq '1')
        serviceEnvironment = $envBlock
    }
}
#endregion dump-read-functions

function Get-Identity {
    param($Step)
    if ($Step.sid) { return New-Object System.Security.Principal.SecurityIdentifier ([string]$Step.sid) }
    return New-Object System.Security.Principal.NTAccount ([string]$Step.grant)
}

function Set-RegKeyExact {
    param([string]$SubKey, $Values)
    $before = Get-KeySnapshot -SubKey $SubKey
    $path = 'HKLM:\' + $SubKey
    if ($null -eq $Values) {
        if ($null -eq $before) { return $false }
        Remove-Item -LiteralPath $path -Recurse -Force
        return $true
    }
    if (-not (Test-Path -LiteralPath $path)) { $null = New-Item -Path $path -Force }
    $names = @($Values.PSObject.Properties | ForEach-Object { $_.Name })
    if ($null -ne $before) {
        foreach ($n in @($before.Keys)) { if ($names -notcontains $n) { Remove-ItemProperty -LiteralPath $path -Name $n } }
    }
    $kinds = @{ REG_SZ = 'String'; REG_EXPAND_SZ = 'ExpandString'; REG_MULTI_SZ = 'MultiString'; REG_DWORD = 'DWord'; REG_QWORD = 'QWord' }
    foreach ($prop in $Values.PSObject.Properties) {
        $v = $prop.Value
        $data = $v.data
        if ($v.kind -eq 'REG_MULTI_SZ') { $data = [string[]]@($v.data) }
        elseif ($v.kind -eq 'REG_DWORD') { $data = [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32]$v.data), 0) }
        $null = New-ItemProperty -LiteralPath $path -Name $prop.Name -PropertyType $kinds[[string]$v.kind] -Value $data -Force
    }
    $after = Get-KeySnapshot -SubKey $SubKey
    return ((ConvertTo-Json $before -Depth 5 -Compress) -ne (ConvertTo-Json $after -Depth 5 -Compress))
}

function Get-CreatedDirsKey {
    # HKLM\SOFTWARE\winfleet\Directories: one REG_SZ value per directory winfleet created (name = lower-case
    # path), so whichever resource removes the last thing in a shared parent also removes the parent.
    param([bool]$Writable = $false)
    if ($Writable) { return [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey('SOFTWARE\winfleet\Directories') }
    return [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\winfleet\Directories')
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
    $k = Get-CreatedDirsKey -Writable $true
    try { foreach ($m in $missing) { $k.SetValue($m.ToLowerInvariant(), $m, [Microsoft.Win32.RegistryValueKind]::String) } } finally { $k.Close() }
    return $true
}

function Test-OwnedDirectory {
    param([string]$Path)
    $k = Get-CreatedDirsKey
    if ($null -eq $k) { return $false }
    try { return ($k.GetValueNames() -contains $Path.ToLowerInvariant()) } finally { $k.Close() }
}

function Remove-OwnedDirectoryRecord {
    param([string]$Path)
    $k = Get-CreatedDirsKey -Writable $true
    $empty = $false
    try {
        $lower = $Path.ToLowerInvariant().TrimEnd('\')
        foreach ($n in $k.GetValueNames()) {
            if ($n -eq $lower -or $n.StartsWith($lower + '\')) { $k.DeleteValue($n) }
        }
        $empty = ($k.ValueCount -eq 0 -and $k.SubKeyCount -eq 0)
    } finally { $k.Close() }
    if ($empty) { [Microsoft.Win32.Registry]::LocalMachine.DeleteSubKey('SOFTWARE\winfleet\Directories', $false) }
}

function Remove-DirUpTo {
    # Remove $Path (ours, recursively), then each parent that is empty and was created by winfleet
    # (recorded above, by whichever resource) or lies within $UpTo (the highest directory found missing).
    param([string]$Path, [string]$UpTo)
    if (-not $UpTo) { $UpTo = $Path }
    $top = $UpTo.ToLowerInvariant()
    $changed = $false
    if (Test-Path -LiteralPath $Path -PathType Container) {
        Remove-Item -LiteralPath $Path -Recurse -Force
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

$done = @()
foreach ($step in @($P.steps)) {
    $verb = [string]$step.'do'
    $changed = $false
    switch ($verb) {
        'mkdir' {
            $p = [string]$step.path
            if (-not (Test-Path -LiteralPath ($p.Substring(0, 2) + '\') -PathType Container)) {
                Fail 'PATH_NOT_FOUND' "drive $($p.Substring(0, 2)) does not exist on the host"
            }
            $changed = New-OwnedDirectory -Path $p
            if ($step.grant) {
                $acl = Get-Acl -LiteralPath $p
                $inherit = [System.Security.AccessControl.InheritanceFlags]'ContainerInherit, ObjectInherit'
                $rule = New-Object System.Security.AccessControl.FileSystemAccessRule ((Get-Identity -Step $step),
                    [System.Security.AccessControl.FileSystemRights]([string]$step.rights), $inherit, 'None', 'Allow')
                $acl.SetAccessRule($rule)
                Set-Acl -LiteralPath $p -AclObject $acl
                $changed = $true
            }
        }
        'localDumps' {
            $exe = [string]$P.exeName
            if ($step.exeName) { $exe = [string]$step.exeName }
            $changed = Set-RegKeyExact -SubKey ('SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\' + $exe) -Values $step.values
            if ($null -eq $step.values) {
                # an empty LocalDumps key has no effect: remove it with the last per-exe key, whichever
                # CrashDumps created it (the Windows Error Reporting key itself is never empty on Windows)
                foreach ($parent in @('HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps', 'HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting')) {
                    $k = Get-Item -LiteralPath ($parent -replace '^HKLM\\', 'HKLM:\') -ErrorAction SilentlyContinue
                    if ($null -ne $k -and $k.SubKeyCount -eq 0 -and $k.ValueCount -eq 0) {
                        Remove-Item -LiteralPath ($parent -replace '^HKLM\\', 'HKLM:\') -Force
                        $changed = $true
                    } else { break }
                }
            }
        }
        'revoke' {
            $p = [string]$step.path
            if (Test-Path -LiteralPath $p -PathType Container) {
                $acl = Get-Acl -LiteralPath $p
                $id = Get-Identity -Step @{ sid = $step.sid; grant = $step.identity }
                $sid = $id
                if ($id -is [System.Security.Principal.NTAccount]) { $sid = $id.Translate([System.Security.Principal.SecurityIdentifier]) }
                $explicit = @($acl.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]) |
                    Where-Object { $_.IdentityReference.Value -eq $sid.Value })
                if ($explicit.Count -gt 0) {
                    $acl.PurgeAccessRules($sid)
                    Set-Acl -LiteralPath $p -AclObject $acl
                    $changed = $true
                }
            }
        }
        'removeDir' { $changed = Remove-DirUpTo -Path ([string]$step.path) -UpTo ([string]$step.upTo) }
        default { Fail 'BAD_PARAMS' "unknown step $verb" }
    }
    $done += @{ 'do' = $verb; changed = [bool]$changed }
}
$state = Read-DumpState -P $P
$state['steps'] = $done
$anyChange = @($done | Where-Object { $_.changed }).Count -gt 0
@{ changed = $anyChange; state = $state }

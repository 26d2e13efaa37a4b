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

function Remove-DirUpTo {
    param([string]$Path, [string]$UpTo)
    if (-not $UpTo) { $UpTo = $Path }
    $changed = $false
    if (Test-Path -LiteralPath $Path -PathType Container) {
        Remove-Item -LiteralPath $Path -Recurse -Force
        $changed = $true
    }
    $parent = $Path
    $top = $UpTo.ToLowerInvariant()
    while ($parent.ToLowerInvariant() -ne $top) {
        $parent = Split-Path -LiteralPath $parent -Parent
        if (-not $parent -or -not ($parent.ToLowerInvariant() -eq $top -or $parent.ToLowerInvariant().StartsWith($top + '\'))) { break }
        if ((Test-Path -LiteralPath $parent -PathType Container) -and -not (Get-ChildItem -LiteralPath $parent -Force | Select-Object -First 1)) {
            Remove-Item -LiteralPath $parent -Force
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
            if (-not (Test-Path -LiteralPath $p -PathType Container)) {
                $null = [System.IO.Directory]::CreateDirectory($p)
                $changed = $true
            }
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
            if ($null -eq $step.values -and $step.upTo) {
                # remove the parent keys this resource created (LocalDumps, ...) while they are empty
                foreach ($parent in @('HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps', 'HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting')) {
                    if (-not $parent.ToLowerInvariant().StartsWith(([string]$step.upTo).ToLowerInvariant())) { break }
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

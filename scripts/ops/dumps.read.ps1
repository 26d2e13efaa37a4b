# dumps.read {"exeName", "dumpFolder", "dirs": [path], "serviceName"|null}
#  -> {"changed": false, "state": {localDumps: {exeName, values, missingParent}, folder, dirs, driveExists, aeDebugAuto, serviceEnvironment}}
# WER LocalDumps (MicrosoftDocs/win32 "Collecting User-Mode Dumps"): the per-exe key
# HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\<exe> overrides the global one;
# "A crash dump is not collected when you set automatic debugging" (AeDebug Auto = "1"), reported here.
# serviceEnvironment is the service's Environment (REG_MULTI_SZ): Go needs GOTRACEBACK=wer there.
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

@{ changed = $false; state = (Read-DumpState -P $P) }

# winfleet library (scripts/lib/registry.ps1): registry values as {kind, data} snapshots, read and
# set locale-independently through Microsoft.Win32.Registry. Sent to the ops whose area lists it in
# components/winrm/bootstrap.py OP_LIBS; dot-sourced by the bootstrap with common.ps1. Functions only.

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
    # {value name: {kind, data}} of HKLM\<SubKey>, or $null when the key does not exist.
    param([string]$SubKey)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($SubKey)
    if ($null -eq $k) { return $null }
    try {
        $out = @{}
        foreach ($n in $k.GetValueNames()) { $out[$n] = ConvertTo-RegData -Key $k -Name $n }
        return $out
    } finally { $k.Close() }
}

function Set-RegKeyExact {
    # Make HKLM\<SubKey> hold exactly $Values ({name: {kind, data}}), or remove it when $Values is $null.
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
    $kinds = @{ REG_SZ = 'String'; REG_EXPAND_SZ = 'ExpandString'; REG_MULTI_SZ = 'MultiString'; REG_DWORD = 'DWord'; REG_QWORD = 'QWord'; REG_BINARY = 'Binary' }
    foreach ($prop in $Values.PSObject.Properties) {
        $v = $prop.Value
        $data = $v.data
        if ($v.kind -eq 'REG_MULTI_SZ') { $data = [string[]]@($v.data) }
        elseif ($v.kind -eq 'REG_BINARY') { $data = [byte[]]@(for ($i = 0; $i -lt $v.data.Length; $i += 2) { [Convert]::ToByte($v.data.Substring($i, 2), 16) }) }
        elseif ($v.kind -eq 'REG_DWORD') { $data = [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32]$v.data), 0) }
        $null = New-ItemProperty -LiteralPath $path -Name $prop.Name -PropertyType $kinds[[string]$v.kind] -Value $data -Force
    }
    $after = Get-KeySnapshot -SubKey $SubKey
    return ((ConvertTo-Json $before -Depth 5 -Compress) -ne (ConvertTo-Json $after -Depth 5 -Compress))
}

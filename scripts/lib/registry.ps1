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

function Test-SnapshotSame {
    # Whether two Get-KeySnapshot results hold the same values: by name (registry value names ignore case,
    # as the hashtable keys do), kind and data (case-sensitive; REG_MULTI_SZ element by element). Not by
    # comparing ConvertTo-Json texts: a hashtable's key order is not its insertion order, so equal
    # snapshots can serialise differently (and "changed" would be reported on an idempotent run).
    param($A, $B)
    if ($null -eq $A -or $null -eq $B) { return (($null -eq $A) -and ($null -eq $B)) }
    if ($A.Count -ne $B.Count) { return $false }
    foreach ($n in @($A.Keys)) {
        if (-not $B.ContainsKey($n)) { return $false }
        $x = $A[$n]
        $y = $B[$n]
        if ([string]$x.kind -ne [string]$y.kind) { return $false }
        $dx = @($x.data)
        $dy = @($y.data)
        if ($dx.Count -ne $dy.Count) { return $false }
        for ($i = 0; $i -lt $dx.Count; $i++) { if ([string]$dx[$i] -cne [string]$dy[$i]) { return $false } }
    }
    return $true
}

function Set-RegKeyExact {
    # Make HKLM\<SubKey> hold exactly $Values ({name: {kind, data}}), or remove it when $Values is $null.
    # Microsoft.Win32.Registry only: Remove-ItemProperty/New-ItemProperty -Name take wildcards (a value
    # named '*' or 'a[b]' would match others), and the provider splits paths on '/'.
    param([string]$SubKey, $Values)
    $before = Get-KeySnapshot -SubKey $SubKey
    $hklm = [Microsoft.Win32.Registry]::LocalMachine
    if ($null -eq $Values) {
        if ($null -eq $before) { return $false }
        $hklm.DeleteSubKeyTree($SubKey, $false)
        return $true
    }
    $names = @($Values.PSObject.Properties | ForEach-Object { $_.Name })
    $kinds = @{ REG_SZ = 'String'; REG_EXPAND_SZ = 'ExpandString'; REG_MULTI_SZ = 'MultiString'; REG_DWORD = 'DWord'; REG_QWORD = 'QWord'; REG_BINARY = 'Binary' }
    $k = $hklm.CreateSubKey($SubKey)
    try {
        if ($null -ne $before) {
            foreach ($n in @($before.Keys)) { if ($names -notcontains $n) { $k.DeleteValue($n, $false) } }
        }
        foreach ($prop in $Values.PSObject.Properties) {
            $v = $prop.Value
            $data = [string]$v.data
            if ($v.kind -eq 'REG_MULTI_SZ') { $data = [string[]]@($v.data) }
            elseif ($v.kind -eq 'REG_BINARY') { $data = [byte[]]@(for ($i = 0; $i -lt $v.data.Length; $i += 2) { [Convert]::ToByte($v.data.Substring($i, 2), 16) }) }
            elseif ($v.kind -eq 'REG_DWORD') { $data = [BitConverter]::ToInt32([BitConverter]::GetBytes([uint32]$v.data), 0) }
            elseif ($v.kind -eq 'REG_QWORD') { $data = [int64]$v.data }
            $k.SetValue([string]$prop.Name, $data, [Microsoft.Win32.RegistryValueKind]$kinds[[string]$v.kind])
        }
    } finally { $k.Close() }
    $after = Get-KeySnapshot -SubKey $SubKey
    return (-not (Test-SnapshotSame -A $before -B $after))
}

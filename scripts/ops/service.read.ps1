# service.read {"name", "binaryPath"|null, "eventSource": {"logName","source"}|null, "dirs": [path]}
#  -> {"changed": false, "state": {exists, service, dependents: [{name, status}], binary, eventSource, dirs}}
# Locale-independent reads only: the service's registry key (what the SCM persists for
# CreateService/ChangeServiceConfig/ChangeServiceConfig2: Start, DelayedAutostart, ServiceSidType,
# FailureActions (SERVICE_FAILURE_ACTIONS, REG_BINARY, returned as hex for Python to decode),
# FailureActionsOnNonCrashFailures, PreshutdownTimeout, DeleteFlag, Environment), the ServiceController
# status enum, Get-FileHash and Get-Acl. Never sc.exe text (localized). Matching is by service
# name only (ServiceName -eq, case-insensitive), never by display name.
param($P)
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.ServiceProcess

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

function Get-Svc {
    param([string]$Name)
    foreach ($s in [System.ServiceProcess.ServiceController]::GetServices()) {
        if ($s.ServiceName -eq $Name) { return $s }
    }
    return $null
}

function Read-ServiceConfig {
    param($Svc)
    $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Services\' + $Svc.ServiceName)
    if ($null -eq $k) { return $null }
    try {
        $o = [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames
        $fa = $k.GetValue('FailureActions', $null, $o)
        $faHex = $null
        if ($null -ne $fa) { $faHex = ([BitConverter]::ToString([byte[]]$fa) -replace '-', '').ToLowerInvariant() }
        $deps = $k.GetValue('DependOnService', $null, $o)
        if ($null -eq $deps) { $deps = [string[]]@() }
        $envBlock = $k.GetValue('Environment', $null, $o)
        $pre = $k.GetValue('PreshutdownTimeout', $null, $o)
        return @{
            name                             = $Svc.ServiceName
            type                             = [int]$k.GetValue('Type', 0, $o)
            start                            = [int]$k.GetValue('Start', 3, $o)
            delayedAutostart                 = ([int]$k.GetValue('DelayedAutostart', 0, $o) -eq 1)
            imagePath                        = [string]$k.GetValue('ImagePath', '', $o)
            displayName                      = [string]$k.GetValue('DisplayName', '', $o)
            description                      = $k.GetValue('Description', $null, $o)
            objectName                       = [string]$k.GetValue('ObjectName', '', $o)
            dependencies                     = [string[]]$deps
            sidType                          = [int]$k.GetValue('ServiceSidType', 0, $o)
            failureActions                   = $faHex
            failureActionsOnNonCrashFailures = ([int]$k.GetValue('FailureActionsOnNonCrashFailures', 0, $o) -eq 1)
            preshutdownTimeoutMs             = $pre
            environment                      = $envBlock
            status                           = $Svc.Status.ToString()
            markedForDelete                  = ([int]$k.GetValue('DeleteFlag', 0, $o) -eq 1)
        }
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

$name = [string]$P.name
$svc = Get-Svc -Name $name
$config = $null
$dependents = @()
if ($null -ne $svc) {
    $config = Read-ServiceConfig -Svc $svc
    # EnumDependentServices: direct and indirect dependents, each before what it depends on
    foreach ($d in $svc.DependentServices) { $dependents += @{ name = $d.ServiceName; status = $d.Status.ToString() } }
}
$binary = $null
if ($P.binaryPath) {
    $bp = [string]$P.binaryPath
    $exists = Test-Path -LiteralPath $bp -PathType Leaf
    $hash = $null
    if ($exists) { $hash = (Get-FileHash -LiteralPath $bp -Algorithm SHA256).Hash.ToLowerInvariant() }
    $binary = @{ path = $bp; exists = [bool]$exists; sha256 = $hash }
}
$eventSource = $null
if ($null -ne $P.eventSource) {
    $es = $P.eventSource
    $eventSource = @{ logName = [string]$es.logName; source = [string]$es.source
        values = (Get-KeySnapshot -SubKey ('SYSTEM\CurrentControlSet\Services\EventLog\' + $es.logName + '\' + $es.source)) }
}
$dirs = @()
foreach ($d in @($P.dirs)) { if ($d) { $dirs += (Read-Dir -Path ([string]$d)) } }
@{
    changed = $false
    state   = @{
        exists      = ($null -ne $svc)
        service     = $config
        dependents  = $dependents
        binary      = $binary
        eventSource = $eventSource
        dirs        = $dirs
    }
}

# winfleet library (scripts/lib/service.ps1): what service.read reports, read locale-independently
# from the service's registry key, the ServiceController status, Get-FileHash and Get-Acl (see the
# header of scripts/ops/service.read.ps1). Needs registry.ps1, dirs.ps1 and scm.ps1. Functions only.

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

function Read-ServiceState {
    # The "state" of service.read (and of service.apply, which adds "steps" and "readiness"); $P is
    # {"name", "binaryPath"|null, "previousPath"|null, "eventSource": {"logName","source"}|null, "dirs": [path]}.
    param($P)
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
    # <exe>.previous left behind by an apply that died between the binary swap and its end
    $leftover = $null
    if ($P.previousPath -and (Test-Path -LiteralPath ([string]$P.previousPath) -PathType Leaf)) { $leftover = [string]$P.previousPath }
    $eventSource = $null
    if ($null -ne $P.eventSource) {
        $es = $P.eventSource
        $eventSource = @{ logName = [string]$es.logName; source = [string]$es.source
            values = (Get-KeySnapshot -SubKey ('SYSTEM\CurrentControlSet\Services\EventLog\' + $es.logName + '\' + $es.source)) }
    }
    $dirs = @()
    foreach ($d in @($P.dirs)) { if ($d) { $dirs += (Read-Dir -Path ([string]$d)) } }
    return @{
        exists      = ($null -ne $svc)
        service     = $config
        dependents  = $dependents
        binary      = $binary
        leftoverPrevious = $leftover
        eventSource = $eventSource
        dirs        = $dirs
    }
}

# winfleet library (scripts/lib/port.ps1): what port.read reports for one service port (see its header).
# Used by port.read and port.apply. Functions only.

function Test-WinfleetRuleName {
    # The rule name reaches -Name, which accepts wildcards: refuse them (Python validated it already).
    param([Parameter(Mandatory = $true)][string]$RuleName)
    if ($RuleName -notmatch '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$') {
        Fail 'INVALID_PARAMS' "ruleName '$RuleName' must be letters, digits, '.', '_' or '-'"
    }
}

function Read-FirewallRuleState {
    # The rule whose Name (the unique InstanceID, not the DisplayName) is $RuleName, or $null.
    param([Parameter(Mandatory = $true)][string]$RuleName)
    try {
        $rule = Get-NetFirewallRule -Name $RuleName -PolicyStore PersistentStore -ErrorAction Stop
    } catch {
        if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { return $null }
        throw
    }
    $ports = $rule | Get-NetFirewallPortFilter
    $addrs = $rule | Get-NetFirewallAddressFilter
    @{
        name            = [string]$rule.Name
        displayName     = [string]$rule.DisplayName
        description     = [string]$rule.Description
        group           = [string]$rule.Group
        enabled         = ([string]$rule.Enabled -eq 'True')
        direction       = [string]$rule.Direction
        action          = [string]$rule.Action
        protocol        = [string]$ports.Protocol
        localPorts      = @($ports.LocalPort | ForEach-Object { [string]$_ })
        remoteAddresses = @($addrs.RemoteAddress | ForEach-Object { [string]$_ })
        profiles        = [string]$rule.Profile
    }
}

function Read-ExcludedPortRange {
    # netsh is the only interface that lists these (Hyper-V/WinNAT and administered exclusions). Only
    # the numeric rows are read ("<start> <end> [*]"), so the display language does not matter.
    param([Parameter(Mandatory = $true)][string]$Family)
    $lines = & netsh.exe interface $Family show excludedportrange protocol=tcp
    if ($LASTEXITCODE -ne 0) {
        Fail 'NETSH_FAILED' "netsh interface $Family show excludedportrange exited with $LASTEXITCODE"
    }
    $out = @()
    foreach ($line in @($lines)) {
        if ([string]$line -match '^\s*(\d+)\s+(\d+)\s*(\*)?\s*$') {
            $out += , @{ family = $Family; startPort = [int]$Matches[1]; endPort = [int]$Matches[2]
                         administered = ($Matches[3] -eq '*') }
        }
    }
    , $out
}

function Read-PortListener {
    param([Parameter(Mandatory = $true)][int]$Port)
    try {
        $conns = @(Get-NetTCPConnection -State Listen -LocalPort $Port -ErrorAction Stop)
    } catch {
        if ($_.CategoryInfo.Category -eq 'ObjectNotFound') { return , @() }
        throw
    }
    $out = @()
    foreach ($c in $conns) {
        $owner = [int]$c.OwningProcess
        $proc = Get-Process -Id $owner -ErrorAction SilentlyContinue   # it may have exited since
        $procName = ''
        if ($null -ne $proc) { $procName = [string]$proc.ProcessName }
        $services = @(Get-CimInstance -ClassName Win32_Service -Filter "ProcessId = $owner" |
            ForEach-Object { [string]$_.Name })
        $out += , @{ localAddress = [string]$c.LocalAddress; localPort = [int]$c.LocalPort; pid = $owner
                     process = $procName; services = $services }
    }
    , $out
}

function Read-PortState {
    param([Parameter(Mandatory = $true)][int]$Port, [Parameter(Mandatory = $true)][string]$RuleName)
    $dynamic = @(Get-NetTCPSetting | Where-Object { $null -ne $_.DynamicPortRangeStartPort } | ForEach-Object {
        @{ settingName = [string]$_.SettingName; startPort = [int]$_.DynamicPortRangeStartPort
           numberOfPorts = [int]$_.DynamicPortRangeNumberOfPorts }
    })
    $excluded = @(Read-ExcludedPortRange -Family 'ipv4') + @(Read-ExcludedPortRange -Family 'ipv6')
    $profiles = @(Get-NetFirewallProfile -PolicyStore ActiveStore | ForEach-Object {
        @{ name = [string]$_.Name; enabled = ([string]$_.Enabled -eq 'True')
           defaultInboundAction = [string]$_.DefaultInboundAction }
    })
    @{
        port      = $Port
        dynamic   = $dynamic
        excluded  = $excluded
        listeners = @(Read-PortListener -Port $Port)
        rule      = (Read-FirewallRuleState -RuleName $RuleName)
        profiles  = $profiles
    }
}

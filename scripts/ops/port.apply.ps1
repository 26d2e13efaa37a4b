# port.apply {port, protocol, ruleName, steps: [{do: create|set, rule: {displayName, description, group,
#   localPorts, remoteAddresses}} | {do: remove}]} -> read state + "applied": [{do, changed}]
# An inbound Allow rule for TCP on the service port from the given remote addresses, every profile.
# Python decided what to do (and refused a rule of that name it did not create); this only applies it.
param($P)
$ErrorActionPreference = 'Stop'
if ([string]$P.protocol -ne 'TCP') { Fail 'INVALID_PARAMS' 'protocol must be TCP' }
$ruleName = [string]$P.ruleName
Test-WinfleetRuleName -RuleName $ruleName
$applied = @()
foreach ($st in @($P.steps)) {
    $verb = [string]$st.do
    if ($verb -eq 'create' -or $verb -eq 'set') {
        $r = $st.rule
        $spec = @{
            Name          = $ruleName
            DisplayName   = [string]$r.displayName
            Description   = [string]$r.description
            Direction     = 'Inbound'
            Action        = 'Allow'
            Protocol      = 'TCP'
            LocalPort     = [string[]]@($r.localPorts)
            RemoteAddress = [string[]]@($r.remoteAddresses)
            Profile       = 'Any'
            Enabled       = 'True'
            ErrorAction   = 'Stop'
        }
        if ($verb -eq 'create') {
            $spec['Group'] = [string]$r.group
            New-NetFirewallRule @spec | Out-Null
        } else {
            # Set-NetFirewallRule's -DisplayName selects rules; -NewDisplayName renames. The group stays.
            $spec['NewDisplayName'] = $spec['DisplayName']
            $spec.Remove('DisplayName')
            Set-NetFirewallRule @spec | Out-Null
        }
        $applied += , @{ do = $verb; changed = $true }
    } elseif ($verb -eq 'remove') {
        if ($null -ne (Read-FirewallRuleState -RuleName $ruleName)) {
            Remove-NetFirewallRule -Name $ruleName -ErrorAction Stop
            $applied += , @{ do = $verb; changed = $true }
        } else {
            $applied += , @{ do = $verb; changed = $false }
        }
    } else {
        Fail 'INVALID_PARAMS' "unknown step '$verb'"
    }
}
$state = Read-PortState -Port ([int]$P.port) -RuleName $ruleName
$state['applied'] = $applied
$changed = @($applied | Where-Object { $_.changed }).Count -gt 0
@{ changed = $changed; state = $state }

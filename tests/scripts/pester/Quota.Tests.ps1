# Pester 5 tests of scripts/ops/quota.read.ps1 and quota.apply.ps1 on a real Windows host.
# Safe on a CI VM: quotas are set on a scratch VHDX volume attached (and removed) here. Without
# elevation no VHDX can be attached, and only the read-only checks run.

BeforeDiscovery { . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1'); $Elevated = Test-IsElevated }

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $script:Vhd = New-ScratchVhd -Name ('winfleet-quota-' + (Get-Random -Minimum 1000 -Maximum 9999))
    $script:Letter = $null
    if ($null -ne $script:Vhd) {
        $script:Letter = Get-FreeDriveLetter
        $null = Invoke-Driver -Op 'volume.apply' -Params @{ disk = $script:Vhd.Number; steps = @(
                @{ do = 'online' }, @{ do = 'initialize'; style = 'GPT' },
                @{ do = 'partition'; driveLetter = $script:Letter },
                @{ do = 'format'; driveLetter = $script:Letter; fileSystem = 'NTFS'; label = 'wfquota' }) }
    }
    # NT AUTHORITY\LOCAL SERVICE by SID, so the test does not depend on the display language.
    $script:Account = (New-Object System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-19').Translate([System.Security.Principal.NTAccount]).Value
    $script:System = (New-Object System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-18').Translate([System.Security.Principal.NTAccount]).Value
}

AfterAll {
    if ($null -ne $script:Vhd) { Remove-ScratchVhd -Path $script:Vhd.Path }
}

Describe 'quota.read' {
    It 'reports a missing volume without failing' {
        $r = Invoke-Driver -Op 'quota.read' -Params @{ volume = 'B'; accounts = @($script:Account) }
        $r.state.volume.exists | Should -BeFalse
    }

    It 'tells exempt accounts from ordinary ones by SID' {
        $r = Invoke-Driver -Op 'quota.read' -Params @{ volume = 'C'; accounts = @($script:Account, $script:System, 'NoSuchDomainX\nobody') }
        $a = @($r.state.accounts)
        $a[0].exists | Should -BeTrue
        $a[0].admin | Should -BeFalse
        $a[1].admin | Should -BeTrue
        $a[2].exists | Should -BeFalse
        $r.state.volume.state | Should -BeIn @('disabled', 'tracked', 'enforced')
    }
}

Describe 'quota.apply' -Skip:(-not $Elevated) {
    It 'reads no entry for an account without a record, although FindUser answers for it (issue 11 item 6)' {
        $r = Invoke-Driver -Op 'quota.read' -Params @{ volume = $script:Letter; accounts = @($script:Account) }
        @($r.state.accounts)[0].entry | Should -BeNullOrEmpty
        $dq = New-Object -ComObject Microsoft.DiskQuota
        $dq.Initialize(($script:Letter + ':\'), $false)
        $dq.FindUser($script:Account) | Should -Not -BeNullOrEmpty    # the object with the volume defaults
    }

    It 'sets an entry and enforcement, then reads them back' {
        $r = Invoke-Driver -Op 'quota.apply' -Params @{ volume = $script:Letter; accounts = @($script:Account); changes = @(
                @{ do = 'setEntry'; account = $script:Account; warningBytes = 8388608; limitBytes = 10485760 },
                @{ do = 'setState'; state = 'enforced' }) }
        $r.changed | Should -BeTrue
        $r.state.volume.state | Should -Be 'enforced'
        $e = @($r.state.accounts)[0].entry
        [long]$e.warningBytes | Should -Be 8388608
        [long]$e.limitBytes | Should -Be 10485760
    }

    It 'is idempotent' {
        $r = Invoke-Driver -Op 'quota.apply' -Params @{ volume = $script:Letter; accounts = @($script:Account); changes = @(
                @{ do = 'setEntry'; account = $script:Account; warningBytes = 8388608; limitBytes = 10485760 },
                @{ do = 'setState'; state = 'enforced' }) }
        $r.changed | Should -BeFalse
    }

    It 'removes the entry and disables quotas again' {
        $r = Invoke-Driver -Op 'quota.apply' -Params @{ volume = $script:Letter; accounts = @($script:Account); changes = @(
                @{ do = 'removeEntry'; account = $script:Account }, @{ do = 'setState'; state = 'disabled' }) }
        $r.state.volume.state | Should -Be 'disabled'
        @($r.state.accounts)[0].entry | Should -BeNullOrEmpty
    }

    It 'fails with ACCOUNT_NOT_FOUND for an unknown account, without running code from its name' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'quota.apply' -Params @{ volume = $script:Letter; accounts = @(); changes = @(
                    @{ do = 'setEntry'; account = 'NT SERVICE\$(Stop-Computer -WhatIf)'; warningBytes = 1; limitBytes = 2 }) } }
        $code | Should -Be 'ACCOUNT_NOT_FOUND'
    }

    It 'fails with VOLUME_NOT_FOUND for a missing volume' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'quota.apply' -Params @{ volume = 'B'; accounts = @(); changes = @() } }
        $code | Should -Be 'VOLUME_NOT_FOUND'
    }
}

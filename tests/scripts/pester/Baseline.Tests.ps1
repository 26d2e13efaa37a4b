# Pester 5 tests of scripts/ops/baseline.read.ps1 and baseline.apply.ps1 on a real Windows host.
# Safe on a throwaway CI VM: start types are only changed on a stopped, manual, throwaway service
# 'WfPesterBase<random>' registered (and deleted) here; real services are only read.

BeforeDiscovery { . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1'); $Elevated = Test-IsElevated }

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $script:Name = 'WfPesterBase' + (Get-Random -Minimum 1000 -Maximum 9999)
    if (Test-IsElevated) {
        $null = New-Service -Name $script:Name -BinaryPathName 'C:\Windows\System32\svchost.exe -k WfPesterNone' -StartupType Manual
    }
}

AfterAll {
    $s = Get-CimInstance -ClassName Win32_Service -Filter ("Name='" + $script:Name + "'")
    if ($null -ne $s) { $null = Invoke-CimMethod -InputObject $s -MethodName Delete }
}

Describe 'baseline.read' {
    It 'lists Win32 services with numeric start types, status names and dependencies' {
        $r = Invoke-Driver -Op 'baseline.read' -Params @{}
        $r.changed | Should -BeFalse
        $rows = @($r.state.services)
        $winrm = $rows | Where-Object { $_.name -eq 'WinRM' }
        $winrm | Should -Not -BeNullOrEmpty
        $winrm.start | Should -BeIn @(2, 3)
        @($winrm.dependencies) | Should -Contain 'RPCSS'
        ($rows | Where-Object { $_.name -eq 'EventLog' }).status | Should -Be 'Running'
    }
}

Describe 'baseline.apply' -Skip:(-not $Elevated) {
    It 'disables and restores a start type exactly (delayed auto included)' {
        $r = Invoke-Driver -Op 'baseline.apply' -Params @{ steps = @(@{ 'do' = 'setStart'; name = $script:Name; start = 4; delayed = $false }) }
        $r.changed | Should -BeTrue
        @($r.state.services)[0].start | Should -Be 4
        $r = Invoke-Driver -Op 'baseline.apply' -Params @{ steps = @(@{ 'do' = 'setStart'; name = $script:Name; start = 4; delayed = $false }) }
        $r.changed | Should -BeFalse
        $r = Invoke-Driver -Op 'baseline.apply' -Params @{ steps = @(@{ 'do' = 'setStart'; name = $script:Name; start = 2; delayed = $true }) }
        @($r.state.services)[0].start | Should -Be 2
        @($r.state.services)[0].delayedAutostart | Should -BeTrue
        $r = Invoke-Driver -Op 'baseline.apply' -Params @{ steps = @(@{ 'do' = 'setStart'; name = $script:Name; start = 3; delayed = $false }) }
        @($r.state.services)[0].start | Should -Be 3
    }

    It 'stopping a stopped service is no change; a missing service is SERVICE_NOT_FOUND' {
        $r = Invoke-Driver -Op 'baseline.apply' -Params @{ steps = @(@{ 'do' = 'stop'; name = $script:Name }) }
        $r.changed | Should -BeFalse
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'baseline.apply' -Params @{ steps = @(@{ 'do' = 'stop'; name = 'WfNoSuchServiceX' }) } }
        $code | Should -Be 'SERVICE_NOT_FOUND'
    }
}

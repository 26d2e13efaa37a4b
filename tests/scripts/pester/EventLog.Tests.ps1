# Pester 5 tests of scripts/ops/eventlog.read.ps1 and eventlog.apply.ps1 on a real Windows host.
# Safe on a CI VM: everything happens on a throwaway classic log created (and deleted) here.

BeforeDiscovery { . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1'); $Elevated = Test-IsElevated }

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $script:LogName = 'WfPester' + (Get-Random -Minimum 1000 -Maximum 9999)
    $script:Source = $script:LogName + 'Src'
    $script:CanCreate = Test-IsElevated
    if ($script:CanCreate) {
        [System.Diagnostics.EventLog]::CreateEventSource($script:Source, $script:LogName)
    }
}

AfterAll {
    if ($script:CanCreate -and [System.Diagnostics.EventLog]::Exists($script:LogName)) {
        [System.Diagnostics.EventLog]::Delete($script:LogName)
    }
}

Describe 'eventlog.read' {
    It 'reads a built-in log by exact name with numbers and mode names only' {
        $r = Invoke-Driver -Op 'eventlog.read' -Params @{ logs = @('Application') }
        $r.changed | Should -BeFalse
        $log = @($r.state.logs)[0]
        $log.exists | Should -BeTrue
        $log.name | Should -Be 'Application'
        $log.classic | Should -BeTrue
        [long]$log.maxSizeBytes | Should -BeGreaterOrEqual 1048576
        $log.retention | Should -BeIn @('circular', 'autoBackup', 'retain')
        $log.local.retention | Should -BeIn @('circular', 'autoBackup', 'retain')
    }

    It 'reads a channel whose name holds a slash from its own registry key (issue 11 item 7)' {
        $name = 'Microsoft-Windows-PowerShell/Operational'
        $r = Invoke-Driver -Op 'eventlog.read' -Params @{ logs = @($name) }
        $log = @($r.state.logs)[0]
        $log.exists | Should -BeTrue
        $k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SOFTWARE\Microsoft\Windows\CurrentVersion\WINEVT\Channels\' + $name)
        $k | Should -Not -BeNullOrEmpty
        try { $size = $k.GetValue('MaxSize', $null) } finally { $k.Close() }
        if ($null -ne $size) { [long]$log.local.maxSizeBytes | Should -Be ([long]$size) }
    }

    It 'reports a missing log instead of failing, and hostile names are just names' {
        $names = @('NoSuchLogWinfleet', "x'; Remove-Item C:\nope -WhatIf; '", '$(Get-Date)', 'App*')
        $r = Invoke-Driver -Op 'eventlog.read' -Params @{ logs = $names }
        @($r.state.logs).Count | Should -Be 4
        foreach ($l in @($r.state.logs)) { $l.exists | Should -BeFalse }
        @($r.state.logs)[1].request | Should -Be $names[1]
    }
}

Describe 'eventlog.apply' -Skip:(-not $Elevated) {
    It 'sets size and retention and reads them back' {
        $r = Invoke-Driver -Op 'eventlog.apply' -Params @{
            changes = @(@{ log = $script:LogName; maxSizeBytes = 2097152; retention = 'retain' })
            logs    = @($script:LogName)
        }
        $r.changed | Should -BeTrue
        $log = @($r.state.logs)[0]
        [long]$log.maxSizeBytes | Should -Be 2097152
        $log.retention | Should -Be 'retain'
        [long]$log.local.maxSizeBytes | Should -Be 2097152
        $log.local.retention | Should -Be 'retain'
    }

    It 'is idempotent: the same change again reports no change' {
        $r = Invoke-Driver -Op 'eventlog.apply' -Params @{
            changes = @(@{ log = $script:LogName; maxSizeBytes = 2097152; retention = 'retain' })
            logs    = @($script:LogName)
        }
        $r.changed | Should -BeFalse
    }

    It 'switches to autoBackup and back to circular' {
        $r = Invoke-Driver -Op 'eventlog.apply' -Params @{ changes = @(@{ log = $script:LogName; retention = 'autoBackup' }); logs = @($script:LogName) }
        @($r.state.logs)[0].retention | Should -Be 'autoBackup'
        $r = Invoke-Driver -Op 'eventlog.apply' -Params @{ changes = @(@{ log = $script:LogName; retention = 'circular' }); logs = @($script:LogName) }
        @($r.state.logs)[0].retention | Should -Be 'circular'
        @($r.state.logs)[0].local.retention | Should -Be 'circular'
    }

    It 'fails with LOG_NOT_FOUND for a missing log' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'eventlog.apply' -Params @{ changes = @(@{ log = 'NoSuchLogWinfleet'; maxSizeBytes = 2097152 }); logs = @() } }
        $code | Should -Be 'LOG_NOT_FOUND'
    }

    It 'fails with INVALID_PARAMS for an unknown retention' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'eventlog.apply' -Params @{ changes = @(@{ log = $script:LogName; retention = 'forever' }); logs = @() } }
        $code | Should -Be 'INVALID_PARAMS'
    }
}

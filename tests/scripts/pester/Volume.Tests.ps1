# Pester 5 tests of scripts/ops/volume.read.ps1 and volume.apply.ps1 on a real Windows host.
# Safe on a CI VM: every change happens on a scratch VHDX attached (and removed) here; the OS disk is
# only read. Without elevation no VHDX can be attached, and only the read-only checks run.

BeforeDiscovery { . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1'); $Elevated = Test-IsElevated }

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $script:Vhd = New-ScratchVhd -Name ('winfleet-volume-' + (Get-Random -Minimum 1000 -Maximum 9999))
    function Get-ScratchDisk {
        param($State)
        foreach ($d in @($State.disks)) { if ([int]$d.number -eq $script:Vhd.Number) { return $d } }
        return $null
    }
}

AfterAll {
    if ($null -ne $script:Vhd) { Remove-ScratchVhd -Path $script:Vhd.Path }
}

Describe 'volume.read' {
    It 'lists the boot disk with its C: volume, sizes and free space' {
        $r = Invoke-Driver -Op 'volume.read' -Params @{}
        $r.changed | Should -BeFalse
        $boot = @($r.state.disks | Where-Object { $_.isBoot })
        $boot.Count | Should -BeGreaterOrEqual 1
        $c = @($boot[0].partitions | Where-Object { $_.driveLetter -eq 'C' })
        $c.Count | Should -Be 1
        $c[0].volume.fileSystem | Should -Be 'NTFS'
        [long]$c[0].volume.freeBytes | Should -BeLessThan ([long]$c[0].volume.sizeBytes)
        $boot[0].partitionStyle | Should -BeIn @('GPT', 'MBR')
    }

    It 'refuses to change the boot disk' {
        $r = Invoke-Driver -Op 'volume.read' -Params @{}
        $boot = @($r.state.disks | Where-Object { $_.isBoot })[0]
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'volume.apply' -Params @{ disk = [int]$boot.number; steps = @(@{ do = 'offline' }) } }
        $code | Should -Be 'ACCESS_DENIED'
    }
}

Describe 'volume.apply on a scratch VHDX' -Skip:(-not $Elevated) {
    BeforeAll {
        $script:Letter = Get-FreeDriveLetter
        # Non-ASCII built from code points: Windows PowerShell 5.1 reads BOM-less scripts as ANSI.
        $script:Label = 'D' + [char]0x00E4 + ' $(x) '';"|`'

    }

    It 'sees the new disk RAW' {
        $d = Get-ScratchDisk (Invoke-Driver -Op 'volume.read' -Params @{}).state
        $d | Should -Not -BeNullOrEmpty
        $d.partitionStyle | Should -Be 'RAW'
    }

    It 'brings it online, initializes GPT, partitions and formats with a literal label' {
        $steps = @(@{ do = 'online' }, @{ do = 'readWrite' }, @{ do = 'initialize'; style = 'GPT' },
            @{ do = 'partition'; driveLetter = $script:Letter },
            @{ do = 'format'; driveLetter = $script:Letter; fileSystem = 'NTFS'; label = $script:Label })
        $r = Invoke-Driver -Op 'volume.apply' -Params @{ disk = $script:Vhd.Number; steps = $steps }
        $r.changed | Should -BeTrue
        $d = Get-ScratchDisk $r.state
        $d.online | Should -BeTrue
        $d.partitionStyle | Should -Be 'GPT'
        $p = @($d.partitions | Where-Object { $_.driveLetter -eq $script:Letter })
        $p.Count | Should -Be 1
        $p[0].volume.fileSystem | Should -Be 'NTFS'
        $p[0].volume.label | Should -Be $script:Label
        [long]$p[0].volume.freeBytes | Should -BeGreaterThan 0
        @($d.partitions | Where-Object { $_.type -eq 'Reserved' }).Count | Should -BeLessOrEqual 1
    }

    It 'relabels the volume' {
        $r = Invoke-Driver -Op 'volume.apply' -Params @{ disk = $script:Vhd.Number; steps = @(@{ do = 'label'; driveLetter = $script:Letter; label = 'wf-data' }) }
        $p = @((Get-ScratchDisk $r.state).partitions | Where-Object { $_.driveLetter -eq $script:Letter })
        $p[0].volume.label | Should -Be 'wf-data'
    }

    It 'clears the disk back to RAW and takes it offline' {
        $r = Invoke-Driver -Op 'volume.apply' -Params @{ disk = $script:Vhd.Number; steps = @(@{ do = 'clear' }, @{ do = 'offline' }) }
        $d = Get-ScratchDisk $r.state
        $d.partitionStyle | Should -Be 'RAW'
        $d.online | Should -BeFalse
        @($d.partitions).Count | Should -Be 0
    }

    It 'fails with INVALID_PARAMS for an unknown step' {
        $code = Get-DriverErrorCode { Invoke-Driver -Op 'volume.apply' -Params @{ disk = $script:Vhd.Number; steps = @(@{ do = 'format-c' }) } }
        $code | Should -Be 'INVALID_PARAMS'
    }
}

# Pester 5 tests of scripts/ops/dumps.read.ps1 and dumps.apply.ps1 on a real Windows host.
# Safe on a throwaway CI VM: only the LocalDumps key of a made-up exe 'wfpester<random>.exe' and a temp
# folder are touched, and both are removed again.

BeforeDiscovery { . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1'); $Elevated = Test-IsElevated }

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $script:Exe = 'wfpester' + (Get-Random -Minimum 1000 -Maximum 9999) + '.exe'
    $root = $env:RUNNER_TEMP
    if (-not $root) { $root = [System.IO.Path]::GetTempPath() }
    $script:Folder = Join-Path $root ('wf dumps ' + (Get-Random))
    $script:Key = 'HKLM:\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps\' + $script:Exe
    # NT SERVICE\WfPesterNoSuchSvc by SID (S-1-5-80-<SHA-1 of the upper-case name>): the service need not exist
    $sha1 = [System.Security.Cryptography.SHA1]::Create()
    $h = $sha1.ComputeHash([System.Text.Encoding]::Unicode.GetBytes('WFPESTERNOSUCHSVC'))
    $script:Sid = 'S-1-5-80-' + ((0..4 | ForEach-Object { [BitConverter]::ToUInt32($h, $_ * 4) }) -join '-')
    $script:Params = @{ exeName = $script:Exe; dumpFolder = $script:Folder; dirs = @($script:Folder); serviceName = $null }
}

AfterAll {
    if (Test-Path -LiteralPath $script:Key) { Remove-Item -LiteralPath $script:Key -Recurse -Force }
    Remove-Item -LiteralPath $script:Folder -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'dumps.read' {
    It 'reports a missing LocalDumps key and folder' {
        $r = Invoke-Driver -Op 'dumps.read' -Params $script:Params
        $r.changed | Should -BeFalse
        $r.state.localDumps.values | Should -BeNullOrEmpty
        $r.state.folder.exists | Should -BeFalse
        $r.state.driveExists | Should -BeTrue
    }
}

Describe 'dumps.apply' -Skip:(-not $Elevated) {
    It 'creates the folder (ACE by service SID) and the LocalDumps values' {
        $p = $script:Params.Clone()
        $p.steps = @(@{ 'do' = 'mkdir'; path = $script:Folder; grant = 'NT SERVICE\WfPesterNoSuchSvc'; sid = $script:Sid; rights = 'Modify' },
            @{ 'do' = 'localDumps'; values = @{ DumpFolder = @{ kind = 'REG_EXPAND_SZ'; data = $script:Folder }
                    DumpCount = @{ kind = 'REG_DWORD'; data = 5 }; DumpType = @{ kind = 'REG_DWORD'; data = 2 } } })
        $r = Invoke-Driver -Op 'dumps.apply' -Params $p
        $r.changed | Should -BeTrue
        $r.state.localDumps.values.DumpFolder.data | Should -Be $script:Folder
        $r.state.localDumps.values.DumpFolder.kind | Should -Be 'REG_EXPAND_SZ'
        $r.state.localDumps.values.DumpType.data | Should -Be 2
        # issue 11 item 1: the values went to LocalDumps\<exe>, never to the global LocalDumps key
        $r.state.globalValues.DumpFolder.data | Should -Not -Be $script:Folder
        $acl = Get-Acl -LiteralPath $script:Folder
        @($acl.GetAccessRules($true, $false, [System.Security.Principal.SecurityIdentifier]) |
            Where-Object { $_.IdentityReference.Value -eq $script:Sid }).Count | Should -Be 1
    }

    It 'cleanGlobal deletes a global value only while it holds exactly the data given' {
        $ld = 'SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps'
        $k = [Microsoft.Win32.Registry]::LocalMachine.CreateSubKey($ld)
        try {
            if ($k.GetValueNames() -contains 'DumpFolder') { Set-ItResult -Skipped -Because 'this host has a global DumpFolder'; return }
            $k.SetValue('DumpFolder', $script:Folder, [Microsoft.Win32.RegistryValueKind]::ExpandString)
        } finally { $k.Close() }
        $p = $script:Params.Clone()
        $p.steps = @(@{ 'do' = 'cleanGlobal'; values = @{ DumpFolder = @{ kind = 'REG_EXPAND_SZ'; data = 'C:\not\this' } } })
        (Invoke-Driver -Op 'dumps.apply' -Params $p).state.globalValues.DumpFolder.data | Should -Be $script:Folder
        $p.steps = @(@{ 'do' = 'cleanGlobal'; values = @{ DumpFolder = @{ kind = 'REG_EXPAND_SZ'; data = $script:Folder } } })
        $r = Invoke-Driver -Op 'dumps.apply' -Params $p
        $r.changed | Should -BeTrue
        $r.state.globalValues.DumpFolder | Should -BeNullOrEmpty
    }

    It 'restores: revokes the entry, removes the folder and the key' {
        $p = $script:Params.Clone()
        $p.steps = @(@{ 'do' = 'localDumps'; values = $null }, @{ 'do' = 'revoke'; path = $script:Folder; identity = 'NT SERVICE\WfPesterNoSuchSvc'; sid = $script:Sid },
            @{ 'do' = 'removeDir'; path = $script:Folder; upTo = $script:Folder })
        $r = Invoke-Driver -Op 'dumps.apply' -Params $p
        $r.state.localDumps.values | Should -BeNullOrEmpty
        Test-Path -LiteralPath $script:Folder | Should -BeFalse
        Test-Path -LiteralPath $script:Key | Should -BeFalse
    }
}

Describe 'removeDir never follows a junction (issue 11 item 12)' -Skip:(-not $Elevated) {
    It 'removes a junction planted in the folder as a link and leaves its target alone' {
        $target = Join-Path $script:Folder '..\wf junction target'
        $null = New-Item -ItemType Directory -Path $target -Force
        [System.IO.File]::WriteAllText((Join-Path $target 'keep.txt'), 'must survive')
        $null = New-Item -ItemType Directory -Path $script:Folder -Force
        $null = New-Item -ItemType Junction -Path (Join-Path $script:Folder 'evil') -Target $target
        [System.IO.File]::WriteAllText((Join-Path $script:Folder 'app.log'), 'log')
        $p = $script:Params.Clone()
        $p.steps = @(@{ 'do' = 'removeDir'; path = $script:Folder; upTo = $script:Folder })
        $null = Invoke-Driver -Op 'dumps.apply' -Params $p
        Test-Path -LiteralPath $script:Folder | Should -BeFalse
        [System.IO.File]::ReadAllText((Join-Path $target 'keep.txt')) | Should -Be 'must survive'
        [System.IO.Directory]::Delete((Resolve-Path -LiteralPath $target).Path, $true)
    }
}

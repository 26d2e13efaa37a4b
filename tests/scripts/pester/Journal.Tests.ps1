# Pester 5 tests of winfleet's own registry keys on a real Windows host: HKLM\SOFTWARE\winfleet\Journal
# (Write-Journal / Clear-Journal / Read-Journal, scripts/lib/common.ps1) and ...\Directories
# (scripts/lib/dirs.ps1) exist only while they hold something, and concurrent writers and clearers (each
# in its own runspace, as ops run in separate powershell.exe processes) lose nothing.
# Safe on a CI VM: runs only where HKLM\SOFTWARE\winfleet does not exist yet (it never touches a host that
# winfleet manages), and leaves it absent again.

BeforeDiscovery {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    $Usable = (Test-IsElevated) -and -not (Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet')
}

BeforeAll {
    . (Join-Path $PSScriptRoot '_HostDriverHelpers.ps1')
    # the functions exactly as an op gets them: the part of the payload above the end-of-common marker
    $script:Common = (Get-OpScript -Op 'journal.read').Split([string[]]@('#winfleet:end-of-common'), 2, [StringSplitOptions]::None)[0]
    $script:WithDirs = (Get-OpScript -Op 'dumps.read').Split([string[]]@('#winfleet:end-of-common'), 2, [StringSplitOptions]::None)[0]
    . ([ScriptBlock]::Create($script:WithDirs))
    $root = $env:RUNNER_TEMP
    if (-not $root) { $root = [System.IO.Path]::GetTempPath() }
    $script:Dir = Join-Path $root ('wf journal ' + (Get-Random))
}

AfterAll {
    Remove-Item -LiteralPath $script:Dir -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'winfleet registry keys' -Skip:(-not $Usable) {
    It 'removes Journal and winfleet with the last entry; the next write recreates them' {
        Write-Journal -Key 'A/x' -Json '{"v":1}'
        Write-Journal -Key 'B/y' -Json '{"v":2}'
        Clear-Journal -Key 'A/x'
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet\Journal' | Should -BeTrue
        Clear-Journal -Key 'B/y'
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse
        (Read-Journal).Count | Should -Be 0
        Write-Journal -Key 'C/z' -Json '{"v":3}'
        (Read-Journal -Keys @('C/z'))['C/z'].v | Should -Be 3
        Clear-Journal -Key 'C/z'
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse
    }

    It 'keeps winfleet while Directories lists a directory, and removes both with the last record' {
        New-OwnedDirectory -Path (Join-Path $script:Dir 'sub') | Should -BeTrue
        Write-Journal -Key 'A/x' -Json '{}'
        Clear-Journal -Key 'A/x'
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet\Journal' | Should -BeFalse
        Test-OwnedDirectory -Path $script:Dir | Should -BeTrue
        Remove-DirUpTo -Path (Join-Path $script:Dir 'sub') -UpTo $script:Dir | Should -BeTrue
        Test-Path -LiteralPath $script:Dir | Should -BeFalse
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse
    }

    It 'the real bootstrap reads the journal before the envelope''s write and returns it next to the result' {
        # components/winrm/bootstrap.py (stdlib only, loaded by path) builds the command line and the
        # payload exactly as the executor sends them; powershell.exe gets the payload on stdin.
        Write-Journal -Key 'A/x' -Json '{"v":1}'
        $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ('wf-bootstrap-' + (Get-Random))
        $py = "import runpy, sys; b = runpy.run_path(sys.argv[1]); " +
              "open(sys.argv[2] + '.cmd', 'w').write(b['COMMAND_LINE']); " +
              "open(sys.argv[2] + '.in', 'wb').write(b['build_payload']('journal.read', {'keys': ['A/x']}, " +
              "{'read': ['A/x', 'B/none'], 'write': {'key': 'A/x', 'value': {'v': 2}}, 'clear': 'A/x'}))"
        & python -c $py (Join-Path $script:RepoRoot 'components\winrm\bootstrap.py') $tmp
        $LASTEXITCODE | Should -Be 0
        try {
            $cmd = [System.IO.File]::ReadAllText($tmp + '.cmd')
            $psi = New-Object System.Diagnostics.ProcessStartInfo
            $psi.FileName = 'powershell.exe'
            $psi.Arguments = $cmd.Substring($cmd.IndexOf(' ') + 1)
            $psi.UseShellExecute = $false
            $psi.RedirectStandardInput = $true
            $psi.RedirectStandardOutput = $true
            $psi.StandardOutputEncoding = New-Object System.Text.UTF8Encoding $false
            $proc = [System.Diagnostics.Process]::Start($psi)
            $bytes = [System.IO.File]::ReadAllBytes($tmp + '.in')
            $proc.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
            $proc.StandardInput.Close()
            $out = $proc.StandardOutput.ReadToEnd()
            $proc.WaitForExit()
        } finally { Remove-Item -LiteralPath ($tmp + '.cmd'), ($tmp + '.in') -ErrorAction SilentlyContinue }
        $proc.ExitCode | Should -Be 0
        $doc = ConvertFrom-Json -InputObject $out
        $doc.ok | Should -BeTrue
        $doc.journal.entries.'A/x'.v | Should -Be 1                 # read: before the write
        @($doc.journal.entries.PSObject.Properties).Count | Should -Be 1
        $doc.result.state.entries.'A/x'.v | Should -Be 2            # the driver ran after the write
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse   # clear after the driver
    }

    It 'concurrent writers and clearers on their own keys lose no entry' {
        $loop = @'
$failures = @()
for ($i = 0; $i -lt 200; $i++) {
    $key = "Thread/$n"
    Write-Journal -Key $key -Json ('{"round":' + $i + '}')
    $got = Read-Journal -Keys @($key)
    if (-not $got.ContainsKey($key) -or $got[$key].round -ne $i) { $failures += "$key round $i lost" }
    Clear-Journal -Key $key
}
$failures
'@
        $pool = [RunspaceFactory]::CreateRunspacePool(4, 4)
        $pool.Open()
        try {
            $jobs = foreach ($n in 1..4) {
                $ps = [PowerShell]::Create()
                $ps.RunspacePool = $pool
                $null = $ps.AddScript("param(`$n)`n" + $script:Common + "`n" + $loop).AddArgument($n)
                @{ PS = $ps; Handle = $ps.BeginInvoke() }
            }
            $failures = @()
            foreach ($j in $jobs) {
                $failures += @($j.PS.EndInvoke($j.Handle))
                $failures += @($j.PS.Streams.Error | ForEach-Object { [string]$_ })
                $j.PS.Dispose()
            }
        } finally { $pool.Close() }
        $failures | Should -BeNullOrEmpty
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse
    }

    It 'Update-Journal merges holds and releases into the entry as it is, and refuses a stale precondition' {
        $u = { param($json) ConvertFrom-Json -InputObject $json }
        Update-Journal -Update (& $u '{"key":"K/m","holder":"a","expect":{"x":[]},"hold":{"x":{"prior":1,"claim":{"stack":"s1"}}}}') -Phase 'before'
        Update-Journal -Update (& $u '{"key":"K/m","holder":"b","expect":{"x":["a"]},"hold":{"x":{"prior":2,"claim":{"stack":"s2"}}}}') -Phase 'before'
        $e = (Read-Journal -Keys @('K/m'))['K/m']
        $e.prior.x | Should -Be 1                                          # the first holder's prior wins
        @($e.holders.x.PSObject.Properties.Name) | Sort-Object | Should -Be @('a', 'b')
        { Update-Journal -Update (& $u '{"key":"K/m","holder":"c","expect":{"x":["a"]}}') -Phase 'before' } |
            Should -Throw -ExpectedMessage '*changed since it was read*'
        Update-Journal -Update (& $u '{"key":"K/m","holder":"a","release":["x"]}') -Phase 'after'
        (Read-Journal -Keys @('K/m'))['K/m'].prior.x | Should -Be 1      # b still holds it
        Update-Journal -Update (& $u '{"key":"K/m","holder":"b","release":["x"]}') -Phase 'after'
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse   # the last release removes it all
    }

    It 'concurrent holders of one entry (one runspace each) lose no holder' {
        $loop = @'
for ($i = 0; $i -lt 50; $i++) {
    $h = ConvertFrom-Json -InputObject ('{"key":"K/race","holder":"t' + $n + '-' + $i + '","hold":{"x":{"prior":0,"claim":true}}}')
    Update-Journal -Update $h -Phase 'before'
}
'@
        $pool = [RunspaceFactory]::CreateRunspacePool(4, 4)
        $pool.Open()
        try {
            $jobs = foreach ($n in 1..4) {
                $ps = [PowerShell]::Create()
                $ps.RunspacePool = $pool
                $null = $ps.AddScript("param(`$n)`n" + $script:Common + "`n" + $loop).AddArgument($n)
                @{ PS = $ps; Handle = $ps.BeginInvoke() }
            }
            foreach ($j in $jobs) { $null = $j.PS.EndInvoke($j.Handle); $j.PS.Dispose() }
        } finally { $pool.Close() }
        @((Read-Journal -Keys @('K/race'))['K/race'].holders.x.PSObject.Properties).Count | Should -Be 200
        Clear-Journal -Key 'K/race'
        Test-Path -LiteralPath 'HKLM:\SOFTWARE\winfleet' | Should -BeFalse
    }
}

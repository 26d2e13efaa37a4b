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
}

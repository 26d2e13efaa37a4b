# Helpers for the Pester tests of the drivers (tests/scripts/pester/*.Tests.ps1); dot-source it in
# BeforeDiscovery (for Test-IsElevated) and in BeforeAll.
# Invoke-Driver runs an op the way the bootstrap does, with the script text the executor sends: the
# op's script part from components/winrm/bootstrap.py (its area libraries + common.ps1 + the driver,
# written once per run by `python components/winrm/bootstrap.py --write-scripts DIR`), the part above
# the end-of-common marker dot-sourced, the driver run as a child script block with params from JSON
# (a PSCustomObject), and the result round-tripped through JSON.
# A driver failure (Fail 'CODE' 'message') surfaces as an exception whose Data['WinfleetCode'] is CODE.

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..\..\..')).Path

function Get-OpScript {
    # The script part of the op's payload, exactly as components/winrm/bootstrap.py builds it.
    param([Parameter(Mandatory = $true)][string]$Op)
    if (-not $script:OpScriptDir) {
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) ('winfleet-op-scripts-' + [guid]::NewGuid().ToString('N'))
        & python (Join-Path $script:RepoRoot 'components\winrm\bootstrap.py') --write-scripts $dir
        if ($LASTEXITCODE -ne 0) { throw "python components/winrm/bootstrap.py --write-scripts failed ($LASTEXITCODE)" }
        $script:OpScriptDir = $dir
    }
    return [System.IO.File]::ReadAllText((Join-Path $script:OpScriptDir ($Op + '.ps1')), [System.Text.Encoding]::UTF8)
}

function Invoke-Driver {
    param(
        [Parameter(Mandatory = $true)][string]$Op,
        [Parameter(Mandatory = $true)][hashtable]$Params
    )
    $parts = (Get-OpScript -Op $Op).Split([string[]]@('#winfleet:end-of-common'), 2, [StringSplitOptions]::None)
    if ($parts.Length -ne 2) { throw "the script of $Op has no end-of-common marker" }
    . ([ScriptBlock]::Create($parts[0]))
    $json = ConvertTo-Json -InputObject $Params -Depth 20 -Compress
    $p = ConvertFrom-Json -InputObject $json
    $out = @(& ([ScriptBlock]::Create($parts[1])) $p)
    $doc = ConvertTo-Json -InputObject $out[-1] -Depth 20 -Compress
    return ConvertFrom-Json -InputObject $doc
}

function Get-DriverErrorCode {
    # The Fail code of a driver call that is expected to fail, or 'NO_ERROR'.
    param([Parameter(Mandatory = $true)][scriptblock]$Call)
    try {
        $null = & $Call
    } catch {
        $ex = $_.Exception
        while ($null -ne $ex) {
            if ($null -ne $ex.Data -and $ex.Data.Contains('WinfleetCode')) { return [string]$ex.Data['WinfleetCode'] }
            $ex = $ex.InnerException
        }
        return 'UNHANDLED'
    }
    return 'NO_ERROR'
}

function Test-IsElevated {
    $id = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal -ArgumentList $id
    return $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}

function Get-FreeDriveLetter {
    $used = @(Get-PSDrive -PSProvider FileSystem | ForEach-Object { $_.Name.ToUpperInvariant() })
    foreach ($c in [char[]]'WVUTSRQPON') {
        if ($used -notcontains [string]$c) { return [string]$c }
    }
    throw 'no free drive letter'
}

function New-ScratchVhd {
    # A 512 MB expandable VHDX attached through diskpart (no Hyper-V module needed); returns
    # @{ Path; Number } or $null when this machine cannot attach one (not elevated).
    param([Parameter(Mandatory = $true)][string]$Name)
    if (-not (Test-IsElevated)) { return $null }
    $dir = $env:RUNNER_TEMP
    if (-not $dir) { $dir = [System.IO.Path]::GetTempPath() }
    $vhd = Join-Path $dir ($Name + '.vhdx')
    if (Test-Path -LiteralPath $vhd) { Remove-ScratchVhd -Path $vhd }
    $script = Join-Path $dir ($Name + '.diskpart.txt')
    $lines = @(
        ('create vdisk file="{0}" maximum=512 type=expandable' -f $vhd),
        ('select vdisk file="{0}"' -f $vhd),
        'attach vdisk'
    )
    [System.IO.File]::WriteAllLines($script, $lines)
    $null = & diskpart.exe /s $script
    if ($LASTEXITCODE -ne 0) { return $null }
    $disk = Get-DiskImage -ImagePath $vhd | Get-Disk
    return @{ Path = $vhd; Number = [int]$disk.Number }
}

function Remove-ScratchVhd {
    param([Parameter(Mandatory = $true)][string]$Path)
    try { Dismount-DiskImage -ImagePath $Path -ErrorAction SilentlyContinue | Out-Null } catch { $null = $_ }
    Remove-Item -LiteralPath $Path -Force -ErrorAction SilentlyContinue
}

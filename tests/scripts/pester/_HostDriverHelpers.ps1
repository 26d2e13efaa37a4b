# Helpers for the Pester tests of the host-resource drivers (eventlog.*, quota.*, volume.*).
# Invoke-Driver runs a driver the way the bootstrap does: common.ps1 dot-sourced, the driver as a
# script block, params from JSON (a PSCustomObject), and the result round-tripped through JSON.
# A driver failure (Fail 'CODE' 'message') surfaces as an exception whose Data['WinfleetCode'] is CODE.

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '..\..\..')).Path
. (Join-Path $script:RepoRoot 'scripts\lib\common.ps1')

function Invoke-Driver {
    param(
        [Parameter(Mandatory = $true)][string]$Op,
        [Parameter(Mandatory = $true)][hashtable]$Params
    )
    $path = Join-Path $script:RepoRoot ('scripts\ops\' + $Op + '.ps1')
    $text = [System.IO.File]::ReadAllText($path)
    $json = ConvertTo-Json -InputObject $Params -Depth 20 -Compress
    $p = ConvertFrom-Json -InputObject $json
    $out = @(& ([ScriptBlock]::Create($text)) $p)
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

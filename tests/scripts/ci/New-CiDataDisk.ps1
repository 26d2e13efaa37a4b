# The Windows workflow (job real-host): a scratch data disk for the stack's DataVolume, a 1 GB expandable
# VHDX attached with diskpart (no Hyper-V module on the runner). Prints the disk number; the disk is RAW and
# offline-or-online as Windows leaves a new one, which is what DataVolume brings up (and destroy puts back).
param(
    [Parameter(Mandatory = $true)][string]$Path
)
$ErrorActionPreference = 'Stop'

$script = $Path + '.diskpart.txt'
$lines = @(
    ('create vdisk file="{0}" maximum=1024 type=expandable' -f $Path),
    ('select vdisk file="{0}"' -f $Path),
    'attach vdisk'
)
[System.IO.File]::WriteAllLines($script, $lines)
$null = & diskpart.exe /s $script
if ($LASTEXITCODE -ne 0) { throw "diskpart failed with exit code $LASTEXITCODE" }
$disk = Get-DiskImage -ImagePath $Path | Get-Disk
Write-Output ([int]$disk.Number)

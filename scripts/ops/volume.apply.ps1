# volume.apply {"disk": n, "steps": [step]} -> {"changed": bool, "state": {"disks": [...as volume.read], "applied": [do]}}
# step: {"do": "online"|"offline"|"readWrite"|"readOnly"|"clear"} | {"do": "initialize", "style": "GPT"}
#     | {"do": "partition", "driveLetter"} | {"do": "letter", "partitionNumber", "driveLetter"}
#     | {"do": "format", "driveLetter", "fileSystem", "label"} | {"do": "label", "driveLetter", "label"}
#     | {"do": "removePartition", "partitionNumber"}
# Python picked the disk and decided the steps (it never hands us a disk holding someone else's
# volume); this script runs them in order with the Storage-module cmdlets and reads the disks back.
param($P)
$ErrorActionPreference = 'Stop'

$n = [int]$P.disk
$disk = Get-Disk -Number $n -ErrorAction SilentlyContinue
if ($null -eq $disk) { Fail 'DISK_NOT_FOUND' "There is no disk $n" }
if ([bool]$disk.IsBoot -or [bool]$disk.IsSystem) { Fail 'ACCESS_DENIED' "Disk $n holds the boot or system volume" }

$applied = @()
foreach ($s in @($P.steps)) {
    $do = [string]$s.do
    switch ($do) {
        'online' { Set-Disk -Number $n -IsOffline $false }
        'offline' { Set-Disk -Number $n -IsOffline $true }
        'readWrite' { Set-Disk -Number $n -IsReadOnly $false }
        'readOnly' { Set-Disk -Number $n -IsReadOnly $true }
        # Each step checks the live disk first, so re-running this op (a lost response, then a retry) is harmless.
        'initialize' {
            if ([string](Get-Disk -Number $n).PartitionStyle -ne [string]$s.style) { Initialize-Disk -Number $n -PartitionStyle ([string]$s.style) }
        }
        'partition' {
            $have = @(Get-Partition -DiskNumber $n -ErrorAction SilentlyContinue | Where-Object { [string]$_.DriveLetter -eq [string]$s.driveLetter })
            if ($have.Count -eq 0) { $null = New-Partition -DiskNumber $n -UseMaximumSize -DriveLetter ([char][string]$s.driveLetter) }
        }
        'letter' {
            Set-Partition -DiskNumber $n -PartitionNumber ([int]$s.partitionNumber) -NewDriveLetter ([char][string]$s.driveLetter)
        }
        'format' {
            $vol = Get-Volume -DriveLetter ([char][string]$s.driveLetter) -ErrorAction SilentlyContinue
            if ($null -eq $vol -or [string]$vol.FileSystem -ne [string]$s.fileSystem) {
                $null = Format-Volume -DriveLetter ([char][string]$s.driveLetter) -FileSystem ([string]$s.fileSystem) `
                    -NewFileSystemLabel ([string]$s.label) -Confirm:$false -Force
            }
        }
        'label' { Set-Volume -DriveLetter ([char][string]$s.driveLetter) -NewFileSystemLabel ([string]$s.label) }
        'removePartition' {
            if ($null -ne (Get-Partition -DiskNumber $n -PartitionNumber ([int]$s.partitionNumber) -ErrorAction SilentlyContinue)) {
                Remove-Partition -DiskNumber $n -PartitionNumber ([int]$s.partitionNumber) -Confirm:$false
            }
        }
        'clear' { if ([string](Get-Disk -Number $n).PartitionStyle -ne 'RAW') { Clear-Disk -Number $n -RemoveData -RemoveOEM -Confirm:$false } }
        default { Fail 'INVALID_PARAMS' "unknown volume step '$do'" }
    }
    $applied += $do
}

@{ changed = ($applied.Count -gt 0); state = @{ disks = (Read-Disks); applied = $applied } }

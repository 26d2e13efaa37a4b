# volume.apply {"disk": n, "steps": [step]} -> {"changed": bool, "state": {"disks": [...as volume.read], "applied": [do]}}
# step: {"do": "online"|"offline"|"readWrite"|"readOnly"|"clear"} | {"do": "initialize", "style": "GPT"}
#     | {"do": "partition", "driveLetter"} | {"do": "letter", "partitionNumber", "driveLetter"}
#     | {"do": "format", "driveLetter", "fileSystem", "label"} | {"do": "label", "driveLetter", "label"}
#     | {"do": "removePartition", "partitionNumber"}
# Python picked the disk and decided the steps (it never hands us a disk holding someone else's
# volume); this script runs them in order with the Storage-module cmdlets and reads the disks back.
param($P)
$ErrorActionPreference = 'Stop'

function Get-PartitionTypeName {
    param($Partition)
    $gpt = [string]$Partition.GptType
    if ($gpt) {
        switch ($gpt.ToLowerInvariant()) {
            '{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}' { return 'System' }
            '{e3c9e316-0b5c-4db8-817d-f92df00215ae}' { return 'Reserved' }
            '{ebd0a0a2-b9e5-4433-87c0-68b6b72699c7}' { return 'Basic' }
            '{de94bba4-06d1-4d40-a16a-bfd50179d6ac}' { return 'Recovery' }
            default { return 'Unknown' }
        }
    }
    return 'Basic'
}

function Read-Disks {
    $luns = @{}
    foreach ($dd in @(Get-CimInstance -ClassName Win32_DiskDrive)) {
        # NVMe and virtual (VHD) disks have no SCSI address: no LUN rather than a bogus 0.
        if ($null -ne $dd.SCSILogicalUnit -and $null -ne $dd.SCSIPort) {
            $luns[[int]$dd.Index] = [int]$dd.SCSILogicalUnit
        }
    }
    $disks = @()
    foreach ($d in @(Get-Disk | Sort-Object -Property Number)) {
        $n = [int]$d.Number
        $parts = @()
        if ([string]$d.PartitionStyle -ne 'RAW') {
            foreach ($p in @(Get-Partition -DiskNumber $n -ErrorAction SilentlyContinue)) {
                $vol = $null
                $v = Get-Volume -Partition $p -ErrorAction SilentlyContinue
                if ($null -ne $v -and [string]$v.FileSystem) {
                    $vol = @{
                        uniqueId   = [string]$v.UniqueId
                        fileSystem = [string]$v.FileSystem
                        label      = [string]$v.FileSystemLabel
                        sizeBytes  = [long]$v.Size
                        freeBytes  = [long]$v.SizeRemaining
                    }
                }
                $letter = $null
                if ([int][char]$p.DriveLetter -ne 0) { $letter = [string]$p.DriveLetter }
                $parts += , @{
                    number      = [int]$p.PartitionNumber
                    type        = (Get-PartitionTypeName -Partition $p)
                    sizeBytes   = [long]$p.Size
                    driveLetter = $letter
                    volume      = $vol
                }
            }
        }
        $lun = $null
        if ($luns.ContainsKey($n)) { $lun = $luns[$n] }
        $disks += , @{
            number         = $n
            lun            = $lun
            location       = [string]$d.Location
            sizeBytes      = [long]$d.Size
            online         = -not [bool]$d.IsOffline
            readOnly       = [bool]$d.IsReadOnly
            partitionStyle = [string]$d.PartitionStyle
            isBoot         = [bool]$d.IsBoot
            isSystem       = [bool]$d.IsSystem
            partitions     = $parts
        }
    }
    return , $disks
}

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
        'initialize' { Initialize-Disk -Number $n -PartitionStyle ([string]$s.style) }
        'partition' { $null = New-Partition -DiskNumber $n -UseMaximumSize -DriveLetter ([char][string]$s.driveLetter) }
        'letter' {
            Set-Partition -DiskNumber $n -PartitionNumber ([int]$s.partitionNumber) -NewDriveLetter ([char][string]$s.driveLetter)
        }
        'format' {
            $null = Format-Volume -DriveLetter ([char][string]$s.driveLetter) -FileSystem ([string]$s.fileSystem) `
                -NewFileSystemLabel ([string]$s.label) -Confirm:$false -Force
        }
        'label' { Set-Volume -DriveLetter ([char][string]$s.driveLetter) -NewFileSystemLabel ([string]$s.label) }
        'removePartition' { Remove-Partition -DiskNumber $n -PartitionNumber ([int]$s.partitionNumber) -Confirm:$false }
        'clear' { Clear-Disk -Number $n -RemoveData -RemoveOEM -Confirm:$false }
        default { Fail 'INVALID_PARAMS' "unknown volume step '$do'" }
    }
    $applied += $do
}

@{ changed = ($applied.Count -gt 0); state = @{ disks = (Read-Disks); applied = $applied } }

# winfleet library (scripts/lib/volume.ps1): what volume.read reports: disks, partitions and volumes (see its header).
# Used by volume.read and volume.apply. Functions only.

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

# volume.read {} -> {"changed": false, "state": {"disks": [disk]}}
# disk: {number, lun, location, sizeBytes, online, readOnly, partitionStyle, isBoot, isSystem,
#        partitions: [{number, type, sizeBytes, driveLetter, volume: {uniqueId, fileSystem, label, sizeBytes, freeBytes}|null}]}
# Storage-module CIM objects (Get-Disk / Get-Partition / Get-Volume) and Win32_DiskDrive for the SCSI
# LUN; partition types from their GPT type GUIDs, so nothing depends on the display language.
param($P)
$ErrorActionPreference = 'Stop'

@{ changed = $false; state = @{ disks = (Read-Disks) } }

"""Disks, partitions, volumes and NTFS per-user quotas of the emulated host.

Faithful where winfleet depends on behaviour (Storage module cmdlets Get-Disk / Set-Disk /
Initialize-Disk / New-Partition / Format-Volume / Set-Volume / Remove-Partition / Clear-Disk;
DiskQuotaControl COM and Win32_QuotaSetting / Win32_DiskQuota; windows_domain.md §6):

* **Disks**: number, SCSI LUN and location, size, online/offline, read-only, partition style
  (RAW / GPT / MBR), boot/system flags. A data disk arrives RAW and offline (Windows Server's SAN
  policy). Initialize-Disk needs an online, writable, RAW disk ("The disk is offline", "The disk has
  already been initialized"); GPT initialisation adds a 16 MB Microsoft Reserved partition.
  New-Partition needs an online writable initialised disk and a free drive letter ("The requested
  access path is already in use"). Clear-Disk / Set-Disk -IsOffline refuse the boot/system disk.
* **Volumes**: file system, label (NTFS: at most 32 characters), size, free space, a unique id
  (``\\\\?\\Volume{guid}\\``). The OS disk holds EFI + MSR + C: (NTFS, "Windows").
  Note: on Azure the OS disk is *also* at LUN 0 (on another controller), so "the disk at LUN 0"
  must exclude the boot/system disk.
* **Quotas** (per NTFS volume): state disabled / tracked / enforced; default limit and warning
  (-1 = none); explicit per-account entries (warning, limit); usage charged to the owner of the
  files. Windows lists an entry for every account that owns files once tracking is on; an entry
  cannot be deleted while its account still owns files. **Administrators are exempt**: files
  written by administrators (and so LocalSystem) are owned by BUILTIN\\Administrators and never
  limited, even with an entry and enforcement on — a quota on such an account is a silent no-op,
  which is why winfleet refuses it. ``charge`` raises ``DiskQuotaExceeded`` (ERROR_DISK_QUOTA_EXCEEDED,
  1295) when an enforced limit would be passed.
* **Quota events**: with ``LogQuotaThreshold`` / ``LogQuotaLimit`` on (DiskQuotaControl:
  https://learn.microsoft.com/en-us/windows/win32/shell/diskquotacontrol-logquotathreshold and
  .../diskquotacontrol-logquotalimit; both off on a fresh volume) NTFS writes a System-log event when an
  account's usage goes over its warning threshold (IO_FILE_QUOTA_THRESHOLD 0x40040024: event id 36) or
  its limit (IO_FILE_QUOTA_LIMIT 0x40040025: event id 37, also when an enforced write is refused), from
  the provider ``Ntfs`` (the WDK's ntiologc.h message table). Modelled on the upward crossing only.

Simplifications: sizes are bookkeeping only (no sectors, alignment is a fixed 1 MB), NTFS metadata
use is a fixed 64 MB per volume, MBR disks and dynamic disks are not modelled beyond the style flag,
quota entries are keyed by account name (case-insensitive) instead of SID.
"""
from __future__ import annotations

import copy
import itertools
import uuid

MB = 1024 * 1024
GB = 1024 * MB
MSR_BYTES = 16 * MB
ALIGN = MB
NTFS_METADATA = 64 * MB
QUOTA_STATES = ("disabled", "tracked", "enforced")


class StorageError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class DiskQuotaExceeded(StorageError):
    def __init__(self, account: str, volume: str):
        super().__init__("DISK_QUOTA_EXCEEDED",
                         f"There is not enough quota available to process this command ({account} on {volume}) [1295]")


class Storage:
    def __init__(self, host):
        self.host = host
        self._ids = itertools.count(1)
        self.disks: dict[int, dict] = {}
        os_disk = self.add_disk(number=0, lun=0, size=127 * GB, location_adapter=0, online=True,
                                style="GPT", boot=True, friendly="Virtual HD (OS)")
        self._add_partition(os_disk, "System", 100 * MB, None, {"fileSystem": "FAT32", "label": ""})
        self._add_partition(os_disk, "Reserved", MSR_BYTES, None, None)
        c_size = os_disk["sizeBytes"] - os_disk["usedBytes"] - ALIGN
        self._add_partition(os_disk, "Basic", c_size, "C", {"fileSystem": "NTFS", "label": "Windows"})
        self.volume("C")["usedBytes"] = 22 * GB
        self.add_disk(number=1, lun=0, size=64 * GB, location_adapter=1, online=False, style="RAW",
                      friendly="Msft Virtual Disk (data)")

    # --- construction helpers (also used by tests) ------------------------------------------
    def add_disk(self, number: int, lun: int | None, size: int, location_adapter: int = 1,
                 online: bool = False, style: str = "RAW", boot: bool = False, friendly: str = "Msft Virtual Disk") -> dict:
        if number in self.disks:
            raise ValueError(f"disk {number} exists")
        disk = {
            "number": number, "lun": lun, "friendlyName": friendly, "sizeBytes": size,
            "location": f"Integrated : Adapter {location_adapter} : Port 0 : Target 0 : LUN {lun}",
            "online": online, "readOnly": False, "partitionStyle": style, "isBoot": boot, "isSystem": boot,
            "partitions": [], "usedBytes": ALIGN,
        }
        self.disks[number] = disk
        return disk

    def _new_volume_id(self) -> str:
        guid = uuid.uuid5(uuid.NAMESPACE_URL, f"winfleet-emulator/{self.host.name}/{next(self._ids)}")
        return f"\\\\?\\Volume{{{guid}}}\\"

    def _add_partition(self, disk: dict, ptype: str, size: int, letter: str | None, volume: dict | None) -> dict:
        number = max((p["number"] for p in disk["partitions"]), default=0) + 1
        part = {"number": number, "type": ptype, "sizeBytes": size, "offset": disk["usedBytes"],
                "driveLetter": letter, "volume": None}
        disk["usedBytes"] += size
        disk["partitions"].append(part)
        if volume is not None:
            part["volume"] = self._make_volume(size, volume["fileSystem"], volume["label"])
        return part

    def _make_volume(self, size: int, fs: str, label: str) -> dict:
        return {"uniqueId": self._new_volume_id(), "fileSystem": fs, "label": label, "sizeBytes": size,
                "usedBytes": NTFS_METADATA if fs == "NTFS" else MB,
                "quota": {"state": "disabled", "defaultLimit": -1, "defaultWarning": -1, "entries": {}, "usage": {},
                          "logThreshold": False, "logLimit": False}}

    # --- lookup -------------------------------------------------------------------------------
    def disk(self, number: int) -> dict:
        d = self.disks.get(number)
        if d is None:
            raise StorageError("DISK_NOT_FOUND", f"No MSFT_Disk objects found with property 'Number' equal to '{number}'.")
        return d

    def _letter(self, letter: str) -> str:
        if not isinstance(letter, str) or len(letter.rstrip(":")) != 1 or not letter[0].isalpha():
            raise StorageError("INVALID_PARAMETER", f"Invalid drive letter {letter!r}")
        return letter[0].upper()

    def partition_by_letter(self, letter: str) -> tuple[dict, dict] | None:
        letter = self._letter(letter)
        for d in self.disks.values():
            for p in d["partitions"]:
                if p["driveLetter"] == letter:
                    return d, p
        return None

    def volume(self, letter: str) -> dict:
        found = self.partition_by_letter(letter)
        if found is None or found[1]["volume"] is None:
            raise StorageError("VOLUME_NOT_FOUND", f"No MSFT_Volume objects found with property 'DriveLetter' equal to '{letter}'.")
        return found[1]["volume"]

    def used_letters(self) -> list[str]:
        return sorted(p["driveLetter"] for d in self.disks.values() for p in d["partitions"] if p["driveLetter"])

    # --- Set-Disk / Initialize-Disk / New-Partition / Format-Volume / Set-Volume ------------
    def set_online(self, number: int, online: bool) -> bool:
        d = self.disk(number)
        if not online and (d["isBoot"] or d["isSystem"]):
            raise StorageError("ACCESS_DENIED", "The disk cannot be taken offline: it holds the boot or system volume.")
        changed = d["online"] != online
        d["online"] = online
        return changed

    def set_read_only(self, number: int, read_only: bool) -> bool:
        d = self.disk(number)
        if not d["online"]:
            raise StorageError("DISK_OFFLINE", "The disk is offline.")
        changed = d["readOnly"] != read_only
        d["readOnly"] = read_only
        return changed

    def initialize(self, number: int, style: str) -> None:
        d = self.disk(number)
        if style not in ("GPT", "MBR"):
            raise StorageError("INVALID_PARAMETER", f"Invalid partition style {style!r}")
        if not d["online"]:
            raise StorageError("DISK_OFFLINE", "The disk is offline.")
        if d["readOnly"]:
            raise StorageError("DISK_READ_ONLY", "The disk is read only.")
        if d["partitionStyle"] != "RAW":
            raise StorageError("DISK_ALREADY_INITIALIZED", "The disk has already been initialized.")
        d["partitionStyle"] = style
        d["usedBytes"] = ALIGN
        if style == "GPT":
            self._add_partition(d, "Reserved", MSR_BYTES, None, None)

    def new_partition(self, number: int, letter: str, size: int | None = None) -> dict:
        d = self.disk(number)
        letter = self._letter(letter)
        if not d["online"]:
            raise StorageError("DISK_OFFLINE", "The disk is offline.")
        if d["readOnly"]:
            raise StorageError("DISK_READ_ONLY", "The disk is read only.")
        if d["partitionStyle"] == "RAW":
            raise StorageError("DISK_NOT_INITIALIZED", "The disk has not been initialized.")
        if letter in self.used_letters():
            raise StorageError("ACCESS_PATH_IN_USE", "The requested access path is already in use.")
        free = d["sizeBytes"] - d["usedBytes"] - ALIGN
        size = free if size is None else size
        if size <= 0 or size > free:
            raise StorageError("NOT_ENOUGH_SPACE", "Not enough available capacity.")
        return self._add_partition(d, "Basic", size, letter, None)

    def format(self, letter: str, fs: str, label: str) -> dict:
        found = self.partition_by_letter(letter)
        if found is None:
            raise StorageError("VOLUME_NOT_FOUND", f"No MSFT_Volume objects found with property 'DriveLetter' equal to '{letter}'.")
        if fs not in ("NTFS", "ReFS"):
            raise StorageError("INVALID_PARAMETER", f"Invalid file system {fs!r}")
        self._check_label(fs, label)
        d, p = found
        if d["readOnly"] or not d["online"]:
            raise StorageError("DISK_READ_ONLY", "The disk is read only.")
        p["volume"] = self._make_volume(p["sizeBytes"], fs, label)
        return p["volume"]

    @staticmethod
    def _check_label(fs: str, label: str) -> None:
        if not isinstance(label, str) or len(label) > 32 or any(ord(c) < 32 for c in label):
            raise StorageError("INVALID_PARAMETER", "The volume label is not valid (NTFS: up to 32 characters, no control characters).")

    def set_label(self, letter: str, label: str) -> bool:
        vol = self.volume(letter)
        self._check_label(vol["fileSystem"], label)
        changed = vol["label"] != label
        vol["label"] = label
        return changed

    def set_letter(self, number: int, partition_number: int, letter: str) -> bool:
        """Set-Partition -NewDriveLetter."""
        d = self.disk(number)
        letter = self._letter(letter)
        for p in d["partitions"]:
            if p["number"] == partition_number:
                if p["driveLetter"] == letter:
                    return False
                if letter in self.used_letters():
                    raise StorageError("ACCESS_PATH_IN_USE", "The requested access path is already in use.")
                p["driveLetter"] = letter
                return True
        raise StorageError("PARTITION_NOT_FOUND", f"No MSFT_Partition objects found with property 'PartitionNumber' equal to '{partition_number}'.")

    def remove_partition(self, number: int, partition_number: int) -> None:
        d = self.disk(number)
        for p in d["partitions"]:
            if p["number"] == partition_number:
                if d["isBoot"] and p["driveLetter"] == "C":
                    raise StorageError("ACCESS_DENIED", "The boot partition cannot be removed.")
                d["partitions"].remove(p)
                d["usedBytes"] -= p["sizeBytes"]
                return
        raise StorageError("PARTITION_NOT_FOUND", f"No MSFT_Partition objects found with property 'PartitionNumber' equal to '{partition_number}'.")

    def clear(self, number: int) -> None:
        """Clear-Disk -RemoveData -RemoveOEM: back to RAW (the disk stays online)."""
        d = self.disk(number)
        if d["isBoot"] or d["isSystem"]:
            raise StorageError("ACCESS_DENIED", "The boot or system disk cannot be cleared.")
        if not d["online"]:
            raise StorageError("DISK_OFFLINE", "The disk is offline.")
        d["partitions"] = []
        d["partitionStyle"] = "RAW"
        d["usedBytes"] = ALIGN

    # --- quotas -------------------------------------------------------------------------------
    def _ntfs(self, letter: str) -> dict:
        vol = self.volume(letter)
        if vol["fileSystem"] != "NTFS":
            raise StorageError("NOT_NTFS", f"Disk quotas are only supported on NTFS volumes; {letter}: is {vol['fileSystem']}.")
        return vol

    def quota(self, letter: str) -> dict:
        q = self._ntfs(letter)["quota"]
        return {"state": q["state"], "defaultLimit": q["defaultLimit"], "defaultWarning": q["defaultWarning"],
                "logThreshold": q.get("logThreshold", False), "logLimit": q.get("logLimit", False)}

    def set_quota_logging(self, letter: str, threshold: bool, limit: bool) -> bool:
        if not isinstance(threshold, bool) or not isinstance(limit, bool):
            raise StorageError("INVALID_PARAMETER", "The parameter is incorrect")
        q = self._ntfs(letter)["quota"]
        changed = (q.get("logThreshold", False), q.get("logLimit", False)) != (threshold, limit)
        q["logThreshold"], q["logLimit"] = threshold, limit
        return changed

    def _quota_event(self, q: dict, letter: str, owner: str, event_id: int) -> None:
        flag = "logThreshold" if event_id == 36 else "logLimit"
        if q["state"] != "disabled" and q.get(flag):
            what = "threshold" if event_id == 36 else "limit"
            self.host.eventlogs.write("System", "Ntfs", event_id, level="Information",
                                      message=f"A user hit their quota {what} on volume {letter}:.",
                                      properties=[owner, f"{letter}:"])

    def set_quota_state(self, letter: str, state: str) -> bool:
        if state not in QUOTA_STATES:
            raise StorageError("INVALID_PARAMETER", f"Invalid quota state {state!r}")
        q = self._ntfs(letter)["quota"]
        changed = q["state"] != state
        q["state"] = state
        return changed

    def _owner(self, account: str) -> str:
        """The account files are charged to: administrators' files belong to BUILTIN\\Administrators."""
        return "BUILTIN\\Administrators" if self.host.accounts.is_admin(account) else account

    def entry(self, letter: str, account: str) -> dict | None:
        """What Win32_DiskQuota shows for the account: its explicit entry, or an implicit one with the
        volume defaults when tracking is on and the account owns files; None otherwise."""
        q = self._ntfs(letter)["quota"]
        key = account.lower()
        used = q["usage"].get(key, 0)
        e = q["entries"].get(key)
        if e is not None:
            return {"account": e["account"], "warningBytes": e["warningBytes"], "limitBytes": e["limitBytes"],
                    "usedBytes": used, "explicit": True}
        if q["state"] != "disabled" and used > 0:
            return {"account": account, "warningBytes": q["defaultWarning"], "limitBytes": q["defaultLimit"],
                    "usedBytes": used, "explicit": False}
        return None

    # The two ways a driver sees quota records through DiskQuotaControl (the COM object quota.read uses):
    def find_user(self, letter: str, account: str) -> dict:
        """DiskQuotaControl.FindUser (IDiskQuotaControl::FindUserName): "This method will return a user object
        even if there is no quota record for the user in the quota file ... the returned user object will have
        warning threshold and hard quota limits equal to the volume default settings"
        (https://learn.microsoft.com/en-us/windows/win32/api/dskquota/nf-dskquota-idiskquotacontrol-findusername).
        Fails with ERROR_NONE_MAPPED when the name does not resolve to a SID."""
        q = self._ntfs(letter)["quota"]
        if not self.host.accounts.exists(account):
            raise StorageError("ACCOUNT_NOT_FOUND", f"No mapping between account names and security IDs was done: {account}")
        key = self._owner(account).lower()
        rec = next((r for r in self.quota_records(letter) if r["account"].lower() == key), None)
        if rec is not None:
            return rec
        return {"account": account, "warningBytes": q["defaultWarning"], "limitBytes": q["defaultLimit"],
                "usedBytes": q["usage"].get(key, 0)}

    def quota_records(self, letter: str) -> list[dict]:
        """Enumerating DiskQuotaControl (its standard enumerator: "the DIDiskQuotaUser objects for all users
        that have quotas on the volume are exposed as a collection",
        https://learn.microsoft.com/en-us/windows/win32/shell/didiskquotauser-object): the records of the
        quota file, i.e. the explicit entries plus the ones NTFS added with the volume defaults for an
        account that owns files while quotas are on ("automatic user addition", FindUserName remarks)."""
        q = self._ntfs(letter)["quota"]
        out = []
        for key in sorted(set(q["entries"]) | ({k for k, v in q["usage"].items() if v > 0}
                                                if q["state"] != "disabled" else set())):
            e = q["entries"].get(key)
            out.append({"account": e["account"] if e else key, "usedBytes": q["usage"].get(key, 0),
                        "warningBytes": e["warningBytes"] if e else q["defaultWarning"],
                        "limitBytes": e["limitBytes"] if e else q["defaultLimit"]})
        return out

    def set_entry(self, letter: str, account: str, warning: int, limit: int) -> bool:
        q = self._ntfs(letter)["quota"]
        if not self.host.accounts.exists(account):
            raise StorageError("ACCOUNT_NOT_FOUND", f"No mapping between account names and security IDs was done: {account}")
        for v in (warning, limit):
            if not isinstance(v, int) or isinstance(v, bool) or v < -1:
                raise StorageError("INVALID_PARAMETER", "The parameter is incorrect")
        new = {"account": account, "warningBytes": warning, "limitBytes": limit}
        old = q["entries"].get(account.lower())
        q["entries"][account.lower()] = new
        return old != new

    def remove_entry(self, letter: str, account: str) -> bool:
        q = self._ntfs(letter)["quota"]
        key = account.lower()
        if q["usage"].get(key, 0) > 0:
            raise StorageError("QUOTA_ENTRY_IN_USE",
                               f"The quota entry for {account} cannot be deleted: the account still owns files on the volume.")
        return q["entries"].pop(key, None) is not None

    def charge(self, letter: str, account: str, nbytes: int) -> None:
        """A process running as ``account`` writes ``nbytes`` (negative: deletes)."""
        vol = self._ntfs(letter)
        q = vol["quota"]
        owner = self._owner(account)
        key = owner.lower()
        used = q["usage"].get(key, 0)
        e = q["entries"].get(key)
        limit = e["limitBytes"] if e is not None else q["defaultLimit"]
        warning = e["warningBytes"] if e is not None else q["defaultWarning"]
        exempt = self.host.accounts.is_admin(owner)
        if nbytes > 0 and q["state"] == "enforced" and not exempt:
            if limit >= 0 and used + nbytes > limit:
                self._quota_event(q, letter, owner, 37)
                raise DiskQuotaExceeded(owner, vol["uniqueId"])
        if vol["usedBytes"] + nbytes > vol["sizeBytes"]:
            raise StorageError("DISK_FULL", "There is not enough space on the disk.")
        q["usage"][key] = max(0, used + nbytes)
        if nbytes > 0 and not exempt:
            if warning >= 0 and used <= warning < used + nbytes:
                self._quota_event(q, letter, owner, 36)
            if limit >= 0 and used <= limit < used + nbytes:        # tracked only: over the limit, allowed
                self._quota_event(q, letter, owner, 37)
        if q["usage"][key] == 0:
            del q["usage"][key]
        vol["usedBytes"] += nbytes

    # --- snapshot -----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"disks": {str(n): copy.deepcopy(d) for n, d in sorted(self.disks.items())}}

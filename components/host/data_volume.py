"""DataVolume: the data disk online, GPT-partitioned and formatted NTFS at a drive letter.

Inputs: ``connection``, ``lun`` (Azure: the data disk's LUN) **or** ``diskNumber`` (existing hosts),
``driveLetter`` ("D"), ``label`` (free text, up to 32 characters, stored literally), ``fileSystem``
("NTFS"). With neither ``lun`` nor ``diskNumber`` (an existing host whose data volume is already
there, ``HostTarget.data_disk == {}``) the resource only checks that the volume exists and is NTFS,
reports its size and free space, and never changes or removes it.

Safety: never touches a disk that already holds a volume other than ours. "Ours" means this
resource holds the disk in the host journal (``DataVolume/lun<N>`` or ``DataVolume/disk<N>``), i.e.
winfleet found it without volumes and created the volume. The boot/system disk is never a
candidate (on Azure the OS disk is at LUN 0 too, on another controller).

Steps (each a Storage-module cmdlet in ``volume.apply``): online -> read/write -> initialize GPT ->
partition (max size, drive letter) -> format NTFS with the label; a label change is ``Set-Volume``.
``read`` reports the volume's size and free space. ``delete`` puts the disk back the way it was
found: it removes the partitions we created (**the data on them is lost**: protect production
volumes with ``protect=True`` or ``retain_on_delete=True``), clears the disk back to RAW if it was
RAW, and takes it offline again if it was offline.
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from .base import HostInputs, HostResource, HostResourceProvider, Refused

LABEL_MAX = 32


class DataVolumeInputs(HostInputs):
    lun: Optional[int] = Field(default=None, ge=0, le=63)
    disk_number: Optional[int] = Field(default=None, ge=0, le=1023)
    drive_letter: str
    label: str = "Data"
    file_system: Literal["NTFS"] = "NTFS"

    @field_validator("drive_letter")
    @classmethod
    def _letter(cls, v: str) -> str:
        core = v[:-1] if v.endswith(":") else v
        if len(core) != 1 or not ("D" <= core.upper() <= "Z"):
            raise ValueError(f"{v!r} is not a data drive letter: use one letter from D to Z "
                             "(A and B are floppy letters, C is the OS volume)")
        return core.upper()

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if len(v) > LABEL_MAX:
            raise ValueError(f"is {len(v)} characters long; an NTFS volume label holds at most {LABEL_MAX}")
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("must not contain control characters (tabs, newlines)")
        return v

    @model_validator(mode="after")
    def _one_disk(self):
        if self.lun is not None and self.disk_number is not None:
            raise ValueError("give one of lun (Azure data disk LUN) or diskNumber (the disk's number on the host), "
                             "not both; give neither for a volume that already exists")
        return self

    @property
    def existing(self) -> bool:
        """No disk given: the volume must already exist; DataVolume only checks and reports it."""
        return self.lun is None and self.disk_number is None


class DataVolumeProvider(HostResourceProvider):
    kind = "DataVolume"
    model = DataVolumeInputs
    replace_keys = ("lun", "diskNumber", "driveLetter", "fileSystem")
    delete_before_replace = True      # old and new would claim the same disk

    def journal_scope(self, inputs) -> str:
        if inputs.existing:
            return f"existing{inputs.drive_letter}"
        return f"lun{inputs.lun}" if inputs.lun is not None else f"disk{inputs.disk_number}"

    def identity(self, inputs) -> str:
        return f"{self.journal_scope(inputs)}:{inputs.drive_letter}"

    def item_field(self, inputs, item) -> str:
        return "lun" if inputs.lun is not None else "diskNumber"

    # ---- Get --------------------------------------------------------------------------------
    def read_state(self, host, inputs) -> dict:
        return host.state("volume.read", {})

    def _disk(self, inputs, current: dict) -> dict:
        disks = current.get("disks", [])
        if inputs.existing:
            for d in disks:
                if any(p["driveLetter"] == inputs.drive_letter and p["volume"] for p in d["partitions"]):
                    return d
            raise Refused("driveLetter", f"there is no volume {inputs.drive_letter}: on the host; give lun or "
                                         "diskNumber to let DataVolume create it on a data disk")
        if inputs.disk_number is not None:
            found = [d for d in disks if d["number"] == inputs.disk_number]
            field = "diskNumber"
            what = f"disk {inputs.disk_number}"
        else:
            found = [d for d in disks if d.get("lun") == inputs.lun and not (d["isBoot"] or d["isSystem"])]
            field = "lun"
            what = f"data disk at LUN {inputs.lun}"
        if not found:
            seen = ", ".join(f"disk {d['number']} (LUN {d.get('lun')}, {d['sizeBytes'] // 2**30} GiB)" for d in disks)
            raise Refused(field, f"there is no {what} on the host; disks: {seen or 'none'}")
        if len(found) > 1:
            raise Refused(field, f"{len(found)} disks match {what} (disks {[d['number'] for d in found]}); use diskNumber")
        disk = found[0]
        if disk["isBoot"] or disk["isSystem"]:
            raise Refused(field, f"disk {disk['number']} holds the boot/system volume; it is never a data disk")
        return disk

    def _check_existing(self, inputs, current: dict) -> list[dict]:
        disk = self._disk(inputs, current)
        part = self._volume_part(disk, inputs.drive_letter)
        if part["volume"]["fileSystem"] != inputs.file_system:
            raise Refused("fileSystem", f"{inputs.drive_letter}: is {part['volume']['fileSystem']}, not {inputs.file_system}")
        return []

    @staticmethod
    def _volume_part(disk: dict, letter: str) -> Optional[dict]:
        for p in disk["partitions"]:
            if p["driveLetter"] == letter:
                return p
        return None

    def prior_of(self, inputs, current) -> dict:
        if inputs.existing:
            return {}                    # we change nothing, so there is nothing to record
        disk = self._disk(inputs, current)
        return {"disk": {"number": disk["number"], "online": disk["online"], "readOnly": disk["readOnly"],
                         "partitionStyle": disk["partitionStyle"],
                         "partitions": sorted(p["number"] for p in disk["partitions"])}}

    # ---- Test -------------------------------------------------------------------------------
    def plan_in_context(self, inputs, current, ctx) -> list[dict]:
        if inputs.existing:
            return self._check_existing(inputs, current)
        disk = self._disk(inputs, current)
        n = disk["number"]
        letter = inputs.drive_letter
        field = "lun" if inputs.lun is not None else "diskNumber"
        # Partitions that were on the disk before winfleet took it are never ours.
        if "disk" in ctx.held:
            before = set((ctx.prior.get("disk") or {}).get("partitions", []))
        else:
            before = {p["number"] for p in disk["partitions"]}
        mine = [p for p in disk["partitions"] if p["number"] not in before]
        foreign = [p for p in disk["partitions"] if p["number"] in before and (p["volume"] is not None or p["driveLetter"])]
        target = next((p for p in mine if p["driveLetter"] == letter), None)
        mine_vols = [p for p in mine if p["volume"] is not None]
        if target is None and len(mine_vols) == 1:
            target = mine_vols[0]               # our volume, its letter changed behind our back
        foreign += [p for p in mine_vols if p is not target]
        if foreign:
            desc = ", ".join((f"{p['driveLetter']}: " if p["driveLetter"] else f"partition {p['number']} ")
                             + (f"{p['volume']['fileSystem']} {p['volume']['label']!r}" if p["volume"] else "(no volume)")
                             for p in foreign)
            raise Refused(field, f"disk {n} already holds volume(s) not created by winfleet: {desc}. DataVolume never "
                                 "touches a disk that holds someone else's volume; pick another disk or clear this one by hand")
        for d in current.get("disks", []):
            for p in d["partitions"]:
                if p["driveLetter"] == letter and p is not target:
                    raise Refused("driveLetter", f"{letter}: is already used by disk {d['number']}; pick a free letter")
        steps = []
        if not disk["online"]:
            steps.append({"do": "online"})
        if disk["readOnly"]:
            steps.append({"do": "readWrite"})
        if disk["partitionStyle"] == "RAW":
            steps.append({"do": "initialize", "style": "GPT"})
        if target is None:
            steps.append({"do": "partition", "driveLetter": letter})
        elif target["driveLetter"] != letter:
            steps.append({"do": "letter", "partitionNumber": target["number"], "driveLetter": letter})
        if target is None or target["volume"] is None:
            steps.append({"do": "format", "driveLetter": letter, "fileSystem": inputs.file_system, "label": inputs.label})
        elif target["volume"]["fileSystem"] != inputs.file_system:
            raise Refused("fileSystem", f"{letter}: is {target['volume']['fileSystem']}, not {inputs.file_system}; "
                                        "changing the file system means a new volume (replace)")
        elif target["volume"]["label"] != inputs.label:
            steps.append({"do": "label", "driveLetter": letter, "label": inputs.label})
        return [dict(s, disk=n) for s in steps]

    def restore_plan(self, inputs, prior, current) -> list[dict]:
        p = prior.get("disk")
        if not p:
            return []
        disk = next((d for d in current.get("disks", []) if d["number"] == p["number"]), None)
        if disk is None:
            return []
        n = disk["number"]
        steps = []
        keep = set(p["partitions"])
        online = disk["online"]
        ours = sorted((x["number"] for x in disk["partitions"] if x["number"] not in keep), reverse=True)
        if (ours or (p["partitionStyle"] == "RAW" and disk["partitionStyle"] != "RAW")) and not online:
            steps.append({"do": "online"})
            online = True
        if disk["readOnly"] and (ours or p["partitionStyle"] == "RAW"):
            steps.append({"do": "readWrite"})
        if p["partitionStyle"] == "RAW" and disk["partitionStyle"] != "RAW":
            steps.append({"do": "clear"})           # removes our partitions and the MSR in one go
        else:
            steps += [{"do": "removePartition", "partitionNumber": num} for num in ours]
        if p["readOnly"] and (disk["readOnly"] is False or any(s["do"] == "readWrite" for s in steps)):
            steps.append({"do": "readOnly"})
        if not p["online"] and online:
            steps.append({"do": "offline"})
        return [dict(s, disk=n) for s in steps]

    # ---- Set --------------------------------------------------------------------------------
    def apply(self, host, inputs, changes, prior) -> dict:
        disk = changes[0]["disk"]
        steps = [{k: v for k, v in c.items() if k != "disk"} for c in changes]
        state = host.state("volume.apply", {"disk": disk, "steps": steps}, final=True)
        state.pop("applied", None)
        return state

    def _ours(self, inputs, state: dict) -> tuple[Optional[dict], Optional[dict]]:
        try:
            disk = self._disk(inputs, state)
        except Refused:
            return None, None
        vols = [p for p in disk["partitions"] if p["volume"] is not None]
        part = self._volume_part(disk, inputs.drive_letter) or (vols[0] if len(vols) == 1 else None)
        return disk, part

    def report(self, inputs, state: dict) -> dict:
        disk, part = self._ours(inputs, state)
        if disk is None:
            return {"disk": None, "volume": None}
        vol = None
        if part is not None and part["volume"] is not None:
            vol = {"driveLetter": part["driveLetter"], **part["volume"]}
        return {"disk": {k: disk[k] for k in ("number", "lun", "sizeBytes", "online", "readOnly", "partitionStyle")},
                "volume": vol}

    def live_inputs(self, inputs, current) -> dict:
        out = inputs.dump()
        _disk, part = self._ours(inputs, current)
        if part is None or part["volume"] is None:
            out["driveLetter"] = None          # no volume at all
        else:
            out["driveLetter"] = part["driveLetter"]
            if not inputs.existing:          # an existing volume's label is not ours to converge
                out["label"] = part["volume"]["label"]
        return out


class DataVolume(HostResource, module="winfleet", name="DataVolume"):
    """``DataVolume(name, {"connection", "lun"|"diskNumber", "driveLetter", "label", "fileSystem"}, opts)``."""

    provider_class = DataVolumeProvider

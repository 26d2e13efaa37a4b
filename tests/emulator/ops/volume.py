"""Handlers for volume.read and volume.apply (drivers: scripts/ops/volume.read.ps1, volume.apply.ps1).

volume.read  params: {}
  -> state {"disks": [{"number", "lun", "location", "sizeBytes", "online", "readOnly", "partitionStyle",
                       "isBoot", "isSystem", "partitions": [{"number", "type", "sizeBytes", "driveLetter",
                       "volume": {"uniqueId", "fileSystem", "label", "sizeBytes", "freeBytes"}|null}]}]}
volume.apply params: {"disk": n, "steps": [step]}
  step: {"do": "online"|"offline"|"readWrite"|"readOnly"|"clear"}
      | {"do": "initialize", "style": "GPT"} | {"do": "partition", "driveLetter"}
      | {"do": "format", "driveLetter", "fileSystem", "label"} | {"do": "label", "driveLetter", "label"}
      | {"do": "removePartition", "partitionNumber"} | {"do": "letter", "partitionNumber", "driveLetter"}
  -> state as volume.read plus "applied": [do...]
"""
from __future__ import annotations

from tests.emulator.ops import OpError, op
from tests.emulator.ops.svc_support import step_done
from tests.emulator.windows.storage import StorageError


def read_disks(host) -> list[dict]:
    out = []
    for n, d in sorted(host.storage.disks.items()):
        parts = []
        for p in d["partitions"]:
            v = p["volume"]
            vol = None if v is None else {"uniqueId": v["uniqueId"], "fileSystem": v["fileSystem"], "label": v["label"],
                                          "sizeBytes": v["sizeBytes"], "freeBytes": v["sizeBytes"] - v["usedBytes"]}
            parts.append({"number": p["number"], "type": p["type"], "sizeBytes": p["sizeBytes"],
                          "driveLetter": p["driveLetter"], "volume": vol})
        out.append({"number": n, "lun": d["lun"], "location": d["location"], "sizeBytes": d["sizeBytes"],
                    "online": d["online"], "readOnly": d["readOnly"], "partitionStyle": d["partitionStyle"],
                    "isBoot": d["isBoot"], "isSystem": d["isSystem"], "partitions": parts})
    return out


@op("volume.read")
def volume_read(host, params: dict) -> dict:
    return {"changed": False, "state": {"disks": read_disks(host)}}


def _already(host, n: int, s: dict) -> bool:
    """scripts/ops/volume.apply.ps1's guards: the step's effect is already there on the live disk."""
    d = host.storage.disks.get(n)
    if d is None:
        return False
    do = s.get("do")
    part = next((p for p in d["partitions"] if p["driveLetter"] == s.get("driveLetter")), None)
    if do == "initialize":
        return d["partitionStyle"] == s.get("style")
    if do == "clear":
        return d["partitionStyle"] == "RAW"
    if do == "partition":
        return part is not None
    if do == "format":
        return part is not None and part["volume"] is not None and part["volume"]["fileSystem"] == s.get("fileSystem")
    if do == "removePartition":
        return not any(p["number"] == s.get("partitionNumber") for p in d["partitions"])
    return False


@op("volume.apply")
def volume_apply(host, params: dict) -> dict:
    n = params.get("disk") if isinstance(params, dict) else None
    steps = params.get("steps") if isinstance(params, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not isinstance(steps, list):
        raise OpError("INVALID_PARAMS", "disk must be a number and steps a list")
    st = host.storage
    applied = []
    for s in steps:
        do = s.get("do") if isinstance(s, dict) else None
        if isinstance(s, dict) and _already(host, n, s):
            applied.append(do)   # the driver's live-state guard: a re-run (lost response, retry) is harmless
            continue
        try:
            if do == "online":
                st.set_online(n, True)
            elif do == "offline":
                st.set_online(n, False)
            elif do == "readWrite":
                st.set_read_only(n, False)
            elif do == "readOnly":
                st.set_read_only(n, True)
            elif do == "initialize":
                st.initialize(n, s["style"])
            elif do == "partition":
                st.new_partition(n, s["driveLetter"])
            elif do == "format":
                st.format(s["driveLetter"], s["fileSystem"], s["label"])
            elif do == "letter":
                st.set_letter(n, s["partitionNumber"], s["driveLetter"])
            elif do == "label":
                st.set_label(s["driveLetter"], s["label"])
            elif do == "removePartition":
                st.remove_partition(n, s["partitionNumber"])
            elif do == "clear":
                st.clear(n)
            else:
                raise OpError("INVALID_PARAMS", f"unknown volume step {do!r}")
        except StorageError as exc:
            raise OpError(exc.code, exc.message) from None
        except (KeyError, TypeError) as exc:
            raise OpError("INVALID_PARAMS", f"{do}: missing or bad {exc}") from None
        applied.append(do)
        step_done(host, "volume.apply", do)
    return {"changed": bool(applied), "state": {"disks": read_disks(host), "applied": applied}}

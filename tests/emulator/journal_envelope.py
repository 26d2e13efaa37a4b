"""The journal envelope of one op, as the bootstrap applies it (components/winrm/bootstrap.py).

Order (docs/CONTRACTS.md "Host ops"): ``read`` (entries + the host's MachineGuid, before anything),
``write``, ``update``'s check and ``hold`` (before the op), the op, then (only if it succeeded)
``clear`` and ``update``'s ``release``. ``update`` is the merge of scripts/lib/common.ps1
``Update-Journal``: a delta applied to the entry *as it is on the host now*, under the host-wide
mutex ``Global\\winfleet-registry`` (here: ``HostModel.lock``, held by the dispatcher around the
whole op, which is stricter than the driver's per-section mutex). Used by the dispatcher and by
the unit tests' in-process fake executor, so both apply one definition.
"""
from __future__ import annotations

import json

from .ops import OpError
from .ops.journal import journal_read


def _entry(model, key: str) -> dict:
    text = model.journal_entries_ci().get(key.lower())
    if text is None:
        return {"v": 1, "prior": {}, "holders": {}}
    try:
        value = json.loads(text)
    except ValueError:
        raise OpError("JOURNAL_CORRUPT", f"journal entry {key!r} is not JSON") from None
    if not isinstance(value, dict):
        raise OpError("JOURNAL_CORRUPT", f"journal entry {key!r} is not an object")
    value.setdefault("prior", {})
    value.setdefault("holders", {})
    return value


def _store(model, key: str, value: dict) -> None:
    if not value.get("prior") and not any((value.get("holders") or {}).values()):
        model.journal_clear(key)        # an empty entry goes (and the keys with the last one)
    else:
        model.journal_write(key, json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def check_and_hold(model, update: dict) -> None:
    """Before the op: fail JOURNAL_CONFLICT (nothing changed) when an item's other holders are not
    the ones the caller planned with (``expect``); then record ``hold`` (prior only where none)."""
    key, holder = update["key"], update["holder"]
    value = _entry(model, key)
    holders = value["holders"]
    for item, seen in (update.get("expect") or {}).items():
        now = sorted(h for h in (holders.get(item) or {}) if h != holder)
        if now != sorted(seen):
            raise OpError("JOURNAL_CONFLICT", f"journal {key} item {item!r} is held by {now} now, not {sorted(seen)} "
                                              "as planned (another run changed it meanwhile); nothing was changed")
    hold = update.get("hold") or {}
    if not hold:
        return
    for item, rec in hold.items():
        if item not in value["prior"]:
            value["prior"][item] = rec.get("prior")
        holders.setdefault(item, {})[holder] = rec.get("claim")
    _store(model, key, value)


def release(model, update: dict) -> None:
    """After the op succeeded: drop ``holder`` (and ``releaseOther``'s holders) from their items; an
    item nobody holds any more loses its prior value; an empty entry is removed."""
    key = update["key"]
    drops = [(update["holder"], update.get("release") or [])]
    drops += sorted((update.get("releaseOther") or {}).items())
    if not any(items for _h, items in drops):
        return
    value = _entry(model, key)
    for holder, items in drops:
        for item in items:
            hs = value["holders"].get(item)
            if hs is None:
                continue
            hs.pop(holder, None)
            if not hs:
                value["holders"].pop(item, None)
                value["prior"].pop(item, None)
    _store(model, key, value)


def before(model, journal: dict) -> dict | None:
    """Everything before the op; returns the ``journal`` member of the output (or None)."""
    out = None
    if journal.get("read") is not None:
        out = {"entries": journal_read(model, {"keys": journal["read"]})["state"]["entries"],
               "machineGuid": model.machine_guid}
    write = journal.get("write")
    if write is not None:
        model.journal_write(write["key"], json.dumps(write["value"], ensure_ascii=False, separators=(",", ":")))
    if journal.get("update") is not None:
        check_and_hold(model, journal["update"])
    return out


def after(model, journal: dict) -> None:
    """Everything after the op succeeded."""
    if journal.get("clear") is not None:
        model.journal_clear(journal["clear"])
    if journal.get("update") is not None:
        release(model, journal["update"])

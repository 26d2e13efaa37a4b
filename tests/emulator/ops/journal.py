"""journal.read: the host journal (HKLM\\SOFTWARE\\winfleet\\Journal), one JSON REG_SZ per key."""
from __future__ import annotations

import json

from . import OpError, op


@op("journal.read")
def journal_read(host, params: dict) -> dict:
    keys = params.get("keys") if isinstance(params, dict) else None
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
        raise OpError("INVALID_PARAMS", "keys must be a list of strings or null")
    wanted = None if keys is None else {k.lower() for k in keys}
    entries = {}
    for name, text in host.journal_entries().items():
        if wanted is not None and name.lower() not in wanted:
            continue
        try:
            entries[name] = json.loads(text)
        except ValueError:
            raise OpError("JOURNAL_CORRUPT", f"journal entry {name!r} is not JSON") from None
    return {"changed": False, "state": {"entries": entries}}

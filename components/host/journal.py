"""The host journal: prior values of host settings we change, kept on the host itself.

Where it lives (docs/CONTRACTS.md): ``HKLM:\\SOFTWARE\\winfleet\\Journal`` on the host, one REG_SZ
value per *journal key*, holding JSON. The executor's ``journal=`` envelope writes an entry
**before** an op runs (``{"write": {"key", "value"}}``) and clears one **after** the op succeeded
(``{"clear": key}``); ``journal.read`` returns entries. This module is the pure-Python side: key
naming, the value shape and the bookkeeping (who holds which item, which prior value to restore).

Key naming: ``<Kind>/<scope>``, where *scope* is unique on the host for the thing whose settings
are recorded, e.g. ``EventLogSettings/EventLog`` (all event logs of the host), ``NtfsQuota/D:``
(quota settings of volume D:), ``DataVolume/lun0`` (the data disk at LUN 0).

Value shape (version 1)::

    {"v": 1, "kind": "NtfsQuota",
     "prior":   {item: <prior value, JSON>},          # what the host had before winfleet
     "holders": {item: {holder_id: <claim, JSON>}}}   # resources that currently manage the item

An *item* is one independently restorable setting group (an event log, the volume quota state,
one account's quota entry). Several resources may hold the same item (e.g. every NtfsQuota on D:
holds ``volume``); the prior value is recorded by the first and restored when the **last** holder
releases it. A prior value already in the journal always wins over the live value: the live value
may be ours from an apply that died half-way. Item names are lower-case (PowerShell 5.1's
ConvertFrom-Json rejects keys that differ only in case).
"""
from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass, field
from typing import Any

VERSION = 1


def journal_key(kind: str, scope: str) -> str:
    """``<Kind>/<scope>``; both parts non-empty, no control characters (registry value names)."""
    if not kind or not scope:
        raise ValueError("journal key needs a kind and a scope")
    if any(ord(c) < 32 for c in kind + scope):
        raise ValueError(f"journal key {kind}/{scope!r} contains control characters")
    return f"{kind}/{scope}"


def item_name(*parts: str) -> str:
    """Canonical item name: lower-case parts joined with ':' (``entry:nt service\\api``)."""
    return ":".join(p.lower() for p in parts)


@dataclass
class Entry:
    """One journal entry (the decoded value of one journal key)."""

    kind: str
    prior: dict[str, Any] = field(default_factory=dict)
    holders: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- (de)serialisation -------------------------------------------------------------------
    @classmethod
    def parse(cls, value: Any, kind: str) -> "Entry":
        """Decode a ``journal.read`` value (dict, or JSON text); ``None`` gives an empty entry."""
        if value is None:
            return cls(kind=kind)
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError(f"journal entry for {kind} is not an object: {value!r}")
        if value.get("kind") not in (None, kind):
            raise ValueError(f"journal entry belongs to {value.get('kind')}, not {kind}")
        prior = dict(value.get("prior") or {})
        holders = {item: dict(h or {}) for item, h in (value.get("holders") or {}).items()}
        return cls(kind=kind, prior=prior, holders=holders)

    def to_value(self) -> dict:
        return {"v": VERSION, "kind": self.kind,
                "prior": copy.deepcopy(self.prior),
                "holders": {i: dict(sorted(h.items())) for i, h in sorted(self.holders.items()) if h}}

    def copy(self) -> "Entry":
        return Entry(self.kind, copy.deepcopy(self.prior), copy.deepcopy(self.holders))

    @property
    def empty(self) -> bool:
        return not self.prior and not any(self.holders.values())

    def __eq__(self, other) -> bool:
        return isinstance(other, Entry) and self.to_value() == other.to_value()

    # -- bookkeeping -------------------------------------------------------------------------
    def hold(self, holder: str, live_prior: dict[str, Any], claims: dict[str, Any] | None = None) -> dict[str, Any]:
        """``holder`` now manages the items of ``live_prior`` (item -> live value before we change it).

        Records the live value as prior only where the journal has none yet; returns the prior
        values that apply to these items (journal first).
        """
        claims = {} if claims is None else claims
        out = {}
        for item, live in live_prior.items():
            if item not in self.prior:
                self.prior[item] = copy.deepcopy(live)
            self.holders.setdefault(item, {})[holder] = copy.deepcopy(claims.get(item, True))
            out[item] = copy.deepcopy(self.prior[item])
        return out

    def release(self, holder: str, items) -> dict[str, Any]:
        """``holder`` stops managing ``items``; returns {item: prior} of items nobody holds any more
        (they must be restored) and forgets them."""
        freed = {}
        for item in items:
            hs = self.holders.get(item, {})
            hs.pop(holder, None)
            if not hs:
                self.holders.pop(item, None)
                if item in self.prior:
                    freed[item] = self.prior.pop(item)
        return freed

    def rename(self, old: str, new: str) -> None:
        """Holder ``old`` becomes ``new`` (same claims): a resource adopting its pre-owner holder id."""
        for hs in self.holders.values():
            if old in hs:
                hs.setdefault(new, hs.pop(old))

    def items_of(self, holder: str) -> list[str]:
        return sorted(i for i, hs in self.holders.items() if holder in hs)

    def others(self, holder: str) -> dict[str, dict[str, Any]]:
        """Claims of the *other* holders, per item."""
        return {i: {h: c for h, c in hs.items() if h != holder} for i, hs in self.holders.items()
                if any(h != holder for h in hs)}


# -- per-process locks: one per (host, journal key) --------------------------------------------
# The dynamic-provider host serves gRPC calls from a 4-thread pool; two resources sharing a journal
# key (two NtfsQuota on D:) must not interleave their read-modify-write of the entry. Locks live at
# module level (never on the provider object, which is pickled into state).
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def lock_for(host: str, key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault((host.lower(), key), threading.Lock())

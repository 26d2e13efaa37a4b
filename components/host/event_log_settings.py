"""EventLogSettings: maximum size and retention of event logs on a host.

Inputs: ``connection``, ``logs`` [{``name``, ``maxSizeKb``, ``retention``: circular|autoBackup|retain}].

Windows rules (windows_domain.md §5): at least 1024 KB (1 MB) and a multiple of 64 KB, at most
2,147,483,584 KB; ``check`` refuses anything else and names the nearest valid sizes (we never round
silently: a rounded size would show as drift forever). Group Policy
(``HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\EventLog\\<log>``) overrides local settings, so a log whose
size or retention is set by policy to something else is refused with the policy named, instead of
writing a local value that has no effect.

Capacity (issue 14 item 3): the logs live on the OS volume (their ``LogFilePath``; C: unless moved), and
Windows accepts sizes far beyond it (2 TB per log against a 127 GB OS disk). Before changing anything the
plan adds up, per volume, what the managed logs can still grow (``maxSize`` - the file's current size,
EventLogInformation.FileSize) plus, for ``autoBackup`` logs, ``capacity.archivesPerLog`` full-size archives
(Windows never deletes the ``Archive-*.evtx`` files it rotates out), and refuses when that exceeds the
volume's free space minus ``capacity.reservePercent`` of its size (at least ``MIN_RESERVE_BYTES``: Windows
Update, the page file and crash dumps need room on C: too).

Journal: ``EventLogSettings/EventLog`` holds one item per log (lower-case name) with the local
``{maxSizeBytes, retention}`` found before winfleet first changed it. Several EventLogSettings may
manage the same log: the first records the prior value, the last one deleted restores it.
Ops: ``eventlog.read`` {logs} and ``eventlog.apply`` {changes, logs} (drivers in scripts/ops).
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ..windows_facts import EVENTLOG_MAX_KB, EVENTLOG_MIN_KB, EVENTLOG_MULTIPLE_KB

from .base import HostInputs, HostResource, HostResourceProvider, Model, Refused
from .journal import item_name

# Event log / channel names: letters, digits, space, '.', '_', '-', and '/' (channel paths such as
# Microsoft-Windows-PowerShell/Operational). No wildcards, quotes, backslashes or control characters.
LOG_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,254}")
POLICY_KEY = r"HKLM\SOFTWARE\Policies\Microsoft\Windows\EventLog"


def _gb(n: int) -> str:
    return f"{n / 1024 ** 3:.1f} GiB"


def nearest_sizes_kb(kb: int) -> tuple[int, int]:
    lo = max(EVENTLOG_MIN_KB, kb // EVENTLOG_MULTIPLE_KB * EVENTLOG_MULTIPLE_KB)
    hi = max(EVENTLOG_MIN_KB, -(-kb // EVENTLOG_MULTIPLE_KB) * EVENTLOG_MULTIPLE_KB)
    return lo, min(hi, EVENTLOG_MAX_KB)


class LogSpec(Model):
    name: str
    max_size_kb: int
    retention: Literal["circular", "autoBackup", "retain"] = "circular"

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not LOG_NAME_RE.fullmatch(v) or v.endswith(" ") or "//" in v:
            raise ValueError(f"{v!r} is not an event log name (letters, digits, space, . _ - /; "
                             "e.g. Application, System, Microsoft-Windows-PowerShell/Operational)")
        return v

    @field_validator("max_size_kb")
    @classmethod
    def _size(cls, v: int) -> int:
        if v < EVENTLOG_MIN_KB:
            raise ValueError(f"{v} KB is below the Windows minimum of {EVENTLOG_MIN_KB} KB (1 MB)")
        if v > EVENTLOG_MAX_KB:
            raise ValueError(f"{v} KB is above the maximum of {EVENTLOG_MAX_KB} KB")
        if v % EVENTLOG_MULTIPLE_KB:
            lo, hi = nearest_sizes_kb(v)
            raise ValueError(f"{v} KB is not a multiple of {EVENTLOG_MULTIPLE_KB} KB (Windows keeps log "
                             f"sizes in 64 KB steps); use {lo} or {hi}")
        return v


MIN_RESERVE_BYTES = 4 * 1024 ** 3


class CapacitySpec(Model):
    archives_per_log: int = Field(default=4, ge=0, le=1000)   # archives budgeted per autoBackup log
    reserve_percent: int = Field(default=10, ge=0, le=90)      # of the volume, kept free for Windows


class EventLogSettingsInputs(HostInputs):
    logs: list[LogSpec] = Field(min_length=1)
    capacity: CapacitySpec = Field(default_factory=CapacitySpec)


class EventLogSettingsProvider(HostResourceProvider):
    kind = "EventLogSettings"
    model = EventLogSettingsInputs
    replace_keys = ()

    # ---- identity ---------------------------------------------------------------------------
    def journal_scope(self, inputs) -> str:
        return "EventLog"

    def identity(self, inputs) -> str:
        return ",".join(sorted(l.name.lower() for l in inputs.logs))

    def claims(self, inputs) -> dict:
        return {item_name(l.name): {"maxSizeKb": l.max_size_kb, "retention": l.retention} for l in inputs.logs}

    def shareable(self, item, mine, theirs) -> bool:
        """Two stacks may size one log alike (the last one deleted restores it); never differently."""
        return (mine.get("maxSizeKb"), mine.get("retention")) == (theirs.get("maxSizeKb"), theirs.get("retention"))

    def item_field(self, inputs, item) -> str:
        for i, l in enumerate(inputs.logs):
            if item_name(l.name) == item:
                return f"logs[{i}].maxSizeKb"
        return "logs"

    def check_inputs(self, inputs) -> list[tuple[str, str]]:
        seen: dict[str, int] = {}
        out = []
        for i, log in enumerate(inputs.logs):
            k = log.name.lower()
            if k in seen:
                out.append((f"logs[{i}].name", f"{log.name!r} is already configured by logs[{seen[k]}] "
                                                "(log names are case-insensitive); list each log once"))
            seen.setdefault(k, i)
        return out

    # ---- Get --------------------------------------------------------------------------------
    def read_state(self, host, inputs) -> dict:
        return host.state("eventlog.read", {"logs": [l.name for l in inputs.logs]})

    @staticmethod
    def _by_name(current: dict) -> dict[str, dict]:
        return {e["request"].lower(): e for e in current.get("logs", [])}

    def prior_of(self, inputs, current) -> dict:
        live = self._by_name(current)
        out = {}
        for log in inputs.logs:
            e = live.get(log.name.lower())
            if e and e.get("exists"):
                out[item_name(log.name)] = {"name": e["name"], **e["local"]}
        return out

    # ---- Test -------------------------------------------------------------------------------
    def plan(self, inputs, current) -> list[dict]:
        live = self._by_name(current)
        changes = []
        for i, log in enumerate(inputs.logs):
            e = live.get(log.name.lower())
            if not e or not e.get("exists"):
                raise Refused(f"logs[{i}].name", f"there is no event log named {log.name!r} on the host")
            want_bytes = log.max_size_kb * 1024
            policy = e.get("policy") or {}
            ch = {}
            if e["maxSizeBytes"] != want_bytes:
                if "maxSizeKb" in policy:
                    raise Refused(f"logs[{i}].maxSizeKb",
                                  f"{e['name']}'s size is set by Group Policy ({POLICY_KEY}\\{e['name']} MaxSize = "
                                  f"{policy['maxSizeKb']} KB); change the policy or set maxSizeKb to {policy['maxSizeKb']}")
                ch["maxSizeBytes"] = want_bytes
            if e["retention"] != log.retention:
                if "retention" in policy:
                    raise Refused(f"logs[{i}].retention",
                                  f"{e['name']}'s retention is set by Group Policy ({POLICY_KEY}\\{e['name']} Retention = "
                                  f"{policy['retention']!r}); change the policy or set retention to {e['retention']!r}")
                ch["retention"] = log.retention
            if ch:
                changes.append({"log": e["name"], **ch})
        if changes:
            self.check_capacity(inputs, current)
        return changes

    def check_capacity(self, inputs, current) -> None:
        """Refuse sizes the volumes holding the log files cannot take (see the module docstring)."""
        live = self._by_name(current)
        volumes = {str(v["letter"]).upper(): v for v in current.get("volumes") or []}
        need: dict[str, int] = {}
        parts: dict[str, list[str]] = {}
        for log in inputs.logs:
            e = live[log.name.lower()]
            letter = str(e.get("filePath") or "C:")[0].upper()
            want = log.max_size_kb * 1024
            grow = max(0, want - int(e.get("fileSizeBytes") or 0))
            archives = inputs.capacity.archives_per_log * want if log.retention == "autoBackup" else 0
            need[letter] = need.get(letter, 0) + grow + archives
            parts.setdefault(letter, []).append(
                f"{e['name']} {_gb(want)}" + (f" + {inputs.capacity.archives_per_log} archives" if archives else ""))
        for letter, n in sorted(need.items()):
            v = volumes.get(letter)
            if v is None:
                raise Refused("logs", f"the host did not report free space for {letter}:, where the logs' files are; "
                                      "nothing was changed")
            reserve = max(int(v["sizeBytes"]) * inputs.capacity.reserve_percent // 100, MIN_RESERVE_BYTES)
            room = int(v["freeBytes"]) - reserve
            if n > room:
                raise Refused("logs", f"the event logs on {letter}: could grow by {_gb(n)} ({', '.join(parts[letter])}) "
                                      f"but {letter}: has {_gb(int(v['freeBytes']))} free of {_gb(int(v['sizeBytes']))} and "
                                      f"{_gb(reserve)} must stay free (capacity.reservePercent "
                                      f"{inputs.capacity.reserve_percent} %, at least {_gb(MIN_RESERVE_BYTES)}); lower "
                                      "maxSizeKb, use circular instead of autoBackup, or grow the OS disk")

    def restore_plan(self, inputs, prior, current) -> list[dict]:
        live = {e.get("name", e["request"]).lower(): e for e in current.get("logs", []) if e.get("exists")}
        changes = []
        for item, p in sorted(prior.items()):
            e = live.get(p["name"].lower())
            ch = {}
            if e is None or e["local"]["maxSizeBytes"] != p["maxSizeBytes"]:
                ch["maxSizeBytes"] = p["maxSizeBytes"]
            if e is None or e["local"]["retention"] != p["retention"]:
                ch["retention"] = p["retention"]
            if ch:
                changes.append({"log": p["name"], **ch})
        return changes

    # ---- Set --------------------------------------------------------------------------------
    def apply(self, host, inputs, changes, prior) -> dict:
        state = host.state("eventlog.apply", {"changes": changes, "logs": [l.name for l in inputs.logs]},
                           final=True)
        state.pop("applied", None)
        return state

    def live_inputs(self, inputs, current) -> dict:
        live = self._by_name(current)
        logs = []
        for log in inputs.logs:
            e = live.get(log.name.lower())
            if e and e.get("exists"):
                logs.append({"name": log.name, "maxSizeKb": e["maxSizeBytes"] // 1024, "retention": e["retention"]})
            else:
                logs.append(log.dump())
        return {**inputs.dump(), "logs": logs}


class EventLogSettings(HostResource, module="winfleet", name="EventLogSettings"):
    """``EventLogSettings(name, {"connection": ..., "logs": [...]}, opts)``."""

    provider_class = EventLogSettingsProvider

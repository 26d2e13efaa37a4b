"""Handlers for eventlog.read and eventlog.apply (drivers: scripts/ops/eventlog.read.ps1, eventlog.apply.ps1).

eventlog.read  params: {"logs": [name]}
  -> state {"logs": [{"request": name, "exists": bool, "name", "classic", "maxSizeBytes", "retention",
                      "local": {"maxSizeBytes", "retention"}, "policy": {"maxSizeKb"?, "retention"?, "autoBackup"?}|null,
                      "filePath", "fileSizeBytes"}],
            "volumes": [{"letter", "sizeBytes", "freeBytes"}]}   (the volumes the logs' files live on: Get-Volume)
  (maxSizeBytes/retention are the effective values, as EventLogConfiguration reports them; "local" is
   the registry configuration a change writes; "policy" the Group Policy values that override it.)
eventlog.apply params: {"changes": [{"log", "maxSizeBytes"?, "retention"?}], "logs": [name]}
  Each change is one EventLogConfiguration.SaveChanges() on the log; then the "logs" are read back.
  -> state as eventlog.read plus "applied": [{"log", "changed": bool}]
"""
from __future__ import annotations

from tests.emulator.ops import OpError, op
from tests.emulator.ops.svc_support import step_done
from tests.emulator.windows.eventlog import EventLogError
from tests.emulator.windows.storage import StorageError


def _names(params, key) -> list[str]:
    names = params.get(key) if isinstance(params, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise OpError("INVALID_PARAMS", f"{key} must be a list of log names")
    return names


def read_logs(host, names: list[str]) -> list[dict]:
    out = []
    for name in names:
        logs = host.eventlogs
        if not logs.exists(name):
            out.append({"request": name, "exists": False})
            continue
        eff = logs.get(name)
        loc = logs.local(name)
        out.append({"request": name, "exists": True, "name": eff["name"], "classic": eff["classic"],
                    "maxSizeBytes": eff["maxSizeBytes"], "retention": eff["retention"],
                    "local": {"maxSizeBytes": loc["maxSizeBytes"], "retention": loc["retention"]},
                    "policy": eff["policy"], "filePath": logs.file_path(name), "fileSizeBytes": logs.file_size(name)})
    return out


def read_volumes(host, logs: list[dict]) -> list[dict]:
    out = []
    for letter in sorted({l["filePath"][0].upper() for l in logs if l.get("exists")}):
        try:
            v = host.storage.volume(letter)
        except StorageError:
            continue
        out.append({"letter": letter, "sizeBytes": v["sizeBytes"], "freeBytes": v["sizeBytes"] - v["usedBytes"]})
    return out


@op("eventlog.read")
def eventlog_read(host, params: dict) -> dict:
    logs = read_logs(host, _names(params, "logs"))
    return {"changed": False, "state": {"logs": logs, "volumes": read_volumes(host, logs)}}


@op("eventlog.apply")
def eventlog_apply(host, params: dict) -> dict:
    changes = params.get("changes") if isinstance(params, dict) else None
    if not isinstance(changes, list):
        raise OpError("INVALID_PARAMS", "changes must be a list")
    names = _names(params, "logs") if params.get("logs") else []
    applied = []
    logs = host.eventlogs
    for ch in changes:
        if not isinstance(ch, dict) or not isinstance(ch.get("log"), str):
            raise OpError("INVALID_PARAMS", "each change needs a log name")
        name = ch["log"]
        try:
            before = logs.local(name)
            if "maxSizeBytes" in ch:
                logs.set_max_size(name, ch["maxSizeBytes"])
            if "retention" in ch:
                logs.set_retention(name, ch["retention"])
            after = logs.local(name)
        except EventLogError as exc:
            raise OpError(exc.code, f"{name}: {exc.message}") from None
        applied.append({"log": after["name"], "changed": before != after})
        step_done(host, "eventlog.apply", after["name"])
    logs_after = read_logs(host, names)
    return {"changed": any(a["changed"] for a in applied),
            "state": {"logs": logs_after, "volumes": read_volumes(host, logs_after), "applied": applied}}

"""Crash visibility on refresh (issue 14 item 4): what Windows logged about a service since the last apply.

SCM recovery restarts a crashing service silently. ``pulumi refresh`` (the WindowsService's ``read``)
asks the same ``service.read`` op for the events since ``appliedAt`` (the time of the last create or
update, UTC, taken from the machine running Pulumi: a host clock far behind would hide events):

* System, provider "Service Control Manager": 7031 (terminated unexpectedly; a recovery action follows:
  SCM restarts it), 7034 (terminated unexpectedly, no action), 7024 (stopped with a service-specific
  error) -- %1 is the service's display name (Windows SDK netevent.h: EVENT_SERVICE_CRASH 0xC0001B77,
  EVENT_SERVICE_CRASH_NO_ACTION 0xC0001B7A, EVENT_SERVICE_EXIT_FAILED_SPECIFIC);
* Application: 1000 "Application Error" (faulting application = the exe) and 1001 "Windows Error
  Reporting" (APPCRASH report, P1 = the exe).

The summary is the ``crashes`` output ({since, restarts, crashes, werReports, events: [...] (newest 20)})
and, when there is anything, a warning the CLI prints under "Diagnostics:" (components/host/progress.py):
"WindowsService 'orders-api' on web-0: restarted 3 times since 2026-12-01T06:00:00Z ...".
"""
from __future__ import annotations

import datetime

SCM_RESTARTED, SCM_CRASHED, SCM_EXIT_SPECIFIC = 7031, 7034, 7024
WER_IDS = (1000, 1001)
KEEP = 20


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query(i, since: str) -> dict:
    return {"since": since, "serviceName": i.service_name, "displayName": i.display_name or i.service_name,
            "exeName": i.exe_name}


def summarise(since: str, events: list[dict]) -> dict:
    ids = [int(e.get("id", 0)) for e in events]
    return {"since": since, "restarts": ids.count(SCM_RESTARTED),
            "crashes": ids.count(SCM_RESTARTED) + ids.count(SCM_CRASHED) + ids.count(SCM_EXIT_SPECIFIC),
            "werReports": sum(1 for x in ids if x in WER_IDS), "events": list(events[-KEEP:])}


def warning(label: str, summary: dict) -> str | None:
    if not summary["crashes"] and not summary["werReports"]:
        return None
    parts = []
    if summary["restarts"]:
        parts.append(f"restarted {summary['restarts']} time{'s' if summary['restarts'] != 1 else ''}")
    others = summary["crashes"] - summary["restarts"]
    if others:
        parts.append(f"stopped unexpectedly {others} time{'s' if others != 1 else ''} without a restart")
    if not parts:
        parts.append("crashed (Windows Error Reporting)")
    detail = [f"{summary['werReports']} Windows Error Reporting event(s)"] if summary["werReports"] else []
    last = summary["events"][-1] if summary["events"] else {}
    if last:
        detail.append(f"last: {last.get('provider')} {last.get('id')} at {last.get('time')}")
    return (f"{label}: {' and '.join(parts)} since {summary['since']}"
            + (f" ({'; '.join(detail)})" if detail else "") + "; see its crashes output and the System/Application logs")

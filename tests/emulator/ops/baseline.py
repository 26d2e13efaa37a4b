"""Handlers for baseline.read and baseline.apply (drivers: scripts/ops/baseline.read.ps1, baseline.apply.ps1).

baseline.read params: {} -> state {"services": [{name, type, start, delayedAutostart, status, dependencies}]}
  every Win32 service on the host (kernel drivers left out), read from the registry + SCM status,
  so the Python planner can build the whole dependency graph in one round trip.
baseline.apply params: {"steps": [{"do": "setStart", "name", "start", "delayed"} | {"do": "stop", "name"} |
                                  {"do": "start", "name"}], "startTimeoutSeconds": n}
  -> state {"steps": [{"do", "name", "changed"}], "services": [...as read, for the names touched]}
A stop fails (DEPENDENT_SERVICES_RUNNING) when a dependent still runs: the planner orders stops.
"""
from __future__ import annotations

from tests.emulator.ops import OpError, op
from tests.emulator.ops.service import _wait_running, read_service
from tests.emulator.ops.svc_support import op_error, step_done
from tests.emulator.windows.scm import AUTO, ScmError


def _row(host, name: str) -> dict:
    s = read_service(host, name)
    return {"name": s["name"], "type": s["type"], "start": s["start"], "delayedAutostart": s["delayedAutostart"],
            "status": s["status"], "dependencies": s["dependencies"]}


@op("baseline.read")
def baseline_read(host, params: dict) -> dict:
    return {"changed": False, "state": {"services": [_row(host, n) for n in host.scm.names()]}}


@op("baseline.apply")
def baseline_apply(host, params: dict) -> dict:
    scm = host.scm
    done, touched = [], []
    for step in params.get("steps") or []:
        verb, name = step.get("do"), step.get("name")
        try:
            if not scm.exists(name):
                raise OpError("SERVICE_NOT_FOUND", f"{name}: the service does not exist")
            if verb == "setStart":
                q = read_service(host, name)
                want_delayed = bool(step.get("delayed")) if step["start"] == AUTO else q["delayedAutostart"]
                changed = q["start"] != step["start"] or q["delayedAutostart"] != want_delayed
                if changed:
                    scm.change_config(name, start=int(step["start"]))
                    if step["start"] == AUTO:
                        scm.set_delayed_autostart(name, bool(step.get("delayed")))
            elif verb == "stop":
                changed = scm.status(name) != "stopped"
                if changed:
                    scm.stop(name)
            elif verb == "start":
                changed = scm.status(name) == "stopped"
                if changed:
                    scm.start(name)
                _wait_running(host, name, float(params.get("startTimeoutSeconds") or 30))
            else:
                raise OpError("BAD_PARAMS", f"unknown step {verb!r}")
        except ScmError as e:
            raise op_error(e, f"{verb} {name}") from None
        done.append({"do": verb, "name": name, "changed": changed})
        if name.lower() not in (t.lower() for t in touched):
            touched.append(name)
        step_done(host, "baseline.apply", f"{verb}:{name.lower()}")
    return {"changed": any(d["changed"] for d in done),
            "state": {"steps": done, "services": [_row(host, n) for n in touched if scm.exists(n)]}}

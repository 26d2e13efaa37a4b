"""Handlers for task.read and task.apply (drivers: scripts/ops/task.read.ps1, task.apply.ps1).

task.read  params: {"name", "path": "\\winfleet\\"} -> state {"task": {...}|null, "folderExists": bool}
task.apply params: read params + {"steps": [{do: register, definition: {execute, arguments, description}} | {do: unregister}]}
  -> state as task.read plus "applied": [{"do", "changed"}]
"""
from __future__ import annotations

import re

from tests.emulator.ops import OpError, op
from tests.emulator.ops.svc_support import step_done
from tests.emulator.windows.tasks import TaskError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def _params(params) -> tuple[str, str]:
    name, path = (params or {}).get("name"), (params or {}).get("path")
    if not isinstance(name, str) or not NAME.match(name) or path != "\\winfleet\\":
        raise OpError("INVALID_PARAMS", f"task '{path}{name}' is not a winfleet task name")
    return name, path


def read_task(host, path: str, name: str) -> dict:
    ts = host.tasks
    return {"task": ts.get(path, name), "folderExists": ts.folder_exists(path)}


@op("task.read")
def task_read(host, params: dict) -> dict:
    name, path = _params(params)
    return {"changed": False, "state": read_task(host, path, name)}


@op("task.apply")
def task_apply(host, params: dict) -> dict:
    name, path = _params(params)
    ts = host.tasks
    applied = []
    for st in params.get("steps") or []:
        verb = st.get("do") if isinstance(st, dict) else None
        try:
            existing = ts.get(path, name)
            if verb == "register":
                d = st.get("definition") or {}
                if existing is not None:
                    ts.stop(path, name)
                ts.register(path, name, execute=str(d.get("execute")), arguments=str(d.get("arguments")),
                            description=str(d.get("description") or ""), replace=True)   # -Force
                ts.start(path, name)
                applied.append({"do": verb, "changed": True})
            elif verb == "unregister":
                changed = False
                if existing is not None:
                    ts.stop(path, name)
                    ts.unregister(path, name)
                    changed = True
                if ts.folder_exists(path) and not any(k[0] == path.lower() for k in ts._tasks):
                    ts.delete_folder(path)
                    changed = True
                applied.append({"do": verb, "changed": changed})
            else:
                raise OpError("INVALID_PARAMS", f"unknown step {verb!r}")
        except TaskError as exc:
            raise OpError(exc.code, exc.message) from None
        step_done(host, "task.apply", verb)
    return {"changed": any(a["changed"] for a in applied), "state": {**read_task(host, path, name), "applied": applied}}

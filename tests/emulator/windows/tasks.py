"""Task Scheduler of the emulated host: task folders, registered tasks, and running winfleet's watchdog.

Modelled (https://learn.microsoft.com/powershell/module/scheduledtasks/register-scheduledtask,
https://learn.microsoft.com/en-us/windows/win32/taskschd/taskfolder): tasks live in folders; registering
``\\winfleet\\<name>`` creates the folder, unregistering the last task leaves it (empty) until
``DeleteFolder``, which refuses a folder that still holds tasks (ERROR_DIR_NOT_EMPTY). Names compare
case-insensitively. A task's state is Ready until started, Running while its action runs.

Running: the only action the emulator can run is winfleet's watchdog (the action must be powershell.exe
with ``-EncodedCommand`` of exactly ``render_script(config)`` for some config: the same function the
provider uses); anything else is refused when started, as a stand-in must not guess. ``tick(name)`` runs
one iteration of the watchdog loop (scripts/tasks/watchdog.ps1) in Python against this host: skip unless
the service is Running; GET localhost:<port><path>; count failures in a row; at ``failureThreshold``,
stop the service (or, if it will not stop, kill it: the SCM logs the crash) and start it again.
``history`` records each restart.
"""
from __future__ import annotations

import base64
import copy
import json
import re

ROOT = "\\"
_ENC = re.compile(r"^-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ([A-Za-z0-9+/=]+)$")
_CFG = re.compile(r"FromBase64String\('([A-Za-z0-9+/=]+)'\)")


class TaskError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def watchdog_config(arguments: str) -> dict | None:
    """The config of a watchdog action, or None if the arguments are not exactly a rendered watchdog."""
    from components.host.service_watchdog import render_script
    m = _ENC.match(arguments or "")
    if not m:
        return None
    try:
        script = base64.b64decode(m.group(1)).decode("utf-16-le")
        cfg_m = _CFG.search(script)
        cfg = json.loads(base64.b64decode(cfg_m.group(1))) if cfg_m else None
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(cfg, dict) or render_script(cfg) != script:
        return None
    return cfg


class TaskScheduler:
    def __init__(self, host):
        self.host = host
        self.folders: set[str] = {ROOT}
        self._tasks: dict[tuple[str, str], dict] = {}
        self.history: list[dict] = []

    @staticmethod
    def _key(path: str, name: str) -> tuple[str, str]:
        return path.lower(), name.lower()

    def get(self, path: str, name: str) -> dict | None:
        t = self._tasks.get(self._key(path, name))
        return copy.deepcopy({k: v for k, v in t.items() if k != "runtime"}) if t else None

    def folder_exists(self, path: str) -> bool:
        return path.lower() in {f.lower() for f in self.folders}

    def register(self, path: str, name: str, *, execute: str, arguments: str, description: str = "",
                 user_id: str = "SYSTEM", triggers=("boot",), replace: bool = False) -> None:
        key = self._key(path, name)
        if key in self._tasks and not replace:
            raise TaskError("ALREADY_EXISTS", f"Cannot create a file when that file already exists ({path}{name})")
        if not self.folder_exists(path):
            self.folders.add(path)
        self._tasks[key] = {"name": name, "path": path, "state": "Ready", "enabled": True, "execute": execute,
                            "arguments": arguments, "userId": user_id, "triggers": list(triggers),
                            "description": description, "runtime": {"failures": 0}}

    def start(self, path: str, name: str) -> None:
        t = self._tasks.get(self._key(path, name))
        if t is None:
            raise TaskError("TASK_NOT_FOUND", f"The system cannot find the file specified ({path}{name})")
        if watchdog_config(t["arguments"]) is None:
            raise TaskError("CANNOT_RUN", "the emulator runs only winfleet's watchdog action")
        t["state"] = "Running"
        t["runtime"] = {"failures": 0}

    def stop(self, path: str, name: str) -> None:
        t = self._tasks.get(self._key(path, name))
        if t is not None:
            t["state"] = "Ready"

    def unregister(self, path: str, name: str) -> None:
        if self._tasks.pop(self._key(path, name), None) is None:
            raise TaskError("TASK_NOT_FOUND", f"The system cannot find the file specified ({path}{name})")

    def delete_folder(self, path: str) -> None:
        if any(k[0] == path.lower() for k in self._tasks):
            raise TaskError("DIR_NOT_EMPTY", f"The directory is not empty ({path})")
        self.folders = {f for f in self.folders if f.lower() != path.lower()}

    def add_foreign_task(self, path: str, name: str) -> None:
        self.register(path, name, execute="C:\\tools\\other.exe", arguments="", description="not winfleet's")

    # --- the watchdog loop, one iteration per tick --------------------------------------------
    def tick(self, path: str, name: str) -> str:
        """One watchdog iteration; returns what it did: skipped | healthy | failed | restarted | killed."""
        t = self._tasks.get(self._key(path, name))
        if t is None or t["state"] != "Running":
            return "not-running"
        cfg = watchdog_config(t["arguments"])
        rt = t["runtime"]
        scm = self.host.scm
        svc = cfg["service"]
        if not scm.exists(svc) or scm.status(svc) != "running":
            rt["failures"] = 0
            return "skipped"
        got = self.host.http.probe(int(cfg["port"]), cfg["path"])
        if got["status"] == 200:
            rt["failures"] = 0
            return "healthy"
        rt["failures"] += 1
        if rt["failures"] < int(cfg["failureThreshold"]):
            return "failed"
        rt["failures"] = 0
        try:
            scm.stop(svc)
        except Exception:
            scm.crash(svc)              # Stop-Process: the SCM logs it and its recovery takes over
            self.history.append({"task": name, "service": svc, "action": "killed"})
            return "killed"
        scm.start(svc)
        self.history.append({"task": name, "service": svc, "action": "restarted"})
        return "restarted"

    def state(self) -> dict:
        return {"folders": sorted(self.folders, key=str.lower),
                "tasks": {f"{t['path']}{t['name']}": {k: v for k, v in t.items() if k != "runtime"}
                          for _k, t in sorted(self._tasks.items())}}

"""ServiceWatchdog: an opt-in liveness watchdog for one service, as a Windows scheduled task.

Inputs: ``connection``, ``serviceName`` (replace), ``port``, ``healthPath``, ``intervalSeconds``
(default 30), ``failureThreshold`` (N, default 3), ``timeoutSeconds`` (per probe, default 5),
``stopTimeoutSeconds`` (default 30).

Why: a deadlocked Go process stays Running, so the SCM's recovery actions never fire and the load
balancer merely drains the host. The task ``\\winfleet\\watchdog-<service>`` runs as SYSTEM from boot
(and right after registration) the fixed script ``scripts/tasks/watchdog.ps1``: every
``intervalSeconds`` it GETs ``http://localhost:<port><healthPath>``; after ``failureThreshold`` failures
in a row while the service is Running it restarts it (stop, or kill the process when the stop does not
finish, leaving the restart to the SCM's recovery). A stopped or starting service is left alone, so a
deployment's own stop/start is never fought. The script carries its configuration as a base64 JSON
literal (data, never code). Task Scheduler: Register-ScheduledTask with an AtStartup trigger, no
execution time limit, restart of the task itself every minute if the script dies, IgnoreNew for a
second instance (https://learn.microsoft.com/powershell/module/scheduledtasks/register-scheduledtask,
https://learn.microsoft.com/powershell/module/scheduledtasks/new-scheduledtasksettingsset).

Why a resource of its own rather than part of WindowsService: it is opt-in, has its own journal entry
and lifecycle, and Pulumi orders it after the service (created after it, deleted before it), so the
watchdog never restarts a service that is being removed.

Journal: ``ServiceWatchdog/<service>``, item ``task`` with prior ``{"exists": false}`` (a task of that
name winfleet did not create is refused, never taken over); delete unregisters the task and removes the
``\\winfleet`` task folder when it is empty. Ops: ``task.read`` {name} / ``task.apply`` {name, steps}.
"""
from __future__ import annotations

import base64
import json

from pydantic import Field, field_validator, model_validator

from ..windows_facts import SERVICE_NAME_RE
from ..winrm.bootstrap import SCRIPTS_DIR
from .base import HostInputs, HostResource, HostResourceProvider, Refused

TASK_PATH = "\\winfleet\\"
EXECUTE = r"%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe"
ARGS_PREFIX = "-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
MARKER = "__WINFLEET_WATCHDOG_CONFIG__"
TEMPLATE = SCRIPTS_DIR / "tasks" / "watchdog.ps1"     # scripts/ in the repository, winfleet/drivers installed
ITEM = "task"
ABSENT = {"exists": False}


def task_name(service: str) -> str:
    return f"watchdog-{service}"


def render_script(config: dict) -> str:
    """The watchdog script with ``config`` (JSON, base64) in place of the marker: the one function the
    provider and the emulator's task scheduler use (byte-for-byte)."""
    text = TEMPLATE.read_text(encoding="utf-8")
    if text.count(MARKER) != 1:
        raise RuntimeError(f"{TEMPLATE} must contain {MARKER} exactly once")
    blob = base64.b64encode(json.dumps(config, sort_keys=True, separators=(",", ":")).encode("utf-8")).decode("ascii")
    return text.replace(MARKER, blob)


def task_arguments(config: dict) -> str:
    return ARGS_PREFIX + base64.b64encode(render_script(config).encode("utf-16-le")).decode("ascii")


class ServiceWatchdogInputs(HostInputs):
    service_name: str
    port: int = Field(ge=1, le=65535)
    health_path: str = "/healthz"
    interval_seconds: int = Field(default=30, ge=5, le=3600)
    failure_threshold: int = Field(default=3, ge=1, le=100)
    timeout_seconds: int = Field(default=5, ge=1, le=60)
    stop_timeout_seconds: int = Field(default=30, ge=1, le=3600)

    @field_validator("service_name")
    @classmethod
    def _svc(cls, v: str) -> str:
        if not SERVICE_NAME_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a winfleet service name")
        return v

    @field_validator("health_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or any(c in v for c in " #'\"`$\\") or any(ord(c) < 33 or ord(c) > 126 for c in v):
            raise ValueError("a URL path starting with '/', printable ASCII, no spaces, quotes, '#', '$' or '\\'")
        return v

    @model_validator(mode="after")
    def _timing(self):
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(f"timeoutSeconds ({self.timeout_seconds}) must be below intervalSeconds "
                             f"({self.interval_seconds}): one probe must finish before the next")
        return self

    def config(self) -> dict:
        return {"service": self.service_name, "port": self.port, "path": self.health_path,
                "intervalSeconds": self.interval_seconds, "failureThreshold": self.failure_threshold,
                "timeoutSeconds": self.timeout_seconds, "stopTimeoutSeconds": self.stop_timeout_seconds}


class ServiceWatchdogProvider(HostResourceProvider):
    kind = "ServiceWatchdog"
    model = ServiceWatchdogInputs
    replace_keys = ("serviceName",)

    def journal_scope(self, inputs) -> str:
        return inputs.service_name

    def identity(self, inputs) -> str:
        return inputs.service_name.lower()

    def describe(self, inputs) -> str:
        return f"ServiceWatchdog {inputs.service_name!r}" if inputs is not None else self.kind

    def _params(self, inputs) -> dict:
        return {"name": task_name(inputs.service_name), "path": TASK_PATH}

    def read_state(self, host, inputs) -> dict:
        return host.state("task.read", self._params(inputs))

    def prior_of(self, inputs, current) -> dict:
        task = current.get("task")
        return {ITEM: ABSENT if task is None else {"exists": True, "task": task}}

    def _definition(self, inputs) -> dict:
        return {"execute": EXECUTE, "arguments": task_arguments(inputs.config()),
                "description": f"winfleet: restarts {inputs.service_name} after {inputs.failure_threshold} failed "
                               f"liveness probes of {inputs.health_path} (every {inputs.interval_seconds} s)"}

    def matches(self, inputs, task: dict) -> bool:
        want = self._definition(inputs)
        return (task.get("execute") == want["execute"] and task.get("arguments") == want["arguments"]
                and str(task.get("userId") or "").upper() in ("SYSTEM", "NT AUTHORITY\\SYSTEM")
                and task.get("enabled") is True and "boot" in (task.get("triggers") or [])
                and task.get("state") == "Running")

    def plan_in_context(self, inputs, current, ctx) -> list[dict]:
        if (ctx.prior.get(ITEM) or ABSENT).get("exists"):
            raise Refused("serviceName", f"a scheduled task {TASK_PATH}{task_name(inputs.service_name)} already exists "
                                         "and was not created by winfleet; winfleet does not take it over. Remove it "
                                         "or turn the watchdog off for this service")
        task = current.get("task")
        if task is not None and self.matches(inputs, task):
            return []
        return [{"do": "register", "definition": self._definition(inputs)}]

    def restore_plan(self, inputs, prior, current) -> list[dict]:
        p = prior.get(ITEM)
        if p is None or p.get("exists"):
            return []
        return [{"do": "unregister"}] if current.get("task") is not None or current.get("folderExists") else []

    def apply(self, host, inputs, changes, prior) -> dict:
        state = host.state("task.apply", {**self._params(inputs), "steps": changes}, final=True)
        state.pop("applied", None)
        return state

    def live_inputs(self, inputs, current) -> dict:
        live = inputs.dump()
        task = current.get("task")
        if task is None or not self.matches(inputs, task):
            live["failureThreshold"] = None      # the watchdog is gone, stopped or changed: drift
        return live


class ServiceWatchdog(HostResource, module="winfleet", name="ServiceWatchdog"):
    """``ServiceWatchdog(name, {"connection", "serviceName", "port", "healthPath", ...}, opts)``."""

    provider_class = ServiceWatchdogProvider

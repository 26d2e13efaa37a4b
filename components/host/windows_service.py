"""WindowsService: a Go program registered with the Service Control Manager, deployed over WinRM.

Inputs (engine names; docs/CONTRACTS.md): ``serviceName`` (replace), ``displayName``, ``description``,
``binaryUrl``, ``binarySha256``, ``exeName`` (default ``<serviceName>.exe``), ``installDir``, ``arguments``, ``account``, ``accountPassword`` (secret),
``startMode``, ``dependencies``, ``sidType``, ``environment``, ``recovery``, ``preshutdownTimeoutSeconds``,
``eventSource``, ``logs``, ``port``, ``healthPath``, ``readinessPath``, ``readinessTimeoutSeconds``,
``readinessPollSeconds``.

What one apply does on the host (ops ``service.read`` then ``service.apply``; the readiness wait is
inside ``service.apply`` to save a round trip):

1. ``download``: the binary is fetched on the host into ``<exe>.winfleet-download`` *in the install
   directory* (created first when missing, with the account's ACE) and its SHA-256 verified before
   anything else; a bad checksum changes nothing (a create's rollback removes the new directory). Never
   via %TEMP%: a move within a volume keeps the file's ACL, and ``NT SERVICE\\<svc>`` cannot read an exe
   moved in from the admin's %TEMP% (the start fails with access denied).
2. install/log directories (+ an explicit ACE for the service account), ``create`` if missing.
3. a binary replacement stops the service first, moves the old binary aside, puts the new one
   in place, deletes the old one (the old binary is kept until the new one is in place — and, when
   a readiness gate can roll back, as ``<exe>.previous`` until the new one is ready, see 6.). Running
   dependents (other services that depend on ours) are stopped before and started again after,
   since the SCM refuses to stop a service whose dependents run; delete does not do that (it fails
   with DEPENDENT_SERVICES_RUNNING rather than break a foreign service).
4. ChangeServiceConfig / ChangeServiceConfig2 items that differ, ``Environment`` (REG_MULTI_SZ,
   only written when non-empty: an empty value makes the service fail with error 87 —
   kardianos/service#331), the event source.
5. start (or restart when the binary, command line, account, SID type or environment changed),
   then the **readiness gate**: ``http://localhost:<port><readinessPath>`` polled every
   ``readinessPollSeconds`` until 200 or ``readinessTimeoutSeconds``; otherwise the op fails with the
   last status and body.
6. **rollback on a failed gate** (updates of an existing service that swapped the binary or changed
   configuration that needs a restart; see ``rollback_plan``): the old binary is kept as
   ``<exe>.previous`` until the new one is ready (then removed: ``afterReady``). If the gate fails,
   the same op runs the ``onNotReady`` steps Python planned — stop, put ``<exe>.previous`` back,
   restore every SCM/registry setting this apply changed to its value read before the apply, start
   — waits for the old version's readiness (same URL and bound), and fails ``NOT_READY`` ("rolled
   back to the previous version") or ``ROLLBACK_FAILED``. One op, not a second one from Python: the
   rollback then never depends on a second WinRM round trip succeeding after the host just failed
   us, and ``<exe>.previous`` never outlives the op that created it unless the op itself dies.
   The swap arms the same rollback for **any step that fails after it** (a start refused with 1069,
   a start that times out, a fault): the op then fails with that step's code, "step <verb> failed
   after the binary swap: ...; rolled back ..." or ROLLBACK_FAILED.
7. a ``<exe>.previous`` left by an op that died is reported by ``service.read``
   (``leftoverPrevious``, and ``leftoverPrevious`` in ``drift``) and removed by the next update's plan
   (first step) or by delete.

Services are matched by service name only (the drivers read ``HKLM\\SYSTEM\\CurrentControlSet\\
Services\\<name>`` and compare ``ServiceName``; never ``Get-Service <display name>``).

Journal items (key ``WindowsService/<name>``): ``service`` (did it exist before winfleet?),
``eventsource``, ``dir:<path>``, ``file:<path>`` and, for a domain user or gMSA, ``logonright:<account>``
(did it hold "Log on as a service" before? granted with LsaAddAccountRights if not, since the start
fails with 1069 without it; revoked on delete unless another service on the host runs as that account): each records the prior state so that delete
(or the rollback of a failed create) removes exactly what we created and restores what we
changed. A service, binary or directory that existed before winfleet and is not ours is refused,
not adopted.
"""
from __future__ import annotations

import re
import struct
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from .. import windows_facts as wf
from ..windows_facts import (BUILTIN_ACCOUNTS, EXE_NAME_RE, INVALID_PATH_CHARS, MAX_FILE_PATH,  # noqa: F401
                             SERVICE_NAME_RE, account_kind, command_line_problem, folder_overlaps,
                             service_name_list_problem)
# the one folder rule of config and check (re-exported: other modules import it from here)
windows_path_problem = wf.managed_folder_problem

from .base import (HostInputs, HostResource, HostResourceProvider, HostSession, Model, Refused,
                   redact_environment, redact_url, url_has_credentials)
from .journal import item_name

# --------------------------------------------------------------------------------------------
# Windows constants (winnt.h / winsvc.h)
START_TYPES = {"auto": (2, False), "delayed-auto": (2, True), "manual": (3, False), "disabled": (4, False)}
SID_TYPES = {"none": 0, "unrestricted": 1, "restricted": 3}            # SERVICE_SID_TYPE_*
ACTION_TYPES = {"none": 0, "restart": 1, "reboot": 2}                  # SC_ACTION_TYPE
DEFAULT_INSTALL_ROOT = "C:\\Program Files\\winfleet"
EVENTCREATE = "%SystemRoot%\\System32\\EventCreate.exe"
DEFAULT_PRESHUTDOWN_MS = 10000   # SERVICE_PRESHUTDOWN_INFO default since build 15063 (windows_domain.md §3.4)
START_TIMEOUT_SECONDS = 60       # a start (StartService -> RUNNING) and the SCM calls' own waits
STOP_MARGIN_SECONDS = 30         # beyond the drain time, for the process to exit after SERVICE_STOPPED
PREVIOUS_SUFFIX = ".previous"    # the old binary, kept until the new one passed the readiness gate
# dwControlsAccepted bit of SERVICE_STATUS(_PROCESS) (learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_status)
SERVICE_ACCEPT_PRESHUTDOWN = 0x100


def preshutdown_message(i, accepted: int) -> str:
    """What a service that does not accept PreShutdown is told (refused, or warned with preshutdownCheck=warn)."""
    return (f"service {i.service_name} has a pre-shutdown timeout ({i.preshutdown_timeout_seconds} s) but its "
            f"program does not accept SERVICE_CONTROL_PRESHUTDOWN (controls accepted 0x{accepted:x}): on a "
            "system shutdown it gets no drain. In Go, report svc.Status{State: svc.Running, Accepts: "
            "svc.AcceptStop | svc.AcceptShutdown | svc.AcceptPreShutdown} (golang.org/x/sys/windows/svc) and "
            "handle svc.PreShutdown like svc.Stop; or set preshutdownCheck: warn")


ROLLBACK = "rollbackPlan"        # pseudo-change carrying the rollback lists from plan to apply
STOP_BOUND = "stopBound"         # pseudo-change: the live pre-shutdown timeout exceeds the desired one
RESTART = "restartPlan"          # pseudo-change: what starts the service again if a step fails after a stop
PSEUDO = (ROLLBACK, STOP_BOUND, RESTART)  # carried from plan to apply, never applied as steps
_STOPS = ("stop", "stopOther", "restart")



def _rule(problem: str | None, v):
    """A shared rule's verdict (components.windows_facts.*_problem) as a field validator's result."""
    if problem:
        raise ValueError(problem)
    return v


def norm_path(p: str) -> str:
    p = p.rstrip("\\")
    return p[0].upper() + p[1:] if len(p) > 2 else p.upper() + "\\"


def checked_path(p: str) -> str:
    """``p`` normalised, or ValueError saying why it is not a path we accept (for field validators)."""
    problem = windows_path_problem(p)
    if problem:
        raise ValueError(problem)
    return norm_path(p)


# --------------------------------------------------------------------------------------------
# Command lines: ImagePath is "<quoted exe>" + arguments escaped exactly like Go's syscall.EscapeArg
# (the rules CommandLineToArgvW and the Go runtime's parser undo), so a hostile argument stays one
# argument, literally.
def escape_arg(s: str) -> str:
    if s == "":
        return '""'
    if not any(c in s for c in '"\\ \t'):
        return s
    has_space = " " in s or "\t" in s
    out, slashes = [], 0
    if has_space:
        out.append('"')
    for c in s:
        if c == "\\":
            slashes += 1
            out.append(c)
        elif c == '"':
            out.append("\\" * slashes + '\\"')
            slashes = 0
        else:
            slashes = 0
            out.append(c)
    if has_space:
        out.append("\\" * slashes + '"')
    return "".join(out)


def image_path(exe: str, arguments: list[str]) -> str:
    # The executable path is always quoted: an unquoted path with spaces is CWE-428
    # (windows_config_anchors.md §6 item 5); exe paths cannot contain '"' (validated).
    return " ".join([f'"{exe}"'] + [escape_arg(a) for a in arguments])


def split_command_line(cmd: str) -> list[str]:
    """CommandLineToArgvW: argv[0] is taken verbatim up to its closing quote; the rest follows the
    2n / 2n+1 backslash rules."""
    i, n = 0, len(cmd)
    if cmd.startswith('"'):
        end = cmd.find('"', 1)
        end = n if end < 0 else end
        argv = [cmd[1:end]]
        i = end + 1
    else:
        j = i
        while j < n and cmd[j] not in " \t":
            j += 1
        argv = [cmd[i:j]]
        i = j
    while True:
        while i < n and cmd[i] in " \t":
            i += 1
        if i >= n:
            return argv
        arg, quoted = [], False
        while i < n and (quoted or cmd[i] not in " \t"):
            if cmd[i] == "\\":
                j = i
                while j < n and cmd[j] == "\\":
                    j += 1
                if j < n and cmd[j] == '"':
                    arg.append("\\" * ((j - i) // 2))
                    if (j - i) % 2:
                        arg.append('"')
                        i = j + 1
                    else:
                        i = j
                    continue
                arg.append(cmd[i:j])
                i = j
            elif cmd[i] == '"':
                if quoted and i + 1 < n and cmd[i + 1] == '"':
                    arg.append('"')
                    i += 2
                    continue
                quoted = not quoted
                i += 1
            else:
                arg.append(cmd[i])
                i += 1
        argv.append("".join(arg))


# --------------------------------------------------------------------------------------------
# SERVICE_FAILURE_ACTIONS in the registry (``FailureActions`` REG_BINARY), self-relative: DWORD
# dwResetPeriod, DWORD lpRebootMsg, DWORD lpCommand, DWORD cActions, DWORD lpsaActions = the *offset*
# of the SC_ACTION array from the start of the value (0 = no array: NULL), then cActions x {DWORD
# SC_ACTION_TYPE, DWORD delay ms} at that offset. Only the reset period and the actions matter to us.
def decode_failure_actions(hexdata: str | None) -> tuple[int, list[tuple[int, int]]] | None:
    if not hexdata:
        return None
    raw = bytes.fromhex(hexdata.replace(",", "").replace(" ", ""))
    if len(raw) < 20:
        return None
    reset, _msg, _cmd, count, offset = struct.unpack_from("<5I", raw, 0)
    if offset == 0 or offset < 20:
        return reset, []
    count = min(count, max(0, (len(raw) - offset) // 8))
    actions = [struct.unpack_from("<2I", raw, offset + 8 * i) for i in range(count)]
    return reset, [(int(t), int(d)) for t, d in actions]


# --------------------------------------------------------------------------------------------
class RecoveryAction(Model):
    action: Literal["restart", "reboot", "none"]
    delay_seconds: int = Field(default=0, ge=0, le=86400)


def _default_actions() -> list[RecoveryAction]:
    # windows_domain.md §4.5: restart/5 s, restart/30 s, restart/120 s, reset 1 day, non-crash flag on.
    return [RecoveryAction(action="restart", delay_seconds=s) for s in (5, 30, 120)]


class Recovery(Model):
    actions: list[RecoveryAction] = Field(default_factory=_default_actions, max_length=16)
    reset_period_seconds: int = Field(default=86400, ge=0, le=0xFFFFFFFF)
    failure_actions_on_non_crash: bool = True


class EventSource(Model):
    log_name: str = "Application"
    source: Optional[str] = None

    @field_validator("log_name", "source")
    @classmethod
    def _name(cls, v):
        return v if v is None else _rule(wf.event_name_problem(v), v)


class Logs(Model):
    directory: str
    max_size_bytes: Optional[int] = Field(default=None, ge=1)
    max_files: Optional[int] = Field(default=None, ge=1, le=10000)

    @field_validator("directory")
    @classmethod
    def _dir(cls, v):
        return checked_path(v)


class WindowsServiceInputs(HostInputs):
    service_name: str
    display_name: Optional[str] = Field(default=None, max_length=256)
    description: Optional[str] = Field(default=None, max_length=1024)
    binary_url: str
    exe_name: Optional[str] = None
    binary_sha256: str
    install_dir: Optional[str] = None
    arguments: list[str] = Field(default_factory=list, max_length=64)
    account: Optional[str] = None
    account_password: Optional[str] = Field(default=None, repr=False)
    start_mode: Literal["auto", "delayed-auto", "manual", "disabled"] = "auto"
    dependencies: list[str] = Field(default_factory=list, max_length=32)
    sid_type: Literal["unrestricted", "restricted", "none"] = "unrestricted"
    environment: dict[str, str] = Field(default_factory=dict)
    recovery: Recovery = Field(default_factory=Recovery)
    preshutdown_timeout_seconds: Optional[int] = Field(default=None, ge=1, le=3600)
    event_source: Optional[EventSource] = None
    logs: Optional[Logs] = None
    port: Optional[int] = Field(default=None, ge=1, le=65535)
    health_path: Optional[str] = None
    readiness_path: Optional[str] = None
    readiness_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    readiness_poll_seconds: float = Field(default=2.0, ge=0.01, le=60)
    # With a pre-shutdown timeout, the started program must accept SERVICE_CONTROL_PRESHUTDOWN:
    # "refuse" fails the apply (rolled back like a failed readiness gate), "warn" reports it in state.warnings.
    preshutdown_check: Literal["refuse", "warn"] = "refuse"
    # The secrets file (WINFLEET_SECRETS_FILE): {NAME: value} as a JSON object, readable only by the
    # service account, Administrators and SYSTEM. ``secrets`` is a secret input and output.
    secrets: dict[str, str] = Field(default_factory=dict, repr=False)
    secrets_file: Optional[str] = None           # default "<installDir>\secrets.json" when secrets are given

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v):
        for k, val in v.items():
            if not wf.SECRET_NAME_RE.fullmatch(k):
                raise ValueError("secret names match [A-Za-z_][A-Za-z0-9_]* (at most 128 characters)")
            _rule(wf.secret_value_problem(k, val), v)
        if len({k.upper() for k in v}) != len(v):
            raise ValueError("secret names differ only by case")
        return dict(sorted(v.items()))

    @field_validator("secrets_file")
    @classmethod
    def _secrets_file(cls, v):
        if v is None:
            return v
        if not v.lower().endswith(".json"):
            raise ValueError("must be the path of a .json file, e.g. C:\\Program Files\\winfleet\\api\\secrets.json")
        return checked_path(v)

    @field_validator("service_name")
    @classmethod
    def _service_name(cls, v):
        return _rule(wf.service_name_problem(v), v)

    # The same rules as the stack config (components.windows_facts): preview refuses what config refuses.
    @field_validator("display_name")
    @classmethod
    def _display(cls, v):
        return v if v is None else _rule(wf.display_name_problem(v), v)

    @field_validator("description")
    @classmethod
    def _description(cls, v):
        return v if v is None else _rule(wf.description_problem(v), v)

    @field_validator("binary_url")
    @classmethod
    def _url(cls, v):
        return _rule(wf.binary_url_problem(v), v)

    @field_validator("binary_sha256")
    @classmethod
    def _sha(cls, v):
        return _rule(wf.sha256_problem(v), v).lower()

    @field_validator("install_dir")
    @classmethod
    def _install_dir(cls, v):
        if v is None:
            return v
        return checked_path(v)

    @field_validator("exe_name")
    @classmethod
    def _exe(cls, v):
        return v if v is None else _rule(wf.exe_name_problem(v), v)

    @field_validator("arguments")
    @classmethod
    def _args(cls, v):
        for a in v:
            _rule(wf.argument_problem(a), a)
        return v

    @field_validator("dependencies")
    @classmethod
    def _deps(cls, v):
        problem = service_name_list_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("environment")
    @classmethod
    def _env(cls, v):
        for k, val in v.items():
            _rule(wf.env_name_problem(k) or wf.env_value_problem(k, val), v)
        _rule(wf.env_names_problem(v), v)
        return dict(sorted(v.items(), key=lambda kv: kv[0].lower()))

    @field_validator("port")
    @classmethod
    def _port(cls, v):
        return v if v is None else _rule(wf.service_port_problem(v), v)

    @field_validator("health_path", "readiness_path")
    @classmethod
    def _http_path(cls, v):
        return v if v is None else _rule(wf.url_path_problem(v), v)

    @model_validator(mode="after")
    def _defaults(self):
        # Normalise once here, so diff compares filled-in values and outputs show what is applied.
        name = self.service_name
        if self.display_name is None:
            object.__setattr__(self, "display_name", name)
        if self.description is None:
            object.__setattr__(self, "description", "")
        if self.exe_name is None:
            object.__setattr__(self, "exe_name", f"{name}.exe")
        if self.install_dir is None:
            object.__setattr__(self, "install_dir", f"{DEFAULT_INSTALL_ROOT}\\{name}")
        if self.account is None:
            object.__setattr__(self, "account", f"NT SERVICE\\{name}")
        else:
            object.__setattr__(self, "account", BUILTIN_ACCOUNTS.get(self.account.lower(), self.account))
        if self.secrets and self.secrets_file is None:
            object.__setattr__(self, "secrets_file", f"{self.install_dir}\\secrets.json")
        if self.event_source is not None and self.event_source.source is None:
            object.__setattr__(self, "event_source", EventSource(log_name=self.event_source.log_name, source=name))
        return self

    # -- derived ---------------------------------------------------------------------------------
    @property
    def exe_path(self) -> str:
        return f"{self.install_dir}\\{self.exe_name}"

    @property
    def image_path(self) -> str:
        return image_path(self.exe_path, self.arguments)

    @property
    def account_kind(self) -> str:
        return account_kind(self.account, self.service_name)

    @property
    def ready_path(self) -> Optional[str]:
        return self.readiness_path or self.health_path

    def environment_block(self) -> list[str] | None:
        return [f"{k}={v}" for k, v in self.environment.items()] or None

    def secrets_content(self) -> str:
        """The secrets file's text: a JSON object, keys sorted (its bytes are compared by HMAC)."""
        import json
        return json.dumps(self.secrets, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def service_sid(name: str) -> str:
    """The per-service SID of ``NT SERVICE\\<name>``: S-1-5-80- followed by the SHA-1 of the upper-cased
    name (UTF-16LE) as five little-endian DWORDs — what ``sc.exe showsid`` prints; it exists before the
    service does, so an ACL can be granted to it first (e.g. TrustedInstaller ->
    S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464)."""
    import hashlib
    digest = hashlib.sha1(name.upper().encode("utf-16-le")).digest()
    return "S-1-5-80-" + "-".join(str(x) for x in struct.unpack("<5I", digest))


def account_sid(account: str) -> str | None:
    """The SID to grant for ``account`` when we can compute it locally (virtual accounts), else None."""
    if account.lower().startswith("nt service\\"):
        return service_sid(account.split("\\", 1)[1])
    return None


def stop_timeout_seconds(i: "WindowsServiceInputs", live_preshutdown_ms: int | None = None) -> float:
    """How long a stop (stop, restart, stopOther, delete) may take: at least the drain time.

    On shutdown the SCM sends SERVICE_CONTROL_PRESHUTDOWN and waits up to the pre-shutdown timeout
    for SERVICE_STOPPED (SERVICE_PRESHUTDOWN_INFO.dwPreshutdownTimeout; default 10 s since build
    15063; the service may keep updating its status while STOP_PENDING). An ordinary
    SERVICE_CONTROL_STOP (ControlService, what ServiceController.Stop sends) has no SCM time limit
    at all: the service stays STOP_PENDING, with wait hints, for as long as it drains. Our Go services
    drain on Stop exactly as on PreShutdown — for up to ``preshutdownTimeoutSeconds`` (docs/services-
    and-rollouts.md) — so a fixed 60 s wait would give up on a healthy 5-minute drain. Wait for the
    drain time (the Windows default when unset) + a margin, never less than a start's bound.

    The drain time is the larger of the desired and the live pre-shutdown timeout
    (``live_preshutdown_ms``, as read before the apply): a stop that precedes the step lowering it is
    still drained under the live value, and so is the rollback that puts the live value back."""
    drain = i.preshutdown_timeout_seconds if i.preshutdown_timeout_seconds is not None else DEFAULT_PRESHUTDOWN_MS // 1000
    if live_preshutdown_ms is not None:
        drain = max(drain, -(-int(live_preshutdown_ms) // 1000))
    return float(max(START_TIMEOUT_SECONDS, drain + STOP_MARGIN_SECONDS))


def live_preshutdown_ms(cur: dict) -> int | None:
    """The pre-shutdown timeout the SCM applies to the service as read (the Windows default when the
    value is unset), or None when the service does not exist."""
    svc = cur.get("service") if cur.get("exists") else None
    if svc is None:
        return None
    ms = svc.get("preshutdownTimeoutMs")
    return int(ms) if ms is not None else DEFAULT_PRESHUTDOWN_MS


# --------------------------------------------------------------------------------------------
class WindowsServiceProvider(HostResourceProvider):
    kind = "WindowsService"
    model = WindowsServiceInputs
    replace_keys = ("serviceName",)
    # A renamed service usually keeps its port: the old one must be gone before the new one's
    # readiness gate runs, or the gate would be answered by the old process.
    delete_before_replace = True
    op_timeout = 600.0

    def describe(self, i) -> str:
        return f"{self.kind} {i.service_name!r}" if i is not None else self.kind

    def _session(self, i) -> HostSession:
        # The client must wait at least as long as the host may: on top of the usual budget (download,
        # SCM calls), a drain-long stop and a start of ours and a readiness gate — twice, for the
        # rollback. A fixed deadline would abandon a healthy long drain or a long gate half-way.
        return HostSession(i.connection.dump(), timeout=self._op_budget(i, stop_timeout_seconds(i)),
                           progress=self._progress(i))

    def _op_budget(self, i, stop_seconds: float) -> float:
        return self.op_timeout + 2 * (stop_seconds + START_TIMEOUT_SECONDS + i.readiness_timeout_seconds)

    # ---- checks ------------------------------------------------------------------------------
    def check_inputs(self, i: WindowsServiceInputs) -> list[tuple[str, str]]:
        out = []
        kind = i.account_kind
        problem = wf.account_problem(i.account, i.service_name)    # the stack config's rule
        if problem:
            out.append(("account", problem))
        if kind == "user" and not problem and not i.account_password:
            out.append(("accountPassword", f"account {i.account!r} is a user account: accountPassword is "
                                           "required (a gMSA ends with '$' and has no password)"))
        if kind in ("virtual", "builtin", "gmsa") and i.account_password:
            out.append(("accountPassword", f"must not be set for a {kind} account (Windows manages its password)"))
        if kind == "virtual" and i.sid_type == "none":
            out.append(("sidType", "a virtual account (NT SERVICE\\<name>) needs a service SID: use "
                                   "unrestricted or restricted"))
        for n, d in enumerate(i.dependencies):
            if d.lower() == i.service_name.lower():
                out.append((f"dependencies[{n}]", "a service cannot depend on itself"))
        if i.ready_path and i.port is None:
            out.append(("port", "is required when readinessPath or healthPath is set (the readiness gate polls "
                                 "http://localhost:<port><path>)"))
        if i.readiness_poll_seconds > i.readiness_timeout_seconds:
            out.append(("readinessPollSeconds", "must not exceed readinessTimeoutSeconds"))
        if any(a.action == "reboot" for a in i.recovery.actions):
            pass  # allowed (SC_ACTION_REBOOT); policies may forbid it
        if i.secrets_file is not None:
            folder = i.secrets_file.rsplit("\\", 1)[0].lower()
            if folder not in {d.lower() for d, _r in self._managed_dirs(i)}:
                out.append(("secretsFile", "must be a file directly in installDir or logs.directory (a folder "
                                           "this resource creates)"))
            if i.secrets_file.lower() == i.exe_path.lower():
                out.append(("secretsFile", "must not be the service binary"))
        if i.logs is not None:
            for _loc, _v, _o, other, how in folder_overlaps([("installDir", i.install_dir),
                                                              ("logs.directory", i.logs.directory)]):
                out.append(("logs.directory", f"{how} installDir ({other}): the folders must be separate (not "
                                              "equal, nested or one above the other): the service account may "
                                              "write its logs, never its own binary"))
        if len(i.exe_path) > MAX_FILE_PATH:
            out.append(("installDir", f"the exe path {i.exe_path!r} is {len(i.exe_path)} characters; at most "
                                      f"{MAX_FILE_PATH} (MAX_PATH): shorten installDir or exeName"))
        problem = command_line_problem(i.image_path)
        if problem:
            out.append(("arguments", problem))
        return out

    # ---- journal scope -----------------------------------------------------------------------
    def journal_scope(self, i) -> str:
        return i.service_name.lower()

    def item_field(self, i, item) -> str:
        return "serviceName"

    # ---- Get ---------------------------------------------------------------------------------
    @staticmethod
    def _needs_logon_right(i) -> bool:
        # CreateService/ChangeServiceConfig never grant "Log on as a service"; virtual and built-in accounts
        # have it already (NT SERVICE\ALL SERVICES holds it on member servers), domain users and gMSAs not.
        return i.account_kind in ("user", "gmsa")

    def _read_params(self, i) -> dict:
        import secrets as _secrets
        return {"name": i.service_name, "binaryPath": i.exe_path, "previousPath": i.exe_path + PREVIOUS_SUFFIX,
                "eventSource": i.event_source.dump() if i.event_source else None,
                "dirs": self._dirs_with_ancestors(i),
                "logonAccount": i.account if self._needs_logon_right(i) else None,
                # a fresh random HMAC key per read: the host answers HMAC(nonce, file bytes), which says
                # nothing about the content to anyone who does not know the content
                "secretsFile": ({"path": i.secrets_file, "nonce": _secrets.token_hex(32)}
                                if i.secrets_file else None)}

    @staticmethod
    def _managed_dirs(i) -> list[tuple[str, str]]:
        dirs = [(i.install_dir, "ReadAndExecute")]
        if i.logs is not None:
            dirs.append((i.logs.directory, "Modify"))
        return dirs

    def _dirs_with_ancestors(self, i) -> list[str]:
        out = []
        for d, _r in self._managed_dirs(i):
            parts = d.split("\\")
            for k in range(2, len(parts) + 1):
                p = "\\".join(parts[:k])
                if p not in out:
                    out.append(p)
        return out

    def read_state(self, host, i, extra: dict | None = None) -> dict:
        params = {**self._read_params(i), **(extra or {})}
        cur = host.state("service.read", params)
        if isinstance(cur.get("secretsFile"), dict) and params["secretsFile"]:
            cur["secretsFile"]["nonce"] = params["secretsFile"]["nonce"]   # kept in memory for plan only
        return cur

    # ---- prior values ------------------------------------------------------------------------
    def prior_of(self, i, cur: dict) -> dict:
        dirs = {d["path"].lower(): d for d in cur.get("dirs") or []}
        prior = {"service": {"name": i.service_name, "exists": bool(cur.get("exists"))},
                 item_name("file", i.exe_path): {"path": i.exe_path, "exists": bool((cur.get("binary") or {}).get("exists"))}}
        for d, _rights in self._managed_dirs(i):
            live = dirs.get(d.lower()) or {"exists": False, "acl": []}
            # the highest ancestor that does not exist yet: what removing "our" directory must remove
            top = None
            parts = d.split("\\")
            for k in range(2, len(parts) + 1):
                p = "\\".join(parts[:k])
                if not (dirs.get(p.lower()) or {}).get("exists"):
                    top = p
                    break
            prior[item_name("dir", d)] = {"path": d, "exists": bool(live.get("exists")), "createdFrom": top,
                                          "account": i.account, "ace": _explicit_ace(live, i.account)}
        if self._needs_logon_right(i):
            lr = cur.get("logonRight") or {}
            prior[item_name("logonright", i.account)] = {"account": i.account, "held": bool(lr.get("held"))}
        if i.secrets:
            sf = cur.get("secretsFile") or {}
            prior[item_name("file", i.secrets_file)] = {"path": i.secrets_file, "exists": bool(sf.get("exists"))}
        if i.event_source is not None:
            es = cur.get("eventSource") or {}
            prior["eventsource"] = {"logName": i.event_source.log_name, "source": i.event_source.source,
                                    "values": es.get("values"), "logExisted": bool(es.get("logExists"))}
        return prior

    # ---- Test --------------------------------------------------------------------------------
    def plan_in_context(self, i: WindowsServiceInputs, cur: dict, ctx) -> list[dict]:
        """Refuse to adopt what winfleet did not create: the journal's prior value (recorded the first
        time, before anything changed) says whether the service / binary existed before us."""
        if (ctx.prior.get("service") or {}).get("exists"):
            raise Refused("serviceName", f"a service named {i.service_name} already exists on the host and was "
                                         "not created by winfleet (no journal entry); winfleet does not adopt "
                                         "services: remove it or choose another serviceName")
        if (ctx.prior.get(item_name("file", i.exe_path)) or {}).get("exists"):
            raise Refused("installDir", f"{i.exe_path} already exists and was not placed by winfleet; "
                                        "choose an empty installDir")
        if i.secrets and (ctx.prior.get(item_name("file", i.secrets_file)) or {}).get("exists"):
            raise Refused("secretsFile", f"{i.secrets_file} already exists and was not written by winfleet; "
                                         "remove it or choose another secretsFile")
        if i.event_source is not None:
            self._refuse_foreign_source(i, cur, ctx)
        return self.with_stop_bound(i, cur, self.with_restart(self.with_rollback(i, cur, self.plan(i, cur))))

    @staticmethod
    def with_restart(steps: list[dict]) -> list[dict]:
        """Arm "start it again" at the first stop (issue 11 item 15): when the plan stops the service (or a
        running dependent) and starts it again later, the first stop-type step is marked ``armsRestart`` and
        a ``RESTART`` pseudo-change carries ``onStopped`` (start ours, then the dependents it stopped). A step
        failing after that point and before the binary swap (which arms the full rollback) runs those
        steps, so a failure between the stop and the swap never leaves the service stopped."""
        first = next((k for k, s in enumerate(steps) if s["do"] in _STOPS), None)
        if first is None or not any(s["do"] in ("start", "restart", "startOther") for s in steps[first:]):
            return steps
        again = [{"do": "start"}] + [dict(s) for s in steps if s["do"] == "startOther"]
        out = [dict(s, armsRestart=True) if k == first else s for k, s in enumerate(steps)]
        return out + [{"do": RESTART, "onStopped": again}]

    @staticmethod
    def _refuse_foreign_source(i, cur: dict, ctx) -> None:
        """An event source belongs to one program: refuse one that existed before this service claimed it
        (a Windows source such as MsiInstaller, another program's, another service's) instead of rewriting
        it and deleting it on destroy. Source names are unique on the computer, whatever the log."""
        es, src, log = cur.get("eventSource") or {}, i.event_source.source, i.event_source.log_name
        if (ctx.prior.get("eventsource") or {}).get("values") is not None:
            raise Refused("eventSource.source", f"the event source {src!r} already exists in the {log} log and was "
                                                "not created for this service (a Windows source such as MsiInstaller, "
                                                "or another program's or service's); choose another source name")
        elsewhere = [l for l in es.get("registeredIn") or [] if l.lower() != log.lower()]
        if elsewhere:
            raise Refused("eventSource.source", f"the event source {src!r} is already registered in the "
                                                f"{elsewhere[0]} log; a source name is unique on a computer: "
                                                "choose another source name")

    def plan(self, i: WindowsServiceInputs, cur: dict) -> list[dict]:
        svc = cur.get("service") if cur.get("exists") else None
        if svc and svc.get("markedForDelete"):
            raise Refused("serviceName", f"service {svc['name']} is marked for deletion on the host; it disappears "
                                         "once it stops and every handle to it is closed (or after a reboot)")
        steps: list[dict] = []
        binary = cur.get("binary") or {}
        need_binary = not binary.get("exists") or (binary.get("sha256") or "").lower() != i.binary_sha256
        dirs = {d["path"].lower(): d for d in cur.get("dirs") or []}
        mkdirs = []
        for d, rights in self._managed_dirs(i):
            live = dirs.get(d.lower()) or {"exists": False, "acl": []}
            if not live.get("exists") or not _has_rights(live, i.account, rights):
                mkdirs.append({"do": "mkdir", "path": d, "grant": i.account, "sid": account_sid(i.account),
                               "rights": rights})
        if need_binary:
            # The download lands in the install directory (never %TEMP%: a move keeps the file's ACL, and
            # the service account could not read an exe moved in from the admin's %TEMP%), so that
            # directory, with the account's ACE, comes first; a failed create's rollback removes it.
            steps += [m for m in mkdirs if m["path"].lower() == i.install_dir.lower()]
            mkdirs = [m for m in mkdirs if m["path"].lower() != i.install_dir.lower()]
            steps.append({"do": "download", "url": i.binary_url, "sha256": i.binary_sha256, "path": i.exe_path})
        if cur.get("leftoverPrevious"):
            # an earlier apply died between the swap and its end. Whatever binary is in place now (or
            # none), the download step above is planned from its hash, so after this apply the desired
            # build is in place either way and the leftover copy is no longer needed
            steps.append({"do": "removeFile", "path": cur["leftoverPrevious"]})
        start, delayed = START_TYPES[i.start_mode]
        restart = False
        if svc is None:
            steps.append({"do": "create", "displayName": i.display_name, "imagePath": i.image_path, "start": start,
                          "dependencies": list(i.dependencies), "account": i.account,
                          "password": i.account_password})
            live_cfg = None
        else:
            live_cfg = svc
        steps += mkdirs
        if self._needs_logon_right(i) and not (cur.get("logonRight") or {}).get("held"):
            # before any start: without it the start fails with ERROR_SERVICE_LOGON_FAILED 1069
            steps.append({"do": "logonRight", "account": i.account, "grant": True})
        running = svc is not None and svc.get("status") in ("Running", "StartPending")
        # a service someone is stopping still holds its image: the stop step waits for it to finish
        stopping = svc is not None and svc.get("status") == "StopPending"
        if i.secrets and not secrets_file_current(i, cur.get("secretsFile") or {}):
            steps.append({"do": "writeSecrets", "path": i.secrets_file, "names": sorted(i.secrets),
                          "content": i.secrets_content(), "readers": secrets_readers(i.account)})
            restart = restart or svc is not None      # the service reads the file when it starts
        if need_binary:
            if running or stopping:
                steps.append({"do": "stop"})
                running = False
            steps.append({"do": "install_binary", "path": i.exe_path})
            restart = True
        if live_cfg is not None:
            cfg = {}
            if live_cfg.get("displayName") != i.display_name:
                cfg["displayName"] = i.display_name
            if live_cfg.get("imagePath") != i.image_path:
                cfg["imagePath"] = i.image_path
                restart = True
            if live_cfg.get("start") != start:
                cfg["start"] = start
            if [d.lower() for d in live_cfg.get("dependencies") or []] != [d.lower() for d in i.dependencies]:
                cfg["dependencies"] = list(i.dependencies)
            if (live_cfg.get("objectName") or "").lower() != i.account.lower():
                cfg["account"] = i.account
                restart = True
            if i.account_kind == "user":
                # A password cannot be read back: every update of a user-account service re-sets it
                # (and restarts the service, which is when Windows uses it). An identical second run
                # makes no update call at all (diff is local), so this does not break idempotency.
                cfg["account"] = i.account
                cfg["password"] = i.account_password
                restart = True
            if cfg:
                steps.append({"do": "config", **cfg})
        live = live_cfg or {}
        if (live.get("description") or "") != i.description:
            steps.append({"do": "description", "value": i.description})
        if start == 2 and bool(live.get("delayedAutostart")) != delayed:
            steps.append({"do": "delayed", "value": delayed})
        if live.get("sidType", 0 if live_cfg else None) != SID_TYPES[i.sid_type]:
            steps.append({"do": "sidType", "value": SID_TYPES[i.sid_type]})
            restart = restart or live_cfg is not None
        want_fa = (i.recovery.reset_period_seconds,
                   [(ACTION_TYPES[a.action], a.delay_seconds * 1000) for a in i.recovery.actions])
        got_fa = decode_failure_actions(live.get("failureActions"))
        if (got_fa or (None, [])) != want_fa and not (not want_fa[1] and (got_fa is None or not got_fa[1])):
            steps.append({"do": "failureActions", "resetSeconds": want_fa[0],
                          "actions": [{"type": t, "delayMs": d} for t, d in want_fa[1]]})
        if bool(live.get("failureActionsOnNonCrashFailures")) != i.recovery.failure_actions_on_non_crash:
            steps.append({"do": "failureFlag", "value": i.recovery.failure_actions_on_non_crash})
        if i.preshutdown_timeout_seconds is not None:
            if live.get("preshutdownTimeoutMs") != i.preshutdown_timeout_seconds * 1000:
                steps.append({"do": "preshutdown", "ms": i.preshutdown_timeout_seconds * 1000})
        env = i.environment_block()
        if (live.get("environment") or None) != env:
            steps.append({"do": "environment", "value": env})
            restart = restart or live_cfg is not None
        if i.event_source is not None:
            want = _event_source_values()
            if (cur.get("eventSource") or {}).get("values") != want:
                steps.append({"do": "eventSource", "logName": i.event_source.log_name,
                              "source": i.event_source.source, "values": want})
        if i.start_mode == "disabled":
            if running:
                steps.append({"do": "stop"})
        elif not running:
            steps.append({"do": "start"})
        elif restart:
            steps.append({"do": "restart"})
        return self._around_dependents(steps, cur)

    @staticmethod
    def _around_dependents(steps: list[dict], cur: dict) -> list[dict]:
        """The SCM will not stop a service whose dependents run (ERROR_DEPENDENT_SERVICES_RUNNING): stop
        those first (dependents-first, the order EnumDependentServices gives) and start them again, in
        reverse order, once our service runs again. Their configuration is never touched."""
        stopping = [k for k, s in enumerate(steps) if s["do"] in ("stop", "restart")]
        running = [d["name"] for d in cur.get("dependents") or []
                   if isinstance(d, dict) and d.get("status") in ("Running", "StartPending")]
        if not stopping or not running:
            return steps
        first = stopping[0]
        out = steps[:first] + [{"do": "stopOther", "name": n} for n in running] + steps[first:]
        if out[-1]["do"] in ("start", "restart"):
            out += [{"do": "startOther", "name": n} for n in reversed(running)]
        return out

    # ---- rollback of a failed readiness gate ---------------------------------------------------
    @staticmethod
    def _gated(i: WindowsServiceInputs) -> bool:
        return i.start_mode != "disabled" and i.ready_path is not None and i.port is not None

    def with_rollback(self, i: WindowsServiceInputs, cur: dict, steps: list[dict]) -> list[dict]:
        """``steps`` plus, when a failed readiness gate must roll back, a ``ROLLBACK`` pseudo-change
        ``{"do": ROLLBACK, "onNotReady": [...], "afterReady": [...]}`` (``apply`` sends both lists with
        the op; they are never applied as steps). A swapped binary keeps the old one as
        ``<exe>.previous`` until the gate passed (``afterReady`` removes it), and its
        ``install_binary`` step is marked ``armsRollback``: any step failing after the swap (a start
        refused with 1069, a start that times out, a fault) runs the ``onNotReady`` steps too, and the
        op fails with that step's code and "rolled back ..." / ROLLBACK_FAILED."""
        undo = self.rollback_plan(i, cur, steps)
        if not undo:
            return steps
        previous = i.exe_path + PREVIOUS_SUFFIX
        out = [dict(s, previous=previous, armsRollback=True) if s["do"] == "install_binary" else s for s in steps]
        after = [{"do": "removeFile", "path": previous}] if any(s["do"] == "install_binary" for s in steps) else []
        return out + [{"do": ROLLBACK, "onNotReady": undo, "afterReady": after}]

    @staticmethod
    def with_stop_bound(i: WindowsServiceInputs, cur: dict, steps: list[dict]) -> list[dict]:
        """``steps`` plus ``{"do": STOP_BOUND, "seconds": n}`` when the live pre-shutdown timeout makes a
        stop's bound longer than the desired one does (``apply`` uses the larger; never a step)."""
        live = live_preshutdown_ms(cur)
        bound = stop_timeout_seconds(i, live)
        if not steps or bound <= stop_timeout_seconds(i):
            return steps
        return steps + [{"do": STOP_BOUND, "seconds": bound}]

    def rollback_plan(self, i: WindowsServiceInputs, cur: dict, steps: list[dict]) -> list[dict]:
        """What puts the previous version back if the readiness gate fails after ``steps`` (pure).

        Only for an existing service whose update swapped the binary or changed configuration that
        takes a restart (command line, account, SID type, environment): then stop, move
        ``<exe>.previous`` back, set every SCM/registry setting ``steps`` changed back to its value in
        ``cur`` (read just before the apply), start; running dependents are stopped around it as in
        any plan. Not rolled back: directories and ACEs (additive; the journal removes them on
        delete), a changed account whose previous one needs a password (it cannot be read back: the
        new account stays), and the password of an unchanged user account (re-set every update)."""
        svc = cur.get("service") if cur.get("exists") else None
        if svc is None or not self._gated(i):
            return []
        verbs = {s["do"] for s in steps}
        restarts = bool(verbs & {"install_binary", "restart", "sidType", "environment"}) or any(
            s["do"] == "config" and ({"imagePath", "account"} & set(s)) for s in steps)
        if not restarts:
            return []
        undo: list[dict] = [{"do": "stop"}]
        for s in steps:
            back = self._undo_step(i, s, svc, cur)
            if back is not None:
                undo.append(back)
        undo.append({"do": "start"})
        return self._around_dependents(undo, cur)

    @staticmethod
    def _undo_step(i: WindowsServiceInputs, s: dict, svc: dict, cur: dict) -> dict | None:
        verb = s["do"]
        if verb == "install_binary":
            return {"do": "restore_binary", "path": s["path"], "previous": s["path"] + PREVIOUS_SUFFIX}
        if verb == "config":
            live = {"displayName": svc.get("displayName"), "imagePath": svc.get("imagePath"),
                    "start": svc.get("start"), "dependencies": list(svc.get("dependencies") or [])}
            back = {k: live[k] for k in live if k in s}
            old_account = svc.get("objectName") or ""
            if ("account" in s and old_account.lower() != (s["account"] or "").lower()
                    and account_kind(old_account, i.service_name) != "user"):
                back["account"] = old_account
            return {"do": "config", **back} if back else None
        if verb == "description":
            return {"do": "description", "value": svc.get("description") or ""}
        if verb == "delayed":
            return {"do": "delayed", "value": bool(svc.get("delayedAutostart"))}
        if verb == "sidType":
            return {"do": "sidType", "value": svc.get("sidType") or 0}
        if verb == "failureActions":
            reset, actions = decode_failure_actions(svc.get("failureActions")) or (0, [])
            return {"do": "failureActions", "resetSeconds": reset,
                    "actions": [{"type": t, "delayMs": d} for t, d in actions]}
        if verb == "failureFlag":
            return {"do": "failureFlag", "value": bool(svc.get("failureActionsOnNonCrashFailures"))}
        if verb == "preshutdown":
            # an unset value behaves as the Windows default; writing the default is equivalent
            ms = svc.get("preshutdownTimeoutMs")
            return {"do": "preshutdown", "ms": ms if ms is not None else DEFAULT_PRESHUTDOWN_MS}
        if verb == "environment":
            return {"do": "environment", "value": svc.get("environment") or None}
        if verb == "eventSource":
            return {"do": "eventSource", "logName": s["logName"], "source": s["source"],
                    "values": (cur.get("eventSource") or {}).get("values")}
        return None   # download, mkdir, stop/start/restart, stopOther/startOther: nothing to put back

    # ---- restore -----------------------------------------------------------------------------
    def restore_plan(self, i, prior: dict, cur: dict) -> list[dict]:
        steps = self._restore_steps(i, prior)
        others = (cur.get("logonRight") or {}).get("otherServices") or []
        for item, p in sorted(prior.items()):
            # revoke a right we granted, unless another service still runs as that account (it would then
            # fail to start with 1069): the live read names them for the current account; for an account
            # this resource no longer uses it cannot, so the right is left (never break a foreign service)
            if not item.startswith("logonright:"):
                continue
            lr = cur.get("logonRight") or {}
            same = (lr.get("account") or "").lower() == (p.get("account") or "").lower()
            # ours to revoke: not held before us, or granted by winfleet for another service (its record)
            if (not p.get("held") or (same and lr.get("grantedByWinfleet"))):
                if same and not others:
                    steps.append({"do": "logonRight", "account": p["account"], "grant": False})
        for s in steps:
            s["restore"] = True
        return self.with_stop_bound(i, cur, steps)

    @staticmethod
    def _restore_steps(i, prior: dict) -> list[dict]:
        steps: list[dict] = []
        svc = prior.get("service")
        if svc is not None and not svc.get("exists"):
            steps.append({"do": "delete", "name": svc.get("name")})
        es = prior.get("eventsource")
        if es is not None:
            steps.append({"do": "eventSource", "logName": es["logName"], "source": es["source"],
                          "values": es.get("values")})
        for item, p in sorted(prior.items()):
            if item.startswith("file:") and not p.get("exists"):
                steps.append({"do": "removeFile", "path": p["path"]})
                # left behind only by an apply that died between the swap and the readiness gate
                # (the binary's <exe>.previous) or while writing the secrets file (<file>.tmp)
                steps.append({"do": "removeFile", "path": p["path"] + PREVIOUS_SUFFIX})
                if p["path"].lower().endswith(".json"):
                    steps.append({"do": "removeFile", "path": p["path"] + ".tmp"})
        dirs = [p for item, p in prior.items() if item.startswith("dir:")]
        for p in sorted(dirs, key=lambda p: -len(p["path"])):
            if not p.get("exists"):
                steps.append({"do": "removeDir", "path": p["path"], "upTo": p.get("createdFrom") or p["path"]})
            elif p.get("ace") is None:
                steps.append({"do": "revoke", "path": p["path"], "identity": p.get("account") or i.account,
                              "sid": account_sid(p.get("account") or i.account)})
        return steps

    # ---- Set ---------------------------------------------------------------------------------
    def apply(self, host, i: WindowsServiceInputs, changes: list[dict], prior: dict) -> dict:
        rollback = next((c for c in changes if c["do"] == ROLLBACK), None)
        restart = next((c for c in changes if c["do"] == RESTART), None)
        stop_seconds = max([stop_timeout_seconds(i)] + [c["seconds"] for c in changes if c["do"] == STOP_BOUND])
        changes = [c for c in changes if c["do"] not in PSEUDO]
        restoring = all(c.get("restore") for c in changes)
        params = self._read_params(i)
        params["steps"] = changes
        params["startTimeoutSeconds"] = START_TIMEOUT_SECONDS
        params["stopTimeoutSeconds"] = stop_seconds
        if isinstance(getattr(host, "timeout", None), (int, float)):   # the client waits as long as the host may
            host.timeout = max(host.timeout, self._op_budget(i, stop_seconds))
        gate = not restoring and self._gated(i)
        params["readiness"] = ({"port": i.port, "path": i.ready_path, "timeoutSeconds": i.readiness_timeout_seconds,
                                "pollSeconds": i.readiness_poll_seconds} if gate else None)
        params["onNotReady"] = rollback["onNotReady"] if rollback and gate else []
        params["afterReady"] = rollback["afterReady"] if rollback and gate else []
        params["onStopped"] = restart["onStopped"] if restart else []
        # after a start (this apply started the program), a service with a pre-shutdown timeout must accept
        # PreShutdown: refused (like a failed gate) or warned; an apply that started nothing refuses nothing
        check = not restoring and i.preshutdown_timeout_seconds is not None and i.start_mode != "disabled"
        started = any(c["do"] in ("start", "restart") for c in changes)
        params["requireAccepts"] = (SERVICE_ACCEPT_PRESHUTDOWN if check and started and i.preshutdown_check == "refuse"
                                    else None)
        if restoring:
            # The delete step names the service to delete; everything else comes from the params.
            for c in changes:
                if c["do"] == "delete":
                    params["name"] = c.get("name") or i.service_name
        state = host.state("service.apply", params, final=True)
        warnings = []
        accepted = (state.get("service") or {}).get("controlsAccepted")
        if check and isinstance(accepted, int) and not accepted & SERVICE_ACCEPT_PRESHUTDOWN \
                and (state.get("service") or {}).get("status") == "Running":
            warnings.append(preshutdown_message(i, accepted))
        drain = state.get("drain")
        if isinstance(drain, dict) and drain.get("notReadyBeforeExit") is False:
            warnings.append(f"{i.service_name}: readiness {i.ready_path} kept answering 200 until the process "
                            "exited on the stop: the load balancer kept routing to it; the service must answer "
                            "503 as soon as it is asked to stop (docs/writing-a-go-service.md)")
        state["warnings"] = warnings
        return state

    def report(self, inputs, state: dict) -> dict:
        return redact_state(state)

    def _outs(self, inputs, state: dict, prior: dict, changes: list[dict]) -> dict:
        # ``changes`` is a plain output: never let the account password into it (accountPassword
        # itself is a secret output).
        from .crash_report import now_iso
        outs = super()._outs(inputs, state, prior, redact_changes([c for c in changes if c["do"] not in PSEUDO]))
        outs["appliedAt"] = now_iso()      # crash reports on refresh count from here (crash_report.py)
        return outs

    # ---- refresh: crash reports since the last apply (components/host/crash_report.py) ---------
    def refresh_state(self, host, i, old_outs: dict) -> dict:
        from . import crash_report
        since = old_outs.get("appliedAt") or crash_report.now_iso()
        return self.read_state(host, i, {"crashEvents": crash_report.query(i, since)})

    def refresh_outputs(self, i, current: dict, old_outs: dict) -> dict:
        from . import crash_report, progress
        since = old_outs.get("appliedAt") or crash_report.now_iso()
        summary = crash_report.summarise(since, current.pop("crashEvents", None) or [])
        msg = crash_report.warning(f"{self.describe(i)} on {i.connection.label}", summary)
        if msg:
            progress.warn(msg)
        return {"appliedAt": since, "crashes": summary}

    # ---- drift -------------------------------------------------------------------------------
    def drift(self, inputs, current: dict) -> list[str]:
        """The input keys that drifted, plus ``leftoverPrevious`` when an ``<exe>.previous`` is left on
        the host (``state.leftoverPrevious``; the next update or delete removes it)."""
        out = super().drift(inputs, current)
        return sorted(out + ["leftoverPrevious"]) if current.get("leftoverPrevious") else out

    def live_inputs(self, i: WindowsServiceInputs, cur: dict) -> dict:
        out = i.dump()
        svc = cur.get("service") if cur.get("exists") else None
        if svc is None:
            # Gone from the host: report the service fields as absent so the next up re-creates it.
            for k in ("displayName", "description", "account", "startMode", "binarySha256"):
                out[k] = None
            return out
        out["displayName"] = svc.get("displayName")
        out["description"] = svc.get("description") or ""
        out["account"] = BUILTIN_ACCOUNTS.get((svc.get("objectName") or "").lower(), svc.get("objectName"))
        start = svc.get("start")
        out["startMode"] = {2: "delayed-auto" if svc.get("delayedAutostart") else "auto", 3: "manual",
                            4: "disabled"}.get(start, f"start={start}")
        out["dependencies"] = list(svc.get("dependencies") or [])
        out["sidType"] = {v: k for k, v in SID_TYPES.items()}.get(svc.get("sidType"), str(svc.get("sidType")))
        env = {}
        for line in svc.get("environment") or []:
            k, _, v = line.partition("=")
            env[k] = v
        out["environment"] = env
        argv = split_command_line(svc.get("imagePath") or "")
        out["arguments"] = argv[1:]
        fa = decode_failure_actions(svc.get("failureActions")) or (0, [])
        names = {v: k for k, v in ACTION_TYPES.items()}
        out["recovery"] = {"actions": [{"action": names.get(t, str(t)), "delaySeconds": d // 1000} for t, d in fa[1]],
                           "resetPeriodSeconds": fa[0],
                           "failureActionsOnNonCrash": bool(svc.get("failureActionsOnNonCrashFailures"))}
        if i.preshutdown_timeout_seconds is not None:
            ms = svc.get("preshutdownTimeoutMs")
            out["preshutdownTimeoutSeconds"] = (ms if ms is not None else DEFAULT_PRESHUTDOWN_MS) // 1000
        binary = cur.get("binary") or {}
        out["binarySha256"] = binary.get("sha256")
        if i.secrets and not secrets_file_current(i, cur.get("secretsFile") or {}):
            out["secrets"] = None        # content or DACL differs (never read back): drift, rewritten by up
        return out


# --------------------------------------------------------------------------------------------
# The secrets file's DACL: SYSTEM and Administrators FullControl, the service account Read, nothing
# inherited (well-known SIDs: https://learn.microsoft.com/windows/win32/secauthz/well-known-sids).
SYSTEM_SID, ADMINS_SID = "S-1-5-18", "S-1-5-32-544"
_BUILTIN_SIDS = {"localsystem": SYSTEM_SID, "nt authority\\localservice": "S-1-5-19",
                 "nt authority\\networkservice": "S-1-5-20"}
_WRITE_RIGHTS = ("Write", "Modify", "FullControl", "Delete", "ChangePermissions", "TakeOwnership", "Append",
                 "CreateFiles", "CreateDirectories")


def _account_sid_any(account: str) -> str | None:
    return _BUILTIN_SIDS.get(account.lower()) or account_sid(account)


def secrets_readers(account: str) -> list[dict]:
    readers = [{"identity": "NT AUTHORITY\\SYSTEM", "sid": SYSTEM_SID, "rights": "FullControl"},
               {"identity": "BUILTIN\\Administrators", "sid": ADMINS_SID, "rights": "FullControl"}]
    sid = _account_sid_any(account)
    if sid != SYSTEM_SID:
        readers.append({"identity": account, "sid": sid, "rights": "Read"})
    return readers


def secrets_file_current(i: "WindowsServiceInputs", live: dict) -> bool:
    """Whether the live secrets file (service.read's ``secretsFile``) holds exactly our content under
    exactly our DACL: protected, no inherited entry, SYSTEM + Administrators full control, the account
    read (and nothing that lets it write), nobody else."""
    import hashlib
    import hmac
    if not live.get("exists") or not live.get("protected") or not live.get("nonce") or not live.get("hmac"):
        return False
    want = hmac.new(bytes.fromhex(live["nonce"]), i.secrets_content().encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, str(live["hmac"])):
        return False
    readers = secrets_readers(i.account)
    acl = live.get("acl") or []
    if any(a.get("inherited") or a.get("type") != "Allow" for a in acl) or len(acl) != len(readers):
        return False
    for r in readers:
        match = [a for a in acl if (r["sid"] and a.get("sid") == r["sid"])
                 or (a.get("identity") or "").lower() == r["identity"].lower()]
        if len(match) != 1:
            return False
        rights = match[0].get("rights") or ""
        if r["rights"] == "FullControl" and "FullControl" not in rights:
            return False
        if r["rights"] == "Read" and ("Read" not in rights or any(w in rights for w in _WRITE_RIGHTS)):
            return False
    return True


def redact_changes(changes: list[dict]) -> list[dict]:
    """``changes`` as the plain ``changes`` output shows them: no account password, no credentials of
    the binary URL (userinfo, SAS query), no values of user environment variables, no secrets-file
    content (base.redact_url / redact_environment)."""
    out = []
    for c in changes:
        c = dict(c)
        if c.get("password") is not None:
            c["password"] = "[secret]"
        if isinstance(c.get("url"), str):
            c["url"] = redact_url(c["url"])
        if c.get("do") == "environment":
            c["value"] = redact_environment(c.get("value"))
        c.pop("content", None)                    # writeSecrets: the names are listed, never the values
        out.append(c)
    return out


def redact_state(state: dict) -> dict:
    """The ``state`` output (a plain output): the service's environment values redacted."""
    svc = state.get("service") if isinstance(state, dict) else None
    if isinstance(svc, dict) and "environment" in svc:
        state = {**state, "service": {**svc, "environment": redact_environment(svc.get("environment"))}}
    sf = state.get("secretsFile") if isinstance(state, dict) else None
    if isinstance(sf, dict):
        state = {**state, "secretsFile": {k: v for k, v in sf.items() if k not in ("hmac", "nonce")}}
    return state


def _event_source_values() -> dict:
    # What golang.org/x/sys/windows/svc/eventlog.InstallAsEventCreate writes (windows_domain.md §3.3).
    return {"CustomSource": {"kind": "REG_DWORD", "data": 1},
            "EventMessageFile": {"kind": "REG_EXPAND_SZ", "data": EVENTCREATE},
            "TypesSupported": {"kind": "REG_DWORD", "data": 7}}


def _explicit_ace(live_dir: dict, account: str) -> dict | None:
    sid = account_sid(account)
    for a in live_dir.get("acl") or []:
        ident = (a.get("identity") or "").lower()
        if not a.get("inherited") and (ident == account.lower() or (sid is not None and ident == sid.lower())):
            return {"identity": a["identity"], "rights": a.get("rights")}
    return None


def _has_rights(live_dir: dict, account: str, rights: str) -> bool:
    ace = _explicit_ace(live_dir, account)
    if ace is None:
        return False
    got = ace.get("rights") or ""
    return rights in got or "FullControl" in got or (rights == "ReadAndExecute" and "Modify" in got)


class WindowsService(HostResource, module="winfleet", name="WindowsService"):
    """``accountPassword`` is always a secret output; ``binaryUrl`` when it carries credentials
    (userinfo, a query string such as a SAS token) or is an Output (a ``secure:`` value);
    ``environment`` when any value is an Output (a ``secure:`` value)."""

    provider_class = WindowsServiceProvider
    secret_outputs = ("accountPassword", "secrets")

    def __init__(self, resource_name: str, inputs: dict, opts=None):
        import pulumi
        extra = []
        url = inputs.get("binaryUrl")
        if isinstance(url, pulumi.Output) or (isinstance(url, str) and url_has_credentials(url)):
            extra.append("binaryUrl")
        env = inputs.get("environment")
        if isinstance(env, pulumi.Output) or (isinstance(env, dict) and any(
                isinstance(v, pulumi.Output) for v in env.values())):
            extra.append("environment")
        if extra:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=extra))
        super().__init__(resource_name, inputs, opts)

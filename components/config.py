"""winfleet stack config: the `winfleet:` namespace parsed once into typed, validated models.

Public API
----------
* ``load_config() -> WinfleetConfig`` — reads every ``winfleet:*`` key of the running stack
  (``pulumi.Config("winfleet")``; call it before registering any resource).
* ``load_config_file(path, *, secrets=None, secret_placeholder=None, base_dir=None) -> WinfleetConfig`` — reads the
  ``config:`` section of a ``Pulumi.<stack>.yaml``. A ``secure:`` value is Pulumi-encrypted and cannot be
  decrypted without the CLI: pass ``secrets={"winfleet:existingHosts[0].password": "..."}`` (key path as in
  error messages) or ``secret_placeholder="..."`` to substitute every encrypted value; otherwise each
  encrypted value is reported as a problem.
* ``parse_config(raw: dict, *, base_dir=None) -> WinfleetConfig`` — validate an already-loaded mapping
  (top-level keys without the ``winfleet:`` prefix).
* ``ConfigError(problems)`` (a ``pulumi.RunError``: clean exit, no traceback). ``.problems`` is a list of
  ``Problem(path, value, allowed)``; the message lists all of them.

Config keys are camelCase (Pulumi convention); Python attributes are snake_case. Secrets
(``existingHosts[].password``, ``services[].accountPassword``) are ``pydantic.SecretStr``: never in repr,
error text or logs; wrap them in ``pulumi.Output.secret`` when they leave the model.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import pulumi
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator,
                      model_validator)
from pydantic.alias_generators import to_camel

from . import sizing
from . import windows_facts as wf

NAMESPACE = "winfleet"
TOP_LEVEL_KEYS = ("mode", "services", "loadBalancer", "rollout", "eventLogs", "baseline", "quota",
                  "winrm", "dataVolume", "dynamicProviders", "azure", "existingHosts")
SECRET_FIELDS = {"password", "accountPassword"}
_REDACTED = "[secret]"


# =============================================================================================
# Errors
# =============================================================================================
@dataclass(frozen=True)
class Problem:
    path: str          # e.g. "winfleet:services[1].readinessPath"
    value: Any         # the bad value (secrets redacted), or "<missing>"
    allowed: str       # what is allowed / how to fix

    def __str__(self) -> str:
        return f"{self.path}: got {_show(self.value)}; {self.allowed}"


class ConfigError(pulumi.RunError):
    """Invalid stack config. ``problems`` lists every problem; ``str()`` shows them all."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = [f"winfleet stack config has {len(self.problems)} problem(s):"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


class _Shape:
    """Stands for a value an error message must not print (a secret, a map, an unknown key's value)."""

    def __init__(self, value: Any):
        if isinstance(value, str):
            self.text = f"<a string of {len(value)} characters>"
        elif isinstance(value, dict):
            self.text = f"<a map of {len(value)} keys>"
        elif isinstance(value, (list, tuple)):
            self.text = f"<a list of {len(value)} items>"
        else:
            self.text = f"<a value of type {type(value).__name__}>"

    def __repr__(self) -> str:
        return self.text


def _show(value: Any) -> str:
    if value is MISSING:
        return "<missing>"
    if isinstance(value, _Shape):
        return value.text
    if isinstance(value, SecretStr):
        return _REDACTED
    try:
        text = json.dumps(value, default=str)
    except Exception:  # pragma: no cover - defensive
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def key_path(loc: tuple | list) -> str:
    """('services', 1, 'readinessPath') -> 'winfleet:services[1].readinessPath'."""
    out = NAMESPACE + ":"
    first = True
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += ("" if first else ".") + str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
        first = False
    return out


# =============================================================================================
# Small validators shared by the models
# =============================================================================================
def _rule(problem: Optional[str], v: Any) -> Any:
    """A shared rule's verdict (components.windows_facts.*_problem) as a field validator's result."""
    if problem:
        raise ValueError(problem)
    return v


def _no_control(v: str, what: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in v):
        raise ValueError(f"{what} must not contain control characters (newline, tab, NUL, ...)")
    return v


def _windows_abs_path(v: str, drive: Optional[str] = None) -> str:
    """A folder winfleet creates: an absolute local Windows path (windows_facts.windows_path_problem)
    that is not a drive root nor anything Windows reads as something else (folder_path_problem): the
    rules the host resources' check applies too; no trailing backslash, optionally on `drive`."""
    _rule(wf.managed_folder_problem(v), v)
    if len(v) > 3 and v.endswith("\\"):
        raise ValueError("must not end with a backslash")
    if drive and v[0].upper() != drive.upper():
        raise ValueError(f"must be on the data volume {drive.upper()}: (winfleet:dataVolume.driveLetter)")
    return v


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Strict CIDR (host bits must be zero); a bare address means /32 or /128."""
    return ipaddress.ip_network(value, strict=True)


AZURE_SERVICE_TAGS = {"virtualnetwork", "azureloadbalancer", "internet"}


def _source_list(values: list[str], *, allow_tags: set[str], purpose: str) -> list[str]:
    out = []
    for v in values:
        s = str(v).strip()
        low = s.lower()
        if low in wf.ANY_SOURCE_TOKENS and low not in allow_tags:
            raise ValueError(
                f"{s!r} opens {purpose} to everyone; allowed: specific CIDRs such as '203.0.113.0/24' "
                "(never 0.0.0.0/0, ::/0, '*', 'Internet' or 'Any')")
        if low in AZURE_SERVICE_TAGS:
            if low not in allow_tags:
                raise ValueError(f"service tag {s!r} is not allowed for {purpose}; use CIDRs")
            out.append({"virtualnetwork": "VirtualNetwork", "azureloadbalancer": "AzureLoadBalancer",
                        "internet": "Internet"}[low])
            continue
        try:
            net = parse_cidr(s)
        except ValueError as e:
            raise ValueError(f"{s!r} is not a valid CIDR ({e}); allowed: e.g. '203.0.113.0/24' or '198.51.100.7'")
        if net.prefixlen == 0:
            raise ValueError(f"{s!r} opens {purpose} to everyone; allowed: specific CIDRs")
        if (net.version == 4 and net.prefixlen < 8) or (net.version == 6 and net.prefixlen < 16):
            raise ValueError(f"{s!r} is too broad for {purpose} (prefix shorter than /8 for IPv4, /16 for IPv6); "
                             "use specific CIDRs")
        out.append(str(net))
    if len(set(out)) != len(out):
        raise ValueError("contains duplicates")
    return out


# =============================================================================================
# Models
# =============================================================================================
def _numeric(annotation) -> bool:
    import typing
    args = typing.get_args(annotation)
    return annotation in (int, float) or (bool(args) and all(a in (int, float, type(None)) for a in args))


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              validate_default=False, str_strip_whitespace=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info) -> Any:
        # `true` or "8080 " is not a number (pydantic's lax mode would read them as 1 and 8080; `pulumi config
        # set --path` stores integers as numbers): windows_facts.number_problem, as in the provider's check
        f = cls.model_fields.get(info.field_name)
        if f is not None and _numeric(f.annotation):
            _rule(wf.number_problem(v, strings=False), v)
        return v


class BinaryConfig(_Model):
    url: str
    sha256: str
    exe_name: Optional[str] = None   # default "<service name>.exe" (WER LocalDumps key)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _rule(wf.binary_url_problem(v), v)

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        return _rule(wf.sha256_problem(v), v).lower()

    @field_validator("exe_name")
    @classmethod
    def _exe(cls, v: Optional[str]) -> Optional[str]:
        return v if v is None else _rule(wf.exe_name_problem(v), v)


class LogsConfig(_Model):
    directory: Optional[str] = None            # default "<drive>:\logs\<name>"
    max_file_size_mb: int = Field(100, ge=1, le=10240)
    max_files: int = Field(10, ge=1, le=1000)

    @property
    def max_size_bytes(self) -> int:
        return self.max_file_size_mb * 1024 * 1024


class CrashDumpsConfig(_Model):
    enabled: bool = True
    count: int = Field(5, ge=1, le=100)
    type: Literal["mini", "full"] = "mini"
    folder: Optional[str] = None               # default "<drive>:\dumps\<name>"
    estimated_size_mb: Optional[int] = Field(None, ge=1, le=1_048_576)  # for the quota budget

    @property
    def size_estimate_mb(self) -> int:
        """Per-dump size used for the disk budget: configured, else 64 MB (mini) / 4096 MB (full)."""
        if self.estimated_size_mb:
            return self.estimated_size_mb
        return 64 if self.type == "mini" else 4096


class WatchdogConfig(_Model):
    """Opt-in liveness watchdog (a scheduled task; components/host/service_watchdog.py)."""
    enabled: bool = False
    interval_seconds: int = Field(30, ge=5, le=3600)
    failure_threshold: int = Field(3, ge=1, le=100)
    timeout_seconds: int = Field(5, ge=1, le=60)

    @model_validator(mode="after")
    def _timing(self) -> "WatchdogConfig":
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(f"timeoutSeconds ({self.timeout_seconds}) must be below intervalSeconds "
                             f"({self.interval_seconds})")
        return self


class RecoveryAction(_Model):
    action: Literal["restart", "reboot", "none"] = "restart"
    delay_seconds: int = Field(5, ge=0, le=wf.MAX_RECOVERY_DELAY_SECONDS)


def _default_actions() -> list[RecoveryAction]:
    return [RecoveryAction(action="restart", delay_seconds=d) for d in (5, 10, 30)]


class RecoveryConfig(_Model):
    actions: list[RecoveryAction] = Field(default_factory=_default_actions, min_length=1, max_length=8)
    reset_period_seconds: int = Field(86400, ge=0, le=30 * 86400)
    failure_actions_on_non_crash: bool = True   # restart on non-zero exit too (SCM flag)


class EventSourceConfig(_Model):
    log_name: str = "Application"
    source: Optional[str] = None               # default: the service name

    @field_validator("log_name", "source")
    @classmethod
    def _name(cls, v: Optional[str]) -> Optional[str]:
        # the same rule as the WindowsService check (the names become registry keys)
        return v if v is None else _rule(wf.event_name_problem(v), v)


class ServiceConfig(_Model):
    name: str
    display_name: Optional[str] = None
    description: str = ""
    binary: BinaryConfig
    arguments: list[str] = Field(default_factory=list)
    install_dir: Optional[str] = None           # default "C:\Program Files\winfleet\<name>"
    port: int = Field(ge=1024, le=65535)
    allow_dynamic_port: bool = False            # a port in Windows' dynamic range 49152-65535 is refused unless true
    health_path: str = "/healthz"
    readiness_path: str = "/readyz"
    readiness_timeout_seconds: int = Field(60, ge=1, le=3600)
    account: Optional[str] = None               # default virtual account "NT SERVICE\<name>"
    account_password: Optional[SecretStr] = None
    start_mode: Literal["auto", "delayed-auto", "manual", "disabled"] = "delayed-auto"
    sid_type: Literal["unrestricted", "restricted", "none"] = "unrestricted"
    dependencies: list[str] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)
    preshutdown_timeout_seconds: int = Field(30, ge=1, le=3600)
    # after a start the program must accept SERVICE_CONTROL_PRESHUTDOWN: refuse (default) or only warn
    preshutdown_check: Literal["refuse", "warn"] = "refuse"
    crash_dumps: CrashDumpsConfig = Field(default_factory=CrashDumpsConfig)
    event_source: Optional[EventSourceConfig] = None
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    # WINFLEET_DRAIN_SECONDS: the load balancer's detection time + drain allowance, set once the whole
    # config is read (it depends on winfleet:loadBalancer); None until then
    _drain_seconds: Optional[int] = PrivateAttr(default=None)
    # Secrets the service reads from WINFLEET_SECRETS_FILE (a JSON file only its account, Administrators
    # and SYSTEM can read), never from its registry Environment (readable by every local user).
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Which values were `secure:` in the stack config, relative to the service: ("environment", NAME),
    # ("binary", "url"). Set by parse_config; go_service wraps them in pulumi.Output.secret.
    _secure: set = PrivateAttr(default_factory=set)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, v: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for k, val in v.items():
            if not wf.SECRET_NAME_RE.fullmatch(k):
                raise ValueError(f"secret name {k!r} must match [A-Za-z_][A-Za-z0-9_]* (at most 128 characters)")
            _rule(wf.secret_value_problem(k, val.get_secret_value()), v)
        if len({k.upper() for k in v}) != len(v):
            raise ValueError("secret names differ only by case")
        return v

    def is_secure(self, *loc: str) -> bool:
        """Whether the value at ``loc`` (e.g. "environment", "DB_URL") was a `secure:` config value."""
        return tuple(loc) in self._secure or ("*",) in self._secure

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        _rule(wf.service_name_problem(v), v)
        clash = wf.never_disable_match(v)
        if clash:
            raise ValueError(f"collides with the Windows service {clash!r}; choose another name")
        return v

    @field_validator("display_name")
    @classmethod
    def _display(cls, v: Optional[str]) -> Optional[str]:
        return v if v is None else _rule(wf.display_name_problem(v), v)

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str) -> str:
        return _rule(wf.description_problem(v), v)

    @field_validator("arguments")
    @classmethod
    def _args(cls, v: list[str]) -> list[str]:
        if len(v) > 64:
            raise ValueError("at most 64 arguments")
        for a in v:
            _rule(wf.argument_problem(a), a)
        return v

    @field_validator("install_dir")
    @classmethod
    def _install_dir(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else _windows_abs_path(v)

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        if v in wf.RESERVED_HOST_PORTS:
            raise ValueError(f"port {v} is reserved for {wf.RESERVED_HOST_PORTS[v]}; "
                             "use another port in 1024-65535")
        return v

    @field_validator("health_path", "readiness_path")
    @classmethod
    def _paths(cls, v: str) -> str:
        return _rule(wf.url_path_problem(v), v)

    @field_validator("dependencies")
    @classmethod
    def _deps(cls, v: list[str]) -> list[str]:
        for d in v:
            if not wf.WINDOWS_SERVICE_NAME_RE.fullmatch(d):
                raise ValueError(f"{d!r} is not a service name (letters, digits, . _ - $; no spaces or quotes)")
        if len({d.lower() for d in v}) != len(v):
            raise ValueError("contains duplicates")
        return v

    @field_validator("environment")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            _rule(wf.env_name_problem(k) or wf.env_value_problem(k, val), v)
        return _rule(wf.env_names_problem(v), v)

    @model_validator(mode="after")
    def _defaults(self) -> "ServiceConfig":
        if self.display_name is None:
            self.display_name = self.name
        if self.install_dir is None:
            self.install_dir = f"C:\\Program Files\\winfleet\\{self.name}"
        if self.binary.exe_name is None:
            self.binary.exe_name = f"{self.name}.exe"
        if self.account is None:
            self.account = f"NT SERVICE\\{self.name}"
        if self.event_source is None:
            self.event_source = EventSourceConfig()
        if self.event_source.source is None:
            self.event_source.source = self.name
        return self

    # --- derived values the host layer uses -------------------------------------------------
    @property
    def is_virtual_account(self) -> bool:
        return (self.account or "").lower().startswith("nt service\\")

    @property
    def effective_environment(self) -> dict[str, str]:
        """The service's environment: `environment` + WINFLEET_LOG_* + WINFLEET_PORT/_HEALTH_PATH/_READINESS_PATH/
        _DRAIN_SECONDS/_EVENT_SOURCE + GOTRACEBACK (components.sizing)."""
        return sizing.service_environment(
            self.environment, log_dir=self.logs.directory, log_max_size_bytes=self.logs.max_size_bytes,
            log_max_files=self.logs.max_files, dumps_enabled=self.crash_dumps.enabled, service=self.name,
            port=self.port, health_path=self.health_path, readiness_path=self.readiness_path,
            drain_seconds=self._drain_seconds,
            event_source=self.event_source.source if self.event_source else None)

    @property
    def log_budget_bytes(self) -> int:
        return sizing.log_budget_bytes(self.logs.max_size_bytes, self.logs.max_files)

    @property
    def dump_budget_bytes(self) -> int:
        return sizing.dump_budget_bytes(self.crash_dumps.enabled, self.crash_dumps.count,
                                        self.crash_dumps.size_estimate_mb * 1024 * 1024)

    @property
    def disk_budget_bytes(self) -> int:
        """Logs + dumps this service may write to the data volume (what its NTFS quota must cover)."""
        return self.log_budget_bytes + self.dump_budget_bytes


class LoadBalancerConfig(_Model):
    public: bool = False
    probe_interval_seconds: int = Field(5, ge=wf.AZURE_PROBE_MIN_INTERVAL_SECONDS, le=300)
    unhealthy_threshold: int = Field(2, ge=1, le=100)
    drain_seconds: int = Field(15, ge=0, le=3600)
    idle_timeout_minutes: int = Field(4, ge=4, le=100)
    # What the LB does when *every* backend is probed down (probe property noHealthyBackendsBehavior,
    # https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-custom-probe-overview): Azure's
    # default AllProbedDown stops all new flows, so a readiness check that includes a shared dependency
    # takes the whole fleet out when that dependency blips. AllProbedUp keeps sending to every backend.
    no_healthy_backends_behavior: Literal["AllProbedUp", "AllProbedDown"] = "AllProbedUp"


class RolloutConfig(_Model):
    batch_size: int = Field(1, ge=1)


class EventLogConfig(_Model):
    max_size_kb: int
    retention: Literal["circular", "autoBackup", "retain"] = "circular"

    @field_validator("max_size_kb")
    @classmethod
    def _size(cls, v: int) -> int:
        if v < wf.EVENTLOG_MIN_KB:
            raise ValueError(f"below the Windows minimum of {wf.EVENTLOG_MIN_KB} KB (1 MB); "
                             f"allowed: {wf.EVENTLOG_MIN_KB}..{wf.EVENTLOG_MAX_KB} KB in multiples of 64 KB")
        if v > wf.EVENTLOG_MAX_KB:
            raise ValueError(f"above the maximum of {wf.EVENTLOG_MAX_KB} KB")
        if v % wf.EVENTLOG_MULTIPLE_KB:
            lo = v // 64 * 64
            raise ValueError(f"event log sizes are multiples of 64 KB; use {lo} or {lo + 64}")
        return v


def default_event_logs() -> dict[str, EventLogConfig]:
    return {name: EventLogConfig(max_size_kb=kb) for name, kb in wf.CIS_EVENTLOG_MIN_KB.items()}


class BaselineConfig(_Model):
    name: Literal["go-host-minimal", "ms-server-2016-ok", "none"] = "go-host-minimal"
    services: list[str] = Field(default_factory=list)   # explicit extra services to disable

    @field_validator("services")
    @classmethod
    def _services(cls, v: list[str]) -> list[str]:
        errs = []
        for s in v:
            if not wf.WINDOWS_SERVICE_NAME_RE.fullmatch(s):
                errs.append(f"{s!r} is not a service name (match by service name, not display name)")
            elif wf.never_disable_match(s):
                errs.append(f"{s!r} must never be disabled on a WinRM-managed host "
                            f"(never-disable list in components/windows_facts.py)")
        if len({s.lower() for s in v}) != len(v):
            errs.append("contains duplicates")
        if errs:
            raise ValueError("; ".join(errs))
        return v


class QuotaConfig(_Model):
    headroom: float = Field(1.5, ge=1.0, le=10.0)   # limit = budget x headroom
    enforce: bool = True


class WinrmConfig(_Model):
    allowed_sources: list[str] = Field(default_factory=list)
    connect_via: Literal["public", "private"] = "private"
    auth: Literal["ntlm", "basic", "kerberos"] = "ntlm"
    # How long an op keeps trying a host that does not answer (a reboot, a VM still booting), and the first
    # pause between tries (doubling up to 30 s). A Windows Server reboot with updates takes minutes.
    reach_budget_minutes: float = Field(10.0, gt=0, le=120)
    reach_backoff_seconds: float = Field(2.0, gt=0, le=60)

    def reach(self) -> dict:
        """The connection's reachability keys (seconds), see docs/CONTRACTS.md "connection"."""
        return {"reachBudgetSeconds": self.reach_budget_minutes * 60.0, "reachBackoffSeconds": self.reach_backoff_seconds}

    @field_validator("allowed_sources")
    @classmethod
    def _sources(cls, v: list[str]) -> list[str]:
        return _source_list(v, allow_tags={"virtualnetwork"}, purpose="WinRM (5986)")


class DataVolumeConfig(_Model):
    drive_letter: str = "D"
    label: str = "winfleet-data"
    # Pulumi resource options of every host's DataVolume: `protect` makes destroy refuse it;
    # `retainOnDelete` lets destroy (or a removed host) drop it from the stack and keep the data.
    protect: bool = False
    retain_on_delete: bool = False

    @field_validator("drive_letter")
    @classmethod
    def _letter(cls, v: str) -> str:
        v = v.rstrip(":").upper()
        if not re.fullmatch(r"[D-Z]", v):
            raise ValueError("a drive letter D-Z (C: is the OS disk)")
        return v

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9 _-]{1,32}", v):
            raise ValueError("an NTFS volume label: 1-32 letters, digits, space, '_' or '-'")
        return v


class ImageConfig(_Model):
    publisher: str = "MicrosoftWindowsServer"
    offer: str = "WindowsServer"
    sku: str = "2022-datacenter-azure-edition"
    version: str = "latest"


class AzureConfig(_Model):
    location: Optional[str] = None              # falls back to azure-native:location
    resource_group_name: Optional[str] = None   # default: auto-named "<namePrefix>-rg-xxxx"
    name_prefix: str = "winfleet"
    host_name_prefix: str = "go"
    host_count: int = Field(2, ge=1, le=100)
    vm_size: str = "Standard_D2s_v5"
    zones: list[str] = Field(default_factory=lambda: ["1", "2", "3"])
    image: ImageConfig = Field(default_factory=ImageConfig)
    admin_username: str = "winfleetadmin"
    os_disk_type: Literal["Premium_LRS", "StandardSSD_LRS", "Standard_LRS", "Premium_ZRS",
                          "StandardSSD_ZRS"] = "Premium_LRS"
    os_disk_size_gb: Optional[int] = Field(None, ge=127, le=4095)
    data_disk_size_gb: int = Field(64, ge=wf.AZURE_DATA_DISK_MIN_GB, le=wf.AZURE_DATA_DISK_MAX_GB)
    data_disk_type: Literal["Premium_LRS", "StandardSSD_LRS", "Standard_LRS", "Premium_ZRS",
                            "StandardSSD_ZRS"] = "Premium_LRS"
    client_sources: list[str] = Field(default_factory=list)
    dns_prefix: Optional[str] = None
    vnet_address_space: str = "10.40.0.0/16"
    subnet_prefix: str = "10.40.1.0/24"
    trusted_launch: bool = True
    time_zone: str = "UTC"
    cert_validity_days: int = Field(730, ge=1, le=3650)
    key_vault_retention_days: int = Field(90, ge=7, le=90)
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("location")
    @classmethod
    def _loc(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[a-z][a-z0-9]{2,40}", v):
            raise ValueError("an Azure region name such as 'westeurope' (lowercase, no spaces)")
        return v

    @field_validator("resource_group_name")
    @classmethod
    def _rg(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[-\w._()]{1,89}[-\w_()]", v):
            raise ValueError("1-90 characters: letters, digits, '-', '_', '.', '(' or ')'; not ending in '.'")
        return v

    @field_validator("name_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,14}", v) or "--" in v or v.endswith("-"):
            raise ValueError("2-15 characters: lowercase letters, digits, single '-'; starting with a letter, "
                             "not ending with '-' (it prefixes the Key Vault and load balancer names)")
        return v

    @field_validator("host_name_prefix")
    @classmethod
    def _host_prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,11}", v) or "--" in v or v.endswith("-"):
            raise ValueError("1-12 lowercase letters, digits or '-', starting with a letter "
                             "(computer names '<prefix>-<n>' must fit Windows' 15-character limit)")
        return v

    @field_validator("vm_size")
    @classmethod
    def _size(cls, v: str) -> str:
        if not re.fullmatch(r"Standard_[A-Za-z0-9_]+", v):
            raise ValueError("an Azure VM size such as 'Standard_D2s_v5'")
        return v

    @field_validator("zones", mode="before")
    @classmethod
    def _zone_numbers(cls, v: Any) -> Any:
        # `pulumi config set --path 'winfleet:azure.zones[0]' 1` stores the number 1.
        if isinstance(v, list):
            return [str(z) if isinstance(z, int) and not isinstance(z, bool) else z for z in v]
        return v

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: list[str]) -> list[str]:
        v = [str(z) for z in v]
        if any(z not in ("1", "2", "3") for z in v) or len(set(v)) != len(v):
            raise ValueError("availability zones are distinct values from '1', '2', '3' ([] for no zones)")
        return v

    @field_validator("admin_username")
    @classmethod
    def _admin(cls, v: str) -> str:
        if (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v) or len(v) > wf.AZURE_ADMIN_USERNAME_MAX
                or v.endswith(".")):
            raise ValueError(f"1-{wf.AZURE_ADMIN_USERNAME_MAX} letters, digits, '.', '_', '-'; not ending in '.'")
        if v.lower() in wf.AZURE_RESERVED_ADMIN_USERNAMES:
            raise ValueError("Azure rejects this reserved admin name (e.g. 'administrator', 'admin', 'root'); "
                             "choose another")
        return v

    @field_validator("client_sources")
    @classmethod
    def _clients(cls, v: list[str]) -> list[str]:
        return _source_list(v, allow_tags={"virtualnetwork", "internet"}, purpose="service ports")

    @field_validator("dns_prefix")
    @classmethod
    def _dns(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.fullmatch(r"[a-z][a-z0-9-]{1,40}[a-z0-9]", v):
            raise ValueError("3-42 characters: lowercase letters, digits, '-'; starts with a letter "
                             "(DNS labels are '<dnsPrefix>-<host>')")
        return v

    @field_validator("vnet_address_space", "subnet_prefix")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = parse_cidr(v)
        except ValueError as e:
            raise ValueError(f"a private IPv4 CIDR such as '10.40.0.0/16' ({e})")
        if net.version != 4 or not net.is_private or net.prefixlen > 29:
            raise ValueError("a private IPv4 CIDR of /29 or larger, e.g. '10.40.0.0/16'")
        return str(net)

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9 ().+:_-]{1,64}", v):
            raise ValueError("a Windows time zone id such as 'UTC' or 'W. Europe Standard Time'")
        return v

    def host_names(self) -> list[str]:
        return [f"{self.host_name_prefix}-{i}" for i in range(self.host_count)]


class ExistingHostDataDisk(_Model):
    disk_number: Optional[int] = Field(None, ge=0, le=255)
    lun: Optional[int] = Field(None, ge=0, le=63)
    size_gb: Optional[int] = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> "ExistingHostDataDisk":
        if self.disk_number is not None and self.lun is not None:
            raise ValueError("give diskNumber or lun, not both (or neither if the volume is already online)")
        return self


class ExistingHostConfig(_Model):
    name: str
    host: str
    port: int = Field(wf.WINRM_HTTPS_PORT, ge=1, le=65535)
    username: str
    password: SecretStr
    ca_pem: Optional[str] = None
    ca_pem_file: Optional[str] = None
    cert_sha256: Optional[str] = None
    tls_server_name: Optional[str] = None
    auth: Optional[Literal["ntlm", "basic", "kerberos"]] = None    # default winfleet:winrm.auth
    data_disk: ExistingHostDataDisk = Field(default_factory=ExistingHostDataDisk)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not wf.COMPUTER_NAME_RE.fullmatch(v):
            raise ValueError("a host name: 1-15 letters, digits or '-', not all digits")
        return v

    @field_validator("host", "tls_server_name")
    @classmethod
    def _host(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        try:
            ipaddress.ip_address(v)
            return v
        except ValueError:
            pass
        if not re.fullmatch(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", v):
            raise ValueError("a DNS name or an IP address (no scheme, no port)")
        return v

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        if v == wf.WINRM_HTTP_PORT:
            raise ValueError("5985 is WinRM over plain HTTP; winfleet only connects over HTTPS (default 5986)")
        return v

    @field_validator("username")
    @classmethod
    def _user(cls, v: str) -> str:
        _no_control(v, "username")
        if not v or len(v) > 256 or any(c in v for c in '"/[]:;|=,+*?<>'):
            raise ValueError("a user name such as 'winfleet' or 'LAB\\winfleet' (no quotes or / [ ] : ; | = , + * ? < >)")
        return v

    @field_validator("password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value():
            raise ValueError("must not be empty (set it with `pulumi config set --secret --path ...`)")
        return v

    @field_validator("cert_sha256")
    @classmethod
    def _fp(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        norm = v.replace(":", "").replace(" ", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", norm):
            raise ValueError("the SHA-256 fingerprint of the host's certificate: 64 hex digits (colons allowed)")
        return norm

    @field_validator("ca_pem")
    @classmethod
    def _pem(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            _check_pem(v)
        return v

    @model_validator(mode="after")
    def _trust(self) -> "ExistingHostConfig":
        if not (self.ca_pem or self.ca_pem_file or self.cert_sha256):
            raise ValueError("give caPem, caPemFile or certSha256 so the host certificate is validated "
                             "(there is no 'ignore certificate' option)")
        if self.ca_pem and self.ca_pem_file:
            raise ValueError("give caPem or caPemFile, not both")
        return self


def _check_pem(text: str) -> None:
    from cryptography import x509
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ValueError("must be PEM text containing '-----BEGIN CERTIFICATE-----'")
    try:
        certs = x509.load_pem_x509_certificates(text.encode())
    except ValueError as e:
        raise ValueError(f"is not a readable PEM certificate bundle ({e})")
    if not certs:
        raise ValueError("contains no certificate")


class WinfleetConfig(_Model):
    mode: Literal["azure", "existingHosts"] = "azure"
    services: list[ServiceConfig] = Field(default_factory=list)
    load_balancer: LoadBalancerConfig = Field(default_factory=LoadBalancerConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)
    event_logs: dict[str, EventLogConfig] = Field(default_factory=default_event_logs)
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    winrm: WinrmConfig = Field(default_factory=WinrmConfig)
    data_volume: DataVolumeConfig = Field(default_factory=DataVolumeConfig)
    # "perHost": an explicit dynamic-provider instance per host (own process, 4 calls in flight each);
    # "shared": the default provider instance for the whole stack (4 calls in flight in all).
    dynamic_providers: Literal["perHost", "shared"] = "shared"
    azure: Optional[AzureConfig] = None
    existing_hosts: list[ExistingHostConfig] = Field(default_factory=list)

    @field_validator("event_logs", mode="before")
    @classmethod
    def _merge_logs(cls, v: Any) -> Any:
        # Given logs override the CIS defaults log by log; the four CIS logs are always managed.
        if isinstance(v, dict):
            merged: dict[str, Any] = {k: e.model_dump(by_alias=True) for k, e in default_event_logs().items()}
            for k, e in v.items():
                if isinstance(e, dict) and k in merged:
                    merged[k] = {**merged[k], **e}
                else:
                    merged[k] = e
            return merged
        return v

    @field_validator("event_logs")
    @classmethod
    def _log_names(cls, v: dict[str, EventLogConfig]) -> dict[str, EventLogConfig]:
        for k in v:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,254}", k):
                raise ValueError(f"{k!r} is not an event log name (e.g. 'Application', "
                                 "'Microsoft-Windows-PowerShell/Operational')")
        return v

    # --- derived -------------------------------------------------------------------------------
    def host_names(self) -> list[str]:
        if self.mode == "azure":
            return self.azure.host_names() if self.azure else []
        return [h.name for h in self.existing_hosts]

    def service(self, name: str) -> ServiceConfig:
        for s in self.services:
            if s.name.lower() == name.lower():
                return s
        raise KeyError(name)

    def quota_sizing(self, svc: ServiceConfig) -> "sizing.QuotaSizing":
        """NTFS quota for `svc` (components.sizing.quota_sizing with winfleet:quota.headroom)."""
        return sizing.quota_sizing(svc.log_budget_bytes, svc.dump_budget_bytes, self.quota.headroom)

    def quota_limit_bytes(self, svc: ServiceConfig) -> int:
        return self.quota_sizing(svc).limit_bytes

    @property
    def required_preshutdown_seconds(self) -> int:
        lb = self.load_balancer
        return sizing.required_preshutdown_seconds(lb.probe_interval_seconds, lb.unhealthy_threshold,
                                                   lb.drain_seconds)


# =============================================================================================
# Cross-field rules (run once every section parsed)
# =============================================================================================
def _semantic_problems(cfg: WinfleetConfig, raw: dict, base_dir: Optional[Path]) -> list[Problem]:
    P: list[Problem] = []

    def add(loc: tuple, value: Any, allowed: str) -> None:
        P.append(_problem(loc, value, allowed))

    drive = cfg.data_volume.drive_letter
    svcs = cfg.services
    # --- per service paths on the data volume, defaults filled in -------------------------------
    for i, s in enumerate(svcs):
        if s.logs.directory is None:
            s.logs.directory = f"{drive}:\\logs\\{s.name}"
        if s.crash_dumps.folder is None:
            s.crash_dumps.folder = f"{drive}:\\dumps\\{s.name}"
        for loc, val in ((("services", i, "logs", "directory"), s.logs.directory),
                         (("services", i, "crashDumps", "folder"), s.crash_dumps.folder)):
            try:
                _windows_abs_path(val, drive)
            except ValueError as e:
                add(loc, val, str(e))
        # account: the same rule as the WindowsService check (components.windows_facts.account_problem)
        acct = s.account or ""
        kind = wf.account_kind(acct, s.name)
        problem = wf.account_problem(acct, s.name)
        if problem:
            add(("services", i, "account"), acct, problem)
        elif kind == "virtual":
            if s.sid_type == "none":
                add(("services", i, "sidType"), s.sid_type,
                    "a virtual account (NT SERVICE\\...) needs a service SID: 'unrestricted' or 'restricted'")
        if kind in ("virtual", "builtin", "gmsa") and s.account_password is not None:
            add(("services", i, "accountPassword"), s.account_password,
                f"{kind} accounts (virtual, built-in, gMSA) have no password: Windows manages it; "
                "remove accountPassword")
        if kind == "user" and not problem and (s.account_password is None
                                                or not s.account_password.get_secret_value()):
            add(("services", i, "accountPassword"), MISSING,
                f"account {acct!r} needs accountPassword (a Pulumi secret); or use the default "
                f"virtual account 'NT SERVICE\\{s.name}' or a gMSA 'DOMAIN\\name$'")
        # crash dumps need GOTRACEBACK=wer
        tb = {k.upper(): v for k, v in s.environment.items()}.get("GOTRACEBACK")
        if s.crash_dumps.enabled and tb is not None and tb != "wer":
            add(("services", i, "environment", "GOTRACEBACK"), tb,
                "crash dumps are enabled: GOTRACEBACK must be 'wer' (or unset; winfleet sets it)")
        for k in s.environment:
            if k.upper() == "WINFLEET_SECRETS_FILE":
                add(("services", i, "environment", k), _REDACTED,
                    "WINFLEET_SECRETS_FILE is set by winfleet when services[].secrets is given; remove it")
            if k.upper() in sizing.RESERVED_ENV:
                src = sizing.ENV_SOURCE[k.upper()]
                src = src if src.startswith("winfleet:") else f"services[{i}].{src}"
                add(("services", i, "environment", k), s.environment[k],
                    f"{k} is set by winfleet from {src}; set that instead")
        # the command line the SCM starts: the exe path and ImagePath the WindowsService writes
        from .host.windows_service import image_path
        exe = f"{s.install_dir}\\{s.binary.exe_name}"
        if len(exe) > wf.MAX_FILE_PATH:
            add(("services", i, "installDir"), s.install_dir,
                f"the exe path {exe!r} is {len(exe)} characters; at most {wf.MAX_FILE_PATH} (MAX_PATH): shorten "
                "installDir or binary.exeName")
        problem = wf.command_line_problem(image_path(exe, list(s.arguments)))
        if problem:
            add(("services", i, "arguments"), f"<{len(s.arguments)} arguments>", problem)
        # self dependency
        if s.name.lower() in (d.lower() for d in s.dependencies):
            add(("services", i, "dependencies"), s.dependencies, "a service cannot depend on itself")
        # graceful shutdown covers LB drain
        lb = cfg.load_balancer
        need = cfg.required_preshutdown_seconds
        s._drain_seconds = need
        if s.preshutdown_timeout_seconds < need:
            add(("services", i, "preshutdownTimeoutSeconds"), s.preshutdown_timeout_seconds,
                f"must be >= winfleet:loadBalancer.probeIntervalSeconds x unhealthyThreshold + drainSeconds "
                f"= {lb.probe_interval_seconds} x {lb.unhealthy_threshold} + {lb.drain_seconds} = {need} "
                "so the load balancer stops sending traffic before the service stops")

    # --- uniqueness ----------------------------------------------------------------------------
    def dupes(values: list, loc_of, what: str, norm=lambda x: x):
        seen: dict = {}
        for i, v in enumerate(values):
            key = norm(v)
            if key in seen:
                add(loc_of(i), v, f"duplicate {what}: already used by {key_path(loc_of(seen[key]))}")
            else:
                seen[key] = i

    dupes([s.name for s in svcs], lambda i: ("services", i, "name"), "service name (case-insensitive)",
          str.lower)
    dupes([s.port for s in svcs], lambda i: ("services", i, "port"), "port")
    for i, s in enumerate(svcs):
        if wf.DYNAMIC_PORT_START <= s.port <= wf.DYNAMIC_PORT_END and not s.allow_dynamic_port:
            add(("services", i, "port"), s.port,
                f"is in Windows' default dynamic (ephemeral) port range {wf.DYNAMIC_PORT_START}-{wf.DYNAMIC_PORT_END}, "
                "which the host hands out to outgoing connections, so the service's bind can fail at any restart; "
                f"use a port below {wf.DYNAMIC_PORT_START}, or set winfleet:services[{i}].allowDynamicPort: true if "
                "the hosts' range was moved (ServicePort still checks the host's actual range)")
    dupes([s.binary.exe_name for s in svcs], lambda i: ("services", i, "binary", "exeName"),
          "exe name (WER LocalDumps is keyed by exe name)", lambda x: (x or "").lower())
    # an event source belongs to one program: two services sharing one would delete each other's key
    dupes([s.event_source.source for s in svcs], lambda i: ("services", i, "eventSource", "source"),
          "event source (source names are unique on a computer, whatever the log; case-insensitive)",
          lambda x: (x or "").casefold())
    # paths compare like NTFS names (case-insensitive; windows_facts.path_key)
    dupes([s.install_dir for s in svcs], lambda i: ("services", i, "installDir"),
          "install directory", lambda x: wf.path_key(x or ""))
    dupes([s.logs.directory for s in svcs], lambda i: ("services", i, "logs", "directory"),
          "log directory", lambda x: wf.path_key(x or ""))
    dupes([s.crash_dumps.folder for s in svcs], lambda i: ("services", i, "crashDumps", "folder"),
          "dump folder", lambda x: wf.path_key(x or ""))
    # --- managed folders: no two equal, nested or containing one another -----------------------
    # Each folder gets its own ACE for its service's account and goes with its service; a log folder
    # inside another service's folder, or above an install folder, would hand that account Modify
    # over files that are not its own (its binary included) and be removed with the wrong service.
    folders = []
    for i, s in enumerate(svcs):
        folders += [(("services", i, "installDir"), s.install_dir),
                    (("services", i, "logs", "directory"), s.logs.directory),
                    (("services", i, "crashDumps", "folder"), s.crash_dumps.folder)]
    for loc, val, other_loc, other, how in wf.folder_overlaps(folders):
        add(loc, val, f"{how} {key_path(other_loc)} ({other}): install, log and dump folders of all services "
                      "must be separate (not equal, nested or one above another); use e.g. "
                      f"'{drive}:\\logs\\<service>' and '{drive}:\\dumps\\<service>'")

    # --- dependency cycles among our services ----------------------------------------------------
    names = {s.name.lower(): i for i, s in enumerate(svcs)}
    graph = {s.name.lower(): [d.lower() for d in s.dependencies if d.lower() in names and d.lower() != s.name.lower()]
             for s in svcs}
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> Optional[list[str]]:
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1:
                return stack + [n, m]
            if not state.get(m):
                c = visit(m, stack + [n])
                if c:
                    return c
        state[n] = 2
        return None

    for n in graph:
        if not state.get(n):
            cyc = visit(n, [])
            if cyc:
                i = names[cyc[-2]]
                add(("services", i, "dependencies"), svcs[i].dependencies,
                    "dependency cycle: " + " -> ".join(cyc) + "; the SCM cannot start such services")
                break

    # --- baseline must not disable our own services ------------------------------------------------
    own = {s.name.lower() for s in svcs}
    for j, b in enumerate(cfg.baseline.services):
        if b.lower() in own:
            add(("baseline", "services", j), b, "is one of this stack's Go services; it cannot be disabled")

    # --- mode-specific ----------------------------------------------------------------------------
    if cfg.mode == "azure":
        if cfg.azure is None:
            cfg.azure = AzureConfig()
        az = cfg.azure
        if az.location is None:
            add(("azure", "location"), MISSING,
                "required in azure mode: an Azure region such as 'westeurope' (or set azure-native:location)")
        if not cfg.winrm.allowed_sources:
            add(("winrm", "allowedSources"), [],
                "required in azure mode: the CIDRs allowed to reach WinRM/HTTPS 5986 (your egress IP or VPN range)")
        if cfg.winrm.connect_via == "public" and az.dns_prefix is None:
            add(("azure", "dnsPrefix"), MISSING,
                "required when winfleet:winrm.connectVia is 'public': hosts get '<dnsPrefix>-<host>.<region>."
                "cloudapp.azure.com' and the WinRM certificate is issued for that name")
        if cfg.load_balancer.public and not az.client_sources:
            add(("azure", "clientSources"), [],
                "a public load balancer needs the client CIDRs allowed to the service ports "
                "(or 'Internet' to publish deliberately)")
        vnet, subnet = parse_cidr(az.vnet_address_space), parse_cidr(az.subnet_prefix)
        if not subnet.subnet_of(vnet):
            add(("azure", "subnetPrefix"), az.subnet_prefix, f"must lie inside azure.vnetAddressSpace {vnet}")
        # hosts at .10 upwards, the internal LB frontend at .5 (see components/azure/network.py)
        if subnet.num_addresses - 1 < 10 + az.host_count:
            add(("azure", "subnetPrefix"), az.subnet_prefix,
                f"too small for {az.host_count} hosts (host addresses start at offset 10); use a larger subnet")
        for name in az.host_names():
            if len(name) > wf.COMPUTER_NAME_MAX:
                add(("azure", "hostNamePrefix"), az.host_name_prefix,
                    f"computer name {name!r} exceeds Windows' {wf.COMPUTER_NAME_MAX}-character limit")
                break
        if az.dns_prefix:
            longest = f"{az.dns_prefix}-{az.host_names()[-1]}"
            if len(longest) > 63:
                add(("azure", "dnsPrefix"), az.dns_prefix, f"DNS label {longest!r} exceeds 63 characters")
        if _has_temp_disk(az.vm_size) and drive == "D":
            add(("dataVolume", "driveLetter"), drive,
                f"VM size {az.vm_size} has a local temporary disk that Windows mounts as D:; "
                "use another letter such as 'F' (logs and dumps on D: would be lost)")
        hosts = az.host_count
        # data disk must hold every service's quota
        total = sum(cfg.quota_limit_bytes(s) for s in svcs)
        cap = az.data_disk_size_gb * 1024 ** 3
        if total > cap * 0.9:
            add(("azure", "dataDiskSizeGb"), az.data_disk_size_gb,
                f"too small: the services' quotas (budget x winfleet:quota.headroom {cfg.quota.headroom}) need "
                f"{total / 1024 ** 3:.1f} GiB, which must fit in 90% of the data disk; "
                f"use at least {int(total / 0.9 / 1024 ** 3) + 1}")
    else:
        if not cfg.existing_hosts:
            add(("existingHosts",), [] if "existingHosts" in raw else MISSING,
                "existingHosts mode needs at least one host {name, host, username, password, caPem|caPemFile|certSha256}")
        if cfg.load_balancer.public:
            add(("loadBalancer", "public"), True, "no load balancer is created in existingHosts mode; remove it")
        dupes([h.name for h in cfg.existing_hosts], lambda i: ("existingHosts", i, "name"),
              "host name (case-insensitive)", str.lower)
        dupes([(h.host.lower(), h.port) for h in cfg.existing_hosts], lambda i: ("existingHosts", i, "host"),
              "endpoint host:port")
        for i, h in enumerate(cfg.existing_hosts):
            if h.auth is None:
                h.auth = cfg.winrm.auth
            if h.auth == "basic":
                try:
                    (h.username + h.password.get_secret_value()).encode("latin-1")
                except UnicodeEncodeError:
                    add(("existingHosts", i, "password"), _REDACTED,
                        "auth 'basic' encodes the user name and password as Latin-1 (ISO-8859-1) and this one "
                        "has other characters; use auth 'ntlm' or a Latin-1 password")
            if h.ca_pem_file:
                p = Path(h.ca_pem_file)
                if not p.is_absolute():
                    p = (base_dir or Path.cwd()) / p
                try:
                    text = p.read_text()
                    _check_pem(text)
                    h.ca_pem = text
                except OSError as e:
                    add(("existingHosts", i, "caPemFile"), h.ca_pem_file,
                        f"cannot be read ({e.strerror}); give a PEM file path relative to the project directory")
                except ValueError as e:
                    add(("existingHosts", i, "caPemFile"), h.ca_pem_file, str(e))
            if h.data_disk.size_gb:
                total = sum(cfg.quota_limit_bytes(s) for s in svcs)
                if total > h.data_disk.size_gb * 1024 ** 3 * 0.9:
                    add(("existingHosts", i, "dataDisk", "sizeGb"), h.data_disk.size_gb,
                        f"too small for the services' quotas ({total / 1024 ** 3:.1f} GiB needed within 90%)")
        hosts = len(cfg.existing_hosts)
    if hosts > 1 and cfg.rollout.batch_size >= hosts:
        add(("rollout", "batchSize"), cfg.rollout.batch_size,
            f"must be smaller than the number of hosts ({hosts}) so some hosts keep serving during a rollout")
    if cfg.winrm.auth == "kerberos" and cfg.mode == "azure":
        add(("winrm", "auth"), "kerberos", "Azure VMs created here are not domain-joined; use 'ntlm' (default) or 'basic'")
    return P


def _has_temp_disk(size: str) -> bool:
    """Heuristic from Azure size naming: v2-v4 sizes (except some v4) and any 'd' feature letter have a temp disk."""
    m = re.fullmatch(r"Standard_([A-Za-z]+)(\d+)(-\d+)?([a-z]*)(?:_[A-Za-z0-9]+)*?(?:_v(\d+))?", size)
    if not m:
        return False
    family, feats, version = m.group(1), m.group(4), m.group(5)
    if "d" in feats:
        return True
    if version is None or int(version) <= 3:
        return family.upper() not in ("B",)  # A/D/E/F v1-v3 have temp disks; B-series usually too small to matter
    return False


# =============================================================================================
# Entry points
# =============================================================================================
# =============================================================================================
# The key tree: which config keys exist, which values an error may print, the nearest key
# =============================================================================================
_SCALARS = (str, int, float, bool)


def _unwrap(ann: Any) -> Any:
    """Optional[X] -> X (other unions are left alone)."""
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return ann


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    """camelCase key -> annotation."""
    return {(f.alias or to_camel(name)): f.annotation for name, f in model.model_fields.items()}


def _walk(loc: tuple) -> Optional[tuple[tuple[str, ...], Any]]:
    """A config location -> (its key template, the annotation there), or None for an unknown key.

    Templates write list indexes as "[]" and map keys as "<key>":
    ("services", 0, "environment", "DB") -> ("services", "[]", "environment", "<key>")."""
    ann: Any = WinfleetConfig
    tpl: list[str] = []
    for part in loc:
        ann = _unwrap(ann)
        origin = typing.get_origin(ann)
        if _is_model(ann) and isinstance(part, str):
            fields = _fields(ann)
            if part not in fields:
                return None
            tpl.append(part)
            ann = fields[part]
        elif origin in (list, tuple) and isinstance(part, int):
            tpl.append("[]")
            ann = (typing.get_args(ann) or (Any,))[0]
        elif origin is dict:
            tpl.append("<key>")
            ann = (typing.get_args(ann) or (Any, Any))[-1]
        else:
            return None
    return tuple(tpl), _unwrap(ann)


def _is_plain_scalar(ann: Any) -> bool:
    """A scalar config field whose value an error may print: not a secret, not free-form map data."""
    if ann is SecretStr:
        return False
    if typing.get_origin(ann) is Literal:
        return True
    return isinstance(ann, type) and issubclass(ann, _SCALARS)


def _safe_value(loc: tuple, value: Any) -> Any:
    """Only known non-secret scalar fields print their value; anything else prints its shape.

    Free-form maps (`environment`), unknown keys (a misspelled `pasword`), secrets and whole sections
    never print: a config error must not echo a decrypted secret."""
    if value is MISSING or isinstance(value, _Shape):
        return value
    walked = _walk(tuple(loc))
    if walked is None or "<key>" in walked[0] and walked[0][0] != "eventLogs":
        return _Shape(value)
    _, ann = walked
    if _is_plain_scalar(ann) and (value is None or isinstance(value, _SCALARS)):
        return value
    if typing.get_origin(ann) in (list, tuple) and isinstance(value, list) and \
            _is_plain_scalar(_unwrap((typing.get_args(ann) or (Any,))[0])) and \
            all(isinstance(v, _SCALARS) for v in value) and len(value) <= 20:
        return value
    return _Shape(value)


def _problem(loc: tuple, value: Any, allowed: str) -> Problem:
    return Problem(key_path(loc), _safe_value(loc, value), allowed)


def config_key_templates() -> set[str]:
    """Every config key as a template, e.g. "services[].recovery.actions[].delaySeconds",
    "eventLogs.<key>.maxSizeKb" (used by the tests that check docs and policy remediations name real keys)."""
    out: set[str] = set()

    def visit(prefix: str, ann: Any, depth: int = 0) -> None:
        ann = _unwrap(ann)
        origin = typing.get_origin(ann)
        if depth > 8:
            return
        if _is_model(ann):
            for key, sub in _fields(ann).items():
                path = f"{prefix}.{key}" if prefix else key
                out.add(path)
                visit(path, sub, depth + 1)
        elif origin in (list, tuple):
            visit(prefix + "[]", (typing.get_args(ann) or (Any,))[0], depth + 1)
        elif origin is dict:
            out.add(prefix + ".<key>")
            visit(prefix + ".<key>", (typing.get_args(ann) or (Any, Any))[-1], depth + 1)

    visit("", WinfleetConfig)
    return out


def _nearest_key(loc: tuple) -> Optional[str]:
    """The sibling key closest to an unknown key's spelling (None when nothing is close)."""
    import difflib
    parent = _walk(tuple(loc[:-1]))
    if parent is None or not _is_model(parent[1]):
        return None
    names = list(_fields(parent[1]))
    bad = str(loc[-1])
    folded = {n.lower(): n for n in names}
    if bad.lower() in folded:
        return folded[bad.lower()]
    close = difflib.get_close_matches(bad, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _unknown_key_hint(loc: tuple) -> str:
    near = _nearest_key(loc)
    return ("unknown key; check the spelling (keys are camelCase, see docs/config.md)"
            + (f"; did you mean '{near}'?" if near else ""))


def _pydantic_problems(err: ValidationError, raw: dict) -> list[Problem]:
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if p not in ("__root__",))
        leaf = next((p for p in reversed(loc) if isinstance(p, str)), "")
        value = e.get("input", MISSING)
        if leaf in SECRET_FIELDS or isinstance(value, SecretStr):
            value = _REDACTED
        t, msg = e["type"], e["msg"]
        if t == "missing":
            value, allowed = MISSING, "required"
        elif t == "extra_forbidden":
            allowed = _unknown_key_hint(loc)
        elif t in ("value_error", "assertion_error"):
            allowed = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        else:
            allowed = msg[0].lower() + msg[1:] if msg else t
        out.append(_problem(loc, value, allowed))
    return out


# Where a `secure:` value may be used: each is kept secret end to end (a secret input and output of
# the host resource it reaches). Anywhere else winfleet would write it where it is shown in plain
# text (resource names, the ImagePath command line, event source names ...), so it is refused.
SECURE_ALLOWED = ("services[].environment.<NAME>", "services[].binary.url", "services[].secrets.<NAME>",
                  "services[].accountPassword", "existingHosts[].password")
ALL_NESTED = "*"      # a secure_paths entry (key,) + (ALL_NESTED,): the key holds secrets, where is unknown


def _secure_problems(cfg: "WinfleetConfig", secure_paths, raw: dict) -> list[Problem]:
    P: list[Problem] = []
    for loc in sorted(set(secure_paths or ()), key=lambda t: tuple(map(str, t))):
        loc = tuple(loc)
        if loc and loc[-1] == ALL_NESTED:
            if loc[:1] == ("services",):        # nested paths unknown: every secret-capable value is secret
                for s in cfg.services:
                    s._secure.add(("*",))
            continue
        if len(loc) == 3 and loc[0] == "existingHosts" and loc[2] == "password":
            continue
        if len(loc) >= 3 and loc[0] == "services" and isinstance(loc[1], int) and loc[1] < len(cfg.services):
            rel = loc[2:]
            svc = cfg.services[loc[1]]
            if rel in (("accountPassword",), ("binary", "url")) or (len(rel) == 2 and rel[0] in ("environment", "secrets")):
                svc._secure.add(rel)
                continue
        P.append(Problem(key_path(loc), _REDACTED,
                         "is a secret (secure:), but winfleet would show this value in plain text (resource names, "
                         "the service command line, ...); secrets are accepted only in " + ", ".join(SECURE_ALLOWED)
                         + " (use services[].secrets for values the service reads)"))
    return P


def parse_config(raw: dict, *, base_dir: Optional[Path | str] = None, secure_paths=None) -> WinfleetConfig:
    """Validate a mapping of top-level `winfleet:` keys (without the prefix). Raises ConfigError.

    ``secure_paths``: the locations (tuples of keys/indexes from the top-level key, e.g.
    ``("services", 0, "environment", "DB_URL")``) whose values were `secure:` in the stack config;
    ``(key, ALL_NESTED)`` when a key holds secrets at unknown places. They stay secret end to end."""
    problems: list[Problem] = []
    # Lone surrogates, C1 controls, NUL: refused in every string, keys included, before
    # anything else reads them (windows_facts.text_problem).
    for loc, problem in wf.strings_problems(raw):
        problems.append(_problem(loc, _at(raw, loc), problem))
    if problems:
        raise ConfigError(problems)
    for k in raw:
        if k not in TOP_LEVEL_KEYS:
            near = _nearest_key((k,))
            problems.append(Problem(key_path((k,)), _Shape(raw[k]),
                                    f"unknown key; allowed: {', '.join(TOP_LEVEL_KEYS)}"
                                    + (f"; did you mean '{near}'?" if near else "")))
    data = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS and v is not None}
    # A section for the other target mode is a mistake, not something to validate.
    mode = data.get("mode", "azure")
    other = {"azure": "existingHosts", "existingHosts": "azure"}.get(mode) if isinstance(mode, str) else None
    if other and other in data:
        problems.append(Problem(key_path((other,)), "[...]" if other == "existingHosts" else "{...}",
                                f"only used when winfleet:mode is '{other}' (mode is '{mode}'); remove it"))
        del data[other]
    base = Path(base_dir) if base_dir else None
    try:
        cfg = WinfleetConfig.model_validate(data)
    except ValidationError as e:
        problems += _pydantic_problems(e, raw)
        # Cross-key problems in the same round: validate again without the keys that failed (their
        # defaults stand in) and report what the cross-key rules find elsewhere.
        repaired = _without_failed_keys(data, e)
        if repaired is not None:
            partial, original_path = repaired
            seen = {p.path for p in problems}
            for p in _semantic_problems(partial, raw, base):
                p = Problem(original_path(p.path), p.value, p.allowed)
                if p.path not in seen and not any(p.path.startswith(s_ + ".") or p.path.startswith(s_ + "[")
                                                  for s_ in seen):
                    problems.append(p)
        raise ConfigError(_hide_secure(problems, secure_paths)) from None
    problems += _semantic_problems(cfg, raw, base)
    problems += _secure_problems(cfg, secure_paths, raw)
    if problems:
        raise ConfigError(_hide_secure(problems, secure_paths))
    return cfg


def _without_failed_keys(data: dict, err: ValidationError, rounds: int = 3):
    """(the config validated without what failed, a function mapping its key paths back to the input's),
    or None. A failing key is removed so its default applies; a list element still failing after that
    (a required key missing or bad) is dropped, and the indexes of its siblings are mapped back."""
    import copy
    trial = copy.deepcopy(data)
    kept = {k: list(range(len(v))) for k, v in trial.items() if isinstance(v, list)}
    for attempt in range(rounds + 1):
        drop: dict[str, set[int]] = {}
        for e in err.errors(include_url=False):
            loc = [p for p in e["loc"] if p != "__root__"]
            if attempt >= 1 and len(loc) >= 2 and loc[0] in kept and isinstance(loc[1], int):
                drop.setdefault(loc[0], set()).add(loc[1])
                continue
            parent: Any = trial
            for part in loc[:-1]:
                try:
                    parent = parent[part]
                except (KeyError, IndexError, TypeError):
                    parent = None
                    break
            if isinstance(parent, dict) and loc and loc[-1] in parent:
                del parent[loc[-1]]
        for key, idxs in drop.items():
            trial[key] = [v for i, v in enumerate(trial[key]) if i not in idxs]
            kept[key] = [orig for i, orig in enumerate(kept[key]) if i not in idxs]
        try:
            cfg = WinfleetConfig.model_validate(trial)
        except ValidationError as again:
            err = again
            continue

        def original_path(path: str) -> str:
            m = re.match(r"^(winfleet:)(\w+)\[(\d+)\]", path)
            if m and m.group(2) in kept and int(m.group(3)) < len(kept[m.group(2)]):
                return f"{m.group(1)}{m.group(2)}[{kept[m.group(2)][int(m.group(3))]}]" + path[m.end():]
            return path
        return cfg, original_path
    return None


def _hide_secure(problems: list[Problem], secure_paths) -> list[Problem]:
    """Problems at (or above) a `secure:` value never show the value."""
    keys = [key_path(tuple(p for p in loc if p != ALL_NESTED)) for loc in (secure_paths or ())]
    out = []
    for p in problems:
        if any(p.path == k or p.path.startswith(k + ".") or p.path.startswith(k + "[") or k.startswith(p.path)
               for k in keys):
            p = Problem(p.path, _REDACTED, p.allowed)
        out.append(p)
    return out


def _at(value: Any, loc: tuple) -> Any:
    for part in loc:
        value = value[part]
    return value


def _coerce(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def namespace_problems(keys) -> list[Problem]:
    """Keys in a namespace that is a misspelling of `winfleet` (`winfleeet:services`, `Winfleet:mode`):
    refused, not ignored, since every key in it would silently fall back to its default."""
    import difflib
    out = []
    for full in sorted(k for k in keys if isinstance(k, str) and ":" in k):
        ns, key = full.split(":", 1)
        if ns != NAMESPACE and (ns.lower() == NAMESPACE or
                                difflib.SequenceMatcher(None, ns.lower(), NAMESPACE).ratio() >= 0.8):
            out.append(Problem(full, MISSING, f"unknown namespace '{ns}'; did you mean '{NAMESPACE}:{key}'?"))
    return out


def _with_namespace_problems(keys, parse) -> WinfleetConfig:
    extra = namespace_problems(keys)
    try:
        cfg = parse()
    except ConfigError as e:
        raise ConfigError(extra + e.problems) from None
    if extra:
        raise ConfigError(extra)
    return cfg


def load_config() -> WinfleetConfig:
    """Read every `winfleet:*` key of the running stack (pulumi.Config) and validate it."""
    from pulumi.runtime import config as rcfg
    keys = set(rcfg.CONFIG.get().keys()) | set(rcfg.get_config_env().keys())
    return _with_namespace_problems(keys, lambda: _load_running_config(keys))


def _load_running_config(keys: set) -> WinfleetConfig:
    from pulumi.runtime import config as rcfg
    cfg = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    secret_keys = set(rcfg.get_config_secret_keys_env()) | {k for k in keys if rcfg.is_config_secret(k)}
    secure_paths: set[tuple] = set()
    stack_file = _stack_file_secure_paths()
    for full in sorted(keys):
        if full.startswith(NAMESPACE + ":"):
            short = full.split(":", 1)[1]
            # pulumi.Config marks secrets per top-level key ("winfleet:services" as a whole) and
            # Config.get returns the decrypted value without the flag: this is where a nested secret
            # loses it. The stack file says which nested values are `secure:`; without it, every
            # secret-capable value under the key is treated as secret.
            raw[short] = _coerce(cfg.get(short))
            if full in secret_keys:
                nested = stack_file.get(short) if stack_file is not None else None
                if nested:
                    secure_paths |= nested
                elif isinstance(raw[short], (dict, list)):
                    secure_paths.add((short, ALL_NESTED))
                else:
                    secure_paths.add((short,))
    if "azure" in raw or raw.get("mode", "azure") == "azure":
        loc = pulumi.Config("azure-native").get("location")
        if loc:
            az = raw.get("azure") if isinstance(raw.get("azure"), dict) else ({} if "azure" not in raw else raw["azure"])
            if isinstance(az, dict) and "location" not in az:
                raw["azure"] = {**az, "location": loc}
    return parse_config(raw, base_dir=Path.cwd(), secure_paths=secure_paths)


def _secure_locations(value: Any, loc: tuple) -> set[tuple]:
    """The locations of `{secure: ...}` values in a stack file's config value."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return {loc}
        return set().union(*[_secure_locations(v, loc + (k,)) for k, v in value.items()]) if value else set()
    if isinstance(value, list):
        return set().union(*[_secure_locations(v, loc + (i,)) for i, v in enumerate(value)]) if value else set()
    return set()


def _stack_file_secure_paths() -> Optional[dict[str, set[tuple]]]:
    """short key -> secure locations, from ``Pulumi.<stack>.yaml`` in the project directory (None when
    it cannot be read: then secret keys count as secret throughout)."""
    try:
        doc = load_stack_yaml((Path.cwd() / f"Pulumi.{pulumi.get_stack()}.yaml").read_text(encoding="utf-8")) or {}
    except Exception:  # noqa: BLE001 - no stack file (config from an ESC environment, tests)
        return None
    out: dict[str, set[tuple]] = {}
    for full, value in ((doc or {}).get("config") or {}).items():
        if isinstance(full, str) and full.startswith(NAMESPACE + ":"):
            short = full.split(":", 1)[1]
            out[short] = _secure_locations(value, (short,))
    return out


def load_config_file(path: str | os.PathLike, *, secrets: Optional[dict[str, str]] = None,
                     secret_placeholder: Optional[str] = None,
                     base_dir: Optional[str | os.PathLike] = None) -> WinfleetConfig:
    """Read the `config:` section of a Pulumi.<stack>.yaml (keys `winfleet:<key>`).

    Encrypted values (`{secure: ...}`) cannot be decrypted without the Pulumi CLI. Each is replaced by
    ``secrets[<key path>]`` (key paths as in error messages, e.g. "winfleet:existingHosts[0].password"),
    else by ``secret_placeholder`` if given; otherwise it is reported as a problem. Relative paths
    (``existingHosts[].caPemFile``) resolve against ``base_dir`` (default: the file's directory).
    """
    p = Path(path)
    try:
        doc = load_stack_yaml(p.read_text(encoding="utf-8")) or {}
    except StackFileError as e:
        raise ConfigError([Problem(str(p), MISSING, str(e))]) from None
    section = doc.get("config") or {}
    if not isinstance(section, dict):
        raise ConfigError([Problem(f"{p}: config", _Shape(section), "the `config:` section must be a map")])
    return _with_namespace_problems(section.keys(), lambda: _parse_stack_section(
        p, section, secrets=secrets, secret_placeholder=secret_placeholder, base_dir=base_dir))


def _parse_stack_section(p: Path, section: dict, *, secrets, secret_placeholder, base_dir) -> WinfleetConfig:
    problems: list[Problem] = []
    secrets = secrets or {}
    secure_paths: set[tuple] = set()

    def subst(value: Any, loc: tuple) -> Any:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                secure_paths.add(loc)
                kp = key_path(loc)
                if kp in secrets:
                    return secrets[kp]
                if secret_placeholder is not None:
                    return secret_placeholder
                problems.append(Problem(kp, _REDACTED,
                                        "is Pulumi-encrypted and cannot be decrypted without the CLI; pass "
                                        "secrets={key path: value} or secret_placeholder= to load_config_file"))
                return "<encrypted>"
            return {k: subst(v, loc + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [subst(v, loc + (i,)) for i, v in enumerate(value)]
        return value

    raw: dict[str, Any] = {}
    for full, value in section.items():
        if isinstance(full, str) and full.startswith(NAMESPACE + ":"):
            short = full.split(":", 1)[1]
            raw[short] = subst(value, (short,))
    loc = section.get("azure-native:location")
    if loc and raw.get("mode", "azure") == "azure":
        az = raw.get("azure") or {}
        if isinstance(az, dict) and "location" not in az:
            raw["azure"] = {**az, "location": loc}
    base = Path(base_dir) if base_dir is not None else p.parent
    if problems:
        try:
            parse_config(raw, base_dir=base, secure_paths=secure_paths)
        except ConfigError as e:
            problems += e.problems
        raise ConfigError(problems)
    return parse_config(raw, base_dir=base, secure_paths=secure_paths)


# =============================================================================================
# Stack files, loaded strictly
# =============================================================================================
class StackFileError(ValueError):
    """A stack file that cannot be read safely (duplicate keys, alias bombs, not YAML)."""


MAX_STACK_NODES = 100_000   # nodes after expanding aliases; a real stack file has a few thousand


def load_stack_yaml(text: str) -> Any:
    """Parse a Pulumi.<stack>.yaml the way the Pulumi CLI (go-yaml v3, YAML 1.2) reads it, strictly.

    * duplicate keys are refused (PyYAML keeps the last one silently);
    * integers follow YAML 1.2's core schema: `017700` is 17700, octal is `0o17700`, `1_000` and
      `yes`/`on` are strings (PyYAML applies YAML 1.1: `017700` would be 8128);
    * aliases are counted as expanded: more than MAX_STACK_NODES nodes is refused (a 1 KB
      "billion laughs" file would otherwise take seconds and hundreds of MB to validate and print).
    """
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    # YAML 1.2 core schema resolvers (https://yaml.org/spec/1.2.2/#1032-tag-resolution) instead of 1.1's.
    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                                                      "tag:yaml.org,2002:float")]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)\Z"),
                                 list("tTfF"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z"),
                                 list("-+0123456789"))
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                   r"|\.(?:nan|NaN|NAN))\Z"), list("-+.0123456789"))

    def construct_int(loader, node):
        v = loader.construct_scalar(node)
        if v.startswith("0o"):
            return int(v[2:], 8)
        if v.startswith("0x"):
            return int(v[2:], 16)
        return int(v, 10)

    def construct_map(loader, node, deep=False):
        loader.flatten_mapping(node)
        out = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in out:
                raise StackFileError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r} "
                                     "(YAML allows each key once; the Pulumi CLI refuses the file)")
            out[key] = loader.construct_object(value_node, deep=deep)
        return out

    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor("tag:yaml.org,2002:map", construct_map)

    try:
        loader = Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _count_nodes(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except StackFileError:
        raise
    except yaml.YAMLError as e:
        raise StackFileError(f"not valid YAML: {str(e)[:300]}") from None


def _count_nodes(root) -> int:
    """Nodes in the document with aliases expanded, counted without expanding (memoised by node)."""
    import yaml
    memo: dict[int, int] = {}

    def count(node, depth: int) -> int:
        if depth > 200:
            raise StackFileError("nesting deeper than 200 levels")
        key = id(node)
        if key in memo:
            return memo[key]
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(count(c, depth + 1) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(count(k, depth + 1) + count(v, depth + 1) for k, v in node.value)
        memo[key] = n
        if n > MAX_STACK_NODES:
            raise StackFileError(f"the document expands to more than {MAX_STACK_NODES:,} nodes "
                                 "(aliases repeated into an alias bomb?); refused")
        return n

    return count(root, 0)


def plaintext_secret_paths(section: dict) -> list[str]:
    """Key paths of secret fields (SECRET_FIELDS, and every value under a `secrets` map) whose value in a
    stack file's `config:` section is not `{secure: ...}`: a password committed in plain text."""
    out: list[str] = []

    def walk(value: Any, loc: tuple, secret: bool) -> None:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                return
            for k, v in value.items():
                walk(v, loc + (k,), secret or k in SECRET_FIELDS or k == "secrets")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, loc + (i,), secret)
        elif secret and value not in (None, ""):
            out.append(key_path(loc))

    for full, value in section.items():
        if isinstance(full, str) and full.startswith(NAMESPACE + ":"):
            short = full.split(":", 1)[1]
            walk(value, (short,), short in SECRET_FIELDS)
    return out

"""Pure sizing and composition rules for a Go service on a Windows host.

Everything here is plain Python with no Pulumi and no I/O, so it is unit-tested directly
(tests/unit/test_sizing.py) and reused by `GoService`, the config validation and the policy pack.

* Log budget: the Go program rotates its own logs; we hand it the directory, the maximum file size
  and the number of files through its environment, and the pack sizes the disk budget from them.
* Quota: the NTFS quota of the service account on the data volume covers the log budget plus the
  crash dumps, times a headroom factor, and is never smaller than that budget.
* Pre-shutdown: the load balancer needs `probe interval x unhealthy threshold` seconds to notice that a
  host went away; the service must keep serving (draining) at least that long plus a drain allowance,
  so the balancer stops routing to a host before its service stops.
* Environment: the service's `Environment` (REG_MULTI_SZ) = the user's variables + the log settings
  + `GOTRACEBACK` (`wer` when crash dumps are on: Go >= 1.21 only lets WER see the crash then).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

MIB = 1024 * 1024

# Environment variables through which the Go program receives its log settings. The program rotates
# its files itself; these names are the contract between winfleet and the Go services it runs.
ENV_LOG_DIR = "WINFLEET_LOG_DIR"
ENV_LOG_MAX_SIZE = "WINFLEET_LOG_MAX_SIZE_BYTES"
ENV_LOG_MAX_FILES = "WINFLEET_LOG_MAX_FILES"
ENV_GOTRACEBACK = "GOTRACEBACK"
# ... and its HTTP side and stop behaviour (docs/writing-a-go-service.md), so it needs no other configuration.
ENV_PORT = "WINFLEET_PORT"
ENV_HEALTH_PATH = "WINFLEET_HEALTH_PATH"
ENV_READINESS_PATH = "WINFLEET_READINESS_PATH"
ENV_DRAIN_SECONDS = "WINFLEET_DRAIN_SECONDS"
ENV_EVENT_SOURCE = "WINFLEET_EVENT_SOURCE"
# what each winfleet-owned variable is set from (the config key to change instead)
ENV_SOURCE = {ENV_LOG_DIR: "logs.directory", ENV_LOG_MAX_SIZE: "logs.maxFileSizeMb", ENV_LOG_MAX_FILES: "logs.maxFiles",
              ENV_PORT: "port", ENV_HEALTH_PATH: "healthPath", ENV_READINESS_PATH: "readinessPath",
              ENV_DRAIN_SECONDS: "winfleet:loadBalancer (probeIntervalSeconds x unhealthyThreshold + drainSeconds)",
              ENV_EVENT_SOURCE: "eventSource.source"}
RESERVED_ENV = tuple(ENV_SOURCE)

# WER LocalDumps DumpType (MS "Collecting User-Mode Dumps"): 1 mini, 2 full.
DUMP_TYPES = ("mini", "full")


class SizingError(ValueError):
    """A sizing rule cannot be satisfied; the message names the setting and the fix."""


def log_budget_bytes(max_size_bytes: int, max_files: int) -> int:
    """Disk the Go program's own log rotation may use: max file size x number of files kept."""
    if int(max_size_bytes) <= 0:
        raise SizingError(f"log maxSizeBytes must be > 0, got {max_size_bytes}")
    if int(max_files) <= 0:
        raise SizingError(f"log maxFiles must be > 0, got {max_files}")
    return int(max_size_bytes) * int(max_files)


def dump_budget_bytes(enabled: bool, dump_count: int, dump_size_bytes: int) -> int:
    """Disk WER LocalDumps may use in the service's dump folder (it keeps `dump_count` dumps)."""
    if not enabled:
        return 0
    if int(dump_count) <= 0:
        raise SizingError(f"crash dump count must be > 0 when dumps are on, got {dump_count}")
    if int(dump_size_bytes) <= 0:
        raise SizingError(f"crash dump size estimate must be > 0 bytes, got {dump_size_bytes}")
    return int(dump_count) * int(dump_size_bytes)


@dataclass(frozen=True)
class QuotaSizing:
    budget_bytes: int   # logs + dumps: what the service is expected to use at most
    warning_bytes: int  # quota warning threshold (an event when crossed): the budget, or a % of the limit
    limit_bytes: int    # quota limit: budget x headroom, never below the budget

    def as_inputs(self) -> dict:
        return {"budgetBytes": self.budget_bytes, "warningBytes": self.warning_bytes,
                "limitBytes": self.limit_bytes}


def quota_sizing(log_budget: int, dump_budget: int, headroom: float,
                 warning_percent: int | None = None) -> QuotaSizing:
    """NTFS quota for the service account: (logs + dumps) x headroom, never below the budget.

    Same rule as `WinfleetConfig.quota_limit_bytes` (which the config validation uses to check the data
    disk is big enough), rounded up instead of down so float error can never put the limit under
    the budget. The warning threshold is the budget itself (a service past its planned budget is
    misbehaving: rotation broken or dumps piling up — worth an event before the limit bites), or
    `warning_percent` of the limit when given.
    """
    if log_budget < 0 or dump_budget < 0:
        raise SizingError("budgets cannot be negative")
    if isinstance(headroom, bool) or not isinstance(headroom, (int, float)) or math.isnan(headroom) or headroom < 1.0:
        raise SizingError(f"quota headroom must be a number >= 1.0 (1.0 = exactly the budget), got {headroom!r}")
    if warning_percent is not None and (isinstance(warning_percent, bool) or not isinstance(warning_percent, int)
                                        or not 1 <= warning_percent <= 100):
        raise SizingError(f"quota warning percent must be an integer 1..100, got {warning_percent!r}")
    budget = int(log_budget) + int(dump_budget)
    if budget <= 0:
        raise SizingError("the log + dump budget must be > 0 bytes")
    limit = max(budget, math.ceil(budget * float(headroom)))
    warning = budget if warning_percent is None else max(1, limit * warning_percent // 100)
    return QuotaSizing(budget_bytes=budget, warning_bytes=warning, limit_bytes=limit)


def lb_detection_seconds(probe_interval_seconds: int, unhealthy_threshold: int) -> int:
    """Worst-case time for the load balancer to mark a host down: interval x threshold."""
    if int(probe_interval_seconds) <= 0 or int(unhealthy_threshold) <= 0:
        raise SizingError("probe interval and unhealthy threshold must be > 0")
    return int(probe_interval_seconds) * int(unhealthy_threshold)


def required_preshutdown_seconds(probe_interval_seconds: int, unhealthy_threshold: int,
                                 drain_seconds: int) -> int:
    """Minimum pre-shutdown timeout: LB detection time + the drain allowance."""
    if int(drain_seconds) < 0:
        raise SizingError(f"drain allowance must be >= 0 seconds, got {drain_seconds}")
    return lb_detection_seconds(probe_interval_seconds, unhealthy_threshold) + int(drain_seconds)


def preshutdown_problem(service: str, preshutdown_seconds: int, probe_interval_seconds: int,
                        unhealthy_threshold: int, drain_seconds: int) -> str | None:
    """A message when the pre-shutdown timeout is too short for the balancer to drain the host."""
    need = required_preshutdown_seconds(probe_interval_seconds, unhealthy_threshold, drain_seconds)
    if int(preshutdown_seconds) >= need:
        return None
    detect = lb_detection_seconds(probe_interval_seconds, unhealthy_threshold)
    return (f"service {service!r}: preshutdownTimeoutSeconds={preshutdown_seconds} is shorter than the load "
            f"balancer's detection time ({probe_interval_seconds}s probe interval x {unhealthy_threshold} "
            f"unhealthy threshold = {detect}s) plus the drain allowance ({drain_seconds}s); the service would stop "
            f"while the balancer still routes to it. Set it to at least {need}.")


def _ci_lookup(env: Mapping[str, str], name: str) -> str | None:
    """Windows environment names are case-insensitive."""
    for key, value in env.items():
        if key.upper() == name.upper():
            return key
    return None


def service_environment(user_env: Mapping[str, str] | None, *, log_dir: str, log_max_size_bytes: int,
                        log_max_files: int, dumps_enabled: bool, service: str = "service",
                        port: int | None = None, health_path: str | None = None, readiness_path: str | None = None,
                        drain_seconds: int | None = None, event_source: str | None = None) -> dict[str, str]:
    """The Go service's environment: user variables + log settings + HTTP settings + GOTRACEBACK.

    The HTTP side (WINFLEET_PORT, _HEALTH_PATH, _READINESS_PATH), the drain time (WINFLEET_DRAIN_SECONDS:
    how long the service keeps serving after a stop request, = the load balancer's detection time + the
    drain allowance, the same figure the pre-shutdown timeout must cover) and the event source are set
    when given (None: left out).

    Rules: names are non-empty without '=' or NUL, values have no NUL (REG_MULTI_SZ); the log
    variables are owned by winfleet (a user value that disagrees is an error, not silently replaced);
    with crash dumps on, GOTRACEBACK must be `wer` (anything else means no dump); with dumps off the
    default is `all` (full goroutine traces on stderr) unless the user chose a value.
    """
    env: dict[str, str] = {}
    for key, value in (user_env or {}).items():
        if not isinstance(key, str) or not key or "=" in key or "\0" in key:
            raise SizingError(f"service {service!r}: environment name {key!r} must be non-empty without '=' or NUL")
        if not isinstance(value, str) or "\0" in value:
            raise SizingError(f"service {service!r}: environment value of {key} must be a string without NUL")
        if _ci_lookup(env, key) is not None:
            raise SizingError(f"service {service!r}: environment name {key} appears twice (names are case-insensitive)")
        env[key] = value
    owned = {ENV_LOG_DIR: str(log_dir), ENV_LOG_MAX_SIZE: str(int(log_max_size_bytes)),
             ENV_LOG_MAX_FILES: str(int(log_max_files))}
    for name, value in ((ENV_PORT, port), (ENV_HEALTH_PATH, health_path), (ENV_READINESS_PATH, readiness_path),
                        (ENV_DRAIN_SECONDS, drain_seconds), (ENV_EVENT_SOURCE, event_source)):
        if value is not None:
            owned[name] = str(int(value)) if name in (ENV_PORT, ENV_DRAIN_SECONDS) else str(value)
    for name, value in owned.items():
        existing = _ci_lookup(env, name)
        if existing is not None and env[existing] != value:
            what = "log settings" if name.startswith("WINFLEET_LOG_") else "service settings"
            raise SizingError(f"service {service!r}: environment {existing}={env[existing]!r} conflicts with the "
                              f"{what} ({name}={value!r}); set {ENV_SOURCE[name]} instead")
        if existing is not None:
            del env[existing]
        env[name] = value
    tb_key = _ci_lookup(env, ENV_GOTRACEBACK)
    if dumps_enabled:
        if tb_key is not None and env[tb_key].lower() != "wer":
            raise SizingError(f"service {service!r}: crash dumps are on but environment {tb_key}={env[tb_key]!r}; "
                              "Go only lets Windows Error Reporting write a dump with GOTRACEBACK=wer (Go >= 1.21)")
        if tb_key is not None:
            del env[tb_key]
        env[ENV_GOTRACEBACK] = "wer"
    elif tb_key is None:
        env[ENV_GOTRACEBACK] = "all"
    return dict(sorted(env.items(), key=lambda kv: kv[0].upper()))


def readiness_poll_seconds(timeout_seconds: float) -> float:
    """How often the readiness gate polls: every 2 s, but at least 4 polls within the timeout
    (never below 0.25 s), so a short timeout still gets several chances and is never exceeded."""
    if float(timeout_seconds) <= 0:
        raise SizingError(f"readiness timeout must be > 0 seconds, got {timeout_seconds}")
    return max(0.25, min(2.0, float(timeout_seconds) / 4))


def rollout_batches(hosts: list[str], batch_size: int) -> list[list[str]]:
    """Split hosts (in declaration order) into roll-out batches of `batch_size`."""
    if int(batch_size) <= 0:
        raise SizingError(f"rollout batch size must be >= 1, got {batch_size}")
    return [list(hosts[i:i + int(batch_size)]) for i in range(0, len(hosts), int(batch_size))]

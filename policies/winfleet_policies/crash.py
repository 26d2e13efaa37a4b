"""Crash supervision: SCM restarts a failed Go service, and a crash leaves a dump."""
from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, Severity, StackValidationArgs, StackValidationPolicy)

from . import common as C
from . import props as P
from . import types as T
from .logs import exe_name

# ------------------------------------------------------------------ service-crash-recovery


def validate_crash_recovery(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.WINDOWS_SERVICE:
        return
    max_delay = P.config_num(args, "maxFirstRestartDelaySeconds", 60)
    props = args.props
    name = C.service_label(props, args.name)
    recovery = P.get(props, "recovery")
    if P.is_unknown(recovery):
        return
    actions = P.items(P.get(props, "recovery.actions", []))
    if actions is P.UNKNOWN or any(a is P.UNKNOWN for a in actions):
        return
    kinds = [str(P.get(a, "action", "")).lower() for a in actions if isinstance(a, Mapping)]
    if not kinds:
        report(f"service '{name}' has no recovery actions: when it crashes it stays stopped until someone "
               "notices. Set recovery.actions (e.g. restart after 5 s, 10 s, 60 s).")
        return
    if "restart" not in kinds:
        report(f"service '{name}': recovery.actions {kinds} never restart the service.")
    else:
        first = actions[kinds.index("restart")]
        delay = P.num(P.get(first, "delaySeconds"), 0)
        if isinstance(delay, (int, float)) and delay > max_delay:
            report(f"service '{name}': the first restart waits {delay}s (more than {max_delay}s).")
    flag = P.get(props, "recovery.failureActionsOnNonCrash")
    if not P.is_unknown(flag) and P.truthy(flag) is not True:
        report(f"service '{name}': recovery.failureActionsOnNonCrash is not true. A Go service that returns an "
               "error from Execute stops with a non-zero exit code, which SCM does not treat as a crash: without "
               "the flag it is never restarted.")
    reset = P.num(P.get(props, "recovery.resetPeriodSeconds"))
    if reset is not P.UNKNOWN and (not isinstance(reset, (int, float)) or reset <= 0):
        report(f"service '{name}': recovery.resetPeriodSeconds must be > 0 so the failure count resets after a "
               "quiet period (e.g. 86400).")


service_crash_recovery = ResourceValidationPolicy(
    name="service-crash-recovery",
    description="Every service has SCM recovery actions that restart it, including on non-crash failures.",
    validate=validate_crash_recovery,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Set `winfleet:services[].recovery` = {actions: [restart 5 s, restart 10 s, restart 60 s], "
                      "resetPeriodSeconds: 86400, failureActionsOnNonCrash: true} (keys "
                      "`winfleet:services[].recovery.actions`, `winfleet:services[].recovery.resetPeriodSeconds`, "
                      "`winfleet:services[].recovery.failureActionsOnNonCrash`).",
    config_schema=PolicyConfigSchema(properties={
        "maxFirstRestartDelaySeconds": {"type": "integer", "minimum": 0, "default": 60},
    }),
)

# ------------------------------------------------------------------ crash-dumps-gotraceback


def _env_value(props, key: str):
    env = P.get(props, "environment", {})
    if P.is_unknown(env):
        return P.UNKNOWN
    for k in P.mapping(env):
        if str(k).upper() == key.upper():
            return P.get(env, [k])
    return None


def validate_dumps_traceback(args: StackValidationArgs, report: ReportViolation) -> None:
    services = C.of_type(args.resources, T.WINDOWS_SERVICE)
    for d in C.of_type(args.resources, T.CRASH_DUMPS):
        host = C.host_label(d)
        exe = P.get(d.props, "exeName")
        account = P.norm_account(P.get(d.props, "account"))
        if C.host_keys(d) is P.UNKNOWN or P.is_unknown(exe) or P.is_unknown(account):
            continue
        if any(C.host_keys(svc) is P.UNKNOWN for svc in services):
            continue  # the matching service may be one whose host can't be known during preview
        count = P.num(P.get(d.props, "dumpCount"))
        if isinstance(count, (int, float)) and count <= 0:
            report(f"crash dumps '{d.name}': dumpCount={count} keeps no dump.", d.urn)
        matched = []
        for svc in services:
            if not C.same_host(svc, d):
                continue
            s_exe = exe_name(svc.props)
            s_acc = P.norm_account(P.get(svc.props, "account"))
            if (isinstance(exe, str) and s_exe == exe.lower()) or (isinstance(account, str) and s_acc == account):
                matched.append(svc)
        if not matched:
            report(f"crash dumps '{d.name}' for {exe!r} on {host}: no service on that host runs this executable.",
                   d.urn)
            continue
        for svc in matched:
            tb = _env_value(svc.props, "GOTRACEBACK")
            if P.is_unknown(tb):
                continue
            if not isinstance(tb, str) or tb.strip().lower() != "wer":
                report(f"service '{C.service_label(svc.props, svc.name)}' has crash dumps enabled but "
                       f"GOTRACEBACK={tb!r}: Go (>= 1.21) lets Windows Error Reporting write a dump only with "
                       "GOTRACEBACK=wer; otherwise the dump folder stays empty.", svc.urn)


crash_dumps_gotraceback = StackValidationPolicy(
    name="crash-dumps-gotraceback",
    description="When crash dumps are enabled for a service, its environment sets GOTRACEBACK=wer.",
    validate=validate_dumps_traceback,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Set `winfleet:services[].crashDumps.enabled: true` (winfleet then sets `GOTRACEBACK=wer` in the "
                      "service environment), and do not override GOTRACEBACK in `winfleet:services[].environment`.",
)

POLICIES = [service_crash_recovery, crash_dumps_gotraceback]

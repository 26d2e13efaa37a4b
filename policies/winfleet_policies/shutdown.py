"""Graceful shutdown: a service keeps serving until the load balancer has stopped routing to it."""
from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, Severity, StackValidationArgs, StackValidationPolicy)

from . import common as C
from . import facts as F
from . import props as P
from . import types as T

DEFAULT_DRAIN_SECONDS = 15  # = winfleet:loadBalancer.drainSeconds default


def validate_graceful_shutdown(args: StackValidationArgs, report: ReportViolation) -> None:
    drain = P.config_num(args, "drainSeconds", DEFAULT_DRAIN_SECONDS)
    default_preshutdown = P.config_num(args, "defaultPreshutdownSeconds", F.DEFAULT_PRESHUTDOWN_SECONDS)
    endpoints = C.lb_endpoints(args.resources)
    for svc in C.of_type(args.resources, T.WINDOWS_SERVICE):
        props = svc.props
        name = C.service_label(props, svc.name)
        port = P.num(P.get(props, "port"))
        if not isinstance(port, int):
            continue
        pre = P.num(P.get(props, "preshutdownTimeoutSeconds"))
        if pre is P.UNKNOWN:
            continue
        declared = pre is not None
        if pre is None:
            pre = default_preshutdown
        for lb, rule, probe, bport in endpoints:
            if bport != port or probe is None or probe is P.UNKNOWN:
                continue
            interval, threshold = C.probe_timing(probe, F.AZURE_PROBE_DEFAULT_INTERVAL, F.AZURE_PROBE_DEFAULT_THRESHOLD)
            if not isinstance(interval, (int, float)) or not isinstance(threshold, (int, float)):
                continue
            need = F.required_preshutdown_seconds(interval, threshold, drain)
            if pre < need:
                what = (f"preshutdownTimeoutSeconds={pre}" if declared
                        else f"no preshutdownTimeoutSeconds (Windows default {pre}s)")
                report(f"service '{name}': {what} is shorter than the load balancer's detection time "
                       f"({interval}s interval x {threshold} threshold = {interval * threshold}s, probe "
                       f"'{P.get(probe, 'name') or '?'}') plus the drain allowance ({drain}s): on shutdown the "
                       f"service stops while the balancer still routes to it. Set it to at least {need}.", svc.urn)
                break


graceful_shutdown_budget = StackValidationPolicy(
    name="graceful-shutdown-budget",
    description="Each service's pre-shutdown timeout covers the load balancer's probe detection time "
                "(interval x threshold) plus the drain allowance.",
    validate=validate_graceful_shutdown,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Raise `winfleet:services[].preshutdownTimeoutSeconds` to at least "
                      "`winfleet:loadBalancer.probeIntervalSeconds` x `winfleet:loadBalancer.unhealthyThreshold` + "
                      "`winfleet:loadBalancer.drainSeconds`, or probe more often; the Go service must accept PreShutdown, fail its "
                      "readiness endpoint at once and keep serving until the timeout.",
    config_schema=PolicyConfigSchema(properties={
        "drainSeconds": {"type": "integer", "minimum": 0, "default": DEFAULT_DRAIN_SECONDS},
        "defaultPreshutdownSeconds": {"type": "integer", "minimum": 0, "default": F.DEFAULT_PRESHUTDOWN_SECONDS},
    }),
)

# ------------------------------------------------------------------ service-stop-contract
# What the pack can see of the Go service's contract: the inputs. Whether the program accepts PreShutdown
# and answers 503 before it exits can only be seen on the host, after a start: the WindowsService driver
# checks those (preshutdownCheck, state.drain). Here: the environment tells the program the same port,
# paths and drain time the gate and the SCM use, and the drain fits the pre-shutdown timeout.
_ENV_INPUT = (("WINFLEET_PORT", "port"), ("WINFLEET_HEALTH_PATH", "healthPath"),
              ("WINFLEET_READINESS_PATH", "readinessPath"))


def validate_stop_contract(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.WINDOWS_SERVICE:
        return
    props = args.props
    name = C.service_label(props, args.name)
    env = P.get(props, "environment")
    if P.is_unknown(env) or not isinstance(env, Mapping):
        return
    upper = {str(k).upper(): k for k in env}
    for var, key in _ENV_INPUT:
        if var not in upper:
            continue
        have, want = P.get(env, upper[var]), P.get(props, key)
        if P.is_unknown(have) or P.is_unknown(want) or want is None:
            continue
        if str(P.num(have, have)) != str(P.num(want, want)):
            report(f"service '{name}': environment {var}={have} but {key} is {want}: the program would serve "
                   f"elsewhere than the readiness gate and the load balancer probe look. Let winfleet set {var}.")
    if "WINFLEET_DRAIN_SECONDS" in upper:
        drain = P.num(P.get(env, upper["WINFLEET_DRAIN_SECONDS"]))
        pre = P.num(P.get(props, "preshutdownTimeoutSeconds"))
        if isinstance(drain, (int, float)) and isinstance(pre, (int, float)) and drain > pre:
            report(f"service '{name}': WINFLEET_DRAIN_SECONDS={drain} is longer than preshutdownTimeoutSeconds="
                   f"{pre}: on a system shutdown the SCM stops waiting before the drain ends.")
    check = P.get(props, "preshutdownCheck")
    allow_warn = P.truthy(P.config(args, "allowPreshutdownCheckWarn", True))
    if not P.is_unknown(check) and str(check).lower() == "warn" and allow_warn is False:
        report(f"service '{name}': preshutdownCheck is 'warn': a program that does not accept "
               "SERVICE_CONTROL_PRESHUTDOWN would be deployed and get no drain on a system shutdown. "
               "Set preshutdownCheck: refuse.")


service_stop_contract = ResourceValidationPolicy(
    name="service-stop-contract",
    description="A service's environment tells the Go program the port, paths and drain time winfleet gates "
                "and stops it with, and the drain fits the pre-shutdown timeout.",
    validate=validate_stop_contract,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.MEDIUM,
    remediation_steps="Do not set WINFLEET_* variables yourself: winfleet sets WINFLEET_PORT, WINFLEET_HEALTH_PATH, "
                      "WINFLEET_READINESS_PATH and WINFLEET_DRAIN_SECONDS from the service config "
                      "(winfleet:services[i].port, healthPath, readinessPath, winfleet:loadBalancer); keep "
                      "winfleet:services[i].preshutdownTimeoutSeconds >= the drain. See docs/writing-a-go-service.md.",
    config_schema=PolicyConfigSchema(properties={
        "allowPreshutdownCheckWarn": {"type": "boolean", "default": True},
    }),
)

POLICIES = [graceful_shutdown_budget, service_stop_contract]

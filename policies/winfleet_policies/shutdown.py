"""Graceful shutdown: a service keeps serving until the load balancer has stopped routing to it."""
from __future__ import annotations

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, Severity, StackValidationArgs,
                           StackValidationPolicy)

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

POLICIES = [graceful_shutdown_budget]

"""Service-disable baselines: never disable what remote management or our own services need."""
from __future__ import annotations

from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, Severity, StackValidationArgs, StackValidationPolicy)

from . import common as C
from . import facts as F
from . import props as P
from . import types as T


def _names(value) -> list:
    items = P.items(value)
    if items is P.UNKNOWN:
        return P.UNKNOWN  # type: ignore[return-value]
    return [s for s in items if isinstance(s, str)]


def validate_never_disable(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.SERVICE_BASELINE:
        return
    protected = F.never_disable_lower(P.config_list(args, "extraNeverDisable", []))
    services = _names(P.get(args.props, "services", []))
    if services is P.UNKNOWN:
        return
    bad = sorted({s for s in services if s.lower() in protected}, key=str.lower)
    if bad:
        report(f"baseline '{P.get(args.props, 'baselineName') or args.name}' disables {', '.join(bad)}: "
               "never disable these on a WinRM-managed server (remote management, RPC, event log, time, "
               "networking or the Azure guest agent depend on them).")
    managed = _names(P.get(args.props, "managedServices", []))
    if managed is not P.UNKNOWN:
        overlap = sorted({s for s in services if s.lower() in {m.lower() for m in managed}}, key=str.lower)
        if overlap:
            report(f"baseline '{args.name}' disables services winfleet manages: {', '.join(overlap)}.")


baseline_never_disable = ResourceValidationPolicy(
    name="baseline-never-disable",
    description="A service-disable baseline never disables a never-disable service or a managed service.",
    validate=validate_never_disable,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.CRITICAL,
    remediation_steps="Remove the listed names from `winfleet:baseline.services`, or pick another built-in baseline with "
                      "`winfleet:baseline.name`; services are matched by service name, never display name.",
    config_schema=PolicyConfigSchema(properties={
        "extraNeverDisable": {"type": "array", "items": {"type": "string"}, "default": []},
    }),
)


def validate_keeps_dependencies(args: StackValidationArgs, report: ReportViolation) -> None:
    services = C.of_type(args.resources, T.WINDOWS_SERVICE)
    for b in C.of_type(args.resources, T.SERVICE_BASELINE):
        host = C.host_label(b)
        disabled = _names(P.get(b.props, "services", []))
        if C.host_keys(b) is P.UNKNOWN or disabled is P.UNKNOWN:
            continue
        disabled_l = {s.lower(): s for s in disabled}
        for svc in services:
            if not C.same_host(svc, b):
                continue
            name = C.service_label(svc.props, svc.name)
            deps = _names(P.get(svc.props, "dependencies", []))
            if deps is P.UNKNOWN:
                continue
            hit = sorted({disabled_l[d.lower()] for d in deps if d.lower() in disabled_l}, key=str.lower)
            if hit:
                report(f"baseline '{b.name}' on {host} disables {', '.join(hit)}, which service '{name}' depends "
                       "on: SCM would refuse to start it.", b.urn)
            if isinstance(name, str) and name.lower() in disabled_l:
                report(f"baseline '{b.name}' on {host} disables the managed service '{name}'.", b.urn)


baseline_keeps_dependencies = StackValidationPolicy(
    name="baseline-keeps-dependencies",
    description="A host's service-disable baseline does not disable a dependency of a service winfleet manages "
                "on that host.",
    validate=validate_keeps_dependencies,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Remove the dependency from `winfleet:baseline.services` (or choose `winfleet:baseline.name`), or drop "
                      "it from the service's `winfleet:services[].dependencies`.",
)

POLICIES = [baseline_never_disable, baseline_keeps_dependencies]

"""Readiness endpoints: the load balancer routes only to hosts whose service says it is ready."""
from __future__ import annotations


from pulumi_policy import (EnforcementLevel, PolicyConfigSchema, ReportViolation, ResourceValidationArgs,
                           ResourceValidationPolicy, Severity, StackValidationArgs, StackValidationPolicy)

from . import common as C
from . import facts as F
from . import props as P
from . import types as T

READY_PROTOCOLS = ("http", "https")

# ------------------------------------------------------------------ lb-probe-is-readiness

LB_PROBE_DEFAULTS = {"minIntervalSeconds": 5, "maxIntervalSeconds": 15, "minThreshold": 1, "maxThreshold": 3}


def validate_lb_probes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.LOAD_BALANCER:
        return
    lo_i = P.config_num(args, "minIntervalSeconds", LB_PROBE_DEFAULTS["minIntervalSeconds"])
    hi_i = P.config_num(args, "maxIntervalSeconds", LB_PROBE_DEFAULTS["maxIntervalSeconds"])
    lo_t = P.config_num(args, "minThreshold", LB_PROBE_DEFAULTS["minThreshold"])
    hi_t = P.config_num(args, "maxThreshold", LB_PROBE_DEFAULTS["maxThreshold"])

    probes = C.lb_probes(args.props)
    rules = C.lb_rules(args.props)
    if rules is not P.UNKNOWN and probes is not P.UNKNOWN:
        for i, rule in enumerate(rules):
            rname = P.get(rule, "name")
            rname = rname if isinstance(rname, str) else f"#{i}"
            ref = P.get(rule, "probe")
            pname = C.probe_name_from_ref(ref)
            if pname is P.UNKNOWN:
                continue
            if not pname:
                report(f"loadBalancingRules[{rname}] has no probe: without one Azure routes to every backend, "
                       "ready or not. Add an HTTP(S) readiness probe and reference it from the rule.")
                continue
            probe = probes.get(pname)
            if probe is None:
                report(f"loadBalancingRules[{rname}] references probe '{pname}', which this load balancer "
                       "does not define.")
                continue
            proto = P.get(probe, "protocol")
            if isinstance(proto, str) and proto.lower() not in READY_PROTOCOLS:
                report(f"probe '{pname}' (rule {rname}) uses protocol {proto}: a TCP probe only proves the port "
                       "accepts connections, not that the service is ready. Use Http or Https with the service's "
                       "readiness path.")
            elif isinstance(proto, str):
                path = P.get(probe, "requestPath")
                if path is not P.UNKNOWN and (not isinstance(path, str) or not path.startswith("/")):
                    report(f"probe '{pname}' (rule {rname}) has no requestPath: set it to the service's "
                           "readiness path (e.g. /readyz).")
            pport = P.num(P.get(probe, "port"))
            bport = P.num(P.get(rule, "backendPort"))
            if isinstance(pport, int) and isinstance(bport, int) and pport != bport:
                report(f"probe '{pname}' checks port {pport} but rule {rname} sends traffic to backend port "
                       f"{bport}: the probe must ask the service that receives the traffic.")

    if probes is P.UNKNOWN:
        return
    for pname, probe in probes.items():
        interval, threshold = C.probe_timing(probe, F.AZURE_PROBE_DEFAULT_INTERVAL, F.AZURE_PROBE_DEFAULT_THRESHOLD)
        if isinstance(interval, (int, float)) and not lo_i <= interval <= hi_i:
            report(f"probe '{pname}' intervalInSeconds={interval} is outside [{lo_i}, {hi_i}]: too slow a probe "
                   "keeps routing to a host that stopped being ready, too fast a probe floods the service.")
        if isinstance(threshold, (int, float)) and not lo_t <= threshold <= hi_t:
            report(f"probe '{pname}' threshold={threshold} (probeThreshold/numberOfProbes) is outside "
                   f"[{lo_t}, {hi_t}].")


lb_probe_is_readiness = ResourceValidationPolicy(
    name="lb-probe-is-readiness",
    description="Every load-balancing rule has an HTTP(S) readiness probe on its backend port, "
                "with a request path and an interval and threshold within bounds.",
    validate=validate_lb_probes,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="In the load balancer's `probes`, use protocol Http or Https with `requestPath` set to the "
                      "service's readiness path and `port` equal to the rule's `backendPort`; reference it from "
                      "every `loadBalancingRules[].probe.id`; keep `intervalInSeconds` and "
                      "`probeThreshold` within the configured bounds (winfleet sets them from "
                      "`winfleet:services[].readinessPath`, `winfleet:loadBalancer.probeIntervalSeconds` and "
                      "`winfleet:loadBalancer.unhealthyThreshold`).",
    config_schema=PolicyConfigSchema(properties={
        "minIntervalSeconds": {"type": "integer", "minimum": 5, "default": LB_PROBE_DEFAULTS["minIntervalSeconds"]},
        "maxIntervalSeconds": {"type": "integer", "minimum": 5, "default": LB_PROBE_DEFAULTS["maxIntervalSeconds"]},
        "minThreshold": {"type": "integer", "minimum": 1, "default": LB_PROBE_DEFAULTS["minThreshold"]},
        "maxThreshold": {"type": "integer", "minimum": 1, "default": LB_PROBE_DEFAULTS["maxThreshold"]},
    }),
)

# ------------------------------------------------------------------ service-readiness-endpoint


def _nsg_groups(resources):
    groups = {}
    for owner, key, rule in C.nsg_rules(resources):
        groups.setdefault(str(key), []).append(rule)
    # An NSG without rules still counts: its deny-all defaults don't block the LB (65001 allows it).
    for r in C.of_type(resources, T.NSG):
        groups.setdefault(str(P.get(r.props, "networkSecurityGroupName") or r.name), [])
    return groups


def validate_service_readiness(args: StackValidationArgs, report: ReportViolation) -> None:
    require_explicit = P.truthy(P.config(args, "requireExplicitLoadBalancerRule", True))
    lb_sources = [str(s) for s in P.config_list(args, "loadBalancerSources", ["AzureLoadBalancer"])] or ["AzureLoadBalancer"]
    # A rule whose source is "*" (or a /0 prefix) also matches the load balancer's probe source.
    lb_match = lb_sources + ["*", "any"]
    endpoints = C.lb_endpoints(args.resources)
    by_port = {}
    for lb, rule, probe, port in endpoints:
        by_port.setdefault(port, []).append((lb, rule, probe))
    nsgs = _nsg_groups(args.resources)

    for svc in C.of_type(args.resources, T.WINDOWS_SERVICE):
        props = svc.props
        name = C.service_label(props, svc.name)
        port = P.num(P.get(props, "port"))
        ready = P.get(props, "readinessPath")
        health = P.get(props, "healthPath")
        if P.is_unknown(port):
            continue
        if isinstance(ready, str) and isinstance(health, str) and ready.rstrip("/") == health.rstrip("/"):
            report(f"service '{name}': readinessPath and healthPath are both {ready!r}. Health (liveness) says "
                   "the process is alive; readiness says it should receive traffic now (false while starting or "
                   "draining). Serve them on different paths.", svc.urn)
        if not isinstance(port, int) or port not in by_port:
            continue  # not behind a load balancer (internal service, or existing hosts without one)
        if ready is None or (isinstance(ready, str) and not ready.startswith("/")):
            report(f"service '{name}' is behind the load balancer on port {port} but declares no readinessPath "
                   "(an absolute path such as /readyz).", svc.urn)
        for lb, rule, probe in by_port[port]:
            rname = P.get(rule, "name") or "?"
            if probe is P.UNKNOWN:
                continue
            if probe is None:
                report(f"service '{name}': load-balancing rule '{rname}' for port {port} has no probe.", lb.urn)
                continue
            proto = P.get(probe, "protocol")
            pname = P.get(probe, "name") or "?"
            if isinstance(proto, str) and proto.lower() not in READY_PROTOCOLS:
                report(f"service '{name}': the load balancer probes port {port} with {proto} (probe '{pname}'); "
                       f"a TCP probe is not readiness. Probe Http(s) {ready or '/readyz'}.", lb.urn)
                continue
            path = P.get(probe, "requestPath")
            if isinstance(path, str) and isinstance(ready, str) and path != ready:
                report(f"service '{name}': probe '{pname}' asks {path!r} but the service's readiness path is "
                       f"{ready!r}.", lb.urn)
            pport = P.num(P.get(probe, "port"))
            if isinstance(pport, int) and pport != port:
                report(f"service '{name}': probe '{pname}' checks port {pport}, not the service port {port}.", lb.urn)
        for nsg_key, rules in nsgs.items():
            match = C.first_match_for(rules, port, lb_match)
            if match is None:
                if require_explicit:
                    report(f"service '{name}': NSG '{nsg_key}' has no inbound rule admitting {lb_sources[0]} on "
                           f"port {port}. The probe relies on Azure's default rule 65001 and breaks the day a "
                           "deny-all is added; allow it explicitly.", svc.urn)
                continue
            access = P.get(match, "access")
            if isinstance(access, str) and access.lower() != "allow":
                report(f"service '{name}': NSG '{nsg_key}' rule '{P.get(match, 'name') or '?'}' denies "
                       f"{lb_sources[0]} on port {port}: the readiness probe can never succeed.", svc.urn)


service_readiness_endpoint = StackValidationPolicy(
    name="service-readiness-endpoint",
    description="Every service behind the load balancer has a readiness path, distinct from its health path, "
                "probed over HTTP(S) on the service port, and the NSG admits the AzureLoadBalancer tag on that port.",
    validate=validate_service_readiness,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Give the service `winfleet:services[].readinessPath` (e.g. /readyz) different from "
                      "`winfleet:services[].healthPath` (e.g. /healthz); "
                      "make the load balancer probe for its port Http(s) with that `requestPath` and the service "
                      "port; add an NSG rule Allow Inbound from `AzureLoadBalancer` to that port with a lower "
                      "priority number than any deny.",
    config_schema=PolicyConfigSchema(properties={
        "requireExplicitLoadBalancerRule": {"type": "boolean", "default": True},
        "loadBalancerSources": {"type": "array", "items": {"type": "string"}, "default": ["AzureLoadBalancer"]},
    }),
)

# ------------------------------------------------------------------ lb-probe-all-down-behavior


def validate_all_down_behavior(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != T.LOAD_BALANCER:
        return
    probes = C.lb_probes(args.props)
    if probes is P.UNKNOWN:
        return
    for pname, probe in sorted(probes.items()):
        if P.get(probe, "requestPath") in (None, P.UNKNOWN) and P.get(probe, "protocol") not in ("Http", "Https"):
            continue    # a TCP probe is lb-probe-is-readiness's finding
        behavior = P.get(probe, "noHealthyBackendsBehavior")
        if P.is_unknown(behavior):
            continue
        if behavior is None or str(behavior) == "AllProbedDown":
            report(f"probe '{pname}' uses noHealthyBackendsBehavior {behavior or 'AllProbedDown (the default)'}: when every "
                   "backend's readiness fails at once (a shared dependency blips), the load balancer stops all new "
                   "flows and the whole fleet is down. Set winfleet:loadBalancer.noHealthyBackendsBehavior to "
                   "AllProbedUp (the winfleet default) or keep shared dependencies out of readiness.")


lb_probe_all_down_behavior = ResourceValidationPolicy(
    name="lb-probe-all-down-behavior",
    description="A readiness probe does not black-hole the whole service when every backend is probed down "
                "(noHealthyBackendsBehavior AllProbedUp).",
    validate=validate_all_down_behavior,
    enforcement_level=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    remediation_steps="Set `winfleet:loadBalancer.noHealthyBackendsBehavior` to `AllProbedUp` (the default), and keep "
                      "dependencies shared by all hosts (a database, a queue) out of the readiness check: report them "
                      "on the health path or in metrics instead.",
)

POLICIES = [lb_probe_is_readiness, service_readiness_endpoint, lb_probe_all_down_behavior]

"""Shared plumbing for the winfleet rules: stack indexing, NSG rule evaluation, LB probe lookup."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable, List, Optional

from . import props as P
from . import types as T

# Internet sources as Azure and common tooling spell them (Checkov's NSGRulePortAccessRestricted list).
INTERNET_SOURCES_DEFAULT = ["*", "internet", "any", "0.0.0.0", "0.0.0.0/0", "::/0", "::"]


def of_type(resources: Iterable[Any], *types: str) -> list:
    return [r for r in resources if r.resource_type in types]


def service_label(props: Any, fallback: str) -> str:
    name = P.get(props, "serviceName")
    return fallback if not isinstance(name, str) else name


# ---------------------------------------------------------------- load balancer

def probe_name_from_ref(ref: Any) -> Any:
    """``{"id": ".../loadBalancers/lb/probes/api"}`` (or a bare name) → ``"api"``."""
    rid = P.get(ref, "id") if isinstance(ref, Mapping) else ref
    if P.is_unknown(rid):
        return P.UNKNOWN
    if not isinstance(rid, str) or not rid:
        return None
    return rid.rstrip("/").split("/")[-1]


def lb_probes(lb_props: Any) -> Any:
    """``{probeName: probeProps}``; ``UNKNOWN`` when the list is unknown."""
    probes = P.items(P.get(lb_props, "probes", []))
    if probes is P.UNKNOWN:
        return P.UNKNOWN
    out = {}
    for i, probe in enumerate(probes):
        if probe is P.UNKNOWN:
            return P.UNKNOWN  # an unknown probe might be the one a rule references
        if not isinstance(probe, Mapping):
            continue
        name = P.get(probe, "name")
        if name is P.UNKNOWN:
            return P.UNKNOWN
        if not isinstance(name, str):
            name = f"#{i}"
        out[name] = probe
    return out


def lb_rules(lb_props: Any) -> Any:
    rules = P.items(P.get(lb_props, "loadBalancingRules", []))
    if rules is P.UNKNOWN:
        return P.UNKNOWN
    return [r for r in rules if isinstance(r, Mapping)]


def probe_timing(probe: Any, default_interval: int, default_threshold: int):
    """(interval seconds, unhealthy threshold) with Azure's defaults for omitted values; UNKNOWN kept."""
    interval = P.num(P.get(probe, "intervalInSeconds"), default_interval)
    thresholds = [P.num(P.get(probe, k)) for k in ("probeThreshold", "numberOfProbes")]
    if any(t is P.UNKNOWN for t in thresholds):
        return interval, P.UNKNOWN
    known = [t for t in thresholds if isinstance(t, (int, float))]
    # Worst case for detection: the larger of the two thresholds Azure knows.
    threshold = max(known) if known else default_threshold
    return interval, threshold


def lb_endpoints(resources: Iterable[Any]) -> list:
    """Every (lb resource, rule, probe-or-None, backendPort) in the stack with known values."""
    out = []
    for lb in of_type(resources, T.LOAD_BALANCER):
        probes = lb_probes(lb.props)
        rules = lb_rules(lb.props)
        if rules is P.UNKNOWN:
            continue
        for rule in rules:
            port = P.num(P.get(rule, "backendPort"))
            if not isinstance(port, int):
                continue
            pname = probe_name_from_ref(P.get(rule, "probe"))
            probe = None
            if pname is P.UNKNOWN or (pname and probes is P.UNKNOWN):
                probe = P.UNKNOWN  # can't be known during preview: consumers skip it
            elif isinstance(pname, str) and pname:
                probe = probes.get(pname)
            out.append((lb, rule, probe, port))
    return out


# ---------------------------------------------------------------- NSG

def nsg_rules(resources: Iterable[Any]) -> list:
    """(owner resource, nsg key, rule props) for inline ``securityRules`` and standalone ``SecurityRule``s."""
    out = []
    for r in resources:
        if r.resource_type == T.NSG:
            rules = P.items(P.get(r.props, "securityRules", []))
            if rules is P.UNKNOWN:
                continue
            key = P.get(r.props, "networkSecurityGroupName") or r.name
            for rule in rules:
                if isinstance(rule, Mapping):
                    out.append((r, key, rule))
        elif r.resource_type == T.SECURITY_RULE:
            key = P.get(r.props, "networkSecurityGroupName") or "?"
            out.append((r, key, r.props))
    return out


def rule_values(rule: Any, single: str, plural: str) -> Any:
    vals = []
    one = P.get(rule, single)
    if one is P.UNKNOWN:
        return P.UNKNOWN
    if isinstance(one, str) and one:
        vals.append(one)
    many = P.items(P.get(rule, plural, []))
    if many is P.UNKNOWN:
        return P.UNKNOWN
    for v in many:
        if v is P.UNKNOWN:
            return P.UNKNOWN
        if isinstance(v, str) and v:
            vals.append(v)
    return vals


def rule_covers_port(rule: Any, port: int) -> Any:
    specs = rule_values(rule, "destinationPortRange", "destinationPortRanges")
    if specs is P.UNKNOWN:
        return P.UNKNOWN
    return any(P.port_in_range(port, s) is True for s in specs)


def is_allow_inbound(rule: Any) -> Any:
    access = P.get(rule, "access")
    direction = P.get(rule, "direction")
    if P.is_unknown(access) or P.is_unknown(direction):
        return P.UNKNOWN
    return str(access).lower() == "allow" and str(direction).lower() == "inbound"


def source_matches(rule: Any, wanted: Iterable[str]) -> Any:
    sources = rule_values(rule, "sourceAddressPrefix", "sourceAddressPrefixes")
    if sources is P.UNKNOWN:
        return P.UNKNOWN
    wanted_l = {w.lower() for w in wanted}
    for s in sources:
        sl = s.strip().lower()
        if sl in wanted_l or sl.endswith("/0"):
            return s
    return None


def first_match_for(rules: List[Any], port: int, sources: Iterable[str]) -> Optional[Any]:
    """Azure NSG evaluation: the lowest-priority-number inbound rule that matches source and port decides."""
    candidates = []
    for rule in rules:
        direction = P.get(rule, "direction")
        if not isinstance(direction, str) or direction.lower() != "inbound":
            continue
        if rule_covers_port(rule, port) is not True:
            continue
        if source_matches(rule, sources) in (None, P.UNKNOWN):
            continue
        prio = P.num(P.get(rule, "priority"), 65000)
        if not isinstance(prio, (int, float)):
            continue
        candidates.append((prio, rule))
    if not candidates:
        return None
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1]


# ---------------------------------------------------------------- which host a host resource targets

def host_keys(resource: Any) -> Any:
    """Keys naming the host a host resource configures, for correlating resources in stack policies.

    ``connection.hostName`` when known. During a preview the whole ``connection`` is often unknown (it carries the
    VM's not-yet-allocated address), so the VMs the resource *directly* depends on count too: their
    ``osProfile.computerName`` (the logical host name) when known, else their URN. ``UNKNOWN`` when neither.
    """
    cached = getattr(resource, "_winfleet_host_keys", None)
    if cached is not None:
        return cached
    keys = _host_keys(resource)
    try:
        resource._winfleet_host_keys = keys  # props never change during one AnalyzeStack call
    except AttributeError:
        pass
    return keys


def _host_keys(resource: Any) -> Any:
    keys = set()
    name = P.host_of(resource.props)
    if isinstance(name, str) and name:
        keys.add("host:" + name.lower())
    for dep in getattr(resource, "dependencies", None) or []:
        if getattr(dep, "resource_type", None) != T.VM:
            continue
        computer = P.get(dep.props, "osProfile.computerName")
        if isinstance(computer, str) and computer:
            keys.add("host:" + computer.lower())
        else:
            keys.add("vm:" + dep.urn)
    return keys if keys else P.UNKNOWN


def same_host(a: Any, b: Any) -> bool:
    ka, kb = host_keys(a), host_keys(b)
    return ka is not P.UNKNOWN and kb is not P.UNKNOWN and bool(ka & kb)


def host_label(resource: Any) -> str:
    keys = host_keys(resource)
    if keys is P.UNKNOWN:
        return "?"
    names = sorted(k[5:] for k in keys if k.startswith("host:"))
    return names[0] if names else sorted(keys)[0]

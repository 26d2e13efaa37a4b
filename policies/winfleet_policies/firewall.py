"""Guest firewall: Windows Defender Firewall blocks inbound traffic by default, so a load-balanced port
needs an inbound rule on every host, or the Azure probe (from 168.63.129.16) never reaches the service."""
from __future__ import annotations

import ipaddress

from pulumi_policy import EnforcementLevel, ReportViolation, Severity, StackValidationArgs, StackValidationPolicy

from . import common as C
from . import props as P
from . import types as T

# https://learn.microsoft.com/en-us/azure/virtual-network/what-is-ip-address-168-63-129-16
PROBE_ADDRESS = ipaddress.ip_address("168.63.129.16")


def admits_probe(addresses) -> object:
    """True / False / UNKNOWN: do the rule's remote addresses include the Azure probe address?"""
    if P.is_unknown(addresses):
        return P.UNKNOWN
    items = P.items(addresses)
    if items is P.UNKNOWN or any(a is P.UNKNOWN for a in items):
        return P.UNKNOWN
    for a in items:
        if not isinstance(a, str):
            continue
        if a.strip().lower() == "any":
            return True
        try:
            if PROBE_ADDRESS in ipaddress.ip_network(a.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def validate_port_firewall(args: StackValidationArgs, report: ReportViolation) -> None:
    lb_ports = {port for _lb, _rule, _probe, port in C.lb_endpoints(args.resources)}
    if not lb_ports:
        return
    ports = C.of_type(args.resources, T.SERVICE_PORT)
    for svc in C.of_type(args.resources, T.WINDOWS_SERVICE):
        port = P.num(P.get(svc.props, "port"))
        if not isinstance(port, int) or port not in lb_ports or C.host_keys(svc) is P.UNKNOWN:
            continue
        name = C.service_label(svc.props, svc.name)
        if any(C.host_keys(sp) is P.UNKNOWN for sp in ports):
            continue  # the matching rule may be one whose host can't be known during preview
        mine = [sp for sp in ports if C.same_host(sp, svc) and P.num(P.get(sp.props, "port")) == port]
        if not mine:
            report(f"service '{name}' on {C.host_label(svc)} is behind the load balancer on port {port} but no "
                   "ServicePort opens that port in the host's Windows Defender Firewall, which blocks inbound "
                   "traffic by default: the probe from 168.63.129.16 never reaches it.", svc.urn)
            continue
        verdicts = [admits_probe(P.get(sp.props, "remoteAddresses")) for sp in mine]
        if P.UNKNOWN in verdicts or True in verdicts:
            continue
        report(f"service '{name}' on {C.host_label(svc)}: the firewall rule for port {port} does not admit the "
               "Azure probe address 168.63.129.16, so the load balancer marks the host down.", mine[0].urn)


service_port_firewall = StackValidationPolicy(
    name="service-port-firewall",
    description="Every load-balanced service port has an inbound Windows Defender Firewall rule (a ServicePort "
                "with remoteAddresses) on each host that admits the Azure probe address 168.63.129.16.",
    validate=validate_port_firewall,
    enforcement_level=EnforcementLevel.MANDATORY,
    severity=Severity.HIGH,
    remediation_steps="Declare the service through winfleet's GoService (it adds ServicePort '<service>@<host>/port' "
                      "with remoteAddresses [168.63.129.16, winfleet:azure.clientSources]), or add a ServicePort for "
                      "the port on that host whose remoteAddresses include 168.63.129.16.",
)

POLICIES = [service_port_firewall]

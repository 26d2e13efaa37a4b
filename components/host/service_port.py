"""ServicePort: a Go service's TCP port on one host: bindable (checked) and reachable (guest firewall).

Inputs: ``connection``, ``serviceName`` (the service allowed to listen there), ``port``, ``protocol``
(``TCP``), ``allowDynamicPort`` (default false), ``ruleName`` (replace; the firewall rule's unique
``Name``), ``remoteAddresses`` ([IP or CIDR] or ``["Any"]``; absent = no firewall rule, check only),
``description``.

Why one resource: both are facts about the same port on the same host, read by one op
(``port.read``), and both must hold before the service is (re)started there, so the WindowsService
depends on it.

* Bindability, at plan time (create/update; nothing is changed when refused): the port must not be
  in the host's dynamic port range (``Get-NetTCPSetting`` ``DynamicPortRange*``, every template: a
  port there may be handed to an outgoing connection at any moment) unless ``allowDynamicPort``; not
  in an excluded port range (``netsh int ipv4|ipv6 show excludedportrange protocol=tcp``: Hyper-V /
  WinNAT or administered reservations, where bind() fails with WSAEACCES although nothing listens);
  and no process other than ``serviceName`` may listen on it (``Get-NetTCPConnection -State Listen``
  with the owning process and its services from Win32_Service.ProcessId; the service itself listening
  is fine on an update).
* Firewall (Windows Defender Firewall blocks unsolicited inbound traffic by default): one inbound
  Allow rule, TCP, local port = ``port``, remote addresses = ``remoteAddresses``, every profile, group
  ``winfleet`` (``New-NetFirewallRule``/``Set-NetFirewallRule``:
  https://learn.microsoft.com/powershell/module/netsecurity/new-netfirewallrule). For a load-balanced
  port GoService passes the Azure probe address 168.63.129.16 and the configured client sources.
  A rule with ``ruleName`` that winfleet did not create is refused, never taken over.

Journal: ``ServicePort/<ruleName>``, item ``rule`` with prior ``{"exists": false}`` (the only prior
winfleet accepts): delete, or dropping ``remoteAddresses``, removes the rule. Windows reads IPv4
subnets back in mask notation (``10.40.0.0/255.255.0.0``); comparisons normalise both sides.
Ops: ``port.read`` {port, protocol, ruleName} and ``port.apply`` {..., steps} (scripts/ops).
"""
from __future__ import annotations

import ipaddress
import re
from typing import Literal, Optional

from pydantic import Field, field_validator

from ..windows_facts import SERVICE_NAME_RE
from .base import HostInputs, HostResource, HostResourceProvider, Refused

RULE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
GROUP = "winfleet"
ITEM = "rule"
ABSENT = {"exists": False}


def normalise_address(value: str) -> str:
    """One canonical text per address set member: 'Any', a bare address, or a CIDR (prefix form)."""
    if value.strip().lower() == "any":
        return "Any"
    net = ipaddress.ip_network(value.strip(), strict=False)
    return str(net.network_address) if net.num_addresses == 1 else str(net)


class ServicePortInputs(HostInputs):
    service_name: str
    port: int = Field(ge=1, le=65535)
    protocol: Literal["TCP"] = "TCP"
    allow_dynamic_port: bool = False
    rule_name: str
    remote_addresses: Optional[list[str]] = None
    description: str = ""

    @field_validator("service_name")
    @classmethod
    def _svc(cls, v: str) -> str:
        if not SERVICE_NAME_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a winfleet service name")
        return v

    @field_validator("rule_name")
    @classmethod
    def _rule(cls, v: str) -> str:
        if not RULE_NAME_RE.fullmatch(v):
            raise ValueError("1-100 letters, digits, '.', '_' or '-', starting with a letter or digit "
                             "(no wildcards: it is the rule's unique Name)")
        return v

    @field_validator("remote_addresses")
    @classmethod
    def _addrs(cls, v: Optional[list[str]]) -> Optional[list[str]]:
        if v is None:
            return v
        if not v:
            raise ValueError("list at least one address (omit remoteAddresses for no firewall rule)")
        out = []
        for a in v:
            try:
                n = normalise_address(a)
            except ValueError:
                raise ValueError(f"{a!r} is not an IP address or CIDR (e.g. 168.63.129.16, 10.40.0.0/16) "
                                 "or the keyword Any") from None
            if n != "Any" and ipaddress.ip_network(n).prefixlen == 0:
                raise ValueError(f"{a!r} is everyone: say 'Any' explicitly if that is meant")
            out.append(n)
        if "Any" in out and len(out) > 1:
            raise ValueError("'Any' cannot be combined with addresses")
        if len(set(out)) != len(out):
            raise ValueError("contains duplicates")
        return out

    @field_validator("description")
    @classmethod
    def _desc(cls, v: str) -> str:
        if any(ord(c) < 32 for c in v) or len(v) > 1024:
            raise ValueError("at most 1024 characters, no control characters")
        return v


def dynamic_ranges(current: dict) -> list[tuple[int, int, str]]:
    out = []
    for d in current.get("dynamic") or []:
        start, count = int(d["startPort"]), int(d["numberOfPorts"])
        if count > 0:
            out.append((start, start + count - 1, str(d.get("settingName") or "?")))
    return out


class ServicePortProvider(HostResourceProvider):
    kind = "ServicePort"
    model = ServicePortInputs
    replace_keys = ("ruleName",)

    def journal_scope(self, inputs) -> str:
        return inputs.rule_name

    def identity(self, inputs) -> str:
        return inputs.rule_name.lower()

    def describe(self, inputs) -> str:
        return f"ServicePort {inputs.service_name}:{inputs.port}" if inputs is not None else self.kind

    # ---- Get --------------------------------------------------------------------------------
    def read_state(self, host, inputs) -> dict:
        return host.state("port.read", {"port": inputs.port, "protocol": inputs.protocol,
                                        "ruleName": inputs.rule_name})

    def prior_of(self, inputs, current) -> dict:
        if inputs.remote_addresses is None:
            return {}
        rule = current.get("rule")
        return {ITEM: ABSENT if rule is None else {"exists": True, "rule": rule}}

    # ---- Test -------------------------------------------------------------------------------
    def check_bindable(self, inputs, current: dict) -> None:
        port = inputs.port
        if not inputs.allow_dynamic_port:
            for lo, hi, setting in dynamic_ranges(current):
                if lo <= port <= hi:
                    raise Refused("port", f"port {port} is in the host's dynamic (ephemeral) port range {lo}-{hi} "
                                          f"(Get-NetTCPSetting {setting}): Windows hands these ports to outgoing "
                                          "connections, so the service's bind can fail at any restart. Use a port "
                                          f"below {lo}, or set allowDynamicPort if the range was moved on purpose")
        for r in current.get("excluded") or []:
            if int(r["startPort"]) <= port <= int(r["endPort"]):
                who = "an administrator" if r.get("administered") else "Windows (Hyper-V / WinNAT)"
                raise Refused("port", f"port {port} is in the excluded port range {r['startPort']}-{r['endPort']} "
                                      f"({r.get('family', 'ipv4')}, reserved by {who}; netsh interface "
                                      f"{r.get('family', 'ipv4')} show excludedportrange protocol=tcp): bind() fails "
                                      "with access denied although nothing listens there. Choose another port")
        mine = inputs.service_name.lower()
        for l in current.get("listeners") or []:
            services = [str(s) for s in l.get("services") or []]
            if mine in (s.lower() for s in services):
                continue
            what = f"process {l.get('process') or '?'!r} (pid {l.get('pid')}"
            what += f", services {', '.join(services)})" if services else ")"
            raise Refused("port", f"port {port} is already in use: {what} listens on {l.get('localAddress')}:{port}. "
                                  "Stop that process or choose another port")

    def _desired_rule(self, inputs) -> dict:
        return {"displayName": f"winfleet {inputs.service_name} (TCP {inputs.port})",
                "description": inputs.description or f"winfleet: inbound TCP {inputs.port} to {inputs.service_name}",
                "group": GROUP, "localPorts": [str(inputs.port)], "remoteAddresses": list(inputs.remote_addresses)}

    @staticmethod
    def rule_matches(inputs, rule: dict) -> bool:
        try:
            live = sorted(normalise_address(a) for a in rule.get("remoteAddresses") or [])
        except ValueError:
            return False
        return (rule.get("enabled") is True and rule.get("direction") == "Inbound" and rule.get("action") == "Allow"
                and str(rule.get("protocol")).upper() == inputs.protocol
                and list(rule.get("localPorts") or []) == [str(inputs.port)]
                and rule.get("profiles") == "Any"
                and live == sorted(inputs.remote_addresses or []))

    def plan_in_context(self, inputs, current, ctx) -> list[dict]:
        self.check_bindable(inputs, current)
        if inputs.remote_addresses is None:
            return []
        rule = current.get("rule")
        if (ctx.prior.get(ITEM) or ABSENT).get("exists"):
            raise Refused("ruleName", f"a firewall rule named {inputs.rule_name!r} already exists on the host and was "
                                      "not created by winfleet; winfleet does not take it over. Remove it "
                                      "(Remove-NetFirewallRule -Name ...) or choose another ruleName")
        if rule is None:
            return [{"do": "create", "rule": self._desired_rule(inputs)}]
        if not self.rule_matches(inputs, rule):
            return [{"do": "set", "rule": self._desired_rule(inputs)}]
        return []

    def restore_plan(self, inputs, prior, current) -> list[dict]:
        p = prior.get(ITEM)
        if p is None or p.get("exists"):
            return []                                # never ours: nothing to undo
        return [{"do": "remove"}] if current.get("rule") is not None else []

    # ---- Set --------------------------------------------------------------------------------
    def apply(self, host, inputs, changes, prior) -> dict:
        state = host.state("port.apply", {"port": inputs.port, "protocol": inputs.protocol,
                                          "ruleName": inputs.rule_name, "steps": changes}, final=True)
        state.pop("applied", None)
        return state

    def live_inputs(self, inputs, current) -> dict:
        live = inputs.dump()
        if inputs.remote_addresses is not None:
            rule = current.get("rule")
            if rule is None or not self.rule_matches(inputs, rule):
                live["remoteAddresses"] = None if rule is None else rule.get("remoteAddresses")
        return live

    def report(self, inputs, state) -> dict:
        # The whole dynamic/excluded tables are noise in the state output; keep what matters here.
        return {"port": state.get("port"), "listeners": state.get("listeners") or [],
                "rule": state.get("rule"), "profiles": state.get("profiles") or []}


class ServicePort(HostResource, module="winfleet", name="ServicePort"):
    """``ServicePort(name, {"connection": ..., "serviceName", "port", "ruleName", "remoteAddresses"?}, opts)``."""

    provider_class = ServicePortProvider

"""Windows Defender Firewall of the emulated host: profiles and inbound rules.

What is modelled, and where it comes from:

* Every profile (Domain, Private, Public) is on and blocks unsolicited inbound traffic by default
  (``DefaultInboundAction`` Block): https://learn.microsoft.com/en-us/windows/security/operating-system-security/network-security/windows-firewall/
  ("by default, Windows Firewall blocks inbound traffic unless it matches an allow rule").
* Rules are keyed by their ``Name`` (the unique InstanceID that ``New-NetFirewallRule -Name`` sets; the
  ``DisplayName`` need not be unique): https://learn.microsoft.com/powershell/module/netsecurity/new-netfirewallrule.
  Names compare case-insensitively here (strict: a rule differing only by case counts as "already exists").
  Creating a second rule with an existing Name fails (the cmdlet reports "Cannot create a file when that
  file already exists", ERROR_ALREADY_EXISTS).
* A block rule wins over an allow rule for the same traffic (rule precedence:
  https://learn.microsoft.com/en-us/windows/security/operating-system-security/network-security/windows-firewall/rules).
* ``RemoteAddress`` read back through Get-NetFirewallAddressFilter shows IPv4 subnets in mask notation
  (``10.40.0.0/255.255.0.0``) and single addresses bare: dsccommunity/NetworkingDsc converts its CIDR
  inputs with ``Convert-CIDRToSubhetMask`` before comparing for exactly this reason
  (source/Modules/NetworkingDsc.Common/NetworkingDsc.Common.psm1). Invalid addresses are refused.
* Loopback traffic is not filtered: the local readiness gate (``http://localhost:<port>``) passes on a
  host without any rule (issue 11 item 17's observation); only traffic from another address is checked.
"""
from __future__ import annotations

import copy
import ipaddress

PROFILES = ("Domain", "Private", "Public")


class FirewallError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _display_address(value: str) -> str:
    """How Windows shows one RemoteAddress entry when read back (see the module docstring)."""
    if value.lower() == "any":
        return "Any"
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise FirewallError("INVALID_PARAMS", f"The address {value!r} is not valid (an IP address, "
                                              "a subnet or the keyword Any)") from None
    if net.num_addresses == 1:
        return str(net.network_address)
    if net.version == 4:
        return f"{net.network_address}/{net.netmask}"
    return str(net)


class Firewall:
    def __init__(self, host):
        self.host = host
        self.profiles = {p: {"name": p, "enabled": True, "defaultInboundAction": "Block"} for p in PROFILES}
        self._rules: dict[str, dict] = {}
        self.dropped: list[tuple[str, int]] = []   # (remote address, port) of inbound traffic it blocked

    # --- the NetSecurity cmdlets' view ------------------------------------------------------
    def get(self, name: str) -> dict | None:
        r = self._rules.get(name.lower())
        return copy.deepcopy(r) if r else None

    def create(self, name: str, *, display_name: str, description: str = "", group: str = "",
               direction: str = "Inbound", action: str = "Allow", protocol: str = "TCP",
               local_ports: list[str], remote_addresses: list[str], profiles: str = "Any",
               enabled: bool = True) -> None:
        if name.lower() in self._rules:
            raise FirewallError("ALREADY_EXISTS", f"a firewall rule named {self._rules[name.lower()]['name']!r} "
                                                  "already exists (Cannot create a file when that file already exists)")
        self._rules[name.lower()] = self._rule(name, display_name, description, group, direction, action,
                                               protocol, local_ports, remote_addresses, profiles, enabled)

    def set(self, name: str, **kw) -> None:
        cur = self._rules.get(name.lower())
        if cur is None:
            raise FirewallError("RULE_NOT_FOUND", f"No MSFT_NetFirewallRule objects found with property 'Name' equal to {name!r}")
        merged = {"display_name": cur["displayName"], "description": cur["description"], "group": cur["group"],
                  "direction": cur["direction"], "action": cur["action"], "protocol": cur["protocol"],
                  "local_ports": cur["localPorts"], "remote_addresses": cur["remoteAddresses"],
                  "profiles": cur["profiles"], "enabled": cur["enabled"], **kw}
        self._rules[name.lower()] = self._rule(cur["name"], **merged)

    def remove(self, name: str) -> None:
        if self._rules.pop(name.lower(), None) is None:
            raise FirewallError("RULE_NOT_FOUND", f"No MSFT_NetFirewallRule objects found with property 'Name' equal to {name!r}")

    @staticmethod
    def _rule(name, display_name, description, group, direction, action, protocol, local_ports,
              remote_addresses, profiles, enabled) -> dict:
        if direction not in ("Inbound", "Outbound") or action not in ("Allow", "Block"):
            raise FirewallError("INVALID_PARAMS", f"direction {direction!r} / action {action!r}")
        if protocol not in ("TCP", "UDP", "Any"):
            raise FirewallError("INVALID_PARAMS", f"protocol {protocol!r}")
        ports = []
        for p in local_ports:
            if str(p) != "Any" and not (str(p).isdigit() and 1 <= int(p) <= 65535):
                raise FirewallError("INVALID_PARAMS", f"The port {p!r} is not valid")
            ports.append(str(p))
        addrs = [_display_address(str(a)) for a in remote_addresses] or ["Any"]
        if "Any" in addrs and len(addrs) > 1:
            raise FirewallError("INVALID_PARAMS", "the keyword Any cannot be combined with addresses")
        return {"name": name, "displayName": display_name, "description": description, "group": group,
                "enabled": bool(enabled), "direction": direction, "action": action, "protocol": protocol,
                "localPorts": ports or ["Any"], "remoteAddresses": addrs, "profiles": profiles}

    def add_foreign_rule(self, name: str, **kw) -> None:
        """A rule somebody else made (tests): same checks as New-NetFirewallRule."""
        kw.setdefault("display_name", name)
        kw.setdefault("local_ports", ["Any"])
        kw.setdefault("remote_addresses", ["Any"])
        self.create(name, **kw)

    def rules(self) -> list[dict]:
        return [copy.deepcopy(r) for _k, r in sorted(self._rules.items())]

    # --- the packet filter --------------------------------------------------------------------
    @staticmethod
    def _matches(rule: dict, protocol: str, port: int, remote: str) -> bool:
        if not rule["enabled"] or rule["direction"] != "Inbound":
            return False
        if rule["protocol"] not in ("Any", protocol):
            return False
        if "Any" not in rule["localPorts"] and str(port) not in rule["localPorts"]:
            return False
        if "Any" in rule["remoteAddresses"]:
            return True
        addr = ipaddress.ip_address(remote)
        return any(addr in ipaddress.ip_network(a, strict=False) for a in rule["remoteAddresses"])

    def allows_inbound(self, remote: str, port: int, protocol: str = "TCP") -> bool:
        """Is a new inbound connection from ``remote`` to local ``port`` let through?"""
        if ipaddress.ip_address(remote).is_loopback:
            return True
        # Every profile on (the default); the NIC's profile is not modelled: all profiles must allow.
        active = [p for p in self.profiles.values() if p["enabled"]]
        if not active:
            return True
        matching = [r for r in self._rules.values() if self._matches(r, protocol, port, remote)]
        if any(r["action"] == "Block" for r in matching):
            ok = False
        elif any(r["action"] == "Allow" for r in matching):
            ok = True
        else:
            ok = all(p["defaultInboundAction"] == "Allow" for p in active)
        if not ok:
            self.dropped.append((remote, int(port)))
        return ok

    def state(self) -> dict:
        return {"profiles": copy.deepcopy(self.profiles), "rules": self.rules()}

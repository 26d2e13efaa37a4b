"""Handlers for port.read and port.apply (drivers: scripts/ops/port.read.ps1, port.apply.ps1).

port.read  params: {"port": int, "protocol": "TCP", "ruleName": str}
  -> state {"port", "dynamic": [{settingName, startPort, numberOfPorts}], "excluded": [{family, startPort,
            endPort, administered}], "listeners": [{localAddress, localPort, pid, process, services: [name]}],
            "rule": {name, displayName, description, group, enabled, direction, action, protocol, localPorts,
                     remoteAddresses, profiles}|null, "profiles": [{name, enabled, defaultInboundAction}]}
port.apply params: the read params + {"steps": [{do: create|set, rule: {displayName, description, group,
  protocol, localPorts, remoteAddresses}} | {do: remove}]} (each step acts on ruleName)
  -> state as port.read plus "applied": [{"do", "changed"}]
"""
from __future__ import annotations

import re

from tests.emulator.ops import OpError, op
from tests.emulator.ops.svc_support import step_done
from tests.emulator.windows.firewall import FirewallError

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")   # the driver refuses wildcard characters too


def _params(params) -> tuple[int, str, str]:
    if not isinstance(params, dict):
        raise OpError("INVALID_PARAMS", "params must be an object")
    port, proto, name = params.get("port"), params.get("protocol"), params.get("ruleName")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise OpError("INVALID_PARAMS", "port must be 1-65535")
    if proto != "TCP":
        raise OpError("INVALID_PARAMS", "protocol must be TCP")
    if not isinstance(name, str) or not RULE_NAME.match(name):
        raise OpError("INVALID_PARAMS", "ruleName must be letters, digits, '.', '_' or '-'")
    return port, proto, name


def read_port(host, port: int, name: str) -> dict:
    net, fw = host.net, host.firewall
    excluded = [{"family": fam, **r} for fam, rs in sorted(net.excluded.items()) for r in rs]
    return {"port": port,
            "dynamic": [dict(v) for _k, v in sorted(net.dynamic.items())],
            "excluded": excluded,
            "listeners": net.listeners(port),
            "rule": fw.get(name),
            "profiles": [dict(p) for _k, p in sorted(fw.profiles.items())]}


@op("port.read")
def port_read(host, params: dict) -> dict:
    port, _proto, name = _params(params)
    return {"changed": False, "state": read_port(host, port, name)}


@op("port.apply")
def port_apply(host, params: dict) -> dict:
    port, proto, name = _params(params)
    steps = params.get("steps")
    if not isinstance(steps, list):
        raise OpError("INVALID_PARAMS", "steps must be a list")
    fw = host.firewall
    applied = []
    for st in steps:
        verb = st.get("do") if isinstance(st, dict) else None
        try:
            if verb in ("create", "set"):
                r = st.get("rule")
                if not isinstance(r, dict):
                    raise OpError("INVALID_PARAMS", f"{verb} needs a rule")
                kw = dict(display_name=str(r.get("displayName") or name), description=str(r.get("description") or ""),
                          group=str(r.get("group") or ""), direction="Inbound", action="Allow",
                          protocol=proto, local_ports=[str(p) for p in r.get("localPorts") or []],
                          remote_addresses=[str(a) for a in r.get("remoteAddresses") or []],
                          profiles="Any", enabled=True)
                before = fw.get(name)
                if verb == "create":
                    fw.create(name, **kw)
                else:                              # Set-NetFirewallRule cannot change the group
                    kw.pop("group")
                    fw.set(name, **kw)
                applied.append({"do": verb, "changed": fw.get(name) != before})
            elif verb == "remove":
                if fw.get(name) is not None:       # Remove-NetFirewallRule on an absent rule fails; the driver checks first
                    fw.remove(name)
                    applied.append({"do": verb, "changed": True})
                else:
                    applied.append({"do": verb, "changed": False})
            else:
                raise OpError("INVALID_PARAMS", f"unknown step {verb!r}")
        except FirewallError as exc:
            raise OpError(exc.code, f"firewall rule {name}: {exc.message}") from None
        step_done(host, "port.apply", verb)
    return {"changed": any(a["changed"] for a in applied),
            "state": {**read_port(host, port, name), "applied": applied}}

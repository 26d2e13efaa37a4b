"""Hostile inputs and faults against the operations resources (ServicePort's firewall rule and port
check, ServiceWatchdog, quota events, progress lines), in-process against the emulator over WinRM."""
from __future__ import annotations

import json

import pytest

from components.config import ConfigError, parse_config
from components.host.service_port import ServicePortProvider
from components.host.service_watchdog import ServiceWatchdogProvider, render_script
from tests.adversarial.report import record
from tests.emulator import Lab
from tests.emulator.ops.svc_support import clear_step_faults, inject_step_fault


@pytest.fixture
def lab():
    with Lab(hosts=1) as lab:
        yield lab


def port_props(h, **kw):
    out = {"connection": dict(h.endpoint), "serviceName": "api", "port": 8080, "ruleName": "winfleet-api",
           "remoteAddresses": ["168.63.129.16"]}
    out.update(kw)
    return out


HOSTILE_RULE_NAMES = ["winfleet-*", "winfleet-api?", "a b", "x'; Remove-NetFirewallRule -All; '", "..\\..\\x",
                      "rule`$(calc)", "", "-Name", "r\u00e9gle", "a" * 101, "name\x00nul", "@(1)"]


@pytest.mark.parametrize("name", HOSTILE_RULE_NAMES)
def test_hostile_rule_names_are_refused_at_check(lab, name):
    failures = ServicePortProvider().check({}, port_props(lab.hosts[0], ruleName=name)).failures
    outcome = "refused" if failures and failures[0].property.startswith("ruleName") else "interpreted"
    assert record("hostile-input:firewall-rule-name", repr(name), outcome) == "refused"


HOSTILE_ADDRESSES = [["0.0.0.0/0"], ["*"], ["::/0"], ["10.0.0.1; Remove-NetFirewallRule"], ["$(iex 'x')"],
                     ["LocalSubnet"], ["Internet"], ["10.0.0.0/33"], ["Any", "10.0.0.1"], ["10.0.0.1", "10.0.0.1"],
                     ["1.2.3.4-1.2.3.9"], [""], []]


@pytest.mark.parametrize("addrs", HOSTILE_ADDRESSES)
def test_hostile_remote_addresses_are_refused_at_check(lab, addrs):
    r = ServicePortProvider().check({}, port_props(lab.hosts[0], remoteAddresses=addrs))
    outcome = "refused" if r.failures and r.failures[0].property.startswith("remoteAddresses") else "interpreted"
    assert record("hostile-input:firewall-remote-address", repr(addrs), outcome) == "refused"


@pytest.mark.parametrize("desc", ["$(Remove-NetFirewallRule -All)", "'; Stop-Computer; '", "`n`r", "ünïcödé \u202e",
                                  "%SystemRoot% & del", "\"quoted\""])
def test_descriptions_travel_as_data(lab, desc):
    p = ServicePortProvider()
    inputs = p.check({}, port_props(lab.hosts[0], description=desc)).inputs
    p.create(inputs)
    rule = lab.hosts[0].model.firewall.get("winfleet-api")
    outcome = "literal" if rule["description"] == desc else "interpreted"
    assert record("hostile-input:firewall-description", repr(desc), outcome) == "literal"


@pytest.mark.parametrize("path", ["/h'; Restart-Computer; '", "/h$(x)", "/h`x", "/h h", "h", "/h#x", "/h\\x",
                                  "/h\u00e9", "/h\"x"])
def test_hostile_watchdog_health_paths_are_refused(lab, path):
    r = ServiceWatchdogProvider().check({}, {"connection": dict(lab.hosts[0].endpoint), "serviceName": "api",
                                             "port": 8080, "healthPath": path})
    outcome = "refused" if r.failures and r.failures[0].property.startswith("healthPath") else "interpreted"
    assert record("hostile-input:watchdog-health-path", repr(path), outcome) == "refused"


def test_watchdog_config_is_data_inside_a_base64_literal():
    """Even a config value the model would refuse cannot leave the literal: base64 has no quote."""
    script = render_script({"service": "x'; Stop-Computer; '", "port": 1, "path": "/", "intervalSeconds": 5,
                            "failureThreshold": 1, "timeoutSeconds": 1, "stopTimeoutSeconds": 1})
    line = next(l for l in script.splitlines() if "FromBase64String" in l)
    outcome = "literal" if "Stop-Computer" not in line and line.count("'") == 2 else "interpreted"
    assert record("hostile-input:watchdog-config", "quote in service name", outcome) == "literal"


@pytest.mark.parametrize("key,value", [("allowDynamicPort", "yes please"), ("watchdog", {"enabled": "maybe"}),
                                       ("watchdog", {"intervalSeconds": 5, "timeoutSeconds": 5}),
                                       ("watchdog", {"failureThreshold": 0}), ("watchdog", {"command": "calc.exe"})])
def test_hostile_service_config_is_refused_naming_the_key(key, value):
    raw = {"mode": "existingHosts",
           "existingHosts": [{"name": "h", "host": "192.0.2.1", "username": "u", "password": "p", "certSha256": "ab" * 32}],
           "services": [{"name": "api", "port": 8080, key: value,
                         "binary": {"url": "https://x.example/api.exe", "sha256": "cd" * 32}}]}
    try:
        parse_config(raw)
        outcome = "interpreted"
    except ConfigError as e:
        outcome = "refused" if any(f"services[0].{key}" in p.path for p in e.problems) else "interpreted"
    assert record("hostile-input:ops-config", f"{key}={json.dumps(value)}", outcome) == "refused"


@pytest.mark.parametrize("step", ["create", "remove"])
def test_fault_mid_firewall_apply_leaves_the_host_consistent(lab, step):
    h = lab.hosts[0]
    m = h.model
    p = ServicePortProvider()
    inputs = p.check({}, port_props(h)).inputs
    before = m.state()
    try:
        if step == "create":
            inject_step_fault(m, "port.apply", "create")
            with pytest.raises(Exception):
                p.create(inputs)
            # the failed create rolled back: no rule, no journal
            ok = m.firewall.get("winfleet-api") is None and m.state() == before
        else:
            res = p.create(inputs)
            inject_step_fault(m, "port.apply", "remove")
            with pytest.raises(Exception):
                p.delete(res.id, res.outs)
            clear_step_faults(m)
            p.delete(res.id, res.outs)             # the retry completes from the journal
            ok = m.firewall.get("winfleet-api") is None and m.state() == before
    finally:
        clear_step_faults(m)
    assert record("fault:firewall-apply", step, "survived" if ok else "data_lost") == "survived"

"""ServicePort through the real dynamic-provider host (gRPC) against the emulator over WinRM:
the guest firewall rule (issue 11 item 17) and the port's bindability on the host (issue 14 item 2)."""
from __future__ import annotations

import pytest

from components.host.service_port import ServicePortProvider
from tests.providers.conftest import connection, host_snapshot, journal
from tests.providers.harness import ProviderError

PROBE = "168.63.129.16"
KEY = "ServicePort/winfleet-api-tcp"


@pytest.fixture
def res(provider_host):
    return provider_host.resource(ServicePortProvider())


def props(host, **kw):
    out = {"connection": connection(host), "serviceName": "api", "port": 8080, "ruleName": "winfleet-api-tcp",
           "remoteAddresses": [PROBE, "203.0.113.0/24"]}
    out.update(kw)
    return {k: v for k, v in out.items() if v is not None}


def serve_api(model, port=8080):
    """A running service 'api' listening on `port` (its readiness endpoint)."""
    model.scm.create("api", "api", r"C:\api.exe")
    model.files.write(r"C:\api.exe", b"MZ api")
    model.scm.start("api")
    model.http.serve(port, service="api", mode="ready")


def test_lb_probe_reaches_the_service_only_with_the_rule(res, lab):
    m = lab.hosts[0].model
    before = host_snapshot(m)
    serve_api(m)
    # Windows Defender Firewall blocks inbound by default: the local gate passes, the LB probe does not.
    assert m.http.probe(8080, "/readyz")["status"] == 200
    assert m.http.probe_from(PROBE, 8080, "/readyz")["status"] is None
    base = host_snapshot(m)

    rid, outs = res.create(res.checked(props(lab.hosts[0])))
    assert outs["changed"] is True and outs["changes"][0]["do"] == "create"
    rule = m.firewall.get("winfleet-api-tcp")
    assert rule["direction"] == "Inbound" and rule["action"] == "Allow" and rule["localPorts"] == ["8080"]
    # Windows shows IPv4 subnets in mask notation; the state carries what the host says
    assert outs["state"]["rule"]["remoteAddresses"] == [PROBE, "203.0.113.0/255.255.255.0"]
    assert m.http.probe_from(PROBE, 8080, "/readyz")["status"] == 200
    assert m.http.probe_from("203.0.113.9", 8080, "/readyz")["status"] == 200
    assert m.http.probe_from("198.51.100.1", 8080, "/readyz")["status"] is None, "other sources stay blocked"
    assert journal(m)[KEY]["prior"] == {"rule": {"exists": False}}

    # converged: mask notation read back is not drift, an update changes nothing (the service itself
    # listening on its port is fine)
    rid2, read = res.read(rid, outs)
    assert read["drift"] == []
    assert res.update(rid, read, res.checked(props(lab.hosts[0])))["changed"] is False

    # drift: someone disables the rule; refresh shows it; update puts it back
    m.firewall.set("winfleet-api-tcp", enabled=False)
    _, read = res.read(rid, outs)
    assert read["drift"] == ["remoteAddresses"]
    assert res.diff(rid, read, res.checked(props(lab.hosts[0])))["changes"] == "some"
    outs = res.update(rid, read, res.checked(props(lab.hosts[0])))
    assert outs["changes"][0]["do"] == "set" and m.firewall.get("winfleet-api-tcp")["enabled"] is True

    # new client sources: in-place update
    outs = res.update(rid, outs, res.checked(props(lab.hosts[0], remoteAddresses=[PROBE])))
    assert m.firewall.get("winfleet-api-tcp")["remoteAddresses"] == [PROBE]

    res.delete(rid, outs)
    assert m.firewall.get("winfleet-api-tcp") is None
    assert host_snapshot(m) == base, "delete leaves the host as it was (no rule, no journal residue)"
    assert journal(m) == {}
    del before


def test_a_foreign_rule_with_our_name_is_refused_not_taken_over(res, lab):
    m = lab.hosts[0].model
    m.firewall.add_foreign_rule("winfleet-api-tcp", display_name="someone's rule", local_ports=["9999"])
    snap = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0])))
    assert "ruleName" in e.value.details and "not created by winfleet" in e.value.details
    assert host_snapshot(m) == snap, "nothing changed, nothing journaled"
    # a rule differing only by case is the same rule to Windows' lookup here (strict)
    m.firewall.remove("winfleet-api-tcp")
    m.firewall.add_foreign_rule("WINFLEET-API-TCP")
    with pytest.raises(ProviderError):
        res.create(res.checked(props(lab.hosts[0])))


def test_dropping_remote_addresses_removes_the_rule_and_keeps_checking(res, lab):
    m = lab.hosts[0].model
    rid, outs = res.create(res.checked(props(lab.hosts[0])))
    outs = res.update(rid, outs, res.checked(props(lab.hosts[0], remoteAddresses=None)))
    assert m.firewall.get("winfleet-api-tcp") is None and journal(m) == {}
    res.delete(rid, outs)


def test_dynamic_range_refused_unless_allowed(res, lab):
    m = lab.hosts[0].model
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0], port=50000)))
    assert "dynamic (ephemeral) port range 49152-65535" in e.value.details
    assert m.firewall.get("winfleet-api-tcp") is None
    # the host's own range counts, not the default: an administrator moved it down
    m.net.set_dynamic_range(8000, 20000)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0], port=8080)))
    assert "8000-27999" in e.value.details
    rid, outs = res.create(res.checked(props(lab.hosts[0], port=8080, allowDynamicPort=True)))
    assert m.firewall.get("winfleet-api-tcp") is not None
    res.delete(rid, outs)


def test_excluded_range_refused_naming_it(res, lab):
    m = lab.hosts[0].model
    m.net.exclude(8000, 8099, administered=True)
    snap = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0])))
    assert "excluded port range 8000-8099" in e.value.details and "administrator" in e.value.details
    assert host_snapshot(m) == snap


def test_port_held_by_another_process_refused_naming_it(res, lab):
    m = lab.hosts[0].model
    pid = m.net.listen(8080, "nginx")
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0])))
    assert f"process 'nginx' (pid {pid})" in e.value.details and "0.0.0.0:8080" in e.value.details
    m.net.close(8080)
    # another *service* holding it is named too
    m.scm.create("other", "other", r"C:\o.exe")
    m.files.write(r"C:\o.exe", b"MZ")
    m.scm.start("other")
    m.http.serve(8080, service="other")
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0])))
    assert "services other" in e.value.details


@pytest.mark.parametrize("field,value,words", [
    ("ruleName", "winfleet-*", "no wildcards"),
    ("ruleName", "a b", "no wildcards"),
    ("remoteAddresses", [], "at least one"),
    ("remoteAddresses", ["0.0.0.0/0"], "everyone"),
    ("remoteAddresses", ["Any", PROBE], "cannot be combined"),
    ("remoteAddresses", ["10.0.0.1; Remove-NetFirewallRule"], "not an IP address"),
    ("port", 0, "greater than or equal to 1"),
    ("protocol", "UDP", "TCP"),
])
def test_check_rejects_bad_inputs_naming_the_field(res, lab, field, value, words):
    _, failures = res.check(props(lab.hosts[0], **{field: value}))
    assert failures and failures[0][0].startswith(field) and words in failures[0][1], failures

"""existingHosts mode: HostTargets from config, no Azure resources; and config errors stop the program
before anything is registered."""
from __future__ import annotations

import copy

import pytest

from components.config import ConfigError, load_config, parse_config
from components.targets import HostTarget, existing_hosts
from tests.unit.conftest import stack_raw
from tests.unit.mocks import WinfleetMocks, resolve, run_program

CONNECTION_KEYS = {"host", "port", "username", "password", "auth", "caPem", "certSha256", "tlsServerName",
                   "hostName", "reachBudgetSeconds", "reachBackoffSeconds"}


def test_existing_hosts_targets(lab_raw, test_ca):
    cfg = parse_config(lab_raw)
    run = run_program(lambda: existing_hosts(cfg))
    targets = run.value
    assert run.resources == []                     # no Azure (or any) resources in this mode
    assert [t.name for t in targets] == ["lab-0", "lab-1", "lab-2"]
    for i, t in enumerate(targets):
        assert isinstance(t, HostTarget)
        conn, secret = resolve(t.connection)
        assert secret, "the connection (it holds the password) must be a secret Output"
        assert set(conn) == CONNECTION_KEYS
        assert conn["host"] == "127.0.0.1" and conn["port"] == 15986 + i
        assert conn["username"] == "winfleetadmin" and conn["password"] == f"lab-password-{i}"
        assert conn["auth"] == "ntlm" and conn["caPem"] == test_ca[0] and conn["certSha256"] is None
        assert conn["tlsServerName"] == f"lab-{i}" and conn["hostName"] == f"lab-{i}"
        assert t.data_disk == {"diskNumber": 1}
        assert t.depends_on == [] and t.private_ip is None and t.public_ip is None
        assert conn["reachBudgetSeconds"] == 600.0 and conn["reachBackoffSeconds"] == 2.0   # documented defaults


def test_reachability_budget_is_configured_in_minutes_under_winrm(lab_raw):
    raw = copy.deepcopy(lab_raw)
    raw.setdefault("winrm", {}).update({"reachBudgetMinutes": 0.5, "reachBackoffSeconds": 0.25})
    conn, _ = resolve(run_program(lambda: existing_hosts(parse_config(raw))).value[0].connection)
    assert conn["reachBudgetSeconds"] == 30.0 and conn["reachBackoffSeconds"] == 0.25
    raw["winrm"]["reachBudgetMinutes"] = 0
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert "winfleet:winrm.reachBudgetMinutes" in str(info.value)


def test_existing_hosts_data_disk_and_pinning_variants():
    raw = {"mode": "existingHosts", "winrm": {"auth": "basic"}, "existingHosts": [
        {"name": "a", "host": "a.lab", "username": "u", "password": "p", "certSha256": "AB" * 32},
        {"name": "b", "host": "b.lab", "port": 15986, "username": "u", "password": "p", "certSha256": "cd" * 32,
         "dataDisk": {"lun": 2}, "auth": "ntlm"}]}
    cfg = parse_config(raw)
    a, b = run_program(lambda: existing_hosts(cfg)).value
    ca, cb = resolve(a.connection)[0], resolve(b.connection)[0]
    assert a.data_disk == {} and b.data_disk == {"lun": 2}
    assert ca["certSha256"] == "ab" * 32 and ca["caPem"] is None and ca["auth"] == "basic"
    assert cb["auth"] == "ntlm" and cb["port"] == 15986


def test_existing_hosts_rejects_azure_mode_config():
    cfg = parse_config(copy.deepcopy(stack_raw("example")))
    with pytest.raises(ValueError):
        existing_hosts(cfg)


def test_bad_config_stops_before_any_resource_is_registered():
    """A program that loads config first (as __main__.py does) registers nothing when config is bad."""
    from components.azure.hosts import AzureHosts
    raw = copy.deepcopy(stack_raw("example"))
    raw["winrm"]["allowedSources"] = ["0.0.0.0/0"]
    raw["services"][0]["readinessPath"] = "readyz"
    config = {f"winfleet:{k}": v for k, v in raw.items()}
    mocks = WinfleetMocks()

    def program():
        cfg = load_config()
        return AzureHosts("winfleet", cfg)

    with pytest.raises(ConfigError) as ei:
        run_program(program, config=config, mocks=mocks)
    assert mocks.resources == []
    assert {p.path for p in ei.value.problems} == {"winfleet:winrm.allowedSources",
                                                   "winfleet:services[0].readinessPath"}

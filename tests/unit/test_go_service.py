"""GoService under Pulumi mocks: children, names, inputs, outputs; and its pure input builders."""
from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest

from components import sizing
from components.go_service import GoService, GoServiceArgs, dumps_inputs, quota_inputs, service_inputs
from components.targets import HostTarget
from tests.e2e.engine import resolve, run_program, strip_secrets
from tests.unit.fleet_fixtures import DUMPS, GO_SERVICE, PORT, QUOTA, WS, Graph, existing_cfg, service

ROOT = Path(__file__).resolve().parents[2]


def targets(n: int) -> list[HostTarget]:
    return [HostTarget(name=f"web-{i}", connection=pulumi.Output.secret({
        "host": f"10.1.0.{i + 4}", "port": 5986, "username": "u", "password": f"pw{i}", "auth": "ntlm",
        "caPem": None, "certSha256": "cd" * 32, "tlsServerName": None, "hostName": f"web-{i}"}),
        data_disk={}, depends_on=[]) for i in range(n)]


def build(cfg, n_hosts=3, svc_index=0, **kw):
    def program():
        return GoService(cfg.services[svc_index].name,
                         GoServiceArgs.from_config(cfg, cfg.services[svc_index], targets(n_hosts), **kw))
    run = run_program(program, {})
    return run, Graph(run)


def contract_inputs(type_name: str) -> set[str]:
    """Input names of a host resource as the contract table in docs/CONTRACTS.md lists them."""
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| `{type_name}`"))
    cell = re.split(r"(?<!\\)\|", row)[2]
    depth, cur = 0, ""
    for ch in cell:  # keep only top-level names (not nested keys in {...}, not enumerated values in (...))
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif depth == 0:
            cur += ch
    return set(re.findall(r"`([A-Za-z][A-Za-z0-9]*)`", cur)) | {"connection", "owner"}


def test_children_are_parented_and_named_per_host():
    cfg = existing_cfg(1)
    run, g = build(cfg, 3)
    comp = g.one(GO_SERVICE, "orders-api")
    kids = [r for r in g.regs if r.parent == comp.urn]
    assert sorted(r.name for r in kids) == sorted(
        [f"orders-api@web-{i}{suffix}" for i in range(3) for suffix in ("", "/port", "/quota", "/dumps")])
    assert {r.type for r in kids} == {WS, QUOTA, DUMPS, PORT}
    gs = run.value
    assert gs.batches == [["web-0"], ["web-1"], ["web-2"]]
    assert set(gs.windows_services) == {"web-0", "web-1", "web-2"}


def test_inputs_use_only_contract_names():
    cfg = existing_cfg(1)
    _, g = build(cfg, 1)
    for type_, reg_name in ((WS, "orders-api@web-0"), (QUOTA, "orders-api@web-0/quota"),
                            (DUMPS, "orders-api@web-0/dumps")):
        keys = set(strip_secrets(g.one(type_, reg_name).inputs)) - {"__provider", "state", "prior", "changed",
                                                                     "changes"}
        allowed = contract_inputs(type_.split(":")[-1])
        assert keys <= allowed, keys - allowed


def test_outputs_readiness_url_state_and_batch_per_host():
    cfg = existing_cfg(1, batch=2)
    run, _ = build(cfg, 3)
    gs = run.value
    svc = cfg.services[0]
    for i in range(3):
        out = resolve(gs.host_outputs[f"web-{i}"])
        assert out["readinessUrl"] == f"http://10.1.0.{i + 4}:{svc.port}{svc.readiness_path}"
        assert out["batch"] == i // 2
    assert gs.service_url is None


def test_service_url_is_passed_through():
    cfg = existing_cfg(1)
    run, _ = build(cfg, 2, service_url="http://10.40.1.5:8080/")
    assert resolve(run.value.service_url) == "http://10.40.1.5:8080/"


def test_dumps_off_means_no_crash_dumps_resource_and_full_tracebacks():
    cfg = existing_cfg(1, services=[service("api", 8080, crashDumps={"enabled": False})])
    _, g = build(cfg, 2)
    assert not g.of(DUMPS)
    env = strip_secrets(g.one(WS, "api@web-0").inputs)["environment"]
    assert env["GOTRACEBACK"] == "all"
    quota = strip_secrets(g.one(QUOTA, "api@web-0/quota").inputs)
    assert quota["budgetBytes"] == cfg.services[0].log_budget_bytes  # no dump budget


def test_localsystem_gets_no_quota_but_everything_else():
    cfg = existing_cfg(1, services=[service("api", 8080, account="LocalSystem")])
    assert quota_inputs(cfg.services[0], drive="D", headroom=1.5, enforce=True) is None
    _, g = build(cfg, 2)
    assert not g.of(QUOTA)
    assert set(g.of(WS)) == {"api@web-0", "api@web-1"}


def test_account_password_is_a_secret_input():
    cfg = existing_cfg(1, services=[service("api", 8080, account=".\\svc-api", accountPassword="s3cret!")])
    _, g = build(cfg, 1)
    ws = g.one(WS, "api@web-0")
    assert {"accountPassword", "connection"} <= ws.secret_keys
    assert strip_secrets(ws.inputs)["accountPassword"] == "s3cret!"


def test_preshutdown_shorter_than_lb_detection_is_refused():
    cfg = existing_cfg(1)
    svc = cfg.services[0]
    lb = cfg.load_balancer
    need = sizing.required_preshutdown_seconds(lb.probe_interval_seconds, lb.unhealthy_threshold, lb.drain_seconds)
    svc.preshutdown_timeout_seconds = need - 1   # bypassing config validation on purpose
    with pytest.raises(sizing.SizingError, match=f"at least {need}"):
        service_inputs(svc, lb=lb)
    svc.preshutdown_timeout_seconds = need
    assert service_inputs(svc, lb=lb)["preshutdownTimeoutSeconds"] == need


def test_pure_builders_follow_the_config():
    cfg = existing_cfg(1)
    for svc in cfg.services:
        q = quota_inputs(svc, drive=cfg.data_volume.drive_letter, headroom=cfg.quota.headroom,
                         enforce=cfg.quota.enforce)
        assert q["budgetBytes"] == svc.disk_budget_bytes
        assert q["limitBytes"] == cfg.quota_limit_bytes(svc)
        d = dumps_inputs(svc)
        assert d["dumpType"] == svc.crash_dumps.type and d["account"] == svc.account
        ws = service_inputs(svc, lb=cfg.load_balancer)
        assert ws["environment"] == svc.effective_environment

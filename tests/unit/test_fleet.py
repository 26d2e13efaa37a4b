"""The Fleet's resource graph under Pulumi mocks: what is created per host and per service, and —
from the dependencies the SDK sends in each RegisterResource request — the roll-out order."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from components.fleet import Fleet
from components.sizing import rollout_batches
from tests.e2e.engine import resolve, run_program, strip_secrets
from tests.unit.fleet_fixtures import (BASE, DUMPS, EVT, FLEET, GO_SERVICE, HOST, PORT, QUOTA, VM, VOL, WS, Graph,
                                      azure_cfg, existing_cfg, existing_raw)

ROOT = Path(__file__).resolve().parents[2]


def fleet_graph(cfg) -> Graph:
    return Graph(run_program(lambda: Fleet("winfleet", cfg), {}))


@pytest.mark.parametrize("n_hosts,batch", [(2, 1), (3, 1), (4, 1), (5, 2), (7, 3), (4, 3)])
def test_rollout_waits_for_the_previous_batch_of_the_same_service(n_hosts, batch):
    cfg = existing_cfg(n_hosts, batch=batch)
    g = fleet_graph(cfg)
    hosts = [h.name for h in cfg.existing_hosts]
    batches = rollout_batches(hosts, batch)
    for svc in cfg.services:
        for b, members in enumerate(batches):
            for h in members:
                ws = g.one(WS, f"{svc.name}@{h}")
                same_service = {d for d in g.deps(ws, WS) if d.startswith(svc.name + "@")}
                expected = {f"{svc.name}@{p}" for p in batches[b - 1]} if b else set()
                assert same_service == expected, (svc.name, h, b)


@pytest.mark.parametrize("n_hosts,batch", [(3, 1), (4, 2), (5, 2)])
def test_engine_waves_put_each_batch_strictly_after_the_previous_one(n_hosts, batch):
    """Schedule the captured graph like the engine (a step starts when its dependencies finished):
    every host of batch b runs in the same wave, and that wave is later than batch b-1's."""
    cfg = existing_cfg(n_hosts, batch=batch)
    g = fleet_graph(cfg)
    waves = g.levels()
    batches = rollout_batches([h.name for h in cfg.existing_hosts], batch)
    for svc in cfg.services:
        per_batch = [{waves[f"WindowsService:{svc.name}@{h}"] for h in members} for members in batches]
        assert all(len(w) == 1 for w in per_batch), per_batch          # a batch goes together
        firsts = [min(w) for w in per_batch]
        assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts)  # one batch after another


def test_each_host_gets_its_host_resources_and_every_service():
    cfg = existing_cfg(3)
    g = fleet_graph(cfg)
    hosts = [h.name for h in cfg.existing_hosts]
    assert set(g.of(VOL)) == {f"{h}/data" for h in hosts}
    assert set(g.of(EVT)) == {f"{h}/eventlogs" for h in hosts}
    assert set(g.of(BASE)) == {f"{h}/baseline" for h in hosts}
    names = [s.name for s in cfg.services]
    assert set(g.of(WS)) == {f"{s}@{h}" for s, h in itertools.product(names, hosts)}
    assert set(g.of(QUOTA)) == {f"{s}@{h}/quota" for s, h in itertools.product(names, hosts)}
    assert set(g.of(DUMPS)) == {f"{s}@{h}/dumps" for s, h in itertools.product(names, hosts)}
    # components: one Fleet, a Host per host, a GoService per service
    assert set(g.of(FLEET)) == {"winfleet"}
    assert set(g.of(HOST)) == set(hosts)
    assert set(g.of(GO_SERVICE)) == set(names)


def test_service_resources_wait_for_their_own_hosts_host_wide_resources_only():
    cfg = existing_cfg(3)
    g = fleet_graph(cfg)
    for reg in list(g.of(WS).values()) + list(g.of(QUOTA).values()) + list(g.of(DUMPS).values()):
        host = reg.name.split("@")[1].split("/")[0]
        assert g.deps(reg, VOL) == {f"{host}/data"}, reg.name
        assert g.deps(reg, EVT) == {f"{host}/eventlogs"}, reg.name
        assert g.deps(reg, BASE) == {f"{host}/baseline"}, reg.name
    for reg in list(g.of(EVT).values()) + list(g.of(BASE).values()) + list(g.of(VOL).values()):
        assert not g.deps(reg), reg.name  # host-wide resources only wait for the host itself (its VM)
    ws = g.one(WS, "orders-api@lab-1")
    assert "orders-api@lab-1/dumps" in g.deps(ws)
    # the quota comes after the service: NT SERVICE\<svc> has no SID before the service is registered
    assert "orders-api@lab-1/quota" not in g.deps(ws)
    assert "orders-api@lab-1" in g.deps(g.one(QUOTA, "orders-api@lab-1/quota"), WS)


@pytest.mark.parametrize("n_hosts,batch", [(3, 1), (5, 2)])
def test_quota_follows_its_service_and_the_next_batch_waits_for_it(n_hosts, batch):
    """Issue 11 item 2: every NtfsQuota for NT SERVICE\<svc> depends on that service's WindowsService on
    its host (the name resolves only once the service exists), and batch b+1 waits for batch b's quotas,
    so a quota failure stops the roll-out at its batch; in the engine's waves the quota runs after the
    service and before the next batch."""
    cfg = existing_cfg(n_hosts, batch=batch)
    g = fleet_graph(cfg)
    waves = g.levels()
    batches = rollout_batches([h.name for h in cfg.existing_hosts], batch)
    for svc in cfg.services:
        for b, members in enumerate(batches):
            for h in members:
                q = g.one(QUOTA, f"{svc.name}@{h}/quota")
                assert f"{svc.name}@{h}" in g.deps(q, WS)
                assert waves[f"NtfsQuota:{svc.name}@{h}/quota"] > waves[f"WindowsService:{svc.name}@{h}"]
                if b + 1 < len(batches):
                    for nxt in batches[b + 1]:
                        assert f"{svc.name}@{h}/quota" in g.deps(g.one(WS, f"{svc.name}@{nxt}"), QUOTA)
                        assert waves[f"WindowsService:{svc.name}@{nxt}"] > waves[f"NtfsQuota:{svc.name}@{h}/quota"]


def test_a_service_depending_on_another_waits_for_it_on_the_same_host():
    cfg = existing_cfg(3)
    g = fleet_graph(cfg)
    for h in ("lab-0", "lab-1", "lab-2"):
        worker = g.one(WS, f"billing-worker@{h}")
        assert {d for d in g.deps(worker, WS) if d.startswith("orders-api@")} == {f"orders-api@{h}"}


def test_parents_read_like_the_infrastructure():
    g = fleet_graph(existing_cfg(2))
    fleet = g.one(FLEET, "winfleet")
    for reg in g.regs:
        parent = g.parent(reg)
        if reg.type in (WS, QUOTA, DUMPS):
            assert parent.type == GO_SERVICE and parent.name == reg.name.split("@")[0]
        elif reg.type in (VOL, EVT, BASE):
            assert parent.type == HOST and parent.name == reg.name.split("/")[0]
        elif reg.type in (GO_SERVICE, HOST):
            assert parent.urn == fleet.urn


def test_service_inputs_carry_sizing_environment_and_shutdown():
    cfg = existing_cfg(2)
    g = fleet_graph(cfg)
    for svc in cfg.services:
        for h in ("lab-0", "lab-1"):
            ws = g.one(WS, f"{svc.name}@{h}")
            inp = strip_secrets(ws.inputs)
            assert "connection" in ws.secret_keys and inp["connection"]["hostName"] == h
            assert inp["serviceName"] == svc.name and inp["port"] == svc.port
            env = inp["environment"]
            assert env["GOTRACEBACK"] == "wer"
            assert env["WINFLEET_LOG_DIR"] == inp["logs"]["directory"] == svc.logs.directory
            assert int(env["WINFLEET_LOG_MAX_SIZE_BYTES"]) == inp["logs"]["maxSizeBytes"] == svc.logs.max_size_bytes
            assert int(env["WINFLEET_LOG_MAX_FILES"]) == inp["logs"]["maxFiles"] == svc.logs.max_files
            for k, v in svc.environment.items():
                assert env[k] == v
            lb = cfg.load_balancer
            assert inp["preshutdownTimeoutSeconds"] >= lb.probe_interval_seconds * lb.unhealthy_threshold + lb.drain_seconds
            assert inp["recovery"]["failureActionsOnNonCrash"] is True
            assert [a["action"] for a in inp["recovery"]["actions"]] == [a.action for a in svc.recovery.actions]
            quota = strip_secrets(g.one(QUOTA, f"{svc.name}@{h}/quota").inputs)
            assert quota["account"] == svc.account == inp["account"]
            assert quota["budgetBytes"] == svc.disk_budget_bytes
            assert quota["limitBytes"] >= quota["budgetBytes"] * cfg.quota.headroom
            assert quota["volume"] == f"{cfg.data_volume.drive_letter}:"
            dumps = strip_secrets(g.one(DUMPS, f"{svc.name}@{h}/dumps").inputs)
            assert dumps["exeName"] == svc.binary.exe_name and dumps["dumpCount"] == svc.crash_dumps.count
            assert dumps["dumpFolder"] == svc.crash_dumps.folder


def test_event_logs_baseline_and_data_volume_inputs_come_from_config():
    cfg = existing_cfg(1)
    g = fleet_graph(cfg)
    ev = strip_secrets(g.one(EVT, "lab-0/eventlogs").inputs)
    assert {l["name"]: l["maxSizeKb"] for l in ev["logs"]} == {n: l.max_size_kb for n, l in cfg.event_logs.items()}
    base = strip_secrets(g.one(BASE, "lab-0/baseline").inputs)
    own = {s.name.lower() for s in cfg.services}
    assert base["baselineName"] == cfg.baseline.name
    assert not own & {s.lower() for s in base["services"]}
    vol = strip_secrets(g.one(VOL, "lab-0/data").inputs)
    assert vol["driveLetter"] == cfg.data_volume.drive_letter
    assert vol["diskNumber"] == cfg.existing_hosts[0].data_disk.disk_number


def test_azure_mode_host_resources_wait_for_their_vm():
    cfg = azure_cfg(3)
    g = fleet_graph(cfg)
    vms = g.of(VM)
    assert len(vms) == 3
    hosts = cfg.azure.host_names()
    for h in hosts:
        vm_urns = {r.urn for r in vms.values() if h in r.name}
        assert len(vm_urns) == 1
        for reg in (g.one(VOL, f"{h}/data"), g.one(EVT, f"{h}/eventlogs"), g.one(WS, f"orders-api@{h}"),
                    g.one(QUOTA, f"orders-api@{h}/quota")):
            assert vm_urns <= g.dep_urns(reg), reg.name
            other_vms = {r.urn for r in vms.values()} - vm_urns
            assert not other_vms & g.dep_urns(reg) or reg.type == WS, reg.name
        vol = strip_secrets(g.one(VOL, f"{h}/data").inputs)
        assert "lun" in vol
    # the roll-out order is the same in Azure mode
    waves = g.levels()
    assert [waves[f"WindowsService:orders-api@{h}"] for h in hosts] == sorted(
        {waves[f"WindowsService:orders-api@{h}"] for h in hosts})


def test_program_exports_service_urls_and_per_host_readiness(tmp_path):
    """__main__.py under mocks: the stack outputs per service (URL in Azure mode) and per host."""
    cfg_raw = existing_raw(2)
    config = {f"winfleet:{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in cfg_raw.items()}
    run = run_program(ROOT / "__main__.py", config, secret_keys=[])
    services = run.outputs["services"]
    assert set(services) == {s["name"] for s in cfg_raw["services"]}
    for name, svc in services.items():
        port = next(s["port"] for s in cfg_raw["services"] if s["name"] == name)
        path = next(s.get("readinessPath", "/readyz") for s in cfg_raw["services"] if s["name"] == name)
        assert svc["serviceUrl"] is None  # no balancer in existingHosts mode
        for i, h in enumerate(cfg_raw["existingHosts"]):
            assert svc["hosts"][h["name"]]["readinessUrl"] == f"http://{h['host']}:{port}{path}"
            assert svc["hosts"][h["name"]]["batch"] == i


def test_azure_mode_service_url_is_the_balancer_frontend():
    cfg = azure_cfg(2)
    run = run_program(lambda: Fleet("winfleet", cfg), {})
    fleet = run.value
    for svc in cfg.services:
        url = resolve(fleet.services[svc.name].service_url)
        lb_url = resolve(fleet.azure.service_endpoints[svc.name].url)
        assert url == lb_url and url.startswith("http://") and f":{svc.port}" in url
        for i, target in enumerate(fleet.targets):
            out = resolve(fleet.services[svc.name].host_outputs[target.name])
            ip = resolve(target.private_ip)
            assert out["readinessUrl"] == f"http://{ip}:{svc.port}{svc.readiness_path}"
            assert out["batch"] == i


def test_no_services_still_configures_every_host():
    cfg = existing_cfg(2, services=[])
    g = fleet_graph(cfg)
    assert set(g.of(VOL)) == {"lab-0/data", "lab-1/data"}
    assert not g.of(WS) and not g.of(GO_SERVICE) and not g.of(QUOTA)


@pytest.mark.parametrize("baseline,expect", [({"name": "none"}, False),
                                             ({"name": "none", "services": ["XblGameSave"]}, True),
                                             ({"name": "go-host-minimal"}, True)])
def test_baseline_resource_only_when_there_is_something_to_disable(baseline, expect):
    cfg = existing_cfg(1, baseline=baseline)
    g = fleet_graph(cfg)
    assert bool(g.of(BASE)) is expect
    if expect:
        listed = strip_secrets(g.one(BASE, "lab-0/baseline").inputs)["services"]
        assert set(baseline.get("services", [])) <= set(listed)


def test_single_host_has_a_single_batch_and_no_rollout_edges():
    cfg = existing_cfg(1)
    g = fleet_graph(cfg)
    for ws in g.of(WS).values():
        name = ws.name.split("@")[0]
        assert not {d for d in g.deps(ws, WS) if d.startswith(name + "@")}


@pytest.mark.parametrize("n_hosts,batch", [(3, 1), (4, 2)])
def test_related_services_move_host_by_host_together(n_hosts, batch):
    """billing-worker depends on orders-api (SCM): an orders-api update stops billing-worker on its
    host. So batch b of orders-api also waits for batch b-1 of billing-worker; with both changed, the
    engine's waves go api@0, worker@0, api@1, worker@1, ... — never two batches of the worker down."""
    cfg = existing_cfg(n_hosts, batch=batch)
    g = fleet_graph(cfg)
    batches = rollout_batches([h.name for h in cfg.existing_hosts], batch)
    for b, members in enumerate(batches):
        for h in members:
            api = g.one(WS, f"orders-api@{h}")
            expected = {f"billing-worker@{p}" for p in batches[b - 1]} if b else set()
            assert {d for d in g.deps(api, WS) if d.startswith("billing-worker@")} == expected
    waves = g.levels()
    order = []
    for members in batches:
        order.append({waves[f"WindowsService:orders-api@{h}"] for h in members})
        order.append({waves[f"WindowsService:billing-worker@{h}"] for h in members})
    assert all(len(w) == 1 for w in order)
    flat = [w.pop() for w in order]
    assert flat == sorted(flat) and len(set(flat)) == len(flat)


def test_independent_services_roll_independently():
    cfg = existing_cfg(3, services=[dict(s, dependencies=[]) for s in existing_raw()["services"]])
    g = fleet_graph(cfg)
    for reg in g.of(WS).values():
        name = reg.name.split("@")[0]
        assert all(d.startswith(name + "@") for d in g.deps(reg, WS)), reg.name


def test_every_load_balanced_port_gets_a_firewall_rule_before_its_service():
    """Issue 11 item 17: Azure mode load-balances every service port; each host gets a ServicePort whose
    firewall rule admits the LB probe address and the client sources, and the service waits for it."""
    cfg = azure_cfg(2)
    g = fleet_graph(cfg)
    for svc in cfg.services:
        for h in cfg.azure.host_names():
            port = g.one(PORT, f"{svc.name}@{h}/port")
            inp = strip_secrets(port.inputs)
            assert inp["port"] == svc.port and inp["serviceName"] == svc.name
            assert inp["ruleName"] == f"winfleet-{svc.name}"
            assert inp["remoteAddresses"] == ["168.63.129.16", "10.0.0.0/8"]
            assert port.urn in g.dep_urns(g.one(WS, f"{svc.name}@{h}")), "the port is checked before the service"


def test_existing_hosts_ports_are_checked_but_not_opened():
    cfg = existing_cfg(2)
    g = fleet_graph(cfg)
    for svc in cfg.services:
        for h in cfg.existing_hosts:
            inp = strip_secrets(g.one(PORT, f"{svc.name}@{h.name}/port").inputs)
            assert "remoteAddresses" not in inp, "no balancer, no configured clients: no rule"
            assert inp["allowDynamicPort"] is False


@pytest.mark.parametrize("sources,vnet,expect", [
    ([], "10.40.0.0/16", ["168.63.129.16"]),
    (["VirtualNetwork", "203.0.113.0/24"], "10.40.0.0/16", ["168.63.129.16", "10.40.0.0/16", "203.0.113.0/24"]),
    (["203.0.113.0/24", "Internet"], "10.40.0.0/16", ["Any"]),
])
def test_firewall_sources_map_the_nsg_tags(sources, vnet, expect):
    from components.go_service import firewall_sources
    assert firewall_sources(sources, vnet) == expect


def test_watchdog_is_opt_in_and_comes_after_its_service():
    from tests.unit.fleet_fixtures import H, service
    cfg = existing_cfg(2, services=[service("orders-api", 8080, watchdog={"enabled": True, "failureThreshold": 5}),
                                    service("billing-worker", 9090)])
    g = fleet_graph(cfg)
    wd = g.of(H + "ServiceWatchdog")
    assert set(wd) == {f"orders-api@{h.name}/watchdog" for h in cfg.existing_hosts}, "billing-worker did not opt in"
    for h in cfg.existing_hosts:
        r = wd[f"orders-api@{h.name}/watchdog"]
        inp = strip_secrets(r.inputs)
        assert (inp["port"], inp["healthPath"], inp["failureThreshold"]) == (8080, "/healthz", 5)
        assert g.one(WS, f"orders-api@{h.name}").urn in g.dep_urns(r)

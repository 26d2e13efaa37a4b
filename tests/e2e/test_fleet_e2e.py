"""End to end: `Pulumi.lab.yaml` (3 hosts) + 2 Go services, run by the engine-faithful harness against
emulated Windows hosts — program under mocks -> real dynamic-provider host over gRPC -> WinRM -> emulator.

Scenarios: first run converges every host; a second run changes nothing and makes no WinRM request;
changing one service's binary rolls host by host behind the readiness gate; a service that never
becomes ready stops the roll-out there; destroy returns every host to its initial state.
Everything expected is derived from the stack config (components.config), not written out.
"""
from __future__ import annotations

import copy

import pytest

from components.config import parse_config
from components.host.baselines import resolve_baseline
from components.host.windows_service import decode_failure_actions
from components.sizing import MIB
from tests.e2e.engine import EngineError
from tests.e2e.lab_stack import two_service_stack
from tests.emulator import Lab

pytestmark = pytest.mark.slow

HOSTS = ["lab-0", "lab-1", "lab-2"]
SERVICES_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services"
LOCALDUMPS = "HKLM\\SOFTWARE\\Microsoft\\Windows\\Windows Error Reporting\\LocalDumps"
ACTION = {"none": 0, "restart": 1, "reboot": 2}
JOURNAL_CONTAINERS = ("HKLM\\SOFTWARE\\winfleet", "HKLM\\SOFTWARE\\winfleet\\Journal")
DUMP_TYPE = {"mini": 1, "full": 2}


@pytest.fixture
def lab():
    with Lab(names=HOSTS, latency=0.0) as lab:
        yield lab


@pytest.fixture
def stack(lab, tmp_path):
    return two_service_stack(lab, tmp_path)


# ---------------------------------------------------------------------------------------------
def reg_value(state: dict, key: str, name: str):
    for k, values in state["registry"].items():
        if k.lower() == key.lower():
            got = {n.lower(): v for n, v in values.items()}.get(name.lower())
            return None if got is None else got["data"]
    return None


def reg_key_exists(state: dict, key: str) -> bool:
    return any(k.lower() == key.lower() for k in state["registry"])


def volume(state: dict, letter: str) -> dict | None:
    for disk in state["storage"]["disks"].values():
        for p in disk["partitions"]:
            if (p.get("driveLetter") or "").upper() == letter.upper():
                return p["volume"]
    return None


def explicit_rights(state: dict, path: str, account: str) -> str | None:
    entry = next((v for k, v in state["files"].items() if k.lower() == path.lower()), None)
    for ace in (entry or {}).get("acl", []):
        if not ace.get("inherited") and ace["identity"].lower() == account.lower():
            return ace["rights"]
    return None


def binary_sha(lab, host: str, svc) -> str | None:
    h = lab.host(host)
    path = f"{svc.install_dir}\\{svc.binary.exe_name}"
    with h.model.lock:
        return h.model.files.sha256(path) if h.model.files.is_file(path) else None


def started_at(lab, host: str, name: str):
    h = lab.host(host)
    with h.model.lock:
        return h.model.scm.started_at(name)


def assert_converged(lab, stack):
    cfg = parse_config(copy.deepcopy(stack.raw))
    own = [s.name for s in cfg.services]
    baseline = resolve_baseline(cfg.baseline.name, cfg.baseline.services, own)
    drive = cfg.data_volume.drive_letter
    for host in HOSTS:
        st = lab.host(host).model.state()
        # data volume online, NTFS, quota tracking on
        vol = volume(st, drive)
        assert vol is not None and vol["fileSystem"] == "NTFS" and vol["label"] == cfg.data_volume.label, host
        assert vol["quota"]["state"] == ("enforced" if cfg.quota.enforce else "tracked")
        # event logs sized
        for name, log in cfg.event_logs.items():
            assert st["eventlogs"][name]["maxSizeBytes"] == log.max_size_kb * 1024, (host, name)
            assert st["eventlogs"][name]["retention"] == log.retention
        # baseline: every listed service present on the image is disabled; ours are not
        for name in baseline:
            start = reg_value(st, f"{SERVICES_KEY}\\{name}", "Start")
            assert start in (None, 4), (host, name, start)
        assert any(reg_value(st, f"{SERVICES_KEY}\\{n}", "Start") == 4 for n in baseline), host
        for svc in cfg.services:
            key = f"{SERVICES_KEY}\\{svc.name}"
            assert st["services"][svc.name]["status"] == "running", (host, svc.name)
            assert reg_value(st, key, "ObjectName") == svc.account
            assert svc.binary.exe_name in reg_value(st, key, "ImagePath")
            assert binary_sha(lab, host, svc) == svc.binary.sha256
            # environment: user variables + log settings + GOTRACEBACK=wer (dumps on)
            env = dict(line.split("=", 1) for line in reg_value(st, key, "Environment"))
            assert env["GOTRACEBACK"] == ("wer" if svc.crash_dumps.enabled else "all")
            assert env["WINFLEET_LOG_DIR"] == svc.logs.directory
            assert int(env["WINFLEET_LOG_MAX_SIZE_BYTES"]) == svc.logs.max_file_size_mb * MIB
            assert int(env["WINFLEET_LOG_MAX_FILES"]) == svc.logs.max_files
            assert all(env[k] == v for k, v in svc.environment.items())
            # crash supervision + graceful shutdown
            reset, actions = decode_failure_actions(reg_value(st, key, "FailureActions"))
            assert reset == svc.recovery.reset_period_seconds
            assert actions == [(ACTION[a.action], a.delay_seconds * 1000) for a in svc.recovery.actions]
            assert reg_value(st, key, "FailureActionsOnNonCrashFailures") == int(svc.recovery.failure_actions_on_non_crash)
            assert reg_value(st, key, "PreshutdownTimeout") == svc.preshutdown_timeout_seconds * 1000
            lb = cfg.load_balancer
            assert svc.preshutdown_timeout_seconds >= lb.probe_interval_seconds * lb.unhealthy_threshold + lb.drain_seconds
            # event source
            assert reg_key_exists(st, f"{SERVICES_KEY}\\EventLog\\{svc.event_source.log_name}\\{svc.event_source.source}")
            # log directory on the data volume, writable by the service account
            assert "Modify" in (explicit_rights(st, svc.logs.directory, svc.account) or "")
            # quota sized from the budget
            entry = vol["quota"]["entries"][svc.account.lower()]
            assert entry["limitBytes"] == cfg.quota_limit_bytes(svc) >= svc.disk_budget_bytes
            assert entry["warningBytes"] == svc.disk_budget_bytes
            # WER LocalDumps for the exe, folder writable by the account
            dk = f"{LOCALDUMPS}\\{svc.binary.exe_name}"
            assert reg_value(st, dk, "DumpFolder") == svc.crash_dumps.folder
            assert reg_value(st, dk, "DumpCount") == svc.crash_dumps.count
            assert reg_value(st, dk, "DumpType") == DUMP_TYPE[svc.crash_dumps.type]
            assert "Modify" in (explicit_rights(st, svc.crash_dumps.folder, svc.account) or "")
            # the readiness gate probed the service's own URL
            assert (svc.port, svc.readiness_path) in lab.host(host).model.http.probes


def windows_service_steps(result, service: str):
    return sorted((s for s in result.steps if s.ok and s.type.endswith(":WindowsService")
                   and s.name.startswith(service + "@")), key=lambda s: s.start)


# ---------------------------------------------------------------------------------------------
def test_first_run_converges_then_nothing_changes_without_winrm(lab, stack):
    result = stack.up()
    n_services = len(stack.services)
    per_host = 3 + 4 * n_services  # data, eventlogs, baseline + port, quota, dumps, service per service
    assert result.summary() == {"create": per_host * len(HOSTS)}
    assert_converged(lab, stack)

    # the first deployment is rolled out too: host by host per service
    for name in ("orders-api", "billing-worker"):
        steps = windows_service_steps(result, name)
        assert [s.name.split("@")[1] for s in steps] == HOSTS
        assert all(a.end <= b.start for a, b in zip(steps, steps[1:]))

    outputs = stack.stack_outputs()["services"]
    for svc in stack.services:
        path = svc.get("readinessPath", "/readyz")
        for host in HOSTS:
            out = outputs[svc["name"]]["hosts"][host]
            assert out["state"].lower() == "running"
            ep = lab.host(host).endpoint
            assert out["readinessUrl"] == f"http://{ep['host']}:{svc['port']}{path}"

    before = stack.requests()
    again = stack.up()
    assert again.summary() == {"same": per_host * len(HOSTS)} and not again.changes
    assert stack.requests() == before  # not a single WinRM request


def test_binary_change_rolls_host_by_host_behind_readiness(lab, stack):
    stack.up()
    cfg_before = parse_config(copy.deepcopy(stack.raw))
    old_api = cfg_before.service("orders-api")
    worker = cfg_before.service("billing-worker")
    probes_before = {h: len(lab.host(h).model.http.probes) for h in HOSTS}
    worker_started = {h: started_at(lab, h, "billing-worker") for h in HOSTS}

    new = stack.set_version("orders-api", "1.5.0")
    assert new["sha256"] != old_api.binary.sha256
    result = stack.up()

    changed = sorted(s.name for s in result.changes)
    assert changed == [f"orders-api@{h}" for h in HOSTS]
    assert all(s.op == "update" for s in result.changes)
    steps = windows_service_steps(result, "orders-api")
    assert [s.name.split("@")[1] for s in steps] == HOSTS
    for prev, nxt in zip(steps, steps[1:]):
        assert prev.end <= nxt.start  # the next host only after the previous one is done ...
        prev_host, next_host = prev.name.split("@")[1], nxt.name.split("@")[1]
        # ... whose new process was started (and passed the gate) before the next host was touched:
        # the emulator's SCM clock and the engine's step times are the same monotonic clock
        assert prev.start <= started_at(lab, prev_host, "orders-api") <= nxt.start
        assert started_at(lab, next_host, "orders-api") >= nxt.start
    cfg = parse_config(copy.deepcopy(stack.raw))
    for h in HOSTS:
        assert binary_sha(lab, h, cfg.service("orders-api")) == new["sha256"]
        assert len(lab.host(h).model.http.probes) > probes_before[h]  # the gate ran on every host
        assert binary_sha(lab, h, worker) == worker.binary.sha256      # the other service: untouched
        assert lab.host(h).model.state()["services"]["billing-worker"]["status"] == "running"
        assert started_at(lab, h, "billing-worker") == worker_started[h]  # not even restarted
    assert_converged(lab, stack)


def test_never_ready_stops_the_rollout_and_later_hosts_keep_the_previous_version(lab, stack):
    """Version 2.0.0 of orders-api never becomes ready on lab-1 (its previous build would): lab-0 runs
    2.0.0, lab-1 is rolled back to the previous build — running and ready — and the update fails;
    lab-2 is never touched. Once the cause is fixed the next run finishes lab-1, then lab-2."""
    stack.up()
    old = parse_config(copy.deepcopy(stack.raw)).service("orders-api")
    old_started = {h: started_at(lab, h, "orders-api") for h in HOSTS}
    new = stack.set_version("orders-api", "2.0.0")
    api = stack.service("orders-api")
    path = api.get("readinessPath", "/readyz")
    stack.serve("lab-1", api, mode="never", status=503, body="warming up forever", binary_sha256=new["sha256"])

    with pytest.raises(EngineError) as ei:
        stack.up()
    err = ei.value
    assert err.step.name == "orders-api@lab-1" and err.step.op == "update"
    message = str(err)
    assert "orders-api@lab-1" in message                     # the resource: service @ host
    # the provider's own words name the service, the host, the readiness URL, the last answer and the rollback
    assert "WindowsService 'orders-api' on lab-1: update failed" in err.provider_message
    assert "503" in err.provider_message and "warming up forever" in err.provider_message
    assert f"localhost:{api['port']}{path}" in err.provider_message
    assert "rolled back to the previous version" in err.provider_message
    assert binary_sha(lab, "lab-0", old) == new["sha256"]          # before the failure: new version
    # the failed host: back on the previous build, restarted, running and ready, nothing left behind
    assert binary_sha(lab, "lab-1", old) == old.binary.sha256
    assert started_at(lab, "lab-1", "orders-api") > old_started["lab-1"]
    h1 = lab.host("lab-1")
    with h1.model.lock:
        assert h1.model.scm.status("orders-api") == "running"
        assert h1.model.http.probe(api["port"], path)["status"] == 200
        assert not h1.model.files.exists(f"{old.install_dir}\\{old.binary.exe_name}.previous")
    assert binary_sha(lab, "lab-2", old) == old.binary.sha256      # after it: never touched
    assert started_at(lab, "lab-2", "orders-api") == old_started["lab-2"]
    assert lab.host("lab-2").model.state()["services"]["orders-api"]["status"] == "running"
    assert not any(s.name == "orders-api@lab-2" for s in err.result.steps)
    cp = {e["name"]: e for e in stack.checkpoint().values()}
    assert cp["orders-api@lab-0"]["outputs"]["binarySha256"] == new["sha256"]
    assert cp["orders-api@lab-1"]["outputs"]["binarySha256"] == old.binary.sha256  # failed update: old state
    assert cp["orders-api@lab-2"]["outputs"]["binarySha256"] == old.binary.sha256

    # the cause fixed, the next `up` finishes the roll-out from where it stopped
    stack.serve("lab-1", api, mode="ready")
    result = stack.up()
    assert [s.name for s in windows_service_steps(result, "orders-api") if s.changed] == [
        "orders-api@lab-1", "orders-api@lab-2"]
    for h in HOSTS:
        assert binary_sha(lab, h, old) == new["sha256"]
    assert_converged(lab, stack)


def test_destroy_returns_every_host_to_its_initial_state(lab, stack):
    initial = lab.state()
    stack.up()
    stack.set_version("orders-api", "1.1.0")
    stack.up()
    result = stack.destroy()
    assert result.summary() == {"delete": (3 + 4 * len(stack.services)) * len(HOSTS)}
    assert stack.checkpoint() == {}
    final = lab.state()
    for host in HOSTS:
        # Nothing is left, winfleet's own bookkeeping included: the last journal clear removes
        # HKLM\SOFTWARE\winfleet\Journal and then HKLM\SOFTWARE\winfleet (ops on one host ran concurrently;
        # the drivers serialise those key removals with a host-wide mutex). Exactly as before, no exceptions.
        assert [k for k in JOURNAL_CONTAINERS if k in final[host]["registry"]] == [], host
        assert state_diff(initial[host], final[host]) == [], host


def state_diff(before, after, path: str = "") -> list[str]:
    """Readable differences between two host snapshots: '+ path', '- path', '~ path: old -> new'."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after), key=str):
            p = f"{path}/{k}"
            if k not in before:
                out.append(f"+ {p} = {after[k]!r}"[:300])
            elif k not in after:
                out.append(f"- {p} (was {before[k]!r})"[:300])
            else:
                out += state_diff(before[k], after[k], p)
        return out
    return [] if before == after else [f"~ {path}: {before!r} -> {after!r}"[:300]]


def test_batches_of_two_roll_together(tmp_path):
    names = [f"lab-{i}" for i in range(4)]
    with Lab(names=names) as lab:
        stack = two_service_stack(lab, tmp_path, batch_size=2)
        stack.up()
        stack.set_version("orders-api", "1.6.0")
        steps = windows_service_steps(stack.up(), "orders-api")
        first, second = steps[:2], steps[2:]
        assert {s.name for s in first} == {"orders-api@lab-0", "orders-api@lab-1"}
        assert {s.name for s in second} == {"orders-api@lab-2", "orders-api@lab-3"}
        assert max(s.end for s in first) <= min(s.start for s in second)


def test_rolling_a_service_that_another_depends_on(lab, tmp_path):
    """billing-worker has an SCM dependency on orders-api: a new orders-api binary must still roll host
    by host (the SCM refuses to stop a service whose dependents run — ERROR_DEPENDENT_SERVICES_RUNNING —
    so the update has to stop billing-worker on that host and bring it back afterwards)."""
    stack = two_service_stack(lab, tmp_path, depends_on_first=True)
    first = stack.up()
    for h in HOSTS:  # on each host the dependent waited for its dependency
        api = next(s for s in first.steps if s.name == f"orders-api@{h}")
        worker = next(s for s in first.steps if s.name == f"billing-worker@{h}")
        assert api.end <= worker.start
    new = stack.set_version("orders-api", "3.0.0")
    result = stack.up()
    steps = windows_service_steps(result, "orders-api")
    assert [s.name.split("@")[1] for s in steps] == HOSTS
    cfg = parse_config(copy.deepcopy(stack.raw))
    for h in HOSTS:
        assert binary_sha(lab, h, cfg.service("orders-api")) == new["sha256"]
        assert lab.host(h).model.state()["services"]["billing-worker"]["status"] == "running"


def test_configuration_change_rolls_host_by_host_too(lab, stack):
    """Not only the binary: a changed environment variable reaches the hosts batch by batch."""
    stack.up()
    stack.service("billing-worker").setdefault("environment", {})["QUEUE_URL"] = "amqps://queue.internal:5671/billing"
    result = stack.up()
    assert sorted(s.name for s in result.changes) == [f"billing-worker@{h}" for h in HOSTS]
    steps = windows_service_steps(result, "billing-worker")
    assert [s.name.split("@")[1] for s in steps] == HOSTS
    assert all(a.end <= b.start for a, b in zip(steps, steps[1:]))
    assert_converged(lab, stack)  # includes the new variable in every host's service Environment


def test_releasing_related_services_together_goes_host_by_host(lab, tmp_path):
    """Both services changed in one run, billing-worker depending on orders-api: the engine runs
    api@lab-0, worker@lab-0, api@lab-1, worker@lab-1, ... one after the other, so billing-worker is
    never down on two hosts at once (an orders-api update stops it on its host)."""
    stack = two_service_stack(lab, tmp_path, depends_on_first=True)
    stack.up()
    stack.set_version("orders-api", "4.0.0")
    stack.set_version("billing-worker", "4.0.0")
    result = stack.up()
    steps = sorted((s for s in result.changes if s.type.endswith(":WindowsService")), key=lambda s: s.start)
    assert [s.name for s in steps] == [f"{svc}@{h}" for h in HOSTS for svc in ("orders-api", "billing-worker")]
    assert all(a.end <= b.start for a, b in zip(steps, steps[1:]))
    assert_converged(lab, stack)


def test_first_deployment_is_gated_too(lab, stack):
    """A brand-new service that never becomes ready on lab-1: lab-0 has it, lab-1's half-done create is
    rolled back, lab-2 never gets it; once fixed, the next run finishes lab-1 and lab-2."""
    api = stack.service("orders-api")
    stack.serve("lab-1", api, mode="never", status=503, body="no database")
    with pytest.raises(EngineError) as ei:
        stack.up()
    assert ei.value.step.name == "orders-api@lab-1" and ei.value.step.op == "create"
    assert lab.host("lab-0").model.state()["services"]["orders-api"]["status"] == "running"
    assert "orders-api" not in lab.host("lab-1").model.state()["services"]   # failed create rolled back
    assert "orders-api" not in lab.host("lab-2").model.state()["services"]   # never reached
    names = {e["name"] for e in stack.checkpoint().values()}
    assert "orders-api@lab-0" in names and not {"orders-api@lab-1", "orders-api@lab-2"} & names

    stack.serve("lab-1", api, mode="ready")
    result = stack.up()
    assert [s.name for s in windows_service_steps(result, "orders-api") if s.changed] == [
        "orders-api@lab-1", "orders-api@lab-2"]
    assert_converged(lab, stack)

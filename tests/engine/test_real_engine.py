"""The real Pulumi CLI and engine against emulated hosts (issue 9 section 3).

Every test drives `.winfleet/bin/pulumi` (built by `make setup`) on a scratch copy of the project and
checks the emulator's host state (/state, counters) and the CLI's JSON output. Slow by nature (each
CLI run starts the engine, the program, the provider host and the policy pack): scenarios share
one run where they can.
"""
from __future__ import annotations

import copy
import json
import signal
import time

import pytest

from tests.emulator import Lab
from tests.engine.harness import RealStack, comparable_state, interrupt

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]   # several CLI runs each, on a shared 2-core machine

NAMES2 = ["lab-0", "lab-1"]


@pytest.fixture
def lab2():
    with Lab(names=NAMES2, admin=True) as lab:
        yield lab


def _stack_resources(stack: RealStack) -> dict[str, str]:
    return {r["urn"].rsplit("::", 1)[1]: r["type"] for r in stack.resources()}


def test_preview_with_the_policy_pack_then_up_then_no_change_then_destroy_exact(lab2, tmp_path):
    stack = RealStack(lab2, tmp_path)
    initial = comparable_state(lab2)

    preview = stack.preview()
    assert preview.rc == 0
    assert preview.changes.get("create", 0) >= 10, preview.summary
    assert preview.policy_violations() == []
    assert "winfleet" in json.dumps(preview.docs[0].get("config", {})) or preview.docs
    assert comparable_state(lab2) == initial          # preview changed nothing on the hosts

    up = stack.up()
    assert up.summary["result"] == "succeeded"
    created = up.changes["create"]
    assert created == preview.changes["create"]
    passed = up.events("policyAnalyzeStackSummaryEvent")
    assert passed and passed[0]["policyPackName"] == "winfleet"   # the real policy-pack process ran
    for h in lab2.hosts:                               # the service runs on every host, with our build
        assert h.model.scm.status("orders-api") == "running"
    outputs = stack.outputs()
    assert sorted(outputs["services"]["orders-api"]["hosts"]) == NAMES2
    assert {v["state"] for v in outputs["services"]["orders-api"]["hosts"].values()} == {"Running"}

    before = stack.total_requests()
    again = stack.up("--expect-no-changes")
    assert again.changes == {}, again.summary
    assert stack.total_requests() == before            # 0 WinRM requests for a no-change up

    # secrets: the lab passwords are nowhere in plain text in the backend (state, history, backups)
    passwords = [h.endpoint["password"] for h in lab2.hosts]
    leaked = [str(p) for p in stack.state_dir().rglob("*") if p.is_file()
              and any(pw.encode() in p.read_bytes() for pw in passwords)]
    assert leaked == []
    assert any(b"secure" in p.read_bytes() or b"ciphertext" in p.read_bytes()
               for p in stack.state_dir().rglob("*.json") if p.is_file())

    down = stack.destroy()
    assert down.changes.get("delete") == created
    assert comparable_state(lab2) == initial           # every host exactly as before


def test_a_mandatory_policy_violation_fails_preview_and_up_and_changes_nothing(lab2, tmp_path):
    stack = RealStack(lab2, tmp_path)
    stack.config["winfleet:eventLogs"] = {"Application": {"maxSizeKb": 1024}}   # below the CIS minimum
    initial = comparable_state(lab2)
    stack.prepare()
    # the CLI's own words (`preview --json` carries no policy verdicts in this CLI version)
    preview = stack.cli("preview", "--policy-pack", "policies", check=False)
    assert preview.rc != 0
    out = preview.text()
    assert "[mandatory]" in out and "eventlog-minimum-sizes" in out, out[-3000:]
    assert "maxSizeKb=1024 is below the minimum 32768 KB" in out
    up = stack.up(check=False)
    assert up.rc != 0
    assert up.events("resourcePreEvent") == []          # the update's preview failed: no step ran
    assert comparable_state(lab2) == initial
    assert [r for r in stack.resources() if r["type"].startswith("pulumi-python:dynamic")] == []


def _post(url: str, doc: dict) -> dict:
    import urllib.request
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_drift_made_behind_our_back_shows_on_refresh_and_the_next_up_converges(lab2, tmp_path):
    stack = RealStack(lab2, tmp_path)
    stack.up()
    converged = comparable_state(lab2)
    _post(lab2.admin_url + "/drift", {"host": "lab-1", "eventLog": "Application", "maxSizeKb": 2048})
    assert comparable_state(lab2) != converged
    refresh = stack.refresh()
    assert refresh.changes == {"update": 1}, refresh.summary        # the one drifted resource
    drifted = {e["metadata"]["urn"].rsplit("::", 1)[1] for e in refresh.events("resOutputsEvent")
               if e["metadata"]["op"] not in ("same", "read") or e["metadata"].get("diffs")}
    assert drifted == {"lab-1/eventlogs"}, [e["metadata"] for e in refresh.events("resOutputsEvent")][:3]
    up = stack.up()
    assert up.changes == {"update": 1}, up.summary
    assert comparable_state(lab2)["lab-1"]["eventlogs"] == converged["lab-1"]["eventlogs"]
    assert stack.up("--expect-no-changes").changes == {}


def _image_sha(host, service: str):
    image = host.model.scm.running_image(service)
    return host.model.files.sha256(image) if image else None


def test_a_binary_change_rolls_out_batch_by_batch_and_a_never_ready_build_stops_the_rollout(tmp_path):
    with Lab(names=["lab-0", "lab-1", "lab-2"], admin=True) as lab:
        stack = RealStack(lab, tmp_path, batch_size=1, readiness_timeout=2)
        stack.up()
        v2 = stack.set_version("orders-api", "2.0.0")
        up = stack.up()
        assert up.changes.get("update", 0) >= 3, up.summary
        started = {h.name: h.model.scm.started_at("orders-api") for h in lab.hosts}
        assert {h.name: _image_sha(h, "orders-api") for h in lab.hosts} == {n: v2["sha256"] for n in started}
        order = sorted(started, key=started.get)
        batches = stack.outputs()["services"]["orders-api"]["batches"]
        assert [b[0] for b in batches] == order            # restarted strictly in batch order

        v3 = stack.set_version("orders-api", "3.0.0")
        for h in lab.hosts:                                 # build 3.0.0 never becomes ready
            with h.model.lock:
                h.model.http.serve(8080, service="orders-api", mode="never", status=503,
                                   path="/readyz", binary_sha256=v3["sha256"])
        failed = stack.up(check=False)
        assert failed.rc != 0
        assert "readiness" in failed.text().lower() or "ready" in failed.text().lower()
        first, later = batches[0][0], [b[0] for b in batches[1:]]
        for name in later:                                  # later batches untouched: still 2.0.0, not restarted
            h = lab.host(name)
            assert _image_sha(h, "orders-api") == v2["sha256"]
            assert h.model.scm.started_at("orders-api") == started[name]
        assert lab.host(first).model.scm.started_at("orders-api") != started[first]   # batch 0 was tried


def test_state_lost_then_up_adopts_from_the_host_journal_and_destroy_is_exact(lab2, tmp_path):
    stack = RealStack(lab2, tmp_path)
    initial = comparable_state(lab2)
    first = stack.up()
    converged = comparable_state(lab2)
    stack.forget_state()                                # the stack's state is gone; the hosts keep theirs
    assert stack.cli("stack", "ls", "--json", config_file=False).stdout.strip() in ("[]", "")
    again = stack.up()
    assert again.changes == first.changes               # every resource created again (adopted)...
    assert comparable_state(lab2) == converged          # ...onto hosts that did not change
    stack.destroy()
    assert comparable_state(lab2) == initial            # prior values came from the host journal


def _volumes(host_state: dict) -> list:
    """The partitions and volumes (identity, letter, label, size) of a host, not their quotas/usage."""
    out = []
    for n, disk in sorted(host_state["storage"]["disks"].items()):
        for p in disk["partitions"]:
            vol = p.get("volume") or {}
            out.append((n, p["number"], p["driveLetter"], p["sizeBytes"], vol.get("uniqueId"), vol.get("label")))
    return out


def test_protect_and_retain_on_delete_of_the_data_volume_are_honoured(lab2, tmp_path):
    stack = RealStack(lab2, tmp_path)
    initial = comparable_state(lab2)
    stack.config["winfleet:dataVolume"] = {"protect": True}
    stack.up()
    volumes = {n: _volumes(st) for n, st in comparable_state(lab2).items()}
    assert all(any(v[2] == "D" for v in vols) for vols in volumes.values())     # the data volume exists
    refused = stack.destroy(check=False)
    assert refused.rc != 0
    assert "protected" in refused.text()
    assert {n: _volumes(st) for n, st in comparable_state(lab2).items()} == volumes     # volumes kept
    assert any("lab-0/data" in u for u in stack.urns("DataVolume"))

    stack.config["winfleet:dataVolume"] = {"retainOnDelete": True}
    stack.up()                                           # protect off, retainOnDelete on
    down = stack.destroy()
    assert down.rc == 0 and stack.resources() == []
    after = comparable_state(lab2)
    assert {n: _volumes(st) for n, st in after.items()} == volumes     # the data volume stays, same volume
    for n in NAMES2:                                    # everything else went back as it was
        assert {k: v for k, v in after[n].items() if k not in ("storage", "files", "registry")} == \
            {k: v for k, v in initial[n].items() if k not in ("storage", "files", "registry")}


def test_target_of_one_host_touches_only_that_host(tmp_path):
    with Lab(names=["lab-0", "lab-1", "lab-2"], admin=True) as lab:
        stack = RealStack(lab, tmp_path)
        stack.up()
        deployed = comparable_state(lab)
        stack.config["winfleet:eventLogs"] = {"System": {"maxSizeKb": 65536}}     # a change for every host
        before = stack.requests()
        up = stack.up("--target", "**lab-1/**")
        assert up.changes == {"update": 1}, up.summary                           # lab-1/eventlogs only
        requests = stack.requests()
        assert requests["lab-1"] > before["lab-1"]
        assert requests["lab-0"] == before["lab-0"] and requests["lab-2"] == before["lab-2"]
        state = comparable_state(lab)
        assert state["lab-0"] == deployed["lab-0"] and state["lab-2"] == deployed["lab-2"]
        assert state["lab-1"]["eventlogs"] != deployed["lab-1"]["eventlogs"]
        rest = stack.up()                                                         # the rest follows
        assert rest.changes == {"update": 2}, rest.summary
        assert comparable_state(lab)["lab-0"]["eventlogs"] == comparable_state(lab)["lab-1"]["eventlogs"]


def test_sigint_in_the_middle_of_an_up_then_a_rerun_converges(lab2, tmp_path):
    stack = RealStack(lab2, tmp_path)
    initial = comparable_state(lab2)
    _post(lab2.admin_url + "/faults", {"host": "*", "opDelay": 0.4, "op": "*"})   # slow host ops
    proc = stack.start_up("--policy-pack", "policies")
    out = interrupt(proc, lambda: stack.total_requests() > 20)
    assert proc.returncode != 0, out[-2000:]
    mid = comparable_state(lab2)
    assert mid != initial                               # it was stopped part-way, not before starting
    _post(lab2.admin_url + "/faults", {"host": "*", "opDelay": 0.0, "op": "*"})
    rerun = stack.up()
    assert rerun.summary["result"] == "succeeded"
    assert stack.up("--expect-no-changes").changes == {}
    for h in lab2.hosts:
        assert h.model.scm.status("orders-api") == "running"
    stack.destroy()
    assert comparable_state(lab2) == initial


def test_a_provider_per_host_and_the_change_to_it_keep_state_refresh_and_destroy_right(lab2, tmp_path):
    """winfleet:dynamicProviders perHost: an explicit dynamic-provider instance (own provider-host
    process) per host. Switching an existing stack from the shared default provider to it changes
    nothing on the hosts; refresh, a no-change up and destroy stay exact."""
    stack = RealStack(lab2, tmp_path)
    initial = comparable_state(lab2)
    stack.up()
    converged = comparable_state(lab2)
    stack.config["winfleet:dynamicProviders"] = "perHost"
    switched = stack.up()
    assert switched.summary["result"] == "succeeded"
    assert switched.changes.get("create") == len(NAMES2)                 # the two provider instances
    assert not switched.changes.get("replace") and not switched.changes.get("delete"), switched.summary
    assert comparable_state(lab2) == converged                          # no host touched by the switch
    providers = {r["urn"].rsplit("::", 1)[1]: r for r in stack.resources()
                 if r["type"] == "pulumi:providers:pulumi-python" and not r["urn"].endswith("::default")}
    assert sorted(providers) == [f"{n}/provider" for n in NAMES2]
    for r in stack.resources():                                          # every host resource on its host's provider
        if r["type"].startswith("pulumi-python:dynamic/"):
            host = r["urn"].rsplit("::", 1)[1].split("/")[0].split("@")[-1]
            assert r["provider"].startswith(providers[f"{host}/provider"]["urn"] + "::"), (r["urn"], r["provider"])
    assert stack.refresh().changes == {}
    before = stack.total_requests()
    assert stack.up("--expect-no-changes").changes == {}
    assert stack.total_requests() == before
    stack.destroy()
    assert comparable_state(lab2) == initial

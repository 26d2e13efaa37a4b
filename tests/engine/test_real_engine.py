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

pytestmark = pytest.mark.slow

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

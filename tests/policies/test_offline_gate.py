"""The offline policy gate end to end: program under mocks → the real pack process over gRPC → report.

Runs on a small stand-in program (tests/policies/fixtures/program: the resource shapes winfleet registers, broken
on demand through its stack config) so the gate's machinery is tested independently of the real fleet;
test_gate_example.py runs it on the project's own program and Pulumi.example.yaml.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tools import offline_gate as gate

ROOT = Path(__file__).resolve().parents[2]
STANDIN = ROOT / "tests" / "policies" / "fixtures" / "program"
GOOD = STANDIN / "Pulumi.good.yaml"
pytestmark = pytest.mark.slow
BAD = STANDIN / "Pulumi.bad.yaml"


def cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "tools.offline_gate", "--program", str(STANDIN), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=timeout)


@pytest.fixture(scope="module")
def good():
    return gate.run_gate(GOOD, program_dir=STANDIN)


@pytest.fixture(scope="module")
def bad_json():
    proc = cli("--stack-config", str(BAD), "--json")
    return proc, json.loads(proc.stdout)


def test_good_stack_passes(good):
    assert good.exit_code == 0 and good.diagnostics == []
    types = [r.type for r in good.resources]
    assert types.count("azure-native:compute:VirtualMachine") == 2
    assert types.count("pulumi-python:dynamic/winfleet:WindowsService") == 2
    assert "pulumi:pulumi:Stack" in types and "winfleet:index:Fleet" in types
    assert good.placeholders == ["winfleet:adminPassword"]


def test_gate_sends_what_the_engine_sends(good):
    svc = next(r for r in good.resources if r.type.endswith(":WindowsService") and r.name == "web-0-api")
    # the dynamic provider blob is an internal key: recorded, but not sent (SkipInternalKeys)
    assert "__provider" in svc.inputs and "__provider" not in gate.strip_internal(svc.inputs)
    # the connection carries the secret password: it travels as a secret signature object
    assert svc.inputs["connection"][gate.SIG_KEY] == gate.SECRET_SIG
    vm = next(r for r in good.resources if r.type.endswith(":VirtualMachine") and r.name == "web-0")
    assert vm.inputs["osProfile"]["adminPassword"][gate.SIG_KEY] == gate.SECRET_SIG
    assert vm.parent.endswith("winfleet:index:Fleet::winfleet")
    assert any(d.endswith("::web-0") for d in svc.dependencies if "VirtualMachine" in d)


def test_text_report_has_plan_verdicts_and_summary(good):
    text = gate.render_text(good)
    assert "Plan (preview under mocks): 15 resources" in text
    assert "+ azure-native:network:LoadBalancer  lb" in text and "probe api: Http :8080/readyz every 5s x2" in text
    assert "adminPassword=[secret]" in text and "Offline-Gate-Placeholder" not in text
    assert "host=web-0" in text
    assert "mandatory (0):" in text and "advisory (0):" in text
    assert text.rstrip().splitlines()[-1].startswith("Summary: 15 resources, 21 policies, 0 mandatory")
    md = gate.render_markdown(good)
    assert md.startswith("### :white_check_mark: winfleet policy gate")


def test_plan_text_does_not_depend_on_registration_order(good):
    """Async registration order varies between runs; the plan a PR comment shows must not."""
    import dataclasses

    shuffled = dataclasses.replace(good, resources=list(reversed(good.resources)))
    assert gate.render_text(shuffled) == gate.render_text(good)
    lines = [l for l in gate.render_text(good).splitlines() if l.startswith("      + ")]
    assert len(lines) > 1


def test_bad_stack_is_caught_with_the_right_policies(bad_json):
    proc, doc = bad_json
    assert proc.returncode == 1, proc.stderr
    assert doc["summary"]["passed"] is False
    hits = {(d["policy"], d["level"]) for d in doc["diagnostics"]}
    assert ("lb-probe-is-readiness", "mandatory") in hits          # TCP probe
    assert ("service-readiness-endpoint", "mandatory") in hits     # ... seen from the service
    assert ("service-log-quota", "mandatory") in hits              # quota below the log budget
    assert ("nsg-no-internet-management", "mandatory") in hits     # WinRM open to the Internet
    assert ("passwords-are-secrets", "mandatory") in hits          # plaintext admin password
    by_policy = {d["policy"]: d for d in doc["diagnostics"]}
    assert by_policy["nsg-no-internet-management"]["type"] == "azure-native:network:NetworkSecurityGroup"
    assert "5986" in by_policy["nsg-no-internet-management"]["message"]
    assert by_policy["service-log-quota"]["name"] == "web-0-quota-api"
    assert doc["summary"]["mandatory"] == len([d for d in doc["diagnostics"] if d["level"] == "mandatory"])
    assert {p["name"] for p in doc["pack"]["policies"]} >= set(doc["summary"]["violationsByPolicy"])


def test_policy_config_downgrades_to_advisory(tmp_path):
    cfg = tmp_path / "policy-config.json"
    cfg.write_text(json.dumps({"all": "advisory", "service-log-quota": {"minHeadroom": 1.0,
                                                                          "enforcementLevel": "mandatory"}}))
    summary = tmp_path / "summary.md"
    proc = cli("--stack-config", str(BAD), "--policy-config", str(cfg), "--summary-md", str(summary))
    out = proc.stdout
    # the quota (512 MiB) is still below the 1000 MiB log budget even without headroom: still mandatory
    assert proc.returncode == 1, proc.stderr
    mandatory = out[out.index("mandatory ("):out.index("advisory (")]
    advisory = out[out.index("advisory ("):out.index("Summary:")]
    assert "service-log-quota" in mandatory and "nsg-no-internet-management" not in mandatory
    assert "nsg-no-internet-management" in advisory and "lb-probe-is-readiness" in advisory
    assert "| mandatory | `service-log-quota`" in summary.read_text()


def test_missing_stack_config_and_bad_policy_config_exit_2(tmp_path):
    proc = cli("--stack-config", str(tmp_path / "Pulumi.nope.yaml"))
    assert proc.returncode == 2 and "not found" in proc.stderr
    cfg = tmp_path / "c.json"
    cfg.write_text("{not json")
    proc = cli("--stack-config", str(GOOD), "--policy-config", str(cfg), "--json")
    assert proc.returncode == 2 and "not valid JSON" in json.loads(proc.stdout)["error"]


def test_program_failure_exits_2_with_the_message(tmp_path):
    broken = tmp_path / "Pulumi.broken.yaml"
    broken.write_text("config:\n  winfleet:fail: services[0].port must be 1..65535, got 0\n"
                      "  winfleet:adminPassword: x\n")
    proc = cli("--stack-config", str(broken))
    assert proc.returncode == 2
    assert "the Pulumi program failed under mocks" in proc.stderr
    assert "services[0].port must be 1..65535, got 0" in proc.stderr


def test_stack_config_loading(tmp_path):
    f = tmp_path / "Pulumi.dev.yaml"
    f.write_text("config:\n  region: x\n  winfleet:n: 3\n  winfleet:on: true\n"
                 "  winfleet:obj: {a: [1, {password: {secure: AAAB}}]}\n  aws:secret: {secure: v1:abc}\n")
    config, secret_keys, notes = gate.load_stack_config(f, "winfleet")
    assert config["winfleet:region"] == "x" and config["winfleet:n"] == "3" and config["winfleet:on"] == "true"
    obj = json.loads(config["winfleet:obj"])
    assert obj["a"][0] == 1 and obj["a"][1]["password"].startswith("Offline-Gate-Placeholder")
    assert set(secret_keys) == {"winfleet:obj", "aws:secret"}
    assert notes == ["winfleet:obj.a[1].password", "aws:secret"]
    assert gate.stack_name(f) == "dev"

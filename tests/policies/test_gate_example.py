"""The offline gate on the project's own program and Pulumi.example.yaml — the README's first command."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import offline_gate as gate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "Pulumi.example.yaml"


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def example():
    """What `make preview` runs, as a subprocess from the project root (the README's demo), in JSON."""
    proc = subprocess.run([sys.executable, "-m", "tools.offline_gate", "--stack-config", "Pulumi.example.yaml",
                           "--json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    return proc, json.loads(proc.stdout)


def _variant(tmp_path: Path, name: str, mutate) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text())
    mutate(doc["config"])
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_example_stack_passes_the_gate(example):
    proc, doc = example
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert doc["summary"]["passed"] is True and doc["summary"]["mandatory"] == 0
    assert doc["stack"] == "example" and doc["summary"]["resources"] == len(doc["resources"])
    types = {r["type"] for r in doc["resources"]}
    # the gate saw the resources the policies are about (not a vacuous pass)
    for t in ("azure-native:network:LoadBalancer", "azure-native:network:NetworkSecurityGroup",
              "azure-native:compute:VirtualMachine", "pulumi-python:dynamic/winfleet:WindowsService",
              "pulumi-python:dynamic/winfleet:NtfsQuota", "pulumi-python:dynamic/winfleet:EventLogSettings",
              "pulumi-python:dynamic/winfleet:ServiceBaseline", "pulumi-python:dynamic/winfleet:CrashDumps"):
        assert t in types, t
    lb = next(r for r in doc["resources"] if r["type"] == "azure-native:network:LoadBalancer")
    assert "probe" in lb["settings"] and "Http" in lb["settings"]
    assert len(doc["pack"]["policies"]) == 21


def test_example_variant_that_config_allows_but_policy_rejects(tmp_path):
    def mutate(cfg):
        cfg["winfleet:eventLogs"]["Security"] = {"maxSizeKb": 20480, "retention": "retain"}
        cfg["winfleet:quota"]["headroom"] = 1.0
        cfg["winfleet:services"][1]["account"] = "LocalSystem"

    res = gate.run_gate(_variant(tmp_path, "bad", mutate))
    hits = {(d["policy"], d["level"]) for d in res.diagnostics}
    assert ("eventlog-minimum-sizes", "mandatory") in hits
    assert ("eventlog-retention", "mandatory") in hits
    assert ("service-log-quota", "mandatory") in hits
    assert ("service-account-quota-bindable", "mandatory") in hits
    assert res.exit_code == 1
    quota_msgs = [d for d in res.diagnostics if d["policy"] == "service-log-quota"]
    # correlated per host even though every connection is unknown at preview
    assert {d["name"].split("@")[1].split("/")[0] for d in quota_msgs} >= {"go-0", "go-1"}


def test_winrm_open_to_the_internet_is_stopped_by_config_first(tmp_path):
    path = _variant(tmp_path, "open", lambda c: c["winfleet:winrm"].__setitem__("allowedSources", ["0.0.0.0/0"]))
    proc = subprocess.run([sys.executable, "-m", "tools.offline_gate", "--stack-config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 2
    assert "winrm.allowedSources" in proc.stderr and "0.0.0.0/0" in proc.stderr


def test_plaintext_password_in_the_stack_file_fails_the_gate_without_printing_it(tmp_path):
    # The program wraps every password in a Pulumi secret, so the pack alone cannot tell; the gate reads the file.
    plain = "Plaintext-Password-In-Git-1!"
    path = tmp_path / "Pulumi.plain.yaml"
    path.write_text(yaml.safe_dump({"config": {
        "winfleet:mode": "existingHosts",
        "winfleet:existingHosts": [{"name": "lab-0", "host": "192.0.2.10", "username": "ops", "password": plain,
                                    "certSha256": "ab" * 32}],
        "winfleet:services": [{"name": "orders-api", "port": 8080,
                               "binary": {"url": "https://artifacts.example.com/o/1/o.exe", "sha256": "cd" * 32}}],
    }}))
    proc = subprocess.run([sys.executable, "-m", "tools.offline_gate", "--stack-config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == gate.EXIT_VIOLATIONS, out
    assert "stack-file-secrets" in out and "winfleet:existingHosts[0].password" in out
    assert "How to fix" in out and "pulumi config set --secret --path" in out
    assert plain not in out


def test_violations_print_each_policys_remediation(tmp_path):
    path = _variant(tmp_path, "small", lambda c: c["winfleet:eventLogs"]["Security"].__setitem__("maxSizeKb", 4096))
    proc = subprocess.run([sys.executable, "-m", "tools.offline_gate", "--stack-config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == gate.EXIT_VIOLATIONS, proc.stdout + proc.stderr
    fixes = proc.stdout.split("How to fix", 1)[1]
    assert "eventlog-minimum-sizes: Set `winfleet:eventLogs.<log>.maxSizeKb`" in fixes


def test_a_broken_stack_file_is_could_not_run_not_violations(tmp_path):
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text("config:\n  winfleet:mode: azure\n  winfleet:mode: existingHosts\n")
    proc = subprocess.run([sys.executable, "-m", "tools.offline_gate", "--stack-config", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == gate.EXIT_COULD_NOT_RUN, proc.stdout + proc.stderr
    assert "duplicate key" in proc.stderr

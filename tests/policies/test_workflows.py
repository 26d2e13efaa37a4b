"""The GitHub Actions workflows are YAML we cannot run here: validate their structure and the properties that
matter (fork safety, OIDC instead of long-lived secrets, the pack applied, the paths they use exist)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WF = ROOT / ".github" / "workflows"
FILES = sorted(p.name for p in WF.glob("*.yml"))


def test_the_expected_workflows_exist():
    assert set(FILES) >= {"pr-preview.yml", "pr-offline-gate.yml", "windows-pester.yml", "policy-publish.yml",
                          "tests.yml"}


def load(name):
    doc = yaml.safe_load((WF / name).read_text())
    # PyYAML reads the bare key `on` as boolean True
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc, job):
    return doc["jobs"][job]["steps"]


def uses(doc, job, action):
    found = [s for s in steps(doc, job) if str(s.get("uses", "")).startswith(action + "@")]
    assert found, f"{job} does not use {action}"
    return found[0]


def runs(doc, job) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(doc, job))


@pytest.mark.parametrize("name", FILES)
def test_workflow_structure(name):
    doc = load(name)
    assert doc["name"] and doc["on"] and doc["jobs"]
    assert "permissions" in doc, "least privilege: every workflow declares its token permissions"
    for job_id, job in doc["jobs"].items():
        assert job.get("runs-on"), job_id
        assert job.get("timeout-minutes"), job_id
        assert job["steps"], job_id
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (job_id, step)
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w./-]+@(v\d+[\w.]*|[0-9a-f]{40})$", step["uses"]), step["uses"]
        checkout = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert checkout and checkout[0].get("with", {}).get("persist-credentials") is False, job_id


def test_no_workflow_uses_long_lived_cloud_secrets_or_pull_request_target():
    for name in FILES:
        text = (WF / name).read_text()
        doc = load(name)
        assert "pull_request_target" not in doc["on"], name
        for bad in ("AZURE_CREDENTIALS", "client-secret", "ARM_CLIENT_SECRET", "PULUMI_ACCESS_TOKEN", "creds:"):
            assert bad not in text, (name, bad)


def test_pr_preview_trusted_prs_with_oidc_comment_and_policy_pack():
    doc = load("pr-preview.yml")
    assert "pull_request" in doc["on"]
    assert doc["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    job = doc["jobs"]["preview"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    login = uses(doc, "preview", "azure/login")["with"]
    assert set(login) == {"client-id", "tenant-id", "subscription-id"}
    assert all(v.startswith("${{ vars.") for v in login.values())
    assert job["env"]["ARM_USE_OIDC"] == "true"
    uses(doc, "preview", "pulumi/auth-actions")
    action = uses(doc, "preview", "pulumi/actions")
    w = action["with"]
    assert w["command"] == "preview" and w["comment-on-pr"] is True
    packs = [p for p in w["policyPacks"].split() if p]
    configs = [c for c in w["policyPackConfigs"].split() if c]
    assert packs == ["policies"] and len(configs) == len(packs)
    for pack_dir, cfg in zip(packs, configs):
        assert (ROOT / pack_dir / "PulumiPolicy.yaml").exists()
        json.loads((ROOT / cfg).read_text())
    assert "make setup" in runs(doc, "preview")
    # the pack venv the CLI expects (PulumiPolicy.yaml runtime.options.virtualenv)
    venv = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    assert f"python -m venv policies/{venv}" in runs(doc, "preview")


def test_offline_gate_runs_for_every_pr_without_secrets():
    doc = load("pr-offline-gate.yml")
    text = (WF / "pr-offline-gate.yml").read_text()
    assert doc["on"]["pull_request"] is None  # every PR, every branch, forks included
    assert doc["permissions"] == {"contents": "read"}
    assert "${{ secrets." not in text and "id-token" not in text and "vars." not in text
    gate = runs(doc, "offline-gate")
    assert "make setup" in gate
    assert "-m tools.offline_gate" in gate and "--json" in gate and '--summary-md "$GITHUB_STEP_SUMMARY"' in gate
    assert "--stack-config Pulumi.example.yaml" in gate
    assert (ROOT / "tools" / "offline_gate.py").exists()
    json.loads((ROOT / "policies" / "policy-config.ci.json").read_text())
    assert "pytest tests/policies" in runs(doc, "policy-tests")


def test_windows_pester_job():
    doc = load("windows-pester.yml")
    job = doc["jobs"]["pester"]
    assert job["runs-on"] == "windows-latest"
    assert set(job["strategy"]["matrix"]["shell"]) == {"powershell", "pwsh"}
    script = runs(doc, "pester")
    assert "Install-Module -Name Pester" in script and "Invoke-Pester" in script
    assert "$config.Run.Path = 'tests/scripts/pester'" in script and "$config.Run.Exit = $true" in script


def test_policy_publish_on_release():
    doc = load("policy-publish.yml")
    assert doc["on"]["release"]["types"] == ["published"]
    assert doc["permissions"]["id-token"] == "write"
    publish = [s for s in steps(doc, "publish") if "pulumi policy publish" in str(s.get("run", ""))]
    assert publish and publish[0]["working-directory"] == "policies"
    assert "pytest tests/policies" in runs(doc, "publish")
    assert 'pulumi policy enable "${{ vars.PULUMI_ORG }}/winfleet"' in runs(doc, "publish")
    uses(doc, "publish", "pulumi/auth-actions")
    # the pack name the enable step uses is the pack's name
    main = (ROOT / "policies" / "winfleet_policies" / "__init__.py").read_text()
    assert 'PACK_NAME = "winfleet"' in main


def test_tests_workflow_runs_exactly_what_ci_runs():
    """The PR test job runs .ci/run, which runs the README's `make setup && make test`."""
    doc = load("tests.yml")
    assert "pull_request" in doc["on"]
    assert "bash .ci/run" in runs(doc, "test")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make setup" in ci and "make test" in ci
    assert "make setup && make test" in (ROOT / "README.md").read_text()


def test_windows_real_host_job_runs_the_real_thing_in_order():
    """Issue 11: the real executor over a real WinRM HTTPS listener on the runner (self-signed certificate,
    NTLM to localhost), the real drivers, the reference Go service built here and downloaded by the driver,
    run as NT SERVICE\\<name>, its quota after the service exists, the stack's up/destroy against the
    runner and a check that the host is back as it was. It runs only on windows-latest: this checks its shape."""
    doc = load("windows-pester.yml")
    job = doc["jobs"]["real-host"]
    assert job["runs-on"] == "windows-latest"
    go = uses(doc, "real-host", "actions/setup-go")
    assert go["with"]["go-version-file"] == "goservice/go.mod"
    assert (ROOT / "goservice" / "go.mod").exists() and (ROOT / "goservice" / "main.go").exists()
    uses(doc, "real-host", "pulumi/actions")
    names = [s.get("name", s.get("uses", "")) for s in steps(doc, "real-host")]
    script = runs(doc, "real-host")

    def at(fragment: str) -> int:
        hits = [i for i, s in enumerate(steps(doc, "real-host")) if fragment in str(s.get("run", ""))]
        assert hits, f"no step runs {fragment!r}"
        return hits[0]

    order = [at("Enable-WinrmHttps.ps1"), at("windows_ci smoke"), at("New-CiDataDisk.ps1"),
             at("Get-HostSnapshot.ps1 -DiskNumber $env:WFCI_DISK -OutFile \"$env:RUNNER_TEMP\\before.json\""),
             at("windows_ci write-stack"), at("pulumi up"), at("Test-Deployed.ps1"), at("--expect-no-changes"),
             at("pulumi destroy"), at("windows_ci compare")]
    assert order == sorted(order) and len(set(order)) == len(order), list(zip(order, names))
    # the reference service is built from goservice/ and served to the driver over HTTPS
    build = steps(doc, "real-host")[at("go build")]
    assert build["working-directory"] == "goservice" and build["env"]["GOOS"] == "windows"
    assert "-o ../build/goservice/winfleet-refsvc.exe" in build["run"]
    assert "--binary-url https://localhost:8443/winfleet-refsvc.exe" in script
    assert "Cert:\\LocalMachine\\Root" in script         # the host trusts the artifact server, nothing skips TLS
    # WinRM over HTTPS only, NTLM, the listener's own certificate as the CA
    assert "--port 5986" in script and "5985" not in script
    assert "--ca \"$env:RUNNER_TEMP\\winrm-ca.pem\"" in script
    # the password: generated per run, masked, through the environment and stdin, never on a command line
    assert "::add-mask::" in script
    assert "$env:WINFLEET_CI_PASSWORD | pulumi config set --secret --path 'winfleet:existingHosts[0].password'" in script
    assert "WINFLEET_CI_PASSWORD" not in str(job.get("env", {}))
    # every script and helper it calls exists (and is parsed + linted by tests/scripts)
    for ps1 in re.findall(r"tests\\scripts\\ci\\([\w-]+\.ps1)", script):
        assert (ROOT / "tests" / "scripts" / "ci" / ps1).exists(), ps1
    from tests.scripts import windows_ci
    parser_cmds = {"make-cert", "serve", "write-stack", "smoke", "compare"}
    assert set(re.findall(r"windows_ci'?,? '?([a-z-]+)", script)) <= parser_cmds
    for cmd in parser_cmds:
        assert cmd in windows_ci.__doc__
    # the service deployed is the one the Test step checks
    assert job["env"]["WFCI_SERVICE"] == windows_ci.SERVICE and job["env"]["WFCI_DRIVE"] == windows_ci.DATA_LETTER

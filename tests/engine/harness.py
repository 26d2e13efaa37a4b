"""The real Pulumi CLI (`.winfleet/bin/pulumi`, `make setup`) against an emulator Lab.

    with Lab(names=["lab-0", "lab-1"], admin=True) as lab:
        stack = RealStack(lab, tmp_path)        # a scratch copy of the project; never the tracked stack files
        stack.up()                              # real `pulumi up --yes --policy-pack policies --json`
        stack.destroy()

What is real: the CLI and engine, the Python SDK running __main__.py (via our language host, see
tools/pulumi/README.md), the SDK's dynamic-provider host, the policy-pack process, pywinrm. The
stack's config is made exactly as `make up` makes it (tools.lab.prepare_stack): endpoints from the
lab, passwords as real Pulumi secrets. Each service binary is published on the lab
(`https://artifacts.lab.winfleet.test/<name>-<version>.exe`) and its readiness listener declared.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import yaml

from tools import lab as labtool

ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("__main__.py", "Pulumi.yaml", "components", "scripts", "policies")


def require_cli() -> str:
    exe = labtool.BIN_DIR / "pulumi"
    assert exe.exists(), f"{exe} is missing: `make setup` builds the Pulumi CLI (make test depends on it)"
    return str(exe)


def scratch_project(dst: Path) -> Path:
    """A copy of the project's program, components, scripts and policy pack; .venv shared."""
    dst.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "venv", "*.pyc")
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        else:
            shutil.copy2(src, dst / name)
    (dst / ".venv").symlink_to(ROOT / ".venv")
    (dst / "policies" / "venv").symlink_to(ROOT / ".venv")
    return dst


def json_docs(text: str) -> list:
    """The JSON documents `--json` prints one after another (preview doc, then engine events)."""
    dec, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        if text[i] not in "{[":             # a stray line of plain text
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl + 1
            continue
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)
    return docs


class Run:
    """One CLI invocation: exit code, output, and what its JSON says."""

    def __init__(self, args, proc_rc: int, stdout: str, stderr: str, seconds: float):
        self.args, self.rc, self.stdout, self.stderr, self.seconds = args, proc_rc, stdout, stderr, seconds
        self.docs = json_docs(stdout) if "--json" in args else []

    def events(self, kind: str) -> list[dict]:
        return [d[kind] for d in self.docs if isinstance(d, dict) and kind in d]

    @property
    def summary(self) -> dict:
        ev = self.events("summaryEvent")
        if ev:
            return ev[-1]
        preview = [d for d in self.docs if isinstance(d, dict) and "changeSummary" in d]
        return {"resourceChanges": preview[-1]["changeSummary"]} if preview else {}

    @property
    def changes(self) -> dict:
        """{op: count} without 'same'."""
        return {k: v for k, v in (self.summary.get("resourceChanges") or {}).items() if k != "same" and v}

    def policy_violations(self) -> list[dict]:
        out = []
        for d in self.docs:
            if not isinstance(d, dict):
                continue
            for diag in d.get("diagnostics") or []:            # preview --json
                if diag.get("policyName"):
                    out.append(diag)
            ev = d.get("policyEvent")                            # up --json event stream
            if ev:
                out.append(ev)
        return out

    def text(self) -> str:
        return self.stdout + "\n" + self.stderr

    def __repr__(self):
        return f"<Run {' '.join(self.args[:2])} rc={self.rc} {self.seconds:.1f}s>"


class RealStack:
    def __init__(self, lab, workdir: Path, *, stack: str = "lab", services: Optional[list] = None,
                 batch_size: Optional[int] = None, readiness_timeout: int = 3, project: Optional[Path] = None):
        require_cli()
        self.lab = lab
        self.stack = stack
        self.project = project or scratch_project(Path(workdir) / "project")
        ldir = self.project / ".winfleet" / "lab"
        ldir.mkdir(parents=True, exist_ok=True)
        self.ca_file = ldir / "ca.pem"
        self.ca_file.write_text(lab.ca_pem)
        base = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        self.env = labtool.pulumi_env(self.project, passphrase=labtool.LAB_PASSPHRASE, base=base)
        self.template = yaml.safe_load((ROOT / "Pulumi.lab.yaml").read_text())
        cfg = self.template["config"]
        cfg["winfleet:existingHosts"] = [dict(copy.deepcopy(cfg["winfleet:existingHosts"][0]), name=h.name)
                                         for h in lab.hosts]
        if batch_size is not None:
            cfg["winfleet:rollout"] = {"batchSize": batch_size}
        self.readiness_timeout = readiness_timeout
        self.set_services(services if services is not None else copy.deepcopy(cfg["winfleet:services"]))

    # --- config ------------------------------------------------------------------------------------
    @property
    def config(self) -> dict:
        return self.template["config"]

    @property
    def services(self) -> list[dict]:
        return self.config["winfleet:services"]

    def set_services(self, services: list[dict]) -> None:
        for s in services:
            s.setdefault("readinessTimeoutSeconds", self.readiness_timeout)
            s["binary"] = self.publish(s["name"], s.pop("version", "1.0.0"))
            self.lab.serve_ready(s["name"], s["port"], s.get("readinessPath", "/readyz"))
        self.config["winfleet:services"] = services

    def publish(self, service: str, version: str) -> dict:
        """A fake Windows build of `service` at `version`, served by every lab host."""
        data = f"MZ fake Go binary {service} {version}\n".encode() * 64
        return self.lab.publish(f"{service}-{version}.exe", data)

    def set_version(self, service: str, version: str) -> dict:
        s = next(s for s in self.services if s["name"] == service)
        s["binary"] = self.publish(service, version)
        return s["binary"]

    def lab_doc(self) -> dict:
        return self.lab.lab_json(os.getpid(), str(self.ca_file))

    def prepare(self) -> Path:
        template = self.project / f"Pulumi.{self.stack}.template.yaml"
        template.write_text(yaml.safe_dump(self.template, sort_keys=False))
        return labtool.prepare_stack(self.project, self.stack, self.lab_doc(), self.env, template=template)

    # --- the CLI -----------------------------------------------------------------------------------
    def cli(self, *args: str, config_file: bool = True, timeout: float = 600, check: bool = True) -> Run:
        args = list(args)
        if config_file:
            args = labtool.pulumi_args(args, self.stack, labtool.stack_config_path(self.project, self.stack))
        t0 = time.monotonic()
        proc = subprocess.run([require_cli(), *args], cwd=str(self.project), env=self.env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        run = Run(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)
        if check and run.rc != 0:
            # the engine's error diagnostics first: with --json they sit far above the tail
            errors = [line[:1500] for line in run.stdout.splitlines()
                      if '"severity":"error"' in line or "resOpFailedEvent" in line][:8]
            raise AssertionError(f"pulumi {' '.join(args)} exited {run.rc}\n--- errors\n" + "\n".join(errors) +
                                 f"\n--- stdout (tail)\n{run.stdout[-4000:]}\n--- stderr (tail)\n{run.stderr[-3000:]}")
        return run

    def preview(self, *extra: str, policy: bool = True, check: bool = True) -> Run:
        self.prepare()
        return self.cli("preview", "--json", *(("--policy-pack", "policies") if policy else ()), *extra,
                        check=check)

    def up(self, *extra: str, policy: bool = True, check: bool = True) -> Run:
        self.prepare()
        return self.cli("up", "--yes", "--json", *(("--policy-pack", "policies") if policy else ()), *extra,
                        check=check)

    def refresh(self, *extra: str, check: bool = True) -> Run:
        self.prepare()
        return self.cli("refresh", "--yes", "--json", *extra, check=check)

    def destroy(self, *extra: str, check: bool = True) -> Run:
        self.prepare()
        return self.cli("destroy", "--yes", "--json", *extra, check=check)

    def start_up(self, *extra: str) -> subprocess.Popen:
        """`pulumi up` in the background (for SIGINT tests)."""
        self.prepare()
        args = labtool.pulumi_args(["up", "--yes", "--skip-preview", *extra], self.stack,
                                   labtool.stack_config_path(self.project, self.stack))
        return subprocess.Popen([require_cli(), *args], cwd=str(self.project), env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def outputs(self) -> dict:
        return json.loads(self.cli("stack", "output", "--json", "--show-secrets", config_file=False,
                                   check=True).stdout or "{}")

    def export(self) -> dict:
        return json.loads(self.cli("stack", "export", "--stack", self.stack, config_file=False).stdout)

    def resources(self) -> list[dict]:
        return (self.export().get("deployment") or {}).get("resources") or []

    def urns(self, type_suffix: str = "") -> list[str]:
        return [r["urn"] for r in self.resources() if r["type"].endswith(type_suffix)]

    def state_dir(self) -> Path:
        return self.project / ".winfleet" / "state"

    def forget_state(self) -> None:
        """State lost: the stack and its history removed from the backend (the hosts keep their journal)."""
        self.cli("stack", "rm", self.stack, "--yes", "--force", config_file=False)
        labtool.stack_config_path(self.project, self.stack).unlink(missing_ok=True)

    # --- observation -------------------------------------------------------------------------------
    def requests(self) -> dict[str, int]:
        return {h.name: h.counters.snapshot()["http_requests"] for h in self.lab.hosts}

    def total_requests(self) -> int:
        return sum(self.requests().values())


def comparable_state(lab) -> dict:
    """Every host's /state, without the lab's own fixtures (download table, readiness rules)."""
    state = lab.state()
    for s in state.values():
        s.get("files", {}).pop("downloads", None)
        s.pop("http", None)
    return state


def interrupt(proc: subprocess.Popen, when, timeout: float = 120) -> str:
    """SIGINT `proc` once `when()` is true (polled), then wait; -> its output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not when():
        time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=timeout)
    return out

"""`Pulumi.lab.yaml` pointed at an emulator `Lab`, run with the e2e engine.

    with Lab(names=["lab-0", "lab-1", "lab-2"]) as lab:
        stack = LabStack(lab, tmp_path)              # the lab stack's config, endpoints rewritten
        stack.set_services([...])                    # optional: replace winfleet:services
        result = stack.up()                          # program under mocks -> engine -> provider host -> WinRM
        stack.destroy()

What is rewritten, and nothing else: each `existingHosts[i]` gets the Lab host's endpoint (127.0.0.1,
its port, user, password, the Lab CA inline as `caPem` instead of `caPemFile`), and each service's
binary URL/SHA-256 is published on every emulated host's download table (`publish`). Readiness
listeners are declared per service (`serve`), as a real Go service would answer on its port.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import yaml

from pulumi.runtime import mocks as pulumi_mocks

from tests.e2e.engine import DYNAMIC_PREFIX, ROOT, Engine, ProgramRun, UpResult, run_program

LAB_YAML = ROOT / "Pulumi.lab.yaml"
PROGRAM = ROOT / "__main__.py"


def binary_bytes(name: str, version: str) -> bytes:
    return (f"MZ fake Go binary {name} {version}\n".encode() * 64)


def binary_ref(name: str, version: str) -> dict:
    data = binary_bytes(name, version)
    return {"url": f"https://artifacts.example.com/{name}/{version}/{name}.exe",
            "sha256": hashlib.sha256(data).hexdigest()}


def lab_yaml_config(path: Path = LAB_YAML) -> dict[str, Any]:
    """The `winfleet:` keys of the stack file (without the prefix), `secure:` values left as they are."""
    doc = yaml.safe_load(Path(path).read_text())
    return {k.split(":", 1)[1]: v for k, v in (doc.get("config") or {}).items() if k.startswith("winfleet:")}


class CheckpointMocks(pulumi_mocks.Mocks):
    """Dynamic resources resolve to their checkpointed id + outputs; anything else echoes its inputs."""

    def __init__(self, checkpoint: dict):
        self.by_name = {(e["type"], e["name"]): e for e in checkpoint.values() if not e.get("pendingDelete")}

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        entry = self.by_name.get((args.typ, args.name)) if args.typ.startswith(DYNAMIC_PREFIX) else None
        if entry is not None:
            return entry["id"], dict(entry["outputs"])
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


class LabStack:
    def __init__(self, lab, workdir: Path, *, parallel: int = 16, readiness_timeout: int = 2,
                 batch_size: Optional[int] = None):
        self.lab = lab
        self.workdir = Path(workdir)
        self.raw = lab_yaml_config()
        self.readiness_timeout = readiness_timeout
        hosts = self.raw["existingHosts"]
        if len(hosts) != len(lab.hosts):  # e.g. the benchmark's 1/4/16 hosts: the first entry as template
            hosts = [hosts[0]] * len(lab.hosts)
        rewritten = []
        for declared, h in zip(hosts, lab.hosts):
            ep = h.endpoint
            entry = {k: v for k, v in declared.items() if k not in ("caPemFile", "tlsServerName", "password")}
            entry.update({"name": h.name, "host": ep["host"], "port": ep["port"], "username": ep["username"],
                          "password": ep["password"], "caPem": ep["caPem"]})
            rewritten.append(entry)
        self.raw["existingHosts"] = rewritten
        self.raw.setdefault("winrm", {})["auth"] = lab.auth
        if batch_size is not None:
            self.raw["rollout"] = {"batchSize": batch_size}
        self.engine = Engine(self.workdir / "checkpoint.json", parallel=parallel)
        self.last_run: Optional[ProgramRun] = None
        self.set_services(copy.deepcopy(self.raw.get("services") or []))

    # --- config --------------------------------------------------------------------------------
    @property
    def services(self) -> list[dict]:
        return self.raw["services"]

    def service(self, name: str) -> dict:
        return next(s for s in self.services if s["name"] == name)

    def set_services(self, services: list[dict]) -> None:
        """Replace winfleet:services; each service's binary is published and its listener made ready."""
        for s in services:
            s.setdefault("readinessTimeoutSeconds", self.readiness_timeout)
            # the emulated download table serves our fake binary for the declared URL's version
            declared = (s.get("binary") or {}).get("url", "").rstrip("/").split("/")
            version = s.pop("version", None) or (declared[-2] if len(declared) >= 2 else "1.0.0")
            s["binary"] = binary_ref(s["name"], version)
        self.raw["services"] = services
        for s in services:
            self.publish(s)
            for h in self.lab.hosts:
                if h.model.http.state().get(str(s["port"])) is None:
                    self.serve(h.name, s, "ready")

    def set_version(self, service: str, version: str) -> dict:
        s = self.service(service)
        s["binary"] = binary_ref(service, version)
        self.publish(s)
        return s["binary"]

    def publish(self, s: dict) -> None:
        version = s["binary"]["url"].rstrip("/").split("/")[-2]
        data = binary_bytes(s["name"], version)
        assert hashlib.sha256(data).hexdigest() == s["binary"]["sha256"], "publish a binary_ref() binary"
        for h in self.lab.hosts:
            with h.model.lock:
                h.model.files.downloads[s["binary"]["url"]] = data

    def serve(self, host: str, s: dict, mode: str = "ready", **kw) -> None:
        h = self.lab.host(host)
        with h.model.lock:
            h.model.http.serve(s["port"], service=s["name"], mode=mode,
                               path=s.get("readinessPath", "/readyz"), **kw)

    def config(self) -> dict[str, str]:
        """Fully qualified config as the CLI passes it to the program (objects JSON-encoded)."""
        return {f"winfleet:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in self.raw.items()}

    # --- operations ----------------------------------------------------------------------------
    def run_program(self) -> ProgramRun:
        self.last_run = run_program(PROGRAM, self.config(), secret_keys=["winfleet:existingHosts"],
                                    stack="lab")
        return self.last_run

    def up(self) -> UpResult:
        return self.engine.up(self.run_program())

    def destroy(self) -> UpResult:
        return self.engine.destroy()

    # --- observation ---------------------------------------------------------------------------
    def requests(self) -> dict[str, int]:
        return {h.name: h.counters.snapshot()["http_requests"] for h in self.lab.hosts}

    def total_requests(self) -> int:
        return sum(self.requests().values())

    def stack_outputs(self) -> dict:
        """The stack outputs as `pulumi stack output` shows them after the last up: the program run
        again with every dynamic resource resolving to its checkpointed outputs (what the engine hands
        the program for an unchanged resource)."""
        run = run_program(PROGRAM, self.config(), secret_keys=["winfleet:existingHosts"], stack="lab",
                          mocks=CheckpointMocks(self.checkpoint()))
        return run.outputs

    def checkpoint(self) -> dict:
        p = self.engine.state_path
        return json.loads(p.read_text())["resources"] if p.exists() else {}


def second_service(depends_on_first: bool = False) -> dict:
    """The lab stack declares one service (orders-api); the scenarios and the benchmark add a second.
    With `depends_on_first` it has an SCM dependency on orders-api (then a roll-out of orders-api has
    to stop billing-worker on each host first)."""
    return {"name": "billing-worker", "displayName": "Billing Worker",
            "description": "Billing queue consumer with a status endpoint (Go)", "port": 9090,
            "readinessPath": "/ready", "dependencies": ["orders-api"] if depends_on_first else [],
            "logs": {"maxFileSizeMb": 10, "maxFiles": 3}, "preshutdownTimeoutSeconds": 20,
            "crashDumps": {"enabled": True, "count": 2, "type": "mini"}}


def two_service_stack(lab, workdir: Path, *, depends_on_first: bool = False, **kw) -> LabStack:
    stack = LabStack(lab, workdir, **kw)
    stack.set_services(copy.deepcopy(stack.services) + [second_service(depends_on_first)])
    return stack

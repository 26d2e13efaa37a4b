"""The offline policy gate: plan + CrossGuard verdicts with no cloud account and no Pulumi CLI.

    python -m tools.offline_gate --stack-config Pulumi.example.yaml [--json] [--policy-config f.json]
                                   [--program DIR] [--policy-pack DIR] [--summary-md FILE]

How it works (each step mirrors what `pulumi preview --policy-pack policies` does):

1. Stack config: the YAML's `config:` values become the Pulumi runtime config of the program (structured values as
   JSON strings, as the CLI passes them); `secure:` values cannot be decrypted offline and are replaced by
   placeholders that are marked secret (so they reach the pack as secrets, like the real ones would).
2. Program: the project's `__main__.py` runs under `pulumi.runtime.set_mocks(..., preview=True)`. A capturing mock
   monitor records each RegisterResource request: type, name, parent, dependencies, options and the serialized
   inputs exactly as the SDK sent them (secrets as signature objects, preview unknowns as sentinels). The mock
   returns the inputs as outputs, so computed outputs (IPs, ids of nested properties) stay unknown as in a preview.
   This step runs in a child process (a Pulumi program owns its process's runtime state).
3. Pack: the pack starts exactly as the CLI starts it - `python -u -m pulumi.policy <engine address> .` with the
   working directory set to the pack directory and PULUMI_CONFIG/PROJECT/STACK/ORGANIZATION/DRY_RUN in its
   environment - and prints its gRPC port. A minimal engine gRPC server provides the engine address.
   The gate then calls Handshake (the Python SDK answers UNIMPLEMENTED, as with the CLI), ConfigureStack,
   GetAnalyzerInfo, Configure (the CLI's reconciliation: schema defaults < initial config < "all" < per-policy
   config, with an explicit enforcementLevel for every policy), Analyze per resource (inputs, internal `__` keys
   skipped, as the engine's MarshalProperties(SkipInternalKeys) does) and AnalyzeStack over every resource.
4. Report: the plan (resource tree with the key settings) and the verdicts grouped by enforcement level, with a
   summary line; `--json` prints one JSON document instead. Exit status: 0 clean or advisory only, 1 mandatory
   violation, 2 the gate could not run (bad stack config, program error, pack failure).
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PACK = ROOT / "policies"

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN_SENTINELS = {
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9", "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58", "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
}
LEVELS = ("advisory", "mandatory", "disabled", "remediate")  # proto enum order
SEVERITIES = ("unspecified", "low", "medium", "high", "critical")


EXIT_PASSED, EXIT_VIOLATIONS, EXIT_COULD_NOT_RUN = 0, 1, 2


class GateError(Exception):
    """The gate could not produce verdicts (exit status 2)."""


# =====================================================================================  resources


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str = ""
    custom: bool = True
    inputs: dict = field(default_factory=dict)   # wire form: secrets as signature objects, unknowns as sentinels
    outputs: dict = field(default_factory=dict)
    dependencies: list = field(default_factory=list)
    property_dependencies: dict = field(default_factory=dict)
    additional_secret_outputs: list = field(default_factory=list)
    protect: bool = False
    provider: str = ""


def clean_wire(value: Any) -> Any:
    """Make SDK wire values engine-like: resource references become their id (custom) or URN (component)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == RESOURCE_SIG:
            rid = value.get("id")
            return rid if isinstance(rid, str) and rid else value.get("urn", "")
        if sig == OUTPUT_VALUE_SIG:
            inner = value.get("value", "04da6b54-80e4-46f7-96ec-b56ff0331ba9")
            inner = clean_wire(inner)
            return {SIG_KEY: SECRET_SIG, "value": inner} if value.get("secret") else inner
        return {k: clean_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_wire(v) for v in value]
    return value


def strip_internal(props: dict) -> dict:
    """MarshalProperties(SkipInternalKeys: true): top-level keys starting with `__` (e.g. `__provider`)."""
    return {k: v for k, v in props.items() if not k.startswith("__")}


def plain(value: Any) -> Any:
    """Wire form → display form: secrets as "[secret]", unknowns as "[unknown]"."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return "[secret]"
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and value in UNKNOWN_SENTINELS:
        return "[unknown]"
    return value


# =====================================================================================  stack config


def load_stack_config(path: Path, project: str) -> tuple[dict, list, list]:
    """(config map for the Pulumi runtime, secret keys, placeholder notes) from a Pulumi.<stack>.yaml."""
    from components.config import StackFileError, load_stack_yaml

    try:
        doc = load_stack_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise GateError(f"stack config {path} not found (pass --stack-config PATH)") from None
    except StackFileError as e:
        raise GateError(f"stack config {path}: {e}") from None
    if not isinstance(doc, dict):
        raise GateError(f"stack config {path}: expected a mapping with a `config:` key")
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise GateError(f"stack config {path}: `config:` must be a mapping of keys to values")
    config, secret_keys, notes = {}, [], []
    for key, value in raw.items():
        full = key if ":" in str(key) else f"{project}:{key}"
        found: list = []
        value = _replace_secure(value, full, found)
        if found:
            secret_keys.append(full)
            notes.extend(found)
        if isinstance(value, (dict, list)):
            config[full] = json.dumps(value)
        elif isinstance(value, bool):
            config[full] = "true" if value else "false"
        else:
            config[full] = "" if value is None else str(value)
    return config, secret_keys, notes


def _replace_secure(value: Any, path: str, found: list) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            found.append(path)
            # Satisfies common password rules (length, upper, lower, digit, symbol); never a real credential.
            return f"Offline-Gate-Placeholder-{len(found)}!"
        return {k: _replace_secure(v, f"{path}.{k}", found) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def _yaml_key(path: Path, key: str, default: str) -> str:
    """One top-level string of a project/pack YAML file, or ``default`` if the file or key is missing."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return str(doc.get(key) or default)
    except (OSError, yaml.YAMLError):
        return default


def project_name(program_dir: Path) -> str:
    return _yaml_key(program_dir / "Pulumi.yaml", "name", "project")


def stack_name(config_path: Path) -> str:
    name = config_path.name
    if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")) and name.count(".") >= 2:
        return name[len("Pulumi."):].rsplit(".", 1)[0]
    return "offline"


# =====================================================================================  program under mocks


def _collect_in_this_process(program_dir: Path, config: dict, secret_keys: list, project: str, stack: str) -> dict:
    """Run the program under mocks in *this* process and return {"resources": [...]} (wire form)."""
    import runpy

    import pulumi
    from google.protobuf import json_format
    from pulumi.runtime import mocks as pm
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    records: dict = {}
    order: list = []

    class GateMocks(pm.Mocks):
        def new_resource(self, args: pm.MockResourceArgs):
            state = dict(args.inputs)
            if args.typ.startswith("azure-native:"):
                _, module, kind = args.typ.split(":", 2)
                rg = state.get("resourceGroupName", "rg")
                rg = rg if isinstance(rg, str) else "rg"
                rid = (f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/{rg}/providers/"
                       f"Microsoft.{module.capitalize()}/{kind[:1].lower()}{kind[1:]}s/{args.name}")
            else:
                rid = f"{args.name}-id"
            return (args.resource_id or rid), state

        def call(self, args: pm.MockCallArgs):
            if "getClientConfig" in args.token:
                return {"clientId": "00000000-0000-0000-0000-000000000001",
                        "objectId": "00000000-0000-0000-0000-000000000002",
                        "subscriptionId": "00000000-0000-0000-0000-000000000000",
                        "tenantId": "00000000-0000-0000-0000-000000000003"}
            return {}

    class CapturingMonitor(pm.MockMonitor):
        def RegisterResource(self, request):
            response = super().RegisterResource(request)
            urn = response.urn
            rec = {
                "urn": urn, "type": request.type, "name": request.name, "parent": request.parent,
                "custom": bool(request.custom),
                "inputs": clean_wire(json_format.MessageToDict(request.object)) if request.HasField("object") else {},
                "outputs": (clean_wire(json_format.MessageToDict(response.object))
                            if response.HasField("object") else {}),
                "dependencies": list(request.dependencies),
                "property_dependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
                "additional_secret_outputs": list(request.additionalSecretOutputs),
                "protect": bool(request.protect) if request.HasField("protect") else False,
                "provider": request.provider,
            }
            if urn not in records:
                order.append(urn)
            records[urn] = rec
            return response

    mocks = GateMocks()
    monitor = CapturingMonitor(mocks)
    pulumi.runtime.set_all_config(config, secret_keys)
    pm.set_mocks(mocks, project=project, stack=stack, preview=True, monitor=monitor)

    main = program_dir / "__main__.py"
    if not main.exists():
        raise GateError(f"no Pulumi program at {main}")
    sys.path.insert(0, str(program_dir))
    cwd = os.getcwd()
    os.chdir(program_dir)
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(main), run_name="__main__")))
    finally:
        os.chdir(cwd)
    return {"resources": [records[u] for u in order]}


def collect_resources(program_dir: Path, config_path: Path, python: Optional[str] = None,
                      timeout: float = 300.0) -> tuple[list, dict]:
    """Run the program under mocks in a child process. Returns (resources, meta)."""
    project = project_name(program_dir)
    stack = stack_name(config_path)
    config, secret_keys, notes = load_stack_config(config_path, project)
    job = {"program": str(program_dir), "config": config, "secret_keys": secret_keys,
           "project": project, "stack": stack}
    env = dict(os.environ)
    env.pop("PULUMI_CONFIG", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run([python or sys.executable, "-m", "tools.offline_gate", "--_collect"],
                          input=json.dumps(job), capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=str(ROOT))
    if proc.returncode != 0:
        raise GateError(_program_error(proc.stderr, proc.stdout))
    try:
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise GateError("the program run produced no resource list:\n" + proc.stderr[-4000:]) from None
    meta = {"project": project, "stack": stack, "config": config, "secret_keys": secret_keys,
            "placeholders": notes}
    return [Resource(**r) for r in doc["resources"]], meta


def _program_error(stderr: str, stdout: str) -> str:
    text = (stderr or "").strip() or (stdout or "").strip()
    lines = text.splitlines()
    tail = "\n".join(lines[-40:])
    return "the Pulumi program failed under mocks:\n" + tail


def _describe_program_error(e: BaseException, program: Path) -> str:
    """A config error is its message (it already names each key, value and fix); anything else is the
    exception with the traceback frames from the program's own files."""
    import traceback

    head = f"{type(e).__module__}.{type(e).__name__}" if type(e).__module__ != "builtins" else type(e).__name__
    if type(e).__name__ == "ConfigError":
        return f"{head}: {e}\n"
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if str(Path(f.filename).resolve()).startswith(str(program)) and "offline_gate" not in f.filename]
    body = "".join(traceback.format_list(frames)) if frames else ""
    return f"Traceback (program frames only):\n{body}{head}: {e}\n" if body else f"{head}: {e}\n"


def _collect_main() -> int:
    job = json.loads(sys.stdin.read())
    import logging

    logging.disable(logging.WARNING)  # mock engine logs go to the logging module; keep stdout for the result
    program = Path(job["program"]).resolve()
    try:
        out = _collect_in_this_process(program, job["config"], job["secret_keys"], job["project"], job["stack"])
    except Exception as e:  # noqa: BLE001 - report the program's error, not the gate's plumbing
        sys.stderr.write(_describe_program_error(e, program))
        return 3
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


# =====================================================================================  the pack process


class _Engine:
    """The smallest engine gRPC server: it gives the pack a real address and keeps what the pack logs."""

    def __init__(self):
        import grpc
        from pulumi.runtime.proto import engine_pb2_grpc
        from google.protobuf import empty_pb2

        self.logs: list = []
        logs = self.logs

        class Servicer(engine_pb2_grpc.EngineServicer):
            def Log(self, request, context):
                logs.append({"severity": int(request.severity), "message": request.message, "urn": request.urn})
                return empty_pb2.Empty()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.address = f"127.0.0.1:{self.port}"

    def stop(self):
        self.server.stop(0)


class PackProcess:
    """The policy pack started as the CLI starts it, and a gRPC client for it."""

    def __init__(self, pack_dir: Path = DEFAULT_PACK, python: Optional[str] = None, project: str = "winfleet",
                 stack: str = "offline", organization: str = "organization", config: Optional[dict] = None,
                 secret_keys: Optional[list] = None, dry_run: bool = True, start_timeout: float = 60.0):
        import grpc
        from pulumi.runtime.proto import analyzer_pb2_grpc

        self.pack_dir = Path(pack_dir).resolve()
        if not (self.pack_dir / "PulumiPolicy.yaml").exists():
            raise GateError(f"{self.pack_dir} is not a policy pack (no PulumiPolicy.yaml)")
        self.project, self.stack, self.organization = project, stack, organization
        self.config, self.secret_keys, self.dry_run = dict(config or {}), list(secret_keys or []), dry_run
        self.version = _pack_version(self.pack_dir)
        self.engine = _Engine()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        env.pop("PYTHONPATH", None)  # the CLI gives the pack no access to the project: prove it is self-contained
        if self.config:
            env["PULUMI_CONFIG"] = json.dumps(self.config)
        env.update({"PULUMI_PROJECT": project, "PULUMI_STACK": stack, "PULUMI_ORGANIZATION": organization,
                    "PULUMI_DRY_RUN": "true" if dry_run else "false", "PYTHONUNBUFFERED": "1"})
        self.argv = [python or sys.executable, "-u", "-m", "pulumi.policy", self.engine.address, "."]
        self.proc = subprocess.Popen(self.argv, cwd=str(self.pack_dir), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr: list = []
        threading.Thread(target=self._drain, args=(self.proc.stderr, self._stderr), daemon=True).start()
        port = self._read_port(start_timeout)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                             options=[("grpc.max_receive_message_length", 400 * 1024 * 1024),
                                                      ("grpc.max_send_message_length", 400 * 1024 * 1024)])
        grpc.channel_ready_future(self.channel).result(timeout=start_timeout)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.handshake_supported = None

    @staticmethod
    def _drain(stream, sink):
        for line in iter(stream.readline, b""):
            sink.append(line.decode("utf-8", "replace"))

    def _read_port(self, timeout: float) -> int:
        q: "queue.Queue" = queue.Queue()

        def reader():
            q.put(self.proc.stdout.readline())
            # keep draining stdout so a chatty pack never blocks on a full pipe
            for _ in iter(self.proc.stdout.readline, b""):
                pass

        threading.Thread(target=reader, daemon=True).start()
        try:
            line = q.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise GateError(f"policy pack did not print its port within {timeout}s") from None
        try:
            return int(line.decode().strip())
        except ValueError:
            time.sleep(0.2)
            self.close()
            raise GateError("policy pack failed to start:\n" + "".join(self._stderr)[-4000:]) from None

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    # ---- the RPCs, in the order the engine uses them

    def handshake(self) -> bool:
        import grpc
        from pulumi.runtime.proto import analyzer_pb2

        try:
            self.stub.Handshake(analyzer_pb2.AnalyzerHandshakeRequest(
                engine_address=self.engine.address, root_directory=str(self.pack_dir),
                program_directory=str(self.pack_dir)))
            self.handshake_supported = True
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            self.handshake_supported = False
        return self.handshake_supported

    def configure_stack(self, tags: Optional[dict] = None) -> None:
        from pulumi.runtime.proto import analyzer_pb2

        req = analyzer_pb2.AnalyzerStackConfigureRequest(stack=self.stack, project=self.project,
                                                          organization=self.organization, dry_run=self.dry_run)
        for k, v in (tags or {}).items():
            req.tags[k] = v
        self.stub.ConfigureStack(req)

    def info(self) -> dict:
        from google.protobuf import empty_pb2, json_format

        resp = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        policies = []
        for p in resp.policies:
            policies.append({
                "name": p.name, "description": p.description, "displayName": p.displayName,
                "enforcementLevel": LEVELS[p.enforcementLevel], "severity": SEVERITIES[p.severity],
                "remediationSteps": p.remediation_steps,
                "type": "stack" if p.policy_type == 2 else "resource",
                "configSchema": {
                    "properties": json_format.MessageToDict(p.configSchema.properties),
                    "required": list(p.configSchema.required)},
            })
        initial = {k: {"enforcementLevel": LEVELS[v.enforcementLevel],
                       "properties": json_format.MessageToDict(v.properties)}
                   for k, v in resp.initialConfig.items()}
        return {"name": resp.name, "version": self.version or resp.version, "policies": policies,
                "initialConfig": initial, "supportsConfig": resp.supportsConfig}

    def configure(self, reconciled: dict) -> None:
        """``{policy: {"enforcementLevel": "mandatory", "properties": {...}}}`` — every policy gets a level."""
        from pulumi.runtime.proto import analyzer_pb2

        req = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, cfg in reconciled.items():
            pc = req.policyConfig[name]
            pc.enforcementLevel = LEVELS.index(cfg["enforcementLevel"])
            if cfg.get("properties"):
                pc.properties.update(cfg["properties"])
        self.stub.Configure(req)

    def analyze(self, r: Resource) -> list:
        from pulumi.runtime.proto import analyzer_pb2

        req = analyzer_pb2.AnalyzeRequest(type=r.type, urn=r.urn, name=r.name, options=_options(r))
        req.properties.update(strip_internal(r.inputs))
        resp = self.stub.Analyze(req)
        return [_diag(d, r.urn, "resource") for d in resp.diagnostics]

    def analyze_stack(self, resources: list) -> list:
        from pulumi.runtime.proto import analyzer_pb2

        req = analyzer_pb2.AnalyzeStackRequest()
        for r in resources:
            ar = req.resources.add(type=r.type, urn=r.urn, name=r.name, parent=r.parent, options=_options(r))
            ar.properties.update(strip_internal(r.outputs))
            ar.dependencies.extend(r.dependencies)
            for k, urns in r.property_dependencies.items():
                if urns:
                    ar.propertyDependencies[k].urns.extend(urns)
        resp = self.stub.AnalyzeStack(req)
        return [_diag(d, "", "stack") for d in resp.diagnostics]

    def close(self) -> None:
        try:
            if getattr(self, "channel", None) is not None:
                self.channel.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.engine.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _options(r: Resource):
    from pulumi.runtime.proto import analyzer_pb2

    opts = analyzer_pb2.AnalyzerResourceOptions(protect=r.protect, parent=r.parent)
    opts.additionalSecretOutputs.extend(r.additional_secret_outputs)
    return opts


def _diag(d, default_urn: str, phase: str) -> dict:
    return {"policy": d.policyName, "pack": d.policyPackName, "level": LEVELS[d.enforcementLevel],
            "severity": SEVERITIES[d.severity], "message": d.message, "description": d.description,
            "urn": d.urn or default_urn, "phase": phase}


def _pack_version(pack_dir: Path) -> str:
    return _yaml_key(pack_dir / "PulumiPolicy.yaml", "version", "")


# =====================================================================================  policy config


def load_policy_config(path: Optional[Path]) -> dict:
    if path is None:
        return {}
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GateError(f"policy config {path} not found") from None
    except json.JSONDecodeError as e:
        raise GateError(f"policy config {path} is not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise GateError(f"policy config {path}: expected a JSON object")
    return doc


def reconcile_config(info: dict, user: dict) -> dict:
    """The CLI's ReconcilePolicyPackConfig: schema defaults < initialConfig < "all" < per-policy entries.

    Every policy gets an explicit enforcement level (a Configure entry without one means "advisory" to the SDK).
    Raises GateError with the CLI's wording for unknown policies, bad levels and schema violations.
    """
    known = {p["name"] for p in info["policies"]}
    problems = []
    for key in user:
        if key != "all" and key not in known:
            problems.append(f"{key}: no such policy in pack {info['name']}")
    out = {}
    for p in info["policies"]:
        schema = p["configSchema"]["properties"] or {}
        props = {k: v["default"] for k, v in schema.items() if isinstance(v, dict) and "default" in v}
        level = p["enforcementLevel"]
        init = info.get("initialConfig", {}).get(p["name"])
        if init:
            level = init.get("enforcementLevel") or level
            props.update(init.get("properties") or {})
        if "all" in user:
            level = _level(user["all"], "all", problems) or level
        entry = user.get(p["name"])
        if isinstance(entry, str):
            level = _level(entry, p["name"], problems) or level
        elif isinstance(entry, dict):
            for k, v in entry.items():
                if k == "enforcementLevel":
                    level = _level(v, p["name"], problems) or level
                else:
                    props[k] = v
        elif entry is not None:
            problems.append(f"{p['name']}: expected an enforcement level or an object")
        for k, v in props.items():
            if k in schema:
                problems.extend(f"{p['name']}: {m}" for m in _check_schema(k, v, schema[k]))
            elif isinstance(entry, dict) and k in entry:
                problems.append(f"{p['name']}: unknown config key {k!r} (allowed: {sorted(schema)})")
        for req in p["configSchema"].get("required") or []:
            if req not in props:
                problems.append(f"{p['name']}: {req} is required")
        out[p["name"]] = {"enforcementLevel": level, "properties": props}
    if problems:
        raise GateError("validating policy config: " + info["name"] + " " + info.get("version", "") + "\n  "
                        + "\n  ".join(problems))
    return out


def _level(value: Any, where: str, problems: list) -> Optional[str]:
    if isinstance(value, str) and value in LEVELS:
        return value
    problems.append(f"{where}: invalid enforcement level {value!r} (allowed: {', '.join(LEVELS)})")
    return None


def _check_schema(key: str, value: Any, schema: dict) -> list:
    t = schema.get("type")
    ok = {
        None: True,
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer(),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }.get(t, True)
    if not ok:
        return [f"{key}: {value!r} is not of type {t}"]
    out = []
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(f"{key}: must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            out.append(f"{key}: must be <= {schema['maximum']}, got {value}")
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{key}: must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out.extend(_check_schema(f"{key}[{i}]", item, schema["items"]))
    return out


# =====================================================================================  the gate


@dataclass
class GateResult:
    project: str
    stack: str
    stack_config: str
    pack: dict
    resources: list
    diagnostics: list
    placeholders: list
    timings: dict

    @property
    def mandatory(self) -> list:
        return [d for d in self.diagnostics if d["level"] == "mandatory"]

    @property
    def advisory(self) -> list:
        return [d for d in self.diagnostics if d["level"] == "advisory"]

    @property
    def exit_code(self) -> int:
        return EXIT_VIOLATIONS if self.mandatory else EXIT_PASSED

    def to_json(self) -> dict:
        by_policy: dict = {}
        for d in self.diagnostics:
            by_policy.setdefault(d["policy"], 0)
            by_policy[d["policy"]] += 1
        return {
            "project": self.project, "stack": self.stack, "stackConfig": self.stack_config,
            "pack": self.pack,
            "resources": [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent,
                           "settings": summarize(r)} for r in self.resources],
            "diagnostics": self.diagnostics,
            "secretPlaceholders": self.placeholders,
            "remediations": dict(remediations(self)),
            "summary": {"resources": len(self.resources), "policies": len(self.pack.get("policies", [])),
                        "mandatory": len(self.mandatory), "advisory": len(self.advisory),
                        "violationsByPolicy": by_policy, "passed": not self.mandatory},
            "timings": self.timings,
        }


def analyze(resources: list, pack: PackProcess, policy_config: Optional[dict] = None,
            workers: int = 4) -> tuple[dict, list]:
    """Feed resources to a running pack as the engine does. Returns (pack info with effective config, diagnostics)."""
    pack.handshake()
    pack.configure_stack()
    info = pack.info()
    reconciled = reconcile_config(info, policy_config or {})
    pack.configure(reconciled)
    for p in info["policies"]:
        p["effective"] = reconciled[p["name"]]
    diags: list = []
    targets = [r for r in resources if r.type != "pulumi:pulumi:Stack" and not r.type.startswith("pulumi:providers:")]
    if workers > 1 and len(targets) > 1:
        with futures.ThreadPoolExecutor(max_workers=workers) as ex:
            for result in ex.map(pack.analyze, targets):
                diags.extend(result)
    else:
        for r in targets:
            diags.extend(pack.analyze(r))
    diags.extend(pack.analyze_stack(resources))
    by_urn = {r.urn: r for r in resources}
    for d in diags:
        r = by_urn.get(d["urn"])
        d["type"], d["name"] = (r.type, r.name) if r else ("", "")
    diags.sort(key=lambda d: (LEVELS.index(d["level"]) != 1, d["policy"], d["urn"], d["message"]))
    return info, diags


# The gate's own check of the stack file. The program wraps every secret field in a Pulumi secret, so
# the pack cannot tell a `secure:` value from a plaintext one; only the stack file shows it.
STACK_FILE_CHECK = {
    "name": "stack-file-secrets", "level": "mandatory", "severity": "critical", "type": "stack",
    "remediationSteps": "Set each listed key with `pulumi config set --secret --path '<key>' ...` so the stack "
                        "file holds `secure:` ciphertext, and rotate the credential that was committed in plain text."}


def stack_file_diagnostics(stack_config: Path) -> list[dict]:
    from components.config import load_stack_yaml, plaintext_secret_paths

    section = (load_stack_yaml(stack_config.read_text(encoding="utf-8")) or {}).get("config") or {}
    return [{"policy": STACK_FILE_CHECK["name"], "level": "mandatory", "severity": "critical", "urn": "",
             "type": "", "name": "",
             "message": f"{STACK_FILE_CHECK['name']}\n{key} is a secret field but the stack file holds it in "
                        "plain text (not `secure:`)"}
            for key in plaintext_secret_paths(section)]


def run_gate(stack_config: Path, program_dir: Path = ROOT, pack_dir: Path = DEFAULT_PACK,
             policy_config: Optional[dict] = None, python: Optional[str] = None,
             pack_python: Optional[str] = None) -> GateResult:
    t0 = time.perf_counter()
    resources, meta = collect_resources(program_dir, stack_config, python=python)
    t1 = time.perf_counter()
    with PackProcess(pack_dir, python=pack_python or python, project=meta["project"], stack=meta["stack"],
                     config=meta["config"], secret_keys=meta["secret_keys"]) as pack:
        t2 = time.perf_counter()
        info, diags = analyze(resources, pack, policy_config)
        t3 = time.perf_counter()
    diags = stack_file_diagnostics(stack_config) + diags
    pack_meta = {"name": info["name"], "version": info["version"], "dir": str(pack_dir),
                 "policies": [{"name": p["name"], "level": p["effective"]["enforcementLevel"],
                               "severity": p["severity"], "type": p["type"],
                               "remediationSteps": p["remediationSteps"]} for p in info["policies"]]}
    timings = {"program_s": round(t1 - t0, 3), "pack_start_s": round(t2 - t1, 3), "analyze_s": round(t3 - t2, 3),
               "total_s": round(t3 - t0, 3)}
    return GateResult(meta["project"], meta["stack"], str(stack_config), pack_meta, resources, diags,
                      meta["placeholders"], timings)


# =====================================================================================  the report

def _g(d: Any, path: str, default: Any = None) -> Any:
    cur = d
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return default
    return cur


def _n(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _size(v: Any) -> str:
    if not isinstance(v, (int, float)):
        return str(v)
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if v >= div:
            return f"{v / div:.4g} {unit}"
    return f"{int(v)} B"


def summarize(r: Resource) -> str:
    """The key settings of a resource, one line, secrets and unknowns masked."""
    p = plain(r.inputs)
    t = r.type
    parts: list = []
    if t.endswith(":LoadBalancer"):
        for pr in _g(p, "probes", []) or []:
            parts.append(f"probe {pr.get('name')}: {pr.get('protocol')} :{_n(pr.get('port'))}"
                         f"{pr.get('requestPath') or ''} every {_n(pr.get('intervalInSeconds', 15))}s "
                         f"x{_n(pr.get('probeThreshold', pr.get('numberOfProbes', 1)))}")
        for rule in _g(p, "loadBalancingRules", []) or []:
            parts.append(f"rule {rule.get('name')}: {_n(rule.get('frontendPort'))}->{_n(rule.get('backendPort'))}")
    elif t.endswith(":NetworkSecurityGroup") or t.endswith(":SecurityRule"):
        rules = _g(p, "securityRules", []) if t.endswith("Group") else [p]
        for rule in rules or []:
            src = rule.get("sourceAddressPrefix") or ",".join(rule.get("sourceAddressPrefixes") or [])
            dst = rule.get("destinationPortRange") or ",".join(map(str, rule.get("destinationPortRanges") or []))
            parts.append(f"{_n(rule.get('priority'))} {rule.get('access')} {rule.get('direction')} {src}->{dst}")
    elif t.endswith(":VirtualMachine"):
        listeners = _g(p, "osProfile.windowsConfiguration.winRM.listeners", []) or []
        parts.append(f"size={_g(p, 'hardwareProfile.vmSize')}")
        parts.append("winrm=" + (",".join(str(l.get("protocol")) for l in listeners) or "none"))
        parts.append(f"bootDiagnostics={_g(p, 'diagnosticsProfile.bootDiagnostics.enabled')}")
        parts.append(f"adminPassword={_g(p, 'osProfile.adminPassword')}")
    elif t.endswith(":WindowsService"):
        parts.append(f"service={p.get('serviceName')} account={p.get('account')} port={_n(p.get('port'))}")
        parts.append(f"ready={p.get('readinessPath')} health={p.get('healthPath')}")
        parts.append(f"preshutdown={_n(p.get('preshutdownTimeoutSeconds'))}s")
        logs = p.get("logs") or {}
        if isinstance(logs, dict):
            parts.append(f"logs={logs.get('directory')} {_size(logs.get('maxSizeBytes'))}x{_n(logs.get('maxFiles'))}")
    elif t.endswith(":EventLogSettings"):
        for entry in p.get("logs") or []:
            if isinstance(entry, dict):
                parts.append(f"{entry.get('name')}={_size((entry.get('maxSizeKb') or 0) * 1024)}/{entry.get('retention')}")
    elif t.endswith(":NtfsQuota"):
        parts.append(f"{p.get('volume')} {p.get('account')} limit={_size(p.get('limitBytes'))} "
                     f"budget={_size(p.get('budgetBytes'))}")
    elif t.endswith(":ServiceBaseline"):
        services = p.get("services") or []
        parts.append(f"{p.get('baselineName')}: disables {len(services) if isinstance(services, list) else '?'}")
    elif t.endswith(":CrashDumps"):
        parts.append(f"{p.get('exeName')} -> {p.get('dumpFolder')} x{_n(p.get('dumpCount'))} {p.get('dumpType')}")
    elif t.endswith(":DataVolume"):
        disk = (f"lun={_n(p['lun'])}" if p.get("lun") is not None
                else f"disk={_n(p['diskNumber'])}" if p.get("diskNumber") is not None
                else "existing volume")
        parts.append(f"{p.get('driveLetter')}: {p.get('fileSystem')} {disk}")
    if t.split(":")[-1] in ("WindowsService", "EventLogSettings", "NtfsQuota", "ServiceBaseline", "CrashDumps",
                            "DataVolume"):
        # The connection is secret as a whole (it holds the password); its host name is not sensitive.
        conn = r.inputs.get("connection")
        if isinstance(conn, dict) and conn.get(SIG_KEY) == SECRET_SIG:
            conn = conn.get("value")
        host = conn.get("hostName") if isinstance(conn, dict) else None
        if isinstance(host, str) and host not in UNKNOWN_SENTINELS:
            parts.insert(0, f"host={host}")
    if not parts and isinstance(p.get("location"), str):
        parts.append(f"location={p['location']}")
    return "  ".join(str(x) for x in parts)


def render_text(res: GateResult) -> str:
    out = []
    policies = res.pack.get("policies", [])
    out.append(f"winfleet offline policy gate: stack {res.project}/{res.stack} ({res.stack_config}), "
               f"pack {res.pack['name']}@{res.pack['version']} ({len(policies)} policies)")
    if res.placeholders:
        out.append(f"  secure values replaced by secret placeholders (not decryptable offline): "
                   f"{', '.join(res.placeholders)}")
    out.append("")
    out.append(f"Plan (preview under mocks): {len(res.resources)} resources to create")
    children: dict = {}
    urns = {r.urn for r in res.resources}
    for r in res.resources:
        children.setdefault(r.parent if r.parent in urns else "", []).append(r)

    def walk(parent: str, depth: int):
        # by name, not registration order (which async registration makes vary): PR comments diff cleanly
        for r in sorted(children.get(parent, []), key=lambda r: (r.name, r.type)):
            line = f"{'  ' * depth}+ {r.type}  {r.name}"
            settings = summarize(r)
            out.append(line + (f"   [{settings}]" if settings else ""))
            walk(r.urn, depth + 1)

    walk("", 1)
    out.append("")
    out.append("Policy verdicts")
    groups = [("mandatory", res.mandatory), ("advisory", res.advisory)]
    for level, diags in groups:
        out.append(f"  {level} ({len(diags)}):")
        if not diags:
            out.append("    none")
        for d in sorted(diags, key=lambda d: (d["policy"], d["urn"])):
            where = f"{d.get('type') or 'stack'} {d.get('name') or ''}".strip()
            msg_lines = d["message"].splitlines()
            detail = msg_lines[1:] if len(msg_lines) > 1 else msg_lines
            out.append(f"    - {d['policy']} [{d['severity']}]  {where}")
            for line in detail:
                out.append(f"        {line}")
    out.append("")
    fixes = remediations(res)
    if fixes:
        out.append("How to fix (each violated policy's remediation; keys are `winfleet:` stack config)")
        for name, text in fixes:
            out.append(f"  - {name}: {text}")
        out.append("")
    failed = {d["policy"] for d in res.mandatory}
    verdict = "FAILED (mandatory policy violated)" if res.mandatory else "PASSED"
    out.append(f"Summary: {len(res.resources)} resources, {len(policies)} policies, "
               f"{len(res.mandatory)} mandatory and {len(res.advisory)} advisory violations"
               + (f" ({', '.join(sorted(failed))})" if failed else "") + f" -> {verdict}"
               + f"  [{res.timings.get('total_s')}s]")
    return "\n".join(out)


def remediations(res: GateResult) -> list[tuple[str, str]]:
    """(policy, remediation steps) for every policy with a violation, mandatory ones first."""
    steps = {p["name"]: p.get("remediationSteps") or "" for p in res.pack.get("policies", []) + [STACK_FILE_CHECK]}
    seen: list[str] = []
    for d in res.mandatory + res.advisory:
        if d["policy"] not in seen:
            seen.append(d["policy"])
    return [(name, steps[name]) for name in seen if steps.get(name)]


def render_markdown(res: GateResult) -> str:
    icon = ":x:" if res.mandatory else ":white_check_mark:"
    out = [f"### {icon} winfleet policy gate: `{res.project}/{res.stack}`", "",
           f"{len(res.resources)} resources, pack `{res.pack['name']}@{res.pack['version']}`: "
           f"**{len(res.mandatory)} mandatory**, {len(res.advisory)} advisory violations.", ""]
    if res.diagnostics:
        out += ["| level | policy | severity | resource | message |", "|---|---|---|---|---|"]
        for d in sorted(res.diagnostics, key=lambda d: (d["level"] != "mandatory", d["policy"])):
            msg = " ".join(d["message"].splitlines()[1:] or d["message"].splitlines()).replace("|", "\\|")
            out.append(f"| {d['level']} | `{d['policy']}` | {d['severity']} | "
                       f"`{d.get('type') or 'stack'}` {d.get('name') or ''} | {msg} |")
    fixes = remediations(res)
    if fixes:
        out += ["", "**How to fix**", ""] + [f"- `{name}`: {text}" for name, text in fixes]
    out += ["", "<details><summary>Plan</summary>", "", "```"]
    out += [f"+ {r.type}  {r.name}  {summarize(r)}" for r in res.resources]
    out += ["```", "</details>", ""]
    return "\n".join(out)


def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--_collect"]:
        return _collect_main()
    ap = argparse.ArgumentParser(prog="python -m tools.offline_gate",
                                 description="Offline policy gate: run the program under mocks and the CrossGuard "
                                             "pack over gRPC, as `pulumi preview --policy-pack` would.",
                                 epilog=f"Exit status: {EXIT_PASSED} no mandatory violation; {EXIT_VIOLATIONS} "
                                        f"mandatory violations (the verdicts are printed); {EXIT_COULD_NOT_RUN} "
                                        "the gate could not run (bad stack file, program error, pack did not start).")
    ap.add_argument("--stack-config", default="Pulumi.example.yaml", help="Pulumi.<stack>.yaml to preview")
    ap.add_argument("--program", default=str(ROOT), help="program directory (default: the project root)")
    ap.add_argument("--policy-pack", default=str(DEFAULT_PACK), help="policy pack directory (default: policies/)")
    ap.add_argument("--policy-config", default=None,
                    help="policy config JSON, as `--policy-pack-config` (e.g. {\"all\": \"mandatory\"})")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the text report")
    ap.add_argument("--summary-md", default=None, help="also append a Markdown summary to this file "
                                                       "(e.g. $GITHUB_STEP_SUMMARY)")
    ap.add_argument("--python", default=None, help="interpreter for the program and the pack (default: this one)")
    ap.add_argument("--pack-python", default=None,
                    help="interpreter for the pack only, e.g. policies/venv/bin/python (the CLI's pack virtualenv)")
    args = ap.parse_args(argv)
    stack_config = Path(args.stack_config)
    if not stack_config.is_absolute() and not stack_config.exists() and (Path(args.program) / stack_config).exists():
        stack_config = Path(args.program) / stack_config
    try:
        try:
            result = run_gate(stack_config, Path(args.program).resolve(), Path(args.policy_pack).resolve(),
                              load_policy_config(Path(args.policy_config) if args.policy_config else None),
                              python=args.python, pack_python=args.pack_python)
        except GateError:
            raise
        except Exception as e:  # anything unexpected is "could not run", never "violations"
            raise GateError(f"{type(e).__name__}: {e}") from e
    except GateError as e:
        if args.json:
            print(json.dumps({"error": str(e), "summary": {"passed": False}}, indent=2))
        else:
            print(f"offline gate: error: {e}", file=sys.stderr)
        if args.summary_md:
            with open(args.summary_md, "a", encoding="utf-8") as f:
                f.write(f"### :x: winfleet policy gate could not run\n\n```\n{e}\n```\n")
        return EXIT_COULD_NOT_RUN
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(render_text(result))
    if args.summary_md:
        with open(args.summary_md, "a", encoding="utf-8") as f:
            f.write(render_markdown(result))
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())

"""An engine-faithful stand-in for `pulumi up` / `pulumi destroy` (tests only).

**The real engine now runs in `make test`** (`tests/engine`, the Pulumi CLI `make setup` builds):
preview + policy, no-change up, drift/refresh, roll-out order and a never-ready build, exact
destroy, state loss, secrets in state, protect/retainOnDelete, --target, SIGINT, provider per host.
This stand-in is kept only for what the real CLI does not give a test:
* `run_program` / `resolve` / `strip_secrets`: the program under mocks, in-process and in
  milliseconds, for the unit tests of the resource graph (tests/unit/test_fleet.py, test_go_service.py);
* each provider call's own start and end time (the CLI's JSON events carry whole seconds), which the
  fleet scenarios of tests/e2e/test_fleet_e2e.py use to assert that one batch ended before the next
  began, for batch sizes, SCM dependencies and related releases the real-engine suite does not repeat.
Anything it does that the engine does differently is a bug here, not a behaviour to rely on.

What it does, and how that matches the Pulumi engine:

1. **Run the program** under Pulumi mocks (`pulumi.runtime.set_mocks`) with a given stack config, and
   capture every `RegisterResource` request the SDK sends: type, name, parent, the resolved
   `dependencies` (explicit `depends_on` + implicit, components expanded to their children by the SDK
   exactly as under the CLI), `deleteBeforeReplace`, and the inputs — for dynamic resources including
   the dill-serialized `__provider`. Non-dynamic resources (Azure) only exist in the mocks.
2. **Drive the dynamic resources** through the real dynamic-provider host (`python -u -m pulumi.dynamic`,
   the process `pulumi-resource-pulumi-python` launches; one per run, like one per `pulumi up`) over
   gRPC, honouring the dependency graph: a resource's step starts only when the steps of everything it
   depends on have finished; independent steps run in parallel (`parallel`, the CLI's `--parallel`,
   which defaults to unbounded; 16 here changes nothing in practice because the provider host serves
   calls from its 4-thread pool either way).
   * new resource: `Check(olds={}, news)` → `Create(checked)`;
   * existing: `Check(olds=old inputs, news)` → `Diff(id, olds=old outputs, news=checked, old_inputs)`;
     `DIFF_NONE` → same (no call); `DIFF_UNKNOWN` → the engine's legacy input comparison;
     `DIFF_SOME` without replaces → `Update(id, olds=old outputs, news=checked)`; with replaces →
     replace: delete-before-replace when the DiffResponse or the resource option asks, otherwise
     create-before-delete (the old instance is deleted at the end of the run, like the engine's
     pending-delete).
   * resources in the checkpoint but no longer in the program are deleted at the end, dependents first.
   * **the first failed step stops the run** like `pulumi up`: no new step starts, in-flight steps finish,
     the checkpoint keeps what succeeded (a failed update keeps the old state; a failed create leaves
     nothing), and `EngineError` names the step and the provider's message.
   Secrets are stripped before sending (the host answers `acceptSecrets: False`); numbers travel as
   protobuf doubles, as with the real engine.
3. **Checkpoint**: a small JSON file (urn → type, name, id, inputs, outputs, dependencies, parent) written
   after every step that changed something (an unchanged "same" step writes nothing, as the engine's
   snapshot manager skips it), read at the start of the next run — the engine's checkpoint. (Unlike the engine it
   stores secrets in plain text: it is a test artefact in a temp directory.)
4. **Destroy**: `Delete(id, outputs)` for every resource in the checkpoint, dependents first.
"""
from __future__ import annotations

import json
import os
import runpy
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import grpc
from google.protobuf import struct_pb2

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

ROOT = Path(__file__).resolve().parents[2]
DYNAMIC_PREFIX = "pulumi-python:dynamic"
PROVIDER_KEY = "__provider"


# ----------------------------------------------------------------------------------------------
# values
# ----------------------------------------------------------------------------------------------
def strip_secrets(value: Any) -> Any:
    """Unwrap Pulumi secret envelopes recursively (what the engine sends a provider with acceptSecrets=False)."""
    if rpc.is_rpc_secret(value):
        return strip_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value


def to_struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(json.loads(json.dumps(props)))
    return s


def from_struct(s: struct_pb2.Struct, keep_unknowns: bool = False) -> dict:
    return strip_secrets(rpc.deserialize_properties(s, keep_unknowns))


def _json_norm(value: Any) -> Any:
    """Compare values the way the engine does after a protobuf round trip (numbers are doubles)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {k: _json_norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_norm(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------
# the dynamic-provider host over gRPC
# ----------------------------------------------------------------------------------------------
class ProviderError(Exception):
    """A provider call failed; `message` is the provider's exception line, `details` the full traceback."""

    def __init__(self, method: str, urn: str, message: str, details: str):
        super().__init__(f"{method} {urn}: {message}")
        self.method, self.urn, self.message, self.details = method, urn, message, details


def _last_exception_line(details: str) -> str:
    lines = [ln for ln in (details or "").strip().splitlines() if ln.strip()]
    # the traceback ends "<ExcType>: <message>" (possibly multi-line); keep from the last exception header
    for i in range(len(lines) - 1, -1, -1):
        if not lines[i].startswith(" ") and ":" in lines[i] and not lines[i].startswith("Traceback"):
            return "\n".join(lines[i:])
    return lines[-1] if lines else ""


class ProviderHost:
    """The engine's side of the dynamic-provider host: the process is started by the provider tests'
    harness (`tests.providers.harness.ProviderHost`: `python -u -m pulumi.dynamic` from the project
    root, as `pulumi up` starts it); this class sends the engine's requests with the *captured*
    `__provider` of each resource (not a provider bound by the test)."""

    def __init__(self, cwd: Path = ROOT, config: Optional[dict[str, str]] = None, timeout: float = 600.0):
        from tests.providers.harness import ProviderHost as _Process
        self.timeout = timeout
        self._proc = _Process(cwd=Path(cwd))
        self.stub = self._proc.stub
        if config:
            self.stub.Configure(provider_pb2.ConfigureRequest(variables=dict(config), args=to_struct(dict(config)),
                                                              acceptSecrets=True, acceptResources=True))

    @property
    def stderr(self) -> str:
        return self._proc.stderr

    def _call(self, method: str, urn: str, request):
        try:
            return getattr(self.stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as e:  # the host aborts with the provider's traceback as details
            details = e.details() or str(e)
            raise ProviderError(method, urn, _last_exception_line(details), details) from None

    def check(self, urn, name, type_, olds: dict, news: dict) -> tuple[dict, list[tuple[str, str]]]:
        r = self._call("Check", urn, provider_pb2.CheckRequest(urn=urn, name=name, type=type_,
                                                               olds=to_struct(olds), news=to_struct(news)))
        return from_struct(r.inputs), [(f.property, f.reason) for f in r.failures]

    def diff(self, urn, name, type_, id_: str, olds: dict, news: dict, old_inputs: dict):
        r = self._call("Diff", urn, provider_pb2.DiffRequest(urn=urn, name=name, type=type_, id=id_,
                                                             olds=to_struct(olds), news=to_struct(news),
                                                             old_inputs=to_struct(old_inputs)))
        return r

    def create(self, urn, name, type_, props: dict) -> tuple[str, dict]:
        r = self._call("Create", urn, provider_pb2.CreateRequest(urn=urn, name=name, type=type_,
                                                                 properties=to_struct(props), timeout=self.timeout))
        return r.id, from_struct(r.properties)

    def update(self, urn, name, type_, id_: str, olds: dict, news: dict, old_inputs: dict) -> dict:
        r = self._call("Update", urn, provider_pb2.UpdateRequest(urn=urn, name=name, type=type_, id=id_,
                                                                 olds=to_struct(olds), news=to_struct(news),
                                                                 old_inputs=to_struct(old_inputs),
                                                                 timeout=self.timeout))
        return from_struct(r.properties)

    def delete(self, urn, name, type_, id_: str, props: dict, old_inputs: dict) -> None:
        self._call("Delete", urn, provider_pb2.DeleteRequest(urn=urn, name=name, type=type_, id=id_,
                                                             properties=to_struct(props),
                                                             old_inputs=to_struct(old_inputs),
                                                             timeout=self.timeout))

    def read(self, urn, name, type_, id_: str, props: dict, inputs: dict) -> tuple[str, dict]:
        r = self._call("Read", urn, provider_pb2.ReadRequest(urn=urn, name=name, type=type_, id=id_,
                                                             properties=to_struct(props), inputs=to_struct(inputs)))
        return r.id, from_struct(r.properties)

    def close(self):
        self._proc.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------------------------
# running the program under mocks and capturing the registrations
# ----------------------------------------------------------------------------------------------
@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    inputs: dict               # as the monitor received them (secrets still wrapped)
    delete_before_replace: bool = False

    @property
    def dynamic(self) -> bool:
        return self.custom and self.type.startswith(DYNAMIC_PREFIX)

    @property
    def secret_keys(self) -> set[str]:
        return {k for k, v in self.inputs.items() if rpc.is_rpc_secret(v)}


class EchoMocks(pulumi_mocks.Mocks):
    """Default mocks: every resource's outputs are its inputs, ids are `<name>-id`."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs):
        return {}


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping each RegisterResource request's graph fields."""

    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            reg = Registration(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent,
                custom=bool(request.custom), dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                inputs=rpc.deserialize_properties(request.object),
                delete_before_replace=bool(request.deleteBeforeReplace))
            with self._lock:
                self.registrations.append(reg)
        return response


@dataclass
class ProgramRun:
    registrations: list[Registration]
    outputs: dict[str, Any]          # stack exports, resolved
    monitor: CapturingMonitor
    value: Any = None                # what a callable program returned

    def by_type(self, suffix: str) -> list[Registration]:
        return [r for r in self.registrations if r.type.endswith(suffix)]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


def run_program(program: Callable[[], Any] | Path | str, config: dict[str, str], *,
                secret_keys: Iterable[str] = (), mocks: Optional[pulumi_mocks.Mocks] = None,
                project: str = "winfleet", stack: str = "lab") -> ProgramRun:
    """Run a Pulumi program in-process under mocks with `config`; return what it registered.

    `program` is a callable or a path to a `__main__.py` (run with runpy, as the language host does).
    Config keys are fully qualified (`winfleet:hosts`), values strings (JSON for objects), like the CLI
    passes them in PULUMI_CONFIG.
    """
    from pulumi.runtime.config import set_all_config
    from pulumi.runtime import settings
    from pulumi.runtime.settings import SETTINGS, get_root_resource
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    if mocks is None:
        try:  # realistic Azure/tls/random outputs from the unit tests' mocks, when present
            from tests.unit.mocks import WinfleetMocks
            mocks = WinfleetMocks()
        except ImportError:
            mocks = EchoMocks()
    monitor = CapturingMonitor(mocks)
    settings.ROOT.set(None)  # a fresh root Stack per run (exports of earlier runs must not leak)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    set_all_config(dict(config), list(secret_keys))
    SETTINGS.rpc_manager.clear()
    SETTINGS.outputs.clear()

    if isinstance(program, (str, Path)):
        path = str(program)

        def fn():
            runpy.run_path(path, run_name="__pulumi_program__")
    else:
        def fn():
            holder["value"] = program()

    holder: dict[str, Any] = {}
    _sync_await(run_pulumi_func(fn))

    outputs: dict[str, Any] = {}
    root = get_root_resource()
    pending = dict(getattr(root, "outputs", {}) or {})
    if pending:
        async def resolve():
            res = {}
            for k, v in pending.items():
                res[k] = await pulumi.Output.from_input(v).future(with_unknowns=True)
            return res
        outputs = _sync_await(resolve())
    return ProgramRun(registrations=list(monitor.registrations), outputs=outputs, monitor=monitor,
                      value=holder.get("value"))


def resolve(value: Any) -> Any:
    """The plain value of an Output (or value) after `run_program` finished."""
    from pulumi.runtime.sync_await import _sync_await

    async def get():
        return await pulumi.Output.from_input(value).future(with_unknowns=True)
    return _sync_await(get())


# ----------------------------------------------------------------------------------------------
# checkpoint
# ----------------------------------------------------------------------------------------------
class Checkpoint:
    """urn → {type, name, id, inputs, outputs, dependencies, parent}; JSON on disk, written after each step."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.resources: dict[str, dict] = {}
        if self.path.exists():
            self.resources = json.loads(self.path.read_text()).get("resources", {})

    def get(self, urn: str) -> Optional[dict]:
        with self._lock:
            return self.resources.get(urn)

    def put(self, urn: str, entry: dict) -> None:
        with self._lock:
            if self.resources.get(urn) == entry:
                return  # like the engine's snapshot manager: an unchanged "same" step writes nothing
            self.resources[urn] = entry
            self._save()

    def remove(self, urn: str) -> None:
        with self._lock:
            self.resources.pop(urn, None)
            self._save()

    def _save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "resources": self.resources}, separators=(",", ":")))
        os.replace(tmp, self.path)


# ----------------------------------------------------------------------------------------------
# the deployment engine
# ----------------------------------------------------------------------------------------------
@dataclass
class Step:
    op: str           # create | update | same | replace | delete | create-replacement | delete-replaced
    urn: str
    type: str
    name: str
    start: float
    end: float
    ok: bool = True
    error: str = ""

    @property
    def changed(self) -> bool:
        return self.op != "same"


class EngineError(Exception):
    def __init__(self, step: Step, error: ProviderError | str, result: "UpResult"):
        msg = error.message if isinstance(error, ProviderError) else str(error)
        super().__init__(f"{step.op} of {step.name} ({step.type.split(':')[-1]}) failed: {msg}")
        self.step, self.error, self.result = step, error, result
        self.provider_message = msg


@dataclass
class UpResult:
    steps: list[Step] = field(default_factory=list)
    failed: Optional[Step] = None
    error: Optional[str] = None

    def ops(self, op: Optional[str] = None) -> list[Step]:
        return [s for s in self.steps if s.ok and (op is None or s.op == op)]

    @property
    def changes(self) -> list[Step]:
        return [s for s in self.steps if s.ok and s.changed]

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            if s.ok:
                out[s.op] = out.get(s.op, 0) + 1
        return out


def _topo_levels(nodes: dict[str, set[str]]) -> list[str]:
    """Kahn order of urn → deps (deps outside `nodes` ignored); raises on cycles."""
    deps = {u: {d for d in ds if d in nodes and d != u} for u, ds in nodes.items()}
    order, ready = [], [u for u, ds in deps.items() if not ds]
    dependents: dict[str, set[str]] = {u: set() for u in nodes}
    for u, ds in deps.items():
        for d in ds:
            dependents[d].add(u)
    remaining = {u: len(ds) for u, ds in deps.items()}
    while ready:
        u = ready.pop(0)
        order.append(u)
        for v in sorted(dependents[u]):
            remaining[v] -= 1
            if remaining[v] == 0:
                ready.append(v)
    if len(order) != len(nodes):
        raise RuntimeError(f"dependency cycle among {sorted(set(nodes) - set(order))}")
    return order


class Engine:
    """`pulumi up` / `pulumi destroy` for the dynamic resources of a captured program."""

    def __init__(self, state_path: Path, *, cwd: Path = ROOT, parallel: int = 16,
                 config: Optional[dict[str, str]] = None, log: Optional[Callable[[str], None]] = None):
        self.state_path = Path(state_path)
        self.cwd = cwd
        self.parallel = max(1, int(parallel))
        self.config = dict(config or {})
        self.log = log or (lambda msg: None)
        self.last_host_stderr = ""

    # -- scheduling -------------------------------------------------------------------------
    def _run_graph(self, nodes: dict[str, set[str]], work: Callable[[str], Optional[Step]],
                   result: UpResult) -> None:
        """Run `work(urn)` for every node once all its deps ran; stop launching at the first failure."""
        deps = {u: {d for d in ds if d in nodes and d != u} for u, ds in nodes.items()}
        _topo_levels(nodes)  # cycle check
        done: set[str] = set()
        started: set[str] = set()
        failure: list[tuple[Step, Exception]] = []
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            running = {}
            while True:
                if not failure:
                    for u in nodes:  # insertion (registration) order among the ready ones
                        if u not in started and deps[u] <= done:
                            started.add(u)
                            running[pool.submit(work, u)] = u
                if not running:
                    break
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    u = running.pop(fut)
                    try:
                        fut.result()
                        done.add(u)
                    except _StepFailed as e:
                        failure.append((e.step, e.error))
        if failure:
            step, err = failure[0]
            result.failed = step
            result.error = str(err)
            raise EngineError(step, err, result)

    # -- up -----------------------------------------------------------------------------------
    def up(self, run: ProgramRun) -> UpResult:
        cp = Checkpoint(self.state_path)
        regs = [r for r in run.registrations if r.dynamic]
        program_urns = {r.urn for r in regs}
        result = UpResult()
        lock = threading.Lock()
        pending_deletes: list[str] = []  # create-before-delete: old instances deleted at the end

        def record(step: Step):
            with lock:
                result.steps.append(step)

        with ProviderHost(self.cwd, self.config) as host:
            try:
                def work(urn: str):
                    reg = by_urn[urn]
                    self._step_up(host, cp, reg, record, pending_deletes, lock)

                by_urn = {r.urn: r for r in regs}
                nodes = {r.urn: set(r.dependencies) for r in regs}
                self._run_graph(nodes, work, result)

                # deletes: replaced instances and resources no longer in the program, dependents first
                gone = {u: e for u, e in cp.resources.items() if u not in program_urns}
                del_nodes: dict[str, set[str]] = {}
                for key in pending_deletes:
                    del_nodes[key] = set()
                for u, e in gone.items():
                    del_nodes[u] = set()
                # reverse edges: a resource is deleted after everything that depends on it
                for u, e in gone.items():
                    for d in e.get("dependencies", []):
                        if d in del_nodes:
                            del_nodes[d].add(u)
                self._run_graph(del_nodes, lambda key: self._step_delete(host, cp, key, record,
                                                                         replaced="#replaced#" in key),
                                result)
            finally:
                self.last_host_stderr = host.stderr
        return result

    def _step_up(self, host: ProviderHost, cp: Checkpoint, reg: Registration, record, pending_deletes, lock):
        news = strip_secrets(reg.inputs)
        old = cp.get(reg.urn)
        t0 = time.monotonic()
        step = Step("create" if old is None else "same", reg.urn, reg.type, reg.name, t0, t0)
        try:
            checked, failures = host.check(reg.urn, reg.name, reg.type, old["inputs"] if old else {}, news)
            if failures:
                raise ProviderError("Check", reg.urn, "; ".join(f"{p}: {r}" for p, r in failures), "")
            entry = {"type": reg.type, "name": reg.name, "parent": reg.parent,
                     "dependencies": sorted(reg.dependencies), "inputs": checked}
            if old is None:
                id_, outs = host.create(reg.urn, reg.name, reg.type, checked)
                cp.put(reg.urn, dict(entry, id=id_, outputs=outs))
            else:
                d = host.diff(reg.urn, reg.name, reg.type, old["id"], old["outputs"], checked, old["inputs"])
                if d.changes == provider_pb2.DiffResponse.DIFF_UNKNOWN:
                    changed = _json_norm(old["inputs"]) != _json_norm(checked)
                    replaces: list[str] = []
                else:
                    changed = d.changes == provider_pb2.DiffResponse.DIFF_SOME
                    replaces = list(d.replaces)
                if not changed:
                    cp.put(reg.urn, dict(entry, id=old["id"], outputs=old["outputs"]))
                elif not replaces:
                    step.op = "update"
                    outs = host.update(reg.urn, reg.name, reg.type, old["id"], old["outputs"], checked, old["inputs"])
                    cp.put(reg.urn, dict(entry, id=old["id"], outputs=outs))
                else:
                    step.op = "replace"
                    if d.deleteBeforeReplace or reg.delete_before_replace:
                        host.delete(reg.urn, reg.name, reg.type, old["id"], old["outputs"], old["inputs"])
                        cp.remove(reg.urn)
                        id_, outs = host.create(reg.urn, reg.name, reg.type, checked)
                        cp.put(reg.urn, dict(entry, id=id_, outputs=outs))
                    else:
                        id_, outs = host.create(reg.urn, reg.name, reg.type, checked)
                        key = f"{reg.urn}#replaced#{old['id']}"
                        cp.put(key, dict(old, pendingDelete=True, dependencies=[]))
                        cp.put(reg.urn, dict(entry, id=id_, outputs=outs))
                        with lock:
                            pending_deletes.append(key)
        except ProviderError as e:
            step.end, step.ok, step.error = time.monotonic(), False, e.message
            record(step)
            self.log(f"FAILED {step.op} {reg.name}: {e.message}")
            raise _StepFailed(step, e)
        step.end = time.monotonic()
        record(step)
        if step.changed:
            self.log(f"{step.op} {reg.name} ({step.end - step.start:.2f}s)")

    def _step_delete(self, host: ProviderHost, cp: Checkpoint, key: str, record, replaced: bool = False):
        e = cp.get(key)
        urn = key.split("#replaced#")[0]
        t0 = time.monotonic()
        step = Step("delete-replaced" if replaced else "delete", urn, e["type"], e["name"], t0, t0)
        try:
            host.delete(urn, e["name"], e["type"], e["id"], e["outputs"], e.get("inputs", {}))
        except ProviderError as err:
            step.end, step.ok, step.error = time.monotonic(), False, err.message
            record(step)
            raise _StepFailed(step, err)
        cp.remove(key)
        step.end = time.monotonic()
        record(step)
        self.log(f"{step.op} {e['name']}")

    # -- destroy ------------------------------------------------------------------------------
    def destroy(self) -> UpResult:
        cp = Checkpoint(self.state_path)
        result = UpResult()
        lock = threading.Lock()

        def record(step):
            with lock:
                result.steps.append(step)

        if not cp.resources:
            return result
        nodes: dict[str, set[str]] = {u: set() for u in cp.resources}
        for u, e in cp.resources.items():
            for d in e.get("dependencies", []):
                if d in nodes:
                    nodes[d].add(u)  # d is deleted after its dependent u
        with ProviderHost(self.cwd, self.config) as host:
            try:
                self._run_graph(nodes, lambda key: self._step_delete(host, cp, key, record,
                                                                     replaced="#replaced#" in key), result)
            finally:
                self.last_host_stderr = host.stderr
        return result


class _StepFailed(Exception):
    def __init__(self, step: Step, error: ProviderError):
        super().__init__(str(error))
        self.step, self.error = step, error

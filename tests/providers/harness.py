"""Drive dynamic resources through the real Pulumi dynamic-provider host over gRPC.

``pulumi up`` starts dynamic providers as ``python -u -m pulumi.dynamic`` from the project root with
nothing extra on PYTHONPATH; the host prints its port and serves the ResourceProvider gRPC service
from a 4-thread pool. ``ProviderHost`` starts it exactly that way, so a test exercises the same
unpickling of ``__provider`` (by reference to ``components.host.*``), threading and property
serialisation as a real deployment:

    with ProviderHost() as ph:                              # or the ``provider_host`` fixture
        res = ph.resource(EventLogSettingsProvider())       # binds a provider (serialised once)
        inputs, failures = res.check(news)                  # failures: [(property, reason)]
        rid, outs = res.create(inputs)
        d = res.diff(rid, outs, inputs)                     # {"changes": "none"|"some"|"unknown", "replaces", ...}
        outs = res.update(rid, outs, new_inputs)
        rid, outs = res.read(rid, outs)
        res.delete(rid, outs)

Values come back as the engine sees them: numbers are floats (``as_ints`` converts), secrets arrive
as Pulumi secret-signature dicts (``unwrap`` replaces them by their value; pass ``secret(x)`` to
send one). Provider exceptions come back as ``ProviderError`` (gRPC UNKNOWN, the traceback in
``details``), check failures as data.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
PROVIDER_KEY = "__provider"


class ProviderError(Exception):
    """The provider raised: ``code`` is the gRPC status, ``details`` the host's traceback text."""

    def __init__(self, method: str, code, details: str):
        self.method = method
        self.code = code
        self.details = details
        super().__init__(f"{method}: {code}: {details}")


def secret(value: Any) -> dict:
    return {SIG_KEY: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG


def unwrap(value: Any) -> Any:
    """Secret-signature dicts -> their values, recursively."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def as_ints(value: Any) -> Any:
    """Floats with no fractional part -> int (the wire has only doubles)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_ints(v) for v in value]
    return value


def to_struct(props: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(props)
    return s


def from_struct(s: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(s)


_DIFF = {provider_pb2.DiffResponse.DIFF_UNKNOWN: "unknown", provider_pb2.DiffResponse.DIFF_NONE: "none",
         provider_pb2.DiffResponse.DIFF_SOME: "some"}


class ProviderHost:
    """A ``python -u -m pulumi.dynamic`` process started as ``pulumi up`` starts it."""

    def __init__(self, python: str = sys.executable, cwd: Path = ROOT, args: tuple = ()):
        # args: what the CLI appends (the engine's host-server address, see components/host/progress.py)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env["PULUMI_PROJECT"] = "winfleet"
        self.proc = subprocess.Popen([python, "-u", "-m", "pulumi.dynamic", *args], cwd=str(cwd), env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self.close()
            raise RuntimeError(f"dynamic provider host did not print a port: {line!r} {err}")
        self.port = int(line)
        self._stderr: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.stub.Configure(provider_pb2.ConfigureRequest(acceptSecrets=True, acceptResources=True))

    def _drain(self):
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode(errors="replace"))

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def resource(self, provider, type_name: str | None = None) -> "DynamicResource":
        return DynamicResource(self, provider, type_name)

    def close(self):
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DynamicResource:
    """One provider, serialised into ``__provider`` exactly as ``pulumi.dynamic.Resource`` does."""

    def __init__(self, host: ProviderHost, provider, type_name: str | None = None):
        self.host = host
        self.serialized = serialize_provider(provider)
        kind = getattr(provider, "kind", "") or type(provider).__name__
        self.type = type_name or f"pulumi-python:dynamic/winfleet:{kind}"
        self.urn = f"urn:pulumi:test::winfleet::{self.type}::test"

    def _props(self, props: dict) -> struct_pb2.Struct:
        props = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        props[PROVIDER_KEY] = self.serialized
        return to_struct(props)

    def _call(self, method: str, request):
        try:
            return getattr(self.host.stub, method)(request, timeout=120)
        except grpc.RpcError as exc:
            raise ProviderError(method, exc.code(), exc.details()) from None

    @staticmethod
    def _clean(props: dict, keep_secrets: bool) -> dict:
        props = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        return props if keep_secrets else as_ints(unwrap(props))

    # --- the six calls --------------------------------------------------------------------
    def check(self, news: dict, olds: dict | None = None, keep_secrets: bool = False):
        resp = self._call("Check", provider_pb2.CheckRequest(
            urn=self.urn, type=self.type, name="test", olds=self._props(olds or {}), news=self._props(news)))
        failures = [(f.property, f.reason) for f in resp.failures]
        return self._clean(from_struct(resp.inputs), keep_secrets), failures

    def diff(self, id_: str, olds: dict, news: dict) -> dict:
        resp = self._call("Diff", provider_pb2.DiffRequest(
            id=id_, urn=self.urn, type=self.type, name="test", olds=self._props(olds), news=self._props(news)))
        return {"changes": _DIFF[resp.changes], "replaces": list(resp.replaces),
                "deleteBeforeReplace": resp.deleteBeforeReplace}

    def create(self, props: dict, keep_secrets: bool = False):
        resp = self._call("Create", provider_pb2.CreateRequest(
            urn=self.urn, type=self.type, name="test", properties=self._props(props)))
        return resp.id, self._clean(from_struct(resp.properties), keep_secrets)

    def read(self, id_: str, props: dict, keep_secrets: bool = False):
        resp = self._call("Read", provider_pb2.ReadRequest(
            id=id_, urn=self.urn, type=self.type, name="test", properties=self._props(props)))
        return resp.id, self._clean(from_struct(resp.properties), keep_secrets)

    def update(self, id_: str, olds: dict, news: dict, keep_secrets: bool = False) -> dict:
        resp = self._call("Update", provider_pb2.UpdateRequest(
            id=id_, urn=self.urn, type=self.type, name="test", olds=self._props(olds), news=self._props(news)))
        return self._clean(from_struct(resp.properties), keep_secrets)

    def delete(self, id_: str, props: dict) -> None:
        self._call("Delete", provider_pb2.DeleteRequest(
            id=id_, urn=self.urn, type=self.type, name="test", properties=self._props(props)))

    # --- helpers ---------------------------------------------------------------------------
    def checked(self, news: dict) -> dict:
        """Check that must pass; returns the normalised inputs."""
        inputs, failures = self.check(news)
        assert not failures, failures
        return inputs

    @staticmethod
    def inputs_of(outs: dict) -> dict:
        """The input part of outputs (what the engine would diff against the program's inputs)."""
        return {k: v for k, v in outs.items() if k not in ("state", "prior", "changed", "changes", "drift", "machineGuid")}

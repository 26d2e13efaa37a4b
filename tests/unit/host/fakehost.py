"""An in-process stand-in for the WinRM executor: ops go straight to the emulator's handlers.

Used by unit tests of the host resources' Python side (planning, journal bookkeeping) without
sockets. It applies the journal envelope exactly as the bootstrap / emulator dispatcher do
(``tests.emulator.journal_envelope``: the one definition the dispatcher uses too) and JSON-round-trips params and results
like the wire does. Provider tests over gRPC use the real executor and the real emulator.
"""
from __future__ import annotations

import json

from components.host import base
from components.winrm.errors import OpFailed
from tests.emulator import journal_envelope
from tests.emulator.host_model import HostModel
from tests.emulator.ops import OpError, handlers

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def connection(name: str = "web-0") -> dict:
    return {"host": "10.0.0.4", "port": 5986, "username": "winfleetadmin", "password": "pw-Secret-1",
            "auth": "ntlm", "caPem": CA, "hostName": name}


class FakeHosts:
    def __init__(self, *names: str):
        self.models = {n: HostModel(n) for n in (names or ("web-0",))}
        self.calls: list[tuple[str, str]] = []

    def model(self, name: str = "web-0") -> HostModel:
        return self.models[name]

    def run_op(self, endpoint, op, params, *, journal=None, timeout=None):
        model = self.models[endpoint.host_name]
        self.calls.append((endpoint.host_name, op))
        params = json.loads(json.dumps(params))
        with model.lock:
            try:
                read = journal_envelope.before(model, journal or {})
                result = handlers()[op](model, params)
                journal_envelope.after(model, journal or {})
            except OpError as exc:
                raise OpFailed(endpoint.host_name, op, exc.message, code=exc.code) from None
        if read is not None:
            result = {**result, "journal": read}
        return json.loads(json.dumps(result))


def install(monkeypatch, *names) -> FakeHosts:
    hosts = FakeHosts(*names)
    monkeypatch.setattr(base, "run_op", hosts.run_op)
    return hosts

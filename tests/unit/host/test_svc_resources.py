"""WindowsService / ServiceBaseline / CrashDumps as a Pulumi program registers them (mocks)."""
import hashlib

import pytest

from components.host.crash_dumps import CrashDumps
from components.host.service_baseline import ServiceBaseline
from components.host.windows_service import WindowsService
from tests.unit import mocks
from tests.unit.host.fakehost import connection

CASES = [
    (WindowsService, "WindowsService",
     {"serviceName": "api", "binaryUrl": "https://x.test/api.exe", "binarySha256": hashlib.sha256(b"x").hexdigest(),
      "account": "CONTOSO\\svc", "accountPassword": "pw"}, {"connection", "accountPassword"}),
    (ServiceBaseline, "ServiceBaseline", {"baselineName": "go-host-minimal", "services": ["Spooler"]}, {"connection"}),
    (CrashDumps, "CrashDumps", {"exeName": "api.exe", "dumpFolder": "D:\\dumps\\api", "account": "NT SERVICE\\api"},
     {"connection"}),
]


@pytest.mark.parametrize("cls,name,inputs,secrets", CASES, ids=[c[1] for c in CASES])
def test_token_and_secret_outputs(monkeypatch, cls, name, inputs, secrets):
    seen = []
    original = mocks.RecordingMonitor.RegisterResource

    def record(self, request):
        seen.append((request.type, set(request.additionalSecretOutputs)))
        return original(self, request)

    monkeypatch.setattr(mocks.RecordingMonitor, "RegisterResource", record)
    mocks.run_program(lambda: cls("r", {"connection": connection(), **inputs}))
    typ, secret_outputs = seen[-1]
    assert typ == f"pulumi-python:dynamic/winfleet:{name}"
    assert secrets <= secret_outputs

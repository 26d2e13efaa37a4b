"""The resource classes as a Pulumi program registers them: type tokens and secret outputs."""
import pytest

from components.host.data_volume import DataVolume
from components.host.event_log_settings import EventLogSettings
from components.host.ntfs_quota import NtfsQuota
from tests.unit import mocks
from tests.unit.host.fakehost import connection

CASES = [
    (EventLogSettings, "EventLogSettings", {"logs": [{"name": "Application", "maxSizeKb": 32768}]}),
    (NtfsQuota, "NtfsQuota", {"volume": "D:", "account": "NT SERVICE\\api", "warningBytes": 1, "limitBytes": 2}),
    (DataVolume, "DataVolume", {"lun": 0, "driveLetter": "D", "label": "Data"}),
]


@pytest.mark.parametrize("cls,name,inputs", CASES, ids=[c[1] for c in CASES])
def test_token_and_secret_outputs(monkeypatch, cls, name, inputs):
    seen = []
    original = mocks.RecordingMonitor.RegisterResource

    def record(self, request):
        seen.append((request.type, list(request.additionalSecretOutputs), sorted(request.object.fields)))
        return original(self, request)

    monkeypatch.setattr(mocks.RecordingMonitor, "RegisterResource", record)
    run = mocks.run_program(lambda: cls("r", {"connection": connection(), **inputs}))
    typ, secret_outputs, fields = seen[-1]
    assert typ == f"pulumi-python:dynamic/winfleet:{name}"
    assert "connection" in secret_outputs
    assert "__provider" in fields and "state" not in fields, "outputs are not sent as inputs"
    # ...but declared, so the program can read them
    for out in ("state", "prior", "changed", "changes", "drift"):
        assert hasattr(run.value, out)

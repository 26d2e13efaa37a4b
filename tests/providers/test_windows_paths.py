"""WindowsService path and event-source rules through the real dynamic-provider host (issue 11 items 12-14).

Junctions in folders winfleet deletes, paths the SCM or WER would expand or Windows would alias, event
sources shared with another service or owned by Windows. Kept apart from test_windows_service.py (whose
fixtures these mirror) so each file stays about one thing.
"""
from __future__ import annotations

import hashlib

import pytest

from components.host.windows_service import WindowsServiceProvider
from tests.emulator.ops.svc_support import clear_step_faults
from tests.providers.conftest import connection, host_snapshot
from tests.providers.harness import ProviderError

V1 = b"MZ\x90\x00 winfleet test service v1"
URL1 = "https://artifacts.example.test/api/1.0.0/api.exe"


@pytest.fixture
def host(lab):
    h = lab.hosts[0]
    h.model.files.add_drive("D")
    h.model.files.downloads[URL1] = V1
    h.model.http.serve(8080, service="api", mode="ready")
    h.model.http.serve(8081, service="web", mode="ready")
    yield h
    clear_step_faults(h.model)


@pytest.fixture
def res(provider_host):
    return provider_host.resource(WindowsServiceProvider())


def inputs(h, name="api", port=8080, **kw) -> dict:
    out = {"connection": connection(h), "serviceName": name, "binaryUrl": URL1,
           "binarySha256": hashlib.sha256(V1).hexdigest(), "eventSource": {"logName": "Application"},
           "logs": {"directory": f"D:\\logs\\{name}", "maxSizeBytes": 10485760, "maxFiles": 5},
           "port": port, "readinessPath": "/readyz", "readinessTimeoutSeconds": 2, "readinessPollSeconds": 0.05}
    out.update(kw)
    return out


# ---- item 12: deletes never follow a junction --------------------------------------------------
def test_a_junction_planted_in_the_log_folder_is_removed_as_a_link(host, res):
    """The service account has Modify on its log folder, so it can plant a junction there pointing at
    C:\\Windows\\System32. Destroy removes the log folder; Windows PowerShell 5.1's Remove-Item -Recurse
    would follow the junction and empty System32 (PowerShell/PowerShell#621, files.py)."""
    m = host.model
    m.files.write(r"C:\Windows\System32\kernel32.dll", b"MZ system file")
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(inputs(host)))
    m.files.write(r"D:\logs\api\api.log", b"log line\n", owner="NT SERVICE\\api")
    m.files.junction(r"D:\logs\api\evil", r"C:\Windows\System32", owner="NT SERVICE\\api")
    res.delete(rid, outs)
    assert m.files.read(r"C:\Windows\System32\kernel32.dll") == b"MZ system file"
    assert not m.files.exists(r"D:\logs\api")
    assert host_snapshot(m) == before


def test_the_emulator_models_what_the_old_delete_did(host):
    """The teeth of the test above: the 5.1 Remove-Item -Recurse model empties the junction's target."""
    f = host.model.files
    f.write(r"C:\Windows\System32\kernel32.dll", b"MZ")
    f.mkdir(r"D:\logs\x")
    f.junction(r"D:\logs\x\evil", r"C:\Windows\System32")
    f.delete_following_junctions(r"D:\logs\x")
    assert not f.exists(r"C:\Windows\System32\kernel32.dll") and f.is_dir(r"C:\Windows\System32")

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


# ---- item 13: paths and strings Windows would read as something else ---------------------------
def ops_count(h) -> int:
    return sum(h.counters.snapshot()["ops"].values())


@pytest.mark.parametrize("change,field,words", [
    ({"installDir": "C:\\svc\\%OS%"}, "installDir", "'%'"),
    ({"installDir": "C:\\"}, "installDir", "drive root"),
    ({"installDir": "C:\\svc\\api."}, "installDir", "trims"),
    ({"installDir": "C:\\svc\\CON"}, "installDir", "reserved device name"),
    ({"installDir": "C:\\PROGRA~1\\api"}, "installDir", "8.3 short name"),
    ({"logs": {"directory": "D:\\"}}, "logs.directory", "drive root"),
    ({"logs": {"directory": "D:\\logs\\api "}}, "logs.directory", "trims"),
    ({"logs": {"directory": "D:\\logs\\nul.txt"}}, "logs.directory", "reserved device name"),
    ({"logs": {"directory": "D:\\LOGS\\API"}, "installDir": "d:\\logs\\api"}, "logs.directory", "must be separate"),
    ({"arguments": ["--root", "%SystemRoot%"]}, "arguments", "'%'"),
    ({"arguments": ["a" * 1000] * 33}, "arguments", "32766"),
    ({"environment": {"BIG": "x" * 32768}}, "environment", "32,767"),
    ({"installDir": "C:\\" + "\\".join(["d" * 60] * 4), "exeName": "x" * 20 + ".exe"}, "installDir", "MAX_PATH"),
])
def test_check_refuses_what_windows_would_read_otherwise(host, res, change, field, words):
    """The provider's check applies the config's rules again (a stack may bypass the config: a user program,
    an edited state): nothing reaches the host."""
    before, n = host_snapshot(host.model), ops_count(host)
    _inputs, failures = res.check(inputs(host, **change))
    got = dict(failures)
    assert field in got and words in got[field], failures
    assert host_snapshot(host.model) == before and ops_count(host) == n


def test_the_scm_expands_the_image_path_so_a_percent_folder_runs_another_binary(host):
    """Why '%' is refused: the folder winfleet would create and secure is C:\\svc\\%OS%; the SCM runs
    C:\\svc\\Windows_NT\\api.exe, which whoever can create C:\\svc\\Windows_NT controls (scm.py cites it)."""
    m = host.model
    m.files.mkdir("C:\\svc\\%OS%")
    m.files.write("C:\\svc\\%OS%\\api.exe", b"MZ ours")
    m.scm.create("pct", "pct", '"C:\\svc\\%OS%\\api.exe"')
    from tests.emulator.windows.scm import ScmError
    with pytest.raises(ScmError) as e:
        m.scm.start("pct")
    assert e.value.code == 2, "the literal %OS% folder is not what the SCM runs"
    m.files.mkdir("C:\\svc\\Windows_NT")
    m.files.write("C:\\svc\\Windows_NT\\api.exe", b"MZ planted")
    m.scm.start("pct")
    assert m.scm.running_image("pct") == "C:\\svc\\Windows_NT\\api.exe"


def test_trailing_dots_and_device_names_in_the_emulated_file_system(host):
    f = host.model.files
    f.mkdir("D:\\logs\\api")
    assert f.is_dir("D:\\logs\\api.") and f.is_dir("D:\\logs\\api ")   # the same folder, as Win32 trims
    from tests.emulator.windows.files import FsError
    with pytest.raises(FsError) as e:
        f.mkdir("D:\\logs\\CON")
    assert e.value.code == 123


# ---- item 14: event sources belong to one program -----------------------------------------------
EVENTLOG = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog"


@pytest.mark.parametrize("log,source", [("Application", "MsiInstaller"), ("Application", "msiinstaller"),
                                        ("System", "Service Control Manager")])
def test_a_windows_event_source_is_refused(host, res, log, source):
    m = host.model
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(inputs(host, eventSource={"logName": log, "source": source})))
    assert "eventSource.source" in e.value.details and "already exists" in e.value.details
    assert host_snapshot(m) == before


def test_a_source_registered_in_another_log_is_refused(host, res):
    """Source names are unique on a computer: MsiInstaller lives in Application; asking for it in System
    (where no key of that name exists) is refused too."""
    before = host_snapshot(host.model)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(inputs(host, eventSource={"logName": "System", "source": "MsiInstaller"})))
    assert "already registered in the Application log" in e.value.details
    assert host_snapshot(host.model) == before


def test_two_services_sharing_a_source_the_second_is_refused_and_the_first_keeps_it(host, res):
    """The config refuses a shared source (tests/unit/test_config_paths.py); on the host, a second stack or a
    program bypassing the config is refused at plan time, so removing one can never delete the other's key."""
    m = host.model
    rid, outs = res.create(res.checked(inputs(host, eventSource={"logName": "Application", "source": "shared"})))
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(inputs(host, "web", 8081, eventSource={"logName": "Application", "source": "Shared"})))
    assert "already exists" in e.value.details
    assert m.registry.key_exists(EVENTLOG + r"\Application\shared")
    assert not m.scm.exists("web")
    res.delete(rid, outs)
    assert not m.registry.key_exists(EVENTLOG + r"\Application\shared")


def test_a_new_custom_log_goes_with_its_last_source(host, res):
    """A source in a log that does not exist creates the log's key; destroy removes it again (with what the
    event log service wrote in it), but only once no other source of ours is left in it."""
    m = host.model
    before = host_snapshot(m)
    ra, a = res.create(res.checked(inputs(host, eventSource={"logName": "Winfleet Apps", "source": "api"})))
    rb, b = res.create(res.checked(inputs(host, "web", 8081, eventSource={"logName": "Winfleet Apps", "source": "web"})))
    assert a["prior"]["eventsource"]["logExisted"] is False and b["prior"]["eventsource"]["logExisted"] is True
    m.registry.set_value(EVENTLOG + r"\Winfleet Apps", "MaxSize", "REG_DWORD", 524288)  # the service's own
    res.delete(ra, a)
    assert m.registry.key_exists(EVENTLOG + r"\Winfleet Apps\web"), "web still logs there"
    res.delete(rb, b)
    assert not m.registry.key_exists(EVENTLOG + r"\Winfleet Apps")
    assert host_snapshot(m) == before

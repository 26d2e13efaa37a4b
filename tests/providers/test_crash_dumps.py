"""CrashDumps through the real dynamic-provider host (gRPC) against the emulator."""
from __future__ import annotations

import hashlib

import pytest

from components.host.crash_dumps import CrashDumpsProvider
from components.host.windows_service import WindowsServiceProvider, service_sid
from tests.emulator.ops.svc_support import clear_step_faults, inject_step_fault
from tests.providers.conftest import connection, host_snapshot, journal
from tests.providers.harness import ProviderError

LD = r"HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting\LocalDumps"


@pytest.fixture
def host(lab):
    h = lab.hosts[0]
    h.model.files.add_drive("D")
    yield h
    clear_step_faults(h.model)


@pytest.fixture
def res(provider_host):
    return provider_host.resource(CrashDumpsProvider())


def inputs(h, **kw) -> dict:
    out = {"connection": connection(h), "exeName": "api.exe", "dumpFolder": r"D:\dumps\api", "dumpCount": 5,
           "dumpType": "mini", "account": "NT SERVICE\\api"}
    out.update(kw)
    return out


def values(m, exe="api.exe"):
    return {k: v for k, (_kind, v) in m.registry.values(LD + "\\" + exe).items()}


def test_lifecycle_and_exact_restore(host, res):
    m = host.model
    before = host_snapshot(m)
    i = res.checked(inputs(host))
    rid, outs = res.create(i)
    assert values(m) == {"DumpCount": 5, "DumpFolder": r"D:\dumps\api", "DumpType": 1}
    assert m.registry.get_value(LD + "\\api.exe", "DumpFolder")[0] == "REG_EXPAND_SZ"
    # the folder exists before the service does, granted to the service SID
    acl = m.files.acl(r"D:\dumps\api")
    assert any(a["identity"] == "NT SERVICE\\api" and a["rights"] == "Modify" and a["sid"] == service_sid("api")
               and not a["inherited"] for a in acl)
    assert outs["prior"]["localdumps"] == {"exeName": "api.exe", "values": None,
                                           "createdFrom": r"HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting"}
    assert outs["prior"]["dir:d:\\dumps\\api"]["createdFrom"] == r"D:\dumps"
    assert journal(m)["CrashDumps/api.exe"]["prior"]["localdumps"]["values"] is None

    assert res.diff(rid, outs, i)["changes"] == "none"
    assert res.update(rid, outs, i)["changed"] is False

    # count/type change: update in place; exe change: replace
    full = res.checked(inputs(host, dumpType="full", dumpCount=3))
    assert res.diff(rid, outs, full)["replaces"] == []
    outs = res.update(rid, outs, full)
    assert values(m)["DumpType"] == 2 and values(m)["DumpCount"] == 3
    assert res.diff(rid, outs, res.checked(inputs(host, exeName="other.exe")))["replaces"] == ["exeName"]

    # drift: someone lowers the count; refresh shows it
    m.registry.set_value(LD + "\\api.exe", "DumpCount", "REG_DWORD", 1)
    _, live = res.read(rid, outs)
    assert live["drift"] == ["dumpCount"]
    outs = res.update(rid, live, full)
    assert values(m)["DumpCount"] == 3

    res.delete(rid, outs)
    assert host_snapshot(m) == before and journal(m) == {}


def test_existing_key_and_folder_are_restored_not_deleted(host, res):
    m = host.model
    m.registry.set_value(LD + "\\api.exe", "DumpCount", "REG_DWORD", 10)
    m.registry.set_value(LD + "\\api.exe", "CustomDumpFlags", "REG_DWORD", 0x121)
    m.files.mkdir(r"D:\dumps\api")
    m.files.write(r"D:\dumps\api\old.dmp", b"dump")
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(inputs(host)))
    assert values(m) == {"DumpCount": 5, "DumpFolder": r"D:\dumps\api", "DumpType": 1}
    res.delete(rid, outs)
    assert host_snapshot(m) == before           # CustomDumpFlags back, folder and its dump kept, ACE removed


def test_goTraceback_reported_with_the_service(host, res, provider_host):
    m = host.model
    m.files.downloads["https://x.test/api.exe"] = b"bin"
    m.http.serve(8080, service="api", mode="ready")
    svc = provider_host.resource(WindowsServiceProvider())
    base = {"connection": connection(host), "serviceName": "api", "binaryUrl": "https://x.test/api.exe",
            "binarySha256": hashlib.sha256(b"bin").hexdigest()}
    sid, souts = svc.create(svc.checked(dict(base, environment={"GOTRACEBACK": "single"})))
    rid, outs = res.create(res.checked(inputs(host, serviceName="api")))
    assert outs["state"]["goTraceback"] == "single"
    assert any("GOTRACEBACK=wer" in w for w in outs["state"]["warnings"])
    souts = svc.update(sid, souts, svc.checked(dict(base, environment={"GOTRACEBACK": "wer"})))
    _, live = res.read(rid, outs)
    assert live["state"]["goTraceback"] == "wer" and live["state"]["warnings"] == []
    res.delete(rid, outs)
    svc.delete(sid, souts)


def test_missing_drive_is_refused_and_nothing_changes(host, res):
    m = host.model
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(inputs(host, dumpFolder=r"E:\dumps\api")))
    assert "dumpFolder" in err.value.details and "E:" in err.value.details
    assert host_snapshot(m) == before and journal(m) == {}


@pytest.mark.parametrize("bad, field", [
    ({"exeName": "api"}, "exeName"),
    ({"exeName": "..\\evil.exe"}, "exeName"),
    ({"dumpFolder": "dumps"}, "dumpFolder"),
    ({"dumpFolder": "C:\\Windows\\dumps"}, "dumpFolder"),
    ({"dumpCount": 0}, "dumpCount"),
    ({"dumpType": "custom"}, "dumpType"),
    ({"account": 'x"; whoami; "'}, "account"),
])
def test_check_rejects_bad_inputs(host, res, bad, field):
    _, failures = res.check(inputs(host, **bad))
    assert field in [p for p, _ in failures], failures


def test_fault_between_steps_loses_nothing(host, res):
    m = host.model
    before = host_snapshot(m)
    inject_step_fault(m, "dumps.apply", after="mkdir")
    inject_step_fault(m, "dumps.apply", after="localDumps")     # the rollback dies after its first step
    with pytest.raises(ProviderError):
        res.create(res.checked(inputs(host)))
    assert "CrashDumps/api.exe" in journal(m)
    # state lost: delete from the inputs alone restores from the journal
    res.delete("x", res.checked(inputs(host)))
    assert host_snapshot(m) == before and journal(m) == {}


def test_hostile_folder_name_is_literal(host, res):
    m = host.model
    folder = "D:\\dumps\\$(whoami); `x` 'q' ünï"
    rid, outs = res.create(res.checked(inputs(host, dumpFolder=folder)))
    assert values(m)["DumpFolder"] == folder and m.files.is_dir(folder)
    res.delete(rid, outs)
    assert not m.files.exists(folder)


def test_global_values_an_old_run_wrote_are_cleaned_and_journaled_and_only_those(host, res):
    """Issue 11 item 1: the old dumps.apply (`$p` is `$P`) wrote our values into the global LocalDumps key
    (dumps for every process). The next run removes exactly those, journaled first; the admin's own
    global values stay; destroy does not put the stray values back."""
    m = host.model
    m.registry.set_value(LD, "CustomDumpFlags", "REG_DWORD", 0x21)            # the admin's own
    clean = host_snapshot(m)
    for n, kind, v in (("DumpFolder", "REG_EXPAND_SZ", r"D:\dumps\api"), ("DumpCount", "REG_DWORD", 5),
                       ("DumpType", "REG_DWORD", 1)):
        m.registry.set_value(LD, n, kind, v)                                    # what the old bug left
    seen = {}
    from tests.emulator.ops import _HANDLERS
    apply = _HANDLERS["dumps.apply"]

    def spy(model, params):
        seen["journal"] = journal(model).get("CrashDumps/api.exe", {}).get("prior", {}).get("werglobal")
        return apply(model, params)
    _HANDLERS["dumps.apply"] = spy
    try:
        rid, outs = res.create(res.checked(inputs(host)))
    finally:
        _HANDLERS["dumps.apply"] = apply
    assert [c["do"] for c in outs["changes"]][0] == "cleanGlobal"
    assert seen["journal"] == {"removed": {"DumpCount": {"kind": "REG_DWORD", "data": 5},
                                           "DumpFolder": {"kind": "REG_EXPAND_SZ", "data": r"D:\dumps\api"},
                                           "DumpType": {"kind": "REG_DWORD", "data": 1}}}
    assert {k: v for k, (_kind, v) in m.registry.values(LD).items()} == {"CustomDumpFlags": 0x21}
    assert values(m) == {"DumpCount": 5, "DumpFolder": r"D:\dumps\api", "DumpType": 1}
    res.delete(rid, outs)
    assert host_snapshot(m) == clean and journal(m) == {}


def test_a_global_dump_folder_that_is_not_ours_is_left_alone(host, res):
    m = host.model
    m.registry.set_value(LD, "DumpFolder", "REG_EXPAND_SZ", r"D:\dumps")       # the admin's host-wide folder
    m.registry.set_value(LD, "DumpCount", "REG_DWORD", 5)
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(inputs(host)))
    assert "cleanGlobal" not in [c["do"] for c in outs["changes"]] and "werglobal" not in outs["prior"]
    assert m.registry.get_value(LD, "DumpFolder") == ("REG_EXPAND_SZ", r"D:\dumps")


@pytest.mark.parametrize("owner", ["NT AUTHORITY\\SYSTEM", "NT SERVICE\\TrustedInstaller"])
def test_an_existing_folder_owned_by_system_gets_its_ace_without_an_owner_rewrite(host, res, owner):
    """Issue 11 item 9: Get-Acl | Set-Acl writes the owner back and fails (ERROR_INVALID_OWNER) on a
    folder owned by SYSTEM or TrustedInstaller (files.py cites it); the drivers change the DACL only."""
    m = host.model
    m.files.mkdir(r"D:\dumps\api", owner=owner)
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(inputs(host)))
    assert m.files.owner(r"D:\dumps\api") == owner
    assert any(a["identity"] == "NT SERVICE\\api" and not a["inherited"] for a in m.files.acl(r"D:\dumps\api"))
    res.delete(rid, outs)
    assert host_snapshot(m) == before

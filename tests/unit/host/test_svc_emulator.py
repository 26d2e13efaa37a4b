"""The emulator's SCM, files and readiness endpoints: the Windows semantics the service ops rely on."""
from __future__ import annotations

import time

import pytest

from tests.emulator.host_model import HostModel
from tests.emulator.ops import handlers
from tests.emulator.windows.files import FsError
from tests.emulator.windows.scm import ScmError


@pytest.fixture
def m():
    return HostModel("web-0")


def code(exc_info):
    return exc_info.value.code


def test_seed_has_real_dependencies(m):
    assert m.scm.dependencies("WinRM") == ["RPCSS", "HTTP"]
    assert "WinRM" in m.scm.dependents("rpcss") and "XblGameSave" in m.scm.dependents("XblAuthManager")
    assert m.scm.status("EventLog") == "running" and m.scm.status("XblGameSave") == "stopped"


def test_names_are_case_insensitive_and_case_preserving(m):
    m.scm.create("MySvc", "My Service", r"C:\x.exe")
    assert m.scm.exists("mysvc") and m.scm.canonical("MYSVC") == "MySvc"
    with pytest.raises(ScmError) as e:
        m.scm.create("mysvc", "Other", r"C:\y.exe")
    assert code(e) == 1073
    with pytest.raises(ScmError) as e:
        m.scm.create("other", "my service", r"C:\y.exe")          # display names are unique too
    assert code(e) == 1078


def test_state_machine_and_dependencies(m):
    m.scm.start("XblGameSave")                                      # starts XblAuthManager first
    assert m.scm.status("XblAuthManager") == "running"
    with pytest.raises(ScmError) as e:
        m.scm.start("XblGameSave")
    assert code(e) == 1056
    with pytest.raises(ScmError) as e:
        m.scm.stop("XblAuthManager")                                # a dependent runs
    assert code(e) == 1051
    m.scm.stop("XblGameSave")
    with pytest.raises(ScmError) as e:
        m.scm.stop("XblGameSave")
    assert code(e) == 1062
    m.scm.change_config("XblAuthManager", start=4)
    m.scm.stop("XblAuthManager")
    with pytest.raises(ScmError) as e:
        m.scm.start("XblGameSave")                                  # dependency disabled
    assert code(e) == 1068


def test_start_pending_then_running(m):
    m.scm.create("slow", "Slow", r"C:\slow.exe")
    m.files.write(r"C:\slow.exe", b"x")
    m.scm.set_behaviour("slow", start_seconds=0.1)
    m.scm.start("slow")
    assert m.scm.status("slow") == "start_pending"
    time.sleep(0.12)
    assert m.scm.status("slow") == "running"


def test_marked_for_delete_while_running(m):
    m.scm.create("gone", "Gone", r"C:\g.exe")
    m.files.write(r"C:\g.exe", b"x")
    m.scm.start("gone")
    m.scm.delete("gone")
    assert m.scm.exists("gone") and m.scm.marked_for_delete("gone")
    assert m.registry.get_value(r"HKLM\SYSTEM\CurrentControlSet\Services\gone", "DeleteFlag") == ("REG_DWORD", 1)
    for call in (lambda: m.scm.change_config("gone", start=3), lambda: m.scm.create("gone", "G2", r"C:\g.exe")):
        with pytest.raises(ScmError) as e:
            call()
        assert code(e) == 1072
    m.scm.stop("gone")
    assert not m.scm.exists("gone")
    assert not m.registry.key_exists(r"HKLM\SYSTEM\CurrentControlSet\Services\gone")


def test_protected_core_services(m):
    for name in ("RpcSs", "DcomLaunch", "BrokerInfrastructure"):
        with pytest.raises(ScmError) as e:
            m.scm.change_config(name, start=4)
        assert code(e) == 5
    with pytest.raises(ScmError) as e:
        m.scm.stop("RpcSs")
    assert code(e) in (1051, 1052)


def test_missing_binary_and_logon_failure(m):
    m.scm.create("nobin", "No binary", r'"C:\nope\x.exe" -v')
    with pytest.raises(ScmError) as e:
        m.scm.start("nobin")
    assert code(e) == 2
    m.scm.domain_passwords["contoso\\svc"] = "right"
    m.files.write(r"C:\x.exe", b"x")
    m.scm.create("dom", "Dom", r"C:\x.exe", account="CONTOSO\\svc", password="wrong")
    with pytest.raises(ScmError) as e:
        m.scm.start("dom")
    assert code(e) == 1069


def test_circular_dependency_rejected(m):
    m.scm.create("a1", "A1", r"C:\x.exe")
    m.scm.create("b1", "B1", r"C:\x.exe", dependencies=["a1"])
    with pytest.raises(ScmError) as e:
        m.scm.change_config("a1", dependencies=["b1"])
    assert code(e) == 1059


def test_files_locking_acl_inheritance_and_downloads(m):
    m.files.mkdir(r"C:\svc\api")
    assert m.files.is_dir(r"c:\SVC") and all(a["inherited"] for a in m.files.acl(r"C:\svc\api"))
    assert m.files.grant(r"C:\svc\api", "NT SERVICE\\api", "Modify") is True
    assert m.files.grant(r"C:\svc\api", "nt service\\API", "Modify") is False
    m.files.write(r"C:\svc\api\api.exe", b"bin")
    m.files.set_locked(r"C:\svc\api\api.exe", True)
    with pytest.raises(FsError) as e:
        m.files.move(r"C:\svc\api\api.exe", r"C:\svc\api\old.exe")
    assert e.value.code == 32
    with pytest.raises(FsError) as e:
        m.files.mkdir(r"Q:\x")
    assert e.value.code == 3
    m.files.downloads["https://a/b"] = 500
    with pytest.raises(Exception) as e:
        m.files.download("https://a/b")
    assert "500" in str(e.value)


def test_readiness_endpoint_modes(m):
    m.scm.create("web", "Web", r"C:\w.exe")
    m.files.write(r"C:\w.exe", b"x")
    m.http.serve(8080, service="web", mode="after", after_seconds=0.1)
    assert m.http.probe(8080, "/readyz")["status"] is None          # not running: connection refused
    m.scm.start("web")
    assert m.http.probe(8080, "/readyz")["status"] == 503
    time.sleep(0.11)
    assert m.http.probe(8080, "/readyz")["status"] == 200
    m.http.serve(8080, service="web", mode="never", status=502, body="bad gateway")
    assert m.http.probe(8080, "/x") == {"status": 502, "body": "bad gateway", "error": None}


def test_handlers_directly_apply_and_read(m):
    h = handlers()
    out = h["baseline.apply"](m, {"steps": [{"do": "setStart", "name": "mapsbroker", "start": 4, "delayed": False},
                                            {"do": "setStart", "name": "MapsBroker", "start": 2, "delayed": True}]})
    assert [s["changed"] for s in out["state"]["steps"]] == [True, True]
    assert m.registry.get_value(r"HKLM\SYSTEM\CurrentControlSet\Services\MapsBroker", "DelayedAutostart") == ("REG_DWORD", 1)
    rows = h["baseline.read"](m, {})["state"]["services"]
    assert "HTTP" not in [r["name"] for r in rows] and "WinRM" in [r["name"] for r in rows]


def test_empty_strings_are_not_null_to_the_scm(m):
    """Issue 11 item 4: "" where ChangeServiceConfigW/CreateServiceW want NULL (what PowerShell passes for
    $null to a .NET string) is refused with ERROR_INVALID_PARAMETER; None (NULL) means no change."""
    m.scm.create("api", "API", r'"C:\api.exe"', account="NT SERVICE\\api")
    for kw in ({"image_path": ""}, {"account": ""}, {"display_name": ""}, {"password": ""}):
        with pytest.raises(ScmError) as e:
            m.scm.change_config("api", **kw)
        assert code(e) == 87, kw
    with pytest.raises(ScmError) as e:
        m.scm.create("api2", "API 2", r'"C:\api2.exe"', account="CONTOSO\\gmsa$", password="")
    assert code(e) == 87
    with pytest.raises(ScmError) as e:
        m.scm.create("api3", "API 3", "", account="LocalSystem")
    assert code(e) == 87
    m.scm.change_config("api", image_path=None, account=None, password=None, display_name=None, start=3)
    assert m.scm.query("api")["imagePath"] == r'"C:\api.exe"' and m.scm.query("api")["objectName"] == "NT SERVICE\\api"
    m.scm.change_config("api", account="LocalSystem", password="")      # "" is LocalSystem's documented password


def test_decode_failure_actions_honours_the_actions_offset():
    """Issue 11 item 11: lpsaActions in the stored value is the offset of the SC_ACTION array (0 = none)."""
    import struct
    from components.host.windows_service import decode_failure_actions
    from tests.emulator.windows.scm import encode_failure_actions
    acts = struct.pack("<4I", 1, 5000, 0, 30000)
    padded = struct.pack("<5I", 86400, 0, 0, 2, 0x18) + b"\0" * 4 + acts       # array 4 bytes further on
    assert decode_failure_actions(padded.hex()) == (86400, [(1, 5000), (0, 30000)])
    no_array = struct.pack("<5I", 60, 0, 0, 2, 0) + acts                       # cActions set, lpsaActions NULL
    assert decode_failure_actions(no_array.hex()) == (60, [])
    assert decode_failure_actions(encode_failure_actions(10, [(1, 0), (2, 60000)])) == (10, [(1, 0), (2, 60000)])
    truncated = struct.pack("<5I", 1, 0, 0, 5, 0x14) + acts                   # count beyond the data
    assert decode_failure_actions(truncated.hex()) == (1, [(1, 5000), (0, 30000)])


def test_failure_actions_semantics(m):
    m.scm.create("api", "API", r'"C:\api.exe"')
    m.scm.set_failure_actions("api", 86400, [(1, 5000), (0, 0)])
    assert m.scm.query("api")["failureActions"] == encode_failure_actions_hex(86400, [(1, 5000), (0, 0)])
    with pytest.raises(ScmError) as e:
        m.scm.set_failure_actions("api", 0, [(7, 0)])
    assert code(e) == 87
    m.scm.set_failure_actions("api", 0, [])                                   # cActions 0: deleted
    assert m.scm.query("api")["failureActions"] is None


def encode_failure_actions_hex(reset, actions):
    from tests.emulator.windows.scm import encode_failure_actions
    return encode_failure_actions(reset, actions)


def test_pending_states_refuse_controls_as_the_scm_does(m):
    """Issue 11 item 11: ControlService(STOP) while START/STOP_PENDING -> 1061; StartService while
    STOP_PENDING -> 1056."""
    m.scm.create("slow", "Slow", r'"C:\slow.exe"')
    m.files.write(r"C:\slow.exe", b"x")
    m.scm.set_behaviour("slow", start_seconds=0.2, stop_seconds=0.2)
    m.scm.start("slow")
    assert m.scm.status("slow") == "start_pending"
    with pytest.raises(ScmError) as e:
        m.scm.stop("slow")
    assert code(e) == 1061
    time.sleep(0.22)
    m.scm.stop("slow")
    assert m.scm.status("slow") == "stop_pending"
    for call, want in ((lambda: m.scm.stop("slow"), 1061), (lambda: m.scm.start("slow"), 1056)):
        with pytest.raises(ScmError) as e:
            call()
        assert code(e) == want
    time.sleep(0.22)
    assert m.scm.status("slow") == "stopped"


def test_the_image_stays_locked_until_the_process_exits(m):
    """Issue 11 item 10: SERVICE_STOPPED comes before the process exit; the exe is locked until then."""
    m.scm.create("api", "API", r'"C:\api.exe"')
    m.files.write(r"C:\api.exe", b"x")
    m.scm.set_behaviour("api", exit_seconds=0.2)
    m.scm.start("api")
    pid = m.scm.pid("api")
    m.scm.stop("api")
    assert m.scm.status("api") == "stopped" and m.scm.pid("api") == 0
    assert m.scm.process_alive(pid)
    with pytest.raises(FsError) as e:
        m.files.delete(r"C:\api.exe")
    assert e.value.code == 32
    time.sleep(0.22)
    assert not m.scm.process_alive(pid)
    assert m.files.delete(r"C:\api.exe")


def test_acls_travel_with_moved_files_and_the_scm_checks_the_image(m):
    """Issue 11 item 3: a move keeps the file's ACL; a file an admin creates in C:\\Windows\\Temp is
    SYSTEM/Administrators only; the SCM refuses (5) to start a service whose account cannot read+execute
    its image, and starts it once the exe inherits the install dir's entry for the account."""
    from components.host.windows_service import service_sid
    f = m.files
    f.mkdir(r"C:\svc\api")
    f.grant(r"C:\svc\api", "NT SERVICE\\api", "ReadAndExecute", service_sid("api"))
    f.write(r"C:\Windows\Temp\dl.tmp", b"MZ")
    assert {a["identity"] for a in f.acl(r"C:\Windows\Temp\dl.tmp")} == {"NT AUTHORITY\\SYSTEM", "BUILTIN\\Administrators"}
    f.move(r"C:\Windows\Temp\dl.tmp", r"C:\svc\api\api.exe")
    assert f.acl(r"C:\svc\api\api.exe") == [dict(a, inherited=True) for a in f.acl(r"C:\Windows\Temp")
                                            if a.get("appliesTo") is None and a["identity"] != "CREATOR OWNER"] \
        + [{"identity": "BUILTIN\\Administrators", "rights": "FullControl", "type": "Allow", "inherited": True}]
    m.scm.create("api", "API", r'"C:\svc\api\api.exe"', account="NT SERVICE\\api")
    with pytest.raises(ScmError) as e:
        m.scm.start("api")
    assert code(e) == 5
    f.delete(r"C:\svc\api\api.exe")
    f.write(r"C:\svc\api\api.exe", b"MZ")                  # created in place: inherits the account's entry
    m.scm.start("api")
    assert m.scm.status("api") == "running"
    m.scm.create("sys", "Sys", r'"C:\Windows\Temp\sys.exe"', account="LocalSystem")
    f.write(r"C:\Windows\Temp\sys.exe", b"MZ")
    m.scm.start("sys")                                      # LocalSystem reads anything SYSTEM can


def test_domain_accounts_need_log_on_as_a_service(m):
    """Issue 11 item 5: a start as a gMSA / domain user without SeServiceLogonRight fails with 1069;
    virtual and built-in accounts have it (NT SERVICE\\ALL SERVICES, the SCM's own logons)."""
    m.files.write(r"C:\g.exe", b"MZ")
    m.scm.create("g", "G", r'"C:\g.exe"', account="CONTOSO\\gmsa$")
    with pytest.raises(ScmError) as e:
        m.scm.start("g")
    assert code(e) == 1069
    assert m.accounts.set_right("CONTOSO\\gmsa$", "SeServiceLogonRight", True) is True
    m.scm.start("g")
    assert m.scm.status("g") == "running"
    assert m.accounts.has_right("NT SERVICE\\g", "SeServiceLogonRight")
    assert m.accounts.has_right("NT AUTHORITY\\NetworkService", "SeServiceLogonRight")

"""WindowsService through the real dynamic-provider host (gRPC) against the emulator.

Every test drives the provider the way ``pulumi up/refresh/destroy`` does (check, diff, create,
update, read, delete over gRPC, pickled provider) and inspects the emulated host directly.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json

import pytest

from components.host.windows_service import (WindowsServiceProvider, decode_failure_actions, service_sid,
                                             split_command_line)
from tests.emulator.ops.svc_support import clear_step_faults, inject_step_fault
from tests.providers.conftest import connection, host_snapshot, journal
from tests.providers.harness import ProviderError, secret

V1 = b"MZ\x90\x00 winfleet test service v1"
V2 = b"MZ\x90\x00 winfleet test service v2 (new build)"
URL1 = "https://artifacts.example.test/api/1.0.0/api.exe"
URL2 = "https://artifacts.example.test/api/1.1.0/api.exe"
SVC_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\api"
SRC_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\api"
EXE = r"C:\Program Files\winfleet\api\api.exe"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def host(lab):
    h = lab.hosts[0]
    h.model.files.add_drive("D")
    h.model.files.downloads[URL1] = V1
    h.model.files.downloads[URL2] = V2
    h.model.http.serve(8080, service="api", mode="ready")
    yield h
    clear_step_faults(h.model)


@pytest.fixture
def res(provider_host):
    return provider_host.resource(WindowsServiceProvider())


def base_inputs(h, **kw) -> dict:
    inputs = {
        "connection": connection(h), "serviceName": "api", "displayName": "API service",
        "description": "Serves the API", "binaryUrl": URL1, "binarySha256": sha(V1),
        "arguments": ["-config", r"D:\config\api.yaml"],
        "environment": {"GOTRACEBACK": "wer", "GOMEMLIMIT": "1GiB"},
        "recovery": {"actions": [{"action": "restart", "delaySeconds": 5}, {"action": "restart", "delaySeconds": 30}],
                     "resetPeriodSeconds": 86400, "failureActionsOnNonCrash": True},
        "preshutdownTimeoutSeconds": 45, "eventSource": {"logName": "Application"},
        "logs": {"directory": r"D:\logs\api", "maxSizeBytes": 10485760, "maxFiles": 5},
        "port": 8080, "readinessPath": "/readyz", "readinessTimeoutSeconds": 2, "readinessPollSeconds": 0.05,
    }
    inputs.update(kw)
    return inputs


def reg(model, key, name):
    got = model.registry.get_value(key, name)
    return None if got is None else got[1]


def ops(h) -> dict:
    return dict(h.counters["ops"])


# ---------------------------------------------------------------------------------------------
def test_lifecycle_create_noop_update_drift_delete(host, res):
    m = host.model
    before = host_snapshot(m)
    inputs = res.checked(base_inputs(host))
    assert inputs["account"] == "NT SERVICE\\api" and inputs["installDir"] == r"C:\Program Files\winfleet\api"

    rid, outs = res.create(inputs)
    assert outs["changed"] is True
    done = [c["do"] for c in outs["changes"]]
    assert done[:2] == ["mkdir", "download"] and "create" in done and done[-1] == "start"
    # issue 11 item 3: the exe was created in the install dir, so it carries the account's ACE, inherited
    assert any(a.get("sid") == service_sid("api") and a["inherited"] and a["rights"] == "ReadAndExecute"
               for a in m.files.acl(EXE))
    # SCM registration, as the SCM persists it
    q = m.scm.query("API")                       # service names are case-insensitive
    assert q["status"] == "running"
    assert reg(m, SVC_KEY, "ImagePath") == f'"{EXE}" -config D:\\config\\api.yaml'
    assert reg(m, SVC_KEY, "ObjectName") == "NT SERVICE\\api"
    assert reg(m, SVC_KEY, "Start") == 2 and reg(m, SVC_KEY, "DelayedAutostart") is None
    assert reg(m, SVC_KEY, "ServiceSidType") == 1
    assert reg(m, SVC_KEY, "Environment") == ["GOMEMLIMIT=1GiB", "GOTRACEBACK=wer"]
    assert decode_failure_actions(reg(m, SVC_KEY, "FailureActions")) == (86400, [(1, 5000), (1, 30000)])
    assert reg(m, SVC_KEY, "FailureActionsOnNonCrashFailures") == 1
    assert reg(m, SVC_KEY, "PreshutdownTimeout") == 45000
    assert reg(m, SVC_KEY, "Description") == "Serves the API"
    assert reg(m, SRC_KEY, "EventMessageFile") == r"%SystemRoot%\System32\EventCreate.exe"
    assert m.files.sha256(EXE) == sha(V1)
    log_acl = m.files.acl(r"D:\logs\api")
    assert any(a["identity"] == "NT SERVICE\\api" and a["rights"] == "Modify" and a.get("sid") == service_sid("api")
               for a in log_acl)
    # live state and prior values in the outputs; the journal on the host holds the same priors
    assert outs["state"]["service"]["status"] == "Running" and outs["state"]["readiness"]["ready"] is True
    assert outs["prior"]["service"] == {"name": "api", "exists": False}
    assert journal(m)["WindowsService/api"]["prior"]["service"] == {"name": "api", "exists": False}

    # a second identical run: diff (local) says no change; converging again changes nothing
    assert res.diff(rid, outs, inputs)["changes"] == "none"
    n = ops(host)
    again = res.update(rid, outs, inputs)
    assert again["changed"] is False and again["changes"] == []
    delta = {k: v - n.get(k, 0) for k, v in ops(host).items() if v != n.get(k, 0)}
    assert delta == {"service.read": 1}          # the read op carries the journal read; no apply

    # description change: an update, not a replace; no restart
    pid = m.scm.query("api")["pid"]
    new = res.checked(base_inputs(host, description="Serves the API (v1)"))
    d = res.diff(rid, outs, new)
    assert d["changes"] == "some" and d["replaces"] == []
    outs = res.update(rid, outs, new)
    assert [c["do"] for c in outs["changes"]] == ["description"]
    assert reg(m, SVC_KEY, "Description") == "Serves the API (v1)" and m.scm.query("api")["pid"] == pid

    # renaming is a replace (delete first: the port stays the same)
    d = res.diff(rid, outs, res.checked(base_inputs(host, serviceName="api2")))
    assert d["replaces"] == ["serviceName"] and d["deleteBeforeReplace"] is True

    # drift made out of band shows in read (refresh) and the next update converges it
    m.scm.change_config("api", start=3, display_name="Tampered")
    m.registry.set_value(SVC_KEY, "Environment", "REG_MULTI_SZ", ["GOTRACEBACK=none"])
    _, live = res.read(rid, outs)
    assert set(live["drift"]) == {"startMode", "displayName", "environment"}
    assert live["state"]["service"]["start"] == 3 and live["state"]["service"]["displayName"] == "Tampered"
    assert live["state"]["service"]["environment"] == ["GOTRACEBACK=none"]
    d = res.diff(rid, live, new)
    assert d["changes"] == "some" and d["replaces"] == []
    outs = res.update(rid, live, new)
    assert {"config", "environment", "restart"} <= {c["do"] for c in outs["changes"]}
    assert reg(m, SVC_KEY, "Start") == 2 and reg(m, SVC_KEY, "DisplayName") == "API service"
    _, live = res.read(rid, outs)
    assert live["drift"] == []

    # delete restores the exact prior host state (service, env, event source, binary, dirs, journal)
    res.delete(rid, outs)
    assert host_snapshot(m) == before
    assert journal(m) == {}


def test_binary_replacement_stops_first_and_bad_checksum_changes_nothing(host, res):
    m = host.model
    inputs = res.checked(base_inputs(host))
    rid, outs = res.create(inputs)
    pid = m.scm.query("api")["pid"]

    # a wrong checksum: the update fails before anything changed
    snap = host_snapshot(m)
    bad = res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(b"the build we reviewed")))
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, bad)
    assert "CHECKSUM_MISMATCH" in err.value.details and sha(V2) in err.value.details
    assert host_snapshot(m) == snap and m.scm.query("api")["pid"] == pid

    # the real v2: stop, swap (old kept until the new one is in place), start, readiness
    v2 = res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2)))
    outs = res.update(rid, outs, v2)
    done = [c["do"] for c in outs["changes"]]
    assert done == ["download", "stop", "install_binary", "start"]
    assert m.files.sha256(EXE) == sha(V2)
    assert not m.files.exists(EXE + ".winfleet-old")
    assert m.scm.query("api")["pid"] != pid and m.scm.status("api") == "running"
    assert [p for p in m.files.state() if "winfleet-" in p and p.endswith(".download")] == []
    res.delete(rid, outs)


def test_the_running_binary_is_locked(host, res):
    """The emulator models what makes 'stop first' necessary: a running image cannot be replaced."""
    from tests.emulator.windows.files import FsError
    rid, outs = res.create(res.checked(base_inputs(host)))
    with pytest.raises(FsError) as err:
        host.model.files.write(EXE, b"overwrite")
    assert err.value.code == 32
    res.delete(rid, outs)


def test_bad_checksum_on_create_changes_nothing(host, res):
    m = host.model
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(base_inputs(host, binarySha256=sha(b"something else"))))
    assert "CHECKSUM_MISMATCH" in err.value.details
    assert host_snapshot(m) == before and journal(m) == {}


def test_readiness_gate_never_ready_fails_with_last_status_and_rolls_back(host, res):
    m = host.model
    m.http.serve(8080, service="api", mode="never", status=503, body="warming up: cache 10%")
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(base_inputs(host, readinessTimeoutSeconds=0.3, readinessPollSeconds=0.05)))
    msg = err.value.details
    assert "NOT_READY" in msg and "HTTP 503" in msg and "warming up: cache 10%" in msg and "/readyz" in msg
    assert host_snapshot(m) == before and journal(m) == {}


def test_readiness_gate_waits_for_a_slow_start_and_reports_status_codes(host, res):
    m = host.model
    m.http.serve(8080, service="api", mode="after", after_seconds=0.3)
    rid, outs = res.create(res.checked(base_inputs(host, readinessTimeoutSeconds=3, readinessPollSeconds=0.05)))
    assert outs["state"]["readiness"]["ready"] is True and outs["state"]["readiness"]["attempts"] > 1
    # a 500 after an update: the update fails and says so
    m.http.serve(8080, service="api", mode="status", status=500, body="panic: nil map")
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, res.checked(base_inputs(host, description="x", readinessTimeoutSeconds=0.2)))
    assert "HTTP 500" in err.value.details and "panic: nil map" in err.value.details
    # a wrong path answers 404 and never passes
    m.http.serve(8080, service="api", mode="ready", path="/healthz")
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, res.checked(base_inputs(host, description="y", readinessTimeoutSeconds=0.2)))
    assert "HTTP 404" in err.value.details
    m.http.serve(8080, service="api", mode="ready")
    res.delete(rid, outs)


@pytest.mark.parametrize("bad, field", [
    ({"serviceName": 'x"; Remove-Item C:\\ -Recurse; "'}, "serviceName"),
    ({"serviceName": "has space"}, "serviceName"),
    ({"binarySha256": "abc"}, "binarySha256"),
    ({"binaryUrl": "file:///C:/x.exe"}, "binaryUrl"),
    ({"installDir": "relative\\dir"}, "installDir"),
    ({"installDir": "C:\\a\\..\\Windows"}, "installDir"),
    ({"account": "CONTOSO\\svc-api"}, "accountPassword"),
    ({"accountPassword": "x"}, "accountPassword"),
    ({"account": "NT SERVICE\\other"}, "account"),
    ({"sidType": "none"}, "sidType"),
    ({"startMode": "boot"}, "startMode"),
    ({"dependencies": ["RpcSs", "rpcss"]}, "dependencies"),
    ({"dependencies": ["api"]}, "dependencies[0]"),
    ({"environment": {"A=B": "1"}}, "environment"),
    ({"recovery": {"actions": [{"action": "restart", "delaySeconds": -1}]}}, "recovery.actions[0].delaySeconds"),
    ({"port": None}, "port"),
    ({"readinessPath": "no-slash"}, "readinessPath"),
    ({"readinessPollSeconds": 5, "readinessTimeoutSeconds": 1}, "readinessPollSeconds"),
    ({"eventSource": {"logName": "App\\lication"}}, "eventSource.logName"),
    ({"unknownInput": 1}, "unknownInput"),
])
def test_check_rejects_bad_inputs_naming_the_field_and_touches_nothing(host, res, bad, field):
    before = host_snapshot(host.model)
    n = ops(host)
    inputs = base_inputs(host)
    inputs.update(bad)
    inputs = {k: v for k, v in inputs.items() if v is not None}
    _, failures = res.check(inputs)
    assert failures, bad
    props = [p for p, _ in failures]
    assert field in props, failures
    assert all(reason.startswith(prop) for prop, reason in failures)
    assert ops(host) == n and host_snapshot(host.model) == before


HOSTILE = ['quote " and \' apostrophe', "$(Remove-Item C:\\ -Recurse)", "a; shutdown /s /t 0", "back`tick `$x",
           "ünïcödé — 日本語 🚀", "trailing backslash \\", '\\"escaped\\" "', "%PATH% !x!", ""]


def test_hostile_strings_are_stored_literally(host, res):
    m = host.model
    text = " | ".join(HOSTILE)
    # line feeds are refused in names, descriptions and arguments (as by the stack config), not in values
    env = {**{f"V{n}": s for n, s in enumerate(HOSTILE)}, "VNL": "new\nline\r\nCRLF"}
    install = "C:\\svc\\$(Stop-Computer); `x` 'q' ünï"
    logs = "D:\\logs\\a;b $env_TEMP `x` ñ"
    # '%' never goes into the command line: the SCM expands %NAME% in ImagePath (REG_EXPAND_SZ)
    args = [a for a in HOSTILE if "%" not in a]
    _, failures = res.check(base_inputs(host, arguments=["%PATH%"]))
    assert [p for p, _ in failures] == ["arguments"]
    inputs = res.checked(base_inputs(host, displayName=text, description=text, arguments=args, environment=env,
                                     installDir=install, logs={"directory": logs}))
    rid, outs = res.create(inputs)
    assert reg(m, SVC_KEY, "Description") == text
    assert reg(m, SVC_KEY, "DisplayName") == text
    exe = install + "\\api.exe"
    assert split_command_line(reg(m, SVC_KEY, "ImagePath")) == [exe] + args
    assert m.files.sha256(exe) == sha(V1) and m.files.is_dir(logs)
    assert reg(m, SVC_KEY, "Environment") == [f"{k}={v}" for k, v in sorted(env.items())]
    # read gives them back unchanged, so a refresh shows no drift
    _, live = res.read(rid, outs)
    assert live["drift"] == []
    assert res.diff(rid, live, inputs)["changes"] == "none"
    res.delete(rid, outs)
    assert not m.scm.exists("api") and not m.files.exists(install) and not m.files.exists(logs)


def test_an_existing_event_source_is_refused_not_adopted(host, res):
    """Issue 11 item 14 (more in test_windows_paths.py): a source someone else registered is not ours to
    rewrite or delete."""
    m = host.model
    m.registry.set_value(SRC_KEY, "EventMessageFile", "REG_EXPAND_SZ", r"C:\old\msgs.dll")
    m.registry.set_value(SRC_KEY, "CategoryCount", "REG_DWORD", 3)
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(base_inputs(host)))
    assert "eventSource.source" in e.value.details and "already exists" in e.value.details
    assert host_snapshot(m) == before


def test_gmsa_account_without_password(host, res):
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host, account="CONTOSO\\gmsa-api$")))
    assert reg(m, SVC_KEY, "ObjectName") == "CONTOSO\\gmsa-api$" and m.scm.status("api") == "running"
    assert not [c for c in outs["changes"] if c.get("password")]
    res.delete(rid, outs)


def test_fault_between_two_steps_of_create_loses_nothing(host, res):
    """The apply dies right after CreateService; its rollback dies too. The journal on the host still
    has the prior values, so the next run completes and delete restores the exact prior state."""
    m = host.model
    before = host_snapshot(m)
    inputs = res.checked(base_inputs(host))
    inject_step_fault(m, "service.apply", after="create")
    inject_step_fault(m, "service.apply", after="delete")      # the rollback's first step
    with pytest.raises(ProviderError) as err:
        res.create(inputs)
    assert "INJECTED_FAULT" in err.value.details
    # half-applied: the service exists, and the journal remembers that it did not before
    assert journal(m)["WindowsService/api"]["prior"]["service"] == {"name": "api", "exists": False}
    rid, outs = res.create(inputs)                 # the next `pulumi up` finishes the job
    assert m.scm.status("api") == "running" and outs["prior"]["service"]["exists"] is False
    res.delete(rid, outs)
    assert host_snapshot(m) == before and journal(m) == {}


def test_fault_in_an_update_completes_on_the_next_run(host, res):
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host)))
    new = res.checked(base_inputs(host, description="v2", environment={"GOTRACEBACK": "wer", "X": "1"}))
    inject_step_fault(m, "service.apply", after="description")
    with pytest.raises(ProviderError):
        res.update(rid, outs, new)
    # died half-way: the first step is on the host, the rest is not
    assert reg(m, SVC_KEY, "Description") == "v2"
    assert reg(m, SVC_KEY, "Environment") == ["GOMEMLIMIT=1GiB", "GOTRACEBACK=wer"]
    outs2 = res.update(rid, outs, new)             # Pulumi kept the old state: the next run completes it
    assert [c["do"] for c in outs2["changes"]] == ["environment", "restart"]
    assert reg(m, SVC_KEY, "Environment") == ["GOTRACEBACK=wer", "X=1"]
    res.delete(rid, outs2)
    assert journal(m) == {}


def test_existing_service_is_refused_not_adopted(host, res):
    m = host.model
    m.scm.create("api", "Somebody else's API", r"C:\other\api.exe", 3, [], "LocalSystem")
    before = host_snapshot(m)
    with pytest.raises(ProviderError) as err:
        res.create(res.checked(base_inputs(host)))
    assert "serviceName" in err.value.details and "not created by winfleet" in err.value.details
    assert host_snapshot(m) == before and journal(m) == {}


def test_domain_user_password_is_secret_everywhere(host, res):
    m = host.model
    pw = "S3cr3t-P@ss'\"$(x)"
    m.scm.domain_passwords["contoso\\svc-api"] = pw
    inputs = base_inputs(host, account="CONTOSO\\svc-api", accountPassword=secret(pw))
    checked = res.checked(inputs)
    rid, outs = res.create(dict(checked, accountPassword=secret(pw)))
    # the engine marks accountPassword (and connection) secret: WindowsService declares them in
    # additional_secret_outputs (tests/unit/host/test_svc_resources.py); nothing else carries it
    assert outs["accountPassword"] == pw
    assert pw not in json.dumps({k: v for k, v in outs.items() if k not in ("accountPassword", "connection")})
    assert any(c.get("password") == "[secret]" for c in outs["changes"])
    assert m.scm.password_matches("api", pw) and m.scm.status("api") == "running"
    assert pw not in json.dumps(m.state())
    # a wrong password: the start fails with the logon error, and the error text has no password
    wrong = "Wr0ng-" + pw
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, dict(checked, accountPassword=secret(wrong), description="rotated"))
    assert "SERVICE_LOGON_FAILED" in err.value.details and wrong not in err.value.details
    res.delete(rid, outs)


def test_dependencies_and_delayed_start_and_marked_for_delete(host, res):
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host, dependencies=["Dnscache", "eventlog"], startMode="delayed-auto",
                                                   sidType="restricted")))
    assert reg(m, SVC_KEY, "DependOnService") == ["Dnscache", "eventlog"]
    assert reg(m, SVC_KEY, "DelayedAutostart") == 1 and reg(m, SVC_KEY, "ServiceSidType") == 3
    assert "api" in m.scm.dependents("EventLog")
    # another (foreign) service that depends on ours and runs: delete must not silently stop it
    m.scm.create("watcher", "Watcher", "C:\\w\\w.exe", 3, ["api"], "LocalSystem")
    m.files.mkdir("C:\\w")
    m.files.write("C:\\w\\w.exe", b"w")
    m.scm.start("watcher")
    with pytest.raises(ProviderError) as err:
        res.delete(rid, outs)
    assert "DEPENDENT_SERVICES_RUNNING" in err.value.details and "watcher" in err.value.details
    assert m.scm.exists("api") and "WindowsService/api" in journal(m)
    m.scm.stop("watcher")
    m.scm.delete("watcher")
    res.delete(rid, outs)
    assert not m.scm.exists("api") and journal(m) == {}


def test_service_deleted_out_of_band_is_recreated(host, res):
    m = host.model
    inputs = res.checked(base_inputs(host))
    rid, outs = res.create(inputs)
    m.scm.stop("api")
    m.scm.delete("api")
    _, live = res.read(rid, outs)
    assert "displayName" in live["drift"] and live["state"]["exists"] is False
    assert res.diff(rid, live, inputs)["changes"] == "some"
    outs = res.update(rid, live, inputs)
    assert "create" in [c["do"] for c in outs["changes"]] and m.scm.status("api") == "running"
    res.delete(rid, outs)


def test_concurrent_creates_on_one_host(host, res):
    m = host.model
    names = ["svc-a", "svc-b", "svc-c", "svc-d"]
    for n, name in enumerate(names):
        m.http.serve(9000 + n, service=name, mode="ready")

    def one(n_name):
        n, name = n_name
        inputs = res.checked(base_inputs(host, serviceName=name, displayName=f"Svc {name}", port=9000 + n,
                                         eventSource={"logName": "Application"}, logs={"directory": f"D:\\logs\\{name}"}))
        return res.create(inputs)

    before = host_snapshot(m)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, enumerate(names)))
    assert all(m.scm.status(n) == "running" for n in names)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda r: res.delete(*r), results))
    assert host_snapshot(m) == before


def test_shared_parent_directories_go_with_the_last_user(host, res):
    """a creates C:\\Program Files\\winfleet (and D:\\logs); b finds them; deleting a first, then b, must
    still remove them: winfleet records the directories it created on the host."""
    m = host.model
    m.http.serve(8081, service="b", mode="ready")
    before = host_snapshot(m)
    a = res.create(res.checked(base_inputs(host, serviceName="a", displayName="A", logs={"directory": r"D:\logs\a"},
                                           port=None, readinessPath=None)))
    b = res.create(res.checked(base_inputs(host, serviceName="b", displayName="B", logs={"directory": r"D:\logs\b"},
                                           port=8081)))
    assert b[1]["prior"]["dir:c:\\program files\\winfleet\\b"]["createdFrom"] == r"C:\Program Files\winfleet\b"
    res.delete(*a)
    assert m.files.is_dir(r"C:\Program Files\winfleet\b")
    res.delete(*b)
    assert not m.files.exists(r"C:\Program Files\winfleet") and not m.files.exists(r"D:\logs")
    assert host_snapshot(m) == before


def test_new_binary_with_a_running_dependent_stops_and_restarts_it(host, res):
    m = host.model
    inputs = res.checked(base_inputs(host))
    rid, outs = res.create(inputs)
    m.files.mkdir("C:\\w")
    m.files.write("C:\\w\\w.exe", b"w")
    m.scm.create("worker", "Worker", "C:\\w\\w.exe", 2, ["api"], "LocalSystem")
    m.scm.start("worker")
    outs = res.update(rid, outs, res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2))))
    assert [(c["do"], c.get("name")) for c in outs["changes"]] == [
        ("download", None), ("stopOther", "worker"), ("stop", None), ("install_binary", None), ("start", None),
        ("startOther", "worker")]
    assert m.scm.status("worker") == "running" and m.files.sha256(EXE) == sha(V2)
    m.scm.stop("worker")
    m.scm.delete("worker")
    res.delete(rid, outs)


# ---------------------------------------------------------------------------------------------
# A new version that never becomes ready is rolled back on that host, in the same service.apply.
def _bad_v2(host, res, **kw):
    """v1 deployed and ready; v2 (+ a new argument, environment and description: configuration that
    needs a restart) answers 503 on /readyz, v1 keeps answering 200."""
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host)))
    m.http.serve(8080, service="api", mode="never", status=503, body="v2: no database", binary_sha256=sha(V2))
    v2 = res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2), arguments=["-config", r"D:\config\v2.yaml"],
                                 environment={"GOTRACEBACK": "wer", "FEATURE_X": "on"}, description="v2",
                                 readinessTimeoutSeconds=0.3, **kw))
    return rid, outs, v2


def _fixed_then_converges_and_deletes(host, res, rid, outs, v2, before):
    """Pulumi kept the old state (a failed update): once the cause is fixed the next run converges
    to v2 with no residue, and delete still restores the exact prior host state."""
    m = host.model
    m.http.serve(8080, service="api", mode="ready")
    outs = res.update(rid, outs, v2)
    assert m.files.sha256(EXE) == sha(V2) and m.scm.status("api") == "running"
    assert not m.files.exists(EXE + ".previous")
    assert reg(m, SVC_KEY, "Environment") == ["FEATURE_X=on", "GOTRACEBACK=wer"]
    res.delete(rid, outs)
    assert host_snapshot(m) == before and journal(m) == {}


def test_a_new_version_that_never_becomes_ready_is_rolled_back(host, res):
    m = host.model
    before = host_snapshot(m)
    rid, outs, v2 = _bad_v2(host, res)
    deployed = host_snapshot(m)
    pid = m.scm.query("api")["pid"]
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, v2)
    msg = err.value.details
    label = connection(host)["hostName"]
    assert f"WindowsService 'api' on {label}: update failed" in msg
    assert "NOT_READY" in msg and "http://localhost:8080/readyz" in msg and "HTTP 503" in msg and "v2: no database" in msg
    assert "rolled back to the previous version" in msg and "restore_binary" in msg and "ready again" in msg
    # the old build runs again, ready, with exactly the configuration it had: the host is as before
    assert m.files.sha256(EXE) == sha(V1) and not m.files.exists(EXE + ".previous")
    assert m.scm.status("api") == "running" and m.scm.query("api")["pid"] != pid
    assert m.http.probe(8080, "/readyz")["status"] == 200
    assert host_snapshot(m) == deployed
    _fixed_then_converges_and_deletes(host, res, rid, outs, v2, before)


def test_a_rollback_whose_previous_version_is_not_ready_either_says_so(host, res):
    m = host.model
    before = host_snapshot(m)
    rid, outs, v2 = _bad_v2(host, res)
    m.http.serve(8080, service="api", mode="never", status=503, body="database down")     # every build
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, v2)
    msg = err.value.details
    assert "WindowsService 'api'" in msg and "ROLLBACK_FAILED" in msg and "HTTP 503" in msg
    assert "rolled back to the previous version" in msg and "did not become ready either" in msg
    assert m.files.sha256(EXE) == sha(V1) and "WindowsService/api" in journal(m)   # old build back; journal kept
    _fixed_then_converges_and_deletes(host, res, rid, outs, v2, before)


def test_a_rollback_that_dies_half_way_fails_loudly_and_the_next_run_converges(host, res):
    m = host.model
    before = host_snapshot(m)
    rid, outs, v2 = _bad_v2(host, res)
    inject_step_fault(m, "service.apply", after="restore_binary")      # only a rollback restores a binary
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, v2)
    msg = err.value.details
    assert "WindowsService 'api'" in msg and "ROLLBACK_FAILED" in msg and "ROLLBACK FAILED after 2 of" in msg
    assert "INJECTED_FAULT" in msg and "http://localhost:8080/readyz" in msg and "HTTP 503" in msg
    # died after putting v1 back and before restoring the configuration and starting it
    assert m.files.sha256(EXE) == sha(V1) and m.scm.status("api") == "stopped"
    assert "WindowsService/api" in journal(m)
    _fixed_then_converges_and_deletes(host, res, rid, outs, v2, before)


def test_no_rollback_when_nothing_needed_a_restart(host, res):
    """A description change does not touch the process: a failing gate just fails (nothing to undo)."""
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host)))
    pid = m.scm.query("api")["pid"]
    m.http.serve(8080, service="api", mode="never", status=503, body="overloaded")
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, res.checked(base_inputs(host, description="new", readinessTimeoutSeconds=0.2)))
    assert "NOT_READY" in err.value.details and "rolled back" not in err.value.details
    assert m.scm.query("api")["pid"] == pid and reg(m, SVC_KEY, "Description") == "new"
    m.http.serve(8080, service="api", mode="ready")
    res.delete(rid, outs)


# ---------------------------------------------------------------------------------------------
# Any failure after the binary swap rolls back the same way (the swap arms the rollback).
def _failed_update(res, rid, outs, v2) -> str:
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, v2)
    return err.value.details


def _rolled_back_to_v1(m, deployed):
    """The old build runs again, ready, with exactly the configuration it had: the host is as before."""
    assert m.files.sha256(EXE) == sha(V1) and not m.files.exists(EXE + ".previous")
    assert m.scm.status("api") == "running" and m.http.probe(8080, "/readyz")["status"] == 200
    assert host_snapshot(m) == deployed


@pytest.mark.parametrize("error, code, what", [
    (1069, "SERVICE_LOGON_FAILED", "logon failure"),
    (1053, "SERVICE_REQUEST_TIMEOUT", "the new exe exits before it reports running: the start times out"),
])
def test_a_new_version_that_fails_to_start_is_rolled_back(host, res, error, code, what):
    m = host.model
    before = host_snapshot(m)
    rid, outs, v2 = _bad_v2(host, res)
    m.http.serve(8080, service="api", mode="ready")        # readiness is not what fails here
    m.scm.fail_build(sha(V2), error)                        # v2 never starts, whatever its configuration
    deployed = host_snapshot(m)
    msg = _failed_update(res, rid, outs, v2)
    label = connection(host)["hostName"]
    assert f"WindowsService 'api' on {label}: update failed" in msg, what
    assert f"step start failed after the binary swap: {code}:" in msg and f"({error})" in msg
    assert "rolled back to the previous version (stop, restore_binary, config, description, environment, start)" in msg
    assert "ready again" in msg and "ROLLBACK_FAILED" not in msg
    _rolled_back_to_v1(m, deployed)
    m.scm.build_start_errors.clear()
    _fixed_then_converges_and_deletes(host, res, rid, outs, v2, before)


def test_a_fault_right_after_the_swap_is_rolled_back(host, res):
    m = host.model
    before = host_snapshot(m)
    rid, outs, v2 = _bad_v2(host, res)
    m.http.serve(8080, service="api", mode="ready")
    deployed = host_snapshot(m)
    inject_step_fault(m, "service.apply", after="install_binary")
    msg = _failed_update(res, rid, outs, v2)
    assert "WindowsService 'api'" in msg and "step install_binary failed after the binary swap: INJECTED_FAULT" in msg
    assert "rolled back to the previous version (stop, restore_binary," in msg and "ready again" in msg
    _rolled_back_to_v1(m, deployed)
    _fixed_then_converges_and_deletes(host, res, rid, outs, v2, before)


def test_a_failure_during_the_rollback_of_a_start_failure_says_so(host, res):
    m = host.model
    rid, outs, v2 = _bad_v2(host, res)
    m.scm.fail_build(sha(V2), 1069)
    m.scm.fail_build(sha(V1), 1069)                         # the old build cannot start either
    msg = _failed_update(res, rid, outs, v2)
    assert "ROLLBACK_FAILED" in msg and "step start failed after the binary swap: SERVICE_LOGON_FAILED" in msg
    assert "ROLLBACK FAILED after" in msg and "the host is left between the new and the previous version" in msg
    assert m.files.sha256(EXE) == sha(V1) and m.scm.status("api") == "stopped"
    m.scm.build_start_errors.clear()
    m.http.serve(8080, service="api", mode="ready")
    outs = res.update(rid, outs, v2)
    assert m.files.sha256(EXE) == sha(V2) and m.scm.status("api") == "running"
    res.delete(rid, outs)


def test_a_leftover_previous_is_reported_and_cleaned_by_the_next_apply(host, res):
    """An apply that died between the swap and its end (the WinRM connection, not a step) leaves
    <exe>.previous: read reports it (state and drift), the next update and delete remove it."""
    m = host.model
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(base_inputs(host)))
    assert outs["state"]["leftoverPrevious"] is None
    m.files.write(EXE + ".previous", V1)
    _, live = res.read(rid, outs)
    assert live["state"]["leftoverPrevious"] == EXE + ".previous" and live["drift"] == ["leftoverPrevious"]
    new = res.checked(base_inputs(host, description="v1, cleaned"))
    outs = res.update(rid, live, new)
    assert [c["do"] for c in outs["changes"]] == ["removeFile", "description"]
    assert not m.files.exists(EXE + ".previous") and outs["state"]["leftoverPrevious"] is None
    _, live = res.read(rid, outs)
    assert live["drift"] == [] and live["state"]["leftoverPrevious"] is None
    m.files.write(EXE + ".previous", V1)                   # and delete removes one too
    res.delete(rid, outs)
    assert host_snapshot(m) == before and journal(m) == {}


def test_a_none_recovery_action_round_trips(host, res):
    """Issue 11 item 8: "none" is SC_ACTION_NONE in SERVICE_FAILURE_ACTIONS (ChangeServiceConfig2), not an
    sc.exe token; it is stored, read back, and shows no drift."""
    m = host.model
    rec = {"actions": [{"action": "restart", "delaySeconds": 5}, {"action": "none"},
                       {"action": "restart", "delaySeconds": 60}], "resetPeriodSeconds": 3600,
           "failureActionsOnNonCrash": True}
    rid, outs = res.create(res.checked(base_inputs(host, recovery=rec)))
    assert decode_failure_actions(reg(m, SVC_KEY, "FailureActions")) == (3600, [(1, 5000), (0, 0), (1, 60000)])
    assert res.read(rid, outs)[1]["drift"] == []
    res.delete(rid, outs)


def test_a_binary_swap_waits_for_the_process_to_exit(host, res):
    """Issue 11 item 10: the old process holds its image a moment after SERVICE_STOPPED; the swap waits."""
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host)))
    m.scm.set_behaviour("api", exit_seconds=0.4)
    outs = res.update(rid, outs, res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2))))
    assert m.files.sha256(EXE) == sha(V2) and m.scm.status("api") == "running"
    res.delete(rid, outs)
    assert not m.files.exists(EXE)


@pytest.mark.parametrize("pending", ["stop_pending", "start_pending"])
def test_an_update_meets_a_pending_service(host, res, pending):
    """Issue 11 item 11: a service someone is stopping (slow drain) or starting when our update arrives: the
    SCM refuses a stop then (1061) and a start during a stop (1056); the driver waits the pending state out."""
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host)))
    m.scm.set_behaviour("api", stop_seconds=0.3, start_seconds=0.3)
    m.scm.stop("api") if pending == "stop_pending" else None
    if pending == "start_pending":
        m.scm.crash("api")
        m.scm.start("api")
    assert m.scm.status("api") == pending
    outs = res.update(rid, outs, res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2))))
    assert m.files.sha256(EXE) == sha(V2) and m.scm.status("api") == "running"
    res.delete(rid, outs)


def test_a_failure_between_the_stop_and_the_swap_starts_the_service_again(host, res):
    """Issue 11 item 15: the "start it again" compensation is armed at the first stop, not at the swap. Here
    the swap itself fails (a scanner holds the name the old binary moves to): the old build runs again."""
    m = host.model
    rid, outs = res.create(res.checked(base_inputs(host)))
    m.files.set_locked(EXE + ".previous", True)
    with pytest.raises(ProviderError) as err:
        res.update(rid, outs, res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2))))
    msg = err.value.details
    assert m.scm.status("api") == "running" and m.files.sha256(EXE) == sha(V1)
    assert "FILE_IN_USE" in msg and "failed after the service was stopped" in msg and "started it again (start)" in msg
    m.files.set_locked(EXE + ".previous", False)
    outs = res.update(rid, outs, res.checked(base_inputs(host, binaryUrl=URL2, binarySha256=sha(V2))))
    assert m.files.sha256(EXE) == sha(V2) and m.scm.status("api") == "running"
    res.delete(rid, outs)


@pytest.mark.parametrize("account, password", [("CONTOSO\\gmsa-api$", None), ("CONTOSO\\svc-api", "P@ss-1")])
def test_log_on_as_a_service_is_granted_recorded_and_restored(host, res, account, password):
    """Issue 11 item 5: a domain user or gMSA needs SeServiceLogonRight (the start fails with 1069 without
    it; CreateService does not grant it). Granted before the start, journaled (held before?), revoked on
    delete - but not when it was held before, nor while another service still runs as that account."""
    m = host.model
    if password:
        m.scm.domain_passwords[account.lower()] = password
    extra = {"accountPassword": secret(password)} if password else {}
    before = host_snapshot(m)
    rid, outs = res.create(dict(res.checked(base_inputs(host, account=account, **extra)), **extra))
    assert m.scm.status("api") == "running" and m.accounts.has_right(account, "SeServiceLogonRight")
    item = "logonright:" + account.lower()
    assert outs["prior"][item] == {"account": account, "held": False}
    assert journal(m)["WindowsService/api"]["prior"][item]["held"] is False
    res.delete(rid, outs)
    assert not m.accounts.has_right(account, "SeServiceLogonRight") and host_snapshot(m) == before

    # held before winfleet: kept on delete
    m.accounts.set_right(account, "SeServiceLogonRight", True)
    rid, outs = res.create(dict(res.checked(base_inputs(host, account=account, **extra)), **extra))
    assert "logonRight" not in [c["do"] for c in outs["changes"]]
    res.delete(rid, outs)
    assert m.accounts.has_right(account, "SeServiceLogonRight")
    m.accounts.set_right(account, "SeServiceLogonRight", False)

    # another service runs as the account: our delete leaves the right to it
    rid, outs = res.create(dict(res.checked(base_inputs(host, account=account, **extra)), **extra))
    m.files.write(r"C:\other.exe", b"MZ")
    m.scm.create("other", "Other", r'"C:\other.exe"', account=account, password=password)
    res.delete(rid, outs)
    assert m.accounts.has_right(account, "SeServiceLogonRight")
    m.scm.start("other")
    assert m.scm.status("other") == "running"


@pytest.mark.parametrize("order", ["first-created-first", "last-created-first"])
def test_two_services_sharing_a_gmsa_leave_no_right_behind(host, res, order):
    """The right winfleet granted for one service is revoked by whichever of its services goes last (the
    second found it held: winfleet's record HKLM\\SOFTWARE\\winfleet\\LogonRights says it granted it)."""
    m = host.model
    gmsa = "CONTOSO\\gmsa-api$"
    before = host_snapshot(m)
    a = res.create(res.checked(base_inputs(host, account=gmsa)))
    b = res.create(res.checked(base_inputs(host, account=gmsa, serviceName="api2", displayName="API 2", port=None, readinessPath=None,
                                           logs=None, eventSource=None)))
    assert b[1]["prior"]["logonright:" + gmsa.lower()]["held"] is True
    first, second = (a, b) if order == "first-created-first" else (b, a)
    res.delete(*first)
    assert m.accounts.has_right(gmsa, "SeServiceLogonRight")          # the other one still runs as it
    res.delete(*second)
    assert not m.accounts.has_right(gmsa, "SeServiceLogonRight")
    assert host_snapshot(m) == before and journal(m) == {}

"""Pure planning of WindowsService / CrashDumps: command lines, failure actions, SIDs, plans."""
from __future__ import annotations

import hashlib
import itertools

import pytest

from components.host.base import PlanContext, Refused
from components.host.windows_service import (WindowsServiceInputs, WindowsServiceProvider, account_kind,
                                             decode_failure_actions, escape_arg, image_path, redact_changes,
                                             service_sid, split_command_line, windows_path_problem)
from tests.emulator.windows.scm import encode_failure_actions

CONN = {"host": "127.0.0.1", "username": "u", "password": "p", "certSha256": "a" * 64}
SHA = hashlib.sha256(b"x").hexdigest()

ARGS = ["", "plain", "with space", 'quote"inside', "trailing\\", "trail space\\", '\\"', "\\\\server\\share",
        "tab\there", "$(Get-Process)", "a;b", "`tick`", "new\nline", "ünïcödé 日本", '"', '""', "\\", "a\\\\b c"]


@pytest.mark.parametrize("arg", ARGS)
def test_escape_arg_round_trips_through_command_line_parsing(arg):
    cmd = image_path(r"C:\Program Files\winfleet\api\api.exe", [arg, "next"])
    assert split_command_line(cmd) == [r"C:\Program Files\winfleet\api\api.exe", arg, "next"]


def test_many_argument_combinations_round_trip():
    for combo in itertools.permutations(ARGS[:8], 3):
        cmd = image_path(r"D:\svc\a.exe", list(combo))
        assert split_command_line(cmd) == [r"D:\svc\a.exe", *combo]


def test_escape_arg_matches_go_syscall_escapearg():
    # expected values from Go's syscall.EscapeArg (src/syscall/exec_windows.go)
    assert escape_arg("") == '""'
    assert escape_arg("abc") == "abc"
    assert escape_arg("a b") == '"a b"'
    assert escape_arg('a"b') == 'a\\"b'
    assert escape_arg("a\\b") == "a\\b"
    assert escape_arg("a b\\") == '"a b\\\\"'
    assert escape_arg('a\\"b') == 'a\\\\\\"b'


def test_exe_path_is_always_quoted():
    assert image_path(r"C:\Program Files\x\x.exe", []) == '"C:\\Program Files\\x\\x.exe"'
    assert image_path(r"D:\x\x.exe", ["-v"]) == '"D:\\x\\x.exe" -v'


def test_failure_actions_decode_matches_the_scm_layout():
    raw = encode_failure_actions(86400, [(1, 5000), (1, 30000), (0, 0)])
    assert decode_failure_actions(raw) == (86400, [(1, 5000), (1, 30000), (0, 0)])
    # the sc.exe-produced value shape from the registry (reg query ... FailureActions), 3 restart actions
    sc_hex = ("80510100" "00000000" "00000000" "03000000" "14000000"
              "0100000060ea0000" "0100000060ea0000" "0100000060ea0000")
    assert decode_failure_actions(sc_hex) == (86400, [(1, 60000)] * 3)
    assert decode_failure_actions(None) is None


def test_service_sid_matches_sc_showsid():
    # `sc.exe showsid TrustedInstaller` prints this well-known SID
    assert service_sid("TrustedInstaller") == "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
    assert service_sid("trustedinstaller") == service_sid("TRUSTEDINSTALLER")


@pytest.mark.parametrize("account, kind", [
    ("NT SERVICE\\api", "virtual"), ("nt service\\API", "virtual"), ("NT SERVICE\\other", "invalid-virtual"),
    ("LocalSystem", "builtin"), ("NT AUTHORITY\\NetworkService", "builtin"), ("CONTOSO\\gmsa-api$", "gmsa"),
    ("CONTOSO\\svc", "user"), ("svc@contoso.example", "user"), (".\\localuser", "user")])
def test_account_kinds(account, kind):
    assert account_kind(account, "api") == kind


@pytest.mark.parametrize("path, ok", [
    (r"C:\Program Files\winfleet\api", True), (r"D:\svc", True), ("relative", False), (r"C:\a\..\b", False),
    ("C:\\a\\b:c", False), ("C:\\a<b", False), ("\\\\server\\share", False), ("C:\\a\\\\b", False)])
def test_windows_paths(path, ok):
    assert (windows_path_problem(path) is None) is ok


def _inputs(**kw):
    base = {"connection": CONN, "serviceName": "api", "binaryUrl": "https://x.test/api.exe", "binarySha256": SHA}
    base.update(kw)
    return WindowsServiceInputs.model_validate(base)


def _live(**kw):
    svc = {"name": "api", "type": 16, "start": 2, "delayedAutostart": False,
           "imagePath": '"C:\\Program Files\\winfleet\\api\\api.exe"', "displayName": "api", "description": None,
           "objectName": "NT SERVICE\\api", "dependencies": [], "sidType": 1,
           "failureActions": encode_failure_actions(86400, [(1, 5000), (1, 30000), (1, 120000)]),
           "failureActionsOnNonCrashFailures": True, "preshutdownTimeoutMs": None, "environment": None,
           "status": "Running", "markedForDelete": False}
    svc.update(kw)
    return {"exists": True, "service": svc, "dependents": [],
            "binary": {"path": r"C:\Program Files\winfleet\api\api.exe", "exists": True, "sha256": SHA},
            "eventSource": None,
            "dirs": [{"path": r"C:\Program Files\winfleet\api", "exists": True, "owner": "x",
                      "acl": [{"identity": "NT SERVICE\\api", "rights": "ReadAndExecute, Synchronize",
                               "type": "Allow", "inherited": False}]}]}


P = WindowsServiceProvider()


def test_defaults_are_normalised():
    i = _inputs()
    assert (i.display_name, i.account, i.install_dir, i.exe_name) == (
        "api", "NT SERVICE\\api", r"C:\Program Files\winfleet\api", "api.exe")
    assert [a.delay_seconds for a in i.recovery.actions] == [5, 30, 120]


def test_converged_service_plans_nothing():
    assert P.plan(_inputs(), _live()) == []


def test_fresh_host_plans_the_install_dir_then_the_download_into_it():
    """Issue 11 item 3: the download goes into the install directory (a file moved from %TEMP% keeps
    %TEMP%'s ACL), so that directory and its ACE come first; then the download, before anything else."""
    cur = {"exists": False, "service": None, "binary": {"exists": False}, "dirs": []}
    i = _inputs(description="d", environment={"GOTRACEBACK": "wer"}, logs={"directory": "D:\\logs\\api"})
    plan = P.plan(i, cur)
    steps = [s["do"] for s in plan]
    assert steps[:2] == ["mkdir", "download"] and plan[0]["path"] == i.install_dir
    assert plan[0]["rights"] == "ReadAndExecute" and plan[0]["sid"] is not None
    assert steps.index("create") < steps.index("mkdir", 1) < steps.index("install_binary")   # the log dir
    assert steps[-1] == "start" and "stop" not in steps


def test_description_only_no_restart_and_env_change_restarts():
    assert [s["do"] for s in P.plan(_inputs(description="new"), _live())] == ["description"]
    assert [s["do"] for s in P.plan(_inputs(environment={"A": "1"}), _live())] == ["environment", "restart"]


def test_new_binary_stops_then_swaps_then_starts():
    steps = [s["do"] for s in P.plan(_inputs(binarySha256=hashlib.sha256(b"v2").hexdigest()), _live())]
    assert steps == ["download", "stop", "install_binary", "start"]


def test_delayed_auto_start_and_disabled():
    assert [s for s in P.plan(_inputs(startMode="delayed-auto"), _live())] == [{"do": "delayed", "value": True}]
    steps = P.plan(_inputs(startMode="disabled"), _live())
    assert steps == [{"do": "config", "start": 4}, {"do": "stop"}]


def test_dependency_case_is_not_drift():
    live = _live(dependencies=["RPCSS"])
    assert P.plan(_inputs(dependencies=["RpcSs"]), live) == []


def test_user_account_always_resets_password_and_redacts_it():
    i = _inputs(account="CONTOSO\\svc", accountPassword="pw-123")
    steps = P.plan(i, _live(objectName="CONTOSO\\svc"))
    cfg = [s for s in steps if s["do"] == "config"][0]
    assert cfg["password"] == "pw-123" and steps[-1]["do"] == "restart"
    assert "pw-123" not in str(redact_changes(steps))


def test_marked_for_delete_is_refused():
    with pytest.raises(Refused) as err:
        P.plan(_inputs(), _live(markedForDelete=True))
    assert err.value.field == "serviceName"


def test_existing_foreign_service_or_binary_refused_by_journal_prior():
    with pytest.raises(Refused) as err:
        P.plan_in_context(_inputs(), _live(), PlanContext(prior={"service": {"name": "api", "exists": True}}))
    assert err.value.field == "serviceName"
    exe = "file:c:\\program files\\winfleet\\api\\api.exe"
    with pytest.raises(Refused) as err:
        P.plan_in_context(_inputs(), _live(), PlanContext(prior={"service": {"exists": False}, exe: {"exists": True}}))
    assert err.value.field == "installDir"


def test_restore_plan_order_and_scope():
    prior = {"service": {"name": "api", "exists": False},
             "file:c:\\program files\\winfleet\\api\\api.exe": {"path": r"C:\Program Files\winfleet\api\api.exe", "exists": False},
             "dir:c:\\program files\\winfleet\\api": {"path": r"C:\Program Files\winfleet\api", "exists": False,
                                                      "createdFrom": r"C:\Program Files\winfleet", "account": "NT SERVICE\\api", "ace": None},
             "dir:d:\\logs\\api": {"path": r"D:\logs\api", "exists": True, "createdFrom": None,
                                   "account": "NT SERVICE\\api", "ace": None},
             "eventsource": {"logName": "Application", "source": "api", "values": None}}
    steps = P.restore_plan(_inputs(), prior, {})
    assert [s["do"] for s in steps] == ["delete", "eventSource", "removeFile", "removeFile", "removeDir", "revoke"]
    assert all(s["restore"] for s in steps)
    # the binary, and an <exe>.previous an apply that died before its readiness gate may have left
    assert [s["path"] for s in steps[2:4]] == [r"C:\Program Files\winfleet\api\api.exe",
                                               r"C:\Program Files\winfleet\api\api.exe.previous"]
    assert steps[4]["upTo"] == r"C:\Program Files\winfleet"
    assert steps[5]["sid"] == service_sid("api")


def test_running_dependents_are_stopped_around_a_restart_only():
    cur = _live()
    cur["dependents"] = [{"name": "deep", "status": "Running"}, {"name": "worker", "status": "Running"},
                         {"name": "idle", "status": "Stopped"}]
    steps = [(s["do"], s.get("name")) for s in P.plan(_inputs(environment={"A": "1"}), cur)]
    assert steps == [("environment", None), ("stopOther", "deep"), ("stopOther", "worker"), ("restart", None),
                     ("startOther", "worker"), ("startOther", "deep")]
    assert [s["do"] for s in P.plan(_inputs(description="x"), cur)] == ["description"]


# ---- rollback of a failed readiness gate, and the stop bound ----------------------------------
V2 = hashlib.sha256(b"v2").hexdigest()
GATED = {"port": 8080, "readinessPath": "/readyz"}
EXE = r"C:\Program Files\winfleet\api\api.exe"


def _split(changes):
    """(forward steps, the rollback pseudo-change or None)"""
    from components.host.windows_service import RESTART, ROLLBACK
    return ([c for c in changes if c["do"] not in (ROLLBACK, RESTART)],
            next((c for c in changes if c["do"] == ROLLBACK), None))


def test_a_binary_swap_keeps_the_old_binary_and_plans_its_way_back():
    live = _live(environment=["A=0"], description="old", preshutdownTimeoutMs=None)
    i = _inputs(binarySha256=V2, environment={"A": "1"}, description="new", preshutdownTimeoutSeconds=30, **GATED)
    steps, rb = _split(P.plan_in_context(i, live, PlanContext()))
    assert [s["do"] for s in steps] == ["download", "stop", "install_binary", "description", "preshutdown",
                                        "environment", "start"]
    assert steps[2]["previous"] == EXE + ".previous"
    # stop, old binary back, every changed setting to its value read before the apply, start
    assert rb["onNotReady"] == [
        {"do": "stop"}, {"do": "restore_binary", "path": EXE, "previous": EXE + ".previous"},
        {"do": "description", "value": "old"}, {"do": "preshutdown", "ms": 10000},
        {"do": "environment", "value": ["A=0"]}, {"do": "start"}]
    assert rb["afterReady"] == [{"do": "removeFile", "path": EXE + ".previous"}]
    # `plan` itself stays the forward steps only; the rollback is added by plan_in_context
    assert "previous" not in next(s for s in P.plan(i, live) if s["do"] == "install_binary")


def test_rollback_restores_the_command_line_and_a_passwordless_account_only():
    live = _live(imagePath='"C:\\Program Files\\winfleet\\api\\api.exe" -old', objectName="LocalSystem")
    i = _inputs(arguments=["-new"], account="NT SERVICE\\api", **GATED)
    _, rb = _split(P.plan_in_context(i, live, PlanContext()))
    cfg = next(s for s in rb["onNotReady"] if s["do"] == "config")
    assert cfg == {"do": "config", "imagePath": live["service"]["imagePath"], "account": "LocalSystem"}
    # a previous password account cannot be put back (its password cannot be read): the new one stays
    i = _inputs(account="NT SERVICE\\api", environment={"A": "1"}, **GATED)
    _, rb = _split(P.plan_in_context(i, _live(objectName="CONTOSO\\svc"), PlanContext()))
    assert [s["do"] for s in rb["onNotReady"]] == ["stop", "environment", "start"]
    assert "password" not in str(rb)


def test_no_rollback_without_a_restart_a_gate_or_a_previous_version():
    assert _split(P.plan_in_context(_inputs(description="x", **GATED), _live(), PlanContext()))[1] is None
    assert _split(P.plan_in_context(_inputs(binarySha256=V2), _live(), PlanContext()))[1] is None        # no gate
    fresh = {"exists": False, "service": None, "binary": {"exists": False}, "dirs": []}
    assert _split(P.plan_in_context(_inputs(**GATED), fresh, PlanContext()))[1] is None                 # a create
    steps, _ = _split(P.plan_in_context(_inputs(binarySha256=V2), _live(), PlanContext()))
    assert "previous" not in next(s for s in steps if s["do"] == "install_binary")                      # nothing kept


def test_rollback_stops_and_restarts_running_dependents_too():
    cur = _live()
    cur["dependents"] = [{"name": "worker", "status": "Running"}]
    _, rb = _split(P.plan_in_context(_inputs(binarySha256=V2, **GATED), cur, PlanContext()))
    assert [(s["do"], s.get("name")) for s in rb["onNotReady"]] == [
        ("stopOther", "worker"), ("stop", None), ("restore_binary", None), ("start", None), ("startOther", "worker")]


class _Host:
    def __init__(self):
        self.sent = []

    def state(self, op, params, **kw):
        self.sent.append((op, params))
        return {}


@pytest.mark.parametrize("preshutdown, want", [(None, 60), (10, 60), (30, 60), (45, 75), (600, 630), (3600, 3630)])
def test_the_stop_wait_covers_the_pre_shutdown_drain(preshutdown, want):
    from components.host.windows_service import STOP_MARGIN_SECONDS, stop_timeout_seconds
    kw = {} if preshutdown is None else {"preshutdownTimeoutSeconds": preshutdown}
    i = _inputs(binarySha256=V2, **GATED, **kw)
    assert stop_timeout_seconds(i) == want
    assert stop_timeout_seconds(i) >= (preshutdown or 10) + STOP_MARGIN_SECONDS
    host = _Host()
    P.apply(host, i, P.plan_in_context(i, _live(preshutdownTimeoutMs=(preshutdown or 10) * 1000), PlanContext()), {})
    (op, params), = host.sent
    assert op == "service.apply" and params["stopTimeoutSeconds"] == want and params["startTimeoutSeconds"] == 60
    assert [s["do"] for s in params["steps"]] == ["download", "stop", "install_binary", "start"]   # no pseudo-step
    assert [s["do"] for s in params["onNotReady"]] == ["stop", "restore_binary", "start"]
    assert params["afterReady"] == [{"do": "removeFile", "path": EXE + ".previous"}]


def test_the_client_waits_as_long_as_the_host_may():
    from components.host.windows_service import stop_timeout_seconds
    i = _inputs(preshutdownTimeoutSeconds=3600, readinessTimeoutSeconds=900, **GATED)
    session = P._session(i)
    # a drain-long stop, a start and a gate, for the apply and again for its rollback, + the usual budget
    assert session.timeout >= P.op_timeout + 2 * (stop_timeout_seconds(i) + 60 + 900)
    assert P._session(_inputs()).timeout >= P.op_timeout


def test_errors_name_the_service():
    from components.host.base import HostResourceError
    err = P._fail("update", _inputs(), RuntimeError("boom"))
    assert isinstance(err, HostResourceError) and str(err) == "WindowsService 'api' on 127.0.0.1:5986: update failed: boom"


@pytest.mark.parametrize("desired, live_ms, want", [
    (45, 900_000, 930),          # the live drain is longer: a stop before the step lowering it waits for it
    (600, 45_000, 630),          # the desired one is longer
    (None, 300_000, 330),        # not managed: the live value is what the SCM applies
    (45, None, 75),              # live unset = the Windows default 10 s: the desired one wins
])
def test_the_stop_wait_is_the_larger_of_desired_and_live_pre_shutdown(desired, live_ms, want):
    from components.host.windows_service import STOP_BOUND, stop_timeout_seconds
    kw = {} if desired is None else {"preshutdownTimeoutSeconds": desired}
    i = _inputs(binarySha256=V2, **GATED, **kw)
    live = _live(preshutdownTimeoutMs=live_ms)
    assert stop_timeout_seconds(i, live_ms) == want
    host = _Host()
    host.timeout = 1.0
    changes = P.plan_in_context(i, live, PlanContext())
    assert [c["seconds"] for c in changes if c["do"] == STOP_BOUND] == ([want] if want > stop_timeout_seconds(i) else [])
    P.apply(host, i, changes, {})
    (_op, params), = host.sent
    assert params["stopTimeoutSeconds"] == want
    assert STOP_BOUND not in [s["do"] for s in params["steps"]]
    assert host.timeout >= P.op_timeout + 2 * want      # the client waits as long as the host may
    # a delete (restore plan) is bounded the same way
    restore = P.restore_plan(i, {"service": {"name": "api", "exists": False}}, live)
    host = _Host()
    P.apply(host, i, restore, {})
    assert host.sent[0][1]["stopTimeoutSeconds"] == want


def test_a_swap_arms_the_rollback_and_a_leftover_previous_is_removed():
    i = _inputs(binarySha256=V2, **GATED)
    steps, rb = _split(P.plan_in_context(i, _live(), PlanContext()))
    assert [s for s in steps if s["do"] == "install_binary"] == [
        {"do": "install_binary", "path": EXE, "previous": EXE + ".previous", "armsRollback": True}]
    assert rb["onNotReady"][1] == {"do": "restore_binary", "path": EXE, "previous": EXE + ".previous"}
    # a leftover <exe>.previous (an apply that died) is removed by the next update's plan, and shows as drift
    live = dict(_live(), leftoverPrevious=EXE + ".previous")
    steps, _ = _split(P.plan_in_context(_inputs(description="x"), live, PlanContext()))
    assert steps == [{"do": "removeFile", "path": EXE + ".previous"}, {"do": "description", "value": "x"}]
    assert "leftoverPrevious" in P.drift(_inputs(), live) and "leftoverPrevious" not in P.drift(_inputs(), _live())
    # no swap: nothing arms a rollback (a failing step before or without a swap just fails)
    steps, rb = _split(P.plan_in_context(_inputs(arguments=["-v"], **GATED), _live(), PlanContext()))
    assert rb is not None and not any(s.get("armsRollback") for s in steps)


def test_service_name_lists_are_checked_the_same_way_everywhere():
    """Dependencies and baseline lists share one rule: service names only (no display names), no duplicates."""
    from components.windows_facts import service_name_list_problem

    assert service_name_list_problem(["RpcSs", "Dnscache"]) is None
    assert "not a service name" in service_name_list_problem(["RpcSs", "Print Spooler"])
    assert service_name_list_problem(["RpcSs", "rpcss"]).startswith("[1] 'rpcss' is listed twice")


def test_the_start_again_compensation_is_armed_at_the_first_stop():
    """Issue 11 item 15: the first stop-type step (here the dependent's) arms "start it again"; a plan
    that leaves the service stopped (disabled) arms nothing."""
    from components.host.windows_service import RESTART
    live = _live()
    live["dependents"] = [{"name": "worker", "status": "Running"}]
    i = _inputs(binarySha256=V2, **GATED)
    changes = P.plan_in_context(i, live, PlanContext())
    verbs = [c["do"] for c in changes]
    first = next(c for c in changes if c["do"] in ("stop", "stopOther", "restart"))
    assert first["do"] == "stopOther" and first.get("armsRestart") is True
    assert sum(1 for c in changes if c.get("armsRestart")) == 1
    again = next(c for c in changes if c["do"] == RESTART)["onStopped"]
    assert again == [{"do": "start"}, {"do": "startOther", "name": "worker"}]
    assert verbs.index("stopOther") < verbs.index("install_binary")
    off = P.plan_in_context(_inputs(binarySha256=V2, startMode="disabled"), _live(), PlanContext())
    assert RESTART not in [c["do"] for c in off] and not any(c.get("armsRestart") for c in off)

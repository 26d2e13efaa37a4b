"""The emulated SCM running the reference service's Linux build as the real process of a service.

Real counterpart: build/goservice/winfleet-refsvc (built by `make goservice`, which the fixture runs:
a no-op when the builds are current). Readiness is real HTTP on 127.0.0.1; stops are real drains;
exit codes drive the recovery actions as Windows applies them."""
from __future__ import annotations

import os
import re
import time
import urllib.request

import pytest

from tests.emulator.host_model import HostModel
from tests.emulator.windows.scm import DEMAND, ScmError, encode_failure_actions
from tests.emulator.windows.twin import REPORTED_EXIT_CODES
from tests.goservice.conftest import EXE, ROOT, wait_for

SVC = "orders-api"
EXE_PATH = r"C:\Program Files\winfleet\orders-api\orders-api.exe"


def make_service(m: HostModel, *, drain: int = 1, port: int = 8080, extra: list[str] | None = None) -> None:
    m.files.mkdir(r"C:\Program Files\winfleet\orders-api")
    with open(EXE, "rb") as f:
        m.files.write(EXE_PATH, f.read())
    m.scm.create(SVC, SVC, f'"{EXE_PATH}"', DEMAND, [], "LocalSystem")
    env = [f"WINFLEET_PORT={port}", r"WINFLEET_LOG_DIR=D:\logs\orders-api", "WINFLEET_LOG_MAX_SIZE_BYTES=1048576",
           "WINFLEET_LOG_MAX_FILES=3", "WINFLEET_HEALTH_PATH=/healthz", "WINFLEET_READINESS_PATH=/readyz",
           f"WINFLEET_DRAIN_SECONDS={drain}", "GOTRACEBACK=all", "REFSVC_TEST_ENDPOINTS=1"] + (extra or [])
    m.registry.set_value(r"HKLM\SYSTEM\CurrentControlSet\Services\orders-api", "Environment", "REG_MULTI_SZ", env)


def status(m: HostModel) -> str:
    with m.lock:
        return m.scm.status(SVC)


def start_ready(m: HostModel) -> None:
    with m.lock:
        m.scm.start(SVC)
        assert m.scm.status(SVC) in ("start_pending", "running")
    wait_for(lambda: status(m) == "running", 10, "Running")
    wait_for(lambda: m.http.probe(8080, "/readyz")["status"] == 200, 10, "ready")


def crash_url(m: HostModel, query: str) -> None:
    proc = m.scm.twins.for_port(8080)
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.real_port}/test/crash?{query}", timeout=5) as r:
        assert r.status == 202


@pytest.fixture
def m(twin_host):
    return twin_host


def test_start_polls_the_real_process_and_stop_drains_to_exit_zero(m):
    make_service(m, drain=1)
    with m.lock:
        m.scm.set_failure_actions(SVC, 60, [(1, 100)])
        m.scm.set_failure_actions_flag(SVC, True)
    start_ready(m)
    proc = m.scm.twins.for_port(8080)
    assert proc.real_port != 8080 and os.path.isdir(proc.log_dir)      # remapped port and log folder
    assert m.http.probe(8080, "/healthz")["status"] == 200
    assert m.http.probe(8080, "/nope")["status"] == 404                  # the real server answered
    t0 = time.monotonic()
    with m.lock:
        m.scm.stop(SVC)
        assert m.scm.status(SVC) == "stop_pending"
    # at once (as soon as the process got the signal), while still serving
    got = wait_for(lambda: (lambda g: g if g["status"] == 503 else None)(m.http.probe(8080, "/readyz")), 0.5,
                   "readiness 503 after the stop")
    assert "draining" in got["body"] and status(m) == "stop_pending"
    wait_for(lambda: status(m) == "stopped", 15, "Stopped")
    assert time.monotonic() - t0 >= 1.0                                  # it drained WINFLEET_DRAIN_SECONDS
    assert m.scm.twins.exited[-1]["exitCode"] == 0
    time.sleep(0.3)                                                      # longer than the restart delay
    assert status(m) == "stopped" and m.scm.failures[-1]["failure"] is False   # exit 0: no recovery
    assert m.http.probe(8080, "/readyz")["status"] is None               # nothing listens any more
    lines = [l for l in proc.log_lines() if l.get("msg") == "request"]
    assert len(lines) >= 4                                               # one line per request, real ones
    # SERVICE_STOP_PENDING as the SCM would see it: the checkpoint rises, each within the wait hint
    progress = proc.stop_progress()
    assert len(progress) >= 2 and [c for c, _ in progress] == list(range(1, len(progress) + 1))
    assert all(hint > 1000 for _, hint in progress)                     # > the 1 s between checkpoints


def test_crash_runs_the_failure_actions_and_the_reset_period(m):
    make_service(m)
    with m.lock:
        # restart after 0.2 s, then after 0.4 s; failure count reset after 3 s without a failure
        m.scm.set_failure_actions(SVC, 3, [(1, 200), (1, 400)])
    start_ready(m)
    pid1 = m.scm.twins.for_port(8080).pid
    crash_url(m, "mode=panic")
    wait_for(lambda: m.scm.failures, 10, "a failure")
    first = m.scm.failures[0]
    assert first == {"service": SVC, "exitCode": 2, "crash": True, "failure": True, "requestedStop": False,
                     "action": "restart", "failureCount": 1, "delayMs": 200}
    with m.lock:                                                        # what the SCM logged (7031: an action follows)
        crash_events = m.eventlogs.events("System", ids=[7031])
    assert len(crash_events) == 1 and "terminated unexpectedly" in str(crash_events[0])
    wait_for(lambda: status(m) == "running" and m.http.probe(8080, "/readyz")["status"] == 200, 10, "restarted")
    pid2 = m.scm.twins.for_port(8080).pid
    assert pid2 != pid1
    # the restarted process found the crash: its trace was kept and event 110 says so
    proc2 = m.scm.twins.for_port(8080)
    ev = [l for l in proc2.log_lines() if l.get("msg") == "event"]
    assert ev[0]["eventId"] == 110 and "fatal trace" in ev[0]["text"]
    # second failure within the reset period: the second action (0.4 s)
    crash_url(m, "mode=exit&code=3")                                     # exit 3: not a reported stop
    wait_for(lambda: len(m.scm.failures) == 2, 10, "second failure")
    assert m.scm.failures[1]["failureCount"] == 2 and m.scm.failures[1]["delayMs"] == 400
    wait_for(lambda: status(m) == "running" and m.http.probe(8080, "/readyz")["status"] == 200, 10, "restarted")
    # no failure for longer than the reset period: the count starts again at 1
    time.sleep(3.2)
    crash_url(m, "mode=panic")
    wait_for(lambda: len(m.scm.failures) == 3, 10, "third failure")
    assert m.scm.failures[2]["failureCount"] == 1 and m.scm.failures[2]["delayMs"] == 200
    wait_for(lambda: status(m) == "running", 10, "restarted")


@pytest.mark.parametrize("flag", [False, True])
def test_reported_failure_restarts_only_with_the_non_crash_flag(m, flag):
    make_service(m)
    with m.lock:
        m.scm.set_failure_actions(SVC, 60, [(1, 100)])
        m.scm.set_failure_actions_flag(SVC, flag)
    start_ready(m)
    crash_url(m, "mode=exit&code=14")                 # the code the service reports for a server failure
    wait_for(lambda: m.scm.failures, 10, "the exit")
    f = m.scm.failures[0]
    assert f["crash"] is False and f["exitCode"] == 14 and f["failure"] is flag
    with m.lock:
        assert len(m.eventlogs.events("System", ids=[7024])) == 1     # "terminated with service-specific error"
    assert f["action"] == ("restart" if flag else None)
    if flag:
        wait_for(lambda: status(m) == "running", 10, "restarted")
    else:
        time.sleep(0.4)
        assert status(m) == "stopped"


def test_a_start_failure_is_the_processes_own(m):
    make_service(m, extra=["WINFLEET_DRAIN_SECONDS=-1"])        # the later duplicate wins: invalid
    with m.lock:
        m.scm.start(SVC)
    wait_for(lambda: status(m) == "stopped", 10, "the process to exit")
    assert m.scm.twins.exited[-1]["exitCode"] == 10             # ExitConfig, reported: not a crash
    assert m.scm.failures[-1]["crash"] is False


def test_stop_pending_refuses_a_start_and_host_stop_kills_every_process(twin_lab):
    host = twin_lab.hosts[0]
    m = host.model
    make_service(m, drain=30)
    start_ready(m)
    proc = m.scm.twins.for_port(8080)
    with m.lock:
        m.scm.stop(SVC)
        with pytest.raises(ScmError) as e:
            m.scm.start(SVC)
    assert e.value.code == 1056
    host.stop()                                                  # the emulated host goes away mid-drain
    assert proc.exit_code() is not None
    assert not os.path.exists(f"/proc/{proc.pid}") or open(f"/proc/{proc.pid}/stat").read().split()[2] == "Z"


def test_reported_exit_codes_match_the_go_constants():
    src = open(os.path.join(ROOT, "goservice", "internal", "refsvc", "service.go")).read()
    block = src.split("const (", 1)[1].split(")", 1)[0]
    codes = {int(v) for v in re.findall(r"^\s*Exit\w+\s*=\s*(\d+)", block, re.M)}
    assert codes == set(REPORTED_EXIT_CODES)


def test_failure_actions_round_trip():
    from tests.emulator.windows.scm import decode_failure_actions
    assert decode_failure_actions(encode_failure_actions(86400, [(1, 5000), (0, 0)])) == (86400, [(1, 5000), (0, 0)])
    assert decode_failure_actions(None) == (0, [])


def add_service(m: HostModel, name: str, port: int, drain: int, accepted: str | None = None,
                preshutdown_ms: int | None = None) -> None:
    d = rf"C:\Program Files\winfleet\{name}"
    m.files.mkdir(d)
    with open(EXE, "rb") as f:
        m.files.write(d + rf"\{name}.exe", f.read())
    m.scm.create(name, name, f'"{d}\\{name}.exe"', DEMAND, [], "LocalSystem")
    env = [f"WINFLEET_PORT={port}", rf"WINFLEET_LOG_DIR=D:\logs\{name}", f"WINFLEET_DRAIN_SECONDS={drain}",
           "REFSVC_TEST_ENDPOINTS=1"] + ([f"REFSVC_TEST_ACCEPTED={accepted}"] if accepted else [])
    m.registry.set_value(rf"HKLM\SYSTEM\CurrentControlSet\Services\{name}", "Environment", "REG_MULTI_SZ", env)
    if preshutdown_ms is not None:
        m.scm.set_preshutdown_timeout(name, preshutdown_ms)
    m.scm.set_failure_actions(name, 60, [(1, 100)])
    m.scm.start(name)


def test_system_shutdown_gives_the_preshutdown_timeout_only_to_services_that_accept_it(m):
    m.scm.shutdown_wait_seconds = 1.0
    with m.lock:
        add_service(m, "drains", 8081, drain=1, preshutdown_ms=10000)                 # fits its timeout
        add_service(m, "too-long", 8082, drain=30, preshutdown_ms=2000)               # drain > timeout
        add_service(m, "no-pre", 8083, drain=3, accepted="stop,shutdown", preshutdown_ms=10000)
    for port in (8081, 8082, 8083):
        wait_for(lambda: m.http.probe(port, "/readyz")["status"] == 200, 10, f"ready on {port}")
    got = {r["service"]: r for r in m.scm.system_shutdown()}
    assert got["drains"]["phase"] == "preshutdown" and got["drains"]["exitCode"] == 0 and not got["drains"]["killed"]
    assert got["too-long"]["phase"] == "preshutdown" and got["too-long"]["killed"]
    assert 1.9 <= got["too-long"]["seconds"] < 4                   # cut at its pre-shutdown timeout
    # without PreShutdown: only the short SHUTDOWN wait, whatever its pre-shutdown timeout says
    assert got["no-pre"]["phase"] == "shutdown" and got["no-pre"]["killed"]    # its 3 s drain never finished
    with m.lock:
        assert all(m.scm.status(n) == "stopped" for n in got)
    assert m.scm.failures == []                                    # going down is no failure
    time.sleep(0.3)
    with m.lock:
        assert all(m.scm.status(n) == "stopped" for n in got)      # no recovery restart on the way down


def test_the_secrets_file_reaches_the_real_process_and_no_value_is_logged(m):
    secret_value = "s3cr3t-" + "x" * 12
    m.files.add_drive("D")
    m.files.mkdir(r"D:\data\orders-api")
    m.files.write(r"D:\data\orders-api\secrets.json", ('{"DB_PASSWORD": "%s"}' % secret_value).encode())
    make_service(m, extra=[r"WINFLEET_SECRETS_FILE=D:\data\orders-api\secrets.json"])
    start_ready(m)
    proc = m.scm.twins.for_port(8080)
    started = next(l for l in proc.log_lines() if l.get("msg") == "started")
    assert started["secrets"] == 1                                     # read: one name
    with m.lock:
        m.scm.stop(SVC)
    wait_for(lambda: status(m) == "stopped", 15, "Stopped")
    for name in os.listdir(proc.log_dir):
        with open(os.path.join(proc.log_dir, name), "rb") as f:
            assert secret_value.encode() not in f.read(), name


def test_an_unreadable_secrets_file_is_a_reported_failure(m):
    make_service(m, extra=[r"WINFLEET_SECRETS_FILE=D:\data\orders-api\missing.json"])
    with m.lock:
        m.scm.start(SVC)
    wait_for(lambda: status(m) == "stopped", 10, "the process to exit")
    assert m.scm.twins.exited[-1]["exitCode"] == 12 and m.scm.failures[-1]["crash"] is False

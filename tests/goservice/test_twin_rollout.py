"""WindowsService through the real dynamic-provider host against an emulated host whose SCM runs the
reference service's Linux twin: the readiness gate, a roll-out's stop (drain, 503 before exit, the
in-flight request finishing), exit code 0, and the PreShutdown check — all against the real process."""
from __future__ import annotations

import hashlib
import threading
import time
import urllib.request

import pytest

from components import sizing
from components.host.windows_service import WindowsServiceProvider
from tests.goservice.conftest import EXE, wait_for
from tests.providers.harness import ProviderError, ProviderHost

URL1 = "https://artifacts.lab.winfleet.test/winfleet-refsvc.exe"
URL2 = "https://artifacts.lab.winfleet.test/v2/winfleet-refsvc.exe"


@pytest.fixture(scope="module")
def provider_host():
    with ProviderHost() as ph:
        yield ph


@pytest.fixture
def res(provider_host):
    return provider_host.resource(WindowsServiceProvider())


@pytest.fixture
def builds(twin_lab, refsvc_builds):
    """v1 = the published Windows build; v2 = the same build with a trailer (another SHA-256), whose
    twin is the same Linux build: two releases of the reference service."""
    h = twin_lab.hosts[0]
    v1 = open(EXE, "rb").read()
    v2 = v1 + b"\0winfleet-refsvc v2"
    h.model.files.add_drive("D")
    h.model.files.downloads[URL1] = v1
    h.model.files.downloads[URL2] = v2
    h.model.scm.twins.register(hashlib.sha256(v2).hexdigest(), refsvc_builds + "/winfleet-refsvc")
    return h, hashlib.sha256(v1).hexdigest(), hashlib.sha256(v2).hexdigest()


def inputs(h, sha: str, url: str = URL1, extra_env: dict | None = None, **kw) -> dict:
    env = sizing.service_environment(dict(extra_env or {}), log_dir=r"D:\logs\refsvc", log_max_size_bytes=1 << 20,
                                     log_max_files=3, dumps_enabled=False, service="refsvc", port=8080,
                                     health_path="/healthz", readiness_path="/readyz", drain_seconds=1,
                                     event_source="refsvc")
    out = {"connection": dict(h.endpoint), "serviceName": "refsvc", "binaryUrl": url, "binarySha256": sha,
           "exeName": "winfleet-refsvc.exe", "environment": env, "preshutdownTimeoutSeconds": 30,
           "recovery": {"actions": [{"action": "restart", "delaySeconds": 1}], "resetPeriodSeconds": 60,
                        "failureActionsOnNonCrash": True},
           "eventSource": {"logName": "Application"},
           "logs": {"directory": r"D:\logs\refsvc", "maxSizeBytes": 1 << 20, "maxFiles": 3},
           "port": 8080, "healthPath": "/healthz", "readinessPath": "/readyz",
           "readinessTimeoutSeconds": 10, "readinessPollSeconds": 0.1}
    out.update(kw)
    return out


def test_rollout_stop_drains_the_real_process_and_the_gate_meets_the_new_one(builds, res):
    h, sha1, sha2 = builds
    m = h.model
    rid, outs = res.create(res.checked(inputs(h, sha1)))
    st = outs["state"]
    assert st["service"]["status"] == "Running" and st["warnings"] == []
    assert int(st["service"]["controlsAccepted"]) & 0x105 == 0x105       # stop | shutdown | preshutdown
    assert st["readiness"]["ready"] is True
    v1 = m.scm.twins.for_port(8080)

    # a request in flight when the roll-out stops v1: it must finish (200) during the drain
    got = {}

    def long_request():
        with urllib.request.urlopen(f"http://127.0.0.1:{v1.real_port}/work?ms=1500", timeout=10) as r:
            got["status"], got["body"] = r.status, r.read().decode()
    t = threading.Thread(target=long_request)
    t.start()
    time.sleep(0.2)                                                     # the request is on its way
    outs = res.update(rid, outs, res.checked(inputs(h, sha2, URL2)))
    t.join(10)
    st = outs["state"]
    assert got.get("status") == 200
    assert st["drain"]["notReadyBeforeExit"] is True and st["drain"]["probes"] >= 1
    assert st["warnings"] == []
    assert [s["do"] for s in st["steps"]][:2] == ["download", "stop"]
    assert m.scm.twins.exited[-1] == {"service": "refsvc", "pid": v1.pid, "exitCode": 0, "requested": True}
    assert m.scm.failures[-1]["failure"] is False                          # exit 0 on a requested stop
    v2 = m.scm.twins.for_port(8080)
    assert v2.pid != v1.pid and st["binary"]["sha256"] == sha2 and st["service"]["status"] == "Running"

    res.delete(rid, outs)
    assert v2.exit_code() == 0 and m.scm.twins.for_port(8080) is None and not m.scm.exists("refsvc")


def test_a_service_that_does_not_accept_preshutdown_is_refused(builds, res):
    h, sha1, _ = builds
    bad = {"REFSVC_TEST_ENDPOINTS": "1", "REFSVC_TEST_ACCEPTED": "stop,shutdown"}
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(inputs(h, sha1, extra_env=bad)))
    assert "PRESHUTDOWN_NOT_ACCEPTED" in e.value.details and "svc.AcceptPreShutdown" in e.value.details
    assert not h.model.scm.exists("refsvc")                               # the failed create was cleaned up
    assert h.model.scm.twins.for_port(8080) is None


def test_preshutdown_check_warn_creates_and_warns(builds, res):
    h, sha1, _ = builds
    bad = {"REFSVC_TEST_ENDPOINTS": "1", "REFSVC_TEST_ACCEPTED": "stop,shutdown"}
    rid, outs = res.create(res.checked(inputs(h, sha1, extra_env=bad, preshutdownCheck="warn")))
    st = outs["state"]
    assert st["service"]["status"] == "Running"
    assert len(st["warnings"]) == 1 and "does not accept SERVICE_CONTROL_PRESHUTDOWN" in st["warnings"][0]
    # back to refuse: an update that starts nothing refuses nothing (it still warns) ...
    outs = res.update(rid, outs, res.checked(inputs(h, sha1, extra_env=bad, description="new text")))
    assert outs["state"]["service"]["status"] == "Running" and len(outs["state"]["warnings"]) == 1
    # ... one that restarts the program is refused and rolled back to what ran before
    with pytest.raises(ProviderError) as e:
        res.update(rid, outs, res.checked(inputs(h, sha1, extra_env=dict(bad, APP_MODE="x"))))
    assert "PRESHUTDOWN_NOT_ACCEPTED" in e.value.details and "rolled back" in e.value.details
    res.delete(rid, outs)

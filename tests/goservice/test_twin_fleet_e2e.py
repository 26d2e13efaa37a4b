"""End to end with real processes: the lab stack's program (under the e2e engine, real dynamic-provider
host, WinRM) deploys the reference service to 2 emulated hosts whose SCM runs its Linux twin. The first
run's readiness gate meets the real server; a new build rolls host by host, each host's stop a real
drain (readiness 503 before the process exits, exit code 0, an in-flight request finishing); destroy
stops every process."""
from __future__ import annotations

import copy
import hashlib
import threading
import time
import urllib.request

import pytest

from tests.e2e.lab_stack import LabStack
from tests.emulator import Lab
from tests.goservice.conftest import EXE

pytestmark = pytest.mark.slow
HOSTS = ["lab-0", "lab-1"]
URL = "https://artifacts.lab.winfleet.test/{v}/winfleet-refsvc.exe"


@pytest.fixture
def lab(refsvc_builds):
    with Lab(names=HOSTS) as lab:
        lab.register_twins(refsvc_builds)
        yield lab


def publish(lab, version: str, data: bytes) -> dict:
    ref = {"url": URL.format(v=version), "sha256": hashlib.sha256(data).hexdigest()}
    for h in lab.hosts:
        with h.model.lock:
            h.model.files.downloads[ref["url"]] = data
            # a second release of the same source: its twin is the same Linux build
            h.model.scm.twins.builds.setdefault(ref["sha256"], next(iter(h.model.scm.twins.builds.values())))
    return ref


def ws_outputs(stack: LabStack, host: str) -> dict:
    for e in stack.checkpoint().values():
        if e["type"].endswith("WindowsService") and e["name"] == f"orders-api@{host}":
            return e["outputs"]
    raise KeyError(host)


def test_the_lab_program_deploys_rolls_and_destroys_the_real_service(lab, tmp_path):
    v1 = open(EXE, "rb").read()
    v2 = v1 + b"\0v2"
    stack = LabStack(lab, tmp_path, readiness_timeout=15)
    svc = copy.deepcopy(stack.service("orders-api"))
    svc["binary"] = publish(lab, "1.0.0", v1)
    svc["preshutdownTimeoutSeconds"] = 10
    stack.raw["services"] = [svc]
    # the shortest drain Azure allows: one 5 s probe interval, no extra allowance
    stack.raw["loadBalancer"] = {"probeIntervalSeconds": 5, "unhealthyThreshold": 1, "drainSeconds": 0}

    first = stack.up()
    assert first.error is None, first.error
    procs = {}
    for h in HOSTS:
        st = ws_outputs(stack, h)["state"]
        assert st["readiness"]["ready"] is True and st["service"]["status"] == "Running"
        assert st["warnings"] == [] and int(st["service"]["controlsAccepted"]) & 0x100
        procs[h] = lab.host(h).model.scm.twins.for_port(svc["port"])
        env = dict(e.split("=", 1) for e in lab.host(h).model.registry.get_value(
            r"HKLM\SYSTEM\CurrentControlSet\Services\orders-api", "Environment")[1])
        assert env["WINFLEET_DRAIN_SECONDS"] == "5" and env["WINFLEET_READINESS_PATH"] == svc.get("readinessPath", "/readyz")

    # a request in flight on lab-0 when the roll-out stops it
    got = {}

    def long_request():
        url = f"http://127.0.0.1:{procs['lab-0'].real_port}/work?ms=2000"
        with urllib.request.urlopen(url, timeout=20) as r:
            got["status"] = r.status
    t = threading.Thread(target=long_request)
    t.start()
    time.sleep(0.2)
    stack.raw["services"][0]["binary"] = publish(lab, "1.1.0", v2)
    second = stack.up()
    t.join(20)
    assert second.error is None, second.error
    assert got.get("status") == 200
    steps = sorted((s for s in second.changes if s.name.startswith("orders-api@")), key=lambda s: s.start)
    assert [s.name for s in steps] == [f"orders-api@{h}" for h in HOSTS]
    assert steps[0].end <= steps[1].start                                  # host by host
    for h in HOSTS:
        m = lab.host(h).model
        st = ws_outputs(stack, h)["state"]
        assert st["drain"]["notReadyBeforeExit"] is True, st["drain"]     # 503 before the process was gone
        assert st["warnings"] == []
        old = [x for x in m.scm.twins.exited if x["pid"] == procs[h].pid]
        assert old == [{"service": "orders-api", "pid": procs[h].pid, "exitCode": 0, "requested": True}]
        assert all(f["failure"] is False for f in m.scm.failures)         # no recovery action ran
        new = m.scm.twins.for_port(svc["port"])
        assert new.pid != procs[h].pid and st["binary"]["sha256"] == hashlib.sha256(v2).hexdigest()

    # the stack output shows it per host (`pulumi stack output services`)
    outputs = stack.stack_outputs()["services"]["orders-api"]["hosts"]
    for h in HOSTS:
        assert outputs[h]["notReadyBeforeExit"] is True and outputs[h]["warnings"] == []
        assert outputs[h]["state"] == "Running"

    gone = stack.destroy()
    assert gone.error is None, gone.error
    for h in HOSTS:
        m = lab.host(h).model
        assert m.scm.twins.for_port(svc["port"]) is None and not m.scm.exists("orders-api")
        assert all(p.exit_code() is not None for p in m.scm.twins.procs)

"""ServiceWatchdog through the real dynamic-provider host against the emulator, whose task scheduler
runs the registered watchdog's logic (issue 14 item 5)."""
from __future__ import annotations

import pytest

from components.host.service_watchdog import ServiceWatchdogProvider, render_script
from tests.providers.conftest import connection, host_snapshot, journal
from tests.providers.harness import ProviderError

PATH, NAME = "\\winfleet\\", "watchdog-api"


@pytest.fixture
def res(provider_host):
    return provider_host.resource(ServiceWatchdogProvider())


def props(h, **kw):
    out = {"connection": connection(h), "serviceName": "api", "port": 8080, "healthPath": "/healthz",
           "intervalSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2}
    out.update(kw)
    return out


@pytest.fixture
def running_api(lab):
    m = lab.hosts[0].model
    m.scm.create("api", "api", r"C:\api.exe")
    m.files.write(r"C:\api.exe", b"MZ api")
    m.scm.start("api")
    m.http.serve(8080, service="api", mode="ready")
    return m


def test_watchdog_restarts_a_running_but_dead_service_after_n_failures(res, lab, running_api):
    m = running_api
    before = host_snapshot(m)
    rid, outs = res.create(res.checked(props(lab.hosts[0])))
    task = m.tasks.get(PATH, NAME)
    assert task["state"] == "Running" and task["userId"] == "SYSTEM" and task["triggers"] == ["boot"]
    assert journal(m)[f"ServiceWatchdog/api"]["prior"] == {"task": {"exists": False}}

    assert [m.tasks.tick(PATH, NAME) for _ in range(5)] == ["healthy"] * 5
    started = m.scm.started_at("api")
    m.http.serve(8080, service="api", mode="status", status=500, body="deadlocked")   # Running, but dead
    assert [m.tasks.tick(PATH, NAME) for _ in range(3)] == ["failed", "failed", "restarted"]
    assert m.scm.status("api") == "running" and m.scm.started_at("api") != started
    assert m.tasks.history == [{"task": NAME, "service": "api", "action": "restarted"}]
    # one good answer resets the count
    m.http.serve(8080, service="api", mode="ready")
    assert m.tasks.tick(PATH, NAME) == "healthy"
    m.http.serve(8080, service="api", mode="status", status=500)
    assert [m.tasks.tick(PATH, NAME) for _ in range(2)] == ["failed", "failed"]
    m.http.serve(8080, service="api", mode="ready")
    assert m.tasks.tick(PATH, NAME) == "healthy"

    # a stopped service (an update, an operator) is never started by the watchdog
    m.scm.stop("api")
    assert [m.tasks.tick(PATH, NAME) for _ in range(4)] == ["skipped"] * 4
    assert m.scm.status("api") == "stopped"
    m.scm.start("api")

    # converged: no change; the task stopped behind our back is drift, the update starts it again
    assert res.update(rid, outs, res.checked(props(lab.hosts[0])))["changed"] is False
    m.tasks.stop(PATH, NAME)
    _, read = res.read(rid, outs)
    assert read["drift"] == ["failureThreshold"]
    outs = res.update(rid, read, res.checked(props(lab.hosts[0])))
    assert m.tasks.get(PATH, NAME)["state"] == "Running"

    # a new threshold re-registers the task with the new configuration (data, not code)
    outs = res.update(rid, outs, res.checked(props(lab.hosts[0], failureThreshold=1)))
    m.http.serve(8080, service="api", mode="status", status=500)
    assert m.tasks.tick(PATH, NAME) == "restarted"

    m.http.serve(8080, service="api", mode="ready")
    res.delete(rid, outs)
    assert m.tasks.get(PATH, NAME) is None and not m.tasks.folder_exists(PATH), "no task, no \\winfleet folder"
    after = host_snapshot(m)
    for k in ("tasks", "registry"):
        assert after[k] == before[k], k


def test_a_service_that_will_not_stop_is_killed_and_left_to_scm_recovery(res, lab, running_api, monkeypatch):
    m = running_api
    rid, outs = res.create(res.checked(props(lab.hosts[0], failureThreshold=1)))
    m.http.serve(8080, service="api", mode="status", status=503)

    def hung_stop(name):
        raise RuntimeError("the service did not respond to the stop request in time")
    monkeypatch.setattr(m.scm, "stop", hung_stop)
    assert m.tasks.tick(PATH, NAME) == "killed"
    assert m.scm.status("api") == "stopped"
    assert [e["id"] for e in m.eventlogs.events("System", ids=[7031, 7034])] == [7034], "the SCM logged the crash"
    monkeypatch.undo()
    res.delete(rid, outs)


def test_a_foreign_task_with_our_name_is_refused(res, lab, running_api):
    m = running_api
    m.tasks.add_foreign_task(PATH, NAME)
    snap = host_snapshot(m)
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(props(lab.hosts[0])))
    assert "not created by winfleet" in e.value.details
    assert host_snapshot(m) == snap


def test_the_emulator_refuses_to_run_a_tampered_watchdog(lab):
    import base64
    m = lab.hosts[0].model
    script = render_script({"service": "api", "port": 8080, "path": "/healthz", "intervalSeconds": 10,
                            "failureThreshold": 3, "timeoutSeconds": 2, "stopTimeoutSeconds": 30})
    bad = script.replace("$failures++", "$failures += 2")
    args = ("-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
            + base64.b64encode(bad.encode("utf-16-le")).decode())
    m.tasks.register(PATH, NAME, execute="powershell.exe", arguments=args)
    from tests.emulator.windows.tasks import TaskError
    with pytest.raises(TaskError):
        m.tasks.start(PATH, NAME)


@pytest.mark.parametrize("field,value,words", [
    ("healthPath", "/h'; Restart-Computer; '", "no spaces, quotes"),
    ("intervalSeconds", 2, "greater than or equal to 5"),
    ("timeoutSeconds", 30, "must be below intervalSeconds"),
    ("serviceName", "a b", "not a winfleet service name"),
])
def test_check_rejects_bad_inputs(res, lab, field, value, words):
    _, failures = res.check(props(lab.hosts[0], **{field: value}))
    assert failures and words in failures[0][1], failures

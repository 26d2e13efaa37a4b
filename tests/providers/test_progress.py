"""Progress during long host work (issue 14 item 8), through the real provider host started as the CLI
starts it (``python -m pulumi.dynamic <engine address>``) with a stand-in Engine service recording Log.

Checked: the step and its progress arrive *while* the op runs (ephemeral INFO: the CLI's live status),
they name the resource, and a host op's stderr progress lines never leak into results or errors."""
from __future__ import annotations

import hashlib
import time

import pytest

from components.host.windows_service import WindowsServiceProvider
from tests.providers.conftest import connection
from tests.providers.engine_double import EngineDouble
from tests.providers.harness import ProviderError, ProviderHost

V1 = b"MZ\x90\x00 progress test v1"
V2 = b"MZ\x90\x00 progress test v2"
URL1 = "https://artifacts.example.test/api/1.0.0/api.exe"
URL2 = "https://artifacts.example.test/api/1.1.0/api.exe"


@pytest.fixture(scope="module")
def engine():
    e = EngineDouble()
    yield e
    e.close()


@pytest.fixture(scope="module")
def cli_provider_host(engine):
    with ProviderHost(args=(engine.address,)) as ph:
        yield ph


def inputs(h, url=URL1, data=V1, **kw):
    out = {"connection": connection(h), "serviceName": "api", "binaryUrl": url,
           "binarySha256": hashlib.sha256(data).hexdigest(), "port": 8080, "readinessPath": "/readyz",
           "readinessTimeoutSeconds": 5, "readinessPollSeconds": 0.2, "preshutdownTimeoutSeconds": 30}
    out.update(kw)
    return out


def test_readiness_and_drain_progress_stream_to_the_engine_while_the_op_runs(cli_provider_host, engine, lab):
    h = lab.hosts[0]
    m = h.model
    m.files.downloads[URL1] = V1
    m.files.downloads[URL2] = V2
    m.http.serve(8080, service="api", mode="after", after_seconds=1.0)
    res = cli_provider_host.resource(WindowsServiceProvider())
    start = len(engine.logs)
    rid, outs = res.create(res.checked(inputs(h)))
    done = time.monotonic()
    logs = engine.logs[start:]
    ready = [l for l in logs if "[readiness] waiting for readiness" in l["message"]]
    assert len(ready) >= 3, [l["message"] for l in logs]
    assert all(l["ephemeral"] and l["severity"] == "info" for l in ready), "live status, not summary noise"
    assert all(l["message"].startswith(f"WindowsService 'api' on {h.name}: ") for l in ready)
    assert "attempt 1: HTTP 503" in ready[0]["message"] and "/5 s" in ready[0]["message"]
    assert ready[-1]["message"].endswith("HTTP 200)")
    # streamed: the first report came well before the op returned, not with the final output
    assert done - ready[0]["at"] >= 0.7, (done - ready[0]["at"])
    # each op is announced as a step
    assert any(l["message"].endswith("[service.apply] started") for l in logs)
    assert "#winfleet:progress" not in str(outs), "progress lines never reach the result"

    # an update that swaps the binary stops the service first: the drain is shown
    start = len(engine.logs)
    outs = res.update(rid, outs, res.checked(inputs(h, url=URL2, data=V2)))
    drain = [l["message"] for l in engine.logs[start:] if "[stop]" in l["message"]]
    assert drain and "stopping api: draining, up to" in drain[0], [l["message"] for l in engine.logs[start:]]
    res.delete(rid, outs)


def test_progress_lines_stay_out_of_error_messages(cli_provider_host, engine, lab):
    h = lab.hosts[0]
    m = h.model
    m.files.downloads[URL1] = V1
    m.http.serve(8080, service="api", mode="never", status=503, body="warming up")
    res = cli_provider_host.resource(WindowsServiceProvider())
    with pytest.raises(ProviderError) as e:
        res.create(res.checked(inputs(h, readinessTimeoutSeconds=1)))
    assert "NOT_READY" in e.value.details and "#winfleet:progress" not in e.value.details


def test_without_an_engine_address_nothing_is_sent(provider_host, engine, lab):
    """The provider host started without the address (tests, the offline gate): no progress, no error."""
    h = lab.hosts[0]
    h.model.files.downloads[URL1] = V1
    h.model.http.serve(8080, service="api", mode="ready")
    res = provider_host.resource(WindowsServiceProvider())
    start = len(engine.logs)
    rid, outs = res.create(res.checked(inputs(h)))
    res.delete(rid, outs)
    assert engine.logs[start:] == []


def test_progress_lines_are_dropped_from_stderr_text_used_in_errors():
    from components.winrm import executor
    raw = (b'#winfleet:progress {"step":"readiness","message":"waiting 1/5 s"}\r\n'
           b"Access is denied.\r\n  #winfleet:progress {\"step\":\"stop\",\"message\":\"x\"}\r\n")
    assert executor._clean_stderr(raw) == "Access is denied."


def test_a_progress_line_split_across_receive_chunks_is_delivered_once():
    from components.winrm import executor
    got = []
    lines = executor._ProgressLines(got.append)
    line = b'#winfleet:progress {"step":"stop","message":"stopping api: draining, up to 30 s"}\r\n'
    lines.feed(b"noise\r\n" + line[:20])
    assert got == []
    lines.feed(line[20:] + b"#winfleet:progress not json\r\n")
    assert got == [{"step": "stop", "message": "stopping api: draining, up to 30 s"}]


def _recovery():
    return {"actions": [{"action": "restart", "delaySeconds": 5}], "resetPeriodSeconds": 86400,
            "failureActionsOnNonCrash": True}


def test_refresh_reports_crashes_since_the_last_apply_as_output_and_warning(cli_provider_host, engine, lab):
    """Issue 14 item 4: SCM 7031/7034/7024 and WER 1000/1001 since appliedAt, per service."""
    h = lab.hosts[0]
    m = h.model
    m.files.downloads[URL1] = V1
    m.http.serve(8080, service="api", mode="ready")
    res = cli_provider_host.resource(WindowsServiceProvider())
    rid, outs = res.create(res.checked(inputs(h, displayName="Orders API", recovery=_recovery())))
    assert outs["appliedAt"].endswith("Z")
    # an event from before the apply does not count
    m.eventlogs.write("System", "Service Control Manager", 7034, properties=["Orders API", "1"],
                      time_created=time.time() - 3600)
    # another service's crash does not count either
    m.eventlogs.write("System", "Service Control Manager", 7031, properties=["Other Service", "1"])
    _, read = res.read(rid, outs)
    assert read["crashes"]["crashes"] == 0 and read["crashes"]["events"] == []

    start = len(engine.logs)
    for _ in range(3):                      # the SCM restarts it each time (recovery: restart)
        m.scm.crash("api")
        m.scm.start("api")
    _, read = res.read(rid, outs)
    c = read["crashes"]
    assert (c["restarts"], c["crashes"], c["werReports"]) == (3, 3, 6), c
    assert c["since"] == outs["appliedAt"]
    assert {e["id"] for e in c["events"]} == {7031, 1000, 1001}
    warns = [l for l in engine.logs[start:] if l["severity"] == "warning"]
    assert len(warns) == 1 and not warns[0]["ephemeral"], "a diagnostic the CLI keeps in its summary"
    assert warns[0]["message"].startswith(f"WindowsService 'api' on {h.name}: restarted 3 times since "
                                          f"{outs['appliedAt']}")
    assert "crashEvents" not in read["state"]
    assert res.diff(rid, read, res.checked(inputs(h, displayName="Orders API", recovery=_recovery())))["changes"] \
        == "none", "the new outputs are not inputs: a refresh alone never causes an update"

    # a stop with a service-specific exit code, no restart: 7024
    m.scm.crash("api", service_exit_code=3)
    _, read = res.read(rid, outs)
    assert read["crashes"]["crashes"] == 4 and read["crashes"]["events"][-1]["id"] == 7024

    # the next apply starts a new window
    m.scm.start("api")
    outs = res.update(rid, read, res.checked(inputs(h, displayName="Orders API", recovery=_recovery(),
                                                    description="new")))
    _, read = res.read(rid, outs)
    assert read["crashes"]["crashes"] == 0
    res.delete(rid, outs)

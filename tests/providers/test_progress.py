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

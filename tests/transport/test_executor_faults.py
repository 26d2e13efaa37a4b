"""Each fault the emulator can produce, and the executor's reaction: retry, recreate, or a clear error."""
from __future__ import annotations

import threading
import time

import pytest

from components.winrm import (AuthenticationFailed, Endpoint, EnvelopeTooLarge, HostUnreachable,
                              MalformedOutput, OperationTimedOut, ShellQuotaExceeded, TlsValidationFailed,
                              close_all_shells, executor, run_op)
from components.winrm.pool import POOL
from tests.emulator import Lab, Limits
from tests.emulator.tls import TestCA


def actions(h, name):
    return h.counters.snapshot()["actions"].get(name, 0)


def injected(h, kind):
    return h.counters["faults_injected"].get(kind, 0)


def test_receive_operation_timeout_fault_is_polled_again(lab):
    h = lab.hosts[0]
    before = injected(h, "timeout")
    h.faults.add("timeout", action="Receive", count=2)
    got = run_op(h.endpoint, "host.info", {"echo": 1})
    assert got["state"]["echo"] == 1
    assert injected(h, "timeout") == before + 2


def test_long_op_survives_real_receive_timeouts(lab, monkeypatch):
    """The op runs longer than OperationTimeout: the host answers w:TimedOut, we Receive again."""
    h = lab.hosts[0]
    monkeypatch.setattr(executor, "OPERATION_TIMEOUT_MAX", 1)
    h.faults.set_op_delay(2.2, "host.info")
    before = h.counters["receive_timeouts"]
    got = run_op(h.endpoint, "host.info", {"echo": "slow"}, timeout=20)
    assert got["state"]["echo"] == "slow"
    assert h.counters["receive_timeouts"] - before >= 1


def test_deadline_stops_a_hung_op_and_discards_the_shell(lab):
    h = lab.hosts[1]
    h.faults.set_op_delay(4.0, "host.info")
    deleted = h.counters["shells_deleted"]
    t0 = time.monotonic()
    with pytest.raises(OperationTimedOut) as info:
        run_op(h.endpoint, "host.info", {}, timeout=1.5)
    elapsed = time.monotonic() - t0
    assert elapsed < 3.5, elapsed
    assert (info.value.host, info.value.op, info.value.code) == (h.name, "host.info", "OP_TIMEOUT")
    assert h.counters["shells_deleted"] == deleted + 1      # the shell in unknown state was closed
    assert h.shells_open == 0 and POOL.stats()["total"] == 0


@pytest.mark.parametrize("kind,action", [("quota", "Command"), ("unknown_shell", "Command"),
                                         ("unknown_shell", "Send"), ("max_shells", "Create")])
def test_shell_faults_recreate_the_shell_once(lab, kind, action):
    h = lab.hosts[0]
    run_op(h.endpoint, "host.info", {})          # a pooled shell exists
    created = h.counters["shells_created"]
    before = injected(h, kind)
    h.faults.add(kind, action=action)
    if action == "Create":
        close_all_shells()
        created = h.counters["shells_created"]
    assert run_op(h.endpoint, "host.info", {"echo": kind})["state"]["echo"] == kind
    assert injected(h, kind) == before + 1
    assert h.counters["shells_created"] == created + 1


def test_quota_twice_is_a_clear_error(lab):
    h = lab.hosts[0]
    h.faults.add("quota", action="Command", count=2)
    with pytest.raises(ShellQuotaExceeded) as info:
        run_op(h.endpoint, "host.info", {})
    assert info.value.wmi_code == executor.WSMAN_QUOTA_MAX_OPERATIONS
    assert "maximum number of" in info.value.message
    close_all_shells()
    assert h.shells_open == 0


def test_real_operations_limit_recreates_shell():
    with Lab(hosts=1, limits=Limits(max_operations_per_user=3)) as lab:
        h = lab.hosts[0]
        for i in range(7):
            assert run_op(h.endpoint, "host.info", {"echo": i})["state"]["echo"] == i
        # 3 ops per shell: 7 ops need 3 shells; every replaced shell was deleted
        assert h.counters["shells_created"] == 3
        close_all_shells()
        assert h.shells_open == 0 and h.counters["shells_deleted"] == 3


def test_real_max_shells_limit_is_a_clear_error(lab):
    """Someone else holds all the user's shells: recreating cannot help, the error says why."""
    import winrm.protocol
    with Lab(hosts=1, limits=Limits(max_shells_per_user=1)) as small:
        h = small.hosts[0]
        other = winrm.protocol.Protocol(h.url, transport="ntlm", username=h.username,
                                        password=h.endpoint["password"], ca_trust_path=small.ca_path, proxy=None)
        held = other.open_shell()
        try:
            with pytest.raises(ShellQuotaExceeded) as info:
                run_op(h.endpoint, "host.info", {})
            assert info.value.wmi_code == executor.WSMAN_QUOTA_MAX_SHELLS and info.value.wsman_code is None
            assert h.counters["actions"]["Create"] == 3      # 1 held + ours + one retry
        finally:
            other.close_shell(held)


@pytest.mark.parametrize("kind", ["drop", "http500", "http503"])
@pytest.mark.parametrize("action", ["Create", "Command", "Receive"])
def test_transient_failures_retry(lab, kind, action):
    h = lab.hosts[1]
    before = injected(h, kind)
    h.faults.add(kind, action=action, count=2)
    got = run_op(h.endpoint, "host.info", {"echo": [kind, action]})
    assert got["state"]["echo"] == [kind, action]
    assert injected(h, kind) == before + 2


def test_transient_failures_are_bounded(lab):
    h = lab.hosts[1]
    close_all_shells()
    before = injected(h, "http503")
    h.faults.add("http503", action="Create", count=1000)
    t0 = time.monotonic()
    with pytest.raises(HostUnreachable) as info:
        run_op(h.endpoint, "host.info", {})
    waited = time.monotonic() - t0
    assert info.value.retryable and "503" in info.value.message
    assert "reachability budget" in info.value.message and "winfleet:winrm.reachBudgetMinutes" in info.value.message
    # bounded by the (time-based) reachability budget, not by a count of attempts
    assert waited >= executor.REACH_BUDGET_SECONDS
    assert 1 < injected(h, "http503") - before < 1000
    h.faults.clear()


def test_connection_refused_while_the_vm_boots(lab, monkeypatch):
    monkeypatch.setattr(executor, "RETRY_BACKOFF", 0.2)
    with Lab(hosts=1) as lab1:
        h = lab1.hosts[0]
        run_op(h.endpoint, "host.info", {})       # a pooled shell, which the reboot will lose
        h.down(0.8)
        t0 = time.monotonic()
        assert run_op(h.endpoint, "host.info", {"echo": "up"})["state"]["echo"] == "up"
        assert time.monotonic() - t0 >= 0.5


def test_host_that_stays_down_is_unreachable(lab):
    with Lab(hosts=1) as lab1:
        ep = lab1.hosts[0].endpoint
        lab1.hosts[0].stop()
        t0 = time.monotonic()
        with pytest.raises(HostUnreachable) as info:
            run_op(ep, "host.info", {})
        assert "Connection refused" in info.value.message
        assert time.monotonic() - t0 < 5


def test_envelope_too_large_is_not_retried(lab):
    h = lab.hosts[0]
    run_op(h.endpoint, "host.info", {})
    sends = actions(h, "Send")
    h.faults.add("envelope", action="Send")
    with pytest.raises(EnvelopeTooLarge):
        run_op(h.endpoint, "host.info", {})
    assert actions(h, "Send") == sends + 1


def test_chunking_keeps_sends_under_max_envelope(monkeypatch):
    with Lab(hosts=1, limits=Limits(max_envelope_kb=64)) as lab1:
        h = lab1.hosts[0]
        big = "z" * 300_000
        with pytest.raises(EnvelopeTooLarge):
            run_op(h.endpoint, "host.info", {"echo": big})      # 96 KiB chunks > 64 KB envelope
        monkeypatch.setattr(executor, "SEND_CHUNK_BYTES", 32 * 1024)
        before = actions(h, "Send")
        assert run_op(h.endpoint, "host.info", {"echo": big})["state"]["echo"] == big
        assert actions(h, "Send") - before == -(-(300_000 + 4_000) // (32 * 1024)) or \
            actions(h, "Send") - before >= 300_000 // (32 * 1024)


@pytest.mark.parametrize("size", [1, 1024, 200_000, 1_048_576])
def test_payload_sizes(lab, size):
    h = lab.hosts[0]
    echo = ("é☃" * size)[:size]
    assert run_op(h.endpoint, "host.info", {"echo": echo}, timeout=60)["state"]["echo"] == echo


def test_unicode_round_trip_names_and_output():
    names = ["wïn-ü", "サーバー"]
    with Lab(names=names) as lab1:
        for h in lab1.hosts:
            value = {"service": "dienst-ß-✓", "path": "D:\\données\\日志", "emoji": "🚀"}
            got = run_op(h.endpoint, "journal.read", {"keys": ["clé-ü"]},
                         journal={"write": {"key": "clé-ü", "value": value}})
            assert got["state"]["entries"] == {"clé-ü": value}
            assert run_op(h.endpoint, "host.info", {})["state"]["hostName"] == h.name.upper()


def test_wrong_ca_is_tls_failure_without_retry(lab, tmp_path):
    h = lab.hosts[0]
    conn = dict(h.endpoint, caPem=TestCA(str(tmp_path)).pem)
    before = h.counters["tls_handshake_failures"]
    with pytest.raises(TlsValidationFailed) as info:
        run_op(conn, "host.info", {})
    assert "certificate verify failed" in info.value.message
    deadline = time.monotonic() + 3          # the server notices the aborted handshake asynchronously
    while h.counters["tls_handshake_failures"] == before and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert h.counters["tls_handshake_failures"] == before + 1     # one attempt: never retried


def test_pinned_certificate(lab):
    h = lab.hosts[1]
    pinned = dict(h.endpoint, caPem=None, certSha256=h.server_cert.sha256)
    assert run_op(pinned, "host.info", {"echo": "pinned"})["state"]["echo"] == "pinned"
    colon = ":".join(h.server_cert.sha256[i:i + 2] for i in range(0, 64, 2)).upper()
    assert run_op(dict(pinned, certSha256=colon), "host.info", {})["changed"] is False
    wrong = dict(pinned, certSha256=lab.hosts[0].server_cert.sha256)
    with pytest.raises(TlsValidationFailed) as info:
        run_op(wrong, "host.info", {})
    assert "Fingerprints did not match" in info.value.message


def test_tls_server_name(lab):
    h = lab.hosts[0]
    assert run_op(dict(h.endpoint, tlsServerName=h.name), "host.info", {})["changed"] is False
    with pytest.raises(TlsValidationFailed):
        run_op(dict(h.endpoint, tlsServerName="not-this-host.example"), "host.info", {})


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
def test_bad_credentials_never_retry(lab, auth):
    h = lab.hosts[0]
    before = h.counters.snapshot()["auth"]["failures"]
    with pytest.raises(AuthenticationFailed) as info:
        run_op(dict(h.endpoint, auth=auth, password="Wrong-Passw0rd!"), "host.info", {})
    assert h.counters.snapshot()["auth"]["failures"] == before + 1
    assert "Wrong-Passw0rd!" not in str(info.value) + repr(info.value)


def test_basic_auth_works_over_https(lab):
    h = lab.hosts[1]
    h.auth_methods = ("ntlm", "basic")      # Basic is off unless the lab asks
    try:
        _basic_op(h)
    finally:
        h.auth_methods = ("ntlm",)


def _basic_op(h):
    before = h.counters.snapshot()["auth"]["basic_logons"]
    assert run_op(dict(h.endpoint, auth="basic"), "host.info", {"echo": "b"})["state"]["echo"] == "b"
    assert h.counters.snapshot()["auth"]["basic_logons"] > before


def test_kerberos_without_library_is_a_config_error(lab):
    h = lab.hosts[0]
    from components.winrm import ExecutorConfigError
    with pytest.raises(ExecutorConfigError):
        run_op(dict(h.endpoint, auth="kerberos"), "host.info", {})


def test_script_mismatch_is_malformed_output_with_the_hosts_stderr(lab, monkeypatch):
    from components.winrm import bootstrap
    h = lab.hosts[0]
    real = bootstrap.op_script("host.info")
    monkeypatch.setattr(bootstrap, "op_script", lambda op: real + "\n# tampered\n")
    with pytest.raises(MalformedOutput) as info:
        run_op(h.endpoint, "host.info", {})
    assert "not byte-for-byte" in info.value.message


def test_unknown_op_is_rejected_locally(lab):
    from components.winrm import ExecutorConfigError
    with pytest.raises(ExecutorConfigError):
        run_op(lab.hosts[0].endpoint, "no.such-op", {})
    with pytest.raises(ExecutorConfigError):
        run_op(lab.hosts[0].endpoint, "../../etc", {})


def test_failed_signal_after_success_keeps_the_result_and_drops_the_shell(lab):
    h = lab.hosts[1]
    run_op(h.endpoint, "host.info", {})
    created, deleted = h.counters["shells_created"], h.counters["shells_deleted"]
    h.faults.add("unknown_shell", action="Signal")
    assert run_op(h.endpoint, "host.info", {"echo": "kept"})["state"]["echo"] == "kept"
    assert h.counters["shells_deleted"] == deleted + 1          # discarded, not reused
    run_op(h.endpoint, "host.info", {})
    assert h.counters["shells_created"] == created + 1


def test_port_as_float_from_pulumi_is_accepted(lab):
    h = lab.hosts[0]
    ep = Endpoint.from_inputs(dict(h.endpoint, port=float(h.port)))
    assert ep.port == h.port and isinstance(ep.port, int)


def test_idle_shells_expire_on_the_host_and_are_replaced(monkeypatch):
    """We ask for a short IdleTimeOut, so shells of a killed process do not pile up on the host;
    a pooled shell that expired on the host is replaced transparently."""
    monkeypatch.setattr(executor, "SHELL_IDLE_TIMEOUT", 1)
    with Lab(hosts=1) as lab1:
        h = lab1.hosts[0]
        run_op(h.endpoint, "host.info", {})
        assert [s["idleTimeout"] for s in h.shells()] == [1.0]
        time.sleep(1.3)
        assert h.shells_open == 0 and h.counters["shells_expired"] == 1      # no Delete was needed
        assert run_op(h.endpoint, "host.info", {"echo": "again"})["state"]["echo"] == "again"
        assert h.counters["shells_created"] == 2


def test_a_host_that_stops_answering_cannot_hold_an_op_past_its_deadline():
    with Lab(hosts=1) as lab1:
        h = lab1.hosts[0]
        run_op(h.endpoint, "host.info", {})
        h.faults.latency = 6.0                       # every request now hangs for 6 s
        t0 = time.monotonic()
        with pytest.raises((HostUnreachable, OperationTimedOut)) as info:
            run_op(h.endpoint, "host.info", {}, timeout=2.0)
        assert time.monotonic() - t0 < 4.5
        assert "timed out" in info.value.message or info.value.code == "OP_TIMEOUT"
        h.faults.latency = 0.0

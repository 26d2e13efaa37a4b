"""Concurrency of the shell pool, secret redaction, pickling."""
from __future__ import annotations

import logging
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor

import dill
import pytest

from components.winrm import (AuthenticationFailed, Endpoint, InvalidEndpoint, OpFailed, close_all_shells,
                              run_op)
from components.winrm import pool
from tests.emulator import Lab
from tests.emulator.ops import OpError


def test_parallel_ops_on_two_hosts_leak_no_shells():
    with Lab(hosts=2, latency=0.01) as lab:
        jobs = [(h, i) for i in range(12) for h in lab.hosts]       # 24 ops, 8 threads
        in_flight, peak, lock = [0], [0], threading.Lock()

        def one(job):
            h, i = job
            with lock:
                in_flight[0] += 1
                peak[0] = max(peak[0], in_flight[0])
            key = f"k{i}"
            got = run_op(h.endpoint, "journal.read", {"keys": [key]},
                         journal={"write": {"key": key, "value": {"host": h.name, "i": i}}})
            with lock:
                in_flight[0] -= 1
            return h.name, i, got

        with ThreadPoolExecutor(max_workers=8) as tp:
            results = list(tp.map(one, jobs))
        assert peak[0] >= 8                                            # really 8 at once
        for name, i, got in results:
            assert got["state"]["entries"] == {f"k{i}": {"host": name, "i": i}}
        for h in lab.hosts:
            c = h.counters.snapshot()
            assert c["ops"]["journal.read"] == 12 and c["op_failures"] == 0
            assert 1 <= c["shells_created"] <= pool.MAX_SHELLS_PER_KEY      # shells were reused
            assert c["actions"]["Command"] == 12
            assert len(h.model.journal_entries()) == 12
        close_all_shells()
        for h in lab.hosts:
            c = h.counters.snapshot()
            assert h.shells_open == 0 and c["shells_created"] == c["shells_deleted"]
        assert pool.POOL.stats() == {"idle": 0, "total": 0}


def test_endpoint_repr_and_str_hide_the_password():
    ep = Endpoint.from_inputs({"host": "10.0.0.4", "username": "admin", "password": "S3cret-Value!",
                               "caPem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"})
    assert "S3cret-Value!" not in repr(ep) and "S3cret-Value!" not in str(ep)
    assert ep.port == 5986 and ep.auth == "ntlm"


def test_endpoint_validation_messages_hide_the_password():
    with pytest.raises(InvalidEndpoint) as info:
        Endpoint.from_inputs({"host": "h", "username": "u", "password": "S3cret-Value!"})
    assert "caPem" in str(info.value) and "S3cret-Value!" not in str(info.value)
    with pytest.raises(InvalidEndpoint):
        Endpoint.from_inputs({"host": "h", "username": "u", "password": "p", "certSha256": "abc"})
    with pytest.raises(InvalidEndpoint):
        Endpoint.from_inputs({"host": "h", "username": "u", "password": "p", "certSha256": "0" * 64,
                              "insecure": True})
    with pytest.raises(InvalidEndpoint):
        Endpoint.from_inputs({"host": "h", "username": "u", "password": "p", "certSha256": "0" * 64, "auth": "credssp"})


def test_password_never_in_errors_or_logs(monkeypatch, caplog):
    """Even when the host echoes the password back in an error, it is redacted."""
    import tests.emulator.ops as ops_pkg
    ops_pkg.handlers()
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        secret = h.endpoint["password"]

        def leaky(host, params):
            raise OpError("LEAKY", f"cannot log on with {secret}")

        monkeypatch.setitem(ops_pkg._HANDLERS, "journal.read", leaky)
        caplog.set_level(logging.DEBUG)
        with pytest.raises(OpFailed) as info:
            run_op(h.endpoint, "journal.read", {})
        err = info.value
        assert err.code == "LEAKY" and "***" in err.message
        with pytest.raises(AuthenticationFailed) as info2:
            run_op(dict(h.endpoint, password=secret + "x"), "journal.read", {})
        for text in (str(err), repr(err), err.message, str(info2.value), repr(info2.value),
                     str(err.to_dict()), pickle.loads(pickle.dumps(err)).message, caplog.text):
            assert secret not in text


def test_errors_pickle_round_trip():
    err = OpFailed("web-0", "service.read", "no such service", code="SERVICE_NOT_FOUND", exit_code=1)
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.host, back.op, back.code, back.message) == \
        (OpFailed, "web-0", "service.read", "SERVICE_NOT_FOUND", "no such service")


class _Provider:
    """Stands in for a dynamic provider: holds nothing, calls run_op inside its methods."""

    def create(self, inputs):
        return run_op(inputs["connection"], "host.info", {})


def test_provider_objects_pickle_without_the_pool():
    with Lab(hosts=1) as lab:
        prov = _Provider()
        prov.create({"connection": lab.hosts[0].endpoint})     # the pool now holds a live shell
        blob = dill.dumps(prov, recurse=True)
        assert b"Shell" not in blob and b"RLock" not in blob and len(blob) < 2000
        assert dill.loads(blob).create({"connection": lab.hosts[0].endpoint})["changed"] is False

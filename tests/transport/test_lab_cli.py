"""``python -m tests.emulator``: the JSON line, the admin API, clean shutdown on SIGTERM/SIGINT."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from components.winrm import HostUnreachable, close_all_shells, executor, run_op

ROOT = Path(__file__).resolve().parents[2]


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _post(url, doc):
    req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_lab_admin_api_and_clean_stop(sig, monkeypatch):
    monkeypatch.setattr(executor, "RETRY_ATTEMPTS", 2)
    proc = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--hosts", "2"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert [h["name"] for h in info["hosts"]] == ["win-0", "win-1"]
        h0 = info["hosts"][0]
        ca_pem = Path(h0["caPemPath"]).read_text()
        conn = {"host": h0["host"], "port": h0["port"], "username": h0["username"], "password": h0["password"],
                "auth": h0["auth"], "caPem": ca_pem, "hostName": h0["name"]}
        assert h0["endpoint"] == f"https://{h0['host']}:{h0['port']}/wsman"
        run_op(conn, "journal.read", {}, journal={"write": {"key": "cli", "value": {"ok": True}}})
        admin = info["admin"]
        state = _get(admin + "/state")
        assert json.loads(state["win-0"]["registry"]["HKLM\\SOFTWARE\\winfleet\\Journal"]["cli"]["data"]) == {"ok": True}
        counters = _get(admin + "/counters")
        assert counters["win-0"]["ops"] == {"journal.read": 1} and counters["win-1"]["http_requests"] == 0
        assert counters["win-0"]["shells_open"] == 1
        # inject a fault over the admin API; the executor retries through it
        _post(admin + "/faults", {"host": "win-0", "kind": "http503", "action": "Command", "count": 1})
        assert run_op(conn, "host.info", {"echo": "x"})["state"]["echo"] == "x"
        assert _get(admin + "/counters")["win-0"]["faults_injected"] == {"http503": 1}
        _post(admin + "/reset", {"host": "*"})
        assert _get(admin + "/counters")["win-0"]["http_requests"] == 0
        with pytest.raises(urllib.error.HTTPError) as bad:
            _post(admin + "/faults", {"host": "win-0", "kind": "meteor"})
        assert bad.value.code == 400
        close_all_shells()
        assert _get(admin + "/counters")["win-0"]["shells_open"] == 0
    finally:
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert rc == 0
    assert "lab stopped" in proc.stderr.read()
    assert not Path(h0["caPemPath"]).exists()          # the lab cleaned up its temp files
    with pytest.raises(HostUnreachable):
        run_op(conn, "host.info", {})


def test_cli_serves_the_lab_that_pulumi_lab_yaml_describes(tmp_path):
    """`make lab`'s flags: fixed names and ports, a known password, the CA written where the stack reads it."""
    import json as _json
    import subprocess as _sp
    import sys as _sys
    from pathlib import Path as _Path

    from components.winrm import Endpoint, run_op

    import socket as _socket

    def _free_port_pair() -> int:
        """A port p with p and p + 1 both free on loopback (the lab binds base, base + 1)."""
        for _ in range(50):
            with _socket.socket() as a:
                a.bind(("127.0.0.1", 0))
                base = a.getsockname()[1]
                with _socket.socket() as b:
                    try:
                        b.bind(("127.0.0.1", base + 1))
                    except OSError:
                        continue
                    return base
        raise RuntimeError("no free pair of loopback ports")

    base = _free_port_pair()
    root = _Path(__file__).resolve().parents[2]
    ca_out = tmp_path / "lab" / "ca.pem"
    proc = _sp.Popen([_sys.executable, "-m", "tests.emulator", "--names", "lab-0,lab-1", "--base-port", str(base),
                      "--password", "Lab-Pass-1", "--ca-out", str(ca_out)],
                     cwd=root, stdout=_sp.PIPE, stderr=_sp.PIPE, text=True)
    try:
        described = _json.loads(proc.stdout.readline())
        hosts = described["hosts"]
        assert [(h["name"], h["port"]) for h in hosts] == [("lab-0", base), ("lab-1", base + 1)]
        ca_pem = ca_out.read_text()
        assert ca_pem.startswith("-----BEGIN CERTIFICATE-----")
        ep = Endpoint.from_inputs({"host": "127.0.0.1", "port": base + 1, "username": "winfleetadmin",
                                   "password": "Lab-Pass-1", "caPem": ca_pem, "tlsServerName": "lab-1",
                                   "hostName": "lab-1"})
        assert run_op(ep, "journal.read", {"keys": None}, timeout=30)["state"]["entries"] == {}
    finally:
        proc.terminate()
        proc.wait(timeout=20)

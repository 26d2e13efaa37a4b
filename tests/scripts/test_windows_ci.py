"""The Python half of the Windows workflow's real-host job (tests/scripts/windows_ci.py), run here for real:
the artifact server over TLS, the stack it writes (parsed by the real config loader), the executor smoke
against the emulator over NTLM/HTTPS, and the snapshot comparison. What only the runner has (a WinRM
listener, services, quotas) is not verified here: that is the workflow's job."""
from __future__ import annotations

import hashlib
import json
import socket
import threading

import pytest
import requests
import yaml

from components.config import load_config_file
from tests.emulator import Lab
from tests.scripts import windows_ci


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_artifact_server_serves_the_build_over_tls_with_its_own_certificate(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    payload = b"MZ winfleet-refsvc.exe stand-in"
    (build / "winfleet-refsvc.exe").write_bytes(payload)
    cert, key = tmp_path / "a.pem", tmp_path / "a.key"
    windows_ci.main(["make-cert", "--name", "localhost", "--cert", str(cert), "--key", str(key)])
    port = free_port()
    server = windows_ci.artifact_server(build, port, cert, key)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        r = requests.get(f"https://localhost:{port}/winfleet-refsvc.exe", verify=str(cert), timeout=10)
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == hashlib.sha256(payload).hexdigest()
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://localhost:{port}/winfleet-refsvc.exe", timeout=10)   # not in the default trust
    finally:
        server.shutdown()
        server.server_close()


def test_the_stack_it_writes_is_a_valid_existing_hosts_stack(tmp_path):
    ca = tmp_path / "winrm-ca.pem"
    cert_key = tmp_path / "k.pem"
    windows_ci.make_cert("localhost", ca, cert_key)
    out = tmp_path / "Pulumi.ci.yaml"
    windows_ci.main(["write-stack", "--out", str(out), "--username", "winfleetci", "--ca-pem-file", str(ca),
                     "--disk-number", "2", "--binary-url", "https://localhost:8443/winfleet-refsvc.exe",
                     "--binary-sha256", "AB" * 32])
    doc = yaml.safe_load(out.read_text())
    assert "password" not in json.dumps(doc), "the password is set by the CLI as a secret, never written here"
    # what `pulumi config set --secret --path 'winfleet:existingHosts[0].password'` adds to the file
    doc["config"]["winfleet:existingHosts"][0]["password"] = {"secure": "v1:ciphertext"}
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    cfg = load_config_file(out, secrets={"winfleet:existingHosts[0].password": "x"})
    assert cfg.mode == "existingHosts" and [h.name for h in cfg.existing_hosts] == ["runner"]
    svc = cfg.services[0]
    assert svc.account == "NT SERVICE\\wfci-refsvc", "the service runs as its virtual account"
    assert svc.binary.sha256 == "ab" * 32 and svc.crash_dumps.enabled
    assert cfg.data_volume.drive_letter == "Q"


def test_the_smoke_runs_the_real_executor_over_ntlm_https(tmp_path, monkeypatch):
    with Lab(hosts=1) as lab:
        h = lab.hosts[0]
        ep = h.endpoint
        ca = tmp_path / "ca.pem"
        ca.write_text(ep["caPem"])
        monkeypatch.setenv("WINFLEET_CI_PASSWORD", ep["password"])
        out = windows_ci.smoke(ep["host"], ep["port"], ep["username"], str(ca), ep.get("tlsServerName"))
        assert out["service.read"]["state"]["exists"] is False
        assert out["journal.read"]["state"]["entries"] == {}
        assert h.counters.snapshot()["ops"].get("host.info") == 1


def test_compare_says_exactly_what_changed(tmp_path, capsys):
    before = {"services": {"Spooler": {"start": "DWord:2"}}, "winfleetSubs": [], "disk": {"style": "RAW"}}
    after = {"services": {"Spooler": {"start": "DWord:4"}, "wfci-refsvc": {"start": "DWord:2"}},
             "winfleetSubs": ["Journal"], "disk": {"style": "RAW"}}
    b, a = tmp_path / "b.json", tmp_path / "a.json"
    b.write_text(json.dumps(before), encoding="utf-8-sig")      # PowerShell 5.1 writes a BOM
    a.write_text(json.dumps(after))
    assert windows_ci.main(["compare", str(b), str(b)]) == 0
    assert windows_ci.main(["compare", str(b), str(a)]) == 1
    text = capsys.readouterr().out
    assert "/services/Spooler/start" in text and "/services/wfci-refsvc: new" in text and "/winfleetSubs" in text
    assert "3 difference(s)" in text

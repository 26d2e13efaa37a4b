"""`make lab-start` / `make lab-stop` (tools/lab.py) and the lab CLI's lab.json, artifacts and refusal
of a second lab: a second start changes nothing of the running lab (its CA file above all)."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools import lab as labtool

ROOT = Path(__file__).resolve().parents[2]


def _free_base(n: int = 2) -> int:
    for _ in range(50):
        socks = []
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
            socks.append(s)
            for i in range(1, n):
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free run of loopback ports")


def _cli(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "tests.emulator", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_a_second_lab_changes_nothing_of_the_running_one(tmp_path):
    base = _free_base()
    art = tmp_path / "art"
    art.mkdir()
    (art / "svc.exe").write_bytes(b"MZ windows build")
    (art / "svc").write_bytes(b"\x7fELF linux twin")
    lab_json, ca = tmp_path / "lab" / "lab.json", tmp_path / "lab" / "ca.pem"
    common = ["--names", "lab-0,lab-1", "--base-port", str(base), "--ca-out", str(ca)]
    first = _cli(*common, "--lab-json", str(lab_json), "--artifacts-dir", str(art))
    try:
        described = json.loads(first.stdout.readline())
        doc = json.loads(lab_json.read_text())
        assert doc["pid"] == first.pid and doc["adminUrl"] == described["admin"]
        assert doc["caPemFile"] == str(ca)
        assert [(h["name"], h["port"], h["tlsServerName"]) for h in doc["hosts"]] == \
            [("lab-0", base, "lab-0"), ("lab-1", base + 1, "lab-1")]
        assert all(h["password"] and h["username"] == "winfleetadmin" for h in doc["hosts"])
        assert doc["artifacts"] == {
            name: {"url": f"https://artifacts.lab.winfleet.test/{name}",
                   "sha256": hashlib.sha256((art / name).read_bytes()).hexdigest()} for name in ("svc", "svc.exe")}
        assert oct(lab_json.stat().st_mode & 0o777) == "0o600"     # it holds the lab's passwords
        pem, doc_text = ca.read_text(), lab_json.read_text()

        again = _cli(*common, "--lab-json", str(lab_json))          # `make lab-start` twice
        out, err = again.communicate(timeout=30)
        assert again.returncode == 0 and "already running" in err
        bound = _cli(*common)                                       # a plain second `make lab`: ports taken
        out, err = bound.communicate(timeout=30)
        assert bound.returncode != 0
        assert ca.read_text() == pem                                # the running lab's CA is untouched
        assert lab_json.read_text() == doc_text
        assert first.poll() is None
    finally:
        first.terminate()
        first.wait(timeout=20)
    assert not lab_json.exists()                                    # removed by the lab that wrote it


def test_lab_start_and_stop_through_tools_lab(tmp_path):
    """tools.lab.start in a project folder: background lab, lab.json, a stand-in binary when
    build/goservice is empty; a second start keeps the running lab; stop ends it."""
    (tmp_path / "Pulumi.lab.yaml").write_text((ROOT / "Pulumi.lab.yaml").read_text())
    base = _free_base(3)
    doc = labtool.start(tmp_path, base_port=base, artifacts=str(tmp_path / "build" / "goservice"))
    try:
        assert labtool.running_lab(tmp_path)["pid"] == doc["pid"]
        assert set(doc["artifacts"]) == {labtool.STANDIN_NAME}
        again = labtool.start(tmp_path, base_port=base)
        assert again["pid"] == doc["pid"]
        assert json.loads((tmp_path / ".winfleet" / "lab" / "lab.json").read_text()) == doc
        stack_doc, secrets = labtool.lab_stack_doc(
            __import__("yaml").safe_load((tmp_path / "Pulumi.lab.yaml").read_text()), doc)
        svc = stack_doc["config"]["winfleet:services"][0]["binary"]
        assert svc == doc["artifacts"][labtool.STANDIN_NAME]          # the SHA-256 the lab serves
        assert len(secrets) == 3 and "password" not in json.dumps(stack_doc)
    finally:
        assert labtool.stop(tmp_path)
    assert not labtool.alive(doc["pid"])
    assert labtool.running_lab(tmp_path) is None


def test_lab_stack_doc_names_a_missing_artifact():
    template = {"config": {"winfleet:existingHosts": [{"name": "lab-0"}],
                           "winfleet:services": [{"name": "a", "binary": {
                               "url": "https://artifacts.lab.winfleet.test/nope.exe", "sha256": "0" * 64}}]}}
    lab = {"caPemFile": "ca.pem", "artifacts": {}, "hosts": [
        {"name": "lab-0", "host": "127.0.0.1", "port": 1, "username": "u", "password": "p"}]}
    with pytest.raises(labtool.LabError) as ei:
        labtool.lab_stack_doc(template, lab)
    assert "winfleet:services[0].binary.url" in str(ei.value) and "nope.exe" in str(ei.value)

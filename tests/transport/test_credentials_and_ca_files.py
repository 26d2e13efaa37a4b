"""Issue 12 item 16: Basic auth with a non-Latin-1 password says what is wrong; CA temp files are deleted."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from components.winrm import run_op
from components.winrm.endpoint import Endpoint
from components.winrm.errors import WinfleetHostError
from tests.emulator import Lab

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "пароль-Секрет-9a"      # Cyrillic: not Latin-1


@pytest.fixture(scope="module")
def cyrillic_lab():
    with Lab(hosts=1, password=PASSWORD) as lab:
        yield lab


def test_basic_auth_with_non_latin1_password_names_the_problem(cyrillic_lab):
    h = cyrillic_lab.hosts[0]
    conn = dict(h.endpoint, auth="basic")
    with pytest.raises((WinfleetHostError, ValueError)) as ei:
        run_op(Endpoint.from_inputs(conn), "host.info", {})
    text = str(ei.value)
    assert "Latin-1" in text and "basic" in text and "unparseable" not in text
    assert PASSWORD not in text


def test_the_same_password_works_over_ntlm(cyrillic_lab):
    h = cyrillic_lab.hosts[0]
    result = run_op(Endpoint.from_inputs(dict(h.endpoint, auth="ntlm")), "host.info", {})
    assert isinstance(result, dict) and "state" in result


def test_config_refuses_basic_with_non_latin1_password():
    from components.config import ConfigError, parse_config
    raw = {"mode": "existingHosts", "winrm": {"auth": "basic"},
           "existingHosts": [{"name": "web-0", "host": "10.0.0.4", "username": "u", "password": PASSWORD,
                              "certSha256": "ab" * 32}]}
    with pytest.raises(ConfigError) as ei:
        parse_config(raw)
    assert [p.path for p in ei.value.problems] == ["winfleet:existingHosts[0].password"]
    assert PASSWORD not in str(ei.value) and "Latin-1" in str(ei.value)


PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
CHILD = textwrap.dedent("""
    import os, sys, time
    from components.winrm import executor
    path = executor._ca_file(sys.argv[1])
    print(path, flush=True)
    if sys.argv[2] == "hang":
        time.sleep(60)
""")


def _child(tmp_path, mode):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    return subprocess.Popen([sys.executable, "-c", CHILD, PEM, mode], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)


def test_ca_file_is_removed_when_the_process_exits(tmp_path):
    p = _child(tmp_path, "exit")
    path = p.stdout.readline().strip()
    assert p.wait(timeout=30) == 0
    assert path.startswith(str(tmp_path)) and not os.path.exists(path)


def test_ca_file_of_a_killed_process_is_swept_by_the_next(tmp_path):
    p = _child(tmp_path, "hang")
    path = p.stdout.readline().strip()
    assert os.path.exists(path)
    folder = os.path.dirname(path)
    assert (os.stat(folder).st_mode & 0o777) == 0o700
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    assert os.path.exists(path)                       # no atexit on SIGKILL
    q = _child(tmp_path, "exit")
    q.stdout.readline()
    assert q.wait(timeout=30) == 0
    assert os.listdir(folder) == []                   # the stale one swept, its own removed at exit

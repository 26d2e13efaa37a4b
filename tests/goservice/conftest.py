"""Fixtures for tests that run the reference Go service (goservice/) for real."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build", "goservice")
EXE = os.path.join(BUILD, "winfleet-refsvc.exe")
LINUX = os.path.join(BUILD, "winfleet-refsvc")


def wait_for(cond, seconds: float, what: str):
    """Poll ``cond`` (bounded); fail naming ``what``."""
    deadline = time.monotonic() + seconds
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def refsvc_builds() -> str:
    """The published builds: `make goservice` (what `make setup` runs; quick when they are current)."""
    subprocess.run(["make", "-s", "goservice"], cwd=ROOT, check=True, capture_output=True, timeout=600)
    assert os.path.isfile(EXE) and os.access(LINUX, os.X_OK)
    return BUILD


@pytest.fixture
def twin_host(refsvc_builds):
    from tests.emulator.host_model import HostModel
    m = HostModel("web-0")
    assert m.scm.twins.register_dir(refsvc_builds) == ["winfleet-refsvc.exe"]
    yield m
    m.scm.shutdown_processes()


@pytest.fixture
def twin_lab(refsvc_builds):
    from tests.emulator import Lab
    with Lab(hosts=1) as lab:
        lab.hosts[0].model.scm.twins.register_dir(refsvc_builds)
        yield lab

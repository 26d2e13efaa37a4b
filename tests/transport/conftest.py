"""Fixtures: a lab of emulated hosts per test module; no pooled shell survives a test."""
from __future__ import annotations

import pytest

from components.winrm import close_all_shells
from components.winrm import executor
from tests.emulator import Lab


@pytest.fixture(scope="module")
def lab():
    with Lab(hosts=2) as lab:
        yield lab


@pytest.fixture(autouse=True)
def _isolate(request, monkeypatch):
    # fast, bounded retries in tests; each test starts and ends with an empty shell pool
    monkeypatch.setattr(executor, "RETRY_BACKOFF", 0.05)
    monkeypatch.setattr(executor, "RETRY_BACKOFF_MAX", 0.2)
    monkeypatch.setattr(executor, "REACH_BUDGET_SECONDS", 1.5)   # tests/adversarial/test_faults.py: real budgets
    monkeypatch.setattr(executor, "REACH_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(executor, "REACH_BACKOFF_MAX", 0.2)
    close_all_shells()
    yield
    close_all_shells()
    if "lab" in request.fixturenames:
        for h in request.getfixturevalue("lab").hosts:
            h.faults.clear()


def delta(before: dict, after: dict, key: str) -> int:
    return after[key] - before[key]

"""One policy-pack process per test session, started exactly as the Pulumi CLI starts it."""
from __future__ import annotations

import pytest

from tools.offline_gate import DEFAULT_PACK, PackProcess


@pytest.fixture(scope="session")
def pack():
    proc = PackProcess(DEFAULT_PACK, project="winfleet", stack="test")
    try:
        yield proc
    finally:
        proc.close()

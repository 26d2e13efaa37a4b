import pytest

from tests.unit.host.fakehost import install


@pytest.fixture
def hosts(monkeypatch):
    """Two emulated hosts (web-0, web-1) behind an in-process fake executor."""
    return install(monkeypatch, "web-0", "web-1")

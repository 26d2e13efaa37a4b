"""Shared fixtures for provider tests: the real dynamic-provider host and an emulator lab.

* ``provider_host`` (session): one ``python -u -m pulumi.dynamic`` process, started from the project
  root with nothing extra on PYTHONPATH (as ``pulumi up`` starts it); its default 4-thread pool.
* ``lab`` (per test): one emulated Windows host (``lab.hosts[0]``), fresh state every test.
* ``connection(host)``: the resource ``connection`` input for an emulated host.
* ``host_dies_after_fault(monkeypatch, op)``: after ``op`` hits an injected step fault every later op
  fails, so a provider's rollback fails too (returns ``revive()``).
* ``host_snapshot(model)``: ``model.state()`` (all of it, winfleet's own registry keys included), for
  "delete restores the exact prior host state" comparisons.
"""
from __future__ import annotations

import copy

import pytest

from tests.emulator import Lab
from tests.providers.harness import ProviderHost


@pytest.fixture(scope="session")
def provider_host():
    with ProviderHost() as ph:
        yield ph


@pytest.fixture
def lab():
    with Lab(hosts=1) as lab:
        yield lab


def connection(host) -> dict:
    return dict(host.endpoint)


def host_snapshot(model) -> dict:
    """Everything the host ops can see (``model.state()``), nothing left out: winfleet removes its own
    bookkeeping keys (``HKLM\\SOFTWARE\\winfleet\\{Journal,Directories}``) once they are empty, so a delete
    must return the registry exactly as it was."""
    return copy.deepcopy(model.state())


def host_dies_after_fault(monkeypatch, op_name):
    """After ``op_name`` hits an injected step fault, every later op fails (the host went away), so
    the provider's rollback cannot run either. Returns a function that revives the host."""
    from tests.emulator import ops as emulator_ops
    dead = {"on": False}
    original = dict(emulator_ops._HANDLERS)

    def wrap(name, fn):
        def handler(host, params):
            if dead["on"]:
                raise emulator_ops.OpError("HOST_DOWN", "the host stopped answering (injected by the test)")
            try:
                return fn(host, params)
            except emulator_ops.OpError as exc:
                if name == op_name and exc.code == "INJECTED_FAULT":
                    dead["on"] = True
                raise
        return handler

    for name, fn in original.items():
        monkeypatch.setitem(emulator_ops._HANDLERS, name, wrap(name, fn))
    return lambda: dead.update(on=False)


def journal(model) -> dict:
    import json
    return {k: json.loads(v) for k, v in model.journal_entries().items()}

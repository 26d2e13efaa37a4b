"""winfleet's own registry keys (HKLM\\SOFTWARE\\winfleet\\{Journal,Directories}) exist only while they hold
something, through the real executor, bootstrap envelope and emulator (docs/CONTRACTS.md, "Host ops").

The last journal clear removes the Journal key and then HKLM\\SOFTWARE\\winfleet when that is empty; a later
write recreates them; concurrent ops on other journal keys of the same host never lose an entry to that
removal (the drivers serialise it with a host-wide mutex, the emulator with ``HostModel.lock``).
"""
from __future__ import annotations

import json
import threading

import pytest

from components.winrm import Endpoint, OpFailed, run_op
from tests.emulator import Lab
from tests.emulator.host_model import JOURNAL_KEY, WINFLEET_KEY
from tests.emulator.ops.svc_support import DIRS_KEY


@pytest.fixture
def host():
    with Lab(hosts=1) as lab:
        yield lab.hosts[0]


def winfleet_keys(model) -> dict:
    """The registry keys under (and including) HKLM\\SOFTWARE\\winfleet, with their values."""
    top = WINFLEET_KEY.lower()
    return {k: v for k, v in model.registry.state().items() if k.lower() == top or k.lower().startswith(top + "\\")}


def journal_op(ep, journal=None, keys=None):
    return run_op(ep, "journal.read", {"keys": keys}, journal=journal)["state"]["entries"]


def test_clearing_the_last_entry_removes_the_keys_and_a_write_recreates_them(host):
    ep = Endpoint.from_inputs(host.endpoint)
    assert winfleet_keys(host.model) == {}
    assert journal_op(ep) == {}                                   # no key: journal.read gives no entries
    journal_op(ep, {"write": {"key": "A/x", "value": {"v": 1}}})
    journal_op(ep, {"write": {"key": "B/y", "value": {"v": 2}}})
    journal_op(ep, {"clear": "A/x"})
    assert set(winfleet_keys(host.model)) == {WINFLEET_KEY, JOURNAL_KEY}   # B/y still there: keys kept
    journal_op(ep, {"clear": "B/y"})
    assert winfleet_keys(host.model) == {}                        # last entry gone: Journal and winfleet too
    assert journal_op(ep) == {} and journal_op(ep, keys=["B/y"]) == {}
    # the next write, in the same run, recreates both keys and records exactly its entry
    assert journal_op(ep, {"write": {"key": "C/z", "value": {"prior": {"svc": "auto"}}}}) == {
        "C/z": {"prior": {"svc": "auto"}}}
    kind, data = host.model.registry.get_value(JOURNAL_KEY, "C/z")
    assert kind == "REG_SZ" and json.loads(data) == {"prior": {"svc": "auto"}}


def test_write_and_clear_of_the_last_entry_in_one_envelope(host):
    """The bootstrap writes before the op and clears after it: clearing the only other entry in the
    same run as a write leaves the written entry (and so both keys)."""
    ep = Endpoint.from_inputs(host.endpoint)
    journal_op(ep, {"write": {"key": "old", "value": 1}})
    got = journal_op(ep, {"write": {"key": "new", "value": 2}, "clear": "old"})
    assert got == {"old": 1, "new": 2}                           # the op ran between write and clear
    assert journal_op(ep) == {"new": 2}
    # a write and a clear of the same key in one run: the entry is gone and so are the keys
    journal_op(ep, {"clear": "new"})
    journal_op(ep, {"write": {"key": "k", "value": 3}, "clear": "k"})
    assert winfleet_keys(host.model) == {}


def test_a_failed_op_neither_clears_nor_removes_the_keys(host):
    ep = Endpoint.from_inputs(host.endpoint)
    journal_op(ep, {"write": {"key": "only", "value": 1}})
    with pytest.raises(OpFailed):
        run_op(ep, "journal.read", {"keys": "not-a-list"}, journal={"clear": "only"})
    assert journal_op(ep) == {"only": 1}
    assert set(winfleet_keys(host.model)) == {WINFLEET_KEY, JOURNAL_KEY}


def test_winfleet_key_stays_while_directories_or_a_foreign_subkey_remain(host):
    ep = Endpoint.from_inputs(host.endpoint)
    reg = host.model.registry
    with host.model.lock:
        reg.set_value(DIRS_KEY, r"d:\apps", "REG_SZ", r"D:\apps")
    journal_op(ep, {"write": {"key": "A/x", "value": 1}})
    journal_op(ep, {"clear": "A/x"})
    assert set(winfleet_keys(host.model)) == {WINFLEET_KEY, DIRS_KEY}     # Journal went, its parent did not
    with host.model.lock:
        reg.delete_value(DIRS_KEY, r"d:\apps")
        reg.create_key(WINFLEET_KEY + r"\Operator")                       # not ours, empty: still a subkey
    journal_op(ep, {"write": {"key": "A/x", "value": 1}})
    journal_op(ep, {"clear": "A/x"})
    assert set(winfleet_keys(host.model)) == {WINFLEET_KEY, DIRS_KEY, WINFLEET_KEY + r"\Operator"}
    # an empty Directories key is removed by the next clear (whoever finds it empty), the operator's is kept
    journal_op(ep, {"write": {"key": "A/x", "value": 1}})
    with host.model.lock:
        host.model.remove_empty_winfleet_key("Directories")
    assert set(winfleet_keys(host.model)) == {WINFLEET_KEY, JOURNAL_KEY, WINFLEET_KEY + r"\Operator"}


def test_concurrent_writes_and_clears_on_one_host_lose_nothing(host, monkeypatch):
    """Four threads (the provider's pool size), each cycling its own journal key on the same host:
    every write is read back intact by its writer while the others clear their entries (and whoever
    clears the last one removes the keys); at the end nothing of winfleet is left."""
    ep = Endpoint.from_inputs(host.endpoint)
    rounds, errors, removed = 6, [], []
    delete_if_empty = host.model.registry.delete_key_if_empty

    def counting_delete(path):
        done = delete_if_empty(path)
        if done and path.lower() == JOURNAL_KEY.lower():
            removed.append(path)
        return done

    monkeypatch.setattr(host.model.registry, "delete_key_if_empty", counting_delete)
    before = host.counters["ops"].get("journal.read", 0)

    def worker(n: int) -> None:
        key = f"Thread/{n}"
        try:
            for i in range(rounds):
                value = {"thread": n, "round": i}
                assert journal_op(ep, {"write": {"key": key, "value": value}}, keys=[key]) == {key: value}
                assert journal_op(ep, keys=[key]) == {key: value}
                assert journal_op(ep, {"clear": key}, keys=[key]) == {key: value}
        except BaseException as exc:  # noqa: BLE001 - reported below with the thread's key
            errors.append((key, repr(exc)))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert winfleet_keys(host.model) == {} and journal_op(ep) == {}
    assert removed, "the last clear must have removed the Journal key"
    assert host.counters["ops"]["journal.read"] - before == 4 * rounds * 3 + 1
    assert host.counters["op_failures"] == 0

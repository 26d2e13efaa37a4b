"""The journal bookkeeping (pure Python): who holds which item, which prior value wins."""
import json

import pytest

from components.host.journal import Entry, item_name, journal_key, lock_for


def test_key_naming():
    assert journal_key("NtfsQuota", "D:") == "NtfsQuota/D:"
    assert item_name("entry", "NT SERVICE\\Api") == "entry:nt service\\api"
    with pytest.raises(ValueError):
        journal_key("X", "a\nb")
    with pytest.raises(ValueError):
        journal_key("", "a")


def test_first_holder_records_later_holders_reuse():
    e = Entry("K")
    assert e.hold("a", {"vol": {"state": "disabled"}}) == {"vol": {"state": "disabled"}}
    # b sees the live value "tracked" (a's doing) but gets the recorded original
    assert e.hold("b", {"vol": {"state": "tracked"}}) == {"vol": {"state": "disabled"}}
    assert e.release("a", ["vol"]) == {}
    assert e.release("b", ["vol"]) == {"vol": {"state": "disabled"}}
    assert e.empty


def test_claims_and_others():
    e = Entry("K")
    e.hold("a", {"vol": 1, "x": 2}, {"vol": {"enforce": True}})
    e.hold("b", {"vol": 1}, {"vol": {"enforce": False}})
    assert e.others("a") == {"vol": {"b": {"enforce": False}}}
    assert e.items_of("a") == ["vol", "x"]


def test_round_trip_through_json_and_parse():
    e = Entry("K")
    e.hold("a", {"i": {"n": 1}})
    text = json.dumps(e.to_value())
    again = Entry.parse(text, "K")
    assert again == e and Entry.parse(json.loads(text), "K") == e
    assert Entry.parse(None, "K").empty
    with pytest.raises(ValueError):
        Entry.parse({"kind": "Other"}, "K")


def test_release_of_unknown_holder_is_harmless():
    e = Entry("K")
    e.hold("a", {"i": 1})
    assert e.release("zzz", ["i", "j"]) == {}
    assert e.items_of("a") == ["i"]


def test_locks_are_per_host_and_key():
    assert lock_for("H", "k") is lock_for("h", "k")
    assert lock_for("h", "k") is not lock_for("h", "k2")

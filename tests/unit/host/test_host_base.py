"""The base provider: check/diff locally, journal envelopes on the right ops, secrets, pickling."""
import base64

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.host import base
from components.host.base import HostSession, unwrap_secrets
from components.host.event_log_settings import EventLogSettingsProvider
from tests.unit.host.fakehost import connection

SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def ev(logs, **conn):
    return {"connection": dict(connection(), **conn), "logs": logs}


def test_check_normalises_and_unwraps_secrets():
    p = EventLogSettingsProvider()
    news = ev([{"name": "Application", "maxSizeKb": 32768.0}])
    news["connection"]["password"] = dict(SECRET, value="pw-Secret-1")
    r = p.check({}, dict(news, __provider="x"))
    assert r.failures == []
    assert r.inputs["logs"] == [{"name": "Application", "maxSizeKb": 32768, "retention": "circular"}]
    assert r.inputs["connection"]["password"] == "pw-Secret-1"


def test_check_never_reports_unknowns():
    p = EventLogSettingsProvider()
    r = p.check({}, {"connection": UNKNOWN, "logs": [{"name": "Application", "maxSizeKb": UNKNOWN}]})
    assert r.failures == []
    r = p.check({}, {"connection": UNKNOWN, "logs": [{"name": "Application", "maxSizeKb": 10}]})
    assert [f.property for f in r.failures] == ["logs[0].maxSizeKb"]


def test_check_failures_never_echo_the_password():
    p = EventLogSettingsProvider()
    r = p.check({}, ev([{"name": "Application", "maxSizeKb": 32768}], auth="digest", password="hunter2-Secret"))
    assert [f.property for f in r.failures] == ["connection.auth"]
    assert all("hunter2" not in f.reason for f in r.failures)


def test_connection_needs_a_trust_anchor():
    p = EventLogSettingsProvider()
    r = p.check({}, ev([{"name": "Application", "maxSizeKb": 32768}], caPem=None))
    assert [f.property for f in r.failures] == ["connection"]
    assert "no option to skip certificate validation" in r.failures[0].reason


def test_diff_is_local_and_ignores_provider_and_outputs(monkeypatch):
    monkeypatch.setattr(base, "run_op", lambda *a, **k: pytest.fail("diff must not talk to the host"))
    p = EventLogSettingsProvider()
    ins = p.check({}, ev([{"name": "Application", "maxSizeKb": 32768}])).inputs
    olds = dict(ins, __provider="old", state={"x": 1}, prior={}, changed=True, changes=[], drift=[])
    d = p.diff("id", olds, dict(ins, __provider="new"))
    assert d.changes is False and d.replaces == []
    d = p.diff("id", olds, dict(ins, logs=[{"name": "Application", "maxSizeKb": 65536}]))
    assert d.changes is True and d.replaces == []


def test_diff_replaces_on_another_machine_only():
    p = EventLogSettingsProvider()
    ins = p.check({}, ev([{"name": "Application", "maxSizeKb": 32768}])).inputs
    rotated = dict(ins, connection=dict(ins["connection"], password="new-Secret-2"))
    d = p.diff("id", ins, rotated)
    assert d.changes is True and d.replaces == []
    moved = dict(ins, connection=dict(ins["connection"], hostName="web-9"))
    assert p.diff("id", ins, moved).replaces == ["connection"]
    assert p.diff("id", ins, dict(ins, connection=UNKNOWN)).replaces == ["connection"]


def test_diff_turns_refreshed_drift_into_an_update_not_a_replace():
    from components.host.data_volume import DataVolumeProvider
    p = DataVolumeProvider()
    ins = p.check({}, {"connection": connection(), "lun": 0, "driveLetter": "D"}).inputs
    d = p.diff("id", dict(ins, drift=["driveLetter"]), ins)
    assert d.changes is True and d.replaces == []


def test_session_puts_the_hold_on_the_first_op_and_the_release_on_the_final_one(monkeypatch):
    calls = []
    monkeypatch.setattr(base, "run_op", lambda ep, op, params, journal=None, timeout=None:
                        calls.append((op, journal)) or {"changed": False, "state": {}})
    s = HostSession(connection())
    s.hold_before("K", "h", {"a": {"prior": 1, "claim": {}}}, {"a": []})
    s.release_after("K", "h", ["b"], {}, {})
    s.run("a.read", {})
    s.run("a.apply", {}, final=True)
    s.flush()
    assert calls == [("a.read", {"update": {"key": "K", "holder": "h", "expect": {"a": []},
                                            "hold": {"a": {"prior": 1, "claim": {}}}}}),
                     ("a.apply", {"update": {"key": "K", "holder": "h", "release": ["b"]}})]


def test_session_flush_sends_a_release_after_success(monkeypatch):
    calls = []
    monkeypatch.setattr(base, "run_op", lambda ep, op, params, journal=None, timeout=None:
                        calls.append((op, journal)) or {"changed": False, "state": {}})
    s = HostSession(connection())
    s.release_after("K", "h", ["b"], {"old": ["b"]}, {"b": ["old"]})
    s.run("a.apply", {})                 # not final: the release must not travel before the changes ran
    s.flush()
    assert calls == [("a.apply", None),
                     ("journal.read", {"update": {"key": "K", "holder": "h", "release": ["b"],
                                                  "releaseOther": {"old": ["b"]}, "expect": {"b": ["old"]}}})]


def test_session_journal_read_rides_on_the_next_op(monkeypatch):
    calls = []

    def fake(ep, op, params, journal=None, timeout=None):
        calls.append((op, journal))
        out = {"changed": False, "state": {"x": 1}}
        if journal and "read" in journal:
            out["journal"] = {"entries": {"K": {"v": 1}}}
        return out

    monkeypatch.setattr(base, "run_op", fake)
    s = HostSession(connection())
    s.read_with_next(["K"])
    assert s.state("a.read", {}) == {"x": 1}
    assert s.journal_entries() == {"K": {"v": 1}}
    s.hold_before("K", "h", {"a": {"prior": 2, "claim": {}}}, {})
    s.run("a.apply", {})                       # the read was used up: not sent again
    assert calls == [("a.read", {"read": ["K"]}),
                     ("a.apply", {"update": {"key": "K", "holder": "h", "hold": {"a": {"prior": 2, "claim": {}}}}})]
    # no op carried it (or it failed): journal_entries falls back to a journal.read carrying the read
    s.read_with_next(["K"])
    assert s.journal_entries() == {"K": {"v": 1}}
    assert calls[-1] == ("journal.read", {"read": ["K"]}) and s.requests == 3


def test_provider_pickles_by_reference():
    raw = base64.b64decode(serialize_provider(EventLogSettingsProvider()))
    assert vars(dill.loads(raw)) == {}
    assert b"HostSession" not in raw and b"socket" not in raw


def test_unwrap_secrets_nested():
    assert unwrap_secrets({"a": [dict(SECRET, value={"b": dict(SECRET, value=1)})]}) == {"a": [{"b": 1}]}


def _failing_reads(hosts, monkeypatch, times: int):
    """Make the next ``times`` eventlog.read ops fail in their driver (the host answered)."""
    from components.winrm.errors import OpFailed
    real, left = hosts.run_op, [times]

    def run_op(endpoint, op, params, *, journal=None, timeout=None):
        if op == "eventlog.read" and left[0] > 0:
            left[0] -= 1
            hosts.calls.append((endpoint.host_name, op))
            raise OpFailed(endpoint.host_name, op, "injected", code="INJECTED")
        return real(endpoint, op, params, journal=journal, timeout=timeout)

    monkeypatch.setattr(base, "run_op", run_op)


def test_create_then_delete_cost_two_ops_each(hosts):
    p = EventLogSettingsProvider()
    props = {"connection": connection(), "logs": [{"name": "Application", "maxSizeKb": 65536}]}
    outs = p.create(p.check({}, props).inputs).outs
    assert [op for _, op in hosts.calls] == ["eventlog.read", "eventlog.apply"]
    hosts.calls.clear()
    p.delete("id", outs)
    assert [op for _, op in hosts.calls] == ["eventlog.read", "eventlog.apply"]
    assert hosts.model().journal_entries() == {}


def test_delete_falls_back_to_journal_read_when_the_read_op_fails(hosts, monkeypatch):
    p = EventLogSettingsProvider()
    props = {"connection": connection(), "logs": [{"name": "Application", "maxSizeKb": 65536}]}
    outs = p.create(p.check({}, props).inputs).outs
    hosts.calls.clear()
    # something to restore: the journal comes from journal.read, the state is read again, restored
    _failing_reads(hosts, monkeypatch, 1)
    p.delete("id", outs)
    assert [op for _, op in hosts.calls] == ["eventlog.read", "journal.read", "eventlog.read", "eventlog.apply"]
    assert hosts.model().journal_entries() == {}
    # nothing to restore (as before this change, the state is not needed): the delete succeeds
    hosts.calls.clear()
    _failing_reads(hosts, monkeypatch, 1)
    p.delete("id", {**outs, "prior": {}})
    assert [op for _, op in hosts.calls] == ["eventlog.read", "journal.read"]

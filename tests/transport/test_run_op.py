"""run_op end to end against the emulator: HTTPS + NTLM, bootstrap, stdin payload, dispatcher."""
from __future__ import annotations

import json

import pytest

from components.winrm import Endpoint, OpFailed, close_all_shells, run_op
from components.winrm import bootstrap


def test_journal_envelope_write_read_clear(lab):
    h = lab.hosts[0]
    ep = Endpoint.from_inputs(h.endpoint)
    value = {"startMode": "auto", "note": "Prior value — ünïcode ✓"}
    got = run_op(ep, "journal.read", {"keys": ["svc:api"]}, journal={"write": {"key": "svc:api", "value": value}})
    assert got == {"changed": False, "state": {"entries": {"svc:api": value}}}
    # the journal lives in the host's registry as one REG_SZ of JSON, as on Windows
    kind, data = h.model.registry.get_value(r"HKLM\SOFTWARE\winfleet\Journal", "svc:api")
    assert kind == "REG_SZ" and json.loads(data) == value
    # clear is applied after the op succeeded
    got = run_op(ep, "journal.read", {"keys": None}, journal={"clear": "svc:api"})
    assert "svc:api" in got["state"]["entries"]          # read ran before the clear
    assert run_op(ep, "journal.read", {})["state"]["entries"] == {}


def test_journal_read_rides_on_the_op_and_reports_the_prior_journal(lab):
    """``journal={"read": [..]}`` comes back next to the op's result (executor -> bootstrap -> emulator),
    read before the envelope's ``write`` and before the driver; ``clear`` still runs after it."""
    h = lab.hosts[0]
    ep = Endpoint.from_inputs(h.endpoint)
    ours = lambda: {k: v for k, v in h.model.journal_entries().items() if k.startswith("K/")}
    run_op(ep, "journal.read", {}, journal={"write": {"key": "K/a", "value": {"v": 1}}})
    # read + write in one envelope: read reports the prior value, the write lands after it
    got = run_op(ep, "eventlog.read", {"logs": ["Application"]},
                 journal={"read": ["K/a", "K/missing"], "write": {"key": "K/a", "value": {"v": 2}}})
    assert got["journal"] == {"entries": {"K/a": {"v": 1}},        # prior; absent keys are left out
                              "machineGuid": h.model.machine_guid}   # and who the host says it is
    assert got["state"]["logs"][0]["name"] == "Application"        # the op's own result is unchanged
    assert set(got) == {"changed", "state", "journal"}
    assert run_op(ep, "journal.read", {"keys": ["K/a"]})["state"]["entries"] == {"K/a": {"v": 2}}
    # read + clear: the entry is reported, then cleared after the op succeeded
    got = run_op(ep, "journal.read", {"keys": []}, journal={"read": ["K/a"], "clear": "K/a"})
    assert got == {"changed": False, "state": {"entries": {}},
                   "journal": {"entries": {"K/a": {"v": 2}}, "machineGuid": h.model.machine_guid}}
    # an empty read gives an empty dict; no read -> no "journal" key (existing callers unchanged)
    assert run_op(ep, "journal.read", {}, journal={"read": []})["journal"] == {"entries": {},
                                                                              "machineGuid": h.model.machine_guid}
    assert "journal" not in run_op(ep, "eventlog.read", {"logs": []}, journal={"write": {"key": "K/b", "value": 0}})
    assert ours() == {"K/b": "0"}
    # a failed op returns no journal (it raises), and its write still happened before it
    with pytest.raises(OpFailed):
        run_op(ep, "journal.read", {"keys": "not-a-list"},
               journal={"read": ["K/b"], "write": {"key": "K/c", "value": 3}})
    assert set(ours()) == {"K/b", "K/c"}
    run_op(ep, "journal.read", {}, journal={"clear": "K/b"})
    run_op(ep, "journal.read", {}, journal={"clear": "K/c"})


def test_journal_read_must_be_a_list_of_keys(lab):
    from components.winrm.errors import ExecutorConfigError
    ep = Endpoint.from_inputs(lab.hosts[0].endpoint)
    for bad in ("K", [1], {"k": 1}):
        with pytest.raises(ExecutorConfigError):
            run_op(ep, "journal.read", {}, journal={"read": bad})


def test_failed_op_keeps_journal_write_and_skips_clear(lab):
    h = lab.hosts[1]
    ep = Endpoint.from_inputs(h.endpoint)
    run_op(ep, "journal.read", {}, journal={"write": {"key": "keep", "value": 1}})
    with pytest.raises(OpFailed) as info:
        run_op(ep, "journal.read", {"keys": "not-a-list"},
               journal={"write": {"key": "new", "value": [1, 2]}, "clear": "keep"})
    err = info.value
    assert (err.code, err.op, err.host) == ("INVALID_PARAMS", "journal.read", h.name)
    entries = run_op(ep, "journal.read", {})["state"]["entries"]
    assert entries == {"keep": 1, "new": [1, 2]}


def test_connection_dict_accepted_and_result_shape(lab):
    h = lab.hosts[0]
    got = run_op(h.endpoint, "host.info", {"echo": {"nested": [1, "two", None, True]}})
    assert got["changed"] is False
    assert got["state"]["hostName"] == h.name.upper()
    assert got["state"]["echo"] == {"nested": [1, "two", None, True]}


def test_first_and_subsequent_op_request_counts(lab):
    """First op on a host: NTLM handshake + Create; later ops reuse the shell and connection:
    exactly Command, Send, Receive, Signal."""
    h = lab.hosts[0]
    close_all_shells()
    c0 = h.counters.snapshot()
    run_op(h.endpoint, "host.info", {})
    c1 = h.counters.snapshot()
    run_op(h.endpoint, "host.info", {})
    c2 = h.counters.snapshot()
    first = {k: c1["actions"].get(k, 0) - c0["actions"].get(k, 0) for k in c1["actions"]}
    second = {k: c2["actions"].get(k, 0) - c1["actions"].get(k, 0) for k in c2["actions"]}
    assert first["Create"] == 1 and c1["auth"]["ntlm_logons"] - c0["auth"]["ntlm_logons"] == 1
    assert {k: v for k, v in second.items() if v} == {"Command": 1, "Send": 1, "Receive": 1, "Signal": 1}
    assert c2["http_requests"] - c1["http_requests"] == 4
    assert c2["auth"] == c1["auth"] and c2["connections"] == c1["connections"]
    close_all_shells()
    assert h.shells_open == 0


def test_payload_is_script_plus_json_and_command_line_fixed():
    params = {"name": 'x"; Remove-Item C:\\ -Recurse; "'}
    payload = bootstrap.build_payload("host.info", params)
    script, envelope = payload.split(bootstrap.SEPARATOR, 1)
    assert script.decode() == bootstrap.op_script("host.info")
    assert params["name"] not in script.decode()                 # user data never becomes code
    assert json.loads(envelope) == {"op": "host.info", "params": params, "journal": None}
    assert params["name"] not in bootstrap.COMMAND_LINE
    assert len(bootstrap.COMMAND_LINE) < 8191

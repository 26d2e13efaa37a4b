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

"""The real executor (components.winrm over stock pywinrm) fed real recorded Windows exchanges.

Every vector comes from /work/shared/research/winrm-recordings (see SOURCES.md there). Where no
recording has the exchange an issue-13 bullet names, the vector is built from recorded shapes
(a recorded envelope with other Stream contents, or a recorded fault envelope with another code)
and the test says "built". The replayer (replayer.py) also fails any request that breaks our
contract: WINRS_CONSOLEMODE_STDIN=FALSE on Command, DesiredStream "stdout stderr" with the
command's CommandId on Receive.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from components.winrm import (AuthenticationFailed, Endpoint, EnvelopeTooLarge, MalformedOutput,
                              ShellQuotaExceeded, WsmanFault, close_all_shells, executor, run_op)
from components.winrm.pool import POOL
from tests.transport.replayer import (COMMAND, CREATE, SEND, SIGNAL, Replayer, Step, receive_body,
                                      recording, response, xml_file)

RECEIVE_SHAPE = response("test_winrs_stderr_rc.yml", 2)      # stdout + stderr Streams, Done, exit 1
TIMED_OUT = response("test_winrs_operation_timeout.yml", 3)  # s:Receiver w:TimedOut 2150858793
MAX_SHELLS = xml_file("winrb/wmi_error_v2.xml")             # s:Sender w:QuotaLimit, MSFT_WmiError only
OPS_QUOTA = xml_file("pywinrm-ops-quota-wmi-fault.xml")      # MSFT_WmiError 2150859174
COMMAND_GONE = response("test_winrs_bad_cmd_id.yml", 2)     # InvalidSelectors 2150858843 + UnexpectedSelectors
# Built: no recording has a gone *shell* (test_psrp_receive_failure.yml is a gone command too), so
# the recorded fault with Windows' shell-not-found text in f:Message (same Code/Subcode/Detail)
SHELL_GONE = COMMAND_GONE.replace(
    b"The Windows Remote Shell received a request to perform an operation on a command identifier that does not "
    b"exist. Either the command has completed execution or the client specified an invalid command identifier. ",
    b"The request for the Windows Remote Shell with ShellId 4283CBDC-3706-415B-88BD-B385F3E51A53 failed because "
    b"the shell was not found on the server. ")
NO_FILE = response("test_winrs_no_cmd_shell.yml", 1)        # s:Receiver w:InternalError 2147942402


def built_fault(code: int, subcode: str, text: str, sender: bool = False) -> bytes:
    """Built: the recorded 2147942402 fault envelope (pypsrp test_winrs_no_cmd_shell.yml) with
    another Subcode / WSManFault Code / text, for faults no recording has."""
    body = NO_FILE.decode()
    body = body.replace("s:Receiver", "s:Sender" if sender else "s:Receiver").replace("w:InternalError", subcode)
    body = body.replace('Code="2147942402"', f'Code="{code}"').replace("The system cannot find the file specified. ", text)
    return body.encode()


TIMEOUT_1460 = built_fault(1460, "w:InternalError", "This operation returned because the timeout period expired. ")
ACCESS_DENIED = built_fault(5, "w:AccessDenied", "Access is denied. ", sender=True)


def ok_stdout(state: dict) -> bytes:
    return json.dumps({"ok": True, "result": {"changed": False, "state": state}}, ensure_ascii=False).encode()


def done(streams, exit_code=0) -> Step:
    return Step("Receive", receive_body(RECEIVE_SHAPE, streams, "Done", exit_code))


def op_steps(*receives: Step, create: bool = True) -> list[Step]:
    return ([Step("Create", CREATE)] if create else []) + [Step("Command", COMMAND), Step("Send", SEND),
                                                           *receives, Step("Signal", SIGNAL)]


def ok_op(state: dict) -> list[Step]:
    return op_steps(done([("stdout", ok_stdout(state))]))


def run(r: Replayer, params=None, timeout=20.0):
    try:
        return run_op(r.endpoint, "host.info", params or {}, timeout=timeout)
    finally:
        close_all_shells()


def finished(r: Replayer):
    assert r.problems == [], r.problems
    assert r.remaining() == [], f"recorded steps never requested: {r.remaining()}"


def execute(r: Replayer, payload: bytes = b"x") -> tuple[bytes, bytes, int]:
    ep = Endpoint.from_inputs(r.endpoint)
    deadline = time.monotonic() + 20
    shell = executor._open_shell(ep, deadline)
    try:
        return executor._execute(shell, "host.info", payload, deadline)
    finally:
        shell.close()


# --- output: Streams, CommandState, encodings -------------------------------------------------
def _streams_by_regex(xml: str, name: str) -> bytes:
    """Independent of the executor's parser: the recording's Streams of ``name`` by regex."""
    import base64
    return b"".join(base64.b64decode(m) for m in re.findall(rf'<rsp:Stream Name="{name}"[^>]*>([^<]+)</rsp:Stream>', xml))


RECORDED_RUNS = [("test_winrs_standard.yml", 2), ("test_client_execute_cmd.yml", 2), ("test_client_execute_cmd.yml", 7),
                 ("test_winrs_send.yml", 4), ("test_winrs_stderr_rc.yml", 2), ("test_winrs_unicode.yml", 2),
                 ("test_winrs_environment.yml", 2), ("test_winrs_noprofile.yml", 2), ("test_winrs_extra_opts.yml", 2)]


@pytest.mark.parametrize("name,index", RECORDED_RUNS)
def test_recorded_receive_streams_are_joined_in_order(name, index):
    msgs = recording(name)
    create = next(m["response"] for m in msgs if "CreateResponse" in m["response"])
    command = next(m["response"] for m in msgs if "CommandResponse" in m["response"])
    recv = msgs[index]["response"]
    steps = [Step("Create", create.encode()), Step("Command", command.encode()), Step("Send", SEND),
             Step("Receive", recv.encode()), Step("Signal", SIGNAL)]
    with Replayer(steps) as r:
        out, err, rc = execute(r)
        finished(r)
    assert out == _streams_by_regex(recv, "stdout") and err == _streams_by_regex(recv, "stderr")
    assert rc == int(re.search(r"<rsp:ExitCode>(\d+)<", recv).group(1))


def test_recorded_values_spot_checks():
    """The same replays, against values read off the recordings by hand."""
    cases = {("test_winrs_stderr_rc.yml", 2): (b"out \r\n", b"err \r\n", 1),
             ("test_winrs_send.yml", 4): (b"output 1\noutput 2\n", b"", 0),
             ("test_winrs_unicode.yml", 2): ("こんにちは\n".encode(), b"", 0)}
    for (name, index), expected in cases.items():
        msgs = recording(name)
        steps = [Step("Create", msgs[0]["response"].encode()), Step("Command", msgs[1]["response"].encode()),
                 Step("Send", SEND), Step("Receive", msgs[index]["response"].encode()), Step("Signal", SIGNAL)]
        with Replayer(steps) as r:
            assert execute(r) == expected, name
            finished(r)


def test_interleaved_stdout_and_stderr_streams_reach_run_op_joined():
    """Built: the recorded stderr_rc Receive shape with the bootstrap's JSON cut into 3 stdout
    Streams interleaved with 2 stderr Streams (as a process writing both pipes produces)."""
    doc = ok_stdout({"echo": "interleaved", "n": list(range(20))})
    a, b = len(doc) // 3, 2 * len(doc) // 3
    streams = [("stdout", doc[:a]), ("stderr", b"warn 1\r\n"), ("stdout", doc[a:b]), ("stderr", b"warn 2\r\n"),
               ("stdout", doc[b:])]
    with Replayer(op_steps(done(streams))) as r:
        assert run(r)["state"] == {"echo": "interleaved", "n": list(range(20))}
        finished(r)


def test_running_then_timed_out_is_polled_again():
    """Recorded verbatim: Receive Running ("hi\\n"), w:TimedOut x2, Receive Done ("hi again\\n")."""
    msgs = recording("test_winrs_operation_timeout.yml")
    assert "w:TimedOut" in msgs[3]["response"] and "2150858793" in msgs[4]["response"]
    steps = [Step("Create", msgs[0]["response"].encode()), Step("Command", msgs[1]["response"].encode()),
             Step("Send", SEND), Step("Receive", msgs[2]["response"].encode()),
             Step("Receive", msgs[3]["response"].encode(), 500), Step("Receive", msgs[4]["response"].encode(), 500),
             Step("Receive", msgs[5]["response"].encode()), Step("Signal", SIGNAL)]
    with Replayer(steps) as r:
        assert execute(r) == (b"hi\nhi again\n", b"", 0)
        finished(r)
    assert r.actions().count("Receive") == 4


def test_receive_without_command_state_is_running():
    """Built (WinRb's *_not_done stubs have this shape; no Windows recording): a Receive with
    Streams but no CommandState, then Done."""
    doc = ok_stdout({"echo": "later"})
    first = Step("Receive", receive_body(RECEIVE_SHAPE, [("stdout", doc[:10])], state=None))
    with Replayer(op_steps(first, done([("stdout", doc[10:])]))) as r:
        assert run(r)["state"] == {"echo": "later"}
        finished(r)
    assert r.actions().count("Receive") == 2


def test_utf8_character_split_across_receives():
    """Built from the recorded unicode Receive: the JSON's multi-byte characters cut mid-character
    between two Receives (Running, then Done) and between two Streams."""
    doc = ok_stdout({"echo": "こんにちは wörld"})
    cut = doc.index("こ".encode()) + 1                      # inside the 3-byte sequence
    cut2 = doc.index("ö".encode()) + 1
    shape = response("test_winrs_unicode.yml", 2)
    first = Step("Receive", receive_body(shape, [("stdout", doc[:cut])], state="Running"))
    second = Step("Receive", receive_body(shape, [("stdout", doc[cut:cut2]), ("stdout", doc[cut2:])], "Done"))
    with Replayer(op_steps(first, second)) as r:
        assert run(r)["state"] == {"echo": "こんにちは wörld"}
        finished(r)


def test_clixml_error_on_stderr_is_reported_readably():
    """The recorded CLIXML error record (pypsrp data/) on stderr, nothing on stdout, exit 1."""
    clixml = xml_file("pypsrp_clixml_with_error.xml")
    with Replayer(op_steps(done([("stderr", clixml[:300]), ("stderr", clixml[300:])], exit_code=1))) as r:
        with pytest.raises(MalformedOutput) as info:
            run(r)
        finished(r)
    assert "The term 'fake' is not recognized" in info.value.message
    assert "<Obj" not in info.value.message and "_x000D__x000A_" not in info.value.message


def test_clixml_progress_on_stderr_does_not_hide_the_result():
    clixml = xml_file("pypsrp_clixml_no_errors.xml")
    with Replayer(op_steps(done([("stderr", clixml), ("stdout", ok_stdout({"echo": "p"}))]))) as r:
        assert run(r)["state"] == {"echo": "p"}
        finished(r)


# --- shell faults: recreate once --------------------------------------------------------------
def test_max_shells_per_user_real_shape_closes_idle_shells_and_recreates_once(monkeypatch):
    assert b"f:WSManFault" not in MAX_SHELLS and b"2150859173" in MAX_SHELLS and b"s:Sender" in MAX_SHELLS
    closed = []
    real = POOL.close_idle
    monkeypatch.setattr(POOL, "close_idle", lambda ep=None: closed.append(ep) or real(ep))
    with Replayer([Step("Create", MAX_SHELLS, 500)] + ok_op({"echo": "again"})) as r:
        assert run(r)["state"] == {"echo": "again"}
        finished(r)
    assert r.actions().count("Create") == 2
    assert closed and closed[0] is not None and closed[0].port == r.port


def test_max_shells_per_user_twice_is_a_quota_error():
    with Replayer([Step("Create", MAX_SHELLS, 500), Step("Create", MAX_SHELLS, 500)]) as r:
        with pytest.raises(ShellQuotaExceeded) as info:
            run(r)
        finished(r)
    assert info.value.wmi_code == executor.WSMAN_QUOTA_MAX_SHELLS and info.value.wsman_code is None


def test_operations_quota_recreates_the_shell_once():
    steps = [Step("Create", CREATE), Step("Command", OPS_QUOTA, 500)] + ok_op({"echo": "q"})
    with Replayer(steps) as r:
        assert run(r)["state"] == {"echo": "q"}
        finished(r)
    assert len(r.deletes) == 2     # the quota'd shell, then the new one at close_all_shells


@pytest.mark.parametrize("phase", ["Command", "Send"])
def test_shell_gone_recreates_once(phase):
    assert b"shell was not found" in SHELL_GONE and b"UnexpectedSelectors" in SHELL_GONE
    first = [Step("Create", CREATE), Step("Command", SHELL_GONE, 500)] if phase == "Command" else \
        [Step("Create", CREATE), Step("Command", COMMAND), Step("Send", SHELL_GONE, 500), Step("Signal", SIGNAL),
         Step("Signal", SIGNAL)]
    with Replayer(first + ok_op({"echo": "g"})) as r:
        assert run(r)["state"] == {"echo": "g"}
        finished(r)


def test_command_gone_on_receive_recreates_once():
    """The recorded bad-command-id fault (2150858843 + FaultDetail UnexpectedSelectors) on Receive."""
    assert b"UnexpectedSelectors" in COMMAND_GONE and b"command identifier that does not exist" in COMMAND_GONE
    steps = op_steps(Step("Receive", COMMAND_GONE, 500)) + [Step("Signal", SIGNAL)] + ok_op({"echo": "c"})
    with Replayer(steps) as r:
        assert run(r)["state"] == {"echo": "c"}
        finished(r)
    assert r.actions().count("Create") == 2


# --- fail fast ----------------------------------------------------------------------------------
FAIL_FAST = {
    "access_denied(built)": ("Command", ACCESS_DENIED, 5),
    "invalid_parameter_87": ("Receive", response("test_winrs_fail_poll_process.yml", 1), 87),
    "file_not_found_2147942402": ("Command", NO_FILE, 2147942402),
    "invalid_header_2150858767": ("Command", response("test_psrp_is_alive_other_wsman_error.yml", 3), 2150858767),
    "filename_too_long_2147942606": ("Command", xml_file("masterzen-command-filename-too-long-fault.xml"), 2147942606),
}


@pytest.mark.parametrize("case", sorted(FAIL_FAST))
def test_permanent_faults_fail_fast(case):
    phase, body, code = FAIL_FAST[case]
    if phase == "Command":
        steps = [Step("Create", CREATE), Step("Command", body, 500)]
    else:
        steps = op_steps(Step(phase, body, 500)) + [Step("Signal", SIGNAL)]
    with Replayer(steps) as r:
        with pytest.raises(WsmanFault) as info:
            run(r)
        finished(r)
    assert info.value.wsman_code == code and info.value.code == "WSMAN_FAULT"
    assert r.actions().count("Create") == 1 and r.actions().count("Command") == 1


def test_401_after_authentication_fails_fast():
    """Built: a 401 with Connection: close (jborean93/omi#29) on Command, after a Create that
    authenticated."""
    steps = [Step("Create", CREATE),
             Step("Command", b"", 401, (("WWW-Authenticate", "Negotiate"), ("WWW-Authenticate", 'Basic realm="WSMAN"'),
                                        ("Connection", "close")))]
    with Replayer(steps) as r:
        with pytest.raises(AuthenticationFailed):
            run(r)
        finished(r)
    assert r.actions().count("Command") == 1 and r.actions().count("Create") == 1


def test_empty_500_with_connection_close_is_retried():
    """Built: pypsrp's test_psrp_is_alive_http_error.yml records an HTTP error with no body; here
    it is an empty-body 500 with Connection: close on Command, then the host answers again."""
    steps = [Step("Create", CREATE), Step("Command", b"", 500, (("Connection", "close"),))] + ok_op({"echo": "r"})
    with Replayer(steps) as r:
        assert run(r)["state"] == {"echo": "r"}
        finished(r)


ENVELOPE_FAULT = built_fault(2150859025, "w:EncodingLimit",
                             "The WS-Management service cannot process the request because the request size "
                             "exceeded the configured MaxEnvelopeSize quota. ", sender=True)


@pytest.mark.parametrize("body", [b"", ENVELOPE_FAULT], ids=["empty", "soap_body"])
def test_413_is_envelope_too_large_with_or_without_a_body(body):
    """Built: HTTP 413 on Send (ansible.windows#391, masterzen/winrm#156), with no body and with a
    SOAP fault body built from a recorded fault envelope."""
    steps = [Step("Create", CREATE), Step("Command", COMMAND), Step("Send", body, 413),
             Step("Signal", SIGNAL), Step("Signal", SIGNAL)]
    with Replayer(steps) as r:
        with pytest.raises(EnvelopeTooLarge) as info:
            run(r)
        finished(r)
    assert info.value.code == "ENVELOPE_TOO_LARGE" and info.value.details["http_status"] == 413
    assert r.actions().count("Send") == 1


# --- TimedOut / 1460 on Create, Command, Send: one retry on a fresh shell ----------------------
TIMEOUTS = {"timedout": TIMED_OUT, "1460(built)": TIMEOUT_1460}


def _failing(phase: str, body: bytes) -> list[Step]:
    if phase == "Create":
        return [Step("Create", body, 500)]
    if phase == "Command":
        return [Step("Create", CREATE), Step("Command", body, 500)]
    return [Step("Create", CREATE), Step("Command", COMMAND), Step("Send", body, 500),
            Step("Signal", SIGNAL), Step("Signal", SIGNAL)]


@pytest.mark.parametrize("kind", sorted(TIMEOUTS))
@pytest.mark.parametrize("phase", ["Create", "Command", "Send"])
def test_timeout_on_create_command_send_retries_once_on_a_fresh_shell(phase, kind):
    """Built: the recorded TimedOut fault (recorded on Receive) and a 1460 fault answered to Create,
    Command or Send. The op runs again on a new shell; the timed-out command gets no more input."""
    with Replayer(_failing(phase, TIMEOUTS[kind]) + ok_op({"echo": phase})) as r:
        assert run(r)["state"] == {"echo": phase}
        finished(r)
    acts = r.actions()
    assert acts.count("Create") == 2
    second_create = len(acts) - 1 - acts[::-1].index("Create")
    assert acts[:second_create].count("Send") == (1 if phase == "Send" else 0)   # never re-sent


@pytest.mark.parametrize("phase", ["Command", "Send"])
def test_timeout_twice_is_raised(phase):
    with Replayer(_failing(phase, TIMED_OUT) + _failing(phase, TIMED_OUT)) as r:
        with pytest.raises(WsmanFault) as info:
            run(r)
        finished(r)
    assert info.value.code == "WSMAN_TIMEOUT" and info.value.wsman_code == executor.WSMAN_OPERATION_TIMEOUT

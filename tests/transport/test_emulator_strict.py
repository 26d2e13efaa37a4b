"""The emulator is no kinder than Windows: Streams, DesiredStream/OutputStreams, console-mode stdin,
quotas per user, injectable Send/Command faults, InvalidParameter, EncodingLimit, the final 401."""
from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import pytest
import requests
import xmltodict
from requests_ntlm import HttpNtlmAuth
from winrm.exceptions import WinRMOperationTimeoutError, WSManFaultError
from winrm.protocol import Protocol

from components.winrm import WsmanFault, bootstrap, executor, run_op
from tests.emulator import processes

NS = {"s": "http://www.w3.org/2003/05/soap-envelope", "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
      "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd", "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
RECEIVE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"


def proto(lab, host, **kw) -> Protocol:
    opts = dict(endpoint=host.url, transport="ntlm", username=host.username, password=host.endpoint["password"],
                server_cert_validation="validate", ca_trust_path=lab.ca_path, proxy=None,
                read_timeout_sec=10, operation_timeout_sec=2)
    opts.update(kw)
    return Protocol(**opts)


def receive_raw(p: Protocol, shell: str, command_id: str | None, streams: str = "stdout stderr") -> ET.Element:
    req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI, action=RECEIVE, shell_id=shell)}
    desired = {"#text": streams}
    if command_id:
        desired["@CommandId"] = command_id
    req["env:Envelope"]["env:Body"] = {"rsp:Receive": {"rsp:DesiredStream": desired}}
    return ET.fromstring(p.send_message(xmltodict.unparse(req)))


def streams_of(root: ET.Element) -> list[tuple[str, bytes]]:
    return [(s.get("Name"), base64.b64decode(s.text)) for s in root.iter(f"{{{NS['rsp']}}}Stream") if s.text]


def is_done(root: ET.Element) -> bool:
    state = root.find(".//rsp:CommandState", NS)
    return state is not None and state.get("State").endswith("/Done")


def test_output_arrives_in_several_interleaved_streams_per_receive(lab):
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        text = "x" * 200
        cid = p.run_command(shell, "echo", [text])
        root = receive_raw(p, shell, cid)
        got = streams_of(root)
        assert len(got) >= 4 and all(name == "stdout" for name, _ in got)      # 202 bytes, 48 per piece
        assert b"".join(d for _, d in got) == (text + "\r\n").encode() and is_done(root)
    finally:
        p.close_shell(shell)


def test_process_output_keeps_write_order_across_streams():
    proc = processes.Process("C", "x", 65001)
    proc.write(stdout=b"o1")
    proc.write(stderr=b"e1")
    proc.write(stdout=b"o2" * 30)            # 60 bytes: two pieces
    proc.finish(0)
    pieces, done, rc = proc.take(10_000, ("stdout", "stderr"))
    assert [n for n, _ in pieces] == ["stdout", "stderr", "stdout", "stdout"] and (done, rc) == (True, 0)
    assert b"".join(d for n, d in pieces if n == "stdout") == b"o1" + b"o2" * 30


def test_desired_stream_is_honoured_and_undelivered_output_holds_done(lab):
    """A Receive for stdout alone never gets the stderr output, and is not told Done while it is
    pending (strict: unsure what Windows does with a stream nobody asks for)."""
    h = lab.hosts[0]
    p = proto(lab, h, operation_timeout_sec=1, read_timeout_sec=5)
    shell = p.open_shell()
    try:
        cid = p.run_command(shell, "nosuchcmd")                  # 9009: output on stderr only
        with pytest.raises(WinRMOperationTimeoutError):
            receive_raw(p, shell, cid, "stdout")
        root = receive_raw(p, shell, cid, "stdout stderr")
        assert {n for n, _ in streams_of(root)} == {"stderr"} and is_done(root)
        assert b"is not recognized" in b"".join(d for _, d in streams_of(root))
    finally:
        p.close_shell(shell)


def test_output_streams_of_create_are_honoured(lab):
    """A shell created with OutputStreams "stdout" captures no stderr (MS-WSMV 3.1.4.5 rsp:Shell)."""
    h = lab.hosts[0]
    p = proto(lab, h)
    header = p.build_wsman_header(resource_uri=SHELL_URI, action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create")
    body = {"env:Envelope": dict(header, **{"env:Body": {"rsp:Shell": {"rsp:InputStreams": "stdin",
                                                                       "rsp:OutputStreams": "stdout"}}})}
    root = ET.fromstring(p.send_message(xmltodict.unparse(body)))
    shell = root.find(".//w:Selector[@Name='ShellId']", NS).text
    try:
        cid = p.run_command(shell, "nosuchcmd")
        root = receive_raw(p, shell, cid)
        assert streams_of(root) == [] and is_done(root)
    finally:
        p.close_shell(shell)


def test_executor_sends_console_mode_stdin_false(lab):
    h = lab.hosts[0]
    h.commands_seen.clear()
    run_op(h.endpoint, "host.info", {})
    assert [c["consoleModeStdin"] for c in h.commands_seen] == ["FALSE"]


@pytest.mark.parametrize("console", [True, None])
def test_bootstrap_with_console_mode_stdin_fails(lab, console):
    """TRUE (or the option absent: pywinrm's and WinRS's default) -> stdin is a console; the
    bootstrap cannot read its payload."""
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell(codepage=65001)
    try:
        if console is None:
            req = {"env:Envelope": p.build_wsman_header(resource_uri=SHELL_URI, shell_id=shell,
                                                        action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command")}
            req["env:Envelope"]["env:Body"] = {"rsp:CommandLine": {"rsp:Command": bootstrap.COMMAND_LINE}}
            root = ET.fromstring(p.send_message(xmltodict.unparse(req)))
            cid = root.find(".//rsp:CommandId", NS).text
        else:
            cid = p.run_command(shell, bootstrap.COMMAND_LINE, console_mode_stdin=True)
        p.send_command_input(shell, cid, bootstrap.build_payload("host.info", {}, None), end=True)
        out, err, rc = p.get_command_output(shell, cid)
        assert (out, rc) == (b"", 1) and b"console mode" in err
    finally:
        p.close_shell(shell)


def test_receive_without_command_id_is_invalid_parameter_87(lab):
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        with pytest.raises(WSManFaultError) as info:
            receive_raw(p, shell, None)
        assert info.value.wsman_fault_code == 87 and info.value.fault_subcode == "w:InvalidParameter"
        assert "faultDetail/InvalidValue" in info.value.response and "Shell cmd plugin" in info.value.response
    finally:
        p.close_shell(shell)


def test_unknown_command_id_is_invalid_selectors_with_fault_detail(lab):
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        with pytest.raises(WSManFaultError) as info:
            receive_raw(p, shell, "87E77BEB-6761-4C48-9D70-A00266B8459A")
        assert info.value.wsman_fault_code == 2150858843 and info.value.fault_subcode == "w:InvalidSelectors"
        assert "faultDetail/UnexpectedSelectors" in info.value.response
        assert "command identifier that does not exist" in info.value.response
    finally:
        p.close_shell(shell)


def test_max_envelope_size_under_8192_is_encoding_limit(lab):
    h = lab.hosts[0]
    p = proto(lab, h)

    def create(size: int) -> bytes:    # pywinrm always sends 153600, so the header is set by hand
        header = p.build_wsman_header(resource_uri=SHELL_URI, action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create")
        header["env:Header"]["w:MaxEnvelopeSize"]["#text"] = str(size)
        body = {"env:Envelope": dict(header, **{"env:Body": {"rsp:Shell": {"rsp:InputStreams": "stdin",
                                                                           "rsp:OutputStreams": "stdout stderr"}}})}
        return p.send_message(xmltodict.unparse(body))

    with pytest.raises(WSManFaultError) as info:
        create(8191)
    assert info.value.fault_subcode == "w:EncodingLimit" and "MinimumEnvelopeLimit" in info.value.response
    assert h.shells_open == 0
    shell = ET.fromstring(create(8192)).find(".//w:Selector[@Name='ShellId']", NS).text
    p.close_shell(shell)


def test_command_line_over_32k_is_the_create_process_fault(lab):
    """masterzen/winrm's recorded 2147942606 ("The filename or extension is too long."); between
    8,191 and 32,767 characters it is cmd.exe's own message instead."""
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        with pytest.raises(WSManFaultError) as info:
            p.run_command(shell, "echo", ["a" * 32_800])
        assert info.value.wsman_fault_code == 2147942606 and "too long" in info.value.reason
        cid = p.run_command(shell, "echo", ["a" * 9000])
        out, err, rc = p.get_command_output(shell, cid)
        assert rc == 1 and b"The command line is too long." in err
    finally:
        p.close_shell(shell)


def _final_401(url, auth, verify):
    r = requests.post(url, data=b"<x/>", auth=auth, verify=verify,
                      headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
    return r.status_code, r.headers.get("Connection", "")


def test_final_401_carries_connection_close(lab):
    """jborean93/omi#29: Windows closes the connection with its final 401."""
    h = lab.hosts[1]
    assert _final_401(h.url, HttpNtlmAuth(h.username, "Wrong-Passw0rd!"), lab.ca_path) == (401, "close")
    assert _final_401(h.url, (h.username, h.endpoint["password"]), lab.ca_path) == (401, "close")  # Basic is off


@pytest.mark.parametrize("kind,action", [("timeout", "Send"), ("error_timeout", "Send"), ("timeout", "Command"),
                                         ("error_timeout", "Command"), ("timeout", "Create")])
def test_injected_timeouts_retry_once_on_a_fresh_shell(lab, kind, action):
    h = lab.hosts[0]
    created, sends = h.counters["shells_created"], h.counters["actions"].get("Send", 0)
    creates = h.counters["actions"].get("Create", 0)
    h.faults.add(kind, action=action)
    assert run_op(h.endpoint, "host.info", {"echo": kind})["state"]["echo"] == kind
    assert h.counters["faults_injected"][kind] >= 1
    # a shell that got the fault (Command/Send), then a fresh one; a failed Create made none
    assert h.counters["shells_created"] == created + (1 if action == "Create" else 2)
    assert h.counters["actions"]["Create"] - creates == 2
    assert h.counters["actions"].get("Send", 0) - sends == (2 if action == "Send" else 1)


@pytest.mark.parametrize("kind,action,code", [("broken_pipe", "Send", 109), ("filename_too_long", "Command", 2147942606)])
def test_injected_permanent_faults_fail_fast(lab, kind, action, code):
    h = lab.hosts[0]
    commands = h.counters["commands"]
    h.faults.add(kind, action=action)
    with pytest.raises(WsmanFault) as info:
        run_op(h.endpoint, "host.info", {})
    assert info.value.wsman_code == code
    assert h.counters["commands"] - commands <= 1


def test_injected_timeout_twice_on_send_is_raised(lab):
    h = lab.hosts[0]
    h.faults.add("timeout", action="Send", count=2)
    with pytest.raises(WsmanFault) as info:
        run_op(h.endpoint, "host.info", {})
    assert info.value.wsman_code == executor.WSMAN_OPERATION_TIMEOUT


def test_stderr_of_a_failed_command_reaches_the_error(lab, monkeypatch):
    """The emulator refuses a payload whose script is not the shipped one, on stderr (exit 1):
    the executor must have asked for stderr to say why (and to ever see the command Done)."""
    from components.winrm import MalformedOutput
    real = bootstrap.build_payload
    monkeypatch.setattr(executor.bootstrap, "build_payload",
                        lambda op, params, journal: real(op, params, journal).replace(b"param(", b"param (", 1))
    with pytest.raises(MalformedOutput) as info:
        run_op(lab.hosts[0].endpoint, "host.info", {}, timeout=5)
    assert "is not byte-for-byte" in info.value.message

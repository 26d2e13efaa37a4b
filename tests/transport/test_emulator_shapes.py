"""The emulator answers the recorded requests in the recorded shapes.

Each case sends a request recorded against real Windows (pypsrp's YAML; ShellId/CommandId
rewritten to live ones) to an emulated host and compares the structure of the answer with the
recorded answer: the set of element paths (namespace URI + local name, with the names of their
attributes), the texts that carry meaning (a:Action, s:Code/s:Subcode values, w:FaultDetail,
MSFT_WmiError error_Code), the values of CommandState@State and f:WSManFault@Code, and the HTTP
status. Not compared: ids, texts of messages, Stream contents and counts, exit codes.
Only `p:ActivityId` (a diagnostic header some Windows versions add) is ignored.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import requests
from requests_ntlm import HttpNtlmAuth

from components.winrm import bootstrap
from tests.transport.replayer import recording, xml_file

W = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
P = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
F = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
KEY_TEXT = {"{http://schemas.xmlsoap.org/ws/2004/08/addressing}Action", "{http://www.w3.org/2003/05/soap-envelope}Value",
            f"{{{W}}}FaultDetail", "{http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError}error_Code"}
KEY_ATTR = {"State", "Code"}
IGNORED = {f"{{{P}}}ActivityId"}
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def skeleton(xml: bytes | str) -> set[str]:
    root = ET.fromstring(xml)
    paths: set[str] = set()

    def walk(el, prefix):
        if el.tag in IGNORED:
            return
        attrs = ",".join(sorted(a if a.startswith(XSI) is False else a.replace(XSI, "xsi:") for a in el.attrib))
        keyed = "".join(f"[{a}={el.get(a)}]" for a in sorted(KEY_ATTR & set(el.attrib))
                        if not (a == "Code" and el.tag != f"{{{F}}}WSManFault"))
        path = f"{prefix}/{el.tag}[{attrs}]{keyed}"
        if el.tag in KEY_TEXT:
            path += f"={(el.text or '').strip()}"
        paths.add(path)
        for child in el:
            walk(child, path)

    walk(root, "")
    return paths


def assert_same_shape(got: bytes, recorded: bytes | str, what: str, stub: bool = False):
    """``stub``: the recording is a test fixture kept by a client project (WinRb, pywinrm) whose copy
    dropped a:RelatesTo; every real response has it (pypsrp's recordings, MS-WSMV 3.1.4)."""
    g, r = skeleton(got), skeleton(recorded)
    if stub:
        g = {p for p in g if not p.endswith("}RelatesTo[]")}
    assert g == r, f"{what}: only in emulator: {sorted(g - r)}\nonly in recording: {sorted(r - g)}"


@pytest.fixture
def wire(lab):
    h = lab.hosts[0]
    s = requests.Session()
    s.auth = HttpNtlmAuth(h.username, h.endpoint["password"])
    s.verify = lab.ca_path
    s.trust_env = False

    def post(body: str | bytes) -> requests.Response:
        data = body.encode() if isinstance(body, str) else body
        return s.post(h.url, data=data, headers={"Content-Type": "application/soap+xml;charset=UTF-8"}, timeout=30)

    post.host = h
    yield post
    s.close()


def _ids(text: str, shell: str | None = None, command: str | None = None) -> str:
    if shell:
        text = re.sub(r'(<wsman:Selector Name="ShellId">)[^<]+', rf"\g<1>{shell}", text)
    if command:
        text = re.sub(r'CommandId="[^"]+"', f'CommandId="{command}"', text)
    return text


def _status(msg: dict) -> int:
    return (msg.get("transport_error") or {}).get("code", 200)


def _check(resp: requests.Response, msg: dict, what: str):
    assert resp.status_code == _status(msg), (what, resp.status_code, resp.text[:300])
    assert resp.headers["Content-Type"].lower().startswith("application/soap+xml"), what
    assert_same_shape(resp.content, msg["response"], what)


def _open(wire, rec="test_winrs_standard.yml") -> str:
    msgs = recording(rec)
    resp = wire(msgs[0]["request"])
    _check(resp, msgs[0], "Create")
    return ET.fromstring(resp.content).find(f".//{{{W}}}Selector").text


def _command(wire, shell: str, line: str | None = None) -> str:
    msg = recording("test_winrs_standard.yml")[1]
    req = _ids(msg["request"], shell)
    if line is not None:
        req = re.sub(r"<rsp:CommandLine>.*</rsp:CommandLine>",
                     f"<rsp:CommandLine><rsp:Command>{line}</rsp:Command></rsp:CommandLine>", req)
        req = req.replace('<wsman:Option Name="WINRS_SKIP_CMD_SHELL">False</wsman:Option>',
                          '<wsman:Option Name="WINRS_CONSOLEMODE_STDIN">FALSE</wsman:Option>'
                          '<wsman:Option Name="WINRS_SKIP_CMD_SHELL">False</wsman:Option>')
    resp = wire(req)
    _check(resp, msg, "Command")
    return ET.fromstring(resp.content).find(".//{http://schemas.microsoft.com/wbem/wsman/1/windows/shell}CommandId").text


def test_create_command_receive_signal_delete(wire):
    msgs = recording("test_winrs_standard.yml")
    shell = _open(wire)
    command = _command(wire, shell, "hostname")
    _check(wire(_ids(msgs[2]["request"], shell, command)), msgs[2], "Receive (Done)")
    _check(wire(_ids(msgs[3]["request"], shell, command)), msgs[3], "Signal")
    _check(wire(_ids(msgs[4]["request"], shell)), msgs[4], "Delete")


def test_send(wire):
    msgs = recording("test_winrs_send.yml")
    shell = _open(wire)
    command = _command(wire, shell, bootstrap.COMMAND_LINE)
    _check(wire(_ids(msgs[2]["request"], shell, command)), msgs[2], "Send")
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))


def test_receive_timed_out(wire):
    msgs = recording("test_winrs_operation_timeout.yml")
    shell = _open(wire)
    command = _command(wire, shell, bootstrap.COMMAND_LINE)        # waits for stdin: no output
    req = re.sub(r"<wsman:OperationTimeout>PT[0-9.]+S", "<wsman:OperationTimeout>PT1S", _ids(msgs[3]["request"], shell, command))
    _check(wire(req), msgs[3], "Receive w:TimedOut")
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))


def test_receive_unknown_command_id(wire):
    msgs = recording("test_winrs_bad_cmd_id.yml")
    shell = _open(wire)
    _check(wire(_ids(msgs[2]["request"], shell)), msgs[2], "Receive, unknown CommandId")   # recorded bogus id
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))


def test_receive_without_command_id(wire):
    msgs = recording("test_winrs_fail_poll_process.yml")
    shell = _open(wire, "test_winrs_fail_poll_process.yml")
    _check(wire(_ids(msgs[1]["request"], shell)), msgs[1], "Receive without CommandId")
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))


def test_unknown_shell(wire):
    """Shape of the recorded InvalidSelectors fault (no recording has a gone shell; same shape)."""
    msgs = recording("test_winrs_bad_cmd_id.yml")
    _check(wire(_ids(msgs[2]["request"], "8D3F7B6C-0000-4000-8000-000000000000")), msgs[2], "unknown ShellId")


def test_max_shells_per_user(wire):
    h = wire.host
    saved = h.limits.max_shells_per_user
    h.limits.max_shells_per_user = 0
    try:
        resp = wire(recording("test_winrs_standard.yml")[0]["request"])
    finally:
        h.limits.max_shells_per_user = saved
    assert resp.status_code == 500
    assert_same_shape(resp.content, xml_file("winrb/wmi_error_v2.xml"), "MaxShellsPerUser", stub=True)


def test_operations_quota(wire):
    h = wire.host
    shell = _open(wire)
    saved = h.limits.max_operations_per_user
    h.limits.max_operations_per_user = 0
    try:
        resp = wire(_ids(recording("test_winrs_standard.yml")[1]["request"], shell))
    finally:
        h.limits.max_operations_per_user = saved
    assert resp.status_code == 500
    assert_same_shape(resp.content, xml_file("pywinrm-ops-quota-wmi-fault.xml"), "operations quota", stub=True)
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))


def test_command_line_too_long_for_create_process(wire):
    shell = _open(wire)
    msg = recording("test_winrs_standard.yml")[1]
    resp = wire(_ids(msg["request"], shell).replace("<rsp:Arguments>hi</rsp:Arguments>",
                                                    "<rsp:Arguments>" + "a" * 33_000 + "</rsp:Arguments>"))
    assert resp.status_code == 500
    recorded = xml_file("masterzen-command-filename-too-long-fault.xml")
    assert_same_shape(resp.content, recorded, "2147942606")
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))



def test_receive_running_with_output(wire):
    """More output than one Receive may carry under MaxEnvelopeSize 8,192: Streams and Running, no
    End markers (the recorded Running Receive of test_winrs_operation_timeout.yml)."""
    msgs = recording("test_winrs_operation_timeout.yml")
    shell = _open(wire)
    command = _command(wire, shell, "echo " + "r" * 8000)
    req = re.sub(r"(<wsman:MaxEnvelopeSize[^>]*>)\d+", r"\g<1>8192", _ids(msgs[2]["request"], shell, command))
    resp = wire(req)
    _check(resp, msgs[2], "Receive (Running)")
    wire(_ids(recording("test_winrs_standard.yml")[3]["request"], shell, command))
    wire(_ids(recording("test_winrs_standard.yml")[4]["request"], shell))

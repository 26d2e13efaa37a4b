"""The WinRS Receive, built and parsed here rather than by pywinrm's ``get_command_output_raw``.

We own this one request because its shape decides what output we get (MS-WSMV 3.1.4.14,
https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/ — Receive):

* ``DesiredStream`` names the streams we want, ``stdout stderr``: a stream left out is not sent
  (and a driver's error text on stderr would be lost).
* A ReceiveResponse carries **any number** of ``rsp:Stream`` elements, stdout and stderr
  interleaved in the order the process wrote them, each a base64 fragment cut at an arbitrary
  byte (a UTF-8 character can straddle two Streams or two Receives: we join bytes, never decode a
  fragment). Real recordings: pypsrp ``test_client_execute_cmd.yml`` (3 stdout Streams in one
  Receive), ``test_winrs_stderr_rc.yml`` (stdout then stderr).
* ``rsp:CommandState`` may be ``Running``, ``Done`` (with ``rsp:ExitCode``) or absent; absent
  means still running (WinRb/WinRM ``*_not_done`` stubs; MS-WSMV 3.1.4.14: CommandState is
  optional in a ReceiveResponse).

Faults come back through pywinrm's ``Protocol.send_message`` (WSManFaultError / the w:TimedOut
conversion), so classification stays in ``executor._classify``.
"""
from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import xmltodict

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
RECEIVE_ACTION = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
DESIRED_STREAMS = "stdout stderr"
NS = {"s": "http://www.w3.org/2003/05/soap-envelope",
      "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"}
_DONE = "/CommandState/Done"


def receive(protocol, shell_id: str, command_id: str) -> tuple[bytes, bytes, int, bool]:
    """One Receive long-poll: ``(stdout, stderr, exit_code, done)``; exit_code is -1 until done.
    Raises pywinrm's WinRMOperationTimeoutError when nothing came within OperationTimeout."""
    req = {"env:Envelope": protocol.build_wsman_header(resource_uri=SHELL_URI, action=RECEIVE_ACTION,
                                                       shell_id=shell_id)}
    body = req["env:Envelope"].setdefault("env:Body", {})
    body["rsp:Receive"] = {"rsp:DesiredStream": {"@CommandId": command_id, "#text": DESIRED_STREAMS}}
    return parse_receive(protocol.send_message(xmltodict.unparse(req)), command_id)


def parse_receive(response: bytes | str, command_id: str) -> tuple[bytes, bytes, int, bool]:
    """Every Stream of a ReceiveResponse, in document order; CommandState absent = running."""
    root = ET.fromstring(response)
    resp = root.find("s:Body/rsp:ReceiveResponse", NS)
    if resp is None:
        raise ValueError("not a ReceiveResponse")
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    for node in resp.findall("rsp:Stream", NS):
        other = node.get("CommandId")
        if other and other.upper() != command_id.upper():
            continue
        if node.get("Name") in chunks and node.text and node.text.strip():
            chunks[node.get("Name")].append(base64.b64decode(node.text.strip(), validate=True))
    state = resp.find("rsp:CommandState", NS)
    done = state is not None and (state.get("State") or "").endswith(_DONE)
    exit_code = -1
    if done:
        text = (state.findtext("rsp:ExitCode", default="", namespaces=NS) or "").strip()
        exit_code = int(text) if text else -1
    return b"".join(chunks["stdout"]), b"".join(chunks["stderr"]), exit_code, done

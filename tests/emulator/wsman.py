"""WS-Management / WinRS SOAP: parse requests, build responses and faults (MS-WSMV shapes)."""
from __future__ import annotations

import base64
import collections
import re
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
ACTIONS = {
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
    "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command": "Command",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send": "Send",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive": "Receive",
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal": "Signal",
}
RESPONSE_ACTION = {
    "Create": "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
    "Delete": "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse",
    "Command": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse",
    "Send": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse",
    "Receive": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
    "Signal": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse",
}
STATE_RUNNING = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"
STATE_DONE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
WMI_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError"


class BadRequest(Exception):
    pass


class Request:
    """The parts of a WS-Man request the server needs."""

    def __init__(self, body: bytes):
        try:
            self.root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise BadRequest(f"not XML: {exc}") from None
        header = self.root.find("s:Header", NS)
        self.body = self.root.find("s:Body", NS)
        if header is None or self.body is None:
            raise BadRequest("not a SOAP 1.2 envelope")
        self.action_uri = _text(header.find("a:Action", NS))
        self.action = ACTIONS.get(self.action_uri, "")
        self.message_id = _text(header.find("a:MessageID", NS))
        self.resource_uri = _text(header.find("w:ResourceURI", NS))
        sel = header.find("w:SelectorSet/w:Selector[@Name='ShellId']", NS)
        self.shell_id = _text(sel)
        self.operation_timeout = parse_duration(_text(header.find("w:OperationTimeout", NS)))
        mes = _text(header.find("w:MaxEnvelopeSize", NS))
        self.max_envelope_size = int(mes) if mes.isdigit() else 153600
        self.options = {o.get("Name"): (o.text or "") for o in header.findall("w:OptionSet/w:Option", NS)}

    def find(self, path: str):
        return self.body.find(path, NS)

    def findall(self, path: str):
        return self.body.findall(path, NS)


def _text(el) -> str:
    return (el.text or "").strip() if el is not None else ""


def parse_duration(text: str) -> float | None:
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?", text or "")
    if not m or not any(m.groups()):
        return None
    h, mnt, s = m.groups()
    return int(h or 0) * 3600 + int(mnt or 0) * 60 + float(s or 0)


def new_uuid() -> str:
    return str(uuid.uuid4()).upper()


def envelope(action: str, relates_to: str, body: str) -> bytes:
    return (
        '<s:Envelope xml:lang="en-US" xmlns:s="{s}" xmlns:a="{a}" xmlns:x="{x}" xmlns:w="{w}" '
        'xmlns:rsp="{rsp}" xmlns:p="{p}">'
        "<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{mid}</a:MessageID>"
        "<a:To>{anon}</a:To><a:RelatesTo>{rel}</a:RelatesTo></s:Header>"
        "<s:Body>{body}</s:Body></s:Envelope>"
    ).format(action=action, mid=new_uuid(), anon=ANONYMOUS, rel=escape(relates_to), body=body, **NS).encode("utf-8")


def create_response(req: Request, shell_id: str, address: str, owner: str, client_ip: str,
                    idle_timeout: float = 7200.0) -> bytes:
    body = (
        "<x:ResourceCreated><a:Address>{addr}</a:Address><a:ReferenceParameters>"
        "<w:ResourceURI>{uri}</w:ResourceURI><w:SelectorSet><w:Selector Name=\"ShellId\">{sid}</w:Selector>"
        "</w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>"
        "<rsp:Shell xmlns:rsp=\"{rsp}\"><rsp:ShellId>{sid}</rsp:ShellId><rsp:ResourceUri>{uri}</rsp:ResourceUri>"
        "<rsp:Owner>{owner}</rsp:Owner><rsp:ClientIP>{ip}</rsp:ClientIP><rsp:IdleTimeOut>PT{idle:.3f}S</rsp:IdleTimeOut>"
        "<rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
        "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime><rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
    ).format(addr=escape(address), uri=SHELL_URI, sid=shell_id, owner=escape(owner), ip=escape(client_ip), rsp=NS["rsp"],
                idle=idle_timeout)
    return envelope(RESPONSE_ACTION["Create"], req.message_id, body)


def command_response(req: Request, command_id: str) -> bytes:
    return envelope(RESPONSE_ACTION["Command"], req.message_id,
                    f"<rsp:CommandResponse><rsp:CommandId>{command_id}</rsp:CommandId></rsp:CommandResponse>")


def empty_response(req: Request, body: str = "") -> bytes:
    return envelope(RESPONSE_ACTION[req.action], req.message_id, body)


def receive_response(req: Request, command_id: str, stdout: bytes, stderr: bytes, done: bool, exit_code: int | None) -> bytes:
    parts = ["<rsp:ReceiveResponse>"]
    for name, data in (("stdout", stdout), ("stderr", stderr)):
        if data:
            parts.append(f'<rsp:Stream Name="{name}" CommandId="{command_id}">{base64.b64encode(data).decode()}</rsp:Stream>')
    if done:
        parts.append(f'<rsp:Stream Name="stdout" CommandId="{command_id}" End="true"></rsp:Stream>')
        parts.append(f'<rsp:Stream Name="stderr" CommandId="{command_id}" End="true"></rsp:Stream>')
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_DONE}">'
                     f"<rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>")
    else:
        parts.append(f'<rsp:CommandState CommandId="{command_id}" State="{STATE_RUNNING}"/>')
    parts.append("</rsp:ReceiveResponse>")
    return envelope(RESPONSE_ACTION["Receive"], req.message_id, "".join(parts))


def fault(relates_to: str, *, code: str, subcode: str, reason: str, wsman_code: int | None = None,
          wmi_code: int | None = None, machine: str = "127.0.0.1") -> bytes:
    """An s:Fault body as WinRM sends it (always with HTTP 500)."""
    detail = ""
    if wsman_code is not None:
        detail += (f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{wsman_code}" Machine="{escape(machine)}">'
                   f"<f:Message>{escape(reason)}</f:Message></f:WSManFault>")
    if wmi_code is not None:
        detail += (f'<p:MSFT_WmiError xmlns:p="{WMI_NS}" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common">'
                   f"<p:Message>{escape(reason)}</p:Message><p:MessageID>HRESULT 0x{wmi_code:x}</p:MessageID>"
                   f"<p:error_Code>{wmi_code}</p:error_Code><p:error_Type>HRESULT</p:error_Type>"
                   "</p:MSFT_WmiError>")
    body = (f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
            f'<s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason>'
            f"<s:Detail>{detail}</s:Detail></s:Fault>")
    return envelope(FAULT_ACTION, relates_to, body)


# The faults we emulate: name -> (code, subcode, wsman code, wmi code, reason)
FAULTS = {
    "timeout": ("s:Receiver", "w:TimedOut", 2150858793, None,
                "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.  "),
    "unknown_shell": ("s:Sender", "w:InvalidSelectors", 2150858843, None,
                      "The request for the Windows Remote Shell with ShellId {shell} failed because the shell was not "
                      "found on the server. Possible causes are: the specified ShellId is incorrect or the shell no "
                      "longer exists on the server. Provide the correct ShellId or create a new shell and retry the operation. "),
    "max_shells": ("s:Receiver", "w:QuotaLimit", 2150859173, None,
                   "The WS-Management service cannot process the request. This user is allowed a maximum number of "
                   "{limit} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user. "),
    "quota": ("s:Receiver", "w:InternalError", None, 2150859174,
              "The WS-Management service cannot process the request. This user is allowed a maximum number of "
              "{limit} concurrent operations, which has been exceeded. Close existing operations for this user, "
              "or raise the quota for this user. "),
    "unknown_command": ("s:Sender", "w:InvalidSelectors", 2150858843, None,
                        "The request for the Windows Remote Shell with CommandId {command} failed because the command "
                        "was not found on the server. "),
    "bad_request": ("s:Sender", "w:SchemaValidationError", 2150858817, None,
                    "The SOAP XML in the message does not match the corresponding XML schema definition. "),
    "action_not_supported": ("s:Sender", "a:ActionNotSupported", 2150858754, None,
                             "The action is not supported by the service. "),
}


def named_fault(name: str, relates_to: str, machine: str = "127.0.0.1", **fmt) -> bytes:
    code, subcode, wsman_code, wmi_code, reason = FAULTS[name]
    reason = reason.format_map(collections.defaultdict(str, fmt))
    return fault(relates_to, code=code, subcode=subcode, reason=reason, wsman_code=wsman_code,
                 wmi_code=wmi_code, machine=machine)

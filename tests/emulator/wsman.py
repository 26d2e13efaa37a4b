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


def receive_response(req: Request, command_id: str, pieces: list[tuple[str, bytes]], done: bool,
                     exit_code: int | None) -> bytes:
    """Streams in the order the process wrote them, one element per piece (several per Receive, stdout
    and stderr interleaved: pypsrp test_client_execute_cmd.yml has 3 stdout Streams in one Receive,
    test_winrs_stderr_rc.yml stdout then stderr); End markers and CommandState as recorded."""
    parts = ["<rsp:ReceiveResponse>"]
    for name, data in pieces:
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


FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
SHELL_PLUGIN = 'provider="Shell cmd plugin" path="%systemroot%\\system32\\winrscmd.dll"'


def _wmi_error(code: int, message: str) -> str:
    """MSFT_WmiError as Windows sends it (WinRb/WinRM spec/stubs/responses/wmi_error_v2.xml, the
    real MaxShellsPerUser fault; pywinrm winrm/tests/test_exceptions.py for 2150859174)."""
    nil = lambda n, t: f'<p:{n} xsi:type="cim:{t}" xsi:nil="true"/>'      # noqa: E731
    val = lambda n, t, v: f'<p:{n} xsi:type="cim:{t}">{v}</p:{n}>'       # noqa: E731
    return (f'<p:MSFT_WmiError b:IsCIM_Error="true" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
            f'xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:p="{WMI_NS}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="p:MSFT_WmiError_Type">'
            + val("CIMStatusCode", "cimUnsignedInt", 27) + nil("CIMStatusCodeDescription", "cimString")
            + nil("ErrorSource", "cimString") + val("ErrorSourceFormat", "cimUnsignedShort", 0)
            + val("ErrorType", "cimUnsignedShort", 0) + val("Message", "cimString", escape(message))
            + val("MessageID", "cimString", f"HRESULT 0x{code:x}") + nil("OtherErrorSourceFormat", "cimString")
            + nil("OtherErrorType", "cimString") + nil("OwningEntity", "cimString")
            + val("PerceivedSeverity", "cimUnsignedShort", 0) + val("ProbableCause", "cimUnsignedShort", 0)
            + nil("ProbableCauseDescription", "cimString") + val("error_Category", "cimUnsignedInt", 30)
            + val("error_Code", "cimUnsignedInt", code) + val("error_Type", "cimString", "HRESULT")
            + val("error_WindowsErrorMessage", "cimString", escape(message)) + "</p:MSFT_WmiError>")


def fault(relates_to: str, *, code: str, subcode: str, reason: str, wsman_code: int | None = None,
          wmi_code: int | None = None, machine: str = "127.0.0.1", message: str | None = None,
          detail: str | None = None, provider: bool = False) -> bytes:
    """An s:Fault body as WinRM sends it (always with HTTP 500): optional w:FaultDetail first, then
    f:WSManFault (its f:Message wrapped in f:ProviderFault when the shell plugin raised it) or
    MSFT_WmiError. Shapes: pypsrp test_winrs_bad_cmd_id.yml, test_winrs_fail_poll_process.yml,
    test_winrs_no_cmd_shell.yml; WinRb wmi_error_v2.xml."""
    message = reason if message is None else message
    parts = []
    if detail:
        parts.append(f"<w:FaultDetail>{FAULT_DETAIL}{detail}</w:FaultDetail>")
    if wsman_code is not None:
        inner = f"<f:ProviderFault {SHELL_PLUGIN}>{escape(message)}</f:ProviderFault>" if provider else escape(message)
        parts.append(f'<f:WSManFault xmlns:f="{NS["f"]}" Code="{wsman_code}" Machine="{escape(machine)}">'
                     f"<f:Message>{inner}</f:Message></f:WSManFault>")
    if wmi_code is not None:
        parts.append(_wmi_error(wmi_code, message))
    body = (f"<s:Fault><s:Code><s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode></s:Code>"
            f'<s:Reason><s:Text xml:lang="en-US">{escape(reason)}</s:Text></s:Reason>'
            f"<s:Detail>{''.join(parts)}</s:Detail></s:Fault>")
    return envelope(FAULT_ACTION, relates_to, body)


_INVALID_SELECTORS = ("The WS-Management service cannot process the request because the request contained invalid "
                      "selectors for the resource. ")
# name -> fault() keyword arguments; {shell}, {command}, {limit} are filled in by named_fault
FAULTS = {
    # pypsrp test_winrs_operation_timeout.yml (Receive); Windows answers the same on any action
    "timeout": dict(code="s:Receiver", subcode="w:TimedOut", wsman_code=2150858793,
                    reason="The WS-Management service cannot complete the operation within the time specified in "
                           "OperationTimeout.  "),
    # the recorded InvalidSelectors shape (pypsrp test_winrs_bad_cmd_id.yml) with the shell-gone text
    "unknown_shell": dict(code="s:Sender", subcode="w:InvalidSelectors", wsman_code=2150858843,
                          detail="UnexpectedSelectors", reason=_INVALID_SELECTORS,
                          message="The request for the Windows Remote Shell with ShellId {shell} failed because the "
                                  "shell was not found on the server. Possible causes are: the specified ShellId is "
                                  "incorrect or the shell no longer exists on the server. Provide the correct ShellId "
                                  "or create a new shell and retry the operation. "),
    # pypsrp test_winrs_bad_cmd_id.yml, verbatim
    "unknown_command": dict(code="s:Sender", subcode="w:InvalidSelectors", wsman_code=2150858843,
                            detail="UnexpectedSelectors", reason=_INVALID_SELECTORS,
                            message="The Windows Remote Shell received a request to perform an operation on a command "
                                    "identifier that does not exist. Either the command has completed execution or "
                                    "the client specified an invalid command identifier. "),
    # WinRb/WinRM wmi_error_v2.xml: s:Sender + w:QuotaLimit, MSFT_WmiError only, no f:WSManFault
    "max_shells": dict(code="s:Sender", subcode="w:QuotaLimit", wmi_code=2150859173,
                       reason="The WS-Management service cannot process the request. The maximum number of concurrent "
                              "shells for this user has been exceeded. Close existing shells or raise the quota for "
                              "this user. ",
                       message="The WS-Management service cannot process the request. This user is allowed a maximum "
                               "number of {limit} concurrent shells, which has been exceeded. Close existing shells or "
                               "raise the quota for this user. "),
    # pywinrm winrm/tests/test_exceptions.py (MSFT_WmiError 2150859174, HRESULT 0x803381a6)
    "quota": dict(code="s:Receiver", subcode="w:InternalError", wmi_code=2150859174,
                  reason="The WS-Management service cannot process the request. This user is allowed a maximum number "
                         "of {limit} concurrent operations, which has been exceeded. Close existing operations for "
                         "this user, or raise the quota for this user. "),
    # pypsrp test_winrs_fail_poll_process.yml (Receive without CommandId), verbatim
    "invalid_parameter": dict(code="s:Sender", subcode="w:InvalidParameter", wsman_code=87, detail="InvalidValue",
                              provider=True, reason="The parameter is incorrect. "),
    # masterzen/winrm fixture_test.go: Command line over CreateProcess's 32,767 characters
    "filename_too_long": dict(code="s:Receiver", subcode="w:InternalError", wsman_code=2147942606, provider=True,
                              reason="The filename or extension is too long. "),
    # Win32 ERROR_TIMEOUT from the shell plugin; built from the recorded plugin-fault shape above
    "error_timeout": dict(code="s:Receiver", subcode="w:InternalError", wsman_code=1460, provider=True,
                          reason="This operation returned because the timeout period expired. "),
    # ansible/ansible#75227: "The pipe has been ended" (wsmanfault 109) during Send
    "broken_pipe": dict(code="s:Receiver", subcode="w:InternalError", wsman_code=109, provider=True,
                        reason="The pipe has been ended. "),
    # MS-WSMV 3.1.4.1.7: MaxEnvelopeSize under 8,192 -> wsman:EncodingLimit (DSP0226 6.2); detail
    # MinimumEnvelopeLimit (DSP0226); code ERROR_WSMAN_MAX_ENVELOPE_SIZE (winerror.h, windows-sys)
    "encoding_limit": dict(code="s:Sender", subcode="w:EncodingLimit", wsman_code=2150858823,
                           detail="MinimumEnvelopeLimit",
                           reason="The WS-Management service cannot process the request because the envelope size "
                                  "in the request is too small. "),
    "bad_request": dict(code="s:Sender", subcode="w:SchemaValidationError", wsman_code=2150858817,
                        reason="The SOAP XML in the message does not match the corresponding XML schema definition. "),
    "action_not_supported": dict(code="s:Sender", subcode="a:ActionNotSupported", wsman_code=2150858754,
                                 reason="The action is not supported by the service. "),
}


def named_fault(name: str, relates_to: str, machine: str = "127.0.0.1", **fmt) -> bytes:
    spec = dict(FAULTS[name])
    values = collections.defaultdict(str, fmt)
    for key in ("reason", "message"):
        if spec.get(key):
            spec[key] = spec[key].format_map(values)
    return fault(relates_to, machine=machine, **spec)

"""The emulator speaks WS-Management to a stock, unmodified pywinrm."""
from __future__ import annotations

import base64
import json

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError, WSManFaultError
from winrm.protocol import Protocol

from components.winrm import bootstrap
from tests.emulator import Lab


def proto(lab, host, **kw):
    opts = dict(endpoint=host.url, transport="ntlm", username=host.username, password=host.endpoint["password"],
                server_cert_validation="validate", ca_trust_path=lab.ca_path, proxy=None)
    opts.update(kw)
    return Protocol(**opts)


def run(p, shell, command, args=(), stdin: bytes | None = None):
    cid = p.run_command(shell, command, args, console_mode_stdin=stdin is None)
    if stdin is not None:
        p.send_command_input(shell, cid, stdin, end=True)
    out, err, rc = p.get_command_output(shell, cid)
    p.cleanup_command(shell, cid)
    return out, err, rc


def test_shell_lifecycle_and_builtins(lab):
    h = lab.hosts[0]
    before = h.counters.snapshot()
    p = proto(lab, h)
    shell = p.open_shell(codepage=65001)
    assert h.shells_open == 1 and h.shells()[0]["shellId"] == shell and h.shells()[0]["codepage"] == 65001
    assert run(p, shell, "hostname") == (f"{h.name}\r\n".encode(), b"", 0)
    assert run(p, shell, "whoami") == (f"{h.name}\\{h.username}\r\n".lower().encode(), b"", 0)
    assert run(p, shell, "echo", ["hello", "world"]) == (b"hello world\r\n", b"", 0)
    p.close_shell(shell)
    after = h.counters.snapshot()
    assert h.shells_open == 0
    for action, n in {"Create": 1, "Command": 3, "Receive": 3, "Signal": 3, "Delete": 1}.items():
        assert after["actions"].get(action, 0) - before["actions"].get(action, 0) == n
    assert after["shells_deleted"] - before["shells_deleted"] == 1


def test_unknown_command_is_9009_like_cmd(lab):
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        out, err, rc = run(p, shell, "ipconfig", ["/all"])
    finally:
        p.close_shell(shell)
    assert (out, rc) == (b"", 9009)
    assert err == b"'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"


def test_command_line_limit_8191(lab):
    h = lab.hosts[1]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        fits = "x" * (8191 - len("echo "))
        out, err, rc = run(p, shell, "echo " + fits)
        assert (out, err, rc) == ((fits + "\r\n").encode(), b"", 0)
        out, err, rc = run(p, shell, "echo " + fits + "x")
        assert (out, err, rc) == (b"", b"The command line is too long.\r\n", 1)
    finally:
        p.close_shell(shell)


def test_run_ps_of_a_full_driver_exceeds_the_command_line(lab):
    """Why the executor uses stdin: Session.run_ps of a whole driver script is too long for cmd.exe."""
    h = lab.hosts[1]
    s = winrm.Session(h.url, auth=(h.username, h.endpoint["password"]), transport="ntlm",
                      server_cert_validation="validate", ca_trust_path=lab.ca_path, proxy=None)
    script = bootstrap.op_script("journal.read")
    encoded = len(script.encode("utf-16-le")) * 4 // 3
    if encoded > 32767:
        # beyond CreateProcess' 32,767 characters the shell plugin refuses it before cmd.exe sees it
        shell = s.protocol.open_shell()                          # run_ps, with the shell closed after the fault
        try:
            with pytest.raises(WSManFaultError) as info:
                s.protocol.run_command(shell, "powershell -encodedcommand " +
                                       base64.b64encode(script.encode("utf-16-le")).decode("ascii"))
        finally:
            s.protocol.close_shell(shell)
        assert info.value.wsman_fault_code == 2147942606      # ERROR_FILENAME_EXCED_RANGE (206)
    else:
        r = s.run_ps(script)
        assert r.status_code == 1 and b"The command line is too long." in r.std_err
    r = s.run_ps("$env:COMPUTERNAME")
    assert (r.status_code, r.std_out) == (0, f"{h.name.upper()}\r\n".encode())
    assert h.shells_open == 0


@pytest.mark.parametrize("codepage,expected", [(65001, "héllo ☃".encode("utf-8")), (437, "héllo ?".encode("cp437"))])
def test_shell_codepage_applies_to_cmd_output(lab, codepage, expected):
    h = lab.hosts[0]
    p = proto(lab, h)
    shell = p.open_shell(codepage=codepage)
    try:
        out, _err, rc = run(p, shell, "echo héllo ☃")
    finally:
        p.close_shell(shell)
    assert (out, rc) == (expected + b"\r\n", 0)


@pytest.mark.parametrize("size", [1, 1000, 150_000, 1_048_576])
def test_stdin_payloads_1_byte_to_1_mb(lab, size):
    """Raw stdin of any size reaches the bootstrap: chunked Sends, each under MaxEnvelopeSize."""
    h = lab.hosts[0]
    p = proto(lab, h)
    base = len(bootstrap.build_payload("host.info", {"echo": ""}))
    if size < base:
        data = b"x" * size               # not a payload: the bootstrap's own error, as PowerShell prints it
    else:
        data = bootstrap.build_payload("host.info", {"echo": "a" * (size - base)})
    shell = p.open_shell(codepage=65001)
    try:
        cid = p.run_command(shell, bootstrap.COMMAND_LINE, console_mode_stdin=False)
        chunk = 96 * 1024
        for i in range(0, len(data), chunk):
            p.send_command_input(shell, cid, data[i:i + chunk], end=i + chunk >= len(data))
        out, err, rc = p.get_command_output(shell, cid)
        p.cleanup_command(shell, cid)
    finally:
        p.close_shell(shell)
    doc = json.loads(out)
    assert len(data) == size
    if size < base:
        assert (rc, doc["ok"], doc["error"]["code"]) == (1, False, "UNHANDLED")
    else:
        assert (rc, doc["ok"]) == (0, True)
        sent = json.loads(data.split(bootstrap.SEPARATOR, 1)[1])["params"]["echo"]
        assert doc["result"]["state"]["echo"] == sent


def test_unknown_shell_fault(lab):
    h = lab.hosts[0]
    p = proto(lab, h)
    with pytest.raises(WSManFaultError) as info:
        p.run_command("8D3F7B6C-0000-4000-8000-000000000000", "hostname")
    assert info.value.code == 500 and info.value.wsman_fault_code == 2150858843
    # the recorded shape: a generic s:Reason, the specific text in f:WSManFault/f:Message
    assert "invalid selectors" in info.value.reason and "shell was not found" in info.value.response
    assert "faultDetail/UnexpectedSelectors" in info.value.response


def test_envelope_over_max_is_413(lab):
    h = lab.hosts[1]
    p = proto(lab, h)
    shell = p.open_shell()
    try:
        cid = p.run_command(shell, bootstrap.COMMAND_LINE, console_mode_stdin=False)
        too_big = b"a" * (h.limits.max_envelope_kb * 1024)       # base64 makes it 4/3 larger
        with pytest.raises(WinRMTransportError) as info:
            p.send_command_input(shell, cid, too_big, end=True)
        assert info.value.code == 413
        assert h.counters["envelope_too_large"] >= 1
        p.cleanup_command(shell, cid)
    finally:
        p.close_shell(shell)


def test_receive_times_out_with_wsman_fault_when_no_output(lab):
    h = lab.hosts[1]
    p = proto(lab, h, operation_timeout_sec=1, read_timeout_sec=5)
    shell = p.open_shell()
    try:
        cid = p.run_command(shell, bootstrap.COMMAND_LINE, console_mode_stdin=False)   # waits for stdin
        before = h.counters["receive_timeouts"]
        from winrm.exceptions import WinRMOperationTimeoutError
        with pytest.raises(WinRMOperationTimeoutError):
            p.get_command_output_raw(shell, cid)
        assert h.counters["receive_timeouts"] == before + 1
        p.cleanup_command(shell, cid)
    finally:
        p.close_shell(shell)


def test_max_shells_per_user(lab):
    h = lab.hosts[0]
    p = proto(lab, h)
    limit = h.limits.max_shells_per_user
    h.limits.max_shells_per_user = 2
    shells = []
    try:
        shells = [p.open_shell(), p.open_shell()]
        with pytest.raises(WSManFaultError) as info:
            p.open_shell()
        # the real shape (WinRb/WinRM wmi_error_v2.xml): s:Sender, w:QuotaLimit, MSFT_WmiError only
        assert info.value.wmierror_code == 2150859173 and info.value.wsman_fault_code is None
        assert (info.value.fault_code, info.value.fault_subcode) == ("s:Sender", "w:QuotaLimit")
        assert "maximum number of 2 concurrent shells" in info.value.response
    finally:
        h.limits.max_shells_per_user = limit
        for s in shells:
            p.close_shell(s, close_session=False)
    assert h.shells_open == 0


def test_operations_quota_is_per_user_not_per_shell(lab):
    """MaxConcurrentOperationsPerUser counts the user's commands over all its shells (released only
    when a shell is deleted: MS-WSMV product note <118>)."""
    h = lab.hosts[0]
    p = proto(lab, h)
    limit = h.limits.max_operations_per_user
    h.limits.max_operations_per_user = 3
    first, second = p.open_shell(), p.open_shell()
    try:
        run(p, first, "hostname")
        run(p, first, "hostname")
        run(p, second, "hostname")
        with pytest.raises(WSManFaultError) as info:
            p.run_command(second, "hostname")      # the second shell's 2nd command, the user's 4th
        assert info.value.wmierror_code == 2150859174 and info.value.wsman_fault_code is None
        p.close_shell(first, close_session=False)  # deleting a shell releases its operations
        run(p, second, "hostname")
    finally:
        h.limits.max_operations_per_user = limit
        p.close_shell(second)


def test_ntlm_bad_password_is_401(lab):
    h = lab.hosts[0]
    before = h.counters.snapshot()["auth"]["failures"]
    p = proto(lab, h, password="wrong-password")
    with pytest.raises(InvalidCredentialsError):
        p.open_shell()
    assert h.counters.snapshot()["auth"]["failures"] == before + 1
    assert h.shells_open == 0


@pytest.fixture
def basic_on(lab):
    """Basic is off on Windows unless configured (winrm/config/service/auth Basic=false); the
    emulator's hosts likewise, unless the lab asks (Lab(basic=True) / auth="basic")."""
    h = lab.hosts[1]
    saved = h.auth_methods
    h.auth_methods = ("ntlm", "basic")
    yield h
    h.auth_methods = saved


def test_basic_is_refused_unless_the_lab_asks(lab):
    h = lab.hosts[1]
    assert h.auth_methods == ("ntlm",)
    p = proto(lab, h, transport="basic", password=h.endpoint["password"])
    with pytest.raises(InvalidCredentialsError):
        p.open_shell()
    with Lab(hosts=1, basic=True) as other:
        assert other.hosts[0].auth_methods == ("ntlm", "basic")
    with Lab(hosts=1, auth="basic") as other:
        assert "basic" in other.hosts[0].auth_methods


@pytest.mark.parametrize("password_ok", [True, False])
def test_basic_auth(lab, basic_on, password_ok):
    h = basic_on
    pw = h.endpoint["password"] if password_ok else "nope"
    p = proto(lab, h, transport="basic", password=pw)
    if not password_ok:
        with pytest.raises(InvalidCredentialsError):
            p.open_shell()
        return
    shell = p.open_shell()
    assert run(p, shell, "hostname")[0] == f"{h.name}\r\n".encode()
    p.close_shell(shell)


def test_wrong_ca_fails_tls(lab, tmp_path):
    from tests.emulator.tls import TestCA
    other = TestCA(str(tmp_path))
    h = lab.hosts[0]
    p = proto(lab, h, ca_trust_path=other.path)
    import requests
    with pytest.raises(requests.exceptions.SSLError):
        p.open_shell()


def test_soap_response_headers(lab):
    """Responses carry RelatesTo = request MessageID and the proper ...Response action."""
    import requests
    import xml.etree.ElementTree as ET
    h = lab.hosts[0]
    p = proto(lab, h)
    header = p.build_wsman_header(action="http://schemas.xmlsoap.org/ws/2004/09/transfer/Create",
                                  resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
                                  message_id="0C7A3F6E-1111-4222-8333-444455556666")
    import xmltodict
    body = xmltodict.unparse({"env:Envelope": dict(header, **{"env:Body": {"rsp:Shell": {"rsp:InputStreams": "stdin",
                                                                                        "rsp:OutputStreams": "stdout stderr"}}})})
    root = ET.fromstring(p.send_message(body))
    ns = {"a": "http://schemas.xmlsoap.org/ws/2004/08/addressing", "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
          "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"}
    assert root.findtext(".//a:RelatesTo", namespaces=ns) == "uuid:0C7A3F6E-1111-4222-8333-444455556666"
    assert root.findtext(".//a:Action", namespaces=ns).endswith("/transfer/CreateResponse")
    sid = root.find(".//w:Selector[@Name='ShellId']", ns).text
    assert root.findtext(".//rsp:ShellId", namespaces=ns) == sid
    p.close_shell(sid)

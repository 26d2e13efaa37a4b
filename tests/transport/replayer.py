"""A local HTTPS WinRM replayer: serves real recorded Windows responses to the real executor.

The vectors are in /work/shared/research/winrm-recordings (SOURCES.md): pypsrp's request/response
pairs recorded against Windows hosts, WinRb/WinRM and masterzen/winrm fixtures, pywinrm's fault
body. ``Replayer(steps)`` listens on 127.0.0.1 (HTTPS, certificate from the emulator's test CA,
Basic auth over TLS) and answers the requests it receives, in order, with the steps' recorded
responses. Each step names the WS-Man action it expects; a request for another action, an extra
request, or a request our contract forbids (see ``_contract``) gets a SOAP fault and is listed in
``problems`` (every test asserts that list is empty). ``Delete`` requests are answered out of
band (the pool may close a discarded shell from a background thread) and listed in ``deletes``.

Responses are served byte for byte except for what a replay must change: ``a:RelatesTo`` becomes
the request's MessageID (pywinrm checks it on Signal/Delete), and a CommandId in a Receive
response becomes the one the replayer last handed out (a vector may combine shapes of two
recordings). ``receive_body`` builds a ReceiveResponse from a recorded one with other Stream
contents, for vectors whose exchange no recording has; tests say where they do that.
"""
from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from tests.emulator.tls import TestCA

# Third-party data (pypsrp, WinRb/WinRM, masterzen/winrm, pywinrm; SOURCES.md there), kept outside
# the repository, in the team's shared/ folder beside the checkout (where CI lays it too); a machine
# that keeps it elsewhere sets WINFLEET_WINRM_RECORDINGS.
_BESIDE = Path(__file__).resolve().parents[2].parent / "shared" / "research" / "winrm-recordings"
RECORDINGS = Path(os.environ.get("WINFLEET_WINRM_RECORDINGS") or
                  (_BESIDE if _BESIDE.is_dir() else "/work/shared/research/winrm-recordings"))
if not (RECORDINGS / "SOURCES.md").is_file():
    raise RuntimeError(f"the real WinRM recordings are not at {RECORDINGS}: set WINFLEET_WINRM_RECORDINGS to "
                       "the winrm-recordings folder (the replay and shape tests need them; they never skip)")
NS = {"s": "http://www.w3.org/2003/05/soap-envelope", "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
      "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
      "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"}
USER, PASSWORD = "vagrant", "Replay-Pa55!"


# --- the recordings --------------------------------------------------------------------------
def recording(name: str) -> list[dict]:
    """The messages of a pypsrp YAML recording: [{"request", "response", ...}]."""
    return yaml.safe_load((RECORDINGS / "pypsrp" / name).read_text())["messages"]


def response(name: str, index: int) -> bytes:
    return recording(name)[index]["response"].encode("utf-8")


def request(name: str, index: int) -> bytes:
    return recording(name)[index]["request"].encode("utf-8")


def xml_file(rel: str) -> bytes:
    return (RECORDINGS / rel).read_bytes()


def receive_body(recorded: bytes, streams: list[tuple[str, bytes]], state: str | None = "Done",
                 exit_code: int = 0, end_markers: bool = True) -> bytes:
    """A recorded ReceiveResponse envelope (header, namespaces, prefixes kept) with these Stream
    elements, in this order, each written like the recording's (``Name`` then ``CommandId``);
    ``state`` "Done" / "Running" / None (no CommandState element)."""
    text = recorded.decode("utf-8")
    cid = re.search(r'CommandId="([^"]+)"', text).group(1)
    parts = [f'<rsp:Stream Name="{name}" CommandId="{cid}">{base64.b64encode(data).decode()}</rsp:Stream>'
             for name, data in streams]
    if state == "Done":
        if end_markers:
            parts += [f'<rsp:Stream Name="stdout" CommandId="{cid}" End="true"></rsp:Stream>',
                      f'<rsp:Stream Name="stderr" CommandId="{cid}" End="true"></rsp:Stream>']
        parts.append(f'<rsp:CommandState CommandId="{cid}" State="http://schemas.microsoft.com/wbem/wsman/1/'
                     f'windows/shell/CommandState/Done"><rsp:ExitCode>{exit_code}</rsp:ExitCode></rsp:CommandState>')
    elif state == "Running":
        parts.append(f'<rsp:CommandState CommandId="{cid}" State="http://schemas.microsoft.com/wbem/wsman/1/'
                     'windows/shell/CommandState/Running"/>')
    new, n = re.subn(r"<rsp:ReceiveResponse>.*</rsp:ReceiveResponse>",
                     lambda _m: "<rsp:ReceiveResponse>" + "".join(parts) + "</rsp:ReceiveResponse>", text, flags=re.S)
    assert n == 1
    return new.encode("utf-8")


# Recorded responses every script uses (pypsrp, real Windows hosts)
CREATE = response("test_winrs_standard.yml", 0)
COMMAND = response("test_winrs_standard.yml", 1)
RECEIVE_DONE = response("test_winrs_standard.yml", 2)
SIGNAL = response("test_winrs_standard.yml", 3)
DELETE = response("test_winrs_standard.yml", 4)
SEND = response("test_winrs_send.yml", 2)


@dataclass
class Step:
    action: str                      # Create, Command, Send, Receive, Signal
    body: bytes = b""
    status: int = 200
    headers: tuple = ()              # extra response headers, e.g. (("Connection", "close"),)
    content_type: str = "application/soap+xml;charset=UTF-8"


def fault(body: bytes, status: int = 500, **kw) -> dict:
    return dict(body=body, status=status, **kw)


@dataclass
class Seen:
    action: str
    root: ET.Element = field(repr=False)
    body: bytes = field(repr=False)

    def option(self, name: str) -> str | None:
        el = self.root.find(f"s:Header/w:OptionSet/w:Option[@Name='{name}']", NS)
        return None if el is None else (el.text or "")


ACTIONS = {"http://schemas.xmlsoap.org/ws/2004/09/transfer/Create": "Create",
           "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete": "Delete",
           "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command": "Command",
           "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send": "Send",
           "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive": "Receive",
           "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal": "Signal"}
_UNEXPECTED = response("test_psrp_is_alive_other_wsman_error.yml", 3)   # a real s:Sender fault


class Replayer:
    def __init__(self, steps: list[Step]):
        self.steps = list(steps)
        self.seen: list[Seen] = []
        self.deletes: list[str] = []
        self.problems: list[str] = []
        self.command_id: str | None = None
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="winfleet-replay-")
        self.ca = TestCA(self._dir.name)
        cert = self.ca.issue("replay", dns=["localhost"], ips=["127.0.0.1"])
        self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ctx.load_cert_chain(cert.cert_path, cert.key_path)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "username": USER, "password": PASSWORD, "auth": "basic",
                "caPem": self.ca.pem, "hostName": "replay"}

    def actions(self) -> list[str]:
        return [s.action for s in self.seen]

    def remaining(self) -> list[str]:
        return [s.action for s in self.steps]

    def __enter__(self) -> "Replayer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    # --- one request -----------------------------------------------------------------------------
    def answer(self, body: bytes) -> Step:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return self._problem("request is not XML")
        action = ACTIONS.get((root.findtext("s:Header/a:Action", default="", namespaces=NS) or "").strip(), "?")
        seen = Seen(action, root, body)
        message_id = (root.findtext("s:Header/a:MessageID", default="", namespaces=NS) or "").strip()
        with self._lock:
            if action == "Delete":
                self.deletes.append(root.findtext("s:Header/w:SelectorSet/w:Selector", default="", namespaces=NS))
                return Step("Delete", _relate(DELETE, message_id))
            self.seen.append(seen)
            problem = _contract(seen, self.command_id)
            if problem:
                return self._problem(f"{action}: {problem}")
            if not self.steps:
                return self._problem(f"unexpected extra request {action}")
            step = self.steps.pop(0)
            if step.action != action:
                return self._problem(f"expected {step.action}, got {action}")
            out = step.body
            if action == "Command" and step.status == 200:
                self.command_id = re.search(rb"<rsp:CommandId>([^<]+)<", out).group(1).decode()
            if action == "Receive" and step.status == 200 and self.command_id:
                out = re.sub(rb'CommandId="[^"]+"', f'CommandId="{self.command_id}"'.encode(), out)
        return Step(step.action, _relate(out, message_id) if out else out, step.status, step.headers,
                    step.content_type)

    def _problem(self, text: str) -> Step:
        self.problems.append(text)
        return Step("?", _UNEXPECTED, 500)


def _relate(body: bytes, message_id: str) -> bytes:
    return re.sub(rb"(<a:RelatesTo>)[^<]*(</a:RelatesTo>)", rb"\g<1>" + message_id.encode() + rb"\g<2>", body)


def _contract(seen: Seen, command_id: str | None) -> str | None:
    """What our executor must send, whatever the host answers (docs: components/winrm/README.md)."""
    if seen.action == "Command":
        # stdin is a pipe, not a console: the payload has NULs and is read with $input
        # (ansible passes console_mode_stdin=False whenever it feeds stdin; pywinrm defaults to TRUE)
        if (seen.option("WINRS_CONSOLEMODE_STDIN") or "").upper() != "FALSE":
            return f"WINRS_CONSOLEMODE_STDIN is {seen.option('WINRS_CONSOLEMODE_STDIN')!r}, must be FALSE"
    if seen.action == "Receive":
        desired = seen.root.find("s:Body/rsp:Receive/rsp:DesiredStream", NS)
        if desired is None or sorted((desired.text or "").split()) != ["stderr", "stdout"]:
            return f"DesiredStream is {None if desired is None else desired.text!r}, must be 'stdout stderr'"
        if command_id and (desired.get("CommandId") or "").upper() != command_id.upper():
            return f"DesiredStream CommandId {desired.get('CommandId')!r} is not the command's {command_id!r}"
    return None


def _make_handler(replayer: Replayer):
    expected_auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Microsoft-HTTPAPI/2.0"
        sys_version = ""

        def setup(self):
            self.request = replayer._ctx.wrap_socket(self.request, server_side=True)
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().setup()

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Authorization") != expected_auth:
                self._send(Step("?", b"", 401, (("WWW-Authenticate", 'Basic realm="WSMAN"'), ("Connection", "close"))))
                return
            self._send(replayer.answer(body))

        def _send(self, step: Step):
            self.send_response(step.status)
            close = False
            for k, v in step.headers:
                self.send_header(k, v)
                close = close or (k.lower() == "connection" and v.lower() == "close")
            if step.body:
                self.send_header("Content-Type", step.content_type)
            self.send_header("Content-Length", str(len(step.body)))
            self.end_headers()
            if step.body:
                self.wfile.write(step.body)
            self.close_connection = close

    return Handler

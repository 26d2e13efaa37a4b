"""One emulated Windows host: an HTTPS WS-Management (WinRS) listener in front of a HostModel.

Speaks what a stock WinRS client (pywinrm) sends — Create, Command, Send, Receive, Signal,
Delete — with real SOAP envelopes; Basic and NTLM auth (auth.py); TLS with a certificate from the
lab's test CA; Windows limits (MaxEnvelopeSizekb -> 413, MaxShellsPerUser, operations per shell,
OperationTimeout long-poll -> w:TimedOut fault, unknown ShellId fault, cmd.exe's 8,191
characters); injectable latency, dropped connections, HTTP 500/503, WS-Man faults and downtime;
and counters of HTTP requests and WS-Man actions.
"""
from __future__ import annotations

import base64
import collections
import logging
import socket
import ssl
import struct
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import processes, wsman
from .auth import AuthError, NtlmAcceptor, Users
from .host_model import HostModel

log = logging.getLogger("winfleet.emulator")

FAULT_KINDS = ("drop", "http500", "http503", "timeout", "quota", "max_shells", "unknown_shell", "envelope",
               "error_timeout", "broken_pipe", "filename_too_long")
# MS-WSMV 3.1.4.1.7 (https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/90c708de-9b3b-4e5e-a65a-71ab898de0d9):
# a w:MaxEnvelopeSize under 8,192 octets MUST get the wsman:EncodingLimit fault
MIN_ENVELOPE_SIZE = 8192


@dataclass
class Limits:
    """WinRM service/shell quotas (winrm/config). Defaults are Windows Server 2022's."""
    max_envelope_kb: int = 500           # MaxEnvelopeSizekb: larger requests get HTTP 413
    max_shells_per_user: int = 30        # Winrs MaxShellsPerUser
    # MaxConcurrentOperationsPerUser: counted over all the user's shells; a text shell's commands are
    # never released by Signal (MS-WSMV product note <118>), only by deleting the shell
    max_operations_per_user: int = 1500
    max_timeout_s: float = 60.0          # MaxTimeoutms: caps the client's OperationTimeout
    idle_timeout_s: float = 7200.0       # Winrs IdleTimeout: a shell unused this long is deleted by the host
    cmd_line_limit: int = processes.CMD_LINE_LIMIT


class Counters:
    """Per-host counters (thread-safe). ``snapshot()`` is what GET /counters returns."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._c = collections.Counter()
            self._actions = collections.Counter()
            self._status = collections.Counter()
            self._ops = collections.Counter()
            self._faults = collections.Counter()

    def inc(self, name: str, n: int = 1):
        with self._lock:
            self._c[name] += n

    def action(self, name: str):
        with self._lock:
            self._actions[name or "unknown"] += 1

    def status(self, code: int):
        with self._lock:
            self._status[str(code)] += 1

    def op(self, name, rc: int):
        with self._lock:
            self._ops[str(name)] += 1
            if rc != 0:
                self._c["op_failures"] += 1

    def fault(self, kind: str):
        with self._lock:
            self._faults[kind] += 1

    def __getitem__(self, key):
        return self.snapshot()[key]

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "http_requests": self._c["http_requests"],
                "http_status": dict(self._status),
                "connections": self._c["connections"],
                "tls_handshake_failures": self._c["tls_handshake_failures"],
                "auth": {"ntlm_logons": self._c["ntlm_logons"], "basic_logons": self._c["basic_logons"],
                         "failures": self._c["auth_failures"], "challenges": self._c["auth_challenges"]},
                "actions": dict(self._actions),
                "shells_created": self._c["shells_created"],
                "shells_deleted": self._c["shells_deleted"],
                "commands": self._c["commands"],
                "receive_timeouts": self._c["receive_timeouts"],
                "shells_expired": self._c["shells_expired"],
                "envelope_too_large": self._c["envelope_too_large"],
                "ops": dict(self._ops),
                "op_failures": self._c["op_failures"],
                "faults_injected": dict(self._faults),
            }


class Faults:
    """Injected misbehaviour of one host (thread-safe).

    * ``latency``: seconds added to every HTTP request;
    * ``add(kind, action="*", count=1)``: the next ``count`` authenticated WS-Man requests with that
      action (``Create``/``Command``/``Send``/``Receive``/``Signal``/``Delete`` or ``*``) get ``kind``:
      ``drop`` (connection closed, no response), ``http500`` (non-SOAP 500), ``http503``,
      ``timeout`` (w:TimedOut fault), ``quota`` (operations quota fault), ``max_shells``,
      ``unknown_shell``, ``envelope`` (HTTP 413);
    * ``set_op_delay(seconds, op="*")``: op handlers sleep first (long-running ops).
    """

    def __init__(self, latency: float = 0.0):
        self._lock = threading.Lock()
        self.latency = float(latency)
        self._rules: list[dict] = []
        self._op_delay: dict[str, float] = {}
        self._drops: list[dict] = []

    def add(self, kind: str, action: str = "*", count: int = 1) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        if action != "*" and action not in wsman.RESPONSE_ACTION:
            raise ValueError(f"unknown WS-Man action {action!r}")
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a positive integer")
        with self._lock:
            self._rules.append({"kind": kind, "action": action, "count": count})

    def take(self, action: str) -> str | None:
        with self._lock:
            for rule in self._rules:
                if rule["action"] in ("*", action):
                    rule["count"] -= 1
                    if rule["count"] <= 0:
                        self._rules.remove(rule)
                    return rule["kind"]
        return None

    def drop_response(self, op: str = "*", count: int = 1, once_per_op: bool = False) -> None:
        """The next ``count`` runs of ``op`` (or of any op) execute on the host, and then the connection
        carrying their output is dropped (a lost response: the client cannot tell whether the op ran).
        ``once_per_op``: every distinct op name loses its response once (``count`` is ignored)."""
        with self._lock:
            self._drops.append({"op": op, "count": count, "each": once_per_op, "seen": set()})

    def take_drop_response(self, op) -> bool:
        with self._lock:
            for rule in self._drops:
                if rule["op"] not in ("*", op):
                    continue
                if rule["each"]:
                    if op in rule["seen"]:
                        continue
                    rule["seen"].add(op)
                    return True
                rule["count"] -= 1
                if rule["count"] <= 0:
                    self._drops.remove(rule)
                return True
        return False

    def set_op_delay(self, seconds: float, op: str = "*") -> None:
        with self._lock:
            if seconds:
                self._op_delay[op] = float(seconds)
            else:
                self._op_delay.pop(op, None)

    def op_delay(self, op) -> float:
        with self._lock:
            return self._op_delay.get(op, self._op_delay.get("*", 0.0))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._op_delay.clear()
            self._drops.clear()
            self.latency = 0.0

    def state(self) -> dict:
        with self._lock:
            return {"latency": self.latency, "pending": [dict(r) for r in self._rules],
                    "op_delay": dict(self._op_delay)}


class RemoteShell:
    def __init__(self, shell_id: str, owner: str, codepage: int, client_ip: str, idle_timeout: float = 7200.0,
                 output_streams: tuple[str, ...] = ("stdout", "stderr")):
        self.idle_timeout = idle_timeout
        self.output_streams = output_streams
        self.last_used = time.monotonic()
        self.shell_id = shell_id
        self.owner = owner
        self.codepage = codepage
        self.client_ip = client_ip
        self.operations = 0
        self.commands: dict[str, processes.Process] = {}
        self.created = time.time()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    timeout = 120

    def setup(self):
        super().setup()
        self.user = None      # set once NTLM completed on this connection
        self.ntlm = None

    def log_message(self, fmt, *args):   # no request logging (headers may carry credentials)
        pass

    def do_POST(self):
        self.server.host._handle(self)

    def _not_allowed(self):
        self.server.host._respond(self, 405, b"", "text/plain")

    do_GET = do_PUT = do_DELETE = _not_allowed


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, host: "EmulatedHost", ssl_ctx: ssl.SSLContext):
        self.host = host
        self.ssl_ctx = ssl_ctx
        self.live: set = set()
        self.live_lock = threading.Lock()
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address):
        request.settimeout(15)
        try:   # headers and body go out as separate writes: without this, Nagle + delayed ACK add 40 ms
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.host.counters.inc("tls_handshake_failures")
            request.close()
            return
        tls.settimeout(_Handler.timeout)
        self.host.counters.inc("connections")
        with self.live_lock:
            self.live.add(tls)
        try:
            _Handler(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self.live_lock:
                self.live.discard(tls)
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log.debug("connection error from %s", client_address, exc_info=True)

    def close_connections(self):
        with self.live_lock:
            conns = list(self.live)
        for conn in conns:
            _abort(conn)


def _abort(sock) -> None:
    """Close a connection with a TCP RST (a dropped connection, as the client sees it)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class EmulatedHost:
    """One emulated Windows host. ``name``, ``endpoint`` (contract "connection" dict), ``model``,
    ``counters``, ``faults``, ``limits``; ``start()``, ``stop()``, ``down(seconds)``."""

    def __init__(self, name: str, server_cert, ca_pem: str, *, username: str, password: str,
                 auth: str = "ntlm", auth_methods=("ntlm",), latency: float = 0.0,
                 limits: Limits | None = None, bind: str = "127.0.0.1"):
        self.name = name
        self.model = HostModel(name)
        self.counters = Counters()
        self.faults = Faults(latency)
        self.limits = limits or Limits()
        self.username = username
        self._password = password
        self.auth = auth
        self.auth_methods = tuple(auth_methods)
        self.users = Users(name, {username: password})
        self.server_cert = server_cert
        self.ca_pem = ca_pem
        self.bind = bind
        self.port = 0
        self._shells: dict[str, RemoteShell] = {}
        self.commands_seen: collections.deque = collections.deque(maxlen=200)   # Command options, for tests
        self._lock = threading.Lock()
        self._server: _TlsServer | None = None
        self._thread = None
        self._state_lock = threading.Lock()
        self._ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ctx.load_cert_chain(server_cert.cert_path, server_cert.key_path)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "EmulatedHost":
        with self._state_lock:
            if self._server is None:
                self._server = _TlsServer((self.bind, self.port), self, self._ctx)
                self.port = self._server.server_address[1]
                self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                                name=f"winrm-{self.name}", daemon=True)
                self._thread.start()
        return self

    def stop(self, processes: bool = True) -> None:
        with self._state_lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if processes:
            self.model.scm.shutdown_processes()  # real processes behind services die with the host

    @property
    def running(self) -> bool:
        return self._server is not None

    def down(self, seconds: float, lose_shells: bool = True) -> None:
        """Refuse connections for ``seconds`` (a VM rebooting), then listen again on the same port.
        (Service processes are not modelled through the reboot: they keep running.)"""
        self.stop(processes=False)
        if lose_shells:
            with self._lock:
                self._shells.clear()
        timer = threading.Timer(seconds, self.start)
        timer.daemon = True
        timer.start()

    @property
    def endpoint(self) -> dict:
        return {"host": self.bind, "port": self.port, "username": self.username, "password": self._password,
                "auth": self.auth, "caPem": self.ca_pem, "certSha256": None, "tlsServerName": None,
                "hostName": self.name}

    @property
    def url(self) -> str:
        return f"https://{self.bind}:{self.port}/wsman"

    @property
    def shells_open(self) -> int:
        self._expire_idle_shells()
        with self._lock:
            return len(self._shells)

    def shells(self) -> list[dict]:
        self._expire_idle_shells()
        with self._lock:
            return [{"shellId": s.shell_id, "owner": s.owner, "codepage": s.codepage, "idleTimeout": s.idle_timeout,
                     "operations": s.operations, "commands": len(s.commands)} for s in self._shells.values()]

    def reset(self, model: bool = False) -> None:
        self.counters.reset()
        self.faults.clear()
        if model:
            self.model.scm.shutdown_processes()
            builds = dict(self.model.scm.twins.builds)     # the lab's published builds stay registered
            self.model = HostModel(self.name)
            self.model.scm.twins.builds.update(builds)

    def describe(self) -> dict:
        return {"name": self.name, "endpoint": self.url, "host": self.bind, "port": self.port,
                "username": self.username, "password": self._password, "auth": self.auth,
                "authMethods": list(self.auth_methods), "certSha256": self.server_cert.sha256}

    def __repr__(self) -> str:
        return f"<EmulatedHost {self.name} {self.url}>"

    # --- HTTP ------------------------------------------------------------------------------------
    def _respond(self, h, status: int, body: bytes = b"", ctype: str = "application/soap+xml;charset=UTF-8",
                 headers=()):
        self.counters.status(status)
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        if body or status != 401:
            h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if body:
            h.wfile.write(body)

    def _unauthorized(self, h, challenge: str | None = None, final: bool = False):
        headers = []
        if final:   # a refused credential: Windows closes the connection (jborean93/omi#29)
            headers.append(("Connection", "close"))
            h.close_connection = True
        if challenge:
            headers.append(("WWW-Authenticate", challenge))
            self.counters.inc("auth_challenges")
        else:
            if "ntlm" in self.auth_methods:
                headers.append(("WWW-Authenticate", "Negotiate"))
            if "basic" in self.auth_methods:
                headers.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        self._respond(h, 401, b"", headers=headers)

    def _authenticate(self, h) -> str | None:
        """The authenticated user, or None after answering 401 (challenge or refusal)."""
        value = h.headers.get("Authorization")
        if not value:
            if h.user:
                return h.user
            self._unauthorized(h)
            return None
        scheme, _, token = value.strip().partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic" and "basic" in self.auth_methods:
            user = self.users.check_basic(token)
            if user is None:
                self.counters.inc("auth_failures")
                self._unauthorized(h, final=True)
                return None
            self.counters.inc("basic_logons")
            return user
        if scheme_l in ("negotiate", "ntlm") and "ntlm" in self.auth_methods:
            try:
                raw = base64.b64decode(token.strip(), validate=True)
                kind = int.from_bytes(raw[8:12], "little") if raw.startswith(b"NTLMSSP\0") else 0
                if kind == 1:
                    h.user = None
                    h.ntlm = NtlmAcceptor(self.users, self.server_cert.channel_binding_hash())
                    challenge, _ = h.ntlm.step(raw)
                    self._unauthorized(h, f"{scheme} {base64.b64encode(challenge).decode()}")
                    return None
                if kind == 3 and h.ntlm is not None:
                    acceptor, h.ntlm = h.ntlm, None
                    _, user = acceptor.step(raw)
                    h.user = user
                    self.counters.inc("ntlm_logons")
                    return user
                raise AuthError("unexpected token")
            except (AuthError, ValueError, Exception):
                h.ntlm = None
                h.user = None
                self.counters.inc("auth_failures")
                self._unauthorized(h, final=True)
                return None
        self.counters.inc("auth_failures")
        self._unauthorized(h, final=True)
        return None

    def _handle(self, h) -> None:
        self.counters.inc("http_requests")
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            h.close_connection = True
            self._respond(h, 400, b"", "text/plain")
            return
        body = h.rfile.read(length) if length else b""
        if self.faults.latency:
            time.sleep(self.faults.latency)
        if h.path.split("?")[0].lower() != "/wsman":
            self._respond(h, 404, b"", "text/plain")
            return
        user = self._authenticate(h)
        if user is None:
            return
        if not body:      # pywinrm's encryption setup / an auth-only probe
            self._respond(h, 200, b"", "text/plain")
            return
        if len(body) > self.limits.max_envelope_kb * 1024:
            self.counters.inc("envelope_too_large")
            self._respond(h, 413, b"", "text/plain")
            return
        try:
            req = wsman.Request(body)
        except wsman.BadRequest:
            self._respond(h, 500, wsman.named_fault("bad_request", "", self.name))
            return
        self.counters.action(req.action)
        if req.max_envelope_size < MIN_ENVELOPE_SIZE:
            self._respond(h, 500, wsman.named_fault("encoding_limit", req.message_id, self.name))
            return
        kind = self.faults.take(req.action)
        if kind is not None:
            self.counters.fault(kind)
            if self._inject(h, req, kind):
                return
        if req.resource_uri and req.resource_uri.lower() != wsman.SHELL_URI:
            self._respond(h, 500, wsman.named_fault("action_not_supported", req.message_id, self.name))
            return
        handler = getattr(self, f"_ws_{req.action.lower()}", None) if req.action else None
        if handler is None:
            self._respond(h, 500, wsman.named_fault("action_not_supported", req.message_id, self.name))
            return
        status, payload = handler(req, user, h.client_address[0])
        if status is None:                       # drop_response: the op ran, its output never arrives
            self.counters.fault("drop_response")
            h.close_connection = True
            _abort(h.connection)
            return
        self._respond(h, status, payload)

    def _inject(self, h, req, kind: str) -> bool:
        if kind == "drop":
            h.close_connection = True
            _abort(h.connection)
            return True
        if kind == "http500":
            self._respond(h, 500, b"<html><body>Internal Server Error</body></html>", "text/html")
            return True
        if kind == "http503":
            self._respond(h, 503, b"<html><body>Service Unavailable</body></html>", "text/html")
            return True
        if kind == "envelope":
            self._respond(h, 413, b"", "text/plain")
            return True
        fmt = {"shell": req.shell_id, "limit": self.limits.max_shells_per_user if kind == "max_shells"
               else self.limits.max_operations_per_user}
        self._respond(h, 500, wsman.named_fault(kind, req.message_id, self.name, **fmt))
        return True

    # --- WS-Man actions: (status, body) ---------------------------------------------------------
    def _expire_idle_shells(self) -> None:
        """Windows deletes a shell that saw no request for its IdleTimeOut (and has no running command)."""
        now = time.monotonic()
        with self._lock:
            expired = [sid for sid, s in self._shells.items()
                       if now - s.last_used > s.idle_timeout and all(p.done for p in s.commands.values())]
            for sid in expired:
                del self._shells[sid]
        if expired:
            self.counters.inc("shells_expired", len(expired))

    def _shell(self, req):
        self._expire_idle_shells()
        with self._lock:
            shell = self._shells.get(req.shell_id)
            if shell is not None:
                shell.last_used = time.monotonic()
            return shell

    def _no_shell(self, req):
        return 500, wsman.named_fault("unknown_shell", req.message_id, self.name, shell=req.shell_id)

    def _ws_create(self, req, user, client_ip):
        if req.find("rsp:Shell") is None:
            return 500, wsman.named_fault("bad_request", req.message_id, self.name)
        try:
            codepage = int(req.options.get("WINRS_CODEPAGE") or 437)
        except ValueError:
            codepage = 437
        requested = wsman.parse_duration(req.find("rsp:Shell").findtext("rsp:IdleTimeOut", default="",
                                                                          namespaces=wsman.NS) or "")
        idle = min(requested, self.limits.idle_timeout_s) if requested else self.limits.idle_timeout_s
        streams = tuple((req.find("rsp:Shell").findtext("rsp:OutputStreams", default="", namespaces=wsman.NS)
                         or "stdout stderr").split())
        self._expire_idle_shells()
        with self._lock:
            mine = sum(1 for s in self._shells.values() if s.owner.lower() == user.lower())
            if mine >= self.limits.max_shells_per_user:
                return 500, wsman.named_fault("max_shells", req.message_id, self.name,
                                              limit=self.limits.max_shells_per_user)
            shell = RemoteShell(wsman.new_uuid(), user, codepage, client_ip, idle, streams)
            self._shells[shell.shell_id] = shell
        self.counters.inc("shells_created")
        return 200, wsman.create_response(req, shell.shell_id, self.url, user, client_ip, idle)

    def _ws_delete(self, req, user, client_ip):
        with self._lock:
            shell = self._shells.pop(req.shell_id, None)
        if shell is None:
            return self._no_shell(req)
        for proc in shell.commands.values():
            proc.terminated = True
            proc.finish(-1)
        self.counters.inc("shells_deleted")
        return 200, wsman.empty_response(req)

    def _ws_command(self, req, user, client_ip):
        shell = self._shell(req)
        if shell is None:
            return self._no_shell(req)
        with self._lock:
            shell.operations += 1
            used = sum(s.operations for s in self._shells.values() if s.owner.lower() == user.lower())
            over = used > self.limits.max_operations_per_user
        if over:
            return 500, wsman.named_fault("quota", req.message_id, self.name,
                                          limit=self.limits.max_operations_per_user)
        cmd = req.find("rsp:CommandLine")
        if cmd is None:
            return 500, wsman.named_fault("bad_request", req.message_id, self.name)
        command = (cmd.findtext("rsp:Command", default="", namespaces=wsman.NS) or "")
        args = [a.text or "" for a in cmd.findall("rsp:Arguments", wsman.NS)]
        line = " ".join([command] + args) if args else command
        # absent = TRUE (pywinrm's and winrs' default); anything but FALSE is console mode
        console = (req.options.get("WINRS_CONSOLEMODE_STDIN") or "TRUE").strip().upper() != "FALSE"
        self.commands_seen.append({"consoleModeStdin": req.options.get("WINRS_CONSOLEMODE_STDIN"),
                                   "skipCmdShell": req.options.get("WINRS_SKIP_CMD_SHELL"), "length": len(line)})
        if len(line) > processes.CREATE_PROCESS_LIMIT:      # CreateProcess fails before cmd.exe runs
            return 500, wsman.named_fault("filename_too_long", req.message_id, self.name)
        proc = processes.Process(wsman.new_uuid(), line, shell.codepage, shell.output_streams, console)
        with self._lock:
            shell.commands[proc.command_id] = proc
        self.counters.inc("commands")
        processes.start(self, shell, proc)
        return 200, wsman.command_response(req, proc.command_id)

    def _ws_send(self, req, user, client_ip):
        shell = self._shell(req)
        if shell is None:
            return self._no_shell(req)
        for stream in req.findall("rsp:Send/rsp:Stream"):
            proc = shell.commands.get(stream.get("CommandId", "").upper())
            if proc is None:
                return 500, wsman.named_fault("unknown_command", req.message_id, self.name,
                                              command=stream.get("CommandId", ""))
            try:
                data = base64.b64decode((stream.text or "").strip(), validate=True)
            except ValueError:
                return 500, wsman.named_fault("bad_request", req.message_id, self.name)
            proc.feed(data, stream.get("End", "false").lower() == "true")
        return 200, wsman.empty_response(req, "<rsp:SendResponse/>")

    def _ws_receive(self, req, user, client_ip):
        shell = self._shell(req)
        if shell is None:
            return self._no_shell(req)
        desired = req.find("rsp:Receive/rsp:DesiredStream")
        if desired is None or not desired.get("CommandId"):
            # pypsrp test_winrs_fail_poll_process.yml: no CommandId -> w:InvalidParameter, code 87
            return 500, wsman.named_fault("invalid_parameter", req.message_id, self.name)
        cid = desired.get("CommandId", "").upper()
        proc = shell.commands.get(cid)
        if proc is None:
            return 500, wsman.named_fault("unknown_command", req.message_id, self.name, command=cid)
        # DesiredStream is honoured (MS-WSMV 3.1.4.14): only the streams named, of those the shell captures
        streams = tuple(n for n in (desired.text or "").split() if n in shell.output_streams)
        wait = min(req.operation_timeout or self.limits.max_timeout_s, self.limits.max_timeout_s)
        with proc.cond:
            ready = proc.cond.wait_for(lambda: proc.has_output(streams), timeout=wait)
        if not ready:
            self.counters.inc("receive_timeouts")
            return 500, wsman.named_fault("timeout", req.message_id, self.name)
        if proc.exit_code is not None and getattr(proc, "drop_response", False):
            with self._lock:                 # drop_response: the op ran; its output never arrives
                shell.commands.pop(proc.command_id, None)
            return None, b""
        # keep the response under the client's MaxEnvelopeSize: base64 (4/3) plus ~130 bytes of
        # element per piece, plus the envelope
        per_piece = processes.STREAM_PIECE_BYTES
        budget = max(per_piece, (req.max_envelope_size - 4096) * per_piece // (per_piece * 4 // 3 + 130))
        pieces, done, rc = proc.take(budget, streams)
        return 200, wsman.receive_response(req, proc.command_id, pieces, done, rc)

    def _ws_signal(self, req, user, client_ip):
        shell = self._shell(req)
        if shell is None:
            return self._no_shell(req)
        sig = req.find("rsp:Signal")
        cid = (sig.get("CommandId", "") if sig is not None else "").upper()
        code = (sig.findtext("rsp:Code", default="", namespaces=wsman.NS) if sig is not None else "").rsplit("/", 1)[-1]
        with self._lock:
            proc = shell.commands.get(cid)
            if proc is not None and code == "terminate":
                del shell.commands[cid]
        if proc is None:
            return 500, wsman.named_fault("unknown_command", req.message_id, self.name, command=cid)
        if code in ("terminate", "ctrl_c", "ctrl_break"):
            proc.terminated = True
            proc.finish(-1073741510)   # STATUS_CONTROL_C_EXIT, for a process still running
        return 200, wsman.empty_response(req, "<rsp:SignalResponse/>")

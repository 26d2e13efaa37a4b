"""Run one host op over WinRM: ``run_op(endpoint, op, params, journal=None, timeout=120.0)``.

Per op, on a pooled shell (pool.py): Command (the fixed bootstrap) -> Send x n (the payload,
chunked under MaxEnvelopeSize) -> Receive x m (our own deadline; pywinrm's loop has none) ->
Signal terminate. The first op on a host also pays Create and the NTLM handshake.

Failures map to the typed errors of errors.py. Transient ones (connection refused/reset while a
VM boots, 5xx without a WS-Man fault) retry with exponential backoff, bounded by attempts and the
deadline; a shell that hits a quota/operations-limit fault or vanished (shell or command gone,
2150858843), or a TimedOut/1460 on Create, Command or Send, means one more try on another shell; auth,
TLS and validation failures never retry. Ops are idempotent (DESIGN.md), so re-running an op whose
first attempt may have reached the host is safe.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import random
import re
import tempfile
import threading
import time

import requests
from requests.adapters import HTTPAdapter
from winrm.exceptions import (InvalidCredentialsError, WinRMError, WinRMOperationTimeoutError,
                              WinRMTransportError, WSManFaultError)
from winrm.protocol import Protocol
from winrm.transport import Transport

from . import bootstrap, winrs
from .endpoint import _LATIN1_MESSAGE, Endpoint
from .errors import (AuthenticationFailed, EnvelopeTooLarge, ExecutorConfigError, HostUnreachable,
                     MalformedOutput, OperationTimedOut, OpFailed, ShellQuotaExceeded,
                     TlsValidationFailed, WinfleetHostError, WsmanFault)
from .pool import POOL, Shell

log = logging.getLogger("winfleet.winrm")

# --- tunables (module constants so tests and the benchmark can adjust them) -------------------
SEND_CHUNK_BYTES = 96 * 1024      # raw stdin bytes per Send: base64 -> 128 KiB < 150 KiB MaxEnvelopeSizekb (old hosts)
OPERATION_TIMEOUT_MAX = 20        # WS-Man OperationTimeout (s) of one Receive long-poll
READ_TIMEOUT_MARGIN = 10          # requests read timeout = operation timeout + margin (pywinrm requires >)
RETRY_ATTEMPTS = 6                # total attempts for transient failures
RETRY_BACKOFF = 0.25              # first backoff (s), doubled each time ...
RETRY_BACKOFF_MAX = 4.0           # ... up to this
REACH_BUDGET_SECONDS = 600.0     # how long a host that does not answer is waited for (winfleet:winrm.reachBudgetMinutes)
REACH_BACKOFF_SECONDS = 2.0      # first pause between tries of an unreachable host, doubling ...
REACH_BACKOFF_MAX = 30.0         # ... up to this (winfleet:winrm.reachBackoffSeconds sets the first)
CODEPAGE = 65001
CLEANUP_TIMEOUT = 5               # s: request timeout of Signal/Delete after a failure
SHELL_IDLE_TIMEOUT = 180          # s: the host deletes our shell if unused this long, so shells of a killed
                                  # process (SIGKILL: no atexit) never pile up against MaxShellsPerUser

# WS-Man / WinRS fault codes we react to (research/winrm_transport.md §1.9, §3.3)
WSMAN_OPERATION_TIMEOUT = 2150858793     # 0x80338029 Receive had no output within OperationTimeout
WSMAN_SHELL_NOT_FOUND = 2150858843       # 0x8033805B the ShellId is unknown (expired, host restarted)
WSMAN_QUOTA_MAX_SHELLS = 2150859173      # 0x803381A5 MaxShellsPerUser
WSMAN_QUOTA_MAX_OPERATIONS = 2150859174  # 0x803381A6 MaxConcurrentOperationsPerUser (reused shell)
ERROR_TIMEOUT = 1460                     # Win32 ERROR_TIMEOUT from the shell plugin (Send/Command)
# 2150858843 means "shell gone" and also "command gone" (w:InvalidSelectors + FaultDetail
# UnexpectedSelectors: pypsrp test_winrs_bad_cmd_id.yml / test_psrp_receive_failure.yml)
_RECREATE_CODES = {WSMAN_SHELL_NOT_FOUND, WSMAN_QUOTA_MAX_SHELLS, WSMAN_QUOTA_MAX_OPERATIONS}
# A timeout on Create, Command or Send: the op is retried once on another shell (ops are
# idempotent); the command that timed out is never sent more input (it is signalled and its shell
# discarded), since Windows may have consumed the input already (ansible/ansible#75227, PR #81538).
_FRESH_SHELL_CODES = {WSMAN_OPERATION_TIMEOUT, ERROR_TIMEOUT}
_FRESH_SHELL_PHASES = ("Create", "Command", "Send")


class _Recreate(Exception):
    """Internal: the shell must be replaced and the op tried once more."""

    def __init__(self, error: WinfleetHostError):
        self.error = error


# --- TLS: CA file / pinned SHA-256 / server name ------------------------------------------------
# requests (urllib3) wants a CA *file*. Each distinct PEM is written once per process, as
# ``<tmp>/winfleet-ca-<user>/<digest>-<pid>.pem`` (a private 0700 folder), removed when the process
# exits (atexit); files left by a process that was killed (no atexit) are removed by the next process
# that writes one (POSIX: their pid no longer runs).
_ca_files: dict[str, str] = {}
_ca_lock = threading.Lock()


def _ca_dir() -> str:
    import getpass
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name (container): the uid still separates users
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    path = os.path.join(tempfile.gettempdir(), "winfleet-ca-" + re.sub(r"[^A-Za-z0-9_.-]", "_", user))
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _sweep_stale_ca_files(folder: str) -> None:
    if os.name != "posix":      # os.kill(pid, 0) is no liveness probe on Windows
        return
    for name in os.listdir(folder):
        m = re.fullmatch(r"[0-9a-f]{16}-([0-9]+)\.pem", name)
        if not m or int(m.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass
        except OSError:
            pass                 # alive (another user's process: EPERM)


def _remove_ca_files() -> None:
    with _ca_lock:
        for path in _ca_files.values():
            try:
                os.remove(path)
            except OSError:
                pass
        _ca_files.clear()


def _ca_file(pem: str) -> str:
    """The path of a file holding ``pem``, written once per process (see above)."""
    digest = hashlib.sha256(pem.encode()).hexdigest()[:16]
    with _ca_lock:
        path = _ca_files.get(digest)
        if path is None or not os.path.exists(path):
            folder = _ca_dir()
            if not _ca_files:
                _sweep_stale_ca_files(folder)
            path = os.path.join(folder, f"{digest}-{os.getpid()}.pem")
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{digest}-", suffix=".tmp")
            with os.fdopen(fd, "w") as fh:
                fh.write(pem)
            os.replace(tmp, path)
            _ca_files[digest] = path
        return path


atexit.register(_remove_ca_files)


class _TlsAdapter(HTTPAdapter):
    """Adds urllib3's ``assert_fingerprint`` (pinning) and a TLS server name override."""

    def __init__(self, fingerprint: str | None, server_name: str | None):
        self._fingerprint = fingerprint
        self._server_name = server_name
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        if self._fingerprint:
            pool_kwargs["assert_fingerprint"] = self._fingerprint
        if self._server_name:
            pool_kwargs["server_hostname"] = self._server_name
            pool_kwargs["assert_hostname"] = self._server_name
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


class _WinfleetTransport(Transport):
    """pywinrm's Transport, with our TLS adapter mounted on every session it builds."""

    _winfleet_adapter_args: tuple = (None, None)

    def build_session(self):
        fresh = self.session is None
        session = super().build_session()
        if fresh:
            session.mount("https://", _TlsAdapter(*self._winfleet_adapter_args))
        return session


def _new_protocol(ep: Endpoint) -> Protocol:
    transport = {"ntlm": "ntlm", "basic": "basic", "kerberos": "kerberos"}[ep.auth]
    validate = bool(ep.ca_pem)
    protocol = Protocol(
        endpoint=ep.url,
        transport=transport,
        username=ep.username,
        password=ep.password,
        server_cert_validation="validate" if validate else "ignore",  # "ignore" only with a pinned SHA-256
        ca_trust_path=_ca_file(ep.ca_pem) if validate else None,
        read_timeout_sec=OPERATION_TIMEOUT_MAX + READ_TIMEOUT_MARGIN,
        operation_timeout_sec=OPERATION_TIMEOUT_MAX,
        message_encryption="never",   # HTTPS only: TLS protects the messages
        send_cbt=True,
        proxy=None,                   # never pick up HTTPS_PROXY from a CI environment
        kerberos_hostname_override=ep.tls_server_name if ep.auth == "kerberos" else None,
    )
    protocol.transport.__class__ = _WinfleetTransport
    protocol.transport._winfleet_adapter_args = (ep.cert_sha256, ep.tls_server_name)
    return protocol


# --- error mapping -----------------------------------------------------------------------------
def _redact(text, ep: Endpoint) -> str:
    text = str(text)
    if ep.password:
        text = text.replace(ep.password, "***")
    return text


def _classify(exc: BaseException, ep: Endpoint, op: str, phase: str) -> WinfleetHostError:
    host = ep.label
    if isinstance(exc, WinfleetHostError):
        return exc
    if isinstance(exc, InvalidCredentialsError):
        return AuthenticationFailed(host, op, f"the host rejected the credentials of {ep.username!r} "
                                              f"(auth {ep.auth}) during {phase}")
    if isinstance(exc, requests.exceptions.SSLError):
        return TlsValidationFailed(host, op, "TLS validation of the server certificate failed during "
                                             f"{phase}: {_redact(_ssl_reason(exc), ep)}")
    if isinstance(exc, requests.exceptions.RequestException):   # refused, reset, timeout, truncated body
        err = HostUnreachable(host, op, f"{ep.url} unreachable during {phase}: {_redact(_conn_reason(exc), ep)}")
        # A host that answers nothing at all (refused, reset, no route: rebooting) is waited for within the
        # reachability budget; a request that was accepted and then timed out is bounded by the op deadline.
        err.host_away = not isinstance(exc, requests.exceptions.ReadTimeout)
        return err
    if isinstance(exc, WinRMOperationTimeoutError):
        return WsmanFault(host, op, f"WS-Man OperationTimeout during {phase}", code="WSMAN_TIMEOUT",
                          wsman_code=WSMAN_OPERATION_TIMEOUT, phase=phase)
    if isinstance(exc, WSManFaultError):
        reason = _redact((exc.reason or "").strip(), ep)
        details = dict(wsman_code=exc.wsman_fault_code, wmi_code=exc.wmierror_code,
                       subcode=exc.fault_subcode, http_status=exc.code, phase=phase)
        if exc.code == 413:   # a 413 that carries a SOAP fault body is still "envelope too large"
            return EnvelopeTooLarge(host, op, f"HTTP 413 during {phase}: a request exceeded the host's "
                                              f"MaxEnvelopeSizekb ({reason})", **details)
        # Windows puts the code in f:WSManFault/@Code or only in MSFT_WmiError/error_Code (the real
        # MaxShellsPerUser fault has no f:WSManFault: WinRb/WinRM spec/stubs/responses/wmi_error_v2.xml)
        codes = {exc.wsman_fault_code, exc.wmierror_code}
        if codes & {WSMAN_QUOTA_MAX_SHELLS, WSMAN_QUOTA_MAX_OPERATIONS}:
            return ShellQuotaExceeded(host, op, f"WS-Man quota fault during {phase}: {reason}", **details)
        return WsmanFault(host, op, f"WS-Man fault during {phase}: {reason} "
                                    f"(subcode {exc.fault_subcode}, code {exc.wsman_fault_code or exc.wmierror_code})",
                          **details)
    if isinstance(exc, WinRMTransportError):
        status = exc.code
        if status == 413:
            return EnvelopeTooLarge(host, op, f"HTTP 413 during {phase}: a request exceeded the host's "
                                              "MaxEnvelopeSizekb", http_status=413, phase=phase)
        if isinstance(status, int) and status >= 500:
            err = HostUnreachable(host, op, f"HTTP {status} from the WinRM service during {phase} "
                                            "(service starting or overloaded)", http_status=status, phase=phase)
            err.host_away = True           # WinRM restarting with the host: within the reachability budget
            return err
        return WsmanFault(host, op, f"unexpected HTTP {status} during {phase}", http_status=status, phase=phase)
    if isinstance(exc, WinRMError):
        msg = _redact(str(exc), ep)
        if "kerberos" in msg.lower():
            return ExecutorConfigError(host, op, msg)
        return WsmanFault(host, op, f"WinRM error during {phase}: {msg}", phase=phase)
    if isinstance(exc, UnicodeEncodeError):       # before ValueError: not the host's answer, our request
        return ExecutorConfigError(host, op, _LATIN1_MESSAGE.format(user=ep.username))
    if isinstance(exc, (StopIteration, AssertionError, ValueError)) or type(exc).__name__ == "ParseError":
        return MalformedOutput(host, op, f"unparseable WS-Man response during {phase}: {type(exc).__name__}")
    return WinfleetHostError(host, op, f"{type(exc).__name__} during {phase}: {_redact(exc, ep)}",
                             code="TRANSPORT_ERROR")


def _ssl_reason(exc) -> str:
    text = str(exc)
    m = re.search(r"(certificate verify failed[^)'\"]*|Fingerprints did not match[^)'\"]*|hostname [^)'\"]*)", text)
    return m.group(1) if m else text[:300]


def _conn_reason(exc) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "RemoteDisconnected", "Connection aborted",
                   "timed out", "Name or service not known", "No route to host"):
        if marker in text:
            return marker
    return text[:300]


# --- the op --------------------------------------------------------------------------------------
def _arm(p: Protocol, deadline: float) -> None:
    """Bound the next request by the op's deadline: a black-holed host cannot hold us 30 s past it."""
    remaining = deadline - time.monotonic()
    p.transport.read_timeout_sec = max(2.0, min(OPERATION_TIMEOUT_MAX + READ_TIMEOUT_MARGIN, remaining + 1.0))


def _open_shell(ep: Endpoint, deadline: float) -> Shell:
    protocol = _new_protocol(ep)
    _arm(protocol, deadline)
    try:
        shell_id = protocol.open_shell(codepage=CODEPAGE, noprofile=True, idle_timeout=f"PT{SHELL_IDLE_TIMEOUT}S")
    except BaseException:
        try:
            protocol.transport.close_session()
        except Exception:
            pass
        raise
    log.debug("opened shell %s on %s", shell_id, ep.label)
    return Shell(ep, protocol, shell_id)


def _call(ep, op, phase, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except WinRMOperationTimeoutError:
        if phase == "Receive":
            raise       # the Receive loop polls again
        raise _classify(WinRMOperationTimeoutError(), ep, op, phase) from None
    except Exception as exc:
        raise _classify(exc, ep, op, phase) from None


class _ProgressLines:
    """Splits stderr as it arrives into lines; hands ``PROGRESS_PREFIX`` lines to the callback."""

    def __init__(self, callback):
        self.callback = callback
        self.buf = b""

    def feed(self, data: bytes) -> None:
        if self.callback is None or not data:
            return
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        prefix = bootstrap.PROGRESS_PREFIX.encode()
        for line in lines:
            line = line.strip()
            if not line.startswith(prefix):
                continue
            try:
                doc = json.loads(line[len(prefix):].decode("utf-8", errors="replace"))
                if isinstance(doc, dict):
                    self.callback(doc)
            except Exception as exc:     # progress must never fail the op
                log.debug("progress line dropped: %s", type(exc).__name__)


def _execute(shell: Shell, op: str, payload: bytes, deadline: float, progress=None) -> tuple[bytes, bytes, int]:
    ep, p, sid = shell.endpoint, shell.protocol, shell.shell_id
    p.operation_timeout_sec = OPERATION_TIMEOUT_MAX
    _arm(p, deadline)
    command_id = _call(ep, op, "Command", p.run_command, sid, bootstrap.COMMAND_LINE, console_mode_stdin=False)
    shell.commands += 1
    finished = False
    unreachable = False
    try:
        for start in range(0, len(payload), SEND_CHUNK_BYTES):
            end = start + SEND_CHUNK_BYTES >= len(payload)
            _arm(p, deadline)
            _call(ep, op, "Send", p.send_command_input, sid, command_id, payload[start:start + SEND_CHUNK_BYTES], end=end)
            if time.monotonic() > deadline:
                raise OperationTimedOut(ep.label, op, "deadline passed while sending the payload")
        stdout, stderr = [], []
        lines = _ProgressLines(progress)
        while True:
            remaining = deadline - time.monotonic()
            if remaining < 1:
                raise OperationTimedOut(ep.label, op, "the op did not finish before its deadline "
                                                      f"({len(b''.join(stdout))} bytes of output so far)")
            p.operation_timeout_sec = max(1, min(OPERATION_TIMEOUT_MAX, int(remaining)))
            _arm(p, deadline)
            try:
                out, err, rc, done = _call(ep, op, "Receive", winrs.receive, p, sid, command_id)
            except WinRMOperationTimeoutError:
                continue   # no output within OperationTimeout: expected for long ops, poll again
            stdout.append(out)
            stderr.append(err)
            lines.feed(err)
            if done:
                finished = True
                return b"".join(stdout), b"".join(stderr), rc
    except HostUnreachable:
        unreachable = True
        raise
    finally:
        p.operation_timeout_sec = OPERATION_TIMEOUT_MAX
        if unreachable:
            shell.broken = shell.unreachable = True   # don't signal a host we just lost; the pool discards the shell
        else:
            saved = p.transport.read_timeout_sec
            p.transport.read_timeout_sec = CLEANUP_TIMEOUT
            try:
                if not finished:
                    _signal(p, sid, command_id, "ctrl_c")     # stop the process first, then terminate
                p.cleanup_command(sid, command_id)
            except Exception as exc:
                # the op's output (if any) stands; the shell is in an unknown state: discard it
                shell.broken = True
                log.debug("%s on %s: Signal failed (%s); the shell will be discarded", op, ep.label,
                          type(exc).__name__)
            finally:
                p.transport.read_timeout_sec = saved


def _signal(p: Protocol, sid: str, command_id: str, code: str) -> None:
    import xmltodict
    req = {"env:Envelope": p.build_wsman_header(
        resource_uri="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        action="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal", shell_id=sid)}
    sig = req["env:Envelope"].setdefault("env:Body", {}).setdefault("rsp:Signal", {})
    sig["@CommandId"] = command_id
    sig["rsp:Code"] = f"http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/{code}"
    try:
        p.send_message(xmltodict.unparse(req))
    except Exception:
        pass


def _parse_output(ep: Endpoint, op: str, stdout: bytes, stderr: bytes, rc: int, read_journal: bool = False) -> dict:
    host = ep.label
    err_text = _redact(_clean_stderr(stderr), ep)
    text = stdout.decode("utf-8", errors="replace").lstrip("\ufeff").strip()
    if not text:
        raise MalformedOutput(host, op, f"no output (exit code {rc})" + (f"; stderr: {err_text[:500]}" if err_text else ""),
                              exit_code=rc)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedOutput(host, op, f"stdout is not JSON (exit code {rc}): {_redact(text[:200], ep)!r}"
                              + (f"; stderr: {err_text[:500]}" if err_text else ""), exit_code=rc) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
        raise MalformedOutput(host, op, f"stdout JSON has no boolean 'ok' (exit code {rc})", exit_code=rc)
    if not doc["ok"]:
        error = doc.get("error")
        if not isinstance(error, dict):
            raise MalformedOutput(host, op, "ok=false without an error object", exit_code=rc)
        raise OpFailed(host, op, _redact(error.get("message", ""), ep), code=str(error.get("code") or "OP_FAILED"),
                       exit_code=rc)
    result = doc.get("result")
    if rc != 0:
        raise MalformedOutput(host, op, f"ok=true but exit code {rc}", exit_code=rc)
    if not isinstance(result, dict) or not isinstance(result.get("changed"), bool) or not isinstance(result.get("state"), dict):
        raise MalformedOutput(host, op, "result must be {\"changed\": bool, \"state\": {...}}", exit_code=rc)
    if read_journal:
        journal = doc.get("journal")
        if not isinstance(journal, dict) or not isinstance(journal.get("entries"), dict):
            raise MalformedOutput(host, op, "a journal read was asked for but the output has no "
                                  "{\"journal\": {\"entries\": {...}}}", exit_code=rc)
        out = {"entries": journal["entries"]}
        if isinstance(journal.get("machineGuid"), str):
            out["machineGuid"] = journal["machineGuid"]     # the host's identity (HKLM\SOFTWARE\Microsoft\Cryptography)
        result = {**result, "journal": out}
    return result


def _clean_stderr(stderr: bytes) -> str:
    text = stderr.decode("utf-8", errors="replace").lstrip("\ufeff")
    text = "\n".join(l for l in text.splitlines() if not l.strip().startswith(bootstrap.PROGRESS_PREFIX))
    if text.startswith("#< CLIXML"):
        parts = re.findall(r"<S S=\"Error\">(.*?)</S>", text, flags=re.S)
        text = "".join(parts).replace("_x000D__x000A_", "\n") or text
    return text.strip()


def run_op(endpoint, op: str, params: dict | None = None, journal: dict | None = None,
           timeout: float = 120.0, progress=None) -> dict:
    """Run host op ``op`` with ``params`` on ``endpoint``; return ``{"changed", "state"}``.

    ``journal`` is the envelope: ``{"read": [key], "write": {"key", "value"}, "clear": key}`` (any
    subset). With ``read``, the result also has ``"journal": {"entries": {key: value}}``: those
    entries as they were before this op (read before ``write`` and before the driver ran).

    ``progress``: optional ``callable(dict)`` called (on this thread, while the op runs) with each
    ``{"step", "message"}`` the driver reports with ``Send-WinfleetProgress`` (stderr lines read as
    Receive returns them); its exceptions are swallowed.

    ``endpoint`` is an ``Endpoint`` or the contract's connection dict. Raises a
    ``WinfleetHostError`` subclass (host, op, code, message) on failure. Thread-safe.
    """
    ep = Endpoint.from_inputs(endpoint)
    try:
        payload = bootstrap.build_payload(op, {} if params is None else params, journal)
    except (ValueError, TypeError) as exc:
        raise ExecutorConfigError(ep.label, op, str(exc)) from None
    read_journal = journal is not None and journal.get("read") is not None
    started = time.monotonic()
    deadline = started + timeout
    attempt, recreated = 0, False
    reach = _Reach(ep)
    while True:
        attempt += 1
        try:
            result = _run_once(ep, op, payload, deadline, read_journal, progress)
            log.debug("%s on %s: ok in %.3fs (attempt %d)", op, ep.label, time.monotonic() - started, attempt)
            return result
        except _Recreate as rec:
            if recreated:
                raise rec.error from None
            recreated = True
            log.info("%s on %s: %s; recreating the shell once", op, ep.label, rec.error.code)
            continue
        except WinfleetHostError as err:
            if getattr(err, "host_away", False):   # refused/reset/5xx: a reboot; bounded by time, not tries
                delay = reach.next_delay(err)      # raises once the host stayed away past the budget
                log.info("%s on %s: %s, retrying in %.2fs", op, ep.label, err.code, delay)
                time.sleep(delay)
                deadline = max(deadline, time.monotonic() + timeout)   # the op's own time starts when it answers
                continue
            if not err.retryable or attempt >= RETRY_ATTEMPTS:
                if err.retryable:
                    err.message += f" (gave up after {attempt} attempts)"
                raise
            delay = min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
            if time.monotonic() + delay >= deadline:
                err.message += f" (deadline reached after {attempt} attempts)"
                raise
            log.info("%s on %s: %s (attempt %d), retrying in %.2fs", op, ep.label, err.code, attempt, delay)
            time.sleep(delay)


class _Reach:
    """The reachability budget of one ``run_op``: a host that does not answer (refused, reset, timed out,
    5xx: a reboot, a VM still booting) is tried again with backoff for ``reach_budget_seconds`` of wall
    time since it first failed, then given up with a message naming the budget and its config key."""

    def __init__(self, ep: Endpoint):
        self.ep = ep
        self.budget = ep.reach_budget_seconds or REACH_BUDGET_SECONDS
        self.backoff = ep.reach_backoff_seconds or REACH_BACKOFF_SECONDS
        self.since: float | None = None
        self.tries = 0

    def next_delay(self, err: HostUnreachable) -> float:
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.tries += 1
        waited = now - self.since
        left = self.budget - waited
        if left <= 0:
            err.message += (f" (unreachable for {waited:.1f} s over {self.tries} tries: gave up after the "
                            f"reachability budget of {self.budget:.0f} s, winfleet:winrm.reachBudgetMinutes)")
            raise err
        delay = min(REACH_BACKOFF_MAX, self.backoff * 2 ** (self.tries - 1)) * random.uniform(0.8, 1.0)
        return max(0.05, min(delay, left))


def _run_once(ep: Endpoint, op: str, payload: bytes, deadline: float, read_journal: bool = False,
              progress=None) -> dict:
    try:
        shell = POOL.acquire(ep, lambda e: _call(e, op, "Create", _open_shell, e, deadline), deadline)
    except TimeoutError:
        raise OperationTimedOut(ep.label, op, "no pooled shell became free before the deadline") from None
    except ShellQuotaExceeded as err:
        POOL.close_idle(ep)           # MaxShellsPerUser: free our idle shells, then try once more
        raise _Recreate(err) from None
    except WsmanFault as err:
        if _fresh_shell_retry(err):
            raise _Recreate(err) from None
        raise
    healthy = False
    try:
        stdout, stderr, rc = _execute(shell, op, payload, deadline, progress)
        healthy = not shell.broken
    except HostUnreachable:
        shell.unreachable = True
        raise
    except WsmanFault as err:
        if {err.wsman_code, err.wmi_code} & _RECREATE_CODES or _fresh_shell_retry(err):
            raise _Recreate(err) from None
        raise
    finally:
        if healthy:
            POOL.release(shell)
        else:
            POOL.discard(shell, wait=not shell.unreachable)
    return _parse_output(ep, op, stdout, stderr, rc, read_journal)


def _fresh_shell_retry(err: WsmanFault) -> bool:
    """TimedOut (2150858793) or ERROR_TIMEOUT (1460) on Create, Command or Send."""
    return (err.details.get("phase") in _FRESH_SHELL_PHASES
            and bool({err.wsman_code, err.wmi_code} & _FRESH_SHELL_CODES))

"""Typed errors of the WinRM executor.

Every error names the host, the op and a stable code, and carries a message that never contains
a password (the executor redacts the endpoint's password from anything it wraps).
``retryable`` says whether the executor's own retry loop may try again; callers normally just
report the error.
"""
from __future__ import annotations


class WinfleetHostError(Exception):
    """Base class: something went wrong running ``op`` on ``host``."""

    code = "HOST_ERROR"
    retryable = False

    def __init__(self, host: str, op: str, message: str, code: str | None = None, **details):
        self.host = host
        self.op = op
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"[{self.host}] {self.op}: {self.code}: {self.message}"

    def __reduce__(self):  # picklable across the dynamic-provider host's process boundary
        return (_rebuild, (type(self), self.host, self.op, self.message, self.code, self.details))

    def to_dict(self) -> dict:
        return {"host": self.host, "op": self.op, "code": self.code, "message": self.message}


def _rebuild(cls, host, op, message, code, details):
    return cls(host, op, message, code, **details)


class InvalidEndpoint(ValueError):
    """The connection inputs are unusable (raised before any network traffic)."""


class HostUnreachable(WinfleetHostError):
    """TCP connect refused/reset/timed out, or the WinRM service answered 5xx without a WS-Man
    fault (typical while a VM boots). Retried with backoff by the executor."""

    code = "HOST_UNREACHABLE"
    retryable = True


class TlsValidationFailed(WinfleetHostError):
    """The server certificate does not chain to the given CA, does not match the host name,
    or does not match the pinned SHA-256. Never retried."""

    code = "TLS_VALIDATION_FAILED"


class AuthenticationFailed(WinfleetHostError):
    """HTTP 401: bad credentials or auth scheme disabled on the host. Never retried."""

    code = "AUTH_FAILED"


class WsmanFault(WinfleetHostError):
    """A WS-Management SOAP fault (HTTP 500 with s:Fault) or an HTTP-level WS-Man refusal."""

    code = "WSMAN_FAULT"

    @property
    def wsman_code(self):
        return self.details.get("wsman_code")

    @property
    def wmi_code(self):
        return self.details.get("wmi_code")


class ShellQuotaExceeded(WsmanFault):
    """MaxShellsPerUser / MaxConcurrentOperationsPerUser hit even after recreating the shell."""

    code = "WSMAN_QUOTA"


class EnvelopeTooLarge(WsmanFault):
    """HTTP 413: a request exceeded the host's MaxEnvelopeSizekb."""

    code = "ENVELOPE_TOO_LARGE"


class OperationTimedOut(WinfleetHostError):
    """The op did not finish before its deadline (the executor's own, pywinrm has none)."""

    code = "OP_TIMEOUT"


class OpFailed(WinfleetHostError):
    """The driver ran and reported a structured failure; ``code`` is the driver's code."""

    code = "OP_FAILED"


class MalformedOutput(WinfleetHostError):
    """The command's stdout was not the one JSON document the bootstrap prints."""

    code = "MALFORMED_OUTPUT"


class ExecutorConfigError(WinfleetHostError):
    """The local side cannot run the op (e.g. Kerberos requested but not installed)."""

    code = "EXECUTOR_CONFIG"

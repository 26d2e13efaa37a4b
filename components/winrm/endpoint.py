"""Where and how to reach one Windows host over WinRM/HTTPS.

``Endpoint.from_inputs`` takes the ``connection`` shape of docs/CONTRACTS.md (camelCase keys).
The password is excluded from ``repr``/``str`` and from anything the executor raises.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import InvalidEndpoint

AUTH_METHODS = ("ntlm", "basic", "kerberos")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


# HTTP Basic sends "user:password" encoded as Latin-1 (requests' HTTPBasicAuth, as RFC 7617 allows
# when the server announces no charset; WinRM announces none): other characters cannot be sent.
_LATIN1_MESSAGE = ("auth 'basic' cannot send the user name or password of {user!r}: it contains characters "
                   "outside Latin-1 (ISO-8859-1), which HTTP Basic authentication encodes; use auth 'ntlm' "
                   "(or 'kerberos'), or a password of Latin-1 characters")


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
        return True
    except UnicodeEncodeError:
        return False


def _seconds(connection: dict, key: str) -> float | None:
    v = connection.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 7200:
        raise InvalidEndpoint(f"connection.{key} must be a number of seconds, 0 < s <= 7200, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 5986
    username: str = ""
    password: str = field(default="", repr=False)
    auth: str = "ntlm"
    ca_pem: str | None = field(default=None, repr=False)
    cert_sha256: str | None = None
    tls_server_name: str | None = None
    host_name: str | None = None
    reach_budget_seconds: float | None = None     # None: executor.REACH_BUDGET_SECONDS
    reach_backoff_seconds: float | None = None    # None: executor.REACH_BACKOFF_SECONDS

    def __post_init__(self):
        if not isinstance(self.host, str) or not self.host.strip():
            raise InvalidEndpoint("connection.host must be a non-empty string")
        if not isinstance(self.port, int) or isinstance(self.port, bool) or not 0 < self.port < 65536:
            raise InvalidEndpoint(f"connection.port must be an integer 1-65535, got {self.port!r}")
        if self.auth not in AUTH_METHODS:
            raise InvalidEndpoint(f"connection.auth must be one of {', '.join(AUTH_METHODS)}, got {self.auth!r}")
        if not isinstance(self.username, str) or not self.username:
            raise InvalidEndpoint("connection.username must be a non-empty string")
        if not isinstance(self.password, str):
            raise InvalidEndpoint("connection.password must be a string")
        if self.auth != "kerberos" and not self.password:
            raise InvalidEndpoint(f"connection.password is required for auth {self.auth!r}")
        if self.auth == "basic" and not _latin1(self.username + self.password):
            raise InvalidEndpoint("connection: " + _LATIN1_MESSAGE.format(user=self.username))
        if not self.ca_pem and not self.cert_sha256:
            raise InvalidEndpoint(
                "connection needs caPem (CA bundle / server certificate, PEM) or certSha256 "
                "(pinned server certificate); there is no option to skip certificate validation")
        if self.ca_pem is not None and "-----BEGIN CERTIFICATE-----" not in self.ca_pem:
            raise InvalidEndpoint("connection.caPem must be PEM text containing a certificate")
        if self.cert_sha256 is not None:
            norm = self.cert_sha256.replace(":", "").replace(" ", "").lower()
            if not _SHA256_HEX.fullmatch(norm):
                raise InvalidEndpoint("connection.certSha256 must be 64 hex digits (SHA-256 of the DER certificate)")
            object.__setattr__(self, "cert_sha256", norm)

    @classmethod
    def from_inputs(cls, connection: dict) -> "Endpoint":
        """Build from the contract's ``connection`` dict (camelCase; unknown keys are rejected)."""
        if isinstance(connection, Endpoint):
            return connection
        if not isinstance(connection, dict):
            raise InvalidEndpoint("connection must be a dict")
        known = {"host", "port", "username", "password", "auth", "caPem", "certSha256", "tlsServerName", "hostName",
                 "reachBudgetSeconds", "reachBackoffSeconds"}
        unknown = sorted(set(connection) - known)
        if unknown:
            raise InvalidEndpoint(f"connection has unknown keys {unknown}; allowed: {sorted(known)}")
        port = connection.get("port")
        if port is None:
            port = 5986
        elif isinstance(port, float) and port.is_integer():   # numbers arrive as floats from Pulumi's gRPC
            port = int(port)
        return cls(
            host=connection.get("host"),
            port=port,
            username=connection.get("username"),
            password=connection.get("password") or "",
            auth=connection.get("auth") or "ntlm",
            ca_pem=connection.get("caPem") or None,
            cert_sha256=connection.get("certSha256") or None,
            tls_server_name=connection.get("tlsServerName") or None,
            host_name=connection.get("hostName") or None,
            reach_budget_seconds=_seconds(connection, "reachBudgetSeconds"),
            reach_backoff_seconds=_seconds(connection, "reachBackoffSeconds"),
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}/wsman"

    @property
    def label(self) -> str:
        """How errors and logs name the host (logical name if known, else host:port)."""
        return self.host_name or f"{self.host}:{self.port}"

    @property
    def pool_key(self) -> tuple:
        return (self.host, self.port, self.username.lower(), self.auth)

    def __str__(self) -> str:
        return f"{self.username}@{self.host}:{self.port} ({self.auth})"

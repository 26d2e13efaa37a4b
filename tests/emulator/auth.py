"""HTTP authentication of the emulated WinRM listener: Basic and NTLM (raw or inside Negotiate).

NTLM is connection-based, as on Windows (HTTP.sys): once a TCP connection completed the
NTLM handshake, later requests on it carry no Authorization header and are accepted.
The acceptor is built from pyspnego's NTLM message and crypto primitives, with the host's own
user table (pyspnego's ready-made acceptor only reads a process-wide NTLM_USER_FILE).
It accepts NTLMv2 only (what every current client sends) and checks channel binding tokens
(RFC 5929 tls-server-end-point) when the client sends them, like CbtHardeningLevel=Relaxed.
"""
from __future__ import annotations

import base64
import hmac
import os

from spnego._ntlm_raw.crypto import compute_response_v2, md5, ntowfv1, ntowfv2
from spnego._ntlm_raw.messages import (AvId, Authenticate, Challenge, FileTime, Negotiate, NegotiateFlags,
                                       NTClientChallengeV2, TargetInfo, Version)
from spnego.channel_bindings import GssChannelBindings


class AuthError(Exception):
    pass


class Users:
    """The host's local accounts allowed to use WinRM: name -> password (case-insensitive names)."""

    def __init__(self, host_name: str, users: dict[str, str]):
        self.host_name = host_name
        self._users = {k.lower(): (k, v) for k, v in users.items()}

    def lookup(self, domain: str | None, user: str) -> tuple[str, str] | None:
        """(display name, password) for a local account; domain may be '', '.', or the host name."""
        if not domain and "@" in user:
            user, domain = user.rsplit("@", 1)
        if domain and domain not in (".",) and domain.upper() != self.host_name.upper():
            return None
        return self._users.get(user.lower())

    def split(self, name: str) -> tuple[str, str]:
        if "\\" in name:
            d, u = name.split("\\", 1)
            return d, u
        if "@" in name:
            u, d = name.rsplit("@", 1)
            return d, u
        return "", name

    def check_basic(self, header_value: str) -> str | None:
        try:
            raw = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
        except Exception:
            return None
        name, _, password = raw.partition(":")
        domain, user = self.split(name)
        found = self.lookup(domain, user)
        if found and hmac.compare_digest(found[1].encode(), password.encode()):
            return found[0]
        return None


class NtlmAcceptor:
    """One NTLM handshake (per TCP connection)."""

    def __init__(self, users: Users, cbt_hash: bytes | None):
        self.users = users
        self.cbt_hash = cbt_hash
        self._negotiate = None
        self._challenge = None

    def step(self, token: bytes) -> tuple[bytes | None, str | None]:
        """Negotiate -> (challenge, None); Authenticate -> (None, user). Raises AuthError."""
        if not token.startswith(b"NTLMSSP\0") or len(token) < 12:
            raise AuthError("not an NTLMSSP token")
        kind = int.from_bytes(token[8:12], "little")
        if kind == 1:
            return self._challenge_for(token), None
        if kind == 3 and self._challenge is not None:
            return None, self._authenticate(token)
        raise AuthError(f"unexpected NTLM message type {kind}")

    def _challenge_for(self, token: bytes) -> bytes:
        negotiate = Negotiate.unpack(token)
        flags = (negotiate.flags | NegotiateFlags.request_target | NegotiateFlags.ntlm
                 | NegotiateFlags.always_sign | NegotiateFlags.target_info | NegotiateFlags.target_type_server)
        if flags & NegotiateFlags.unicode:
            flags &= ~NegotiateFlags.oem
        if flags & NegotiateFlags.extended_session_security:
            flags &= ~NegotiateFlags.lm_key
        name = self.users.host_name.upper()
        info = TargetInfo()
        info[AvId.nb_computer_name] = name
        info[AvId.nb_domain_name] = name
        info[AvId.dns_computer_name] = self.users.host_name
        info[AvId.timestamp] = FileTime.now()
        kwargs = {"version": Version.get_current()} if flags & NegotiateFlags.version else {}
        self._negotiate = negotiate
        self._challenge = Challenge(flags, os.urandom(8), target_name=name, target_info=info, **kwargs)
        return self._challenge.pack()

    def _authenticate(self, token: bytes) -> str:
        auth = Authenticate.unpack(token)
        if not auth.user_name or not auth.nt_challenge_response or len(auth.nt_challenge_response) <= 24:
            raise AuthError("anonymous or NTLMv1 authentication is refused")
        found = self.users.lookup(auth.domain_name, auth.user_name)
        if found is None:
            raise AuthError("unknown user")
        nt_hash = ntowfv2(auth.user_name, ntowfv1(found[1]), auth.domain_name)
        client = NTClientChallengeV2.unpack(auth.nt_challenge_response[16:])
        expected_nt, _lm, _key = compute_response_v2(nt_hash, self._challenge.server_challenge,
                                                    client.challenge_from_client, client.time_stamp,
                                                    client.av_pairs)
        if not hmac.compare_digest(expected_nt, auth.nt_challenge_response):
            raise AuthError("bad password")
        sent = client.av_pairs.get(AvId.channel_bindings)
        if self.cbt_hash is not None and sent and sent != b"\0" * 16:
            expected = md5(GssChannelBindings(application_data=b"tls-server-end-point:" + self.cbt_hash).pack())
            if sent != expected:
                raise AuthError("channel binding token mismatch")
        return found[0]

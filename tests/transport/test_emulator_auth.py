"""The emulator's NTLM acceptor against pyspnego's (and so requests-ntlm's) NTLM initiator."""
from __future__ import annotations

import hashlib

import pytest
import spnego
from spnego.channel_bindings import GssChannelBindings

from tests.emulator.auth import AuthError, NtlmAcceptor, Users

CERT_HASH = hashlib.sha256(b"server certificate DER").digest()


def _handshake(username, password, *, bindings_hash=CERT_HASH, users=None):
    users = users or Users("WIN-0", {"winfleetadmin": "Corr3ct-Horse"})
    cbt = GssChannelBindings(application_data=b"tls-server-end-point:" + bindings_hash) if bindings_hash else None
    client = spnego.client(username, password, protocol="ntlm", channel_bindings=cbt, hostname="win-0",
                           service="http", options=spnego.NegotiateOptions.use_ntlm)
    acceptor = NtlmAcceptor(users, CERT_HASH)
    challenge, user = acceptor.step(client.step())
    assert user is None and challenge.startswith(b"NTLMSSP\0")
    out, user = acceptor.step(client.step(challenge))
    assert out is None
    return user


@pytest.mark.parametrize("name", ["winfleetadmin", "WINFLEETADMIN", ".\\winfleetadmin", "WIN-0\\winfleetadmin",
                                  "winfleetadmin@WIN-0"])
def test_accepts_the_local_account_in_every_usual_form(name):
    assert _handshake(name, "Corr3ct-Horse") == "winfleetadmin"


def test_client_without_channel_bindings_is_accepted():
    assert _handshake("winfleetadmin", "Corr3ct-Horse", bindings_hash=None) == "winfleetadmin"


@pytest.mark.parametrize("name,password,bindings", [
    ("winfleetadmin", "wrong", CERT_HASH),                                   # bad password
    ("someoneelse", "Corr3ct-Horse", CERT_HASH),                             # unknown user
    ("OTHERHOST\\winfleetadmin", "Corr3ct-Horse", CERT_HASH),                # another machine's account
    ("winfleetadmin", "Corr3ct-Horse", hashlib.sha256(b"a MITM cert").digest()),  # channel binding mismatch
])
def test_rejections(name, password, bindings):
    with pytest.raises(AuthError):
        _handshake(name, password, bindings_hash=bindings)


def test_basic_credentials():
    import base64
    users = Users("WIN-0", {"winfleetadmin": "Corr3ct-Horse"})
    ok = base64.b64encode(b"WIN-0\\winfleetadmin:Corr3ct-Horse").decode()
    bad = base64.b64encode(b"winfleetadmin:nope").decode()
    assert users.check_basic(ok) == "winfleetadmin"
    assert users.check_basic(bad) is None and users.check_basic("!!!") is None

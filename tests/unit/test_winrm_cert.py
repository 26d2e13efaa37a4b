"""The WinRM certificate plumbing, for real: PFX/Key Vault encoding and a TLS handshake that trusts the
host by its certificate PEM (what `connection.caPem` carries)."""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from components.azure.winrm_cert import (ALLOWED_USES, build_pfx, cert_sha256,
                                         keyvault_pfx_secret_value)
from tests.unit.mocks import _rsa_key, _self_signed


@pytest.fixture(scope="module")
def key_and_cert():
    key = _rsa_key(2048)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    # same inputs WinrmCertificate hands pulumi-tls
    cert_pem = _self_signed({"privateKeyPem": key_pem, "subject": {"commonName": "go-0.example.test"},
                             "dnsNames": ["go-0.example.test", "go-0"], "ipAddresses": ["127.0.0.1"],
                             "allowedUses": ALLOWED_USES, "isCaCertificate": False,
                             "validityPeriodHours": 24})
    return key_pem, cert_pem


def test_keyvault_secret_value_format(key_and_cert):
    key_pem, cert_pem = key_and_cert
    value = keyvault_pfx_secret_value(key_pem, cert_pem, "pfx-pass")
    doc = json.loads(base64.b64decode(value))
    assert doc["dataType"] == "pfx" and doc["password"] == "pfx-pass"
    key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(doc["data"]), b"pfx-pass")
    assert cert.public_bytes(serialization.Encoding.PEM).decode() == cert_pem
    assert key.private_numbers() == serialization.load_pem_private_key(key_pem.encode(), None).private_numbers()


def test_pfx_uses_windows_compatible_encryption(key_and_cert):
    """3DES/SHA1 PBES1 (OID 1.2.840.113549.1.12.1.3) so older Windows Server images can import it."""
    pfx = build_pfx(*key_and_cert, "pw")
    assert bytes.fromhex("2a864886f70d010c0103") in pfx      # pbeWithSHAAnd3-KeyTripleDES-CBC
    assert bytes.fromhex("6086480165030401") not in pfx     # no AES (2.16.840.1.101.3.4.1.x, PBES2)


def test_cert_sha256_is_the_der_fingerprint(key_and_cert):
    _, cert_pem = key_and_cert
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    assert cert_sha256(cert_pem) == hashlib.sha256(der).hexdigest()


def _handshake(tmp_path, key_pem, cert_pem, server_name):
    (tmp_path / "c.pem").write_text(cert_pem)
    (tmp_path / "k.pem").write_text(key_pem)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    ls.settimeout(10)

    def serve():
        try:
            conn, _ = ls.accept()
            with sctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    cctx = ssl.create_default_context(cadata=cert_pem)     # caPem = the host's own certificate
    try:
        with socket.create_connection(("127.0.0.1", ls.getsockname()[1]), timeout=10) as s:
            with cctx.wrap_socket(s, server_hostname=server_name) as tls:
                return tls.getpeercert()["subject"]
    finally:
        t.join(10)
        ls.close()


def test_client_trusts_the_self_signed_host_cert_by_its_pem(tmp_path, key_and_cert):
    key_pem, cert_pem = key_and_cert
    assert _handshake(tmp_path, key_pem, cert_pem, "go-0.example.test")


def test_wrong_name_is_rejected(tmp_path, key_and_cert):
    key_pem, cert_pem = key_and_cert
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, key_pem, cert_pem, "other.example.test")

"""A per-lab test CA and per-host server certificates (cryptography), written as PEM files."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "winfleet emulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class TestCA:
    """A throwaway CA: ``pem`` (certificate), ``path`` (PEM file), ``issue(...)`` server certs."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: str, cn: str = "winfleet emulator test CA"):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder()
                     .subject_name(_name(cn)).issuer_name(_name(cn))
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                  content_commitment=False, key_encipherment=False,
                                                  data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.path = os.path.join(directory, "ca.pem")
        with open(self.path, "w") as fh:
            fh.write(self.pem)

    def issue(self, name: str, dns: list[str], ips: list[str]) -> "ServerCert":
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        san = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(_name(name)).issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName(san), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
                .sign(self.key, hashes.SHA256()))
        return ServerCert(self.directory, name, cert, key)


class ServerCert:
    def __init__(self, directory: str, name: str, cert: x509.Certificate, key):
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        self.cert = cert
        self.pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.sha256 = hashlib.sha256(self.der).hexdigest()
        self.cert_path = os.path.join(directory, f"{safe}.crt.pem")
        self.key_path = os.path.join(directory, f"{safe}.key.pem")
        with open(self.cert_path, "w") as fh:
            fh.write(self.pem)
        with open(self.key_path, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        os.chmod(self.key_path, 0o600)

    def channel_binding_hash(self) -> bytes:
        """RFC 5929 tls-server-end-point: hash of the DER cert with its signature hash (SHA-256 here)."""
        return hashlib.sha256(self.der).digest()

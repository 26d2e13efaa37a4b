"""WinRM/HTTPS certificate for a VM, delivered the way Azure expects (research winrm_transport.md §4.1):

* key + self-signed cert from pulumi-tls, SANs = the names/addresses the pack connects to;
* a PFX built with `cryptography` inside an apply (password from pulumi-random), wrapped as the JSON
  `{"data": base64(pfx), "dataType": "pfx", "password": ...}`, base64-encoded, stored as a Key Vault
  secret in a vault `enabledForDeployment`;
* the secret's **versioned** URL is referenced by both `osProfile.secrets` and the WinRM listener.
Everything derived from the private key or the PFX password is a Pulumi secret.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Optional, Sequence

import pulumi
import pulumi_azure_native.keyvault as keyvault
import pulumi_random as random
import pulumi_tls as tls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

PFX_CONTENT_TYPE = "application/x-pkcs12"
# A plain TLS server certificate (not a CA). The WinRM client trusts it by passing its PEM as `caPem`
# (OpenSSL accepts a self-signed leaf as its own trust anchor; tests/unit/test_winrm_cert.py does a real
# handshake) and can pin it with `certSha256`.
ALLOWED_USES = ["digital_signature", "key_encipherment", "server_auth"]


def build_pfx(private_key_pem: str, cert_pem: str, password: str, friendly_name: str = "winfleet-winrm") -> bytes:
    """PKCS#12 with 3DES/SHA1 (PBES1) so every Windows Server version the image may be can import it."""
    # The key comes from pulumi-tls (trusted input): skip cryptography's slow RSA consistency check.
    key = serialization.load_pem_private_key(private_key_pem.encode(), password=None,
                                             unsafe_skip_rsa_key_validation=True)
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    enc = (serialization.PrivateFormat.PKCS12.encryption_builder()
           .kdf_rounds(2048)          # OpenSSL's and Windows' default PFX iteration count
           .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
           .hmac_hash(hashes.SHA1())
           .build(password.encode()))
    return pkcs12.serialize_key_and_certificates(friendly_name.encode(), key, cert, None, enc)


def keyvault_pfx_secret_value(private_key_pem: str, cert_pem: str, password: str) -> str:
    """The Key Vault secret value Azure's VM agent expects for osProfile.secrets / WinRM listeners."""
    pfx = build_pfx(private_key_pem, cert_pem, password)
    doc = {"data": base64.b64encode(pfx).decode(), "dataType": "pfx", "password": password}
    return base64.b64encode(json.dumps(doc).encode("utf-8")).decode()


def cert_sha256(cert_pem: str) -> str:
    """SHA-256 fingerprint (lowercase hex) of the DER certificate, for pinning (`certSha256`)."""
    der = x509.load_pem_x509_certificate(cert_pem.encode()).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


class WinrmCertificate(pulumi.ComponentResource):
    """Key, self-signed cert, PFX password and the Key Vault secret for one host."""

    def __init__(self, name: str, *, common_name: pulumi.Input[str], dns_names: pulumi.Input[Sequence[str]],
                 ip_addresses: pulumi.Input[Sequence[str]], vault: keyvault.Vault,
                 resource_group_name: pulumi.Input[str], validity_days: int,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("winfleet:azure:WinrmCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.private_key = tls.PrivateKey(f"{name}-key", algorithm="RSA", rsa_bits=3072, opts=child)
        self.cert = tls.SelfSignedCert(
            f"{name}-cert", private_key_pem=self.private_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=common_name, organization="winfleet"),
            dns_names=dns_names, ip_addresses=ip_addresses,
            validity_period_hours=validity_days * 24, early_renewal_hours=30 * 24,
            allowed_uses=ALLOWED_USES, is_ca_certificate=False, set_subject_key_id=True, opts=child)
        self.pfx_password = random.RandomPassword(f"{name}-pfx-pw", length=32, special=False, opts=child)
        value = pulumi.Output.all(self.private_key.private_key_pem, self.cert.cert_pem,
                                  self.pfx_password.result).apply(
            lambda a: keyvault_pfx_secret_value(a[0], a[1], a[2]))
        self.secret = keyvault.Secret(
            f"{name}-secret", resource_group_name=resource_group_name, vault_name=vault.name,
            secret_name=name.replace("_", "-"),
            properties=keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(value),
                                                     content_type=PFX_CONTENT_TYPE),
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["properties"]))
        self.cert_pem: pulumi.Output[str] = self.cert.cert_pem
        self.cert_sha256: pulumi.Output[str] = self.cert.cert_pem.apply(cert_sha256)
        # Versioned URL: osProfile.secrets and the listener must carry the same one.
        self.secret_url: pulumi.Output[str] = self.secret.properties.apply(lambda p: p.secret_uri_with_version)
        self.register_outputs({"certPem": self.cert_pem, "secretUrl": self.secret_url})

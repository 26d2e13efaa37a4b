"""Shared fixtures for the unit tests: the example and lab stack files as raw `winfleet:` mappings."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def stack_raw(name: str) -> dict:
    """The `winfleet:` keys of Pulumi.<name>.yaml, without the prefix (secure values left as-is)."""
    doc = yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text())
    return {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("winfleet:")}


@pytest.fixture
def example_raw() -> dict:
    return copy.deepcopy(stack_raw("example"))


@pytest.fixture
def test_ca(tmp_path):
    """A real self-signed CA certificate (PEM text, file path)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "winfleet test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    path = tmp_path / "ca.pem"
    path.write_text(pem)
    return pem, path


@pytest.fixture
def lab_raw(test_ca) -> dict:
    """The lab stack with passwords substituted and the CA file pointing at a real test CA."""
    raw = copy.deepcopy(stack_raw("lab"))
    for i, h in enumerate(raw["existingHosts"]):
        h["password"] = f"lab-password-{i}"
        h["caPemFile"] = str(test_ca[1])
    return raw

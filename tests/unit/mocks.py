"""Pulumi mock runner shared by the unit tests (and reusable to run the whole program offline).

    from tests.unit.mocks import run_program, resolve
    run = run_program(lambda: AzureHosts("winfleet", cfg))          # any callable building resources
    run.by_type("azure-native:compute:VirtualMachine")               # [Registered(typ, name, inputs, state, ...)]
    run.value                                                        # what the callable returned
    resolve(run.value.hosts[0].connection)                           # (value, is_secret)
    run.exports                                                      # stack outputs (pulumi.export)

To run the whole program: `run_program(lambda: runpy.run_path("__main__.py"), config={...})` with
`config` = the `config:` section of a Pulumi.<stack>.yaml (secure values substituted).

`WinfleetMocks` fabricates realistic provider outputs: Azure ids, public IPs, Key Vault secret URLs,
and *real* keys/certificates for pulumi-tls (so the PFX built from them can be checked), random
passwords for pulumi-random. Secret inputs keep Pulumi's secret marker in `Registered.inputs`
(`is_secret_value(v)` / `unwrap(v)`).
"""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import itertools
import json
import secrets as pysecrets
import string
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.sync_await import _sync_await

SUBSCRIPTION_ID = "00000000-0000-0000-0000-00000000aaaa"
TENANT_ID = "00000000-0000-0000-0000-00000000bbbb"
OBJECT_ID = "00000000-0000-0000-0000-00000000cccc"
CLIENT_ID = "00000000-0000-0000-0000-00000000dddd"

_SECRET_SIG = rpc._special_secret_sig
_SIG = rpc._special_sig_key


def is_secret_value(v: Any) -> bool:
    return isinstance(v, dict) and v.get(_SIG) == _SECRET_SIG


def unwrap(v: Any) -> Any:
    """Remove secret markers recursively (to read values)."""
    if is_secret_value(v):
        return unwrap(v["value"])
    if isinstance(v, dict):
        return {k: unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unwrap(x) for x in v]
    return v


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict            # as the engine received them (secret markers kept)
    state: dict
    id: Optional[str]
    custom: bool

    @property
    def plain(self) -> dict:
        return unwrap(self.inputs)


_KEY_CACHE: dict[int, Any] = {}
_KEY_LOCK = threading.Lock()


def _rsa_key(bits: int):
    from cryptography.hazmat.primitives.asymmetric import rsa
    with _KEY_LOCK:   # one real key per size per test session keeps the runs fast
        if bits not in _KEY_CACHE:
            _KEY_CACHE[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return _KEY_CACHE[bits]


def _self_signed(inputs: dict) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key = serialization.load_pem_private_key(unwrap(inputs["privateKeyPem"]).encode(), password=None)
    subj = unwrap(inputs.get("subject") or {})
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subj.get("commonName", "winfleet"))])
    sans: list = [x509.DNSName(d) for d in unwrap(inputs.get("dnsNames") or [])]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in unwrap(inputs.get("ipAddresses") or [])]
    now = datetime.datetime.now(datetime.timezone.utc)
    uses = set(unwrap(inputs.get("allowedUses") or []))
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(hours=int(inputs.get("validityPeriodHours", 24))))
               .add_extension(x509.BasicConstraints(ca=bool(inputs.get("isCaCertificate")), path_length=None),
                              critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature="digital_signature" in uses, content_commitment=False,
                   key_encipherment="key_encipherment" in uses, data_encipherment=False, key_agreement=False,
                   key_cert_sign="cert_signing" in uses, crl_sign=False, encipher_only=False,
                   decipher_only=False), critical=True))
    if "server_auth" in uses:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class WinfleetMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Registered] = []
        self.calls: list[tuple[str, dict]] = []
        self._ip = itertools.count(10)
        self._lock = threading.Lock()

    # -- invokes ---------------------------------------------------------------------------------
    def call(self, args: pulumi.runtime.MockCallArgs):
        self.calls.append((args.token, dict(args.args)))
        if args.token == "azure-native:authorization:getClientConfig":
            return {"subscriptionId": SUBSCRIPTION_ID, "tenantId": TENANT_ID, "objectId": OBJECT_ID,
                    "clientId": CLIENT_ID}, []
        return {}, []

    # -- resources -------------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        state = dict(inputs)
        typ, name = args.typ, args.name
        rid = f"{name}-id"
        if typ.startswith("azure-native:"):
            _, mod, kind = typ.split(":")
            explicit = next((inputs[k] for k in inputs
                             if k.endswith("Name") and k not in ("resourceGroupName", "virtualNetworkName",
                                                                 "vaultName") and isinstance(inputs[k], str)),
                            None)
            if kind == "Vault":
                explicit = inputs.get("vaultName", explicit)
            if kind == "ResourceGroup":
                explicit = inputs.get("resourceGroupName", explicit)
            res_name = explicit or f"{name}{hashlib.sha1(name.encode()).hexdigest()[:6]}"
            rg = inputs.get("resourceGroupName", res_name if kind == "ResourceGroup" else "rg")
            rid = (f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}" if kind == "ResourceGroup" else
                   f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{rg}/providers/Microsoft.{mod.title()}/"
                   f"{kind[0].lower() + kind[1:]}s/{res_name}")
            state["name"] = res_name
            if kind == "PublicIPAddress":
                with self._lock:
                    state["ipAddress"] = f"20.50.0.{next(self._ip)}"
                dns = unwrap(inputs.get("dnsSettings"))
                if dns and dns.get("domainNameLabel"):
                    state["dnsSettings"] = {**dns, "fqdn": f"{dns['domainNameLabel']}.{inputs.get('location')}"
                                                           ".cloudapp.azure.com"}
            elif kind == "Vault":
                props = dict(unwrap(inputs.get("properties", {})))
                props["vaultUri"] = f"https://{res_name}.vault.azure.net/"
                state["properties"] = props
            elif kind == "Secret":
                raw_props = inputs.get("properties", {})
                props = dict(unwrap(raw_props))
                version = hashlib.sha1((name + json.dumps(unwrap(props), sort_keys=True)).encode()).hexdigest()[:32]
                base = f"https://{unwrap(inputs.get('vaultName'))}.vault.azure.net/secrets/{res_name}"
                props["secretUri"] = base
                props["secretUriWithVersion"] = f"{base}/{version}"
                # the engine keeps an output secret when its input was secret
                state["properties"] = rpc.wrap_rpc_secret(props) if is_secret_value(raw_props) else props
        elif typ == "tls:index/privateKey:PrivateKey":
            from cryptography.hazmat.primitives import serialization
            key = _rsa_key(2048)     # the requested size is in the recorded inputs; a real 2048-bit key is enough here
            state["privateKeyPem"] = key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                                       serialization.NoEncryption()).decode()
            state["publicKeyPem"] = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        elif typ == "tls:index/selfSignedCert:SelfSignedCert":
            state["certPem"] = _self_signed(inputs)
        elif typ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
            n = int(inputs.get("length", 16))
            alphabet = string.ascii_lowercase + string.digits
            if typ.endswith("RandomPassword"):
                alphabet += string.ascii_uppercase
                specials = inputs.get("overrideSpecial") if inputs.get("special", True) else ""
                value = ("Aa1" + (specials[:1] if specials else "") +
                         "".join(pysecrets.choice(alphabet) for _ in range(n)))[:n]
            else:
                value = "".join(pysecrets.choice(alphabet) for _ in range(n))
            state["result"] = value
        with self._lock:
            self.resources.append(Registered(typ, name, inputs, state, rid, args.custom))
        return rid, state


class RecordingMonitor(MockMonitor):
    """MockMonitor that also records each resource's parent URN (the mock URNs only carry one level)."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.parents: dict[str, str] = {}

    def RegisterResource(self, request):
        resp = super().RegisterResource(request)
        self.parents[resp.urn] = request.parent
        return resp


@dataclass
class MockRun:
    mocks: WinfleetMocks
    monitor: Any = None
    value: Any = None
    exports: dict = field(default_factory=dict)

    @property
    def resources(self) -> list[Registered]:
        return self.mocks.resources

    def by_type(self, typ: str) -> list[Registered]:
        return [r for r in self.mocks.resources if r.typ == typ]

    def one(self, typ: str, name: Optional[str] = None) -> Registered:
        found = [r for r in self.by_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def urns(self) -> list[str]:
        """URNs of every registered resource (the type chain shows the parent components)."""
        return list(self.monitor.resources.keys())

    def ancestors(self, urn: str) -> list[str]:
        """Parent URNs of `urn`, nearest first (up to the stack)."""
        out, cur = [], self.monitor.parents.get(urn)
        while cur:
            out.append(cur)
            cur = self.monitor.parents.get(cur)
        return out

    def types(self) -> set[str]:
        return {r.typ for r in self.mocks.resources}


def _config_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def run_program(program: Callable[[], Any], *, config: Optional[dict] = None, project: str = "winfleet",
                stack: str = "test", preview: bool = False,
                mocks: Optional[WinfleetMocks] = None, secret_keys: Optional[list[str]] = None) -> MockRun:
    """Run `program` under fresh mocks until every resource is registered. `config` maps full keys
    ("winfleet:services", "azure-native:location") to values (objects are JSON-encoded as the CLI does)."""
    mocks = mocks or WinfleetMocks()
    pulumi.runtime.set_all_config({k: _config_value(v) for k, v in (config or {}).items()}, list(secret_keys or []))
    settings.ROOT.set(None)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    run = MockRun(mocks, monitor=monitor)

    @pulumi.runtime.test
    def _go():
        run.value = program()
        return None

    _go()
    root = settings.get_root_resource()
    run.exports = dict(getattr(root, "outputs", {}) or {})
    return run


def resolve(value: Any) -> tuple[Any, bool]:
    """(plain value, is_secret) of an Output (or plain value) after `run_program` has finished."""
    out = pulumi.Output.from_input(value)

    async def _get():
        return await out.future(), await out.is_secret()

    return _sync_await(_get())

"""Issue 12 items 4 and 5 on the host side, through the real dynamic-provider host and the emulator.

* the secrets file (WINFLEET_SECRETS_FILE): written with exactly SYSTEM + Administrators + the service
  account on a protected DACL, converged without rewriting, rewritten on change or ACL tampering,
  removed exactly on delete; nobody else can read it;
* planted secret values (secrets, secret environment values, URL credentials) appear in no output other
  than the secret inputs they came from, in no error and in nothing the provider host printed.
"""
from __future__ import annotations

import hashlib
import json

import pytest

from components.host.windows_service import WindowsServiceProvider, service_sid
from tests.emulator.ops.svc_support import clear_step_faults
from tests.emulator.windows.files import FsError
from tests.providers.conftest import connection, host_snapshot
from tests.providers.harness import ProviderError

DB_PW = "Planted-DbPassword-93c1"
TOKEN = "Planted-ApiToken-5e77"
ENV_SECRET = "Planted-EnvValue-0b2d"
URL_USER, URL_PW, SAS = "deploy", "Planted-UrlPass-41aa", "Planted-SasSig-7d19"
PLANTED = (DB_PW, TOKEN, ENV_SECRET, URL_PW, SAS)
BIN = b"MZ\x90\x00 secrets test service"
CLEAN_URL = "https://artifacts.example.test/api/1.0.0/api.exe"
SECRET_URL = f"https://{URL_USER}:{URL_PW}@artifacts.example.test/api/1.0.0/api.exe?sv=2022-11-02&sig={SAS}"
SECRETS_FILE = r"C:\Program Files\winfleet\api\secrets.json"
SVC_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\api"


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def host(lab):
    h = lab.hosts[0]
    h.model.files.add_drive("D")
    h.model.files.downloads[CLEAN_URL] = BIN
    h.model.files.downloads[SECRET_URL] = BIN
    h.model.http.serve(8080, service="api", mode="ready")
    yield h
    clear_step_faults(h.model)


@pytest.fixture
def res(provider_host):
    return provider_host.resource(WindowsServiceProvider())


def inputs_for(h, **kw) -> dict:
    inputs = {"connection": connection(h), "serviceName": "api", "binaryUrl": CLEAN_URL, "binarySha256": sha(BIN),
              "environment": {"GOTRACEBACK": "wer", "DB_HOST": "db.internal", "DB_KEY": ENV_SECRET,
                              "WINFLEET_SECRETS_FILE": SECRETS_FILE},
              "secrets": {"DB_PASSWORD": DB_PW, "API_TOKEN": TOKEN},
              "logs": {"directory": r"D:\logs\api"}, "port": 8080, "readinessPath": "/readyz",
              "readinessTimeoutSeconds": 2, "readinessPollSeconds": 0.05}
    inputs.update(kw)
    return inputs


def leaks(value, allowed_keys=("secrets", "environment", "binaryUrl", "connection")) -> list[str]:
    """Planted values found outside the secret inputs (which the engine keeps as secret outputs)."""
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if k not in allowed_keys}
    text = json.dumps(value)
    return [p for p in PLANTED if p in text]


def read_as(m, account, **kw):
    return m.files.read_as(SECRETS_FILE, account, **kw)


def test_secrets_file_lifecycle(host, res, provider_host):
    m = host.model
    before = host_snapshot(m)
    inputs = res.checked(inputs_for(host))
    assert inputs["secretsFile"] == SECRETS_FILE
    rid, outs = res.create(inputs)
    # on the host: the exact JSON, a protected DACL of exactly three entries, nothing inherited
    assert json.loads(m.files.read(SECRETS_FILE)) == {"API_TOKEN": TOKEN, "DB_PASSWORD": DB_PW}
    assert m.files.is_protected(SECRETS_FILE)
    acl = m.files.acl(SECRETS_FILE)
    assert sorted((a["identity"], a["rights"], a["inherited"]) for a in acl) == [
        ("BUILTIN\\Administrators", "FullControl", False), ("NT AUTHORITY\\SYSTEM", "FullControl", False),
        ("NT SERVICE\\api", "Read", False)]
    assert next(a for a in acl if a["identity"] == "NT SERVICE\\api")["sid"] == service_sid("api")
    # who may read it: the account (by name or SID), Administrators, SYSTEM; not Users, not another service
    assert read_as(m, "NT SERVICE\\api", sid=service_sid("api"))
    assert read_as(m, "web-0\\winfleetadmin", groups=("BUILTIN\\Administrators",))
    for other, groups in (("web-0\\alice", ("BUILTIN\\Users", "Everyone")), ("NT SERVICE\\other", ("BUILTIN\\Users",)),
                          ("NT AUTHORITY\\NetworkService", ("Everyone",))):
        with pytest.raises(FsError) as ei:
            read_as(m, other, groups=groups)
        assert ei.value.code == 5
    # the registry Environment (readable by local users) holds the path, not the file's secrets
    env = m.registry.get_value(SVC_KEY, "Environment")[1]
    assert f"WINFLEET_SECRETS_FILE={SECRETS_FILE}" in env and not any(DB_PW in e or TOKEN in e for e in env)
    # outputs: the secrets only in the secret inputs; the step says which names, never the values
    assert leaks(outs) == []
    step = next(c for c in outs["changes"] if c["do"] == "writeSecrets")
    assert step["names"] == ["API_TOKEN", "DB_PASSWORD"] and "content" not in step
    assert "DB_KEY=[redacted]" in outs["state"]["service"]["environment"]
    assert "hmac" not in outs["state"]["secretsFile"]
    assert [v["exists"] for v in outs["prior"].values() if isinstance(v, dict) and v.get("path") == SECRETS_FILE] \
        == [False]                                     # journaled: delete removes what winfleet wrote

    # converged: no rewrite, no apply
    again = res.update(rid, outs, inputs)
    assert again["changed"] is False

    # a changed secret rewrites the file and restarts the service (it reads the file at start)
    pid = m.scm.query("api")["pid"]
    new = res.checked(inputs_for(host, secrets={"DB_PASSWORD": DB_PW + "-2", "API_TOKEN": TOKEN}))
    outs = res.update(rid, outs, new)
    assert {"writeSecrets", "restart"} <= {c["do"] for c in outs["changes"]}
    assert json.loads(m.files.read(SECRETS_FILE))["DB_PASSWORD"] == DB_PW + "-2"
    assert m.scm.query("api")["pid"] != pid
    assert leaks(outs) == []

    # tampering: a reader added out of band shows as drift in refresh and the file is rewritten with
    # the exact DACL
    _, live = res.read(rid, outs)
    assert "secrets" not in live["drift"]
    m.files.grant(SECRETS_FILE, "BUILTIN\\Users", "Read")
    _, live = res.read(rid, outs)
    assert "secrets" in live["drift"] and leaks(live) == []
    outs = res.update(rid, live, new)
    assert "writeSecrets" in {c["do"] for c in outs["changes"]}
    with pytest.raises(FsError):
        read_as(m, "web-0\\alice", groups=("BUILTIN\\Users",))

    # an apply that died while writing left <file>.tmp under a wider DACL: never reused, removed on delete
    m.files.write(SECRETS_FILE + ".tmp", b"stale")
    m.files.grant(SECRETS_FILE + ".tmp", "BUILTIN\\Users", "Read")
    outs = res.update(rid, outs, res.checked(inputs_for(host, secrets={"DB_PASSWORD": "3", "API_TOKEN": TOKEN})))
    assert not m.files.exists(SECRETS_FILE + ".tmp")
    with pytest.raises(FsError):
        read_as(m, "web-0\\alice", groups=("BUILTIN\\Users",))
    m.files.write(SECRETS_FILE + ".tmp", b"stale")
    res.delete(rid, outs)
    assert not m.files.exists(SECRETS_FILE) and not m.files.exists(SECRETS_FILE + ".tmp")
    assert host_snapshot(m) == before
    assert [p for p in PLANTED if p in provider_host.stderr] == []


def test_dropping_the_secrets_removes_the_file(host, res):
    m = host.model
    rid, outs = res.create(res.checked(inputs_for(host)))
    assert m.files.is_file(SECRETS_FILE)
    plain = inputs_for(host)
    del plain["secrets"]
    plain["environment"] = {"GOTRACEBACK": "wer"}
    outs = res.update(rid, outs, res.checked(plain))
    assert not m.files.exists(SECRETS_FILE)
    res.delete(rid, outs)


def test_a_foreign_secrets_file_is_refused_not_adopted(host, res):
    m = host.model
    m.files.mkdir(r"C:\Program Files\winfleet\api")
    m.files.write(SECRETS_FILE, b'{"theirs": 1}')
    with pytest.raises(ProviderError) as ei:
        res.create(res.checked(inputs_for(host)))
    assert "secretsFile" in ei.value.details and m.files.read(SECRETS_FILE) == b'{"theirs": 1}'


def test_url_credentials_are_redacted_in_changes_and_errors(host, res, provider_host):
    m = host.model
    rid, outs = res.create(res.checked(inputs_for(host, binaryUrl=SECRET_URL)))
    download = next(c for c in outs["changes"] if c["do"] == "download")
    assert download["url"] == "https://[redacted]@artifacts.example.test/api/1.0.0/api.exe?[redacted]"
    assert leaks(outs) == []
    assert m.files.download_log[-1] == SECRET_URL          # the host got the full URL
    res.delete(rid, outs)
    # CHECKSUM_MISMATCH and DOWNLOAD_FAILED name no credential
    m.files.downloads[SECRET_URL] = b"tampered"
    with pytest.raises(ProviderError) as ei:
        res.create(res.checked(inputs_for(host, binaryUrl=SECRET_URL)))
    assert "CHECKSUM_MISMATCH" in ei.value.details and leaks(ei.value.details) == []
    m.files.downloads[SECRET_URL] = 403
    with pytest.raises(ProviderError) as ei:
        res.create(res.checked(inputs_for(host, binaryUrl=SECRET_URL)))
    assert "DOWNLOAD_FAILED" in ei.value.details and leaks(ei.value.details) == []
    assert [p for p in PLANTED if p in provider_host.stderr] == []


def test_error_text_from_the_host_is_redacted_before_it_leaves_the_provider():
    """Whatever a host's error says (a .NET WebException may name the URL), the provider's error and its
    log lines show URLs without credentials (base.redact_text in _fail)."""
    from components.host.base import HostResourceError, redact_url
    from components.winrm.errors import OpFailed
    exc = OpFailed("web-0", "service.apply", f"GET {SECRET_URL}: HTTP 403", code="DOWNLOAD_FAILED")
    err = WindowsServiceProvider()._fail("create", None, exc)
    assert isinstance(err, HostResourceError) and leaks(str(err)) == []
    assert redact_url(SECRET_URL) in str(err)

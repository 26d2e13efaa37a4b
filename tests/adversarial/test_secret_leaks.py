"""Leak checks: planted secret values are grepped for in every output, state, log and error a run
produces; each (secret, channel) pair is recorded (outcome ``leak`` when found, else ``refused``: the
channel did not let it through). Zero hits are required.

Secrets planted: the WinRM password (connection), a user account password, services[].secrets values,
a `secure:` environment value, URL credentials (userinfo + SAS signature).
Channels: the program's registered inputs and exports under Pulumi mocks (everything but the secret
inputs themselves), config errors, provider outputs of create/update/read (except the secret outputs:
connection, accountPassword, secrets, environment, binaryUrl), the `state`/`changes`/`prior` outputs,
check failures, provider errors (CHECKSUM_MISMATCH, DOWNLOAD_FAILED, NOT_READY, a connection that no
longer validates), the provider host's stderr (its logs), the registry Environment of the service
(readable by local users), and the journal on the host.
"""
from __future__ import annotations

import hashlib
import json

import pytest
import yaml

from components.config import ConfigError, load_config_file
from components.host.windows_service import WindowsServiceProvider
from tests.adversarial.report import record
from tests.emulator import Lab
from tests.providers.harness import ProviderError

WINRM_PW = "Leak-WinrmPw-a1f0"
ACCOUNT_PW = "Leak-AccountPw-b2e1"
SECRET_VAL = "Leak-SecretValue-c3d2"
ENV_VAL = "Leak-EnvValue-d4c3"
URL_PW, SAS = "Leak-UrlPw-e5b4", "Leak-Sas-f6a5"
PLANTED = {"winrm password": WINRM_PW, "account password": ACCOUNT_PW, "secrets value": SECRET_VAL,
           "secure env value": ENV_VAL, "url password": URL_PW, "sas signature": SAS}
SECRET_OUTPUTS = ("connection", "accountPassword", "secrets", "environment", "binaryUrl")
BIN = b"MZ\x90\x00 leak test"
URL = f"https://deploy:{URL_PW}@artifacts.example.test/api/api.exe?sv=1&sig={SAS}"
SHA = hashlib.sha256(BIN).hexdigest()


def grep(channel: str, value) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    found = []
    for name, secret in PLANTED.items():
        outcome = "leak" if secret in text else "refused"
        record(f"leak-check:{channel}", name, outcome)
        if outcome == "leak":
            found.append(name)
    return found


def public(outs: dict) -> dict:
    return {k: v for k, v in outs.items() if k not in SECRET_OUTPUTS}


@pytest.fixture(scope="module")
def lab():
    with Lab(hosts=1, password=WINRM_PW) as lab:
        yield lab


def test_config_errors_and_program_outputs(tmp_path, monkeypatch):
    from tests.unit import mocks
    from components.go_service import GoService, GoServiceArgs
    from components.config import load_config
    import pulumi
    from components.targets import HostTarget
    svc = {"name": "api", "port": 8080, "binary": {"url": {"secure": "v1:x"}, "sha256": SHA},
           "account": "CORP\\svc", "accountPassword": {"secure": "v1:y"},
           "environment": {"DB": {"secure": "v1:z"}, "OK": "1"}, "secrets": {"S": {"secure": "v1:w"}}}
    hosts = [{"name": "web-0", "host": "10.0.0.4", "username": "u", "password": {"secure": "v1:v"}, "certSha256": "ab" * 32}]
    doc = {"config": {"winfleet:mode": "existingHosts", "winfleet:services": [svc], "winfleet:existingHosts": hosts}}
    (tmp_path / "Pulumi.test.yaml").write_text(yaml.safe_dump(doc))
    secrets = {"winfleet:services[0].binary.url": URL, "winfleet:services[0].accountPassword": ACCOUNT_PW,
               "winfleet:services[0].environment.DB": ENV_VAL, "winfleet:services[0].secrets.S": SECRET_VAL,
               "winfleet:existingHosts[0].password": WINRM_PW}
    # config errors with every secret in place and something else wrong
    bad = yaml.safe_load((tmp_path / "Pulumi.test.yaml").read_text())
    bad["config"]["winfleet:services"][0]["port"] = 22
    bad["config"]["winfleet:services"][0]["environment"]["bad key"] = "x"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError) as ei:
        load_config_file(tmp_path / "bad.yaml", secrets=secrets)
    assert grep("config error", str(ei.value)) == []
    # the program under mocks, config read by load_config with the keys marked secret
    monkeypatch.chdir(tmp_path)
    plain = {"winfleet:mode": "existingHosts",
             "winfleet:services": [dict(svc, binary={"url": URL, "sha256": SHA}, accountPassword=ACCOUNT_PW,
                                        environment={"DB": ENV_VAL, "OK": "1"}, secrets={"S": SECRET_VAL})],
             "winfleet:existingHosts": [dict(hosts[0], password=WINRM_PW)]}

    def program():
        cfg = load_config()
        h = cfg.existing_hosts[0]
        target = HostTarget(name="web-0", connection=pulumi.Output.secret({
            "host": h.host, "port": h.port, "username": h.username, "password": h.password.get_secret_value(),
            "auth": "ntlm", "caPem": None, "certSha256": h.cert_sha256, "tlsServerName": None, "hostName": "web-0"}),
            data_disk={}, depends_on=[])
        g = GoService("api", GoServiceArgs.from_config(cfg, cfg.services[0], [target]))
        pulumi.export("hosts", g.host_outputs)
        return g
    run = mocks.run_program(program, config=plain, secret_keys=["winfleet:services", "winfleet:existingHosts"])
    registered = []
    for r in run.resources:
        registered.append({k: v for k, v in r.inputs.items() if not mocks.is_secret_value(v)
                           and not (isinstance(v, dict) and any(mocks.is_secret_value(x) for x in v.values()))})
    assert grep("program inputs (non-secret)", registered) == []
    assert grep("stack outputs", str(run.exports)) == []


def test_provider_channels(provider_host, lab):
    h = lab.hosts[0]
    m = h.model
    m.files.add_drive("D")
    m.files.downloads[URL] = BIN
    m.http.serve(8080, service="api", mode="ready")
    m.accounts.add("CORP\\svc")
    res = provider_host.resource(WindowsServiceProvider())
    conn = dict(h.endpoint)
    assert conn["password"] == WINRM_PW
    inputs = {"connection": conn, "serviceName": "api", "binaryUrl": URL, "binarySha256": SHA,
              "account": "CORP\\svc", "accountPassword": ACCOUNT_PW,
              "environment": {"DB": ENV_VAL, "GOTRACEBACK": "wer"}, "secrets": {"S": SECRET_VAL},
              "logs": {"directory": "D:\\logs\\api"}, "port": 8080, "readinessPath": "/readyz",
              "readinessTimeoutSeconds": 1, "readinessPollSeconds": 0.05}
    checked = res.checked(inputs)
    rid, outs = res.create(checked)
    assert grep("create outputs", public(outs)) == []
    outs2 = res.update(rid, outs, res.checked(dict(inputs, description="v2")))
    assert grep("update outputs", public(outs2)) == []
    _, live = res.read(rid, outs2)
    assert grep("read outputs", public(live)) == []
    env = m.registry.get_value(r"HKLM\SYSTEM\CurrentControlSet\Services\api", "Environment")[1]
    leaked = [n for n, s in PLANTED.items() if n != "secure env value" and any(s in e for e in env)]
    for name in PLANTED:
        if name != "secure env value":       # an environment value lives in the Environment by definition
            record("leak-check:registry Environment", name, "leak" if name in leaked else "refused")
    assert leaked == []
    assert grep("host journal", m.journal_entries()) == []
    # check failures with every secret present and another input wrong
    _, failures = res.check(dict(inputs, port=22, serviceName="bad name"))
    assert failures and grep("check failures", failures) == []
    errors = []
    m.files.downloads[URL] = b"tampered"          # CHECKSUM_MISMATCH on update
    with pytest.raises(ProviderError) as ei:
        res.update(rid, outs2, res.checked(dict(inputs, binarySha256="cd" * 32)))
    errors.append(ei.value.details)
    m.files.downloads[URL] = 404                  # DOWNLOAD_FAILED
    with pytest.raises(ProviderError) as ei:
        res.update(rid, outs2, res.checked(dict(inputs, binarySha256="ef" * 32)))
    errors.append(ei.value.details)
    m.files.downloads[URL] = BIN
    m.http.serve(8080, service="api", mode="never")  # NOT_READY after a restart (a changed secret)
    with pytest.raises(ProviderError) as ei:
        res.update(rid, outs2, res.checked(dict(inputs, secrets={"S": SECRET_VAL + "2"})))
    errors.append(ei.value.details)
    m.http.serve(8080, service="api", mode="ready")
    broken = dict(outs2, connection={k: v for k, v in conn.items() if k not in ("caPem", "certSha256")})
    for call in (res.read, res.delete):          # a connection that no longer validates
        with pytest.raises(ProviderError) as ei:
            call(rid, broken)
        errors.append(ei.value.details)
    assert grep("provider errors", "\n".join(errors)) == []
    _, live = res.read(rid, outs2)
    res.delete(rid, live)
    assert grep("provider host stderr (logs)", provider_host.stderr) == []

"""Issue 12 item 4 on the program side: `secure:` values nested under winfleet:services stay secret.

pulumi.Config marks secrets per top-level key (``winfleet:services`` as a whole) and ``Config.get``
returns the decrypted value without the flag: that is where a nested secret used to lose it. Here
the program runs under Pulumi mocks with the key marked secret and the stack file in the project
directory; the WindowsService must receive those values as secrets and declare the outputs that
carry them secret."""
from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from components.config import ConfigError, load_config, load_config_file
from components.go_service import GoService, GoServiceArgs
from components.targets import HostTarget
from tests.unit import mocks

SHA = "ab" * 32
DB = "Planted-Db-Url-77aa"
URL = "https://artifacts.example.test/api/api.exe?sig=Planted-Sas-11bb"
TOKEN = "Planted-Token-22cc"
WS = "pulumi-python:dynamic/winfleet:WindowsService"


def services(secure_marker):
    return [{"name": "api", "port": 8080,
             "binary": {"url": secure_marker(URL), "sha256": SHA},
             "environment": {"DB_URL": secure_marker(DB), "LOG_LEVEL": "info"},
             "secrets": {"API_TOKEN": secure_marker(TOKEN)}}]


HOSTS = [{"name": "web-0", "host": "10.0.0.4", "username": "u", "password": "pw", "certSha256": SHA}]


def target():
    return HostTarget(name="web-0", connection=pulumi.Output.secret({
        "host": "10.0.0.4", "port": 5986, "username": "u", "password": "pw", "auth": "ntlm", "caPem": None,
        "certSha256": SHA, "tlsServerName": None, "hostName": "web-0"}), data_disk={}, depends_on=[])


def register_requests(monkeypatch) -> list:
    seen = []
    original = mocks.RecordingMonitor.RegisterResource

    def record(self, request):
        seen.append(request)
        return original(self, request)
    monkeypatch.setattr(mocks.RecordingMonitor, "RegisterResource", record)
    return seen


def run_stack(monkeypatch, tmp_path, *, stack_file: bool):
    doc = {"config": {"winfleet:mode": "existingHosts",
                      "winfleet:services": services(lambda v: {"secure": "v1:AAAA"}),
                      "winfleet:existingHosts": HOSTS}}
    if stack_file:
        (tmp_path / "Pulumi.test.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(tmp_path)
    seen = register_requests(monkeypatch)
    config = {"winfleet:mode": "existingHosts", "winfleet:services": services(lambda v: v),
              "winfleet:existingHosts": HOSTS}

    def program():
        cfg = load_config()
        return cfg, GoService("api", GoServiceArgs.from_config(cfg, cfg.services[0], [target()]))
    run = mocks.run_program(program, config=config, secret_keys=["winfleet:services", "winfleet:existingHosts"])
    return run, seen


@pytest.mark.parametrize("stack_file", [True, False], ids=["stack-file", "no-stack-file"])
def test_nested_secure_values_stay_secret(monkeypatch, tmp_path, stack_file):
    run, seen = run_stack(monkeypatch, tmp_path, stack_file=stack_file)
    ws = run.one(WS)
    env = ws.inputs["environment"]
    assert mocks.is_secret_value(env) or mocks.is_secret_value(env["DB_URL"])
    assert mocks.is_secret_value(ws.inputs["binaryUrl"]) and mocks.is_secret_value(ws.inputs["secrets"])
    svc = run.value[0].services[0]
    assert svc.is_secure("environment", "DB_URL") and svc.is_secure("binary", "url")
    # with the stack file exactly the secure values (without it: every secret-capable value)
    assert svc.is_secure("environment", "LOG_LEVEL") is (not stack_file)
    request = next(r for r in seen if r.type == WS)
    assert {"environment", "binaryUrl", "secrets", "accountPassword", "connection"} <= set(request.additionalSecretOutputs)
    # the service reads the secrets from its file; its registry environment names the file only
    plain = ws.plain
    assert plain["environment"]["WINFLEET_SECRETS_FILE"] == plain["secretsFile"]
    assert TOKEN not in json.dumps(plain["environment"])
    # nothing else the program registered or exported carries a planted value
    others = [r for r in run.resources if r is not ws]
    text = json.dumps([mocks.unwrap(r.inputs) for r in others] + [str(run.exports)], default=str)
    assert not [p for p in (DB, URL, TOKEN) if p in text]


def test_secure_value_where_it_would_be_shown_is_refused(tmp_path):
    doc = {"config": {"winfleet:mode": "existingHosts", "winfleet:existingHosts": HOSTS,
                      "winfleet:services": [{"name": "api", "port": 8080, "binary": {"url": URL, "sha256": SHA},
                                             "description": {"secure": "v1:AAAA"},
                                             "arguments": ["-token", {"secure": "v1:BBBB"}]}]}}
    f = tmp_path / "Pulumi.s.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as ei:
        load_config_file(f, secret_placeholder="Planted-Placeholder")
    paths = {p.path for p in ei.value.problems}
    assert paths == {"winfleet:services[0].description", "winfleet:services[0].arguments[1]"}
    assert "Planted-Placeholder" not in str(ei.value) and "services[].secrets" in str(ei.value)


def test_load_config_file_keeps_the_secure_paths(tmp_path):
    doc = {"config": {"winfleet:mode": "existingHosts", "winfleet:existingHosts": HOSTS,
                      "winfleet:services": services(lambda v: {"secure": "v1:AAAA"})}}
    f = tmp_path / "Pulumi.s.yaml"
    f.write_text(yaml.safe_dump(doc))
    cfg = load_config_file(f, secret_placeholder="https://placeholder.test/Planted-P.exe")
    svc = cfg.services[0]
    assert svc.is_secure("environment", "DB_URL") and svc.is_secure("binary", "url")
    assert not svc.is_secure("environment", "LOG_LEVEL")
    assert "Planted-P" not in repr(svc.secrets)


def test_config_errors_never_show_a_secure_value(tmp_path):
    doc = {"config": {"winfleet:mode": "existingHosts", "winfleet:existingHosts": HOSTS,
                      "winfleet:services": services(lambda v: {"secure": "v1:AAAA"})}}
    f = tmp_path / "Pulumi.s.yaml"
    f.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as ei:
        load_config_file(f, secret_placeholder="Planted-not-a-url")       # not a URL: binary.url is refused
    assert "winfleet:services[0].binary.url" in {p.path for p in ei.value.problems}
    assert "Planted-not-a-url" not in str(ei.value)

"""One rule per input, applied with fullmatch, in one place (components/windows_facts.py).

* no `.match(` anywhere in the project's Python (``$`` under ``re.match`` accepts a trailing newline);
* the stack config and the WindowsService check agree, value by value, on a table of inputs;
* event sources are checked at config time; lone surrogates / C1 controls / NUL are refused in every
  string, naming the key; gMSA accounts are accepted by both layers.
"""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from components.config import ConfigError, parse_config
from components.host.windows_service import WindowsServiceProvider

ROOT = Path(__file__).resolve().parents[2]
SHA = "ab" * 32
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_no_end_anchored_regex_in_project_code():
    """A pattern ending in ``$`` also matches before a trailing newline (under ``re.match`` and
    ``re.search``): rules use ``fullmatch`` (or ``\\Z``). Prefix matches without ``$`` are fine."""
    offenders = []
    pattern = re.compile(r"""\brf?(["'])(?:(?!\1).)*(?<!\\)\$\1|re\.compile\((["'])(?:(?!\2).)*(?<!\\)\$\2""")
    for top in ("components", "policies", "tools", "__main__.py"):
        for f in ([ROOT / top] if top.endswith(".py") else (ROOT / top).rglob("*.py")):
            for n, line in enumerate(f.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "use fullmatch ($ accepts a trailing newline):\n" + "\n".join(offenders)


def test_the_lint_finds_what_it_looks_for(tmp_path):
    bad = 'NAME_RE = re.compile(r"^[a-z]+$")\nok = re.match(r"^(winfleet:)(\\w+)", p)\n'
    pattern = re.compile(r"""\brf?(["'])(?:(?!\1).)*(?<!\\)\$\1|re\.compile\((["'])(?:(?!\2).)*(?<!\\)\$\2""")
    assert [bool(pattern.search(line)) for line in bad.splitlines()] == [True, False]


def raw_with(**svc_fields) -> dict:
    svc = {"name": "api", "binary": {"url": "https://artifacts.example.test/api/api.exe", "sha256": SHA},
           "port": 8080}
    svc.update(svc_fields)
    return {"mode": "existingHosts", "services": [svc],
            "existingHosts": [{"name": "web-0", "host": "10.0.0.4", "username": "winfleet", "password": "pw",
                               "certSha256": SHA}]}


def config_refuses(raw) -> list[str]:
    try:
        parse_config(copy.deepcopy(raw))
    except ConfigError as e:
        return [p.path for p in e.problems]
    return []


def provider_inputs(**kw) -> dict:
    inputs = {"connection": {"host": "10.0.0.4", "port": 5986, "username": "u", "password": "p", "certSha256": SHA},
              "serviceName": "api", "binaryUrl": "https://artifacts.example.test/api/api.exe", "binarySha256": SHA,
              "port": 8080}
    inputs.update(kw)
    return inputs


def provider_refuses(inputs) -> list[str]:
    return [f.property for f in WindowsServiceProvider().check({}, inputs).failures]


# (config field, provider input, value)
CASES = [
    ("name", "serviceName", "api\n"),
    ("binary.exeName", "exeName", "api.exe\n"),
    ("binary.exeName", "exeName", "nul.exe"),
    ("binary.url", "binaryUrl", "http://artifacts.example.test/api.exe"),
    ("binary.url", "binaryUrl", "https://artifacts.example.test/api.exe\n"),
    ("binary.url", "binaryUrl", "https://artifacts.example.test\\api.exe"),
    ("binary.sha256", "binarySha256", SHA + "\n"),
    ("displayName", "displayName", "API\nservice"),
    ("description", "description", "line one\nline two"),
    ("arguments", "arguments", ["-x\n"]),
    ("readinessPath", "readinessPath", "/readyz\n"),
    ("healthPath", "healthPath", "/health z"),
    ("eventSource.source", "eventSource.source", "..\\..\\Security"),
    ("eventSource.source", "eventSource.source", "api*"),
    ("eventSource.source", "eventSource.source", "api/x"),
    ("eventSource.source", "eventSource.source", "api\n"),
    ("eventSource.source", "eventSource.source", "a" * 129),
    ("eventSource.logName", "eventSource.logName", "Application\n"),
    ("environment", "environment", {"A\n": "x"}),
    ("account", "account", "CORP\\svc\n"),
    ("account", "account", "NT SERVICE\\other"),
    ("description", "description", "x\u0085y"),
    ("name", "serviceName", "api\u202eexe"),
    ("displayName", "displayName", "a\ud800b"),
]


def _set(d: dict, dotted: str, value):
    parts = dotted.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
    d[parts[-1]] = value


@pytest.mark.parametrize("cfg_field,input_name,value", CASES, ids=[f"{c[0]}={c[2]!r}"[:60] for c in CASES])
def test_config_and_provider_refuse_the_same(cfg_field, input_name, value):
    svc: dict = {}
    _set(svc, cfg_field, value)
    raw = raw_with(**svc)
    paths = config_refuses(raw)
    assert any(p.startswith(f"winfleet:services[0].{cfg_field.split('.')[0]}") for p in paths), paths
    inputs = provider_inputs()
    _set(inputs, input_name, value)
    props = provider_refuses(inputs)
    assert any(p.split(".")[0].split("[")[0] == input_name.split(".")[0] for p in props), props


@pytest.mark.parametrize("account", ["CORP\\gmsa-api$", "CONTOSO.LOCAL\\web01$"])
def test_gmsa_is_accepted_by_both_layers(account):
    assert config_refuses(raw_with(account=account)) == []
    assert provider_refuses(provider_inputs(account=account)) == []


def test_gmsa_with_password_is_refused_by_both():
    assert "winfleet:services[0].accountPassword" in config_refuses(raw_with(account="CORP\\g$", accountPassword="x"))
    assert "accountPassword" in provider_refuses(provider_inputs(account="CORP\\g$", accountPassword="x"))


def test_surrogate_anywhere_names_the_key():
    raw = raw_with(environment={"OK": "a\udc00"})
    raw["existingHosts"][0]["tlsServerName"] = "x\u0090"
    with pytest.raises(ConfigError) as ei:
        parse_config(raw)
    paths = {p.path for p in ei.value.problems}
    assert paths == {"winfleet:services[0].environment.OK", "winfleet:existingHosts[0].tlsServerName"}
    assert "\udc00" not in str(ei.value) and "a\\udc00" not in str(ei.value)   # env values are not shown
    str(ei.value).encode("utf-8")   # the message itself is printable


def test_firewall_rule_names_refuse_a_trailing_newline():
    from components.host.service_port import RULE_NAME_RE
    assert RULE_NAME_RE.fullmatch("winfleet-api") and not RULE_NAME_RE.fullmatch("winfleet-api\n")

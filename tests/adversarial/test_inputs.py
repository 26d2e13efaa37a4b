"""Hostile inputs, table-driven: each is refused naming its key by BOTH layers (the stack config read by
`load_config` and the host resource's `check` in the real dynamic-provider host), or accepted by both
and then stored on the emulated host exactly as given, and never interpreted by Windows.

How a case is judged (outcomes recorded in tests/adversarial/report.py):
* refused      config names the key (winfleet:services[0].<field>...) AND the provider's check names the
               input (or the value cannot even be sent to a provider: not UTF-8 encodable);
* literal      both accept it; after `create`/`update` through the real provider host against the
               emulator, the host holds the exact value (registry value, command line, file content,
               folder, registry key, download URL, probe path) - and where Windows would interpret it
               (a `%VAR%` inside a REG_EXPAND_SZ the SCM / WER expand; a leading `@` in DisplayName or
               Description, which the SCM loads as an indirect `@dll,-id` string) it is `interpreted`;
* a layer disagreement (one refuses, the other accepts) fails the test.
Accepted values are batched: maps and lists carry many values per provider call, scalars one per update.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
import pytest

from components.config import ConfigError, load_config
from components.host.windows_service import WindowsServiceProvider, split_command_line
from tests.adversarial.report import record
from tests.emulator import Lab
from tests.providers.harness import ProviderError

SHA = "ab" * 32
BIN = b"MZ\x90\x00 adversarial"
BASE_URL = "https://artifacts.example.test/api/api.exe"
SVC_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\{}"
SRC_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\{}"

# ---------------------------------------------------------------------------------------------
# The hostile strings (every user-facing string field gets these, some with a field prefix)
INJECTION = [
    'x"; Remove-Item C:\\ -Recurse -Force; "', "$(Stop-Computer -Force)", "`whoami`", "a & calc.exe",
    "a | whoami", "a; shutdown /s /t 0", "a && del /q C:\\*", "%SystemRoot%\\evil", "%PATH%", "!PATH!",
    "$env:USERPROFILE", "${env:TEMP}", "@(1,2)", "'single' \"double\"", "a`nb", "-Command Get-Process",
    "--% /c calc", "^& calc", "a\\\"b", "\\\\evil\\share\\x", "@%SystemRoot%\\system32\\shell32.dll,-1",
]
TRAVERSAL = ["..\\..\\Windows\\System32", "../../etc/passwd", "\\\\?\\C:\\Windows", "\\\\.\\PhysicalDrive0",
             "\\\\?\\UNC\\evil\\share", "a\\..\\..\\b", "C:\\Windows", "a/b", "*", "a?b", "[a]"]
RESERVED = ["CON", "NUL.txt", "com1", "LPT1.exe", "aux", "PRN.json"]
UNICODE = ["abc\u202eexe.txt", "\uff41\uff50\uff49", "\u0430pi", "a\x00b", "a\ud800b", "a\udfffb", "a\x85b", "a\x9bb",
           "a\u200bb", "a\u2066b", "\U0001F680", "caf\u00e9", "\u65e5\u672c"]
WHITESPACE = ["api\n", "api\r\n", "api ", "api.", " api", "\tapi", "a\tb", "", "   "]
HUGE = ["A" * 300, "A" * 5000, "A" * 70000]
YAMLISH = ["yes", "~", "null", "!!python/object/apply:os.system ['calc']", "{a: b}", "[1, 2]", "017700",
           "0x1F", "1e3", ".inf", "&anchor", "*alias", "<<: *x", "---"]
HOSTILE = INJECTION + TRAVERSAL + RESERVED + UNICODE + WHITESPACE + HUGE + YAMLISH


def _sendable(v: Any) -> bool:
    try:
        json.dumps(v, ensure_ascii=False).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# ---------------------------------------------------------------------------------------------
@dataclass
class Field:
    """One user-facing field: where the value goes in the stack config and in the provider inputs,
    and how the host shows it (``on_host(model, value) -> (stored exactly, interpreted)``)."""
    name: str
    cfg: Callable[[dict, Any], None]            # puts the value into services[0] (or the raw config)
    cfg_key: str                                # the key path config errors must name
    prov: Optional[Callable[[dict, Any], None]]  # puts the value into the WindowsService inputs
    prov_key: Optional[str]
    values: list
    on_host: Optional[Callable] = None          # (model, value) -> (exact, interpreted)
    shape: Callable[[Any], Any] = lambda v: v   # the value as placed (prefixes)
    batch: str = "scalar"                       # scalar | list | map-value | map-key
    read: Optional[Callable] = None             # config-only fields: the parsed config's value


def _svc(raw) -> dict:
    return raw["services"][0]


def _reg(m, key, name):
    got = m.registry.get_value(key, name)
    return None if got is None else got[1]


def _expands(text: str) -> bool:
    """ExpandEnvironmentStrings replaces %NAME% references (REG_EXPAND_SZ values the SCM and WER expand)."""
    return bool(re.search(r"%[^%]+%", text or ""))


def _indirect(text: str) -> bool:
    """SERVICE_DESCRIPTION / DisplayName of the form @[path\\]dll,-id are loaded as indirect strings
    (ChangeServiceConfig2 docs; RegLoadMUIString)."""
    return (text or "").startswith("@")


def host_display(m, v):
    got = _reg(m, SVC_KEY.format("api"), "DisplayName")
    return got == v, _indirect(got)


def host_description(m, v):
    got = _reg(m, SVC_KEY.format("api"), "Description")
    return (got or "") == v, _indirect(got)       # an empty description is not written (no value)


def host_image_path(m, v):
    image = _reg(m, SVC_KEY.format("api"), "ImagePath") or ""
    return True, _expands(image)


def host_env(m, key, value):
    env = _reg(m, SVC_KEY.format("api"), "Environment") or []
    return f"{key}={value}" in env, False          # REG_MULTI_SZ: never expanded by the SCM


FIELDS: list[Field] = []


def add(*a, **kw):
    FIELDS.append(Field(*a, **kw))


add("displayName", lambda r, v: _svc(r).__setitem__("displayName", v), "winfleet:services[0].displayName",
    lambda i, v: i.__setitem__("displayName", v), "displayName", HOSTILE, host_display)
add("description", lambda r, v: _svc(r).__setitem__("description", v), "winfleet:services[0].description",
    lambda i, v: i.__setitem__("description", v), "description", HOSTILE, host_description)
add("arguments", lambda r, v: _svc(r).__setitem__("arguments", [v]), "winfleet:services[0].arguments",
    lambda i, v: i.__setitem__("arguments", [v]), "arguments", HOSTILE, None, batch="list")
add("environment.value", lambda r, v: _svc(r).__setitem__("environment", {"HOSTILE": v}),
    "winfleet:services[0].environment", lambda i, v: i.__setitem__("environment", {"HOSTILE": v}),
    "environment", HOSTILE, None, batch="map-value")
add("environment.key", lambda r, v: _svc(r).__setitem__("environment", {v: "x"}),
    "winfleet:services[0].environment", lambda i, v: i.__setitem__("environment", {v: "x"}),
    "environment", HOSTILE, None, batch="map-key")
add("secrets.value", lambda r, v: _svc(r).__setitem__("secrets", {"S": v}), "winfleet:services[0].secrets",
    lambda i, v: i.__setitem__("secrets", {"S": v}), "secrets", HOSTILE, None, batch="map-value")
add("secrets.key", lambda r, v: _svc(r).__setitem__("secrets", {v: "x"}), "winfleet:services[0].secrets",
    lambda i, v: i.__setitem__("secrets", {v: "x"}), "secrets", HOSTILE, None, batch="map-key")
add("eventSource.source", lambda r, v: _svc(r).__setitem__("eventSource", {"source": v}),
    "winfleet:services[0].eventSource", lambda i, v: i.__setitem__("eventSource", {"logName": "Application", "source": v}),
    "eventSource", HOSTILE, lambda m, v: (m.registry.key_exists(SRC_KEY.format(v)), False))
add("installDir", lambda r, v: _svc(r).__setitem__("installDir", "C:\\svc\\" + v), "winfleet:services[0].installDir",
    lambda i, v: i.__setitem__("installDir", "C:\\svc\\" + v), "installDir", HOSTILE,
    lambda m, v: (m.files.is_file("C:\\svc\\" + v + "\\api.exe"), host_image_path(m, v)[1]))
add("logs.directory", lambda r, v: _svc(r).__setitem__("logs", {"directory": "D:\\logs\\" + v}),
    "winfleet:services[0].logs", lambda i, v: i.__setitem__("logs", {"directory": "D:\\logs\\" + v}), "logs",
    HOSTILE, lambda m, v: (m.files.is_dir("D:\\logs\\" + v), False))
add("binary.exeName", lambda r, v: _svc(r)["binary"].__setitem__("exeName", v + ".exe"),
    "winfleet:services[0].binary", lambda i, v: i.__setitem__("exeName", v + ".exe"), "exeName", HOSTILE,
    lambda m, v: (m.files.is_file("C:\\Program Files\\winfleet\\api\\" + v + ".exe"), host_image_path(m, v)[1]))
add("binary.url", lambda r, v: _svc(r)["binary"].__setitem__("url", "https://artifacts.example.test/" + v),
    "winfleet:services[0].binary", lambda i, v: i.__setitem__("binaryUrl", "https://artifacts.example.test/" + v),
    "binaryUrl", HOSTILE + ["http://artifacts.example.test/api.exe", "x.exe?sig=a%0Ab", "x.exe#frag"],
    lambda m, v: (m.files.download_log[-1:] == ["https://artifacts.example.test/" + v], False))
add("healthPath", lambda r, v: _svc(r).__setitem__("healthPath", "/" + v), "winfleet:services[0].healthPath",
    lambda i, v: (i.__setitem__("healthPath", "/" + v), i.pop("readinessPath", None)), "healthPath", HOSTILE,
    lambda m, v: ((8080, "/" + v) in m.http.probes, False))
add("readinessPath", lambda r, v: _svc(r).__setitem__("readinessPath", "/" + v), "winfleet:services[0].readinessPath",
    lambda i, v: i.__setitem__("readinessPath", "/" + v), "readinessPath", HOSTILE,
    lambda m, v: ((8080, "/" + v) in m.http.probes, False))
add("account", lambda r, v: _svc(r).update(account="CORP\\" + v, accountPassword="pw"), "winfleet:services[0].account",
    lambda i, v: i.update(account="CORP\\" + v, accountPassword="pw"), "account", HOSTILE,
    lambda m, v: (_reg(m, SVC_KEY.format("api"), "ObjectName") == "CORP\\" + v, False))
add("name", lambda r, v: _svc(r).__setitem__("name", v), "winfleet:services[0].name",
    lambda i, v: i.__setitem__("serviceName", v), "serviceName", HOSTILE + ["a" * 65],
    lambda m, v: (m.scm.exists(v) and _reg(m, SVC_KEY.format(v), "DisplayName") == v, False))
add("dependencies", lambda r, v: _svc(r).__setitem__("dependencies", [v]), "winfleet:services[0].dependencies",
    # startMode disabled: the dependency need not exist for the registration to be checked
    lambda i, v: i.update(dependencies=[v], startMode="disabled"), "dependencies",
    INJECTION + TRAVERSAL + UNICODE + WHITESPACE[:6],
    lambda m, v: (_reg(m, SVC_KEY.format("api"), "DependOnService") == [v], False))
# numbers (config and provider): none of these is a valid value; a bool or a string is not a number
NUMBERS = [-1, 0, 65536, 2 ** 31, 2 ** 63, 1e308, 3.5, True, None, [], {}, "0x1F90", "8080 ", "1e3"]
add("port", lambda r, v: _svc(r).__setitem__("port", v), "winfleet:services[0].port",
    lambda i, v: i.__setitem__("port", v), "port", NUMBERS + [1023, 5986, 3389, 47001], None)
add("preshutdownTimeoutSeconds", lambda r, v: _svc(r).__setitem__("preshutdownTimeoutSeconds", v),
    "winfleet:services[0].preshutdownTimeoutSeconds", lambda i, v: i.__setitem__("preshutdownTimeoutSeconds", v),
    "preshutdownTimeoutSeconds", NUMBERS + [3601], None)
add("readinessTimeoutSeconds", lambda r, v: _svc(r).__setitem__("readinessTimeoutSeconds", v),
    "winfleet:services[0].readinessTimeoutSeconds", lambda i, v: i.__setitem__("readinessTimeoutSeconds", v),
    "readinessTimeoutSeconds", [-1, 0, 3601, 1e308, True, None, [], "1e3"], None)
# config-only fields (no host resource input of their own): refused by config naming the key
add("logs.maxFileSizeMb", lambda r, v: _svc(r).__setitem__("logs", {"maxFileSizeMb": v}), "winfleet:services[0].logs",
    None, None, [-1, 0, 10241, 2 ** 63, 1e308, True, None, [], "1e3"], None)
add("crashDumps.count", lambda r, v: _svc(r).__setitem__("crashDumps", {"count": v}), "winfleet:services[0].crashDumps",
    None, None, [-1, 0, 101, True, None, "0x10"], None)
add("crashDumps.folder", lambda r, v: _svc(r).__setitem__("crashDumps", {"folder": "D:\\dumps\\" + v}),
    "winfleet:services[0].crashDumps", None, None, ["%TEMP%", "..\\..\\x", "con", "a\nb", "a:b", "x.", "\\\\?\\x"], None)
add("existingHosts.host", lambda r, v: r["existingHosts"][0].__setitem__("host", v), "winfleet:existingHosts[0].host",
    None, None, INJECTION + TRAVERSAL + WHITESPACE[:5] + ["https://x", "x:5986", "a" * 254], None)
add("existingHosts.name", lambda r, v: r["existingHosts"][0].__setitem__("name", v), "winfleet:existingHosts[0].name",
    None, None, INJECTION[:8] + RESERVED[:2] + WHITESPACE[:4] + ["1234", "a" * 16], None,
    read=lambda cfg: cfg.existing_hosts[0].name)
add("existingHosts.port", lambda r, v: r["existingHosts"][0].__setitem__("port", v), "winfleet:existingHosts[0].port",
    None, None, [-1, 0, 5985, 65536, True, None, "x"], None)
add("eventLogs.name", lambda r, v: r.__setitem__("eventLogs", {v: {"maxSizeKb": 32768}}), "winfleet:eventLogs",
    None, None, ["..\\Security", "Sec*", "a\\b", "a\nb", "", " x", "x\u202e"], None)
add("eventLogs.maxSizeKb", lambda r, v: r.__setitem__("eventLogs", {"Application": {"maxSizeKb": v}}),
    "winfleet:eventLogs", None, None, [-1, 0, 1023, 1025, 2 ** 40, True, None, "32768x"], None)
add("dataVolume.label", lambda r, v: r.__setitem__("dataVolume", {"label": v}), "winfleet:dataVolume.label",
    None, None, INJECTION[:10] + ["a" * 33, "a\nb", ""], None)
add("baseline.services", lambda r, v: r.__setitem__("baseline", {"services": [v]}), "winfleet:baseline",
    None, None, INJECTION[:10] + ["WinRM", "winrm", "a b", "a\n"], None)

CASES = [(f, v) for f in FIELDS for v in f.values]


def case_id(f: Field, v: Any) -> str:
    text = json.dumps(v, ensure_ascii=True)
    if len(text) > 40:
        text = text[:32] + f"...#{len(text)}"
    return f"{f.name}={text}"


# ---------------------------------------------------------------------------------------------
def base_raw() -> dict:
    return {"mode": "existingHosts",
            "services": [{"name": "api", "port": 8080, "binary": {"url": BASE_URL, "sha256": SHA}}],
            "existingHosts": [{"name": "web-0", "host": "10.0.0.4", "username": "winfleet", "password": "pw",
                               "certSha256": SHA}]}


def config_verdict(f: Field, v: Any) -> tuple[str, list[str]]:
    """("refused", paths) / ("accepted", []) through load_config (pulumi.Config of the running stack)."""
    raw = base_raw()
    f.cfg(raw, copy.deepcopy(v))
    pulumi.runtime.set_all_config({f"winfleet:{k}": json.dumps(val) for k, val in raw.items()}, [])
    try:
        cfg = load_config()
    except ConfigError as e:
        return "refused", [p.path for p in e.problems]
    return "accepted", ([] if f.read is None else [f.read(cfg)])


def provider_inputs(conn: dict) -> dict:
    return {"connection": conn, "serviceName": "api", "binaryUrl": BASE_URL, "binarySha256": hashlib.sha256(BIN).hexdigest(),
            "logs": {"directory": "D:\\logs\\api"}, "eventSource": {"logName": "Application"}, "port": 8080,
            "readinessPath": "/readyz", "readinessTimeoutSeconds": 2, "readinessPollSeconds": 0.05}


@pytest.fixture(scope="module")
def lab():
    with Lab(hosts=1) as lab:
        yield lab


@pytest.fixture(scope="module")
def res(provider_host):
    return provider_host.resource(WindowsServiceProvider())


@pytest.fixture(scope="module")
def verdicts(res, lab):
    """Both layers' verdicts for every case (config in-process, check through the provider host)."""
    conn = dict(lab.hosts[0].endpoint)
    out = {}
    for f, v in CASES:
        cfg, paths = config_verdict(f, v)
        prov, props = None, []
        if f.prov is not None:
            if not _sendable(v):
                prov = "unsendable"       # the engine cannot even send it (not UTF-8): config must refuse
            elif v is None:
                prov = "unsendable"       # a null input is an absent input to a provider
            else:
                inputs = provider_inputs(conn)
                f.prov(inputs, copy.deepcopy(v))
                _, failures = res.check(inputs)
                props = [p for p, _ in failures]
                prov = "refused" if failures else "accepted"
        out[case_id(f, v)] = (cfg, paths, prov, props)
    return out


def test_table_is_large_enough():
    assert len(CASES) >= 250, len(CASES)
    assert len({case_id(f, v) for f, v in CASES}) == len(CASES)


@pytest.mark.parametrize("f,v", CASES, ids=[case_id(f, v) for f, v in CASES])
def test_both_layers_agree(verdicts, f, v):
    cfg, paths, prov, props = verdicts[case_id(f, v)]
    if cfg == "refused":
        assert any(p.startswith(f.cfg_key) for p in paths), (f.cfg_key, paths)
        if f.prov is not None and prov != "unsendable":
            assert prov == "refused", f"config refuses {f.name}={v!r} but the provider's check accepts it"
            assert any(p.split(".")[0].split("[")[0] == f.prov_key for p in props), (f.prov_key, props)
        assert record(f"input:{f.name}", case_id(f, v), "refused") == "refused"
    elif f.prov is None:
        # a config-only value (a label, not sent to a host as such): it must be kept exactly as given
        assert f.read is not None, f"config accepts {f.name}={v!r}, which has no check of what is kept: add one"
        assert record(f"input:{f.name}", case_id(f, v), "literal" if paths == [v] else "interpreted") == "literal"
    else:
        assert prov == "accepted", f"config accepts {f.name}={v!r} but the provider's check refuses it: {props}"


# ---------------------------------------------------------------------------------------------
def _accepted(verdicts, f: Field) -> list:
    return [v for v in f.values if verdicts[case_id(f, v)][0] == "accepted"]


def test_accepted_values_are_stored_literally(verdicts, res, lab):
    """Every accepted value goes through create/update against the emulator; the host must hold it."""
    h = lab.hosts[0]
    m = h.model
    m.files.add_drive("D")
    m.http.serve(8080, service="api", mode="ready")
    conn = dict(h.endpoint)
    base = provider_inputs(conn)
    m.files.downloads[BASE_URL] = BIN
    results: list[tuple[Field, Any, str]] = []

    def judge(f: Field, v, exact: bool, interpreted: bool):
        outcome = "interpreted" if interpreted or not exact else "literal"
        record(f"input:{f.name}", case_id(f, v), outcome)
        results.append((f, v, outcome))

    # 1. lists and maps: all accepted values of a field in one create
    rid, outs = res.create(res.checked(base))
    for f in FIELDS:
        vals = _accepted(verdicts, f)
        if not vals or f.batch == "scalar":
            continue
        inputs = copy.deepcopy(base)
        if f.batch == "list":
            inputs[f.prov_key] = vals[:64]
            assert len(vals) <= 64
        elif f.batch == "map-value":
            inputs[f.prov_key] = {f"V{n}": v for n, v in enumerate(vals)}
        else:
            inputs[f.prov_key] = {v: "x" for v in vals}
        outs = res.update(rid, outs, res.checked(inputs))
        if f.name == "arguments":
            argv = split_command_line(_reg(m, SVC_KEY.format("api"), "ImagePath"))
            interpreted = host_image_path(m, None)[1]
            for n, v in enumerate(vals):
                judge(f, v, argv[1 + n] == v, interpreted and "%" in v)
        elif f.name.startswith("environment"):
            for n, v in enumerate(vals):
                key, value = (f"V{n}", v) if f.batch == "map-value" else (v, "x")
                judge(f, v, *host_env(m, key, value))
        elif f.name.startswith("secrets"):
            stored = json.loads(m.files.read("C:\\Program Files\\winfleet\\api\\secrets.json").decode("utf-8"))
            for n, v in enumerate(vals):
                judge(f, v, stored.get(f"V{n}") == v if f.batch == "map-value" else stored.get(v) == "x", False)
        outs = res.update(rid, outs, res.checked(base))
    res.delete(rid, outs)

    # 2. scalars: one create per value (each a fresh service, destroyed after its check)
    for f in FIELDS:
        if f.batch != "scalar" or f.prov is None:
            continue
        for v in _accepted(verdicts, f):
            inputs = copy.deepcopy(base)
            f.prov(inputs, v)
            if f.name == "binary.url":
                m.files.downloads[inputs["binaryUrl"]] = BIN
            if f.name == "account":
                m.accounts.add(inputs["account"])
            if f.name == "name":
                m.http.serve(8080, service=v, mode="ready")
            checked = res.checked(inputs)
            rid, outs = res.create(checked)
            judge(f, v, *f.on_host(m, v))
            res.delete(rid, outs)
            assert not m.scm.exists(checked["serviceName"])
            m.http.serve(8080, service="api", mode="ready")
    bad = [(f.name, v, o) for f, v, o in results if o != "literal"]
    assert not bad, bad
    assert results, "no accepted value reached the host"

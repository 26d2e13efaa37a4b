"""Overlapping managed folders (issue 12 item 3): any equal, nested or ancestor pair among ALL install, log
and dump folders of all services is refused at config time (naming the key) and, where one resource sees
both folders, in the provider's check (through the real dynamic-provider host)."""
from __future__ import annotations

import copy

import pytest

from components.config import ConfigError, parse_config
from components.host.windows_service import WindowsServiceProvider
from tests.adversarial.report import record
from tests.providers.harness import ProviderHost
from tests.unit.conftest import stack_raw


def _two_services() -> dict:
    raw = copy.deepcopy(stack_raw("example"))
    a = raw["services"][0]
    b = copy.deepcopy(a)
    b.update(name="billing", displayName="Billing", port=a["port"] + 1)
    b["binary"] = dict(b["binary"], url="https://artifacts.example.com/billing/1.0.0/billing.exe")
    raw["services"] = [a, b]
    return raw


A, B = "services[0]", "services[1]"
# (case, {service index: {key: folder}}, the key path expected in the error)
CASES = [
    ("log inside another's log", {0: {"logs": r"D:\logs\a"}, 1: {"logs": r"D:\logs\a\b"}}, f"{B}.logs.directory"),
    ("log equal to another's log (case, slash)", {0: {"logs": r"D:\Logs\A"}, 1: {"logs": "d:/logs/a/"}},
     f"{B}.logs.directory"),
    ("log above an install folder", {0: {"installDir": r"D:\svc\a\bin"}, 1: {"logs": r"D:\svc\a"}},
     f"{B}.logs.directory"),
    ("log inside its own install folder", {0: {"installDir": r"D:\svc\a", "logs": r"D:\svc\a\logs"}},
     f"{A}.logs.directory"),
    ("dump folder equal to a log folder", {0: {"logs": r"D:\data\a"}, 1: {"dumps": r"D:\data\a"}},
     f"{B}.crashDumps.folder"),
    ("dump folder above both", {0: {"logs": r"D:\data\a\logs"}, 1: {"dumps": r"D:\data"}},
     f"{B}.crashDumps.folder"),
    ("install folder inside another's dumps", {0: {"dumps": r"D:\x"}, 1: {"installDir": r"D:\x\billing"}},
     f"{B}.installDir"),
    ("install folders nested", {0: {"installDir": r"C:\Program Files\winfleet"},
                                1: {"installDir": r"C:\Program Files\winfleet\billing"}}, f"{B}.installDir"),
]


def _apply(raw: dict, spec: dict) -> dict:
    for i, keys in spec.items():
        s = raw["services"][i]
        if "logs" in keys:
            s["logs"] = dict(s.get("logs") or {}, directory=keys["logs"])
        if "dumps" in keys:
            s["crashDumps"] = dict(s.get("crashDumps") or {}, folder=keys["dumps"])
        if "installDir" in keys:
            s["installDir"] = keys["installDir"]
    return raw


def test_separate_folders_are_accepted():
    cfg = parse_config(_two_services())
    assert [s.logs.directory for s in cfg.services] == [r"D:\logs\orders-api", r"D:\logs\billing"]


@pytest.mark.parametrize("case,spec,key", CASES, ids=[c[0] for c in CASES])
def test_overlapping_folders_are_refused_at_config_time_naming_the_key(case, spec, key):
    with pytest.raises(ConfigError) as info:
        parse_config(_apply(_two_services(), spec))
    paths = [p.path for p in info.value.problems]
    ok = f"winfleet:{key}" in paths and any("must be separate" in p.allowed for p in info.value.problems)
    assert record("folders", case, "refused" if ok else "interpreted") == "refused", paths


@pytest.fixture(scope="module")
def provider_host():
    with ProviderHost() as ph:
        yield ph


PROVIDER_CASES = [("logs inside installDir", r"D:\svc\api", r"D:\svc\api\logs", "logs.directory"),
                  ("logs equal to installDir", r"D:\svc\api", "d:\\SVC\\API", "logs.directory"),   # a trailing \\ is refused by the path rule
                  ("logs above installDir", r"D:\svc\api\bin", r"D:\svc", "logs.directory")]


@pytest.mark.parametrize("case,install,logs,key", PROVIDER_CASES, ids=[c[0] for c in PROVIDER_CASES])
def test_the_provider_check_refuses_its_own_overlapping_folders(provider_host, case, install, logs, key):
    from tests.emulator import Lab
    from tests.providers.test_windows_service import base_inputs
    with Lab(hosts=1) as lab:
        res = provider_host.resource(WindowsServiceProvider())
        props = base_inputs(lab.hosts[0], installDir=install,
                            logs={"directory": logs, "maxSizeBytes": 10485760, "maxFiles": 5})
        _, failures = res.check(props)
        ok = any(prop == key and "separate" in reason for prop, reason in failures)
        assert record("folders", f"provider check: {case}", "refused" if ok else "interpreted") == "refused", failures

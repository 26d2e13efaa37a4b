"""Hostile paths and strings that Windows would read as something else (issue 11 item 13), tried against both
layers that must refuse them: the stack config (components/config.py) and the WindowsService / CrashDumps
check (the same rules, components/windows_facts.py). Each case records its outcome in the ledger: refused
by both is the only acceptable one; accepted by either is `interpreted` (the SCM, WER or Win32 would make it
another path than the one winfleet creates and secures)."""
from __future__ import annotations

import copy

import pytest

from components.config import ConfigError, parse_config
from components.host.crash_dumps import CrashDumpsProvider
from components.host.windows_service import WindowsServiceProvider
from tests.adversarial.report import record
from tests.unit.conftest import stack_raw

FOLDERS = [
    "D:\\", "D:\\\\", "D:\\%OS%", "D:\\logs\\%USERPROFILE%", "D:\\logs\\%%", "D:\\logs\\x%PATH%y",
    "D:\\logs\\api.", "D:\\logs\\api..", "D:\\logs\\api ", "D:\\logs\\api. .", "D:\\logs\\ api", "D:\\logs.\\api",
    "D:\\CON", "D:\\logs\\con", "D:\\logs\\PRN", "D:\\logs\\AUX", "D:\\logs\\NUL", "D:\\logs\\nul.txt",
    "D:\\logs\\COM1", "D:\\logs\\com9.log", "D:\\logs\\LPT1", "D:\\logs\\lpt3.x\\y", "D:\\logs\\COM\u00b9",
    "D:\\logs\\CON .txt", "D:\\LOGS~1\\api", "D:\\logs\\API~2", "D:\\" + "x" * 246, "D:\\logs\\a/b",
    "D:\\logs\\..\\Windows", "D:\\logs\\.\\api", "D:\\logs\\a\\\\b", "D:\\logs\\a:b", "D:\\logs\\a*b", "D:\\logs\\a?",
    "D:\\logs\\a\"b", "D:\\logs\\a<b", "D:\\logs\\a|b", "D:\\logs\\a\tb", "\\\\server\\share\\api", "logs\\api",
]


def _config_refuses(key: str, path: str) -> bool:
    raw = copy.deepcopy(stack_raw("example"))
    svc = raw["services"][0]
    if key == "installDir":
        svc["installDir"] = path.replace("D:", "C:", 1) if path.startswith("D:") else path
    else:
        block, leaf = key.split(".")
        svc.setdefault(block, {})[leaf] = path
    try:
        parse_config(raw)
    except ConfigError as e:
        return any(p.path.endswith(key) for p in e.problems)
    return False


def _check_refuses(key: str, path: str) -> bool:
    if key == "crashDumps.folder":
        news = {"exeName": "api.exe", "dumpFolder": path, "dumpCount": 5, "dumpType": "mini", "account": "NT SERVICE\\api"}
        result = CrashDumpsProvider().check({}, news)
        field = "dumpFolder"
    else:
        news = {"serviceName": "api", "binaryUrl": "https://a.example/api.exe", "binarySha256": "ab" * 32}
        if key == "installDir":
            news["installDir"] = path.replace("D:", "C:", 1) if path.startswith("D:") else path
            field = "installDir"
        else:
            news["logs"] = {"directory": path}
            field = "logs.directory"
        result = WindowsServiceProvider().check({}, news)
    return any(f.property == field or f.property.startswith(field) for f in result.failures or [])


@pytest.mark.parametrize("key", ["installDir", "logs.directory", "crashDumps.folder"])
@pytest.mark.parametrize("path", FOLDERS)
def test_hostile_folders_are_refused_by_config_and_check(key, path):
    both = _config_refuses(key, path) and _check_refuses(key, path)
    outcome = record("paths", f"{key}={path!r}", "refused" if both else "interpreted")
    assert outcome == "refused", (key, path, _config_refuses(key, path), _check_refuses(key, path))


@pytest.mark.parametrize("arg", ["%PATH%", "%SystemRoot%\\x", "a%b%c", "100%"])
def test_arguments_windows_would_expand_are_refused_by_both(arg):
    raw = copy.deepcopy(stack_raw("example"))
    raw["services"][0]["arguments"] = [arg]
    try:
        parse_config(raw)
        config = False
    except ConfigError as e:
        config = any("arguments" in p.path for p in e.problems)
    result = WindowsServiceProvider().check({}, {"serviceName": "api", "binaryUrl": "https://a.example/api.exe",
                                                 "binarySha256": "ab" * 32, "arguments": [arg]})
    check = any(f.property.startswith("arguments") for f in result.failures or [])
    assert record("paths", f"arguments=[{arg!r}]", "refused" if config and check else "interpreted") == "refused"


@pytest.mark.parametrize("key", ["installDir", "logs.directory", "crashDumps.folder"])
def test_the_harness_accepts_a_plain_folder(key):
    """The checks above have teeth only if a good folder passes both layers."""
    assert not _config_refuses(key, "D:\\logs\\api") and not _check_refuses(key, "D:\\logs\\api")

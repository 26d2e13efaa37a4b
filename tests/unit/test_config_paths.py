"""Issue 11 item 13: paths and strings Windows would read as something else are refused at config time,
naming the key (the same rules, windows_facts.folder_path_problem & co., run again in the host resources'
check: tests/providers/test_windows_paths.py)."""
from __future__ import annotations

import copy

import pytest

from components import windows_facts as wf
from components.config import ConfigError, parse_config


def problems(raw: dict) -> list:
    with pytest.raises(ConfigError) as ei:
        parse_config(raw)
    return ei.value.problems


def with_service(raw: dict, **kw) -> dict:
    raw = copy.deepcopy(raw)
    raw["services"][0].update(kw)
    return raw


BAD_FOLDERS = [
    ("D:\\", "drive root"),
    ("D:\\logs\\%OS%", "'%'"),
    ("D:\\logs\\%USERPROFILE%\\x", "'%'"),
    ("D:\\logs\\api.", "trims"),
    ("D:\\logs\\api ", "trims"),
    ("D:\\logs\\ api", "trims"),
    ("D:\\logs\\CON", "reserved device name"),
    ("D:\\logs\\nul.txt", "reserved device name"),
    ("D:\\logs\\COM1", "reserved device name"),
    ("D:\\logs\\lpt9.log\\x", "reserved device name"),
    ("D:\\LOGS~1\\api", "8.3 short name"),
    ("D:\\" + "a" * 250, "at most 248"),
]


@pytest.mark.parametrize("path,words", BAD_FOLDERS)
@pytest.mark.parametrize("key", ["logs.directory", "crashDumps.folder", "installDir"])
def test_bad_folders_are_refused_naming_the_key(example_raw, key, path, words):
    if key == "installDir":
        raw = with_service(example_raw, installDir=path)
    else:
        block, leaf = key.split(".")
        raw = copy.deepcopy(example_raw)
        raw["services"][0].setdefault(block, {})[leaf] = path
    found = [p for p in problems(raw) if p.path == f"winfleet:services[0].{key}"]
    assert found and words in found[0].allowed, [str(p) for p in found]


@pytest.mark.parametrize("arg", ["%PATH%", "--dir=%TEMP%\\x", "100%"])
def test_arguments_the_scm_would_expand_are_refused(example_raw, arg):
    found = [p for p in problems(with_service(example_raw, arguments=["-x", arg])) if "arguments" in p.path]
    assert found and "'%'" in found[0].allowed


def test_environment_values_longer_than_windows_allows_are_refused(example_raw):
    raw = with_service(example_raw, environment={"BIG": "x" * (wf.MAX_ENVIRONMENT_VALUE + 1)})
    found = [p for p in problems(raw) if p.path.startswith("winfleet:services[0].environment")]
    assert found and "32,767" in found[0].allowed
    parse_config(with_service(example_raw, environment={"BIG": "x" * wf.MAX_ENVIRONMENT_VALUE}))


def test_a_command_line_longer_than_createprocess_takes_is_refused(example_raw):
    args = ["a" * 1000] * 33           # 33 x 1001 characters + the quoted exe path > 32,766
    found = [p for p in problems(with_service(example_raw, arguments=args)) if p.path == "winfleet:services[0].arguments"]
    assert found and "32766" in found[0].allowed
    parse_config(with_service(example_raw, arguments=["a" * 1000] * 30))


def test_an_exe_path_beyond_max_path_is_refused(example_raw):
    raw = with_service(example_raw, installDir="C:\\" + "\\".join(["d" * 60] * 4))  # 247 chars + exe name
    found = [p for p in problems(raw) if p.path == "winfleet:services[0].installDir"]
    assert found and "MAX_PATH" in found[0].allowed


@pytest.mark.parametrize("a,b", [("D:\\logs\\shared", "d:\\LOGS\\Shared"), ("D:\\Logs\\Straße", "D:\\logs\\STRASSE"),
                                 ("D:\\logs\\\u212aelvin", "D:\\logs\\kelvin")])
def test_duplicate_folders_compare_case_folded(example_raw, a, b):
    raw = copy.deepcopy(example_raw)
    raw["services"][0].setdefault("logs", {})["directory"] = a
    raw["services"][1].setdefault("logs", {})["directory"] = b
    found = [p for p in problems(raw) if p.path == "winfleet:services[1].logs.directory"]
    assert found and "duplicate log directory" in found[0].allowed


def test_duplicate_install_dirs_are_refused(example_raw):
    raw = copy.deepcopy(example_raw)
    raw["services"][0]["installDir"] = "C:\\svc\\shared"
    raw["services"][1]["installDir"] = "C:\\SVC\\Shared"
    found = [p for p in problems(raw) if p.path == "winfleet:services[1].installDir"]
    assert found and "duplicate install directory" in found[0].allowed


@pytest.mark.parametrize("a,b", [("orders", "orders"), ("Orders", "ORDERS")])
def test_two_services_sharing_an_event_source_are_refused(example_raw, a, b):
    """Issue 11 item 14: removing one service's source would delete the other's."""
    raw = copy.deepcopy(example_raw)
    raw["services"][0]["eventSource"] = {"logName": "Application", "source": a}
    raw["services"][1]["eventSource"] = {"logName": "System", "source": b}
    found = [p for p in problems(raw) if p.path == "winfleet:services[1].eventSource.source"]
    assert found and "duplicate event source" in found[0].allowed

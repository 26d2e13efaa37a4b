"""Static checks on the service / dumps / baseline drivers (they can only be parsed and Pester-run on
Windows; these checks keep the rules the design relies on)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.emulator.ops import handlers

ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "scripts" / "ops"
MINE = ["service.read", "service.apply", "dumps.read", "dumps.apply", "baseline.read", "baseline.apply"]


def text(op: str) -> str:
    return (OPS / f"{op}.ps1").read_text(encoding="utf-8")


def region(src: str, name: str) -> str:
    m = re.search(rf"#region {name}\n(.*?)#endregion {name}", src, re.S)
    assert m, name
    return m.group(1)


@pytest.mark.parametrize("op", MINE)
def test_driver_and_handler_exist_and_follow_the_rules(op):
    src = text(op)
    assert op in handlers(), f"no emulator handler for {op}"
    assert re.search(r"^param\(\$P\)$", src, re.M)
    assert "$ErrorActionPreference = 'Stop'" in src
    # locale-independent reads: never parse sc.exe / net.exe text; never match by display name
    assert not re.search(r"sc(\.exe)?\s+(query|qc|qfailure|qdescription|queryex|qsidtype)", src, re.I)
    assert "Get-Service" not in src and "Get-WmiObject" not in src
    assert "Invoke-Expression" not in src and "iex " not in src.lower()
    # sc.exe only as an argument array with its exit code checked
    for line in [ln for ln in src.splitlines() if "& sc.exe" in ln]:
        assert re.search(r"& sc\.exe (failure|config) \$name ", line), line


@pytest.mark.parametrize("area, reader", [("service", "Read-ServiceState"), ("dumps", "Read-DumpState")])
def test_apply_reports_the_state_exactly_like_read(area, reader):
    # one reader, in scripts/lib/<area>.ps1, builds the state of both ops (apply adds its steps)
    assert f"function {reader} " in (ROOT / "scripts" / "lib" / f"{area}.ps1").read_text(encoding="utf-8")
    assert f"state = ({reader} -P $P) }}" in text(f"{area}.read")
    assert f"$state = {reader} -P $P\n" in text(f"{area}.apply")


def test_every_pester_file_names_a_driver_that_exists():
    pester = ROOT / "tests" / "scripts" / "pester"
    for name in ("Service", "CrashDumps", "Baseline"):
        src = (pester / f"{name}.Tests.ps1").read_text(encoding="utf-8")
        for op in re.findall(r"scripts/ops/([a-z]+\.[a-z]+)\.ps1", src.replace("\\", "/")):
            assert (OPS / f"{op}.ps1").is_file(), op

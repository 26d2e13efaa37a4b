"""Focused guards (issue 11) for the service / dumps drivers and the bootstrap: pitfalls that live only in
PowerShell text, so the emulator (which runs Python handlers in place of the drivers) cannot show them.
Each test parses the real script with tree-sitter; each has a bad snippet proving it has teeth.
(win-paths owns the general lint over every .ps1; these pin the fixes of issue 11's service/dumps items.)
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.scripts.ps_ast import ROOT, assigned_names, parse, script_params

OPS = ROOT / "scripts" / "ops"
MINE = sorted(p for p in OPS.glob("*.ps1") if p.name.startswith(("service.", "dumps.")))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- item 1: `$p = ...` in a script with param($P) overwrites the params ------------------------------
def clobbered_params(text: str) -> list[str]:
    """Assignments (or foreach variables) whose name equals a script parameter ignoring case: PowerShell
    variable names are case-insensitive (about_Variables), so `$p = ...` replaces `$P`."""
    root = parse(text)
    params = {p.lower() for p in script_params(root)}
    return [f"line {line}: ${name}" for name, line in assigned_names(root) if name.lower() in params]


@pytest.mark.parametrize("path", MINE, ids=[p.name for p in MINE])
def test_no_driver_assigns_to_its_params_under_another_case(path):
    assert clobbered_params(_text(path)) == []


def test_the_param_check_has_teeth():
    assert clobbered_params("param($P)\n$p = 'C:\\x'\n") == ["line 2: $p"]
    assert clobbered_params("param($P)\nforeach ($p in @(1)) { $p }\n") == ["line 2: $p"]
    assert clobbered_params("param($P)\n$path = $P.x\n") == []

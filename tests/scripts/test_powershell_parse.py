"""Every PowerShell file we ship or run parses without error nodes under tree-sitter-powershell.

We cannot run PowerShell here; parsing is the check we can make on every line of it
(Pester tests run the drivers for real on a Windows runner, see .github/workflows).
"""
from pathlib import Path

import pytest
import tree_sitter_powershell as tsps
from tree_sitter import Language, Parser

ROOT = Path(__file__).resolve().parents[2]
PARSER = Parser(Language(tsps.language()))
SCRIPTS = sorted(p for base in ("scripts", "tests") for p in (ROOT / base).rglob("*.ps1"))


def _errors(node, out):
    if node.type == "ERROR" or node.is_missing:
        out.append(f"line {node.start_point[0] + 1}: {node.text[:60]!r}")
    for child in node.children:
        _errors(child, out)
    return out


def test_there_are_scripts_to_parse():
    assert any(p.parent.name == "ops" for p in SCRIPTS), "no driver scripts found under scripts/ops"


@pytest.mark.parametrize("path", SCRIPTS, ids=[str(p.relative_to(ROOT)) for p in SCRIPTS])
def test_script_parses(path):
    tree = PARSER.parse(path.read_bytes())
    assert not tree.root_node.has_error, f"{path.name}: " + "; ".join(_errors(tree.root_node, [])[:5])


def test_parser_rejects_broken_powershell():
    """The check has teeth: a script with an unclosed block is reported."""
    assert PARSER.parse(b"function f { if ($x) { 'a' }").root_node.has_error

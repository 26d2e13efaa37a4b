"""Static checks of the host-resource drivers (eventlog.*, quota.*, volume.*): user data stays data.

Parsing is checked for every script in test_powershell_parse.py; here we check, on the syntax tree,
that these drivers never turn a string into code or a command line, that they are `param($P)`
scripts that stop on the first error, and that every driver has its emulator handler.
"""
from pathlib import Path

import pytest
import tree_sitter_powershell as tsps
from tree_sitter import Language, Parser

from tests.emulator.ops import handlers

ROOT = Path(__file__).resolve().parents[2]
OPS = ["eventlog.read", "eventlog.apply", "quota.read", "quota.apply", "volume.read", "volume.apply"]
PARSER = Parser(Language(tsps.language()))
# Commands that evaluate text as code or hand it to another interpreter.
FORBIDDEN_COMMANDS = {"invoke-expression", "iex", "start-process", "cmd", "cmd.exe", "powershell", "powershell.exe",
                      "pwsh", "invoke-command", "fsutil", "fsutil.exe", "sc", "sc.exe", "wevtutil",
                      "wevtutil.exe", "limit-eventlog"}


def _walk(node):
    yield node
    for c in node.children:
        yield from _walk(c)


def _commands(tree) -> set[str]:
    names = set()
    for n in _walk(tree.root_node):
        if n.type == "command_name":
            names.add(n.text.decode().lower())
    return names


@pytest.mark.parametrize("op", OPS)
def test_driver_is_a_param_script_that_stops_on_errors(op):
    text = (ROOT / "scripts" / "ops" / f"{op}.ps1").read_text()
    code = [l for l in text.splitlines() if l.strip() and not l.lstrip().startswith("#")]
    assert code[0] == "param($P)" and code[1] == "$ErrorActionPreference = 'Stop'"
    assert text.startswith(f"# {op} "), "the header comment documents the op's params and result"


@pytest.mark.parametrize("op", OPS)
def test_driver_never_evaluates_data_as_code(op):
    text = (ROOT / "scripts" / "ops" / f"{op}.ps1").read_bytes()
    tree = PARSER.parse(text)
    assert not (_commands(tree) & FORBIDDEN_COMMANDS), _commands(tree) & FORBIDDEN_COMMANDS
    lowered = text.decode().lower()
    for needle in ("[scriptblock]::create", "invoke-expression", "$executioncontext", ".invokescript", "-encodedcommand",
                   "-typedefinition", "-memberdefinition"):  # Add-Type only ever loads a named assembly
        assert needle not in lowered, needle


def test_the_check_has_teeth():
    tree = PARSER.parse(b"param($P)\nInvoke-Expression $P.name\n& cmd.exe /c $P.x\n")
    assert {"invoke-expression", "cmd.exe"} <= _commands(tree)


@pytest.mark.parametrize("op", OPS)
def test_every_driver_has_an_emulator_handler(op):
    assert op in handlers()


def test_quota_records_are_found_by_enumeration_never_by_FindUser():
    """FindUser returns an object with the volume defaults for any account (issue 11 item 6): the quota
    drivers and their library decide whether an entry exists by enumerating the records only."""
    for path in [ROOT / "scripts" / "lib" / "quota.ps1"] + sorted((ROOT / "scripts" / "ops").glob("quota.*.ps1")):
        code = "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("#"))
        assert ".finduser(" not in code.lower(), path.name

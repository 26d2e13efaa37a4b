"""The payload's libraries (scripts/lib/*.ps1) and the one table that hands them to ops.

Every PowerShell function lives in exactly one file under scripts/ (a driver keeps only what it alone
uses; what two drivers share lives in a library), ``bootstrap.OP_LIBS`` gives every driver the
libraries whose functions it calls, and a library is definitions only (it is dot-sourced by the
bootstrap before the driver runs, so it must do nothing when loaded).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import tree_sitter_powershell as tsps
from tree_sitter import Language, Parser

from components.winrm import bootstrap

SCRIPTS = Path(bootstrap.SCRIPTS_DIR)
LIB = SCRIPTS / "lib"
DRIVERS = sorted(p.stem for p in (SCRIPTS / "ops").glob("*.ps1"))
LIBS = sorted(p.stem for p in LIB.glob("*.ps1") if p.stem != "common")
PARSER = Parser(Language(tsps.language()))


def _walk(node):
    yield node
    for c in node.children:
        yield from _walk(c)


def _defined(text: str) -> list[str]:
    """Names of the functions a script defines (lower-case: PowerShell names are case-insensitive)."""
    tree = PARSER.parse(text.encode("utf-8"))
    return [c.text.decode().lower() for n in _walk(tree.root_node) if n.type == "function_statement"
            for c in n.children if c.type == "function_name"]


def _called(text: str) -> set[str]:
    tree = PARSER.parse(text.encode("utf-8"))
    return {n.text.decode().lower() for n in _walk(tree.root_node) if n.type == "command_name"}


def _all_definitions() -> dict[str, list[str]]:
    where = defaultdict(list)
    for path in sorted(SCRIPTS.rglob("*.ps1")):
        for name in _defined(path.read_text(encoding="utf-8")):
            where[name].append(str(path.relative_to(SCRIPTS)))
    return where


def test_every_function_in_scripts_is_defined_exactly_once():
    where = _all_definitions()
    assert len(where) > 30, "the function scan found too little: is the parser still working?"
    twice = {name: files for name, files in where.items() if len(files) > 1}
    assert twice == {}, "define each function once (in scripts/lib/<area>.ps1 when drivers share it)"


def test_the_duplicate_check_has_teeth():
    assert _defined("function A-B { 1 }\nfunction a-b { 2 }\n") == ["a-b", "a-b"]


def test_op_libs_covers_every_driver_and_every_library():
    areas = {op.split(".", 1)[0] for op in DRIVERS}
    assert sorted(areas) == sorted(bootstrap.OP_LIBS), "OP_LIBS must list exactly the areas that have drivers"
    used = {lib for libs in bootstrap.OP_LIBS.values() for lib in libs}
    assert sorted(used) == LIBS, "every scripts/lib/*.ps1 (but common.ps1) is in OP_LIBS, and only those"
    for area, libs in bootstrap.OP_LIBS.items():
        assert len(set(libs)) == len(libs), area
        if area in LIBS:
            assert area in libs, f"area {area} has scripts/lib/{area}.ps1 but does not get it"


@pytest.mark.parametrize("op", DRIVERS)
def test_every_function_a_driver_calls_is_in_its_payload(op):
    """The payload of an op holds every project function it (or one of its libraries) calls."""
    where = _all_definitions()
    script = bootstrap.compose_script(op)
    missing = sorted(name for name in _called(script) & set(where) if name not in _defined(script))
    assert missing == [], f"{op} calls {missing}: add their library to OP_LIBS[{op.split('.')[0]!r}]"


@pytest.mark.parametrize("op", DRIVERS)
def test_payload_is_libs_then_common_then_driver(op):
    script = bootstrap.compose_script(op)
    assert script == bootstrap.op_script(op)
    files = bootstrap.op_files(op)
    assert files[-2:] == [LIB / "common.ps1", SCRIPTS / "ops" / f"{op}.ps1"]
    assert script == "\n".join(p.read_text(encoding="utf-8") for p in files)
    assert not PARSER.parse(script.encode("utf-8")).root_node.has_error
    before, driver = script.split(bootstrap.COMMON_MARKER)
    assert driver == "\n\n" + (SCRIPTS / "ops" / f"{op}.ps1").read_text(encoding="utf-8")  # marker line, "\n", driver


@pytest.mark.parametrize("lib", LIBS)
def test_a_library_only_defines_functions(lib):
    text = (LIB / f"{lib}.ps1").read_text(encoding="utf-8")
    assert bootstrap.COMMON_MARKER not in text
    tree = PARSER.parse(text.encode("utf-8"))
    assert not tree.root_node.has_error
    top = [n for n in tree.root_node.children if n.type != "comment"]
    assert [n.type for n in top] == ["statement_list"], lib
    kinds = {n.type for n in top[0].children if n.type != "comment"}
    assert kinds == {"function_statement"}, f"{lib}.ps1 must only define functions (no code runs on load)"
    assert text.startswith(f"# winfleet library (scripts/lib/{lib}.ps1): ")


def test_unknown_area_is_refused():
    with pytest.raises(ValueError):
        bootstrap.op_files("nosuch.read")

"""The bootstrap and the driver/handler pairing it relies on."""
from __future__ import annotations

import base64
from pathlib import Path

import tree_sitter_powershell as tsps
from tree_sitter import Language, Parser

from components.winrm import bootstrap
from tests.emulator.ops import handlers

PARSER = Parser(Language(tsps.language()))
OPS = Path(bootstrap.SCRIPTS_DIR) / "ops"


def test_bootstrap_parses_and_is_what_the_command_line_encodes():
    assert not PARSER.parse(bootstrap.BOOTSTRAP.encode()).root_node.has_error
    encoded = bootstrap.COMMAND_LINE.rsplit(" ", 1)[1]
    assert base64.b64decode(encoded).decode("utf-16-le") == bootstrap.BOOTSTRAP
    assert bootstrap.COMMAND_LINE.startswith("powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass ")
    assert len(bootstrap.COMMAND_LINE) < 8191
    for needed in ("$ErrorActionPreference = 'Stop'", "$ProgressPreference = 'SilentlyContinue'",
                   "ConvertTo-Json -InputObject $wfDoc -Depth 20 -Compress", "`0`0`0`0", bootstrap.COMMON_MARKER):
        assert needed in bootstrap.BOOTSTRAP


def test_common_ps1_ends_with_the_marker_and_defines_the_helpers():
    common = (Path(bootstrap.SCRIPTS_DIR) / "lib" / "common.ps1").read_text()
    assert common.rstrip().endswith(bootstrap.COMMON_MARKER)
    assert common.count(bootstrap.COMMON_MARKER) == 1
    for fn in ("Fail", "Write-Journal", "Clear-Journal", "Read-Journal", "Get-RegistryValue"):
        assert f"function {fn} " in common


def _first_statement(tree):
    """The first non-comment node of the script (the param block must come first)."""
    for child in tree.root_node.children:
        if child.type != "comment":
            return child
    return None


def test_every_driver_has_a_handler_starts_with_param_and_lacks_the_marker():
    drivers = sorted(p.stem for p in OPS.glob("*.ps1"))
    registered = handlers()
    assert "journal.read" in drivers
    assert sorted(set(drivers) - set(registered)) == [], "drivers without an emulator handler"
    assert sorted(set(registered) - set(drivers)) == [], "handlers without a driver"
    for name in drivers:
        text = (OPS / f"{name}.ps1").read_text()
        assert bootstrap.COMMON_MARKER not in text, name
        first = _first_statement(PARSER.parse(text.encode()))
        assert first is not None and first.text.decode().lstrip().lower().startswith("param"), name


def test_documented_command_line_size_is_the_real_one():
    """The docs say "~N.N KB" for the bootstrap command line: computed here, so it cannot go stale."""
    import re
    size = f"~{len(bootstrap.COMMAND_LINE) / 1000:.1f} KB"
    root = Path(bootstrap.__file__).resolve().parents[2]
    for text, where in ((bootstrap.__doc__, "bootstrap.py"),
                        ((root / "components/winrm/README.md").read_text(), "components/winrm/README.md"),
                        ((root / "docs/CONTRACTS.md").read_text(), "docs/CONTRACTS.md")):
        stated = re.findall(r"~(\d+\.\d) KB", text)
        assert stated, where
        assert all(f"~{s} KB" == size for s in stated), (where, stated, size)

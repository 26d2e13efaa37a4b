"""winfleet's own registry keys (HKLM\\SOFTWARE\\winfleet\\{Journal,Directories,LogonRights}) are changed under one lock.

The keys exist only while they hold something: whoever removes the last value also removes the key
(``Remove-EmptyWinfleetKey``). The registry has no "delete if empty" (RegDeleteKey deletes a key with its
values), and ops on one host run concurrently, so every function that reads or changes these keys either
holds the host-wide mutex (``Enter-WinfleetRegistryLock`` ... ``finally { Exit-WinfleetRegistryLock``) or is
a helper that is only ever called by such a function. We cannot run PowerShell here: this is the static
half of that guarantee (the behaviour is tested against the emulator in tests/transport/test_journal_keys.py
and on Windows by tests/scripts/pester/Journal.Tests.ps1).
"""
from __future__ import annotations

import re
from pathlib import Path

from components.winrm import bootstrap
from tests.scripts.test_script_libs import PARSER, _walk

SCRIPTS = Path(bootstrap.SCRIPTS_DIR)
# helpers that assume the caller holds the lock
UNDER_LOCK = {"set-winfleetvalue", "remove-emptywinfleetkey", "get-createddirskey"}
TOUCHES_KEYS = re.compile(r"SOFTWARE\\winfleet", re.IGNORECASE)


def functions() -> dict[str, tuple[str, str, set[str]]]:
    """lower-case name -> (file, function code without comments, lower-case names of the commands it calls)."""
    out = {}
    for path in sorted(SCRIPTS.rglob("*.ps1")):
        tree = PARSER.parse(path.read_bytes())
        for node in _walk(tree.root_node):
            if node.type != "function_statement":
                continue
            name = next(c.text.decode().lower() for c in node.children if c.type == "function_name")
            calls = {n.text.decode().lower() for n in _walk(node) if n.type == "command_name"}
            code = bytearray(node.text)                   # the function without its comments
            for c in reversed([n for n in _walk(node) if n.type == "comment"]):
                code[c.start_byte - node.start_byte:c.end_byte - node.start_byte] = b""
            out[name] = (str(path.relative_to(SCRIPTS)), code.decode("utf-8"), calls)
    return out


def locked(text: str) -> bool:
    enters = len(re.findall(r"=\s*Enter-WinfleetRegistryLock\b", text))
    exits = len(re.findall(r"finally\s*\{\s*Exit-WinfleetRegistryLock\b", text))
    return enters >= 1 and enters == exits


def test_the_lock_helpers_exist_once_in_common():
    fns = functions()
    for name in ("enter-winfleetregistrylock", "exit-winfleetregistrylock", *UNDER_LOCK):
        assert name in fns, name
    assert {fns[n][0] for n in ("enter-winfleetregistrylock", "set-winfleetvalue", "remove-emptywinfleetkey")} == {
        "lib/common.ps1"}
    enter = fns["enter-winfleetregistrylock"][1]
    assert "'Global\\winfleet-registry'" in enter and "AbandonedMutexException" in enter


def test_every_function_touching_winfleet_keys_holds_the_lock_or_is_only_called_under_it():
    fns = functions()
    touching = {n for n, (_f, text, calls) in fns.items()
                if TOUCHES_KEYS.search(text) or calls & UNDER_LOCK}
    assert {"write-journal", "clear-journal", "read-journal", "new-owneddirectory", "test-owneddirectory",
            "remove-owneddirectoryrecord", "remove-emptywinfleetkey", "get-createddirskey"} <= touching
    for name in sorted(touching - UNDER_LOCK):
        assert locked(fns[name][1]), f"{name} ({fns[name][0]}) touches HKLM\\SOFTWARE\\winfleet without the lock"
    for helper in sorted(UNDER_LOCK):
        callers = {n for n, (_f, _t, calls) in fns.items() if helper in calls}
        assert callers, helper
        bad = {c for c in callers if c not in UNDER_LOCK and not locked(fns[c][1])}
        assert bad == set(), f"{helper} is called without the lock by {sorted(bad)}"


def test_winfleet_keys_are_never_deleted_recursively():
    for name, (file, text, _calls) in functions().items():
        if TOUCHES_KEYS.search(text) or name in UNDER_LOCK or _calls & UNDER_LOCK:
            assert not re.search(r"DeleteSubKeyTree|Remove-Item\b", text, re.IGNORECASE), (name, file)
    helper = functions()["remove-emptywinfleetkey"][1]
    assert "ValueCount -eq 0 -and $k.SubKeyCount -eq 0" in helper


def test_the_check_has_teeth():
    assert locked("function F { $l = Enter-WinfleetRegistryLock\n try { 1 } finally { Exit-WinfleetRegistryLock -Mutex $l } }")
    assert not locked("function F { $l = Enter-WinfleetRegistryLock\n 1\n Exit-WinfleetRegistryLock -Mutex $l }")
    assert not locked("function F { Set-WinfleetValue -Sub 'Journal' -Name a -Data b }")


def test_the_bootstrap_journal_goes_through_the_locked_functions():
    assert "Write-Journal -Key" in bootstrap.BOOTSTRAP and "Clear-Journal -Key" in bootstrap.BOOTSTRAP
    assert "Read-Journal -Keys" in bootstrap.BOOTSTRAP
    assert "winfleet\\Journal" not in bootstrap.BOOTSTRAP

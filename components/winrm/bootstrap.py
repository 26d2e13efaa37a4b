"""The fixed PowerShell bootstrap and the stdin payload (docs/CONTRACTS.md, "Host ops").

The command line is always ``COMMAND_LINE`` (~6.9 KB, far below cmd.exe's 8,191 characters):
``powershell.exe ... -EncodedCommand <BOOTSTRAP as UTF-16LE base64>``. Everything else — the
script text and the op's JSON envelope — travels over stdin:

    <scripts/lib/<lib>.ps1 for each lib in OP_LIBS[<area>]>\n...<scripts/lib/common.ps1>\n<scripts/ops/<op>.ps1>
    \0\0\0\0 {"op":..,"params":..,"journal":..}

User data appears only inside the JSON envelope, never in script text or on the command line.
The envelope's ``journal`` is applied around the driver in this order: ``read`` (the entries as they
were before this op and the host's MachineGuid: ``"journal": {"entries": .., "machineGuid": ..}`` next
to ``result`` in the output), ``write``, ``update``'s check + ``hold``, the driver, then (only if the
driver succeeded) ``clear`` and ``update``'s ``release``. ``update`` is a delta merged into the entry
as it is on the host at that moment, under the host-wide mutex (common.ps1 ``Update-Journal``).
Stdin is decoded by powershell.exe with the console input code page, which the executor's shell sets to
65001 (``WINRS_CODEPAGE``); setting ``[Console]::InputEncoding`` inside the script changes nothing for
``$input``, whose reader the host created before the script ran, so the bootstrap does not try. Neither
the payload nor the envelope ever passes through a cmdlet: Module Logging (event 4103) records every
parameter and pipeline binding of logged modules' commands, so ``$input | Out-String`` or
``ConvertFrom-Json -InputObject`` would write the envelope (passwords, signed URLs) to the event log. The
payload is joined in a ``foreach`` statement and the envelope parsed with the static method that
``ConvertFrom-Json`` itself calls in Windows PowerShell 5.1 (``Microsoft.PowerShell.Commands.JsonObject.
ConvertFromJson``, PowerShell/PowerShell src/Microsoft.PowerShell.Commands.Utility/commands/utility/
WebCmdlet/JsonObject.cs; its assembly is loaded by the ``New-Object`` calls before it, or else by an
``Import-Module Microsoft.PowerShell.Utility``): same objects (PSCustomObject), and a .NET method call is
not a command, so it is not module-logged (about_Logging_Windows: module logging records "pipeline
execution events").
The bootstrap dot-sources the part of the script above ``COMMON_MARKER`` (the area libraries and
common.ps1, which ends with the marker, so their functions are visible to the driver) and runs
the rest (the driver, ``param($P)``) as a child script block with the envelope's ``params``.

``OP_LIBS`` is the one place that says which libraries an op gets; ``compose_script`` is the one
function that builds the script part (the executor, the emulator's byte-for-byte check and the
Pester tests' ``Invoke-Driver`` all use it: ``python components/winrm/bootstrap.py --write-scripts DIR``).
"""
from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path

# The PowerShell drivers: ``scripts/`` in the repository; ``winfleet/drivers/`` in an installed wheel
# (pyproject.toml maps the ``winfleet`` package to ``components/`` and ``winfleet.drivers`` to ``scripts/``).
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = (_PACKAGE_DIR / "drivers" if (_PACKAGE_DIR / "drivers" / "ops").is_dir()
               else _PACKAGE_DIR.parent / "scripts")
SEPARATOR = b"\0\0\0\0"
COMMON_MARKER = "#winfleet:end-of-common"
# A stderr line starting with this is a progress report (Send-WinfleetProgress in common.ps1):
# "#winfleet:progress {"step": .., "message": ..}"; the executor passes them to run_op's progress callback.
PROGRESS_PREFIX = "#winfleet:progress "
OP_NAME = re.compile(r"[a-z][a-z0-9]*(\.[a-z][a-zA-Z0-9-]*)+")

BOOTSTRAP = r"""$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { $null = $_ }
$wfIn = New-Object System.Text.StringBuilder
foreach ($wfLine in $input) { $null = $wfIn.AppendLine([string]$wfLine) }
$wfRaw = $wfIn.ToString()
$wfExit = 1
try {
    $wfParts = $wfRaw.Split([string[]]@("`0`0`0`0"), 2, [StringSplitOptions]::None)
    if ($wfParts.Length -ne 2) { throw 'winfleet bootstrap: the payload has no JSON envelope' }
    $wfScripts = $wfParts[0].Split([string[]]@('#winfleet:end-of-common'), 2, [StringSplitOptions]::None)
    if ($wfScripts.Length -ne 2) { throw 'winfleet bootstrap: the payload has no common.ps1 marker' }
    if (-not ('Microsoft.PowerShell.Commands.JsonObject' -as [type])) { Import-Module Microsoft.PowerShell.Utility }
    $wfJsonError = $null
    $wfEnvelope = [Microsoft.PowerShell.Commands.JsonObject]::ConvertFromJson($wfParts[1], [ref]$wfJsonError)
    if ($null -ne $wfJsonError) { throw $wfJsonError.Exception }
    . ([ScriptBlock]::Create($wfScripts[0]))
    $wfJournal = $wfEnvelope.journal
    $wfRead = $null
    if ($null -ne $wfJournal -and $null -ne $wfJournal.read) {
        $wfRead = @{ entries = (Read-Journal -Keys ([string[]]@($wfJournal.read))); machineGuid = (Get-MachineGuid) }
    }
    if ($null -ne $wfJournal -and $null -ne $wfJournal.write) {
        Write-Journal -Key $wfJournal.write.key -Json (ConvertTo-Json -InputObject $wfJournal.write.value -Depth 20 -Compress)
    }
    if ($null -ne $wfJournal -and $null -ne $wfJournal.update) { Update-Journal -Update $wfJournal.update -Phase 'before' }
    $wfOut = @(& ([ScriptBlock]::Create($wfScripts[1])) $wfEnvelope.params)
    if ($wfOut.Count -lt 1) { throw "winfleet bootstrap: op $($wfEnvelope.op) returned nothing" }
    if ($null -ne $wfJournal -and $null -ne $wfJournal.clear) { Clear-Journal -Key $wfJournal.clear }
    if ($null -ne $wfJournal -and $null -ne $wfJournal.update) { Update-Journal -Update $wfJournal.update -Phase 'after' }
    $wfDoc = @{ ok = $true; result = $wfOut[-1] }
    if ($null -ne $wfRead) { $wfDoc['journal'] = $wfRead }
    $wfExit = 0
} catch {
    $wfCode = 'UNHANDLED'
    if ($null -ne $_.Exception.Data -and $_.Exception.Data.Contains('WinfleetCode')) {
        $wfCode = [string]$_.Exception.Data['WinfleetCode']
    }
    $wfDoc = @{ ok = $false; error = @{ code = $wfCode; message = $_.Exception.Message } }
}
[Console]::Out.Write((ConvertTo-Json -InputObject $wfDoc -Depth 20 -Compress))
exit $wfExit
"""

ENCODED_COMMAND = base64.b64encode(BOOTSTRAP.encode("utf-16-le")).decode("ascii")
COMMAND_LINE = ("powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass "
                f"-EncodedCommand {ENCODED_COMMAND}")


# Op area (the <area> of <area>.<verb>) -> the libraries scripts/lib/<lib>.ps1 its drivers get, in
# payload order, before common.ps1. Every area with a driver must be listed (a test checks it): an
# op gets exactly the function libraries it needs, and a function lives in exactly one file.
OP_LIBS: dict[str, tuple[str, ...]] = {
    "baseline": ("scm",),
    "dumps": ("registry", "dirs", "dumps"),
    "eventlog": ("eventlog",),
    "host": (),
    "journal": (),
    "port": ("port",),
    "quota": ("quota",),
    "service": ("registry", "dirs", "scm", "service", "events"),
    "task": ("task",),
    "volume": ("volume",),
}


def _read_text(path: Path) -> str:
    text = path.read_bytes().decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def op_files(op: str) -> list[Path]:
    """The files whose texts, joined by "\n", are the script part of ``op``'s payload, in order:
    scripts/lib/<lib>.ps1 for each lib in ``OP_LIBS[<area>]``, scripts/lib/common.ps1 (ending with
    ``COMMON_MARKER``), scripts/ops/<op>.ps1."""
    if not isinstance(op, str) or not OP_NAME.fullmatch(op):
        raise ValueError(f"invalid op name {op!r} (expected <area>.<verb>)")
    path = SCRIPTS_DIR / "ops" / f"{op}.ps1"
    if not path.is_file():
        raise ValueError(f"op {op!r} has no driver script scripts/ops/{op}.ps1")
    area = op.split(".", 1)[0]
    if area not in OP_LIBS:
        raise ValueError(f"op area {area!r} is not in components/winrm/bootstrap.py OP_LIBS")
    lib = SCRIPTS_DIR / "lib"
    return [lib / f"{name}.ps1" for name in OP_LIBS[area]] + [lib / "common.ps1", path]


def compose_script(op: str) -> str:
    """The script part of ``op``'s payload, read from disk now (the emulator checks payloads against it)."""
    return "\n".join(_read_text(p) for p in op_files(op))


@functools.lru_cache(maxsize=None)
def op_script(op: str) -> str:
    """``compose_script(op)``, cached for the life of the process (what the executor sends)."""
    return compose_script(op)


def envelope_json(op: str, params: dict, journal: dict | None) -> str:
    if not isinstance(params, dict):
        raise ValueError("op params must be a dict")
    if journal is not None:
        if not isinstance(journal, dict) or not set(journal) <= {"read", "write", "clear", "update"}:
            raise ValueError('journal must be {"read": [k]}, {"write": {"key": k, "value": v}}, {"clear": k} '
                             'and/or {"update": {"key", "holder", "expect", "hold", "release", "releaseOther"}}')
        u = journal.get("update")
        if u is not None:
            _check_update(u)
        r = journal.get("read")
        if r is not None and (not isinstance(r, list) or not all(isinstance(k, str) for k in r)):
            raise ValueError("journal.read must be a list of keys (str)")
        w = journal.get("write")
        if w is not None and (not isinstance(w, dict) or set(w) != {"key", "value"} or not isinstance(w["key"], str)):
            raise ValueError('journal.write must be {"key": str, "value": JSON}')
        if journal.get("clear") is not None and not isinstance(journal["clear"], str):
            raise ValueError("journal.clear must be a key (str)")
    return json.dumps({"op": op, "params": params, "journal": journal},
                      ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _check_update(u) -> None:
    """The ``update`` delta (docs/CONTRACTS.md): ``key``/``holder`` (str), ``expect`` {item: [holder]},
    ``hold`` {item: {"prior": JSON, "claim": JSON}}, ``release`` [item], ``releaseOther`` {holder: [item]}."""
    if not isinstance(u, dict) or not set(u) <= {"key", "holder", "expect", "hold", "release", "releaseOther"}:
        raise ValueError("journal.update has unknown members")
    if not isinstance(u.get("key"), str) or not isinstance(u.get("holder"), str) or not u["holder"]:
        raise ValueError("journal.update needs key and holder (str)")

    def names(v):
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    if not isinstance(u.get("expect", {}), dict) or not all(names(v) for v in u.get("expect", {}).values()):
        raise ValueError("journal.update.expect must be {item: [holder]}")
    hold = u.get("hold", {})
    if not isinstance(hold, dict) or not all(isinstance(r, dict) and set(r) <= {"prior", "claim"} for r in hold.values()):
        raise ValueError('journal.update.hold must be {item: {"prior": .., "claim": ..}}')
    if not names(u.get("release", [])):
        raise ValueError("journal.update.release must be a list of items")
    other = u.get("releaseOther", {})
    if not isinstance(other, dict) or not all(names(v) for v in other.values()):
        raise ValueError("journal.update.releaseOther must be {holder: [item]}")


def build_payload(op: str, params: dict, journal: dict | None = None) -> bytes:
    """The full stdin payload (UTF-8, no BOM)."""
    return op_script(op).encode("utf-8") + SEPARATOR + envelope_json(op, params, journal).encode("utf-8")


def write_scripts(directory: str) -> list[str]:
    """Write ``compose_script(op)`` of every driver to ``<directory>/<op>.ps1`` (UTF-8, no BOM)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ops = sorted(p.stem for p in (SCRIPTS_DIR / "ops").glob("*.ps1"))
    for op in ops:
        (out / f"{op}.ps1").write_bytes(compose_script(op).encode("utf-8"))
    return ops


if __name__ == "__main__":  # used by tests/scripts/pester/_HostDriverHelpers.ps1 (stdlib only, no imports)
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "--write-scripts":
        sys.exit("usage: python components/winrm/bootstrap.py --write-scripts DIR")
    write_scripts(sys.argv[2])

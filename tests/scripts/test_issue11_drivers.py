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


# --- item 4: $null passed to a .NET string parameter arrives as "" -------------------------------------
import re  # noqa: E402

_CS_METHOD = re.compile(r"public static \w+ (\w+)\(([^)]*)\)")
_PS_CALL = re.compile(r"\[(\w+)\]::(\w+)\(([^()]*)\)")


def null_into_string_params(ps_text: str) -> list[str]:
    """Calls of the script's own C# types ([T]::Method(args)) that pass a variable the script sets to $null
    into a parameter declared `string`: PowerShell converts $null to "" there (PowerShell/PowerShell#4616),
    so the API never sees NULL. Such parameters must be `object` (passed through as null) instead."""
    sigs = {m.group(1): [p.strip().rsplit(" ", 1)[0] for p in m.group(2).split(",") if p.strip()]
            for m in _CS_METHOD.finditer(ps_text)}
    nullable = set(re.findall(r"\$(\w+) = \$null\b", ps_text, re.I))
    bad = []
    for m in _PS_CALL.finditer(ps_text):
        types = sigs.get(m.group(2))
        if types is None:
            continue
        for n, arg in enumerate(a.strip() for a in m.group(3).split(",")):
            v = re.fullmatch(r"\$(\w+)", arg)
            if v and v.group(1) in nullable and n < len(types) and types[n] == "string":
                bad.append(f"{m.group(2)} argument {n + 1} (${v.group(1)})")
    return bad


def test_no_null_reaches_a_dotnet_string_parameter_of_the_scm_wrapper():
    src = _text(OPS / "service.apply.ps1")
    assert "public static void Config(" in src and "[WinfleetScm]::Config(" in src    # the check sees the calls
    assert null_into_string_params(src) == []


def test_the_null_check_has_teeth():
    bad = ("public static void Config(string name, string path) { }\n"
           "$image = $null\nif ($x) { $image = 'a' }\n[T]::Config($name, $image)\n")
    assert null_into_string_params(bad) == ["Config argument 2 ($image)"]
    assert null_into_string_params(bad.replace("string path", "object path")) == []


# --- item 8: failure actions through ChangeServiceConfig2, not an sc.exe token string --------------------
def test_failure_actions_go_through_changeserviceconfig2_level_2():
    src = _text(OPS / "service.apply.ps1")
    assert not re.search(r"sc(\.exe)?\s+failure", src, re.I), "sc.exe failure: a 'none' action has no documented token"
    m = re.search(r"struct FailureActions \{([^}]*)\}", src)
    assert m, "the SERVICE_FAILURE_ACTIONSW struct"
    fields = [f.strip().split()[-1] for f in m.group(1).split(";") if f.strip()]
    types = [f.strip().split()[-2] for f in m.group(1).split(";") if f.strip()]
    # member order and widths of SERVICE_FAILURE_ACTIONSW: DWORD, LPWSTR, LPWSTR, DWORD, SC_ACTION*
    assert fields == ["ResetPeriod", "RebootMsg", "Command", "Count", "Actions"]
    assert types == ["uint", "IntPtr", "IntPtr", "uint", "IntPtr"]
    assert "Config2(name, 2, info)" in src                       # SERVICE_CONFIG_FAILURE_ACTIONS = 2
    assert "Math.Max(1, types.Length)" in src                   # never a NULL array: 0 actions must delete
    assert "SeShutdownPrivilege" in src                          # a reboot action needs SE_SHUTDOWN_NAME
    assert "[WinfleetScm]::SetFailureActions(" in src


# --- item 11: wildcard -Name on *-ItemProperty; snapshots compared as JSON text -------------------------
from tests.scripts.ps_ast import command_name, commands, walk  # noqa: E402

LIBS = [ROOT / "scripts" / "lib" / f"{n}.ps1" for n in ("registry", "common", "dumps", "service", "scm")]


def wildcard_names(text: str) -> list[str]:
    """*-ItemProperty calls whose -Name is not a single-quoted literal: -Name takes wildcards
    (Remove-ItemProperty docs: "Wildcard characters are permitted"), so a value named '*' matches all."""
    bad = []
    for cmd in commands(parse(text)):
        name = command_name(cmd).lower()
        if not name.endswith("-itemproperty"):
            continue
        elems = [c for e in cmd.children if e.type == "command_elements" for c in e.children
                 if c.type != "command_argument_sep"]
        for k, e in enumerate(elems):
            if e.type == "command_parameter" and e.text.decode().lower() == "-name":
                arg = elems[k + 1].text.decode() if k + 1 < len(elems) else ""
                if not (arg.startswith("'") and "*" not in arg and "[" not in arg and "?" not in arg):
                    bad.append(f"{command_name(cmd)} -Name {arg}")
    return bad


def json_text_compares(text: str) -> list[str]:
    """`(ConvertTo-Json $a) -ne (ConvertTo-Json $b)`: hashtable key order is not stable, so equal
    snapshots can compare unequal."""
    return [n.text.decode()[:60] for n in walk(parse(text)) if n.type == "comparison_expression"
            and any(c.type == "comparison_operator" for c in n.children)
            and n.text.decode().lower().count("convertto-json") >= 2]


@pytest.mark.parametrize("path", MINE + LIBS, ids=[p.name for p in MINE + LIBS])
def test_no_wildcard_value_names_and_no_json_text_compares(path):
    text = _text(path)
    assert wildcard_names(text) == [] and json_text_compares(text) == []


def test_the_registry_checks_have_teeth():
    old = ("foreach ($n in @($before.Keys)) { if ($names -notcontains $n) { Remove-ItemProperty -LiteralPath $path -Name $n } }\n"
           "return ((ConvertTo-Json $before -Depth 5 -Compress) -ne (ConvertTo-Json $after -Depth 5 -Compress))\n")
    assert wildcard_names(old) == ["Remove-ItemProperty -Name $n"]
    assert len(json_text_compares(old)) == 1
    assert wildcard_names("Remove-ItemProperty -LiteralPath $p -Name 'Environment'\n") == []


# --- item 16 (+ 11: the input-encoding line): the envelope never passes through a cmdlet --------------
from components.winrm import bootstrap  # noqa: E402

# the driver itself is a script block, not a module's command: its invocation is not module-logged
DRIVER_CALL = "& ([ScriptBlock]::Create($wfScripts[1]))"
PAYLOAD_VARS = ("$input", "$wfraw", "$wfparts", "$wfin", "$wfline", "$wfenvelope")


def payload_into_cmdlets(ps_text: str) -> list[str]:
    """Commands (cmdlets, functions, natives) that receive the raw payload or the envelope as an argument or
    as pipeline input. Module Logging (event 4103) records each command's parameter and pipeline bindings
    ("ParameterBinding(Out-String): name=InputObject; value=..."), i.e. the passwords and signed URLs in
    the envelope (learn.microsoft.com/powershell/module/microsoft.powershell.core/about/about_logging_windows)."""
    bad = []
    for n in walk(parse(ps_text)):
        if n.type in ("pipeline", "pipeline_chain"):
            parts = [c for c in n.children if c.text.decode().strip() != "|"]
            if len(parts) >= 2 and any(v in parts[0].text.decode().lower() for v in PAYLOAD_VARS):
                bad.append(parts[1].text.decode()[:60])
        if n.type == "command" and not n.text.decode().startswith(DRIVER_CALL):
            args = " ".join(c.text.decode().lower() for c in n.children if c.type == "command_elements")
            if any(v in args for v in PAYLOAD_VARS):
                bad.append(n.text.decode()[:60])
    return sorted(set(bad))


def test_the_envelope_is_never_bound_to_a_cmdlet():
    assert payload_into_cmdlets(bootstrap.BOOTSTRAP) == []
    assert "[Microsoft.PowerShell.Commands.JsonObject]::ConvertFromJson($wfParts[1], [ref]$wfJsonError)" in bootstrap.BOOTSTRAP
    assert "ConvertFrom-Json" not in bootstrap.BOOTSTRAP and "Out-String" not in bootstrap.BOOTSTRAP


def test_the_bootstrap_leaves_the_input_encoding_to_the_code_page():
    # [Console]::InputEncoding set inside the script does not affect $input (its reader exists already);
    # stdin is UTF-8 because the shell runs with code page 65001 (the executor's WINRS_CODEPAGE)
    assert "InputEncoding" not in bootstrap.BOOTSTRAP
    from components.winrm import executor
    assert "65001" in Path(executor.__file__).read_text(encoding="utf-8")


def test_the_envelope_check_has_teeth():
    old = ("$wfRaw = $input | Out-String\n$wfParts = $wfRaw.Split('x')\n"
           "$wfEnvelope = ConvertFrom-Json -InputObject $wfParts[1]\n")
    assert len(payload_into_cmdlets(old)) == 2
    assert payload_into_cmdlets("foreach ($wfLine in $input) { $null = $wfIn.AppendLine([string]$wfLine) }\n") == []


# --- items 10 + 11: pending states and the image held after SERVICE_STOPPED --------------------------------
def _function(text: str, name: str) -> str:
    for n in walk(parse(text)):
        if n.type == "function_statement" and any(c.type == "function_name" and c.text.decode() == name
                                                  for c in n.children):
            return n.text.decode()
    raise AssertionError(f"no function {name}")


def test_stop_and_start_respect_pending_states_and_wait_for_the_process():
    src = _text(OPS / "service.apply.ps1")
    stop, start = _function(src, "Stop-OurService"), _function(src, "Start-OurService")
    # a pending start is waited out before a stop (1061), a pending stop is not stopped again
    assert stop.index("'StartPending'") < stop.index("$s.Stop()") and "-ne 'StopPending'" in stop
    # the stop waits for Stopped, then for the process that still maps the exe
    assert stop.index("-Status 'Stopped'") < stop.index("Wait-ProcessExit")
    assert stop.index("[WinfleetScm]::ProcessId(") < stop.index("$s.Stop()")
    # a start waits out a pending stop (1056) before StartService
    assert start.index("'StopPending'") < start.index("$s.Start()")
    assert "WaitForExit(" in _function(src, "Wait-ProcessExit")


# --- item 3: the binary is downloaded where it will live, not moved in from %TEMP% ------------------------
def test_the_download_lands_in_the_install_directory():
    src = _text(OPS / "service.apply.ps1")
    step = src[src.index("        'download' {"):src.index("        'create' {")]
    assert "GetTempPath" not in step and "$env:TEMP" not in step.upper().replace("$ENV:TEMP", "$env:TEMP")
    assert "$ctx.tempFile = $target + '.winfleet-download'" in step
    assert "Invoke-WebRequest" not in step            # module-logged: its -Uri is a signed URL
    assert "DownloadFile(" in step


# --- item 5: SeServiceLogonRight through LSA ----------------------------------------------------------------
def test_log_on_as_a_service_goes_through_lsa_with_the_documented_structs():
    lib = _text(ROOT / "scripts" / "lib" / "service.ps1")
    # LSA_UNICODE_STRING: USHORT Length (bytes, no NUL), USHORT MaximumLength, PWSTR Buffer
    assert "struct LsaString { public ushort Length; public ushort MaximumLength; public IntPtr Buffer; }" in lib
    assert "0xC0000034" in lib            # STATUS_OBJECT_NAME_NOT_FOUND: the account holds no right at all
    assert "LsaAddAccountRights" in lib and "LsaRemoveAccountRights(policy, Sid(account), false" in lib
    assert "one[0].Length = (ushort)(right.Length * 2)" in lib
    apply = _text(OPS / "service.apply.ps1")
    step = apply[apply.index("        'logonRight' {"):apply.index("        'removeFile' {")]
    assert "[WinfleetLsa]::Held(" in step and "[WinfleetLsa]::Set(" in step

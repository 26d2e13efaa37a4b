"""The PowerShell lint (tests/scripts/pslint.py): every rule flags its bad snippet and passes its good one, and
the real scripts are clean.

The bad snippets are the shapes the drivers really had (issue 11): the fixed code must not come back.
Linted: every .ps1 under scripts/ (what runs on hosts), the Windows workflow's tests/scripts/ci/*.ps1 and the Pester helper library
tests/scripts/pester/_HostDriverHelpers.ps1. The *.Tests.ps1 files are not: they only run on the Windows
runner and clean up the temp folders and keys they created themselves.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.scripts import pslint

ROOT = Path(__file__).resolve().parents[2]
LINTED = (sorted((ROOT / "scripts").rglob("*.ps1")) + sorted((ROOT / "tests" / "scripts" / "ci").glob("*.ps1"))
          + [ROOT / "tests" / "scripts" / "pester" / "_HostDriverHelpers.ps1"])

# rule -> (bad snippet, good snippet)
CASES = {
    "shadowed-name": (
        # dumps.apply.ps1 before the fix: $p is $P
        "param($P)\nforeach ($step in @($P.steps)) {\n    $p = [string]$step.path\n}\n",
        "param($P)\nforeach ($step in @($P.steps)) {\n    $folder = [string]$step.path\n}\n"),
    "null-to-dotnet": (
        "$image = $null\nif ($x) { $image = 'a' }\n[Scm]::ChangeConfig($name, $image)\n",
        "$image = [NullString]::Value\nif ($x) { $image = 'a' }\n[Scm]::ChangeConfig($name, $image)\n"),
    "registry-provider-path": (
        # eventlog.ps1 before the fix: a channel name with '/' through the registry provider
        "$key = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WINEVT\\Channels\\' + $logName\n"
        "$size = Get-RegistryValue -Path $key -Name 'MaxSize'\n",
        "$key = 'SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WINEVT\\Channels\\' + $logName\n"
        "$k = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($key)\n"),
    "get-acl-set-acl": (
        "$acl = Get-Acl -LiteralPath $Path\n$acl.SetAccessRule($rule)\nSet-Acl -LiteralPath $Path -AclObject $acl\n",
        "$dir = Get-Item -LiteralPath $Path\n$acl = $dir.GetAccessControl('Access')\n$acl.SetAccessRule($rule)\n"
        "$dir.SetAccessControl($acl)\n"),
    "itemproperty-name": (
        "Remove-ItemProperty -LiteralPath 'HKLM:\\SOFTWARE\\x' -Name $n\n",
        "Remove-ItemProperty -LiteralPath 'HKLM:\\SOFTWARE\\x' -Name 'Fixed'\n"),
    "json-depth": (
        "$a = ConvertTo-Json $before -Compress\n",
        "$a = ConvertTo-Json $before -Depth 5 -Compress\n"),
    "native-exit-code": (
        "$null = & sc.exe failure $name reset= 0 actions= ''\nWrite-Output 'done'\n",
        "$null = & sc.exe failure $name reset= 0 actions= ''\nif ($LASTEXITCODE -ne 0) { Fail 'X' 'sc.exe failed' }\n"),
    "recursive-delete": (
        # dirs.ps1 before the fix
        "if (Test-Path -LiteralPath $Path -PathType Container) {\n    Remove-Item -LiteralPath $Path -Recurse -Force\n}\n",
        "if (Test-Path -LiteralPath $Path -PathType Container) {\n    Remove-TreeNoFollow -Path $Path\n}\n"),
}


def test_every_rule_has_a_case():
    assert sorted(CASES) == sorted(pslint.RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_flags_the_bad_snippet(rule):
    bad, _good = CASES[rule]
    assert not pslint.PARSER.parse(bad.encode()).root_node.has_error
    found = pslint.lint(bad)
    assert [f.rule for f in found if f.rule == rule], f"{rule} missed its bad snippet; got {found}"


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_passes_the_good_snippet(rule):
    _bad, good = CASES[rule]
    assert not pslint.PARSER.parse(good.encode()).root_node.has_error
    assert pslint.lint(good) == []


@pytest.mark.parametrize("snippet,rule", [
    # more shapes of each class
    ("function F {\n    param([string]$Code)\n    try { 1 } catch { $code = 'X' }\n}\n", "shadowed-name"),
    ("function F {\n    param($Step)\n    foreach ($step in $x) { 1 }\n}\n", "shadowed-name"),
    ("$input = Read-Host\n", "shadowed-name"),
    ("$args = @(1)\n", "shadowed-name"),
    ("[Foo]::Bar($null, 'x')\n", "null-to-dotnet"),
    ("$svc.Change($null)\n", "null-to-dotnet"),
    ("Test-Path -LiteralPath ('HKLM:\\' + $parent)\n", "registry-provider-path"),
    ("New-Item -Path \"HKLM:\\SOFTWARE\\$name\" -Force\n", "registry-provider-path"),
    ("Remove-Item -LiteralPath ($parent -replace '^HKLM\\\\', 'HKLM:\\') -Force\n", "registry-provider-path"),
    ("Get-Acl $a | Set-Acl $b\n", "get-acl-set-acl"),
    ("Set-ItemProperty -Path 'HKLM:\\x' -Name 'Ma*' -Value 1\n", "itemproperty-name"),
    ("New-ItemProperty -LiteralPath 'HKLM:\\x' -Name $prop.Name -Value 1\n", "itemproperty-name"),
    ("$x | ConvertTo-Json\n", "json-depth"),
    ("& wevtutil.exe sl $log /ms:1048576\n", "native-exit-code"),
    ("icacls $dir /grant 'x:(OI)(CI)M'\n& sc.exe stop $n\nif ($LASTEXITCODE) { 1 }\n", "native-exit-code"),
    ("Remove-Item $dir -Recurse\n", "recursive-delete"),
    ("Get-ChildItem $dir | Remove-Item -Recurse -Force\n", "recursive-delete"),
    ("[System.IO.Directory]::Delete($dir, $true)\n", "recursive-delete"),
    ("& cmd.exe /c rd /s /q $dir\nif ($LASTEXITCODE) { 1 }\n", "recursive-delete"),
])
def test_more_shapes_are_flagged(snippet, rule):
    assert not pslint.PARSER.parse(snippet.encode()).root_node.has_error, snippet
    assert rule in {f.rule for f in pslint.lint(snippet)}, pslint.lint(snippet)


@pytest.mark.parametrize("snippet", [
    "param($P)\n$P = 1\n",                                   # same case: deliberate reassignment
    "$null = New-Item -Path $x\n",                           # discarding output
    "$k.GetValue($Name, $null, 'DoNotExpandEnvironmentNames')\n",
    "Remove-Item -LiteralPath 'HKLM:\\SOFTWARE\\winfleet-test' -Recurse\n",   # a literal registry key: no junctions
    "Test-Path -LiteralPath 'HKLM:\\SOFTWARE\\winfleet'\n",  # literal: no '/'
    "$path = 'HKLM:\\x\\' + $n\n$path = [string]$step.path\nTest-Path -LiteralPath $path\n",  # reassigned to a file path
    "$x = & sc.exe qc $n; if ($LASTEXITCODE -ne 0) { 1 }\n",
])
def test_false_friends_pass(snippet):
    assert not pslint.PARSER.parse(snippet.encode()).root_node.has_error, snippet
    assert pslint.lint(snippet) == []


@pytest.mark.parametrize("path", LINTED, ids=[str(p.relative_to(ROOT)) for p in LINTED])
def test_the_real_scripts_are_clean(path):
    findings = pslint.lint_file(path, ROOT)
    assert findings == [], "\n".join(map(str, findings))


def test_there_is_something_to_lint():
    assert len([p for p in LINTED if p.parent.name == "ops"]) >= 10

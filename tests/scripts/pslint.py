"""A lint for the PowerShell pitfalls we cannot see by running PowerShell here (issue 11).

One rule per class of bug found in the drivers, each on the tree-sitter-powershell syntax tree:

* ``shadowed-name``    assignment (or a foreach variable) to a name equal, ignoring case, to a parameter of
                       its scope or to an automatic variable: variable names ignore case, so ``$p = ...``
                       overwrites the parameter ``$P`` (about_Variables: "Variable names aren't case-sensitive";
                       https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.core/about/about_automatic_variables).
* ``null-to-dotnet``   ``$null`` passed to a .NET method: PowerShell converts it to ``""`` for a ``string``
                       parameter (PowerShell/PowerShell#11515 for method arguments, #4616; use ``[NullString]::Value``). Object-typed
                       parameters that want a real null are listed in ``NULL_OK_METHODS``.
* ``registry-provider-path`` a command given a registry path (``HKLM:\\``, ``Registry::``) built from data: the
                       registry provider splits paths on ``/`` even with -LiteralPath (PowerShell/PowerShell#5536);
                       use Microsoft.Win32.Registry with the subkey.
* ``get-acl-set-acl``  ``Set-Acl``: it writes back the owner ``Get-Acl`` read, which fails on folders owned by SYSTEM
                       or TrustedInstaller (ansible/ansible#20553); change the DACL with GetAccessControl('Access')
                       and SetAccessControl.
* ``itemproperty-name`` ``-Name`` with a non-literal value (or a wildcard) on ``*-ItemProperty``: -Name takes
                       wildcards, so data can match other values (about_Wildcards; use Microsoft.Win32.Registry
                       or -LiteralName where it exists).
* ``json-depth``       ``ConvertTo-Json`` without ``-Depth``: the default depth is 2 and deeper levels become
                       their ToString() text, silently (https://learn.microsoft.com/en-us/powershell/module/microsoft.powershell.utility/convertto-json).
* ``native-exit-code`` a native executable whose ``$LASTEXITCODE`` is not checked before the next native call or
                       the end of its block: native failures do not throw in Windows PowerShell 5.1
                       (about_Automatic_Variables, $LASTEXITCODE).
* ``recursive-delete`` a recursive delete of the file system that may cross a junction: Windows PowerShell 5.1's
                       ``Remove-Item -Recurse`` follows junctions (PowerShell/PowerShell#621); so may other
                       recursive deletes. Delete without following reparse points (dirs.ps1 Remove-TreeNoFollow).

``lint(text)`` returns the findings; ``lint_file(path)`` names the file. A rule is a function of the tree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tree_sitter_powershell as tsps
from tree_sitter import Language, Parser

PARSER = Parser(Language(tsps.language()))

AUTOMATIC_VARIABLES = frozenset(v.lower() for v in (
    "$", "?", "^", "_", "args", "ConsoleFileName", "EnabledExperimentalFeatures", "Error", "Event", "EventArgs",
    "EventSubscriber", "ExecutionContext", "false", "foreach", "HOME", "Host", "input", "IsCoreCLR", "IsLinux",
    "IsMacOS", "IsWindows", "LASTEXITCODE", "Matches", "MyInvocation", "NestedPromptLevel", "null", "PID",
    "PROFILE", "PSBoundParameters", "PSCmdlet", "PSCommandPath", "PSCulture", "PSDebugContext", "PSEdition",
    "PSHOME", "PSItem", "PSScriptRoot", "PSSenderInfo", "PSUICulture", "PSVersionTable", "PWD", "Sender",
    "ShellId", "StackTrace", "switch", "this", "true"))
# .NET methods (name, or [Type]::name for a static one) whose parameters that may get $null are object-typed,
# so $null stays null: RegistryKey.GetValue(name, object default), [WinfleetScm]::Create/Config (service.apply.ps1:
# the SCM wrapper takes its optional strings as object and hands NULL to CreateServiceW/ChangeServiceConfigW).
NULL_OK_METHODS = frozenset({"getvalue", "equals", "referenceequals", "[winfleetscm]::create", "[winfleetscm]::config"})
PROVIDER_PATH_PARAMS = ("-path", "-literalpath", "-pspath")
# Provider cmdlets whose first positional argument is a path (Microsoft.PowerShell.Management).
PROVIDER_CMDLETS = frozenset({"test-path", "get-item", "set-item", "new-item", "remove-item", "clear-item", "copy-item",
                              "move-item", "rename-item", "get-childitem", "get-itemproperty", "set-itemproperty",
                              "new-itemproperty", "remove-itemproperty", "clear-itemproperty", "rename-itemproperty",
                              "copy-itemproperty", "move-itemproperty", "get-itempropertyvalue", "set-location",
                              "push-location", "get-acl", "set-acl", "resolve-path", "convert-path", "join-path"})
REGISTRY_PREFIX = re.compile(r"(HKLM:|HKCU:|HKCR:|HKU:|Registry::|Microsoft\.PowerShell\.Core\\Registry::)",
                             re.IGNORECASE)
ITEMPROPERTY = re.compile(r"^(get|set|new|remove|clear|rename|copy|move)-itemproperty(value)?$", re.IGNORECASE)
# Executables we know are native (not cmdlets); anything ending in .exe/.com/.cmd/.bat is native too.
NATIVE = frozenset({"sc", "wevtutil", "fsutil", "icacls", "takeown", "netsh", "reg", "auditpol", "cmd", "powershell",
                    "pwsh", "whoami", "setx", "net", "net1", "bcdedit", "diskpart", "winrm", "certutil", "robocopy",
                    "xcopy", "schtasks", "wmic", "dism", "msiexec", "tar", "curl", "git", "go", "mklink"})
RECURSIVE_NATIVE = re.compile(r"(^|\s)(rd|rmdir)(\s.*)?\s/s\b", re.IGNORECASE)


@dataclass(frozen=True)
class Finding:
    rule: str
    line: int
    message: str
    path: str = "<snippet>"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


def walk(node):
    yield node
    for c in node.children:
        yield from walk(c)


def text(node) -> str:
    return node.text.decode("utf-8")


def _var_name(node) -> str | None:
    """'$Name' / '${Name}' / '$script:Name' -> 'name' (lower case, scope qualifier dropped)."""
    t = text(node)
    m = re.fullmatch(r"\$\{?(?:(?:global|script|local|private|using):)?([^}]*)\}?", t, re.IGNORECASE)
    return m.group(1).lower() if m else None


def _scope(node):
    """The nearest enclosing function_statement (or the program)."""
    n = node.parent
    while n is not None and n.type not in ("function_statement", "program"):
        n = n.parent
    return n


def _params(scope) -> dict[str, str]:
    """lower name -> name as declared, of the scope's param block (not of nested functions)."""
    out = {}
    for n in walk(scope):
        if n.type == "param_block" and _scope(n) == scope:
            for v in walk(n):
                if v.type == "script_parameter":
                    var = next((c for c in v.children if c.type == "variable"), None)
                    if var is not None and _var_name(var):
                        out[_var_name(var)] = text(var)[1:]
    return out


def _assigned_variables(root):
    """(variable node) for every plain-variable assignment target and foreach variable."""
    for n in walk(root):
        if n.type == "assignment_expression":
            left = n.children[0]
            target = [v for v in walk(left) if v.type == "variable"]
            # only `$x = ...` or `[type]$x = ...`: not `$a.b = ...` or `$h[k] = ...`
            if target and not any(m.type in ("member_access", "element_access", "invokation_expression")
                                  for m in walk(left)):
                yield target[-1]
        elif n.type == "foreach_statement":
            var = next((c for c in n.children if c.type == "variable"), None)
            if var is not None:
                yield var


# ---- the rules ---------------------------------------------------------------------------------------
def rule_shadowed_name(root):
    for var in _assigned_variables(root):
        name = _var_name(var)
        if name is None:
            continue
        params = _params(_scope(var))
        if name in AUTOMATIC_VARIABLES and name != "null":      # `$null = ...` discards output
            yield var, f"{text(var)} is an automatic variable: assigning it changes PowerShell's own state"
        elif name in params and params[name] != text(var)[1:].split(":")[-1].strip("{}"):
            yield var, (f"{text(var)} is the parameter ${params[name]} (variable names ignore case): "
                        "use another name")


def rule_null_to_dotnet(root):
    """$null, or a variable its scope sets to $null, as an argument of a .NET method call."""
    nulled = {(a[0], a[1]) for a in _assignments(root, null=True)}
    for n in walk(root):
        if n.type != "invokation_expression":
            continue
        member = next((c for c in n.children if c.type == "member_name"), None)
        args = next((c for c in n.children if c.type == "argument_list"), None)
        if member is None or args is None:
            continue
        target = text(n.children[0]).lower()
        if text(member).lower() in NULL_OK_METHODS or f"{target}::{text(member).lower()}" in NULL_OK_METHODS:
            continue
        for v in walk(args):
            if v.type != "variable":
                continue
            literal = _var_name(v) == "null"
            if literal or (_scope(v), _var_name(v)) in nulled and text(v.parent) == text(v):
                what = "$null" if literal else f"{text(v)} (set to $null in this scope)"
                yield v, (f"{what} passed to .{text(member)}(): a .NET string parameter receives \"\" instead "
                          "(pass [NullString]::Value, or list the method in NULL_OK_METHODS if it takes object)")


def _command_name(cmd) -> str:
    nm = next((c for c in walk(cmd) if c.type == "command_name"), None)
    return text(nm) if nm is not None else ""


def _arguments(cmd) -> list[tuple[str | None, object]]:
    """(parameter name lower or None for positional, argument node) of a command."""
    elems = next((c for c in cmd.children if c.type == "command_elements"), None)
    out, pending = [], None
    if elems is None:
        return out
    for c in elems.children:
        if c.type == "command_argument_sep":
            continue
        if c.type == "command_parameter":
            t = text(c)
            if ":" in t[1:]:                      # -Name:value
                out.append((t.split(":", 1)[0].lower(), None))
                pending = None
            else:
                if pending is not None:
                    out.append((pending, None))   # a switch
                pending = t.lower()
            continue
        out.append((pending, c))
        pending = None
    if pending is not None:
        out.append((pending, None))
    return out


def _is_plain_literal(node) -> bool:
    """A string or number literal with nothing expanded in it (no variable, no subexpression)."""
    if node.type == "generic_token":
        return True
    if any(n.type in ("variable", "sub_expression", "invokation_expression", "member_access", "command")
           for n in walk(node)):
        return False
    t = text(node)
    return bool(re.fullmatch(r"'[^']*'|\"[^\"$`]*\"|[0-9]+", t))


def _assignments(root, null: bool = False) -> list[tuple[object, str, int, bool]]:
    """(scope, variable, position, is a registry path built from data?) of every plain assignment (with
    `null`: only the assignments of a literal $null)."""
    out = []
    for n in walk(root):
        if n.type == "assignment_expression":
            left, right = n.children[0], n.children[-1]
            targets = [v for v in walk(left) if v.type == "variable" and _var_name(v)]
            if any(m.type in ("member_access", "element_access") for m in walk(left)):
                continue
            if null and text(right).strip().lower() != "$null":
                continue
            if targets:
                reg = bool(REGISTRY_PREFIX.search(text(right))) and not _is_plain_literal(right)
                out.append((_scope(n), _var_name(targets[-1]), n.start_byte, reg))
    return out


def _holds_registry_path(assignments, var_node) -> bool:
    """Was the variable last assigned (before this use, in its scope) a registry path built from data?"""
    name, scope, pos = _var_name(var_node), _scope(var_node), var_node.start_byte
    last = [a for a in assignments if a[1] == name and a[0] == scope and a[2] < pos]
    return bool(last) and last[-1][3]


def rule_registry_provider_path(root):
    assignments = _assignments(root)
    for cmd in walk(root):
        if cmd.type != "command":
            continue
        args = _arguments(cmd)
        positional = [a for p, a in args if a is not None and p is None][:1] \
            if _command_name(cmd).lower() in PROVIDER_CMDLETS else []
        for a in positional + [a for p, a in args if a is not None and p in PROVIDER_PATH_PARAMS]:
            t = text(a)
            bare = next((v for v in walk(a) if v.type == "variable"), None)
            is_var = bare is not None and text(bare) == t.strip("()")
            if (REGISTRY_PREFIX.search(t) and not _is_plain_literal(a)) or \
                    (is_var and _holds_registry_path(assignments, bare)):
                yield a, (f"{_command_name(cmd)} on the registry path {t}, built from data: the registry provider "
                          "splits on '/' even with -LiteralPath; use Microsoft.Win32.Registry and the subkey")
                break


def rule_get_acl_set_acl(root):
    for cmd in walk(root):
        if cmd.type == "command" and _command_name(cmd).lower() == "set-acl":
            yield cmd, ("Set-Acl writes back the owner Get-Acl read (fails on folders owned by SYSTEM or "
                        "TrustedInstaller): use $dir.GetAccessControl('Access') and $dir.SetAccessControl()")


def rule_itemproperty_name(root):
    for cmd in walk(root):
        if cmd.type != "command" or not ITEMPROPERTY.match(_command_name(cmd)):
            continue
        for p, a in _arguments(cmd):
            if p is not None and "-name".startswith(p) and len(p) >= 3 and a is not None:
                if not _is_plain_literal(a) or re.search(r"[*?\[]", text(a)):
                    yield a, (f"{_command_name(cmd)} -Name {text(a)}: -Name takes wildcards, so data can match "
                              "other values; use Microsoft.Win32.Registry (DeleteValue/GetValue/SetValue)")


def rule_json_depth(root):
    for cmd in walk(root):
        if cmd.type == "command" and _command_name(cmd).lower() == "convertto-json":
            if not any(p and len(p) >= 2 and "-depth".startswith(p) for p, _a in _arguments(cmd)):
                yield cmd, "ConvertTo-Json without -Depth truncates below depth 2 to ToString() text, silently"


def _is_native(cmd) -> bool:
    name = _command_name(cmd).lower().rsplit("\\", 1)[-1]
    return name in NATIVE or bool(re.search(r"\.(exe|com|cmd|bat)$", name))


def _statement_of(node):
    """(statement node, its statement_list) enclosing `node`."""
    n = node
    while n.parent is not None and n.parent.type != "statement_list":
        n = n.parent
    return n, n.parent


def rule_native_exit_code(root):
    for cmd in walk(root):
        if cmd.type != "command" or not _is_native(cmd):
            continue
        stmt, block = _statement_of(cmd)
        if "$lastexitcode" in text(stmt).lower()[text(stmt).lower().find(text(cmd).lower()) + len(text(cmd)):]:
            continue
        checked = False
        if block is not None:
            after = False
            for s in block.children:
                if s == stmt:
                    after = True
                    continue
                if not after:
                    continue
                if "$lastexitcode" in text(s).lower():
                    checked = True
                    break
                if any(c.type == "command" and _is_native(c) for c in walk(s)):
                    break
        if not checked:
            yield cmd, (f"{_command_name(cmd)} is a native executable: check $LASTEXITCODE after it (it does not "
                        "throw on failure)")


def rule_recursive_delete(root):
    for cmd in walk(root):
        if cmd.type == "command":
            name = _command_name(cmd).lower()
            args = _arguments(cmd)
            if name in ("remove-item", "rm", "del", "erase", "rd", "rmdir", "ri"):
                recurse = any(p and len(p) >= 2 and "-recurse".startswith(p) for p, _a in args)
                paths = [a for p, a in args if a is not None and (p is None or p in PROVIDER_PATH_PARAMS)]
                registry = paths and all(REGISTRY_PREFIX.search(text(a)) and _is_plain_literal(a) for a in paths)
                if recurse and not registry:
                    yield cmd, ("Remove-Item -Recurse follows junctions in Windows PowerShell 5.1 "
                                "(PowerShell/PowerShell#621): delete with Remove-TreeNoFollow (dirs.ps1)")
            elif _is_native(cmd) and RECURSIVE_NATIVE.search(text(cmd)):
                yield cmd, "rd /s follows nothing safely here: delete with Remove-TreeNoFollow (dirs.ps1)"
        elif cmd.type == "invokation_expression":
            t = text(cmd)
            if re.match(r"\[(System\.)?IO\.Directory\]::Delete\(", t, re.IGNORECASE) and \
                    re.search(r",\s*\$true\s*\)$", t, re.IGNORECASE):
                yield cmd, "Directory.Delete(path, $true) is a recursive delete: use Remove-TreeNoFollow (dirs.ps1)"


RULES = {
    "shadowed-name": rule_shadowed_name,
    "null-to-dotnet": rule_null_to_dotnet,
    "registry-provider-path": rule_registry_provider_path,
    "get-acl-set-acl": rule_get_acl_set_acl,
    "itemproperty-name": rule_itemproperty_name,
    "json-depth": rule_json_depth,
    "native-exit-code": rule_native_exit_code,
    "recursive-delete": rule_recursive_delete,
}


def lint(source: str, path: str = "<snippet>", rules=None) -> list[Finding]:
    tree = PARSER.parse(source.encode("utf-8"))
    out = []
    for name in rules or RULES:
        for node, message in RULES[name](tree.root_node):
            out.append(Finding(name, node.start_point[0] + 1, message, path))
    return sorted(set(out), key=lambda f: (f.path, f.line, f.rule))


def lint_file(path: Path, root: Path | None = None, rules=None) -> list[Finding]:
    shown = str(path.relative_to(root)) if root else str(path)
    return lint(path.read_text(encoding="utf-8"), shown, rules)

"""Small tree-sitter helpers for the focused driver checks of issue 11 (the general lint is win-paths')."""
from __future__ import annotations

from pathlib import Path

import tree_sitter_powershell as tsps
from tree_sitter import Language, Parser

ROOT = Path(__file__).resolve().parents[2]
PARSER = Parser(Language(tsps.language()))


def parse(text: str | bytes):
    return PARSER.parse(text.encode("utf-8") if isinstance(text, str) else text).root_node


def walk(node):
    yield node
    for c in node.children:
        yield from walk(c)


def script_params(root) -> list[str]:
    """The names (without $) of the script's own ``param(...)`` block."""
    for node in root.children:
        for n in walk(node):
            if n.type == "param_block":
                return [v.text.decode()[1:] for v in walk(n) if v.type == "variable"]
    return []


def assigned_names(root) -> list[tuple[str, int]]:
    """(name without $, line) of every variable on the left of an assignment, or a foreach variable."""
    out = []
    for n in walk(root):
        if n.type == "assignment_expression":
            left = n.children[0]
            for v in walk(left):
                if v.type == "variable":
                    out.append((v.text.decode()[1:], v.start_point[0] + 1))
                    break
        elif n.type == "foreach_statement":
            for v in n.children:
                if v.type == "variable":
                    out.append((v.text.decode()[1:], v.start_point[0] + 1))
                    break
    return out


def commands(root) -> list:
    """Every command node (cmdlet / function / native invocation)."""
    return [n for n in walk(root) if n.type == "command"]


def command_name(cmd) -> str:
    for c in cmd.children:
        if c.type == "command_name":
            return c.text.decode()
    return ""

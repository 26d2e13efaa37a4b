"""Op handlers of the emulated host: one handler per driver script in scripts/ops/.

A handler is ``fn(host: HostModel, params: dict) -> {"changed": bool, "state": {...}}`` and
raises ``OpError(code, message)`` exactly where the driver would call ``Fail``.
Every module in this package is imported on first use, so adding a module registers its ops.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

_HANDLERS: dict[str, Callable] = {}
_loaded = False


class OpError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def op(name: str):
    def register(fn):
        if name in _HANDLERS:
            raise RuntimeError(f"op {name!r} registered twice")
        _HANDLERS[name] = fn
        return fn
    return register


def handlers() -> dict[str, Callable]:
    global _loaded
    if not _loaded:
        for mod in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{mod.name}")
        _loaded = True
    return dict(_HANDLERS)

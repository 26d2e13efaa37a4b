"""Op handlers of the emulated host: one handler per driver script in scripts/ops/.

A handler is ``fn(host: HostModel, params: dict) -> {"changed": bool, "state": {...}}`` and
raises ``OpError(code, message)`` exactly where the driver would call ``Fail``.
Every module in this package is imported on first use, so adding a module registers its ops.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import threading
from typing import Callable

_HANDLERS: dict[str, Callable] = {}
_loaded = False


class OpError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_CURRENT = threading.local()     # the running op's stderr writer (set by the dispatcher, per op thread)


def progress(step: str, message: str) -> None:
    """What ``Send-WinfleetProgress`` (scripts/lib/common.ps1) does: one ``#winfleet:progress {json}``
    line on the command's stderr, readable by Receive while the op still runs."""
    emit = getattr(_CURRENT, "emit", None)
    if emit is not None:
        emit(json.dumps({"step": step, "message": message}, separators=(",", ":")))


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

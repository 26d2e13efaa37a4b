"""Runs the project's bootstrap: the Python twin of components/winrm/bootstrap.py's PowerShell.

The payload (stdin) must be exactly ``bootstrap.compose_script(op)`` (the op's area libraries,
common.ps1 and scripts/ops/<op>.ps1, as the executor builds it: the same function, not a copy) +
``\\0\\0\\0\\0`` + the JSON envelope. The emulator cannot run PowerShell, so instead of the
script it runs the op's Python handler (``tests.emulator.ops``) over the host model, holding
``host.model.lock``, and prints what the bootstrap prints: ``{"ok":true,"result":..}`` (exit 0) or
``{"ok":false,"error":{"code","message"}}`` (exit 1). The journal envelope is applied exactly as
the bootstrap does: ``read`` first (the prior entries, returned as ``"journal": {"entries": ..}``
next to ``result``), then ``write``, the op, and ``clear`` after it succeeded.
"""
from __future__ import annotations

import json
import time
import traceback

from components.winrm import bootstrap

from . import journal_envelope
from .ops import OpError, handlers

MARKER = bootstrap.COMMON_MARKER


def expected_script(op) -> str | None:
    """What the payload's script part must be for ``op``: the executor's own builder, uncached (read
    from disk each time: drivers change), or None when ``op`` is not a valid op with a driver."""
    try:
        return bootstrap.compose_script(op)
    except ValueError:
        return None


def _dumps(doc) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(code: str, message: str) -> tuple[bytes, int]:
    return _dumps({"ok": False, "error": {"code": code, "message": message}}), 1


def execute(host, data: bytes) -> tuple[bytes, bytes, int, str | None]:
    """(stdout, stderr, exit code, op) for one bootstrap run with stdin ``data``."""
    raw = data.decode("utf-8", errors="replace")
    if "\0\0\0\0" not in raw:
        out, rc = _error("UNHANDLED", "winfleet bootstrap: the payload has no JSON envelope")
        return out, b"", rc, None
    script, envelope_text = raw.split("\0\0\0\0", 1)
    if MARKER not in script:
        out, rc = _error("UNHANDLED", "winfleet bootstrap: the payload has no common.ps1 marker")
        return out, b"", rc, None
    try:
        envelope = json.loads(envelope_text)
        if not isinstance(envelope, dict):
            raise ValueError("envelope is not an object")
    except ValueError as exc:
        out, rc = _error("UNHANDLED", f"Invalid JSON primitive: {exc}")
        return out, b"", rc, None
    op = envelope.get("op")
    expected = expected_script(op)
    if expected is None or script != expected:
        why = "has no driver scripts/ops/%s.ps1" % op if expected is None else \
            "payload script is not byte-for-byte bootstrap.compose_script(%r) (libs + common.ps1 + driver)" % op
        return b"", f"winfleet emulator: op {op!r} {why}\r\n".encode(), 1, op
    handler = handlers().get(op)
    if handler is None:
        return b"", f"winfleet emulator: no handler registered for op {op!r}\r\n".encode(), 1, op
    params = envelope.get("params")
    journal = envelope.get("journal") or {}
    model = host.model
    delay = host.faults.op_delay(op)
    if delay:
        time.sleep(delay)
    with model.lock:
        try:
            read = journal_envelope.before(model, journal)
            result = handler(model, params if params is not None else {})
            if not (isinstance(result, dict) and isinstance(result.get("changed"), bool)
                    and isinstance(result.get("state"), dict)):
                raise TypeError(f"handler for {op} returned {type(result).__name__}, "
                                'not {"changed": bool, "state": dict}')
            doc = {"ok": True, "result": result}
            if read is not None:
                doc["journal"] = read
            doc = _dumps(doc)
            journal_envelope.after(model, journal)
            return doc, b"", 0, op
        except OpError as exc:
            out, rc = _error(exc.code, exc.message)
            return out, b"", rc, op
        except Exception as exc:  # a bug in a handler: loud, but shaped like the bootstrap's catch-all
            out, rc = _error("UNHANDLED", f"emulator handler crashed: {type(exc).__name__}: {exc}")
            return out, traceback.format_exc().encode(), rc, op


def run_bootstrap(host, shell, process, data: bytes) -> None:
    from . import ops as _ops
    from components.winrm.bootstrap import PROGRESS_PREFIX
    out, err, rc, op = b"", b"", 1, None
    _ops._CURRENT.emit = lambda doc: process.write(stderr=(PROGRESS_PREFIX + doc + "\r\n").encode("utf-8"))
    try:
        out, err, rc, op = execute(host, data)
    except Exception:
        err = traceback.format_exc().encode()
    finally:
        _ops._CURRENT.emit = None
        try:
            host.counters.op(op, rc)
            if op is not None and host.faults.take_drop_response(op):
                process.drop_response = True
            process.write(out, err)
        finally:
            process.finish(rc)

"""Progress and warnings from inside a host resource's provider, shown by the real Pulumi CLI.

What the CLI shows for a dynamic provider (pulumi/pulumi, read for this module):

* ``pulumi.log.info/warn`` inside the provider reach nothing useful: ``python -m pulumi.dynamic``
  configures its runtime without an engine address, so ``pulumi.log`` falls back to printing
  ``info: ...`` on stderr and ``pulumi.log.debug`` drops the message (sdk/python/lib/pulumi/log.py,
  dynamic/__main__.py).
* The engine starts every resource plugin with its host server's address as the first argument
  (sdk/go/common/resource/plugin/provider_plugin.go: ``newPlugin(..., []string{host.ServerAddr()})``;
  the ``pulumi-resource-pulumi-python`` shim passes it on as ``python -m pulumi.dynamic <address>``),
  and that server implements the Engine service's ``Log`` (pkg/host/host_server.go): ``ephemeral``
  messages become the row's live status (``LogStatus``), the others diagnostics printed under
  "Diagnostics:" at the end (pkg/backend/display/progress.go skips ephemeral payloads there).
* A dynamic provider's plain stderr lines are shown too, as ``info`` diagnostics of the stack
  (plugin.go ``runtrace``: ``Infoerrf``), but never as warnings and never as live status.

So this module talks to that Engine service directly: ``status(...)`` sends ephemeral INFO (the
step and its progress while the op runs: "draining, up to 30 s", "waiting for readiness 12/60 s"),
``warn(...)`` a persistent WARNING. The dynamic provider protocol does not hand the resource's URN
to ``create``/``read``, so messages carry no URN (they show on the stack's row) and name the
resource themselves ("WindowsService orders-api on web-0: ..."). Without an engine address (tests
that run the provider host alone, ``make preview``) both are no-ops apart from the Python logger.
Nothing here is stored on provider objects (they are pickled): the channel lives at module level.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
from typing import Callable, Optional

log = logging.getLogger("winfleet.host.progress")

_ADDRESS = re.compile(r"(127\.0\.0\.1|localhost|\[::1\]|[A-Za-z0-9.-]+):\d{1,5}")
_LOCK = threading.Lock()
_STUB: dict = {}


def engine_address(argv: Optional[list[str]] = None) -> Optional[str]:
    """The engine's address the CLI passed to this provider process (``argv[1]``), if any."""
    argv = sys.argv if argv is None else argv
    for arg in argv[1:2]:
        if _ADDRESS.fullmatch(arg or ""):
            return arg
    return None


def _engine():
    addr = engine_address()
    if addr is None:
        return None
    with _LOCK:
        stub = _STUB.get(addr)
        if stub is None:
            import grpc
            from pulumi.runtime.proto import engine_pb2_grpc
            stub = engine_pb2_grpc.EngineStub(grpc.insecure_channel(addr))
            _STUB[addr] = stub
        return stub


def _send(severity_name: str, message: str, ephemeral: bool) -> bool:
    stub = _engine()
    if stub is None:
        return False
    try:
        from pulumi.runtime.proto import engine_pb2
        stub.Log(engine_pb2.LogRequest(severity=getattr(engine_pb2, severity_name), message=message, urn="",
                                       streamId=0, ephemeral=ephemeral), timeout=2)
        return True
    except Exception as exc:          # progress must never fail a deployment
        log.debug("engine log failed: %s", type(exc).__name__)
        return False


def status(message: str) -> bool:
    """Ephemeral progress line (live status in the CLI, not kept in the summary)."""
    log.info("%s", message)
    return _send("INFO", message, ephemeral=True)


def warn(message: str) -> bool:
    """A warning diagnostic the CLI prints under "Diagnostics:" (``pulumi refresh``/``up``)."""
    log.warning("%s", message)
    return _send("WARNING", message, ephemeral=False)


def reporter(label: str) -> Optional[Callable[[dict], None]]:
    """A ``run_op`` progress callback that prefixes the op's reports with ``label``; None when no
    engine is listening (so callers can skip the callback entirely)."""
    if engine_address() is None:
        return None

    def report(doc: dict) -> None:
        step, message = str(doc.get("step") or ""), str(doc.get("message") or "")
        if message:
            status(f"{label}: {message}" if not step else f"{label}: [{step}] {message}")
    return report

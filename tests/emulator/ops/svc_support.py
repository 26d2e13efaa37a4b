"""Shared pieces of the service / dumps / baseline handlers (no ops registered here).

* ``win32_code``: the op error code a driver reports for a Win32 error number (the drivers
  carry the same table, see scripts/ops/service.apply.ps1 ``ConvertTo-OpCode``).
* Step faults: a test can make a multi-step op die *between two steps*, the way a dropped WinRM
  connection or a host crash would, to prove an apply that died half-way loses nothing:

      inject_step_fault(host, "service.apply", after="create")   # once, after the step "create" ran
"""
from __future__ import annotations

import threading
import time

from tests.emulator.ops import OpError, progress
from tests.emulator.windows.files import DownloadError, FsError
from tests.emulator.windows.scm import ScmError

OP_CODES = {
    2: "FILE_NOT_FOUND", 5: "ACCESS_DENIED", 32: "FILE_IN_USE", 87: "INVALID_PARAMETER",
    1051: "DEPENDENT_SERVICES_RUNNING", 1052: "INVALID_SERVICE_CONTROL", 1053: "SERVICE_REQUEST_TIMEOUT",
    1056: "SERVICE_ALREADY_RUNNING", 1057: "INVALID_SERVICE_ACCOUNT", 1058: "SERVICE_DISABLED",
    1059: "CIRCULAR_DEPENDENCY", 1060: "SERVICE_NOT_FOUND", 1061: "SERVICE_CANNOT_ACCEPT_CTRL", 1062: "SERVICE_NOT_ACTIVE",
    1068: "SERVICE_DEPENDENCY_FAIL", 1069: "SERVICE_LOGON_FAILED", 1072: "SERVICE_MARKED_FOR_DELETE",
    1073: "SERVICE_EXISTS", 1075: "SERVICE_DEPENDENCY_DELETED", 1078: "DUPLICATE_SERVICE_NAME",
}


def win32_code(code: int) -> str:
    return OP_CODES.get(code, f"WIN32_{code}")


def op_error(exc: Exception, what: str) -> OpError:
    """Turn an emulator subsystem error into the OpError the driver would report."""
    if isinstance(exc, (ScmError, FsError)):
        return OpError(win32_code(exc.code), f"{what}: {exc}")
    if isinstance(exc, DownloadError):
        return OpError("DOWNLOAD_FAILED", f"{what}: {exc}")
    return OpError("HOST_ERROR", f"{what}: {exc}")


_FAULTS: dict[tuple[int, str], list[str]] = {}
_FAULTS_LOCK = threading.Lock()


def inject_step_fault(host, op_name: str, after: str) -> None:
    """Make ``op_name`` on ``host`` fail right after its step ``after`` runs. Several faults fire in
    the order they were injected (the second one arms only once the first has fired)."""
    with _FAULTS_LOCK:
        _FAULTS.setdefault((id(host), op_name), []).append(after)


def clear_step_faults(host) -> None:
    with _FAULTS_LOCK:
        for k in [k for k in _FAULTS if k[0] == id(host)]:
            del _FAULTS[k]


def step_done(host, op_name: str, step: str) -> None:
    """Called by a handler after each step; raises the injected fault if one is armed for it."""
    with _FAULTS_LOCK:
        armed = _FAULTS.get((id(host), op_name), [])
        if armed and armed[0] == step:          # faults fire in the order they were injected
            armed.pop(0)
            raise OpError("INJECTED_FAULT", f"{op_name} died after step {step!r} (injected by the test)")


STATUS_NAMES = {"stopped": "Stopped", "start_pending": "StartPending", "running": "Running",
                "stop_pending": "StopPending"}


def reg_snapshot(registry, path: str) -> dict | None:
    """{value name: {"kind", "data"}} of a key, or None when the key does not exist."""
    if not registry.key_exists(path):
        return None
    return {name: {"kind": kind, "data": data} for name, (kind, data) in sorted(registry.values(path).items())}


def reg_put_exact(registry, path: str, values: dict | None) -> bool:
    """Make a key hold exactly ``values`` (None: the key is absent); returns True when it changed."""
    before = reg_snapshot(registry, path)
    if values is None:
        if before is None:
            return False
        registry.delete_key(path)
        return True
    registry.create_key(path)
    for name in list(registry.values(path)):
        if name.lower() not in {n.lower() for n in values}:
            registry.delete_value(path, name)
    for name, v in values.items():
        registry.set_value(path, name, v["kind"], v["data"])
    return reg_snapshot(registry, path) != before


def sleep_unlocked(host, seconds: float) -> None:
    """Sleep without holding the host lock (a real host is not blocked while one op waits)."""
    held = 0
    while True:
        try:
            host.lock.release()
        except RuntimeError:
            break
        held += 1
    try:
        time.sleep(seconds)
    finally:
        for _ in range(held):
            host.lock.acquire()


def poll_ready(host, readiness: dict) -> tuple[bool, dict | str]:
    """Poll the readiness URL until 200 or the bound (the driver's Wait-Ready loop, in Python):
    ``(True, {"ready", "attempts", "status"})`` or ``(False, "<url> did not answer 200 ...; last: ...")``."""
    port, path = int(readiness["port"]), readiness["path"]
    timeout, poll = float(readiness["timeoutSeconds"]), float(readiness["pollSeconds"])
    deadline = time.monotonic() + timeout
    attempts = 0
    started = time.monotonic()
    while True:
        attempts += 1
        got = host.http.probe(port, path)
        seen = f"HTTP {got['status']}" if got["status"] is not None else "no response"
        progress("readiness", f"waiting for readiness {time.monotonic() - started:.0f}/{timeout:g} s "
                              f"(attempt {attempts}: {seen})")
        if got["status"] == 200:
            return True, {"ready": True, "attempts": attempts, "status": 200}
        if time.monotonic() + poll > deadline:
            last = (f"HTTP {got['status']}: {got['body'][:200]!r}" if got["status"] is not None
                    else got["error"])
            return False, (f"http://localhost:{port}{path} did not answer 200 within {timeout:g}s "
                           f"({attempts} attempts); last: {last}")
        sleep_unlocked(host, poll)


DIRS_KEY = r"HKLM\SOFTWARE\winfleet\Directories"


def _registered(host, path: str) -> bool:
    return host.registry.get_value(DIRS_KEY, path.lower()) is not None


def _unregister(host, path: str) -> None:
    reg = host.registry
    prefix = path.lower().rstrip("\\") + "\\"
    for name in list(reg.values(DIRS_KEY)):
        if name.lower() == path.lower() or name.lower().startswith(prefix):
            reg.delete_value(DIRS_KEY, name)
    host.remove_empty_winfleet_key("Directories")


def remove_dir_up_to(host, path: str, up_to: str | None) -> bool:
    """Remove ``path`` (recursively: it is ours), then each parent that is empty and was created by
    winfleet (listed under ``HKLM\SOFTWARE\winfleet\Directories``, whichever resource created it) or
    lies within ``up_to`` (the highest directory this resource found missing)."""
    files = host.files
    up_to = (up_to or path).lower()
    changed = files.is_dir(path) and files.delete(path, recurse=True)  # Remove-TreeNoFollow: junctions as links
    _unregister(host, path)
    parent = path
    while "\\" in parent.rstrip("\\")[3:]:
        parent = parent.rsplit("\\", 1)[0]
        ours = _registered(host, parent) or parent.lower() == up_to or parent.lower().startswith(up_to + "\\")
        if ours and files.is_dir(parent) and not files.children(parent):
            files.delete(parent)
            _unregister(host, parent)
            changed = True
        else:
            break
    return bool(changed)


def mkdir_grant(host, step: dict) -> bool:
    """mkdir + explicit Allow ACE, written DACL-only (``FileSystem.grant``, as Set-DirAce does). Like Windows, an ``NT SERVICE\\<name>`` account given by *name*
    only resolves once the service exists (IdentityNotMappedException); given by SID it always works."""
    f = host.files
    path = step["path"]
    if not f.drive_exists(path[:1]):
        raise OpError("PATH_NOT_FOUND", f"drive {path[:2]} does not exist on the host")
    grant, sid = step.get("grant"), step.get("sid")
    if grant and not sid and grant.lower().startswith("nt service\\") and not host.scm.exists(grant.split("\\", 1)[1]):
        raise OpError("IDENTITY_NOT_MAPPED", f"Some or all identity references could not be translated: {grant}")
    missing = []
    p = path
    while len(p) > 3 and not f.is_dir(p):
        missing.append(p)
        p = p.rsplit("\\", 1)[0]
    changed = f.mkdir(path)
    for created in missing:            # remember what winfleet created, for whoever removes it last
        host.registry.set_value(DIRS_KEY, created.lower(), "REG_SZ", created)
    if grant:
        changed = f.grant(path, grant, step.get("rights") or "Modify", sid) or changed
    return changed

"""Module-level pool of open WinRS shells, per (host, port, user, auth).

Nothing here is ever reachable from a Pulumi provider object: the pool lives in this module's
globals, and provider classes live in importable modules, so dill pickles them by reference.
Each pooled ``Shell`` owns its own pywinrm ``Protocol`` (one requests session, one TCP/TLS
connection, authenticated once) and is used by one op at a time. Shells are closed (WS-Man
Delete) when they are discarded after an error, when they sat idle too long, and at process exit.
"""
from __future__ import annotations

import atexit
import logging
import signal
import threading
import time
from typing import Callable

log = logging.getLogger("winfleet.winrm")

MAX_SHELLS_PER_KEY = 4     # the dynamic-provider host runs 4 threads; Windows allows 30 (5 on old hosts)
MAX_IDLE_SECONDS = 120.0   # below the IdleTimeOut the executor asks for (180 s): reuse only live shells


class Shell:
    """One open remote shell (ShellId) plus the pywinrm Protocol it was opened with."""

    def __init__(self, endpoint, protocol, shell_id: str):
        self.endpoint = endpoint
        self.protocol = protocol
        self.shell_id = shell_id
        self.commands = 0
        self.broken = False
        self.unreachable = False
        self.last_used = time.monotonic()

    def close(self) -> None:
        """WS-Man Delete + close the TCP connection; never raises, gives up after a few seconds."""
        try:
            self.protocol.transport.read_timeout_sec = min(self.protocol.transport.read_timeout_sec or 5, 5)
            self.protocol.close_shell(self.shell_id, close_session=True)
        except Exception as exc:  # the shell may already be gone (host rebooted, fault) - nothing to do
            log.debug("closing shell on %s failed: %s", self.endpoint.label, type(exc).__name__)
            try:
                self.protocol.transport.close_session()
            except Exception:
                pass

    def __repr__(self) -> str:
        return f"<Shell {self.shell_id} on {self.endpoint}>"


class ShellPool:
    def __init__(self, max_per_key: int = MAX_SHELLS_PER_KEY):
        self.max_per_key = max_per_key
        self._cond = threading.Condition(threading.Lock())
        self._idle: dict[tuple, list[Shell]] = {}
        self._count: dict[tuple, int] = {}   # idle + in use (+ being opened)

    def acquire(self, endpoint, opener: Callable[[object], Shell], deadline: float) -> Shell:
        """An idle shell for ``endpoint`` or a new one from ``opener`` (called outside the lock).
        Blocks while ``max_per_key`` shells are in use; raises TimeoutError at ``deadline``."""
        key = endpoint.pool_key
        stale: list[Shell] = []
        try:
            with self._cond:
                while True:
                    idle = self._idle.get(key, [])
                    while idle:
                        shell = idle.pop()
                        if shell.endpoint != endpoint or time.monotonic() - shell.last_used > MAX_IDLE_SECONDS:
                            stale.append(shell)      # credentials/trust changed, or idle too long
                            self._count[key] -= 1
                            continue
                        return shell
                    if self._count.get(key, 0) < self.max_per_key:
                        self._count[key] = self._count.get(key, 0) + 1
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("no shell became free before the deadline")
                    self._cond.wait(remaining)
        finally:
            for shell in stale:
                shell.close()
        try:
            return opener(endpoint)
        except BaseException:
            with self._cond:
                self._count[key] -= 1
                self._cond.notify()
            raise

    def release(self, shell: Shell) -> None:
        """Give a healthy shell back for reuse."""
        shell.last_used = time.monotonic()
        with self._cond:
            self._idle.setdefault(shell.endpoint.pool_key, []).append(shell)
            self._cond.notify()

    def discard(self, shell: Shell, wait: bool = True) -> None:
        """Close a shell whose state is unknown (error mid-command) and forget it. With
        ``wait=False`` (host not answering) the Delete is attempted in the background so the
        caller's deadline is kept; the shell's IdleTimeOut cleans up if that fails too."""
        with self._cond:
            self._count[shell.endpoint.pool_key] -= 1
            self._cond.notify()
        if wait:
            shell.close()
        else:
            threading.Thread(target=shell.close, name="winfleet-shell-close", daemon=True).start()

    def close_idle(self, endpoint=None) -> int:
        """Close idle shells (of one endpoint's key, or all); returns how many were closed."""
        with self._cond:
            keys = [endpoint.pool_key] if endpoint is not None else list(self._idle)
            victims = []
            for key in keys:
                shells = self._idle.pop(key, [])
                self._count[key] = self._count.get(key, 0) - len(shells)
                victims.extend(shells)
            self._cond.notify_all()
        for shell in victims:
            shell.close()
        return len(victims)

    def stats(self) -> dict:
        with self._cond:
            return {"idle": sum(len(v) for v in self._idle.values()),
                    "total": sum(self._count.values())}


POOL = ShellPool()


def close_all() -> int:
    """Close every idle pooled shell (tests call this to prove nothing leaks)."""
    return POOL.close_idle()


atexit.register(close_all)


def _close_on(signum, previous):
    """SIGTERM / CTRL_BREAK: close the idle shells, then do what the signal did before (default: exit)."""
    def handler(sig, frame):
        close_all()
        if callable(previous):
            previous(sig, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)
    return handler


def install_signal_handlers() -> bool:
    """Close shells on SIGTERM (and SIGBREAK, Windows' CTRL_BREAK) as atexit does on SIGINT. Only the
    main thread may install handlers: a process that imports us from a worker thread (the dynamic-provider
    host) relies on base.end_call closing shells when each provider call ends."""
    if threading.current_thread() is not threading.main_thread():
        return False
    for name in ("SIGTERM", "SIGBREAK"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, _close_on(sig, signal.getsignal(sig)))
    return True


install_signal_handlers()

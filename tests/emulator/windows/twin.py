"""Real processes behind emulated services: the Linux twin of a published Windows build.

A Windows build whose SHA-256 is registered here (``register``, or ``register_dir`` for a folder
where ``<name>.exe`` has a sibling ``<name>``: the reference service's ``build/goservice``) is run,
when the emulated SCM starts a service from it, as the real Linux process of the same source. The
SCM model (scm.py) then takes the service's state from that process:

* **Start**: the process is spawned with the service's ``Environment`` value (REG_MULTI_SZ of
  ``NAME=value``, the variables the SCM gives the service's process; research/windows_domain.md §1)
  and nothing of this machine's environment but PATH. START_PENDING until it accepts
  TCP connections on its port (the Go service reports SERVICE_RUNNING right after it bound the
  listener, goservice/run_windows.go); a process that exits before that never reaches RUNNING.
* **Stop**: SIGTERM, the Linux twin's path to the same drain as SERVICE_CONTROL_STOP. STOP_PENDING
  until the process exits; the SCM does not kill a service that takes long to stop on a plain Stop
  (it is left "Stopping"; the waiting client gives up), so neither do we.
* **Exit code** = the service's Win32 exit code; an exit the SCM did not ask for is a failure that
  runs the recovery actions (scm.py ``_process_exited``).

What the emulator cannot give the process, and remaps (documented simplifications):
* the port: many emulated hosts share this machine, so each process listens on a free port of
  127.0.0.1 and the host's readiness probe (http.py) goes there over real HTTP;
* Windows paths in the environment (WINFLEET_LOG_DIR, WINFLEET_SECRETS_FILE): mapped to a real
  scratch folder per host (``real_path``); the secrets file's bytes are copied from the file model;
* the controls the service accepts: the Go program logs them on start ("acceptedControls", the
  same constant its Windows SCM handler reports), and the SCM model takes them from that line.

Child processes never outlive the emulator: they die with their parent (PR_SET_PDEATHSIG), every
host's ``stop``/``reset`` kills them, and so does interpreter exit; every wait is bounded.
"""
from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref

_ALL: "weakref.WeakSet[TwinProcess]" = weakref.WeakSet()
_ALL_LOCK = threading.Lock()

# Environment variables whose values are Windows paths the process needs as real paths.
PATH_VARS = ("WINFLEET_LOG_DIR", "WINFLEET_SECRETS_FILE")
# The exit codes with which the reference service's Windows build returns from its SCM handler, so
# after reporting SERVICE_STOPPED with that Win32 exit code: ExitOK and ExitConfig..ExitCrashOut in
# goservice/internal/refsvc/service.go. Any other exit of the twin stands for a process that died
# without reporting (a crash). /test/crash?mode=exit&code=N uses this to show either kind.
REPORTED_EXIT_CODES = frozenset({0, 10, 11, 12, 13, 14, 15})
# Windows' accepted-control bits (winsvc.h), for the names the Go service logs.
ACCEPT_BITS = {"stop": 0x1, "pause": 0x2, "shutdown": 0x4, "preshutdown": 0x100}


def _die_with_parent() -> None:                       # runs in the child before exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except OSError:
        pass


class _Spawner:
    """Starts every child from one thread that lives as long as the interpreter: PR_SET_PDEATHSIG
    fires when the *thread* that forked the child ends, so a child started from a short-lived thread
    (an SCM restart timer, a WinRM op) would be killed at once."""

    def __init__(self):
        import queue
        self._q: "queue.Queue" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _run(self) -> None:
        while True:
            fn, box, done = self._q.get()
            try:
                box.append(fn())
            except BaseException as e:        # handed back to the caller
                box.append(e)
            done.set()

    def popen(self, *args, **kw) -> subprocess.Popen:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="twin-spawner", daemon=True)
                self._thread.start()
        box: list = []
        done = threading.Event()
        self._q.put((lambda: subprocess.Popen(*args, **kw), box, done))
        if not done.wait(30):
            raise RuntimeError("twin spawner did not start the process within 30 s")
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]


_SPAWNER = _Spawner()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TwinProcess:
    """One running Linux twin: the Popen, its remapped port and log folder, what it reported."""

    def __init__(self, service: str, popen: subprocess.Popen, port: int | None, real_port: int | None,
                 log_dir: str | None, log_base: str):
        self.service, self.popen = service, popen
        self.port, self.real_port = port, real_port
        self.log_dir, self.log_base = log_dir, log_base
        self.started = time.monotonic()
        self.stop_requested = False
        self.stop_sent_at: float | None = None
        self.controls: int | None = None              # from the "started" log line
        self.readiness_trace: list[tuple[float, int | None]] = []   # (t, status) probes during a stop
        with _ALL_LOCK:
            _ALL.add(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def listening(self) -> bool:
        if self.real_port is None:
            return self.exit_code() is None
        try:
            with socket.create_connection(("127.0.0.1", self.real_port), timeout=0.2):
                return True
        except OSError:
            return False

    def terminate(self) -> None:
        self.stop_requested = True
        self.stop_sent_at = time.monotonic()
        if self.exit_code() is None:
            self.popen.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.exit_code() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def log_lines(self) -> list[dict]:
        """The process's JSON log lines (current file and rotated ones), oldest file first."""
        if not self.log_dir or not os.path.isdir(self.log_dir):
            return []
        names = sorted(n for n in os.listdir(self.log_dir)
                       if n.startswith(self.log_base + "-") and n.endswith(".log"))
        names.append(self.log_base + ".log")
        out = []
        for n in names:
            try:
                with open(os.path.join(self.log_dir, n), encoding="utf-8") as f:
                    for line in f:
                        try:
                            out.append(json.loads(line))
                        except ValueError:
                            pass                # a line being written right now
            except OSError:
                pass
        return [l for l in out if l.get("pid") == self.pid]

    def stop_progress(self) -> list[tuple[int, int]]:
        """(dwCheckPoint, dwWaitHint ms) the program reported while stopping, in order: the Linux build logs
        what its Windows build sends the SCM as SERVICE_STOP_PENDING ("msg":"stop pending")."""
        return [(int(l["checkPoint"]), int(l["waitHintMs"])) for l in self.log_lines()
                if l.get("msg") == "stop pending" and "checkPoint" in l and "waitHintMs" in l]

    def read_controls(self) -> int | None:
        if self.controls is None:
            for line in self.log_lines():
                if line.get("msg") == "started" and isinstance(line.get("acceptedControls"), list):
                    bits = 0
                    for name in line["acceptedControls"]:
                        bits |= ACCEPT_BITS.get(str(name).lower(), 0)
                    self.controls = bits
                    break
        return self.controls


class Twins:
    """The twins of one emulated host (``host.scm.twins``)."""

    def __init__(self, host):
        self.host = host
        self.builds: dict[str, str] = {}          # SHA-256 of a Windows build -> its Linux twin's path
        self._root: str | None = None
        self.exited: list[dict] = []              # {"service", "pid", "exitCode", "requested"} in order
        self.procs: list[TwinProcess] = []        # every process spawned for this host

    # --- registration ------------------------------------------------------------------------
    def register(self, windows_sha256: str, linux_path: str) -> None:
        if not os.access(linux_path, os.X_OK):
            raise ValueError(f"{linux_path} is not an executable file")
        self.builds[windows_sha256.lower()] = os.path.abspath(linux_path)

    def register_dir(self, directory: str) -> list[str]:
        """Every ``<name>.exe`` in ``directory`` with an executable sibling ``<name>``: returns the names."""
        found = []
        for n in sorted(os.listdir(directory)):
            twin = os.path.join(directory, n[:-4])
            if n.lower().endswith(".exe") and os.path.isfile(twin) and os.access(twin, os.X_OK):
                self.register(sha256_file(os.path.join(directory, n)), twin)
                found.append(n)
        return found

    def twin_of(self, exe: str | None) -> str | None:
        files = self.host.files
        if not exe or not self.builds or not files.is_file(exe):
            return None
        return self.builds.get(files.sha256(exe))

    # --- paths -------------------------------------------------------------------------------
    @property
    def root(self) -> str:
        if self._root is None:
            self._root = tempfile.mkdtemp(prefix=f"winfleet-twin-{self.host.name}-")
        return self._root

    def real_path(self, windows_path: str) -> str:
        """``D:\\logs\\api`` -> ``<root>/D/logs/api`` (case-folded: NTFS paths ignore case)."""
        p = windows_path.replace("/", "\\").rstrip("\\")
        drive, _, rest = p.partition(":")
        parts = [x for x in rest.split("\\") if x and x not in (".", "..")]
        return os.path.join(self.root, drive.upper(), *[x.lower() for x in parts])

    # --- lifecycle ---------------------------------------------------------------------------
    def spawn(self, service: str, exe: str, linux_path: str, environment: list[str] | None) -> TwinProcess:
        env = {"PATH": "/usr/bin:/bin"}
        for entry in environment or []:
            k, sep, v = entry.partition("=")
            if sep and k:
                env[k] = v
        for k in PATH_VARS:
            if env.get(k):
                real = self.real_path(env[k])
                if k == "WINFLEET_LOG_DIR":
                    os.makedirs(real, exist_ok=True)
                elif self.host.files.is_file(env[k]):
                    os.makedirs(os.path.dirname(real), exist_ok=True)
                    with open(real, "wb") as f:
                        f.write(self.host.files.read(env[k]))
                env[k] = real
        port = real_port = None
        if env.get("WINFLEET_PORT", "").isdigit():
            port, real_port = int(env["WINFLEET_PORT"]), free_port()
            env["WINFLEET_PORT"] = str(real_port)
        env["REFSVC_LISTEN_HOST"] = "127.0.0.1"       # tests bind only to loopback
        base = os.path.basename(linux_path)
        popen = _SPAWNER.popen([linux_path], env=env, cwd=self.root, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,   # a service has no console
                                 preexec_fn=_die_with_parent)
        proc = TwinProcess(service, popen, port, real_port, env.get("WINFLEET_LOG_DIR"), base)
        self.procs.append(proc)
        return proc

    def for_port(self, port: int) -> TwinProcess | None:
        """The live process that listens on the emulated ``port`` (newest first)."""
        for p in reversed(self.procs):
            if p.port == int(port) and p.exit_code() is None:
                return p
        return None

    def record_exit(self, proc: TwinProcess) -> None:
        self.exited.append({"service": proc.service, "pid": proc.pid, "exitCode": proc.exit_code(),
                            "requested": proc.stop_requested})

    def kill_all(self) -> None:
        """Every process of this host dies (host stop/reset, a power cut); its scratch folder goes."""
        for p in self.procs:
            p.kill()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def kill_every_twin() -> None:
    with _ALL_LOCK:
        procs = list(_ALL)
    for p in procs:
        p.kill()


atexit.register(kill_every_twin)

"""What runs inside an emulated WinRS shell: cmd.exe's view of a command line.

* longer than 8,191 characters -> stderr "The command line is too long.", exit 1 (cmd.exe);
* the project's bootstrap (exact command line) -> the payload arrives on stdin, then the
  dispatcher runs the op's Python handler (dispatcher.py);
* ``hostname``, ``whoami``, ``echo`` -> cmd builtins / System32 tools, for smoke tests;
* ``powershell -EncodedCommand`` with one of a few one-liners (``$env:COMPUTERNAME``) -> its
  output (used by the ``Session.run_ps`` baseline of the benchmark); any other PowerShell script
  cannot be run by the emulator and says so on stderr (exit 1);
* anything else -> "'x' is not recognized as an internal or external command,
  operable program or batch file." on stderr and exit code 9009, exactly like cmd.exe.
"""
from __future__ import annotations

import base64
import re
import threading

from components.winrm.bootstrap import COMMAND_LINE as BOOTSTRAP_COMMAND_LINE

CMD_LINE_LIMIT = 8191


class Process:
    """Output buffers + exit code of one command; the Receive long-poll waits on ``cond``."""

    def __init__(self, command_id: str, command_line: str, codepage: int):
        self.command_id = command_id
        self.command_line = command_line
        self.codepage = codepage
        self.cond = threading.Condition()
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exit_code: int | None = None
        self.stdin = bytearray()
        self.stdin_closed = False
        self.terminated = False
        self.on_stdin_closed = None   # callable(bytes) for processes that read all of stdin

    def encode(self, text: str) -> bytes:
        if self.codepage == 65001:
            return text.encode("utf-8")
        return text.encode(f"cp{self.codepage}" if self.codepage != 437 else "cp437", errors="replace")

    def write(self, stdout: bytes = b"", stderr: bytes = b""):
        with self.cond:
            self.stdout += stdout
            self.stderr += stderr
            self.cond.notify_all()

    def finish(self, exit_code: int):
        with self.cond:
            if self.exit_code is None:
                self.exit_code = exit_code
            self.cond.notify_all()

    def feed(self, data: bytes, end: bool):
        callback = None
        with self.cond:
            if self.stdin_closed:
                return
            self.stdin += data
            if end:
                self.stdin_closed = True
                callback = self.on_stdin_closed
        if callback is not None:
            callback(bytes(self.stdin))

    @property
    def done(self) -> bool:
        return self.exit_code is not None

    def take(self, max_bytes: int) -> tuple[bytes, bytes, bool, int | None]:
        """Pop up to ``max_bytes`` of pending output; done only once all output was taken."""
        with self.cond:
            out = bytes(self.stdout[:max_bytes])
            del self.stdout[:len(out)]
            err = bytes(self.stderr[:max(0, max_bytes - len(out))])
            del self.stderr[:len(err)]
            done = self.exit_code is not None and not self.stdout and not self.stderr
            return out, err, done, self.exit_code if done else None

    def has_output(self) -> bool:
        return bool(self.stdout or self.stderr) or self.exit_code is not None


_PS = re.compile(r"^\s*powershell(?:\.exe)?\s+(?:-\w+(?:\s+(?!-)\S+)?\s+)*?-(?:e|ec|enc|encodedcommand)\s+(\S+)\s*$",
                 re.IGNORECASE)


def start(host, shell, process: Process) -> None:
    """Start ``process`` on ``host`` (an EmulatedHost); output is written to the process."""
    line = process.command_line
    if len(line) > CMD_LINE_LIMIT:
        process.write(stderr=process.encode("The command line is too long.\r\n"))
        process.finish(1)
        return
    if line == BOOTSTRAP_COMMAND_LINE:
        from .dispatcher import run_bootstrap

        def on_stdin(data: bytes):
            threading.Thread(target=run_bootstrap, args=(host, shell, process, data),
                             name=f"op-{process.command_id[:8]}", daemon=True).start()
        process.on_stdin_closed = on_stdin
        return
    words = line.strip().split(None, 1)
    name = words[0].lower() if words else ""
    rest = words[1] if len(words) > 1 else ""
    if name in ("hostname", "hostname.exe") and not rest:
        process.write(process.encode(host.name + "\r\n"))
        process.finish(0)
    elif name in ("whoami", "whoami.exe") and not rest:
        process.write(process.encode(f"{host.name.lower()}\\{shell.owner.lower()}\r\n"))
        process.finish(0)
    elif name == "echo" or name.startswith("echo."):
        text = rest if rest else "ECHO is on."
        process.write(process.encode(text + "\r\n"))
        process.finish(0)
    elif name in ("powershell", "powershell.exe") and _PS.match(line):
        _inline_powershell(host, process, _PS.match(line).group(1))
    elif not name:
        process.finish(0)
    else:
        process.write(stderr=process.encode(
            f"'{words[0]}' is not recognized as an internal or external command,\r\n"
            "operable program or batch file.\r\n"))
        process.finish(9009)


_INLINE = {
    "$env:computername": lambda host: host.name.upper(),
    "[environment]::machinename": lambda host: host.name.upper(),
    "hostname": lambda host: host.name,
}


def _inline_powershell(host, process: Process, encoded: str) -> None:
    try:
        script = base64.b64decode(encoded, validate=True).decode("utf-16-le")
    except Exception:
        process.write(stderr=process.encode("Cannot process the command because the value specified with "
                                            "-EncodedCommand is not properly encoded. The value must be "
                                            "Base64 encoded.\r\n"))
        process.finish(1)
        return
    key = re.sub(r"\s+", " ", script.replace("$ProgressPreference = 'SilentlyContinue';", "")).strip().lower()
    fn = _INLINE.get(key)
    if fn is None:
        process.write(stderr=process.encode(
            "winfleet emulator: cannot run an arbitrary PowerShell script (only the winfleet bootstrap and "
            "a few one-liners such as $env:COMPUTERNAME are emulated)\r\n"))
        process.finish(1)
        return
    process.write(process.encode(fn(host) + "\r\n"))
    process.finish(0)

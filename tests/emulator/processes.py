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


# Windows hands a process's output to Receive in the pieces its pipe reads returned (recordings:
# cmd's echo arrives as "hi" then "\n", dir as 3 stdout Streams); the emulator cuts every write into
# pieces of at most this many bytes, so any output longer than that arrives in several Streams, cut
# at arbitrary bytes (also inside a UTF-8 character).
STREAM_PIECE_BYTES = 48
CREATE_PROCESS_LIMIT = 32767     # CreateProcess lpCommandLine; longer -> Command fault 2147942606


class Process:
    """Pending output pieces (in write order) + exit code of one command; Receive waits on ``cond``."""

    def __init__(self, command_id: str, command_line: str, codepage: int,
                 output_streams: tuple[str, ...] = ("stdout", "stderr"), console_mode_stdin: bool = True):
        self.command_id = command_id
        self.command_line = command_line
        self.codepage = codepage
        self.output_streams = output_streams      # the shell's rsp:OutputStreams: only these are captured
        self.console_mode_stdin = console_mode_stdin
        self.cond = threading.Condition()
        self.pending: list[tuple[str, bytes]] = []
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
        """stderr first: a script's errors are written while it runs, its result at the end."""
        with self.cond:
            for name, data in (("stderr", stderr), ("stdout", stdout)):
                if name not in self.output_streams:
                    continue
                for i in range(0, len(data), STREAM_PIECE_BYTES):
                    self.pending.append((name, bytes(data[i:i + STREAM_PIECE_BYTES])))
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

    def take(self, max_bytes: int, streams: tuple[str, ...]) -> tuple[list[tuple[str, bytes]], bool, int | None]:
        """Pop pending pieces of ``streams`` (the Receive's DesiredStream) in write order, up to
        ``max_bytes``. Done only once every captured piece was taken: output of a stream the client
        never asks for stays pending and the command is never reported Done (unsure what Windows
        does with it, so the strict choice: such a client hangs until its own deadline)."""
        with self.cond:
            taken, size, keep, full = [], 0, [], False
            for name, data in self.pending:
                if not full and name in streams and (not taken or size + len(data) <= max_bytes):
                    taken.append((name, data))
                    size += len(data)
                else:
                    full = full or name in streams      # keep the desired streams' order
                    keep.append((name, data))
            self.pending = keep
            done = self.exit_code is not None and not self.pending
            return taken, done, self.exit_code if done else None

    def has_output(self, streams: tuple[str, ...]) -> bool:
        return any(name in streams for name, _ in self.pending) or (self.exit_code is not None and not self.pending)


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

        if process.console_mode_stdin:
            # WINRS_CONSOLEMODE_STDIN=TRUE (MS-WSMV 3.1.4.11 Command options,
            # https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-wsmv/c793e333-c409-43c6-a2eb-6ae2489c7ef4;
            # pywinrm's default; absent is treated as TRUE, the strict reading): stdin is a console, not
            # a pipe, so the bootstrap's $input cannot be trusted with our payload (NULs, line editing).
            # ansible passes console_mode_stdin=False whenever it feeds stdin
            # (ansible/plugins/connection/winrm.py). Unsure what exactly breaks on Windows: fail.
            def refuse(_data: bytes):
                process.write(stderr=process.encode(
                    "winfleet emulator: stdin is in console mode (WINRS_CONSOLEMODE_STDIN is not FALSE); "
                    "the bootstrap reads its payload from a pipe\r\n"))
                process.finish(1)
            process.on_stdin_closed = refuse
            return

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

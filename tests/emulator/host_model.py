"""One emulated Windows host: the state our host ops read and change.

Each Windows subsystem lives in its own module under ``tests/emulator/windows`` so the
SCM, event logs, storage and files can grow independently. The dispatcher holds
``HostModel.lock`` around every op handler, as a real host serialises our changes through
the single SCM / registry APIs we call.
"""
from __future__ import annotations

import threading

from .windows.accounts import Accounts
from .windows.eventlog import EventLogs
from .windows.files import FileSystem
from .windows.http import ReadinessEndpoints
from .windows.registry import Registry
from .windows.scm import ServiceControlManager
from .windows.storage import Storage

JOURNAL_KEY = r"HKLM\SOFTWARE\winfleet\Journal"


class HostModel:
    def __init__(self, name: str):
        self.name = name
        self.lock = threading.RLock()
        self.registry = Registry()
        self.accounts = Accounts(name)
        self.files = FileSystem()
        self.eventlogs = EventLogs(self)
        self.storage = Storage(self)
        self.scm = ServiceControlManager(self)
        self.http = ReadinessEndpoints(self)

    # --- the host journal (see docs/CONTRACTS.md) -------------------------------------------
    def journal_write(self, key: str, value_json: str) -> None:
        self.registry.set_value(JOURNAL_KEY, key, "REG_SZ", value_json)

    def journal_clear(self, key: str) -> None:
        self.registry.delete_value(JOURNAL_KEY, key)

    def journal_entries(self) -> dict[str, str]:
        return {name: value for name, (_kind, value) in self.registry.values(JOURNAL_KEY).items()}

    def state(self) -> dict:
        """A JSON-able snapshot of everything the host ops can see or change."""
        with self.lock:
            return {
                "name": self.name,
                "registry": self.registry.state(),
                "accounts": self.accounts.state(),
                "files": self.files.state(),
                "eventlogs": self.eventlogs.state(),
                "storage": self.storage.state(),
                "services": self.scm.state(),
                "http": self.http.state(),
            }

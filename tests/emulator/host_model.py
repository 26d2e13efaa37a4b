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
from .windows.firewall import Firewall
from .windows.http import ReadinessEndpoints
from .windows.net import TcpNet
from .windows.registry import Registry
from .windows.scm import ServiceControlManager
from .windows.storage import Storage
from .windows.tasks import TaskScheduler

WINFLEET_KEY = r"HKLM\SOFTWARE\winfleet"
JOURNAL_KEY = WINFLEET_KEY + r"\Journal"


class HostModel:
    def __init__(self, name: str):
        self.name = name
        self.lock = threading.RLock()
        self.registry = Registry()
        self.accounts = Accounts(name, service_exists=lambda svc: self.scm.exists(svc))
        self.files = FileSystem()
        self.eventlogs = EventLogs(self)
        self.storage = Storage(self)
        self.scm = ServiceControlManager(self)
        self.http = ReadinessEndpoints(self)
        self.firewall = Firewall(self)
        self.net = TcpNet(self)
        self.tasks = TaskScheduler(self)

    # --- the host journal (see docs/CONTRACTS.md) -------------------------------------------
    def journal_write(self, key: str, value_json: str) -> None:
        self.registry.set_value(JOURNAL_KEY, key, "REG_SZ", value_json)

    def journal_clear(self, key: str) -> None:
        """Clear-Journal: the entry goes; the Journal key (then HKLM\\SOFTWARE\\winfleet) goes with the last one."""
        self.registry.delete_value(JOURNAL_KEY, key)
        self.remove_empty_winfleet_key("Journal")

    def remove_empty_winfleet_key(self, sub: str) -> None:
        """Remove-EmptyWinfleetKey (scripts/lib/common.ps1): delete ``HKLM\\SOFTWARE\\winfleet\\<sub>`` if it has
        no values and no subkeys, then ``HKLM\\SOFTWARE\\winfleet`` if that is empty too. The drivers do it
        under a host-wide mutex; here the dispatcher holds ``self.lock`` around the whole op."""
        key = f"{WINFLEET_KEY}\\{sub}"
        if self.registry.key_exists(key) and not self.registry.delete_key_if_empty(key):
            return
        self.registry.delete_key_if_empty(WINFLEET_KEY)

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
                "firewall": self.firewall.state(),
                "net": self.net.state(),
                "tasks": self.tasks.state(),
            }

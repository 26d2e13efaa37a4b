"""One emulated Windows host: the state our host ops read and change.

Each Windows subsystem lives in its own module under ``tests/emulator/windows`` so the
SCM, event logs, storage and files can grow independently. The dispatcher holds
``HostModel.lock`` around every op handler, as a real host serialises our changes through
the single SCM / registry APIs we call.
"""
from __future__ import annotations

import threading
import uuid

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
# MachineGuid: set by Windows setup, one per installation, the same through every endpoint of the host
# (learn.microsoft.com: HKLM\SOFTWARE\Microsoft\Cryptography MachineGuid, REG_SZ). Stable per host name here.
CRYPTOGRAPHY_KEY = r"HKLM\SOFTWARE\Microsoft\Cryptography"
_GUID_NS = uuid.UUID("5b0c1a52-3c1e-4f0e-9a57-7e3c1f1ad001")


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
        self.registry.set_value(CRYPTOGRAPHY_KEY, "MachineGuid", "REG_SZ", str(uuid.uuid5(_GUID_NS, name.lower())))

    @property
    def machine_guid(self) -> str | None:
        kind_data = self.registry.get_value(CRYPTOGRAPHY_KEY, "MachineGuid")
        return kind_data[1] if kind_data else None

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

    def journal_entries_ci(self) -> dict[str, str]:
        """Entries by lower-case name (registry value names ignore case)."""
        return {name.lower(): value for name, value in self.journal_entries().items()}

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

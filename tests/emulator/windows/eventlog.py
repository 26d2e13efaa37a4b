"""Event logs of the emulated host: size, retention, sources, Group Policy overrides.

Faithful where winfleet depends on behaviour (windows_domain.md §5; wevtutil docs; .NET
``System.Diagnostics.Eventing.Reader.EventLogConfiguration``, which is what ``Get-WinEvent -ListLog``
returns and what our driver saves through):

* **Configuration lives in the registry**, as on Windows. Classic logs (Application, Security,
  System, custom classic logs): ``HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\<log>`` with
  ``MaxSize`` (REG_DWORD, **bytes**), ``Retention`` (REG_DWORD: 0 = overwrite as needed,
  0xFFFFFFFF = never overwrite), ``AutoBackupLogFiles`` (REG_DWORD 1) and ``File``. Channels
  (``Setup``, ``Microsoft-Windows-*/Operational``): ``HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\WINEVT\\Channels\\<name>``
  with ``MaxSize`` (bytes), ``Retention`` (0/1) and ``AutoBackupLogFiles``.
* **Modes** (``EventLogMode``): circular = retention off, no backup; autoBackup = retention on +
  backup; retain = retention on, no backup.
* **Size rules**: the service refuses a maximum size below 1 MB (1,048,576 bytes: "The parameter
  is incorrect") and keeps sizes in multiples of 64 KB: a size that is not a multiple is rounded
  **up** (simplification: we model rounding where real Windows behaviour is only documented as
  "log files are always multiples of 64KB").
* **Group Policy**: values under ``HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\EventLog\\<log>``
  (``MaxSize`` REG_DWORD **KB**, ``Retention`` REG_SZ "0"/"1", ``AutoBackupLogFiles`` REG_SZ "1")
  override the local configuration: the effective values are the policy ones, and a local change
  is stored but has no effect.
* **Seeded defaults** (Windows Server 2019/2022 as commonly reported; windows_domain.md §5.1 marks
  the real defaults unverified): Application, System, Security, Setup at 20480 KB, circular.

**Events** (records): ``write`` appends one (what ReportEvent / the SCM / WER / ntfs.sys do), ``events``
filters them the way ``Get-WinEvent -FilterHashtable @{LogName; Id; ProviderName; StartTime}`` does
(https://learn.microsoft.com/powershell/module/microsoft.powershell.diagnostics/get-winevent): newest
first, ``StartTime`` inclusive. Records are history, not configuration: they are left out of ``state()``
(no destroy restores them). Other emulated subsystems call ``write`` where Windows would log.

**Log files**: ``filePath`` is the classic log's ``File`` value (channels: ``%SystemRoot%\System32\winevt\Logs\
<name, '/' as '%4'>.evtx``, the documented default location) with %SystemRoot% = C:\Windows, so every log
lives on C: unless a test moves it; ``fileSizeBytes`` (EventLogInformation.FileSize) starts at 69,632 bytes
(an empty .evtx: a 4 KB header and one 64 KB chunk) and tests may grow it with ``set_file_size``.

Simplifications: the log's size does not limit how many records are kept, log names are case-insensitive/case-preserving
through the registry, channel enablement/paths/SDDL are not modelled.
"""
from __future__ import annotations

import copy
import itertools
import time

SERVICES_EVENTLOG = r"HKLM\SYSTEM\CurrentControlSet\Services\EventLog"
CHANNELS = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\WINEVT\Channels"
POLICY = r"HKLM\SOFTWARE\Policies\Microsoft\Windows\EventLog"

MIN_BYTES = 1024 * 1024
MULTIPLE = 64 * 1024
NEVER_OVERWRITE = 0xFFFFFFFF
MODES = ("circular", "autoBackup", "retain")

DEFAULT_CLASSIC = {"Application": 20480 * 1024, "Security": 20480 * 1024, "System": 20480 * 1024}
# Microsoft-Windows-PowerShell/Operational: 15 MB on Windows Server 2022 (wevtutil gl); a channel whose name
# holds '/', stored as one key under WINEVT\Channels (registry.py).
DEFAULT_CHANNELS = {"Setup": 20480 * 1024, "Microsoft-Windows-PowerShell/Operational": 15360 * 1024}


# Sources every Windows Server has (a few; each a key under its log with an EventMessageFile): winfleet must
# neither adopt nor delete them. MsiInstaller: https://learn.microsoft.com/en-us/windows/win32/msi/event-logging
SYSTEM_SOURCES = {"Application": {"MsiInstaller": r"%SystemRoot%\System32\msimsg.dll",
                                  "Application Error": r"%SystemRoot%\System32\wer.dll",
                                  "Windows Error Reporting": r"%SystemRoot%\System32\wer.dll"},
                  "System": {"Service Control Manager": r"%SystemRoot%\System32\services.exe",
                             "EventLog": r"%SystemRoot%\System32\els.dll"}}


class EventLogError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class EventLogs:
    def __init__(self, host):
        self.host = host
        self.clock = time.time                 # TimeCreated (UTC epoch seconds); tests may replace it
        self._records: list[dict] = []
        self._file_sizes: dict[str, int] = {}
        self._record_ids = itertools.count(1)
        reg = host.registry
        for name, size in DEFAULT_CLASSIC.items():
            key = f"{SERVICES_EVENTLOG}\\{name}"
            reg.set_value(key, "MaxSize", "REG_DWORD", size)
            reg.set_value(key, "Retention", "REG_DWORD", 0)
            reg.set_value(key, "File", "REG_EXPAND_SZ", f"%SystemRoot%\\System32\\winevt\\Logs\\{name}.evtx")
        for log, sources in SYSTEM_SOURCES.items():
            for source, dll in sources.items():
                reg.set_value(f"{SERVICES_EVENTLOG}\\{log}\\{source}", "EventMessageFile", "REG_EXPAND_SZ", dll)
        for name, size in DEFAULT_CHANNELS.items():
            key = f"{CHANNELS}\\{name}"
            reg.set_value(key, "MaxSize", "REG_DWORD", size)
            reg.set_value(key, "Retention", "REG_DWORD", 0)
            reg.set_value(key, "Enabled", "REG_DWORD", 1)

    # --- lookup -------------------------------------------------------------------------------
    def _key(self, name: str) -> tuple[str, bool] | None:
        """(registry key, classic?) of an existing log, or None."""
        if not isinstance(name, str) or not name or "\\" in name:
            return None
        reg = self.host.registry
        if "/" not in name and reg.key_exists(f"{SERVICES_EVENTLOG}\\{name}"):
            return f"{SERVICES_EVENTLOG}\\{name}", True
        if reg.key_exists(f"{CHANNELS}\\{name}"):
            return f"{CHANNELS}\\{name}", False
        return None

    def exists(self, name: str) -> bool:
        return self._key(name) is not None

    def names(self) -> list[str]:
        reg = self.host.registry
        return sorted(set(reg.subkeys(SERVICES_EVENTLOG)) | set(reg.subkeys(CHANNELS)), key=str.lower)

    def canonical(self, name: str) -> str:
        """The log's name as Windows spells it (names are case-insensitive, case-preserving)."""
        found = self._key(name)
        if found is None:
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{name}\".")
        parent = SERVICES_EVENTLOG if found[1] else CHANNELS
        for sub in self.host.registry.subkeys(parent):
            if sub.lower() == name.lower():
                return sub
        return name

    def _raw(self, key: str, value: str, default=None):
        got = self.host.registry.get_value(key, value)
        return default if got is None else got[1]

    def local(self, name: str) -> dict:
        """The locally configured (registry) settings, ignoring policy."""
        found = self._key(name)
        if found is None:
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{name}\".")
        key, classic = found
        size = int(self._raw(key, "MaxSize", 20480 * 1024))
        ret = int(self._raw(key, "Retention", 0))
        backup = int(self._raw(key, "AutoBackupLogFiles", 0))
        keep = ret != 0
        mode = "circular" if not keep else ("autoBackup" if backup else "retain")
        return {"name": self.canonical(name), "classic": classic, "maxSizeBytes": size, "retention": mode}

    def policy(self, name: str) -> dict | None:
        """Group Policy values for the log ({maxSizeKb, retention, autoBackup}), None if unmanaged."""
        key = f"{POLICY}\\{name}"
        vals = self.host.registry.values(key)
        if not vals:
            return None
        low = {k.lower(): v[1] for k, v in vals.items()}
        out = {}
        if "maxsize" in low:
            out["maxSizeKb"] = int(low["maxsize"])
        if "retention" in low:
            out["retention"] = str(low["retention"])
        if "autobackuplogfiles" in low:
            out["autoBackup"] = str(low["autobackuplogfiles"])
        return out or None

    def get(self, name: str) -> dict:
        """What ``Get-WinEvent -ListLog`` reports: effective values (policy wins) + local + policy."""
        cfg = self.local(name)
        pol = self.policy(cfg["name"])
        eff = dict(cfg)
        if pol:
            if "maxSizeKb" in pol:
                eff["maxSizeBytes"] = pol["maxSizeKb"] * 1024
            if "retention" in pol:
                keep = pol["retention"] == "1"
                eff["retention"] = "circular" if not keep else ("autoBackup" if pol.get("autoBackup") == "1" else "retain")
        eff["policy"] = pol
        return eff

    # --- changes (EventLogConfiguration.SaveChanges) ---------------------------------------
    def set_max_size(self, name: str, size_bytes: int) -> int:
        key, _classic = self._key(name) or (None, None)
        if key is None:
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{name}\".")
        if not isinstance(size_bytes, int) or isinstance(size_bytes, bool) or size_bytes < MIN_BYTES:
            raise EventLogError("INVALID_PARAMETER", "The parameter is incorrect")
        size = -(-size_bytes // MULTIPLE) * MULTIPLE
        if size > 0xFFFFFFFF:   # classic MaxSize is a DWORD; channels take a QWORD (we keep one shape)
            self.host.registry.set_value(key, "MaxSize", "REG_QWORD", size)
        else:
            self.host.registry.set_value(key, "MaxSize", "REG_DWORD", size)
        return size

    def set_retention(self, name: str, mode: str) -> None:
        found = self._key(name)
        if found is None:
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{name}\".")
        if mode not in MODES:
            raise EventLogError("INVALID_PARAMETER", "The parameter is incorrect")
        key, classic = found
        reg = self.host.registry
        keep = mode != "circular"
        reg.set_value(key, "Retention", "REG_DWORD", (NEVER_OVERWRITE if classic else 1) if keep else 0)
        if mode == "autoBackup":
            reg.set_value(key, "AutoBackupLogFiles", "REG_DWORD", 1)
        else:
            # Simplification: we model "no auto-backup" as the value being absent (absent == 0);
            # whether Windows writes 0 or deletes the value is not verified.
            reg.delete_value(key, "AutoBackupLogFiles")

    # --- log files -----------------------------------------------------------------------------
    def file_path(self, name: str) -> str:
        found = self._key(name)
        if found is None:
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{name}\".")
        key, classic = found
        canon = self.canonical(name)
        raw = self._raw(key, "File", None) if classic else None
        if raw is None:
            raw = "%SystemRoot%\\System32\\winevt\\Logs\\" + canon.replace("/", "%4") + ".evtx"
        return str(raw).replace("%SystemRoot%", "C:\\Windows")

    def file_size(self, name: str) -> int:
        return self._file_sizes.get(self.canonical(name).lower(), 69632)

    def set_file_size(self, name: str, size: int) -> None:
        self._file_sizes[self.canonical(name).lower()] = int(size)

    def move_file(self, name: str, path: str) -> None:
        """A classic log whose file an administrator moved (``File`` value), e.g. to another volume."""
        key, classic = self._key(name)
        if not classic:
            raise ValueError("only classic logs here")
        self.host.registry.set_value(key, "File", "REG_EXPAND_SZ", path)

    # --- records -----------------------------------------------------------------------------
    def write(self, log: str, provider: str, event_id: int, *, level: str = "Information", message: str = "",
              properties: list | None = None, time_created: float | None = None) -> dict:
        """Append an event (the API the emulated SCM, WER and NTFS use, and tests that stage crashes)."""
        if not self.exists(log):
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{log}\".")
        if level not in ("Critical", "Error", "Warning", "Information", "Verbose"):
            raise EventLogError("INVALID_PARAMETER", f"level {level!r}")
        rec = {"recordId": next(self._record_ids), "logName": self.canonical(log), "providerName": provider,
               "id": int(event_id), "level": level, "message": message, "properties": list(properties or []),
               "timeCreated": float(self.clock() if time_created is None else time_created)}
        self._records.append(rec)
        return copy.deepcopy(rec)

    def events(self, log: str, *, ids=None, providers=None, since: float | None = None,
               max_events: int | None = None) -> list[dict]:
        """Get-WinEvent -FilterHashtable: newest first; no match is an empty list here (the cmdlet's
        "No events were found" error is the driver's to handle)."""
        if not self.exists(log):
            raise EventLogError("LOG_NOT_FOUND", f"There is not an event log on the localhost computer that matches \"{log}\".")
        name = self.canonical(log).lower()
        want_ids = None if ids is None else {int(i) for i in ids}
        want_prov = None if providers is None else {p.lower() for p in providers}
        out = [r for r in reversed(self._records) if r["logName"].lower() == name
               and (want_ids is None or r["id"] in want_ids)
               and (want_prov is None or r["providerName"].lower() in want_prov)
               and (since is None or r["timeCreated"] >= since)]
        return copy.deepcopy(out[:max_events] if max_events else out)

    # --- test helpers ------------------------------------------------------------------------
    def create_classic_log(self, name: str, size_bytes: int = 512 * 1024 * 2) -> None:
        key = f"{SERVICES_EVENTLOG}\\{name}"
        self.host.registry.set_value(key, "MaxSize", "REG_DWORD", size_bytes)
        self.host.registry.set_value(key, "Retention", "REG_DWORD", 0)

    def set_policy(self, name: str, max_size_kb: int | None = None, retention: str | None = None) -> None:
        key = f"{POLICY}\\{name}"
        if max_size_kb is not None:
            self.host.registry.set_value(key, "MaxSize", "REG_DWORD", max_size_kb)
        if retention is not None:
            self.host.registry.set_value(key, "Retention", "REG_SZ", retention)

    def sources(self, log: str) -> list[str]:
        found = self._key(log)
        return self.host.registry.subkeys(found[0]) if found and found[1] else []

    def state(self) -> dict:
        out = {}
        for name in self.names():
            try:
                out[name] = self.get(name)
            except EventLogError:
                continue
        return out

"""The Service Control Manager of the emulated host.

Faithful where winfleet depends on behaviour (sources: MicrosoftDocs/win32 "Services",
sdk-api CreateServiceW / ChangeServiceConfigW / ChangeServiceConfig2W / DeleteService /
ControlService, and /work/shared/research/windows_domain.md §1, §3):

* **Configuration lives in the registry**, as on Windows: ``HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>``
  with ``Type``, ``Start``, ``ErrorControl``, ``ImagePath``, ``DisplayName``, ``Description``,
  ``ObjectName``, ``DependOnService`` (REG_MULTI_SZ), ``DelayedAutostart``, ``ServiceSidType``,
  ``FailureActions`` (REG_BINARY, the serialised SERVICE_FAILURE_ACTIONS), ``FailureActionsOnNonCrashFailures``,
  ``PreshutdownTimeout`` and ``DeleteFlag``. Our drivers read these values (locale-independent);
  writes go through this class (the SCM API), except ``Environment``, which Windows only has as
  a registry value. The registry is ``host.registry``, so a service name is case-insensitive
  and case-preserving exactly like its key.
* **Runtime state** (not in the registry): stopped / start_pending / running / stop_pending,
  a pid, and "marked for delete": ``DeleteService`` on a running service only marks it
  (``DeleteFlag``=1, every later config call fails with ERROR_SERVICE_MARKED_FOR_DELETE 1072,
  CreateService of the same name too); it disappears when it stops.
* **Dependencies**: starting a service starts its dependencies first (1068 when one cannot be
  started, 1075 when one does not exist); stopping a service with running dependents fails with
  ERROR_DEPENDENT_SERVICES_RUNNING 1051 (ControlService semantics; .NET ServiceController.Stop
  stops dependents itself, and the drivers rely on the SCM API semantics only).
* **Protected core services** (RpcSs, DcomLaunch, RpcEptMapper, BrokerInfrastructure, WaaSMedicSvc,
  WinDefend with tamper protection): config changes and deletion fail with ERROR_ACCESS_DENIED 5.
  (windows_domain.md §7 item 4 and windows_config_anchors.md §4 list these; unverified on a VM.)
* Starting a disabled service fails with 1058; starting a running one with 1056; stopping a
  stopped one with 1062; an unknown name with 1060.

* **Pending states** (learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-controlservice): a stop
  sent to a service that is START_PENDING or STOP_PENDING fails with ERROR_SERVICE_CANNOT_ACCEPT_CTRL
  1061 ("the state of the service is SERVICE_STOPPED, SERVICE_START_PENDING, or SERVICE_STOP_PENDING");
  StartService on a STOP_PENDING service fails with ERROR_SERVICE_ALREADY_RUNNING 1056 (its process is
  still there: "An instance of the service is already running", nf-winsvc-startservicew).
* **The image outlives SERVICE_STOPPED**: the SCM reports STOPPED when the service says so
  (SetServiceStatus), and the process exits after that (golang.org/x/sys/windows/svc: ``Run`` returns
  after the final status, then ``main`` returns); until it has, its mapped exe stays locked
  (ERROR_SHARING_VIOLATION). Modelled: the image stays locked ``exit_seconds`` (default
  ``EXIT_SECONDS``) after the stop, and ``process_alive(pid)`` says so; a crash (``crash()``) has no lag.

Simplifications (say so, it is a test double): no service triggers, no load-order groups
(``+group`` dependencies are ignored), a start takes ``start_seconds`` (default 0) of simulated
time, a stop ``stop_seconds`` (default 0: immediate), and process crash handling is left to tests
via ``crash()``.
Except for a service started from a build with a registered Linux twin (twin.py): it runs as a real
process, its stop is a real drain (STOP_PENDING until it exits), and its exit drives the recovery
actions as Windows applies them (``_process_exited``).
The Win32 error numbers are the real ones.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import struct
import threading
import time

from .twin import REPORTED_EXIT_CODES, Twins

SERVICES_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services"
EXIT_SECONDS = 0.1      # how long a stopped service's process (and its image lock) outlives SERVICE_STOPPED

# Service types (winnt.h)
KERNEL_DRIVER = 0x1
OWN_PROCESS = 0x10
SHARE_PROCESS = 0x20
# Start types
BOOT, SYSTEM, AUTO, DEMAND, DISABLED = 0, 1, 2, 3, 4
# SID types
SID_NONE, SID_UNRESTRICTED, SID_RESTRICTED = 0, 1, 3

PROTECTED = {"rpcss", "dcomlaunch", "rpceptmapper", "brokerinfrastructure", "waasmedicsvc", "windefend"}
UNSTOPPABLE = {"rpcss", "dcomlaunch", "rpceptmapper", "brokerinfrastructure", "samss", "lsm", "plugplay", "power"}

WIN32_ERRORS = {
    2: "ERROR_FILE_NOT_FOUND",
    5: "ERROR_ACCESS_DENIED",
    87: "ERROR_INVALID_PARAMETER",
    1051: "ERROR_DEPENDENT_SERVICES_RUNNING",
    1052: "ERROR_INVALID_SERVICE_CONTROL",
    1053: "ERROR_SERVICE_REQUEST_TIMEOUT",
    1056: "ERROR_SERVICE_ALREADY_RUNNING",
    1057: "ERROR_INVALID_SERVICE_ACCOUNT",
    1058: "ERROR_SERVICE_DISABLED",
    1059: "ERROR_CIRCULAR_DEPENDENCY",
    1060: "ERROR_SERVICE_DOES_NOT_EXIST",
    1061: "ERROR_SERVICE_CANNOT_ACCEPT_CTRL",
    1062: "ERROR_SERVICE_NOT_ACTIVE",
    1068: "ERROR_SERVICE_DEPENDENCY_FAIL",
    1069: "ERROR_SERVICE_LOGON_FAILED",
    1072: "ERROR_SERVICE_MARKED_FOR_DELETE",
    1073: "ERROR_SERVICE_EXISTS",
    1075: "ERROR_SERVICE_DEPENDENCY_DELETED",
    1078: "ERROR_DUPLICATE_SERVICE_NAME",
}


def decode_failure_actions(hex_value: str | None) -> tuple[int, list[tuple[int, int]]]:
    """(reset seconds, [(type, delay ms)]) of the ``FailureActions`` REG_BINARY (layout: encode_failure_actions;
    the actions start at the offset the lpsaActions field holds)."""
    if not hex_value:
        return 0, []
    raw = bytes.fromhex(hex_value)
    if len(raw) < 20:
        return 0, []
    reset, _m, _c, count, offset = struct.unpack_from("<5I", raw)
    offset = offset or 20
    actions = [struct.unpack_from("<2I", raw, offset + 8 * i) for i in range(count) if offset + 8 * i + 8 <= len(raw)]
    return reset, [(int(t), int(d)) for t, d in actions]


class ScmError(Exception):
    """A Win32 error from an SCM call: ``code`` is the Win32 error number."""

    def __init__(self, code: int, detail: str = ""):
        self.code = code
        self.symbol = WIN32_ERRORS.get(code, f"WIN32_{code}")
        super().__init__(f"{self.symbol} ({code}){': ' + detail if detail else ''}")


def encode_failure_actions(reset_seconds: int, actions: list[tuple[int, int]]) -> str:
    """SERVICE_FAILURE_ACTIONS as the SCM stores it in the ``FailureActions`` REG_BINARY value.

    Layout: DWORD dwResetPeriod, DWORD lpRebootMsg (0), DWORD lpCommand (0), DWORD cActions,
    DWORD lpsaActions (0x14 when there are actions), then cActions x {DWORD Type, DWORD Delay(ms)}.
    ``actions`` are (SC_ACTION_TYPE, delay_ms); types 0 none, 1 restart, 2 reboot, 3 run command.
    """
    head = struct.pack("<5I", reset_seconds & 0xFFFFFFFF, 0, 0, len(actions), 0x14 if actions else 0)
    return (head + b"".join(struct.pack("<2I", t, d) for t, d in actions)).hex()


# name, display, type, start, delayed, running, dependencies, account, image path, sid type
_SVCHOST = r"%SystemRoot%\System32\svchost.exe -k "
_SEED = [
    # kernel drivers other services depend on
    ("HTTP", "HTTP Service", KERNEL_DRIVER, DEMAND, False, True, [], "", r"system32\drivers\HTTP.sys", 0),
    ("Tdx", "NetIO Legacy TDI Support Driver", KERNEL_DRIVER, SYSTEM, False, True, [], "", r"\SystemRoot\system32\drivers\tdx.sys", 0),
    ("Afd", "Ancillary Function Driver for Winsock", KERNEL_DRIVER, SYSTEM, False, True, [], "", r"\SystemRoot\system32\drivers\afd.sys", 0),
    ("nsiproxy", "NSI Proxy Service Driver", KERNEL_DRIVER, SYSTEM, False, True, [], "", r"\SystemRoot\system32\drivers\nsiproxy.sys", 0),
    ("mpsdrv", "Windows Defender Firewall Authorization Driver", KERNEL_DRIVER, DEMAND, False, True, [], "", r"System32\drivers\mpsdrv.sys", 0),
    ("Srv2", "Server SMB 2.xxx Driver", KERNEL_DRIVER, DEMAND, False, True, [], "", r"System32\DRIVERS\srv2.sys", 0),
    ("MRxSmb20", "SMB 2.0 MiniRedirector", KERNEL_DRIVER, DEMAND, False, True, [], "", r"system32\DRIVERS\mrxsmb20.sys", 0),
    ("bowser", "Browser", KERNEL_DRIVER, DEMAND, False, True, [], "", r"system32\DRIVERS\bowser.sys", 0),
    ("RDPDR", "Remote Desktop Device Redirector Driver", KERNEL_DRIVER, DEMAND, False, True, [], "", r"System32\drivers\rdpdr.sys", 0),
    # Win32 services (Windows Server 2022 Datacenter with Desktop Experience, Azure image)
    ("RpcEptMapper", "RPC Endpoint Mapper", SHARE_PROCESS, AUTO, False, True, [], r"NT AUTHORITY\NetworkService", _SVCHOST + "RPCSS -p", 1),
    ("DcomLaunch", "DCOM Server Process Launcher", SHARE_PROCESS, AUTO, False, True, [], "LocalSystem", _SVCHOST + "DcomLaunch -p", 1),
    ("RpcSs", "Remote Procedure Call (RPC)", SHARE_PROCESS, AUTO, False, True, ["RpcEptMapper", "DcomLaunch"], r"NT AUTHORITY\NetworkService", _SVCHOST + "rpcss -p", 1),
    ("BrokerInfrastructure", "Background Tasks Infrastructure Service", SHARE_PROCESS, AUTO, False, True, ["DcomLaunch", "RpcEptMapper", "RpcSs"], "LocalSystem", _SVCHOST + "DcomLaunch -p", 1),
    ("SystemEventsBroker", "System Events Broker", SHARE_PROCESS, AUTO, False, True, ["RpcEptMapper", "RpcSs"], "LocalSystem", _SVCHOST + "DcomLaunch -p", 1),
    ("TimeBrokerSvc", "Time Broker", SHARE_PROCESS, DEMAND, False, True, ["RpcEptMapper", "RpcSs"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceNetworkRestricted -p", 1),
    ("EventLog", "Windows Event Log", SHARE_PROCESS, AUTO, False, True, [], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceNetworkRestricted -p", 1),
    ("Winmgmt", "Windows Management Instrumentation", SHARE_PROCESS, AUTO, False, True, ["RPCSS"], "localSystem", _SVCHOST + "netsvcs -p", 1),
    ("WinRM", "Windows Remote Management (WS-Management)", SHARE_PROCESS, AUTO, False, True, ["RPCSS", "HTTP"], r"NT AUTHORITY\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("nsi", "Network Store Interface Service", SHARE_PROCESS, AUTO, False, True, ["rpcss", "nsiproxy"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalService -p", 1),
    ("Dnscache", "DNS Client", SHARE_PROCESS, AUTO, False, True, ["nsi"], r"NT AUTHORITY\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("Dhcp", "DHCP Client", SHARE_PROCESS, AUTO, False, True, ["NSI", "Afd", "Tdx"], r"NT Authority\LocalService", _SVCHOST + "LocalServiceNetworkRestricted -p", 1),
    ("BFE", "Base Filtering Engine", SHARE_PROCESS, AUTO, False, True, ["RpcSs"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceNoNetworkFirewall -p", 1),
    ("MpsSvc", "Windows Defender Firewall", SHARE_PROCESS, AUTO, False, True, ["mpsdrv", "bfe"], r"NT Authority\LocalService", _SVCHOST + "LocalServiceNoNetworkFirewall -p", 3),
    ("CryptSvc", "Cryptographic Services", SHARE_PROCESS, AUTO, False, True, ["RpcSs"], r"NT Authority\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("KeyIso", "CNG Key Isolation", SHARE_PROCESS, DEMAND, False, True, ["RpcSs"], "LocalSystem", r"%SystemRoot%\system32\lsass.exe", 1),
    ("SamSs", "Security Accounts Manager", SHARE_PROCESS, AUTO, False, True, ["RPCSS"], "LocalSystem", r"%SystemRoot%\system32\lsass.exe", 1),
    ("LanmanServer", "Server", SHARE_PROCESS, AUTO, False, True, ["SamSS", "Srv2"], "LocalSystem", _SVCHOST + "smbsvcs", 1),
    ("LanmanWorkstation", "Workstation", SHARE_PROCESS, AUTO, False, True, ["Bowser", "MRxSmb20", "NSI"], r"NT AUTHORITY\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("LSM", "Local Session Manager", SHARE_PROCESS, AUTO, False, True, ["RpcEptMapper", "DcomLaunch", "RpcSs"], "LocalSystem", _SVCHOST + "DcomLaunch -p", 1),
    ("Schedule", "Task Scheduler", SHARE_PROCESS, AUTO, False, True, ["RPCSS", "SystemEventsBroker"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("W32Time", "Windows Time", SHARE_PROCESS, DEMAND, False, True, [], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalService", 1),
    ("ProfSvc", "User Profile Service", SHARE_PROCESS, AUTO, False, True, ["RpcSs"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("UserManager", "User Manager", SHARE_PROCESS, AUTO, False, True, ["RpcSs", "ProfSvc"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("gpsvc", "Group Policy Client", SHARE_PROCESS, AUTO, False, True, ["RPCSS"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("NlaSvc", "Network Location Awareness", SHARE_PROCESS, AUTO, False, True, ["NSI", "RpcSs", "Dhcp", "Eventlog"], r"NT AUTHORITY\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("PlugPlay", "Plug and Play", SHARE_PROCESS, DEMAND, False, True, [], "LocalSystem", _SVCHOST + "DcomLaunch -p", 1),
    ("Power", "Power", SHARE_PROCESS, AUTO, False, True, [], "LocalSystem", _SVCHOST + "DcomLaunch -p", 1),
    ("WinHttpAutoProxySvc", "WinHTTP Web Proxy Auto-Discovery Service", SHARE_PROCESS, DEMAND, False, True, ["Dhcp"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceNetworkRestricted -p", 1),
    ("iphlpsvc", "IP Helper", SHARE_PROCESS, AUTO, False, True, ["RpcSs", "nsi", "WinHttpAutoProxySvc"], "LocalSystem", _SVCHOST + "NetSvcs -p", 1),
    ("IKEEXT", "IKE and AuthIP IPsec Keying Modules", SHARE_PROCESS, DEMAND, False, False, ["BFE"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("Netman", "Network Connections", SHARE_PROCESS, DEMAND, False, False, ["RpcSs"], "LocalSystem", _SVCHOST + "LocalSystemNetworkRestricted -p", 1),
    ("Netlogon", "Netlogon", SHARE_PROCESS, DEMAND, False, False, ["LanmanWorkstation"], "LocalSystem", r"%systemroot%\system32\lsass.exe", 1),
    ("WerSvc", "Windows Error Reporting Service", SHARE_PROCESS, DEMAND, False, False, ["RpcSs"], "localSystem", _SVCHOST + "WerSvcGroup", 1),
    ("Wecsvc", "Windows Event Collector", SHARE_PROCESS, DEMAND, False, False, ["HTTP", "Eventlog"], r"NT AUTHORITY\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("RemoteRegistry", "Remote Registry", SHARE_PROCESS, AUTO, False, True, ["RPCSS"], r"NT AUTHORITY\LocalService", _SVCHOST + "localService -p", 1),
    ("TermService", "Remote Desktop Services", SHARE_PROCESS, DEMAND, False, True, ["RPCSS"], r"NT Authority\NetworkService", _SVCHOST + "termsvcs", 1),
    ("SessionEnv", "Remote Desktop Configuration", SHARE_PROCESS, DEMAND, False, True, ["RPCSS", "LanmanWorkstation"], "localSystem", _SVCHOST + "netsvcs -p", 1),
    ("UmRdpService", "Remote Desktop Services UserMode Port Redirector", SHARE_PROCESS, DEMAND, False, True, ["TermService", "RDPDR"], "localSystem", _SVCHOST + "LocalSystemNetworkRestricted -p", 1),
    ("Spooler", "Print Spooler", OWN_PROCESS, AUTO, False, True, ["RPCSS", "http"], "LocalSystem", r"%SystemRoot%\System32\spoolsv.exe", 1),
    ("PrintNotify", "Printer Extensions and Notifications", SHARE_PROCESS, DEMAND, False, False, ["RpcSs"], "LocalSystem", _SVCHOST + "print", 1),
    ("XblAuthManager", "Xbox Live Auth Manager", SHARE_PROCESS, DEMAND, False, False, [], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("XblGameSave", "Xbox Live Game Save", SHARE_PROCESS, DEMAND, False, False, ["UserManager", "XblAuthManager"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("MapsBroker", "Downloaded Maps Manager", SHARE_PROCESS, AUTO, True, False, [], r"NT AUTHORITY\NetworkService", _SVCHOST + "NetworkService -p", 1),
    ("lfsvc", "Geolocation Service", SHARE_PROCESS, DEMAND, False, False, ["RpcSs"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("SharedAccess", "Internet Connection Sharing (ICS)", SHARE_PROCESS, DEMAND, False, False, ["Netman", "WinMgmt"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("AudioEndpointBuilder", "Windows Audio Endpoint Builder", SHARE_PROCESS, DEMAND, False, False, [], "LocalSystem", _SVCHOST + "LocalSystemNetworkRestricted -p", 1),
    ("Audiosrv", "Windows Audio", OWN_PROCESS, DEMAND, False, False, ["AudioEndpointBuilder", "RpcSs"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceNetworkRestricted -p", 1),
    ("ShellHWDetection", "Shell Hardware Detection", SHARE_PROCESS, AUTO, False, True, ["RpcSs"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("SSDPSRV", "SSDP Discovery", SHARE_PROCESS, DEMAND, False, False, ["HTTP", "NSI"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceAndNoImpersonation -p", 1),
    ("upnphost", "UPnP Device Host", SHARE_PROCESS, DEMAND, False, False, ["SSDPSRV", "HTTP"], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceAndNoImpersonation -p", 1),
    ("stisvc", "Windows Image Acquisition (WIA)", OWN_PROCESS, DEMAND, False, False, ["RpcSs"], r"NT Authority\LocalService", _SVCHOST + "imgsvc", 1),
    ("PcaSvc", "Program Compatibility Assistant Service", SHARE_PROCESS, DEMAND, False, False, ["RpcSs"], "LocalSystem", _SVCHOST + "LocalSystemNetworkRestricted -p", 1),
    ("WpnService", "Windows Push Notifications System Service", OWN_PROCESS, AUTO, False, True, ["rpcss"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("TabletInputService", "Touch Keyboard and Handwriting Panel Service", SHARE_PROCESS, DEMAND, False, False, [], "LocalSystem", _SVCHOST + "LocalSystemNetworkRestricted -p", 1),
    ("bthserv", "Bluetooth Support Service", SHARE_PROCESS, DEMAND, False, False, [], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalService -p", 1),
    ("wuauserv", "Windows Update", SHARE_PROCESS, DEMAND, False, False, ["rpcss"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("UsoSvc", "Update Orchestrator Service", SHARE_PROCESS, AUTO, True, True, ["rpcss"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("BITS", "Background Intelligent Transfer Service", SHARE_PROCESS, DEMAND, False, False, ["RpcSs"], "LocalSystem", _SVCHOST + "netsvcs -p", 1),
    ("TrustedInstaller", "Windows Modules Installer", OWN_PROCESS, DEMAND, False, False, [], "localSystem", r"%SystemRoot%\servicing\TrustedInstaller.exe", 1),
    ("WaaSMedicSvc", "Windows Update Medic Service", SHARE_PROCESS, DEMAND, False, False, [], "LocalSystem", _SVCHOST + "wusvcs -p", 1),
    ("WinDefend", "Microsoft Defender Antivirus Service", OWN_PROCESS, AUTO, False, True, ["RpcSs"], "LocalSystem", r'"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MsMpEng.exe"', 1),
    ("vmictimesync", "Hyper-V Time Synchronization Service", SHARE_PROCESS, DEMAND, False, True, [], r"NT AUTHORITY\LocalService", _SVCHOST + "LocalServiceNetworkRestricted -p", 1),
    ("WindowsAzureGuestAgent", "Windows Azure Guest Agent", OWN_PROCESS, AUTO, False, True, [], "LocalSystem", r"C:\WindowsAzure\GuestAgent_2.7.41491.1102_2024-01-09_042120\WindowsAzureGuestAgent.exe", 0),
    ("RdAgent", "RdAgent", OWN_PROCESS, AUTO, False, True, [], "LocalSystem", r"C:\WindowsAzure\Packages\GuestAgent\WaAppAgent.exe", 0),
]


# The SCM reads ImagePath (REG_EXPAND_SZ) through ExpandEnvironmentStrings before it starts the process
# (reactos/reactos base/system/services/config.c ScmReadString), with the system environment: a '%OS%'
# folder winfleet created literally is not the one Windows runs ("Windows_NT").
SYSTEM_ENVIRONMENT = {"OS": "Windows_NT", "SYSTEMROOT": "C:\\Windows", "WINDIR": "C:\\Windows", "SYSTEMDRIVE": "C:",
                      "PROGRAMFILES": "C:\\Program Files", "PROGRAMDATA": "C:\\ProgramData",
                      "TEMP": "C:\\Windows\\TEMP", "TMP": "C:\\Windows\\TEMP", "COMPUTERNAME": "WINFLEET-EMU"}


def expand_environment(text: str) -> str:
    """ExpandEnvironmentStrings: %NAME% of a defined variable (case-insensitive) replaced, others kept."""
    return re.sub(r"%([^%]+)%", lambda m: SYSTEM_ENVIRONMENT.get(m.group(1).upper(), m.group(0)), text)


def _key(name: str) -> str:
    return SERVICES_KEY + "\\" + name


class ServiceControlManager:
    def __init__(self, host, seed: bool = True):
        self.host = host
        self._rt: dict[str, dict] = {}            # lower name -> runtime
        self._secrets: dict[str, str] = {}        # lower service name -> password (LSA secret; never in state())
        self.domain_passwords: dict[str, str] = {}  # lower account -> password the "domain" accepts
        self.build_start_errors: dict[str, int] = {}  # sha256 of an exe -> Win32 error its start fails with
        self._pids = itertools.count(1000, 4)
        self.clock = time.monotonic
        self.twins = Twins(host)
        self.failures: list[dict] = []            # recovery decisions, in order (tests read them)
        self._timers: list[threading.Timer] = []
        if getattr(host, "files", None) is not None and hasattr(host.files, "host"):
            host.files.host = host       # drives of the file system follow the storage model's volumes
        if seed:
            for row in _SEED:
                self._seed(*row)

    # --- helpers -----------------------------------------------------------------------------
    @property
    def _reg(self):
        return self.host.registry

    def _seed(self, name, display, typ, start, delayed, running, deps, account, image, sid):
        reg = self._reg
        k = _key(name)
        reg.set_value(k, "Type", "REG_DWORD", typ)
        reg.set_value(k, "Start", "REG_DWORD", start)
        reg.set_value(k, "ErrorControl", "REG_DWORD", 1)
        reg.set_value(k, "ImagePath", "REG_EXPAND_SZ", image)
        reg.set_value(k, "DisplayName", "REG_SZ", display)
        if deps:
            reg.set_value(k, "DependOnService", "REG_MULTI_SZ", deps)
        if account:
            reg.set_value(k, "ObjectName", "REG_SZ", account)
        if delayed:
            reg.set_value(k, "DelayedAutostart", "REG_DWORD", 1)
        if typ != KERNEL_DRIVER:
            reg.set_value(k, "ServiceSidType", "REG_DWORD", sid)
        self._rt[name.lower()] = {"name": name, "status": "running" if running else "stopped",
                                  "pid": next(self._pids) if running else 0, "marked": False,
                                  "pending_until": 0.0, "started_at": self.clock() if running else None,
                                  "start_seconds": 0.0, "start_error": None, "builtin": True,
                                  "stop_seconds": 0.0, "exit_seconds": 0.0, "exiting": None}

    def _get(self, name: str) -> dict:
        rt = self._rt.get(name.lower())
        if rt is None:
            raise ScmError(1060, name)
        self._advance(rt)
        return rt

    def _advance(self, rt: dict) -> None:
        proc = rt.get("twin")
        if proc is not None:
            code = proc.exit_code()
            if code is not None:
                self._process_exited(rt, proc, code)
            elif rt["status"] == "start_pending" and proc.listening():
                rt["status"] = "running"
                rt["started_at"] = self.clock()
            return
        if rt["status"] == "start_pending" and self.clock() >= rt["pending_until"]:
            rt["status"] = "running"
            rt["started_at"] = self.clock()
        elif rt["status"] == "stop_pending" and self.clock() >= rt["pending_until"]:
            self._stopped(rt)

    def _writable(self, name: str) -> dict:
        rt = self._get(name)
        if rt["marked"]:
            raise ScmError(1072, name)
        if name.lower() in PROTECTED:
            raise ScmError(5, f"changing the configuration of {rt['name']} is denied")
        return rt

    def _value(self, name: str, value: str, default=None):
        got = self._reg.get_value(_key(self._get(name)["name"]), value)
        return default if got is None else got[1]

    def _check_deps(self, name: str, deps: list[str]) -> None:
        # ChangeServiceConfig/CreateService reject a dependency cycle (ERROR_CIRCULAR_DEPENDENCY).
        seen, todo = set(), [d.lower() for d in deps if not d.startswith("+")]
        while todo:
            d = todo.pop()
            if d == name.lower():
                raise ScmError(1059, f"{name} would depend on itself")
            if d in seen or d not in self._rt:
                continue
            seen.add(d)
            todo.extend(x.lower() for x in self.dependencies(d))

    @staticmethod
    def _check_strings(image_path, account, password, display_name, effective_account: str) -> None:
        """NULL is "no change" to ChangeServiceConfigW; "" is a value, and not a valid one for these fields
        (learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-changeserviceconfigw and
        nf-winsvc-createservicew): lpBinaryPathName is "the fully qualified path to the service binary
        file", lpServiceStartName an account name (NULL = LocalSystem on create), lpDisplayName a name;
        and "if the account name ... is the name of a managed service account or virtual account name, the
        lpPassword parameter must be NULL". Whether the SCM stores "" or refuses is not documented: strict,
        ERROR_INVALID_PARAMETER (87). (PowerShell turns $null into "" for a .NET string parameter, the
        driver bug this catches.) "" stays valid as the password of LocalSystem/LocalService/NetworkService
        ("specify an empty string if ... the service runs in the LocalService, NetworkService, or
        LocalSystem account") and of a user account (an empty password, which its logon then rejects)."""
        for what, v in (("lpBinaryPathName", image_path), ("lpServiceStartName", account),
                        ("lpDisplayName", display_name)):
            if v is not None and v == "":
                raise ScmError(87, f"{what} is an empty string (NULL means no change)")
        a = (effective_account or "").lower()
        if password is not None and (a.startswith("nt service\\") or a.endswith("$")):
            raise ScmError(87, f"lpPassword must be NULL for the virtual or managed account {effective_account}")

    @staticmethod
    def _is_system(account: str) -> bool:
        return account.lower() in ("", "localsystem", ".\\localsystem", "nt authority\\system")

    @staticmethod
    def identities(account: str) -> set[str]:
        """The account and the groups in a service process's token that ACLs name (strict: only these).
        Every service logon has NT AUTHORITY\\SERVICE (S-1-5-6), Authenticated Users (S-1-5-11, itself a member
        of BUILTIN\\Users) and Everyone (learn.microsoft.com/windows-server/identity/ad-ds/manage/
        understand-special-identities-groups); a virtual account NT SERVICE\\<svc> is also its service SID
        S-1-5-80-<SHA-1 of the upper-cased name as five little-endian DWORDs> (sc.exe showsid)."""
        a = account.lower()
        out = {a, "everyone", "builtin\\users", "nt authority\\authenticated users", "nt authority\\service"}
        if a.startswith("nt service\\"):
            digest = hashlib.sha1(account.split("\\", 1)[1].upper().encode("utf-16-le")).digest()
            out.add("s-1-5-80-" + "-".join(str(x) for x in struct.unpack("<5I", digest)))
        return out

    def _check_account(self, account: str, password: str | None) -> None:
        a = account.lower()
        if a in ("", "localsystem", ".\\localsystem", "nt authority\\system",
                 "nt authority\\localservice", "nt authority\\networkservice") or a.startswith("nt service\\"):
            return
        if a.endswith("$") or a in self.domain_passwords or self.host.accounts.exists(account):
            return
        raise ScmError(1057, "the account name is invalid or does not exist")

    # --- queries -----------------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return name.lower() in self._rt

    def names(self, include_drivers: bool = False) -> list[str]:
        out = []
        for rt in self._rt.values():
            typ = self._reg.get_value(_key(rt["name"]), "Type", ("", 0))[1]
            if include_drivers or typ not in (KERNEL_DRIVER, 0x2):
                out.append(rt["name"])
        return sorted(out, key=str.lower)

    def canonical(self, name: str) -> str:
        return self._get(name)["name"]

    def status(self, name: str) -> str:
        return self._get(name)["status"]

    def started_at(self, name: str) -> float | None:
        rt = self._rt.get(name.lower())
        if rt is None:
            return None
        self._advance(rt)
        return rt["started_at"] if rt["status"] == "running" else None

    def running_image(self, name: str) -> str | None:
        """The executable a running service was started from (mapped, so locked, until it exits)."""
        rt = self._rt.get(name.lower())
        if rt is None:
            return None
        self._advance(rt)
        return rt.get("locked_exe") if rt["status"] in ("running", "start_pending", "stop_pending") else None

    def marked_for_delete(self, name: str) -> bool:
        return self._get(name)["marked"]

    def dependencies(self, name: str) -> list[str]:
        return [d for d in (self._value(name, "DependOnService", []) or []) if not d.startswith("+")]

    def dependents(self, name: str) -> list[str]:
        """Services whose DependOnService names ``name`` (EnumDependentServices, one level)."""
        n = name.lower()
        return sorted((rt["name"] for rt in self._rt.values()
                       if n in (d.lower() for d in self.dependencies(rt["name"]))), key=str.lower)

    def query(self, name: str) -> dict:
        rt = self._get(name)
        k = _key(rt["name"])
        vals = {n.lower(): v for n, (_kind, v) in self._reg.values(k).items()}
        return {"name": rt["name"], "status": rt["status"], "pid": rt["pid"], "markedForDelete": rt["marked"],
                "type": vals.get("type"), "start": vals.get("start"),
                "delayedAutostart": bool(vals.get("delayedautostart", 0)),
                "imagePath": vals.get("imagepath"), "displayName": vals.get("displayname"),
                "description": vals.get("description"), "objectName": vals.get("objectname"),
                "dependencies": self.dependencies(name), "sidType": vals.get("servicesidtype", 0),
                "failureActions": vals.get("failureactions"),
                "failureActionsOnNonCrashFailures": bool(vals.get("failureactionsonnoncrashfailures", 0)),
                "preshutdownTimeoutMs": vals.get("preshutdowntimeout", 10000),
                "environment": vals.get("environment")}

    def password_matches(self, name: str, password: str) -> bool:
        return self._secrets.get(name.lower()) == password

    # --- CreateService / ChangeServiceConfig / ChangeServiceConfig2 / DeleteService ------------------
    def create(self, name: str, display_name: str, image_path: str, start: int = DEMAND,
               dependencies: list[str] | None = None, account: str = "LocalSystem",
               password: str | None = None, service_type: int = OWN_PROCESS) -> None:
        rt = self._rt.get(name.lower())
        if rt is not None:
            raise ScmError(1072 if rt["marked"] else 1073, name)
        self._check_strings(image_path, account, password, display_name, account or "LocalSystem")
        self._check_display_unique(name, display_name)
        self._check_deps(name, dependencies or [])
        self._check_account(account, password)
        k = _key(name)
        reg = self._reg
        reg.set_value(k, "Type", "REG_DWORD", service_type)
        reg.set_value(k, "Start", "REG_DWORD", start)
        reg.set_value(k, "ErrorControl", "REG_DWORD", 1)
        reg.set_value(k, "ImagePath", "REG_EXPAND_SZ", image_path)
        reg.set_value(k, "DisplayName", "REG_SZ", display_name)
        reg.set_value(k, "ObjectName", "REG_SZ", account or "LocalSystem")
        if dependencies:
            reg.set_value(k, "DependOnService", "REG_MULTI_SZ", list(dependencies))
        if password:
            self._secrets[name.lower()] = password
        self._rt[name.lower()] = {"name": name, "status": "stopped", "pid": 0, "marked": False,
                                  "pending_until": 0.0, "started_at": None, "start_seconds": 0.0,
                                  "start_error": None, "builtin": False, "stop_seconds": 0.0,
                                  "exit_seconds": EXIT_SECONDS, "exiting": None}

    def _check_display_unique(self, name: str, display: str) -> None:
        for rt in self._rt.values():
            if rt["name"].lower() == name.lower():
                continue
            other = self._reg.get_value(_key(rt["name"]), "DisplayName", ("", ""))[1] or ""
            if display and (other.lower() == display.lower() or rt["name"].lower() == display.lower()):
                raise ScmError(1078, f"display name {display!r} is used by {rt['name']}")

    def change_config(self, name: str, *, display_name: str | None = None, image_path: str | None = None,
                      start: int | None = None, dependencies: list[str] | None = None,
                      account: str | None = None, password: str | None = None) -> None:
        """ChangeServiceConfigW: ``None`` means SERVICE_NO_CHANGE (an empty dependency list clears)."""
        rt = self._writable(name)
        k = _key(rt["name"])
        reg = self._reg
        current = (reg.get_value(k, "ObjectName", ("", "LocalSystem"))[1] or "LocalSystem")
        self._check_strings(image_path, account, password, display_name, account if account else current)
        if display_name is not None:
            self._check_display_unique(rt["name"], display_name)
        if dependencies is not None:
            self._check_deps(rt["name"], dependencies)
        if account is not None:
            self._check_account(account, password)
        if display_name is not None:
            reg.set_value(k, "DisplayName", "REG_SZ", display_name)
        if image_path is not None:
            reg.set_value(k, "ImagePath", "REG_EXPAND_SZ", image_path)
        if start is not None:
            reg.set_value(k, "Start", "REG_DWORD", start)
        if dependencies is not None:
            if dependencies:
                reg.set_value(k, "DependOnService", "REG_MULTI_SZ", list(dependencies))
            else:
                reg.delete_value(k, "DependOnService")
        if account is not None:
            reg.set_value(k, "ObjectName", "REG_SZ", account)
        if password is not None:
            self._secrets[name.lower()] = password

    def set_description(self, name: str, description: str) -> None:
        rt = self._writable(name)
        if description:
            self._reg.set_value(_key(rt["name"]), "Description", "REG_SZ", description)
        else:
            self._reg.delete_value(_key(rt["name"]), "Description")

    def set_delayed_autostart(self, name: str, delayed: bool) -> None:
        rt = self._writable(name)
        if delayed:
            self._reg.set_value(_key(rt["name"]), "DelayedAutostart", "REG_DWORD", 1)
        else:
            self._reg.delete_value(_key(rt["name"]), "DelayedAutostart")

    def set_sid_type(self, name: str, sid_type: int) -> None:
        if sid_type not in (SID_NONE, SID_UNRESTRICTED, SID_RESTRICTED):
            raise ScmError(87, f"invalid SID type {sid_type}")
        rt = self._writable(name)
        self._reg.set_value(_key(rt["name"]), "ServiceSidType", "REG_DWORD", sid_type)

    def set_failure_actions(self, name: str, reset_seconds: int, actions: list[tuple[int, int]]) -> None:
        """ChangeServiceConfig2W(SERVICE_CONFIG_FAILURE_ACTIONS) as the driver calls it: lpsaActions non-NULL
        always, so cActions 0 deletes the reset period and the actions ("If this value is 0, but lpsaActions
        is not NULL, the reset period and array of failure actions are deleted",
        learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actionsw); a type outside
        SC_ACTION_TYPE (0 none, 1 restart, 2 reboot, 3 run command) is ERROR_INVALID_PARAMETER."""
        if any(t not in (0, 1, 2, 3) for t, _d in actions):
            raise ScmError(87, f"invalid SC_ACTION type in {actions}")
        rt = self._writable(name)
        k = _key(rt["name"])
        if actions:
            self._reg.set_value(k, "FailureActions", "REG_BINARY", encode_failure_actions(reset_seconds, actions))
        else:
            self._reg.delete_value(k, "FailureActions")

    def set_failure_actions_flag(self, name: str, flag: bool) -> None:
        rt = self._writable(name)
        self._reg.set_value(_key(rt["name"]), "FailureActionsOnNonCrashFailures", "REG_DWORD", int(flag))

    def set_preshutdown_timeout(self, name: str, ms: int) -> None:
        rt = self._writable(name)
        self._reg.set_value(_key(rt["name"]), "PreshutdownTimeout", "REG_DWORD", int(ms))

    def delete(self, name: str) -> None:
        """DeleteService: immediate when stopped; otherwise marked (``DeleteFlag``=1) until it stops."""
        rt = self._writable(name)
        if rt["status"] == "stopped":
            self._remove(rt)
        else:
            rt["marked"] = True
            self._reg.set_value(_key(rt["name"]), "DeleteFlag", "REG_DWORD", 1)

    def _remove(self, rt: dict) -> None:
        self._reg.delete_key(_key(rt["name"]))
        self._rt.pop(rt["name"].lower(), None)
        self._secrets.pop(rt["name"].lower(), None)

    # --- StartService / ControlService(STOP) -------------------------------------------------
    def set_behaviour(self, name: str, *, start_seconds: float | None = None, start_error: int | None = None,
                      stop_seconds: float | None = None, exit_seconds: float | None = None,
                      accepts: int | None = None) -> None:
        """Test knob: how long a start stays START_PENDING, or the Win32 error the start fails with; how
        long a stop stays STOP_PENDING; how long the process outlives SERVICE_STOPPED; the controls the
        (simulated) program accepts (SERVICE_ACCEPT_* bits)."""
        rt = self._get(name)
        if accepts is not None:
            rt["accepts"] = accepts
        if start_seconds is not None:
            rt["start_seconds"] = start_seconds
        if stop_seconds is not None:
            rt["stop_seconds"] = stop_seconds
        if exit_seconds is not None:
            rt["exit_seconds"] = exit_seconds
        rt["start_error"] = start_error

    def pid(self, name: str) -> int:
        """QueryServiceStatusEx dwProcessId: the process of a running or pending service, else 0."""
        return self._get(name)["pid"]

    def process_alive(self, pid: int) -> bool:
        """Whether process ``pid`` of a service still exists (running, pending, or stopped but not exited)."""
        if not pid:
            return False
        for rt in self._rt.values():
            self._advance(rt)
            if rt["pid"] == pid:
                return True
            ex = rt.get("exiting")
            if ex and ex[0] == pid and self.clock() < ex[1]:
                return True
        return False

    def fail_build(self, sha256: str, error: int = 1069) -> None:
        """Test knob: starting a service whose executable has this SHA-256 fails with ``error``, whatever
        the service: 1069 (ERROR_SERVICE_LOGON_FAILED, e.g. a build whose account cannot log on) or 1053
        (ERROR_SERVICE_REQUEST_TIMEOUT: the process exits before it reports SERVICE_RUNNING, so the start
        times out). The service stays stopped, as on Windows."""
        self.build_start_errors[sha256.lower()] = error

    def start(self, name: str, _chain: tuple = ()) -> None:
        rt = self._get(name)
        if rt["marked"]:
            raise ScmError(1072, name)
        if rt["status"] in ("running", "start_pending", "stop_pending"):
            raise ScmError(1056, name)
        start = self._value(name, "Start", DEMAND)
        if start == DISABLED:
            raise ScmError(1058, name)
        for dep in self.dependencies(name):
            drt = self._rt.get(dep.lower())
            if drt is None or drt["marked"]:
                raise ScmError(1075, f"{name} depends on {dep}, which does not exist or is marked for deletion")
            self._advance(drt)
            if drt["status"] in ("running", "start_pending"):
                continue
            try:
                self.start(dep, _chain + (name,))
            except ScmError as e:
                raise ScmError(1068, f"{name}: dependency {dep} failed to start ({e})") from None
        if rt["start_error"]:
            raise ScmError(rt["start_error"], name)
        self._check_can_start(rt)
        exe = self._image_file(rt)
        twin = self.twins.twin_of(exe)
        if twin is not None:
            # the real process: START_PENDING until it listens (it reports SERVICE_RUNNING then)
            proc = self.twins.spawn(rt["name"], exe, twin, self._value(name, "Environment", []) or [])
            rt.update(twin=proc, pid=proc.pid, status="start_pending", started_at=None)
            self._lock_image(rt, True)
            threading.Thread(target=self._watch, args=(rt, proc), name=f"twin-{proc.pid}", daemon=True).start()
            return
        rt["pid"] = next(self._pids)
        if rt["start_seconds"] > 0:
            rt["status"] = "start_pending"
            rt["pending_until"] = self.clock() + rt["start_seconds"]
            rt["started_at"] = None
        else:
            rt["status"] = "running"
            rt["started_at"] = self.clock()
        self._lock_image(rt, True)

    def _image_file(self, rt: dict) -> str | None:
        """The executable of a service we can check against the file system model (not svchost/drivers)."""
        if rt["builtin"]:
            return None
        image = expand_environment(self._reg.get_value(_key(rt["name"]), "ImagePath", ("", ""))[1] or "")
        if image.startswith('"'):
            end = image.find('"', 1)
            return image[1:end] if end > 0 else None
        return image.split(" ")[0] if image else None

    def _check_can_start(self, rt: dict) -> None:
        exe = self._image_file(rt)
        files = getattr(self.host, "files", None)
        if exe is not None and hasattr(files, "is_file") and not files.is_file(exe):
            raise ScmError(2, f"{rt['name']}: the system cannot find the file specified")
        if exe is not None and self.build_start_errors and hasattr(files, "sha256"):
            error = self.build_start_errors.get(files.sha256(exe))
            if error:
                raise ScmError(error, f"{rt['name']}: the start of {exe} failed")
        account = (self._reg.get_value(_key(rt["name"]), "ObjectName", ("", ""))[1] or "").lower()
        if exe is not None and hasattr(files, "can_read_execute") and not self._is_system(account) \
                and not files.can_read_execute(exe, self.identities(account)):
            # The SCM creates the process as the service account (CreateProcessAsUser): an image that
            # account cannot read and execute fails the start with ERROR_ACCESS_DENIED 5 - e.g. an exe
            # moved in from an administrator's %TEMP%, whose ACL travelled with it (see files.py).
            raise ScmError(5, f"{rt['name']}: {account} cannot read and execute {exe}")
        accounts = getattr(self.host, "accounts", None)
        if hasattr(accounts, "has_right") and not accounts.has_right(account, "SeServiceLogonRight"):
            # "Log on as a service" is not granted by CreateService/ChangeServiceConfig (accounts.py)
            raise ScmError(1069, f"{rt['name']}: {account} does not hold SeServiceLogonRight (Log on as a service)")
        if account in self.domain_passwords and self._secrets.get(rt["name"].lower()) != self.domain_passwords[account]:
            raise ScmError(1069, f"{rt['name']}: the service did not start due to a logon failure")

    def _lock_image(self, rt: dict, locked: bool, exit_lag: float = 0.0) -> None:
        # The file mapped when the process started stays locked until it exits, whatever the
        # ImagePath says meanwhile (and ``exit_lag`` seconds after SERVICE_STOPPED, see the module doc).
        exe = self._image_file(rt) if locked else rt.get("locked_exe")
        files = getattr(self.host, "files", None)
        if exe is not None and hasattr(files, "set_locked"):
            if not locked and exit_lag > 0:
                files.set_locked(exe, True, for_seconds=exit_lag)
            else:
                files.set_locked(exe, locked)
        rt["locked_exe"] = exe if locked else None

    def stop(self, name: str) -> None:
        rt = self._get(name)
        if rt["status"] == "stopped":
            raise ScmError(1062, name)
        if rt["status"] in ("start_pending", "stop_pending"):
            raise ScmError(1061, f"{rt['name']} is {rt['status'].upper()} and cannot accept a stop control")
        if rt["name"].lower() in UNSTOPPABLE:
            raise ScmError(1052, f"{rt['name']} does not accept a stop control")
        running = [d for d in self.dependents(name) if self.status(d) != "stopped"]
        if running:
            raise ScmError(1051, f"{rt['name']} has running dependents: {', '.join(running)}")
        if rt.get("twin") is not None:
            if rt["status"] != "stop_pending":
                # ControlService(SERVICE_CONTROL_STOP) returns once the control is delivered; the
                # service stays STOP_PENDING while it drains, for as long as it takes: on a plain stop
                # the SCM kills no process (the wait hint only tells a waiting client it may give up;
                # learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_status, dwWaitHint).
                rt["status"] = "stop_pending"
                rt["twin"].terminate()
            return
        if rt["stop_seconds"] > 0:
            rt["status"] = "stop_pending"
            rt["pending_until"] = self.clock() + rt["stop_seconds"]
            return
        self._stopped(rt)

    def crash(self, name: str, service_exit_code: int | None = None) -> None:
        """Test knob: the process dies without reporting SERVICE_STOPPED (or, with ``service_exit_code``,
        stops reporting that service-specific error); the SCM and WER log it (windows/crash_events.py).
        Simplification: the recovery action itself is not carried out (the service stays stopped)."""
        from .crash_events import record_crash
        rt = self._get(name)
        if rt.get("twin") is not None:        # a real process: killed, and its exit handled as Windows would
            rt["twin"].kill()
            self._advance(rt)
            return
        rt["failures"] = rt.get("failures", 0) + 1
        q = self.query(name)
        image = (q.get("imagePath") or "").strip()
        exe = image[1:].split('"', 1)[0] if image.startswith('"') else image.split(" ", 1)[0]
        record_crash(self.host, rt["name"], exe_name=exe.rsplit("\\", 1)[-1], display_name=q.get("displayName") or rt["name"],
                     failure_count=rt["failures"], failure_actions_hex=q.get("failureActions"),
                     service_exit_code=service_exit_code)
        self._stopped(rt, exited=True)

    def twin_processes(self) -> list:
        return [rt["twin"] for rt in self._rt.values() if rt.get("twin") is not None]

    def controls_accepted(self, name: str) -> int:
        """SERVICE_STATUS_PROCESS.dwControlsAccepted (QueryServiceStatusEx): 0 unless running. A twin
        reports what the Go program's SCM handler accepts (its "started" log line); a simulated service
        what ``set_behaviour(accepts=...)`` said (default stop|shutdown|preshutdown: the stand-in for
        the reference service)."""
        rt = self._get(name)
        if rt["status"] not in ("running", "stop_pending"):
            return 0
        if rt.get("twin") is not None:
            got = rt["twin"].read_controls()
            return 0 if got is None else got
        return rt.get("accepts", 0x105)

    # --- process exit and recovery (twins) ------------------------------------------------------
    def _process_exited(self, rt: dict, proc, code: int) -> None:
        """The process of a service ended. Windows' rules (learn.microsoft.com/windows/win32/api/winsvc/
        ns-winsvc-service_failure_actionsw and ns-winsvc-service_failure_actions_flag):
        * a process that terminates without reporting SERVICE_STOPPED is a crash: the failure actions run;
        * one that reported SERVICE_STOPPED with a non-zero exit code runs them only when
          FailureActionsOnNonCrashFailures is set; with exit code 0 never;
        * the SCM counts failures since boot, reset to 0 when the service has not failed for
          dwResetPeriod seconds; the Nth failure runs action N-1, the last one repeats beyond.
        Simplification: the flag doc says a change "takes effect the next time the system is started";
        there is no reboot here, so the value at the time of the failure counts (winfleet sets it when it
        creates the service, before the first start).
        The Windows build reports SERVICE_STOPPED only through its orderly exits, whose codes are
        REPORTED_EXIT_CODES (goservice/internal/refsvc/service.go); any other end (a panic's 2, a
        kill, os.Exit elsewhere) is a process that terminated without reporting: a crash."""
        reported = code in REPORTED_EXIT_CODES
        if rt.get("shutting_down"):
            return                          # system_shutdown records it; no recovery while going down
        self.twins.record_exit(proc)
        rt["twin"] = None
        rt["last_exit"] = code
        self._stopped(rt, exited=True)   # the process is gone: no exit lag
        if rt["marked"]:
            return
        crash = not reported
        flag = bool(self._value(rt["name"], "FailureActionsOnNonCrashFailures", 0))
        failed = crash or (code != 0 and flag)
        decision = {"service": rt["name"], "exitCode": code, "crash": crash, "failure": failed,
                    "requestedStop": proc.stop_requested, "action": None, "failureCount": None}
        self._record_exit_events(rt, code, crash, failed)
        if failed:
            reset, actions = decode_failure_actions(self._value(rt["name"], "FailureActions"))
            now = self.clock()
            # dwResetPeriod INFINITE (0xFFFFFFFF): never reset
            if rt.get("last_failure") is not None and reset != 0xFFFFFFFF and now - rt["last_failure"] >= reset:
                rt["failures"] = 0
            rt["failures"] = rt.get("failures", 0) + 1
            rt["last_failure"] = now
            decision["failureCount"] = rt["failures"]
            if actions:
                typ, delay_ms = actions[min(rt["failures"], len(actions)) - 1]
                decision["action"] = {0: "none", 1: "restart", 2: "reboot", 3: "run"}.get(typ, str(typ))
                decision["delayMs"] = delay_ms
                if typ == 1:
                    self._restart_later(rt["name"], delay_ms / 1000.0)
        self.failures.append(decision)

    def _record_exit_events(self, rt: dict, code: int, crash: bool, failed: bool) -> None:
        """What the SCM (and WER) log for this exit (windows/crash_events.py): a crash 7031/7034 (+ WER
        1000/1001: written for every crash of a real process, though WER sees a Go crash only with
        GOTRACEBACK=wer: an over-report, never a missing event); a reported non-zero exit 7024."""
        if not crash and code == 0:
            return
        from .crash_events import record_crash
        q = self.query(rt["name"])
        image = (q.get("imagePath") or "").strip()
        exe = image[1:].split('"', 1)[0] if image.startswith('"') else image.split(" ", 1)[0]
        count = rt.get("failures", 0) + (1 if failed else 0)
        record_crash(self.host, rt["name"], exe_name=exe.rsplit("\\", 1)[-1],
                     display_name=q.get("displayName") or rt["name"], failure_count=max(count, 1),
                     failure_actions_hex=q.get("failureActions"), service_exit_code=None if crash else code)

    def _watch(self, rt: dict, proc) -> None:
        """The SCM learns of a process's end at once (it waits on the process handle), not at the next query."""
        proc.popen.wait()
        with self.host.lock:
            if rt.get("twin") is proc:
                self._advance(rt)

    def _restart_later(self, name: str, delay: float) -> None:
        def fire():
            with self.host.lock:
                rt = self._rt.get(name.lower())
                if rt is None or rt["marked"]:
                    return
                self._advance(rt)
                if rt["status"] == "stopped":
                    try:
                        self.start(name)
                    except ScmError as e:
                        self.failures.append({"service": name, "restartFailed": str(e)})
        t = threading.Timer(delay, fire)
        t.daemon = True
        self._timers.append(t)
        t.start()

    # --- system shutdown (twins) ---------------------------------------------------------------------
    # WaitToKillServiceTimeout: how long the SCM waits for services that get SERVICE_CONTROL_SHUTDOWN
    # (HKLM\SYSTEM\CurrentControlSet\Control; 5000 ms on current Windows). Not documented for Server
    # with certainty, so the strict (short) value; tests may shorten it further.
    shutdown_wait_seconds = 5.0

    def system_shutdown(self) -> list[dict]:
        """Windows shutting down, as the SCM runs it for the real processes:
        1. every running service that accepts SERVICE_CONTROL_PRESHUTDOWN gets it (SIGTERM to the twin, the
           same stop path) and the SCM waits until it is stopped or its pre-shutdown timeout
           (PreshutdownTimeout, default 10 s since build 15063) elapses, "then proceeds with other
           shutdown actions" (learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_preshutdown_info);
        2. the others that accept SHUTDOWN get it and ``shutdown_wait_seconds``;
        3. then every process still alive is killed: the system goes down.
        Returns (and keeps in ``shutdown_log``) one record per process: phase, exit code, killed, seconds.
        A stop here is no failure: no recovery action runs (the system is going down)."""
        self.shutdown_log: list[dict] = []
        for t in self._timers:
            t.cancel()
        with self.host.lock:
            live = [(rt, rt["twin"]) for rt in self._rt.values()
                    if rt.get("twin") is not None and rt["twin"].exit_code() is None]
            phases = {}
            for rt, proc in live:
                pre = (proc.read_controls() or 0) & 0x100
                timeout = (self._value(rt["name"], "PreshutdownTimeout", 10000) or 0) / 1000.0 if pre \
                    else self.shutdown_wait_seconds
                phases[id(proc)] = ("preshutdown" if pre else "shutdown", timeout)
                rt["shutting_down"] = True
        for phase in ("preshutdown", "shutdown"):
            batch = [(rt, p) for rt, p in live if phases[id(p)][0] == phase]
            t0 = time.monotonic()
            for _rt, proc in batch:
                proc.terminate()
            for rt, proc in batch:
                left = phases[id(proc)][1] - (time.monotonic() - t0)
                try:
                    proc.popen.wait(timeout=max(0.0, left))
                    killed = False
                except Exception:               # subprocess.TimeoutExpired
                    proc.kill()
                    killed = True
                self.shutdown_log.append({"service": rt["name"], "phase": phase, "exitCode": proc.exit_code(),
                                          "killed": killed, "seconds": round(time.monotonic() - t0, 2)})
        with self.host.lock:
            for rt, proc in live:
                rt.pop("shutting_down", None)
                if rt.get("twin") is proc:
                    self.twins.record_exit(proc)
                    rt["twin"] = None
                    self._stopped(rt, exited=True)
        return self.shutdown_log

    def shutdown_processes(self) -> None:
        """The host goes away: pending restarts are cancelled and every real process dies."""
        for t in self._timers:
            t.cancel()
        self._timers.clear()
        for rt in self._rt.values():
            proc = rt.get("twin")
            if proc is not None:
                proc.kill()
                rt["twin"] = None
                self._stopped(rt, exited=True)
        self.twins.kill_all()

    def _stopped(self, rt: dict, exited: bool = False) -> None:
        lag = 0.0 if exited else float(rt.get("exit_seconds") or 0.0)
        rt["exiting"] = (rt["pid"], self.clock() + lag) if rt["pid"] and lag > 0 else None
        rt["status"] = "stopped"
        rt["pid"] = 0
        rt["started_at"] = None
        self._lock_image(rt, False, lag)
        if rt["marked"]:
            self._remove(rt)

    # --- snapshot ----------------------------------------------------------------------------
    def state(self) -> dict:
        """Runtime state per service (configuration is in the registry snapshot)."""
        out = {}
        for rt in sorted(self._rt.values(), key=lambda r: r["name"].lower()):
            self._advance(rt)
            out[rt["name"]] = {"status": rt["status"], "markedForDelete": rt["marked"]}
        return out

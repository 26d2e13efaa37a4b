"""Windows and Azure facts the config rules rely on. Each constant names its source.

Sources are summarised in /work/shared/research/windows_domain.md (cited by section) and
/work/shared/research/winrm_transport.md; DESIGN.md "Domain facts worth keeping in mind".
Keep this module free of Pulumi and pydantic imports: policies and host code import it too.
"""
from __future__ import annotations

import re

# --------------------------------------------------------------------------------------------
# Services that must never be disabled on a WinRM-managed Go-service host.
# Source: DESIGN.md "Never disable on a WinRM-managed server: WinRM, RpcSs, RpcEptMapper, DcomLaunch,
# EventLog, Winmgmt, LSM, SamSs, Schedule, W32Time (Kerberos), CryptSvc, BFE, MpsSvc, Dhcp, Dnscache,
# nsi, and the Azure guest agent". Match by *service name* only (case-insensitive), never display name.
NEVER_DISABLE_CORE: frozenset[str] = frozenset({
    "WinRM", "RpcSs", "RpcEptMapper", "DcomLaunch", "EventLog", "Winmgmt", "LSM", "SamSs",
    "Schedule", "W32Time", "CryptSvc", "BFE", "MpsSvc", "Dhcp", "Dnscache", "nsi",
    # Azure guest agent (WindowsAzureGuestAgent; RdAgent on older images).
    "WindowsAzureGuestAgent", "RdAgent",
})

# Extended list from windows_domain.md §1.4 (MS "Do not disable" guidance for WS2016, WinRM's
# DependOnService, Azure "prepare a Windows VHD" minimum connectivity services, crash dumps (§4),
# patching). RemoteRegistry and TermService are deliberately NOT here: CIS/STIG hardening may disable
# them and WinRM does not need them (RDP is never opened by this pack).
NEVER_DISABLE_EXTENDED: frozenset[str] = frozenset({
    "HTTP",                                   # WinRM DependOnService (http.sys)
    "WerSvc", "Wecsvc",                       # MS "Do not disable"; WER writes our crash dumps
    "SystemEventsBroker", "TimeBrokerSvc",    # MS "Do not disable" (Task Scheduler needs them)
    "LanmanServer",                           # MS "Needed for remote management, IPC$"
    "IKEEXT", "iphlpsvc", "Netlogon", "Netman",  # Azure VHD doc: minimum for VM connectivity
    "ProfSvc", "KeyIso", "UserManager", "Power", "PlugPlay", "gpsvc", "NlaSvc",
    "UsoSvc", "wuauserv", "TrustedInstaller", "BITS",  # patching (AutomaticByPlatform)
    "vmictimesync",                           # Hyper-V time sync (Kerberos clock skew)
})

NEVER_DISABLE: frozenset[str] = NEVER_DISABLE_CORE | NEVER_DISABLE_EXTENDED
_NEVER_DISABLE_LOWER = {s.lower(): s for s in NEVER_DISABLE}


def never_disable_match(service_name: str) -> str | None:
    """The canonical never-disable name matching `service_name` (case-insensitive), else None."""
    return _NEVER_DISABLE_LOWER.get(service_name.strip().lower())


# --------------------------------------------------------------------------------------------
# Event logs. Source: windows_domain.md §5.1 — wevtutil.md: "The minimum log size is 1048576 bytes
# (1024KB) and log files are always multiples of 64KB"; policy CSP maximum 2147483647 KB.
EVENTLOG_MIN_KB = 1024
EVENTLOG_MULTIPLE_KB = 64
EVENTLOG_MAX_KB = 2_147_483_647 // 64 * 64   # largest multiple of 64 KB within the policy limit
# CIS WS2022 v4.0.0 18.10.26.x / DISA WS2022 STIG (windows_domain.md §5.2).
CIS_EVENTLOG_MIN_KB: dict[str, int] = {
    "Application": 32768, "Security": 196608, "Setup": 32768, "System": 32768,
}
# Retention modes (windows_domain.md §5.3): circular = /rt:false /ab:false, autoBackup = /rt:true
# /ab:true, retain = /rt:true /ab:false.
EVENTLOG_RETENTION_MODES = ("circular", "autoBackup", "retain")

# --------------------------------------------------------------------------------------------
# Ports. WinRM HTTP 5985 / HTTPS 5986 (winrm_transport.md §4.2: "Do not open 5985");
# 47001 is the WinRM internal (loopback) listener used by PowerShell remoting; RDP 3389; SSH 22.
WINRM_HTTP_PORT = 5985
WINRM_HTTPS_PORT = 5986
WINRM_INTERNAL_PORT = 47001
RDP_PORT = 3389
SSH_PORT = 22
RESERVED_HOST_PORTS: dict[int, str] = {
    SSH_PORT: "SSH", 135: "RPC endpoint mapper", 139: "NetBIOS", 445: "SMB", RDP_PORT: "RDP",
    WINRM_HTTP_PORT: "WinRM HTTP", WINRM_HTTPS_PORT: "WinRM HTTPS", WINRM_INTERNAL_PORT: "WinRM internal",
}
# Sources that mean "everyone" in an NSG rule (Azure service tags + wildcards).
ANY_SOURCE_TOKENS = frozenset({"*", "any", "internet", "0.0.0.0/0", "::/0", "0.0.0.0"})

# --------------------------------------------------------------------------------------------
# Services (SCM). Service names: up to 256 chars, no '/' or '\' (CreateServiceW docs). We are stricter
# (letters, digits, '.', '_', '-') because the name is also a file name, a WER LocalDumps key and the
# virtual account `NT SERVICE\<name>`.
SERVICE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
# Any Windows service name we may reference (dependencies, baseline lists): no '/', '\', quotes,
# control characters; spaces are legal in SCM names but rare — we reject them to keep matching exact.
WINDOWS_SERVICE_NAME_RE = re.compile(r"^[A-Za-z0-9_.$-][A-Za-z0-9_.$@-]{0,255}$")


def service_name_list_problem(names) -> str | None:
    """The first problem with a list of Windows service names (dependencies, baseline lists), or None.

    Services are matched by service name only, never display name, and case-insensitively (SCM)."""
    seen = set()
    for n, name in enumerate(names):
        if not WINDOWS_SERVICE_NAME_RE.match(name):
            return (f"[{n}] {name!r} is not a service name: letters, digits, '_', '.', '-', '$', '@' "
                    "(match by service name, never by display name)")
        if name.lower() in seen:
            return f"[{n}] {name!r} is listed twice (service names are case-insensitive)"
        seen.add(name.lower())
    return None


# DESIGN.md: "Pre-shutdown timeout ... the default is 10 s on current Windows Server".
DEFAULT_PRESHUTDOWN_SECONDS = 10
# SC_ACTION delays are DWORD milliseconds; we cap at one day.
MAX_RECOVERY_DELAY_SECONDS = 86400

# --------------------------------------------------------------------------------------------
# Computer names: NetBIOS limit of 15 characters (Azure: "Windows computer name cannot be more than
# 15 characters long"); letters, digits, hyphens; not only digits.
COMPUTER_NAME_MAX = 15
COMPUTER_NAME_RE = re.compile(r"^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9-]{0,14}$")

# Azure osProfile.adminUsername (Microsoft.Compute API reference): max 20 chars for Windows, cannot end
# in '.', and these are disallowed.
AZURE_ADMIN_USERNAME_MAX = 20
AZURE_RESERVED_ADMIN_USERNAMES = frozenset(s.lower() for s in {
    "administrator", "admin", "user", "user1", "test", "user2", "test1", "user3", "admin1", "1", "123",
    "a", "actuser", "adm", "admin2", "aspnet", "backup", "console", "david", "guest", "john", "owner",
    "root", "server", "sql", "support", "support_388945a0", "sys", "test2", "test3", "user4", "user5",
})

# Azure Load Balancer health probes: interval 5 s minimum (LB probe docs); probe threshold >= 1.
AZURE_PROBE_MIN_INTERVAL_SECONDS = 5
AZURE_PROBE_MAX_INTERVAL_SECONDS = 2147483646 // 1000  # effectively unbounded; we cap lower in config
# Azure reserves the first four and the last address of each subnet (VNet FAQ).
AZURE_SUBNET_RESERVED_LOW = 4
# Managed data disk size range (GiB) for Premium/Standard SSD/HDD.
AZURE_DATA_DISK_MIN_GB, AZURE_DATA_DISK_MAX_GB = 1, 32767

# Windows path characters that are never valid in a file name (Naming Files, Paths, and Namespaces).
INVALID_PATH_CHARS = set('<>"|?*')

# --------------------------------------------------------------------------------------------
# TCP ports. The dynamic (ephemeral) port range is 49152-65535 by default since Windows Vista /
# Server 2008 (start 49152, 16384 ports): https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/default-dynamic-port-range-tcpip-chang
# A service port there can be taken by an outgoing connection at any moment; the host's actual range
# (Get-NetTCPSetting) is checked again at plan time by ServicePort.
DYNAMIC_PORT_START = 49152
DYNAMIC_PORT_END = 65535
# Azure's platform address: health probes of the load balancer come from it, so the guest firewall must
# let it in on every load-balanced port: https://learn.microsoft.com/en-us/azure/virtual-network/what-is-ip-address-168-63-129-16
# and https://learn.microsoft.com/en-us/azure/load-balancer/load-balancer-custom-probe-overview
AZURE_PROBE_ADDRESS = "168.63.129.16"

# Paths of the folders winfleet creates (installDir, logs.directory, crashDumps.folder) and the strings
# the SCM / WER expand. One rule set, used by the stack config (components/config.py) and by the host
# resources' check (components/host/windows_service.py, crash_dumps.py).
# Naming Files, Paths, and Namespaces (https://learn.microsoft.com/en-us/windows/win32/fileio/naming-a-file):
# "Do not use the following reserved names for the name of a file: CON, PRN, AUX, NUL, COM1 ... COM9,
# COM¹, COM², COM³, LPT1 ... LPT9, LPT¹, LPT², LPT³. Also avoid these names followed immediately by an
# extension; for example, NUL.txt"; "Do not end a file or directory name with a space or a period"
# (Win32 path normalisation trims them, so "api." and "api " are "api":
# https://learn.microsoft.com/en-us/dotnet/standard/io/file-path-formats#trim-characters).
RESERVED_DEVICE_NAMES: frozenset[str] = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in "123456789\u00b9\u00b2\u00b3"})
# CreateDirectoryW: "the default string size limit for paths of 248 characters (MAX_PATH - enough room
# for a 8.3 filename)" (https://learn.microsoft.com/en-us/windows/win32/api/fileapi/nf-fileapi-createdirectoryw).
MAX_DIRECTORY_PATH = 248
MAX_FILE_PATH = 259          # MAX_PATH (260) minus the terminating NUL: the service's exe path
# "The maximum size of a user-defined environment variable is 32,767 characters"
# (https://learn.microsoft.com/en-us/windows/win32/procthread/environment-variables).
MAX_ENVIRONMENT_VALUE = 32_767
# CreateProcessW lpCommandLine: "The maximum length of this string is 32,767 characters, including the
# Unicode terminating null character" (https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-createprocessw):
# the SCM starts the service with its ImagePath as that command line.
MAX_COMMAND_LINE = 32_766
# '%' is expanded: the SCM reads ImagePath (REG_EXPAND_SZ) with ExpandEnvironmentStrings (reactos/reactos
# base/system/services/config.c ScmReadString) and WER expands DumpFolder (REG_EXPAND_SZ,
# https://learn.microsoft.com/en-us/windows/win32/wer/collecting-user-mode-dumps). winfleet creates the
# literal folder "%OS%" while the SCM runs "Windows_NT\...": a folder winfleet never secured.
EXPANDED_MARK = "%"
_SHORT_NAME_RE = re.compile(r"~[0-9]")


def folder_path_problem(p: str) -> str | None:
    """Why `p` is not a folder winfleet may create, own and later delete (install, log or dump folder),
    or None. Absolute and local, not a drive root, nothing Windows would read as something else."""
    if not isinstance(p, str) or not re.match(r"^[A-Za-z]:\\", p):
        return "must be an absolute Windows path like D:\\services\\api (local: drive letter, colon, backslash)"
    rest = p[3:][:-1] if p.endswith("\\") else p[3:]      # one trailing backslash is normalised away by callers
    if not rest.strip("\\"):
        return (f"{p[:3]} is a drive root: a service folder must be a folder of its own (winfleet sets its ACL "
                "and deletes it on destroy), e.g. " + p[:3] + "services\\api")
    if any(ord(c) < 32 or ord(c) == 127 for c in p):
        return "must not contain control characters"
    if any(c in INVALID_PATH_CHARS for c in rest) or ":" in rest:
        return 'must not contain < > " | ? * or : after the drive'
    if EXPANDED_MARK in p:
        return ("must not contain '%': the SCM and WER expand %VAR% in ImagePath and DumpFolder, so Windows would "
                "use another folder than the one winfleet creates and secures")
    if "/" in rest or "\\\\" in rest or rest.endswith("\\"):
        return "must use single backslashes as separators"
    for seg in rest.split("\\"):
        if seg in (".", ".."):
            return "must not contain '.' or '..' segments"
        if seg != seg.rstrip(". ") or seg != seg.lstrip(" "):
            return (f"segment {seg!r} starts with a space or ends with a space or a period: Windows trims those, "
                    "so it would be another name for the same folder")
        if seg.split(".")[0].rstrip(" ").upper() in RESERVED_DEVICE_NAMES:
            return (f"segment {seg!r} is a reserved device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with an "
                    "extension): Windows opens the device, not a folder")
        if _SHORT_NAME_RE.search(seg):
            return (f"segment {seg!r} looks like an 8.3 short name (~1): it may be an alias of another folder; "
                    "use the long name")
    if len(p) > MAX_DIRECTORY_PATH:
        return f"is {len(p)} characters; a folder path may have at most {MAX_DIRECTORY_PATH} (MAX_PATH)"
    return None


def path_key(p: str) -> str:
    """Comparison key for paths: NTFS names are case-insensitive; Unicode case folding is stricter than
    NTFS's upcase table (it may call two distinct names equal, never two equal names distinct)."""
    return p.replace("/", "\\").rstrip("\\").casefold()


def expanded_text_problem(v: str, what: str) -> str | None:
    """`v` ends up in ImagePath (arguments) or DumpFolder, which Windows expands: no '%'."""
    if EXPANDED_MARK in v:
        return (f"{what} must not contain '%': the SCM expands %VAR% in the service's command line (ImagePath is "
                "REG_EXPAND_SZ), so the service would not get this text literally")
    return None


def command_line_problem(command_line: str) -> str | None:
    if len(command_line) > MAX_COMMAND_LINE:
        return (f"the service command line (quoted exe path + arguments) is {len(command_line)} characters; "
                f"Windows starts processes with at most {MAX_COMMAND_LINE}")
    return None


def environment_value_problem(name: str, value: str) -> str | None:
    if len(value) > MAX_ENVIRONMENT_VALUE:
        return (f"value of {name!r} is {len(value)} characters; a Windows environment variable holds at most "
                f"{MAX_ENVIRONMENT_VALUE}")
    return None

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
SERVICE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,63}")
# Any Windows service name we may reference (dependencies, baseline lists): no '/', '\', quotes,
# control characters; spaces are legal in SCM names but rare — we reject them to keep matching exact.
WINDOWS_SERVICE_NAME_RE = re.compile(r"[A-Za-z0-9_.$-][A-Za-z0-9_.$@-]{0,255}")


def service_name_list_problem(names) -> str | None:
    """The first problem with a list of Windows service names (dependencies, baseline lists), or None.

    Services are matched by service name only, never display name, and case-insensitively (SCM)."""
    seen = set()
    for n, name in enumerate(names):
        if not isinstance(name, str) or not WINDOWS_SERVICE_NAME_RE.fullmatch(name):
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
COMPUTER_NAME_RE = re.compile(r"(?![0-9]+\Z)[A-Za-z0-9][A-Za-z0-9-]{0,14}")

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

# ============================================================================================
# Input rules shared by the stack config (components/config.py) and the host resources' check
# (components/host/*): one function per rule, so `pulumi preview` refuses exactly what config refuses.
# Each returns None when the value is acceptable, else what is wrong and what is allowed. Patterns
# are applied with ``fullmatch`` (``$`` in ``re.match`` also accepts a trailing newline).
# ============================================================================================
# Code points refused in *every* string (config keys and values, resource inputs):
# * lone surrogates (U+D800-U+DFFF): not Unicode scalar values; UTF-8/UTF-16 encoders refuse them
#   (the Pulumi SDK's protobuf serialisation fails on them without naming the key);
# * C1 controls (U+0080-U+009F): e.g. U+0085 NEL is a line break to .NET and PowerShell
#   (System.Char.IsControl; PowerShell's tokenizer treats NEL as a newline);
# (Bidirectional overrides such as U+202E are not refused everywhere: Windows stores and shows them
# as given; the name rules, ASCII only, refuse them where they could disguise an identifier.)
# * NUL: Win32 strings (and REG_SZ/REG_MULTI_SZ) end at the first NUL, so the rest would be lost.
def text_problem(v: str) -> str | None:
    """What makes ``v`` unusable as any winfleet string (see above), or None."""
    for c in v:
        o = ord(c)
        if o == 0:
            return "must not contain NUL characters"
        if 0xD800 <= o <= 0xDFFF:
            return f"contains a lone surrogate (U+{o:04X}): not valid Unicode text"
        if 0x80 <= o <= 0x9F:
            return f"contains the C1 control character U+{o:04X} (e.g. U+0085 is a line break to Windows)"
    return None


def strings_problems(value, loc: tuple = ()) -> list[tuple[tuple, str]]:
    """``text_problem`` for every string in a JSON-like value, keys included: [(location, problem)]
    (location: the tuple of keys and indexes leading to the string)."""
    out: list[tuple[tuple, str]] = []
    if isinstance(value, str):
        p = text_problem(value)
        if p:
            out.append((loc, p))
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and text_problem(k):
                out.append((loc + (k,), "the key " + text_problem(k)))
            out += strings_problems(v, loc + (k,))
    elif isinstance(value, (list, tuple)):
        for n, v in enumerate(value):
            out += strings_problems(v, loc + (n,))
    return out


def _controls(v: str, allow: str = "") -> bool:
    return any((ord(c) < 32 and c not in allow) or ord(c) == 127 for c in v)


# --- names ----------------------------------------------------------------------------------
def service_name_problem(v: str) -> str | None:
    if not SERVICE_NAME_RE.fullmatch(v) or v.endswith("."):
        return ("a service name is 1-64 characters: a letter, then letters, digits, '.', '_' or '-', not ending "
                "in '.' (no spaces, quotes, slashes or backslashes: it is also a folder and file name, a WER "
                "LocalDumps key and the virtual account NT SERVICE\\<name>)")
    if reserved_device_name(v):
        return f"{v!r} is a reserved Windows device name (CON, NUL, COM1, ...): it is also a folder and file name"
    return None


def number_problem(v, *, strings: bool) -> str | None:
    """A JSON boolean is not a number (pydantic's lax mode would take true as 1); strings only where
    the layer reads values that may arrive as text (``strings``)."""
    if isinstance(v, bool):
        return "must be a number, not true/false"
    if not strings and isinstance(v, str):
        return "must be a number, not a string"
    return None


def service_port_problem(v: int) -> str | None:
    if not 1024 <= v <= 65535:
        return "must be a TCP port in 1024-65535"
    if v in RESERVED_HOST_PORTS:
        return f"port {v} is reserved for {RESERVED_HOST_PORTS[v]}; use another port in 1024-65535"
    return None


def secret_value_problem(name: str, v: str) -> str | None:
    if not isinstance(v, str):
        return f"the value of secret {name!r} must be a string"
    if len(v) > 65536:
        return f"the value of secret {name!r} is longer than 65,536 characters"
    return None


# Reserved DOS device names: "CON", "NUL.txt", "com1.exe" name a device, not a file, in every
# directory (Naming Files, Paths, and Namespaces: "Do not use the following reserved names for the
# name of a file: CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9 ... also avoid these names followed
# immediately by an extension"). https://learn.microsoft.com/windows/win32/fileio/naming-a-file
RESERVED_DEVICE_NAMES = frozenset({"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)}
                                  | {f"lpt{i}" for i in range(10)} | {"com¹", "com²", "com³", "lpt¹", "lpt²", "lpt³"})
EXE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.exe", re.IGNORECASE)


def reserved_device_name(file_name: str) -> bool:
    return file_name.split(".", 1)[0].rstrip(" ").lower() in RESERVED_DEVICE_NAMES


def exe_name_problem(v: str) -> str | None:
    if not EXE_NAME_RE.fullmatch(v):
        return ("must be a plain file name ending in .exe (letters, digits, '.', '_', '-'); it is also the "
                "WER LocalDumps key of the program")
    if reserved_device_name(v):
        return f"{v.split('.', 1)[0]!r} is a reserved Windows device name (CON, NUL, COM1, ...); choose another"
    return None


# Event sources become registry keys HKLM\SYSTEM\CurrentControlSet\Services\EventLog\<log>\<source>
# (Event Sources, MS docs): no '\' (the key separator), no '/' (the PowerShell registry provider
# splits paths on '/' even with -LiteralPath, DESIGN.md), no wildcards (* ? [ ] are PowerShell
# wildcards), nothing that is not printable ASCII; not ending in space or '.', at most 128 chars.
EVENT_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 _.()-]{0,126}[A-Za-z0-9_()-])?")


def event_name_problem(v: str) -> str | None:
    if not EVENT_NAME_RE.fullmatch(v) or ".." in v:
        return ("must be 1-128 characters: letters, digits, space, '_', '.', '(', ')', '-', starting with a "
                "letter or digit, not ending with a space or '.', no '..' (it becomes a registry key name "
                "under Services\\EventLog; no '\\', '/' or wildcards)")
    return None


# --- environment ----------------------------------------------------------------------------
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
SECRET_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def env_name_problem(k: str) -> str | None:
    if not isinstance(k, str) or not ENV_NAME_RE.fullmatch(k):
        return f"variable name {k!r} must match [A-Za-z_][A-Za-z0-9_]* (at most 255 characters)"
    return None


def env_value_problem(k: str, v: str) -> str | None:
    if not isinstance(v, str):
        return f"value of {k!r} must be a string"
    if "\x00" in v:
        return f"value of {k!r} must not contain NUL (REG_MULTI_SZ entries end at NUL)"
    if len(v) > 32767:
        return f"value of {k!r} is longer than 32,767 characters (the Windows environment variable limit)"
    return None


def env_names_problem(names) -> str | None:
    seen: set[str] = set()
    for k in names:
        if k.upper() in seen:
            return f"variable {k!r} is given twice (Windows variable names are case-insensitive)"
        seen.add(k.upper())
    return None


# --- text fields ----------------------------------------------------------------------------
# A DisplayName or Description of the form "@[path\\]dll,-id" is an indirect string the SCM and the
# Services tools load from the DLL's resources (ChangeServiceConfig2 SERVICE_DESCRIPTION: "If the
# service description is in the form @[path\\]dllname,-strID, the string with identifier strID is loaded
# from dllname"; RegLoadMUIString): a leading '@' would be interpreted, not shown.
_INDIRECT = "must not start with '@' (Windows loads '@dll,-id' as an indirect resource string)"


def display_name_problem(v: str) -> str | None:
    if _controls(v) or not v.strip() or len(v) > 256:
        return "must be 1-256 characters (not only spaces), no control characters"
    if v.startswith("@"):
        return _INDIRECT
    return None


def description_problem(v: str) -> str | None:
    if _controls(v, "\t") or len(v) > 1024:
        return "at most 1024 characters, no control characters (tab allowed)"
    if v.startswith("@"):
        return _INDIRECT
    return None


# The SCM stores the command line (ImagePath) as REG_EXPAND_SZ and expands %NAME% in it when it starts
# the service (CreateService lpBinaryPathName; DESIGN.md "the SCM expands %VAR% in ImagePath"); there is
# no escape for '%' there, so no argument or path that goes into it may contain one.
_PERCENT = "must not contain '%' (the SCM expands %NAME% in the service command line, ImagePath)"


def argument_problem(v: str) -> str | None:
    if _controls(v) or len(v) > 4096:
        return "an argument has no control characters (newline, tab, NUL, ...) and at most 4096 characters"
    if "%" in v:
        return _PERCENT + "; pass such values in environment or secrets"
    return None


# --- URLs and URL paths ---------------------------------------------------------------------
def binary_url_problem(v: str) -> str | None:
    """https only (the host downloads it; http would let anyone on the path swap it before the
    SHA-256 check refuses it, and leaks URL credentials); printable ASCII, no backslash, a host."""
    from urllib.parse import urlsplit
    if not re.fullmatch(r"https://[\x21-\x7e]+", v) or "\\" in v:
        return ("must be an https:// URL of the service binary in printable ASCII, no spaces or "
                "backslashes (http is not allowed; percent-encode anything else)")
    try:
        u = urlsplit(v)
        host = u.hostname
        u.port  # noqa: B018 - raises on a bad port
    except ValueError as e:
        return f"is not a valid URL ({e})"
    if not host or not u.path or u.path == "/":
        return "must be an https:// URL with a host and the binary's path, e.g. https://artifacts.example/api.exe"
    return None


def url_path_problem(v: str) -> str | None:
    if not re.fullmatch(r"/[\x21-\x7e]{0,254}", v) or v.startswith("//") or "#" in v:
        return ("must be a URL path starting with '/', like '/readyz': not '//', printable ASCII, no spaces or '#', "
                "at most 255 characters")
    return None


def sha256_problem(v: str) -> str | None:
    if not re.fullmatch(r"[0-9A-Fa-f]{64}", v):
        return "must be the SHA-256 of the binary: 64 hex characters"
    return None


# --- accounts -------------------------------------------------------------------------------
BUILTIN_ACCOUNTS = {"localsystem": "LocalSystem", "nt authority\\system": "LocalSystem",
                    ".\\localsystem": "LocalSystem",
                    "nt authority\\localservice": "NT AUTHORITY\\LocalService",
                    "nt authority\\networkservice": "NT AUTHORITY\\NetworkService"}
# DOMAIN\user or .\user (NetBIOS domain: letters, digits, '.', '-'; user names exclude
# " / \ [ ] : ; | = , + * ? < > @ and controls: "User Naming Conventions", MS docs), user@domain (UPN),
# and group Managed Service Accounts DOMAIN\name$ (sAMAccountName of the gMSA, MS "Group Managed
# Service Accounts Overview"; SCM takes them with no password, as ansible.windows.win_service does).
_USER = r"[^\\/\"\[\]:;|=,+*?<>@\x00-\x1f\x7f]{1,104}"
USER_ACCOUNT_RE = re.compile(rf"(?:[A-Za-z0-9][A-Za-z0-9.-]{{0,62}}|\.)\\{_USER}|[A-Za-z0-9._-]{{1,64}}@[A-Za-z0-9.-]+")
GMSA_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}\\[A-Za-z0-9][A-Za-z0-9._-]{0,62}\$")


def account_kind(account: str, service: str) -> str:
    """virtual | builtin | gmsa | user | invalid-virtual."""
    a = account.lower()
    if a in {v.lower() for v in BUILTIN_ACCOUNTS.values()} or a in BUILTIN_ACCOUNTS:
        return "builtin"
    if a.startswith("nt service\\"):
        return "virtual" if a[len("nt service\\"):] == service.lower() else "invalid-virtual"
    if a.endswith("$"):
        return "gmsa"
    return "user"


def account_problem(account: str, service: str) -> str | None:
    """Whether ``account`` is a service account winfleet can register (password rules are separate)."""
    kind = account_kind(account, service)
    allowed = (f"allowed: 'NT SERVICE\\{service}' (default), 'LocalSystem', 'NT AUTHORITY\\LocalService', "
               "'NT AUTHORITY\\NetworkService', a gMSA 'DOMAIN\\name$', or 'DOMAIN\\user' / '.\\user' / "
               "'user@domain' with accountPassword")
    if kind == "invalid-virtual":
        return f"a virtual account must be the service's own: 'NT SERVICE\\{service}'; " + allowed
    if kind == "gmsa" and not GMSA_RE.fullmatch(account):
        return "a gMSA is 'DOMAIN\\name$' (a domain, a backslash, the account name and '$'); " + allowed
    if kind == "user" and (not USER_ACCOUNT_RE.fullmatch(account) or account != account.strip()
                           or account.endswith(".")):
        return allowed
    return None


# --- paths ----------------------------------------------------------------------------------
_PATH_RE = re.compile(r"[A-Za-z]:\\.*", re.DOTALL)


def windows_path_problem(p: str) -> str | None:
    """Why ``p`` is not an absolute local Windows directory path we accept, or None.

    Naming Files, Paths, and Namespaces (https://learn.microsoft.com/windows/win32/fileio/naming-a-file):
    no < > : " / | ? * or controls in a name; a name ending in a space or a period is trimmed by the
    Win32 layer ("D:\\logs\\api." is "D:\\logs\\api"); reserved device names (CON, NUL.txt, COM1)
    name devices; \\\\?\\ and \\\\.\\ prefixes and UNC paths are not local drive paths."""
    if not _PATH_RE.fullmatch(p):
        return "must be an absolute Windows path on a local drive, such as D:\\services\\api (drive letter, colon, backslash)"
    rest = p[3:]
    if any(c in INVALID_PATH_CHARS or ord(c) < 32 or ord(c) == 127 for c in rest) or ":" in rest:
        return 'must not contain < > " | ? * : or control characters after the drive'
    if "%" in p:
        return ("must not contain '%' (the SCM expands %NAME% in ImagePath and WER in DumpFolder, both "
                "REG_EXPAND_SZ)")
    if len(p) > 3 and p.endswith("\\"):
        return "must not end with a backslash"
    if "\\\\" in rest or "/" in rest:
        return "must use single backslashes as separators"
    parts = [x for x in rest.split("\\") if x]
    if any(part in ("..", ".") for part in parts):
        return "must not contain '.' or '..' segments"
    for part in parts:
        if part != part.rstrip(" .") or part != part.lstrip(" "):
            return f"the folder name {part!r} starts or ends with a space or ends with '.' (Windows trims them)"
        if reserved_device_name(part):
            return f"{part!r} is a reserved Windows device name (CON, NUL, COM1, ...)"
    if len(p) > 240:
        return "at most 240 characters (MAX_PATH is 260, and files go inside)"
    return None


# Managed folders (install, log, dump) of all services on a host must be separate: each gets an ACE for
# its service's account and goes with its service (issue 12 item 3). One rule, used by config and provider.
def norm_folder(path: str) -> str:
    """A folder as Windows compares it: case-insensitive, '/' is '\\', no trailing separator."""
    return path.replace("/", "\\").rstrip("\\").lower()


def folder_overlaps(folders: list[tuple[object, str | None]]) -> list[tuple[object, str, object, str, str]]:
    """(loc, path, other loc, other path, how) for every later folder equal to, inside or above an earlier one."""
    out = []
    seen: list[tuple[object, str, str]] = []
    for loc, path in folders:
        if not path:
            continue
        n = norm_folder(path)
        for oloc, opath, on in seen:
            how = ("is the same folder as" if n == on else "is inside" if n.startswith(on + "\\")
                   else "contains" if on.startswith(n + "\\") else None)
            if how:
                out.append((loc, path, oloc, opath, how))
                break
        seen.append((loc, path, n))
    return out


# Paths of the folders winfleet creates (installDir, logs.directory, crashDumps.folder) and the strings
# the SCM / WER expand. One rule set, used by the stack config (components/config.py) and by the host
# resources' check (components/host/windows_service.py, crash_dumps.py).
# Naming Files, Paths, and Namespaces (https://learn.microsoft.com/en-us/windows/win32/fileio/naming-a-file):
# "Do not use the following reserved names for the name of a file: CON, PRN, AUX, NUL, COM1 ... COM9,
# COM¹, COM², COM³, LPT1 ... LPT9, LPT¹, LPT², LPT³. Also avoid these names followed immediately by an
# extension; for example, NUL.txt"; "Do not end a file or directory name with a space or a period"
# (Win32 path normalisation trims them, so "api." and "api " are "api":
# https://learn.microsoft.com/en-us/dotnet/standard/io/file-path-formats#trim-characters).
# (RESERVED_DEVICE_NAMES and reserved_device_name() are defined above, with the other name rules.)
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
        if reserved_device_name(seg):
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


def managed_folder_problem(p: str) -> str | None:
    """The rule for a folder winfleet creates, owns and deletes (installDir, logs.directory,
    crashDumps.folder), used by the stack config and the host resources' check alike."""
    return folder_path_problem(p) or windows_path_problem(p)

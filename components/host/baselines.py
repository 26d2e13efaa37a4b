"""Built-in service-disable baselines (ServiceBaseline ``services`` lists), with their sources.

Every name is a *service name* (``HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>``), never a display
name: matching by display name is how a CIS role once disabled ``bowser`` instead of ``Browser`` and
broke SMB and logon (ansible-lockdown Windows-10-CIS#14 / Windows-11-CIS#12; windows_config_anchors.md §6.7).
No built-in set contains a service from the never-disable list (``components.windows_facts.NEVER_DISABLE``);
``resolve_baseline`` enforces that for explicit lists too.

Services not installed on an image are skipped by the resource (Microsoft: "recommends against applying
policies to disable services that are not installed by default"; xService: "Disabled and not installed =
compliant"), so a set may name Desktop-Experience-only services.
"""
from __future__ import annotations

from ..windows_facts import NEVER_DISABLE, never_disable_match

# ---------------------------------------------------------------------------------------------
# ms-server-2016-ok
# Source: Microsoft, "Guidance on disabling system services on Windows Server 2016 with Desktop
# Experience" (MicrosoftDocs/windowsserverdocs, WindowsServerDocs/security/windows-services/
# security-guidelines-for-disabling-system-services-in-windows-server.md, ms.date 11/26/2018;
# https://learn.microsoft.com/windows-server/security/windows-services/security-guidelines-for-disabling-system-services-in-windows-server),
# machine-readable copy in research/ms_service_guidance_ws2016.json.
# = the "Should be disabled" row + the "OK to disable" row, EXCLUDING what needs judgement or a
# mechanism this resource does not have:
#   * per-user service templates (CDPUserSvc, PimIndexMaintenanceSvc, OneSyncSvc, UserDataSvc,
#     UnistoreSvc, WpnUserService): disabling them means the template's Start value plus
#     UserServiceFlags (windows-itpro-docs per-user-services-in-windows.md), not ChangeServiceConfig;
#   * the "Conditional" row (Spooler: "OK to disable if not a print server or a DC"; PrintNotify:
#     "OK to disable if not a print server"): a judgement about the host's role;
#   * RmSvc and ScDeviceEnum: "Access is denied" when changing their configuration
#     (ansible.windows#118), so a baseline including them fails on some images.
# Microsoft adds that from Windows Server 2019 on "these guidelines are configured by default": on
# WS2019/2022 most entries are already disabled or not installed and are skipped.
MS_SERVER_2016_SHOULD = ("XblAuthManager", "XblGameSave")
MS_SERVER_2016_OK = (
    "AxInstSV", "bthserv", "dmwappushservice", "MapsBroker", "lfsvc", "SharedAccess", "lltdsvc",
    "wlidsvc", "NgcSvc", "NgcCtnrSvc", "NcbService", "PhoneSvc", "PcaSvc", "QWAVE",
    "SensorDataService", "SensrSvc", "SensorService", "ShellHWDetection", "SSDPSRV", "WiaRpc",
    "TabletInputService", "upnphost", "WalletService", "Audiosrv", "AudioEndpointBuilder", "FrameServer",
    "stisvc", "wisvc", "icssvc", "WpnService",
)
MS_SERVER_2016_EXCLUDED = {
    "CDPUserSvc": "per-user service template (needs UserServiceFlags)",
    "PimIndexMaintenanceSvc": "per-user service template (needs UserServiceFlags)",
    "OneSyncSvc": "per-user service template (needs UserServiceFlags)",
    "UserDataSvc": "per-user service template (needs UserServiceFlags)",
    "UnistoreSvc": "per-user service template (needs UserServiceFlags)",
    "WpnUserService": "per-user service template (needs UserServiceFlags)",
    "Spooler": "conditional: OK only if not a print server or a domain controller",
    "PrintNotify": "conditional: OK only if not a print server",
    "RmSvc": "configuration change is access-denied on some images (ansible.windows#118)",
    "ScDeviceEnum": "configuration change is access-denied on some images (ansible.windows#118)",
}

# ---------------------------------------------------------------------------------------------
# go-host-minimal: our conservative set for a dedicated Go service host (no print role, no desktop
# user, no consumer devices, managed only over WinRM). Each entry is in Microsoft's "Should" or
# "OK to disable" rows above unless noted; we keep the list short on purpose (network-facing or
# consumer features only), because every disabled service is a difference from the image that
# someone must understand later.
GO_HOST_MINIMAL = (
    "XblAuthManager",   # MS "Should be disabled"; CIS Win11 5.42 (L1)
    "XblGameSave",      # MS "Should be disabled"; CIS Win11 5.43 (L1)
    "Spooler",          # MS conditional (not a print server or DC: true for a Go host); CIS WS2022 5.2 (L2,
                        # member server); PrintNightmare (CVE-2021-34527) attack surface
    "PrintNotify",      # MS conditional (not a print server)
    "MapsBroker",       # MS OK; CIS Win11 5.4 (L2)
    "lfsvc",            # MS OK (geolocation); CIS Win11 5.5 (L2)
    "SharedAccess",     # MS OK (Internet Connection Sharing)
    "icssvc",           # MS OK (mobile hotspot); CIS Win11 5.36 (L1)
    "SSDPSRV",          # MS OK; CIS Win11 5.30 (L1): SSDP discovery listens on the network
    "upnphost",         # MS OK; CIS Win11 5.31 (L1): depends on SSDPSRV
    "lltdsvc",          # MS OK; CIS Win11 5.8 (L2): link-layer topology discovery
    "bthserv",          # MS OK; CIS Win11 5.2 (L2)
    "wlidsvc",          # MS OK: "Microsoft Accounts are N/A on Windows Server"
    "stisvc",           # MS OK (image acquisition)
    "WiaRpc",           # MS OK (still image events)
    "dmwappushservice", # MS OK: "Not needed for Server"
    "PhoneSvc",         # MS OK
    "WalletService",    # MS OK
    "AxInstSV",         # MS OK (ActiveX installer)
)

BUILTIN: dict[str, tuple[str, ...]] = {
    "ms-server-2016-ok": MS_SERVER_2016_SHOULD + MS_SERVER_2016_OK,
    "go-host-minimal": GO_HOST_MINIMAL,
    "none": (),
}


def builtin_names() -> list[str]:
    return sorted(BUILTIN)


def baseline_services(name: str) -> list[str]:
    """The built-in set ``name``; KeyError with the allowed names otherwise."""
    if name not in BUILTIN:
        raise KeyError(f"unknown baseline {name!r}; built-in baselines: {', '.join(builtin_names())}")
    return list(BUILTIN[name])


def resolve_baseline(name: str, extra: list[str] | None = None, managed: list[str] | None = None) -> list[str]:
    """Built-in set ``name`` plus ``extra`` services, minus our own (``managed``) services, deduplicated
    case-insensitively (first spelling wins). Raises ValueError for a never-disable service in ``extra``."""
    bad = [s for s in extra or [] if never_disable_match(s)]
    if bad:
        raise ValueError(f"never-disable services cannot be in a baseline: {', '.join(bad)}")
    own = {m.lower() for m in managed or []}
    out, seen = [], set()
    for s in baseline_services(name) + list(extra or []):
        if s.lower() in seen or s.lower() in own:
            continue
        seen.add(s.lower())
        out.append(s)
    return out


def _self_check() -> None:
    never = {n.lower() for n in NEVER_DISABLE}
    for name, services in BUILTIN.items():
        clash = [s for s in services if s.lower() in never]
        assert not clash, f"baseline {name} contains never-disable services {clash}"
        assert len({s.lower() for s in services}) == len(services), f"baseline {name} has duplicates"


_self_check()

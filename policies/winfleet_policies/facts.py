"""Windows and Azure facts the policies rely on.

The pack is self-contained: the Pulumi CLI starts it as ``python -m pulumi.policy <engine> .`` with the working
directory set to ``policies/`` and the pack's own virtualenv (``policies/venv``), and a published pack runs on
machines that never saw this repository. So it cannot import ``components``; the facts it shares with the program
are copied here and ``tests/policies/test_pack_facts.py`` asserts that the copies equal the program's
(``components.windows_facts`` and ``components.sizing``), so they cannot drift apart silently.
"""
from __future__ import annotations

import math

# Services that must never be disabled on a WinRM-managed Go-service host (windows_domain.md §1.4,
# DESIGN "Domain facts"). Matched by service name only, case-insensitively, never by display name.
# Equal to components.windows_facts.NEVER_DISABLE (RemoteRegistry and TermService are deliberately absent:
# CIS/STIG hardening may disable them and WinRM does not need them).
NEVER_DISABLE = (
    "WinRM", "HTTP", "RpcSs", "RpcEptMapper", "DcomLaunch", "EventLog", "Wecsvc", "WerSvc", "LSM",
    "Schedule", "SystemEventsBroker", "TimeBrokerSvc", "Winmgmt", "LanmanServer", "SamSs",
    "BFE", "MpsSvc", "Dhcp", "Dnscache", "IKEEXT", "iphlpsvc", "nsi", "Netlogon",
    "Netman", "W32Time", "vmictimesync", "ProfSvc", "CryptSvc", "KeyIso", "UserManager",
    "Power", "PlugPlay", "gpsvc", "NlaSvc", "UsoSvc", "wuauserv", "BITS", "TrustedInstaller",
    "WindowsAzureGuestAgent", "RdAgent",
)

# Event log minimums (KB) from the CIS WS2022 benchmark 18.10.26.x / DISA STIG / Azure
# WindowsComponents_AINE.json defaults (policy_ci_anchors.md §2.4, windows_domain.md §5.2).
EVENT_LOG_MINIMUM_KB = {"Application": 32768, "System": 32768, "Setup": 32768, "Security": 196608}

# Accounts an NTFS quota cannot bind: Administrators are exempt from quotas, and files written by a
# LocalSystem service are owned by BUILTIN\Administrators (windows_domain.md §6.3).
QUOTA_EXEMPT_ACCOUNTS = (
    "localsystem", "system", "nt authority\\system", ".\\localsystem",
    "administrator", "administrators", "builtin\\administrators", "nt authority\\localsystem",
)

# Default Windows Server pre-shutdown timeout when a service does not set one (build >= 15063).
DEFAULT_PRESHUTDOWN_SECONDS = 10

# Azure load balancer probe defaults when a probe omits them (azure-native ProbeArgs docs).
AZURE_PROBE_DEFAULT_INTERVAL = 15
AZURE_PROBE_DEFAULT_THRESHOLD = 1

MIB = 1024 * 1024

# Estimated size of one WER dump when the CrashDumps resource does not say (see logs policy config).
DEFAULT_DUMP_SIZE_BYTES = {"mini": 64 * MIB, "full": 4096 * MIB}  # = components.config size estimates


def never_disable_lower(extra=()) -> set:
    return {s.lower() for s in NEVER_DISABLE} | {str(s).lower() for s in extra}


def quota_exempt(account) -> bool:
    if not isinstance(account, str):
        return False
    a = account.strip().lower()
    if a.startswith(".\\"):
        a = a[2:]
    return a in QUOTA_EXEMPT_ACCOUNTS or a.endswith("\\administrator") or a.endswith("\\administrators")


def log_budget_bytes(max_size_bytes: int, max_files: int) -> int:
    """Same rule as ``components.sizing.log_budget_bytes``: max file size x number of files kept."""
    return int(max_size_bytes) * int(max_files)


def quota_limit_for(budget_bytes: int, headroom: float) -> int:
    """Same rule as ``components.sizing.quota_sizing``: budget x headroom rounded up, never below the budget."""
    return max(int(budget_bytes), math.ceil(int(budget_bytes) * float(headroom)))


def required_preshutdown_seconds(interval: int, threshold: int, drain: int) -> int:
    """Same rule as ``components.sizing.required_preshutdown_seconds``: interval x threshold + drain."""
    return int(interval) * int(threshold) + int(drain)

"""Host resources: Pulumi dynamic resources that configure a Windows host over WinRM.

Shared plumbing in ``base`` (how to write a resource: see its docstring) and ``journal``.
Resource classes are imported lazily so that importing the package stays cheap and a broken
resource module cannot break the others.
"""
from .base import (Connection, HostInputs, HostResource, HostResourceError, HostResourceProvider,
                   HostSession, Model, Refused)
from .journal import Entry, item_name, journal_key

__all__ = ["Connection", "HostInputs", "HostResource", "HostResourceError", "HostResourceProvider",
           "HostSession", "Model", "Refused", "Entry", "item_name", "journal_key",
           "DataVolume", "EventLogSettings", "NtfsQuota", "ServicePort", "ServiceWatchdog"]

_LAZY = {"DataVolume": "data_volume", "EventLogSettings": "event_log_settings", "NtfsQuota": "ntfs_quota",
         "WindowsService": "windows_service", "CrashDumps": "crash_dumps", "ServiceBaseline": "service_baseline",
         "ServicePort": "service_port", "ServiceWatchdog": "service_watchdog"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(name)

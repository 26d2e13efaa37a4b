"""winfleet: Windows Server hosts for Go services, provisioned with Pulumi and configured over WinRM.

In this repository the package is the ``components/`` folder (the program imports ``components``);
installed from a wheel it is ``winfleet`` (pyproject.toml), with the PowerShell drivers as package data
(``winfleet/drivers``). The public API, for another Pulumi program::

    from winfleet import Fleet, load_config            # the whole stack from `winfleet:` config
    from winfleet import GoService, GoServiceArgs      # one Go service on a set of hosts
    from winfleet import WinfleetConfig, ServiceConfig, parse_config, ConfigError   # the config models

Names are imported on first use, so ``import winfleet`` stays cheap (no Azure SDK until it is needed).
"""
from __future__ import annotations

import importlib

_PUBLIC = {
    "Fleet": "fleet", "FleetHost": "fleet",
    "GoService": "go_service", "GoServiceArgs": "go_service",
    "WinfleetConfig": "config", "ServiceConfig": "config", "ConfigError": "config",
    "load_config": "config", "load_config_file": "config", "parse_config": "config",
    "HostTarget": "targets", "existing_hosts": "targets",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

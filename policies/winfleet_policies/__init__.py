"""winfleet's CrossGuard rules, importable without starting a policy-pack server.

``policies/__main__.py`` only assembles ``PolicyPack(PACK_NAME, all_policies(), ...)``; tests import the rule
modules (readiness, shutdown, logs, crash, baseline, security) directly.
"""
from __future__ import annotations

from . import baseline, crash, firewall, logs, readiness, security, shutdown
from . import secrets as _secrets

PACK_NAME = "winfleet"
PACK_DESCRIPTION = ("winfleet: readiness endpoints, guest firewall, graceful shutdown, log configuration, crash supervision, "
                    "service baselines and WinRM/Azure security for Windows hosts running Go services.")

MODULES = (readiness, firewall, shutdown, logs, crash, baseline, security)


def all_policies() -> list:
    """Every policy of the pack, in theme order. Installs the secret hook the secret policy relies on."""
    _secrets.install()
    out = []
    for module in MODULES:
        out.extend(module.POLICIES)
    return out

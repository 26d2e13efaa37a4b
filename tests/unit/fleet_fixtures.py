"""Stack configs and graph helpers shared by test_fleet.py and test_go_service.py."""
from __future__ import annotations

import hashlib
from typing import Optional

from components.config import parse_config

H = "pulumi-python:dynamic/winfleet:"
WS, QUOTA, DUMPS, VOL, EVT, BASE = (H + "WindowsService", H + "NtfsQuota", H + "CrashDumps", H + "DataVolume",
                                    H + "EventLogSettings", H + "ServiceBaseline")
PORT = H + "ServicePort"
GO_SERVICE, FLEET, HOST = "winfleet:index:GoService", "winfleet:index:Fleet", "winfleet:index:Host"
VM = "azure-native:compute:VirtualMachine"
CERT_SHA = "ab" * 32


def binary(name: str, version: str = "1.0.0") -> dict:
    return {"url": f"https://artifacts.example.com/{name}/{version}/{name}.exe",
            "sha256": hashlib.sha256(f"{name}-{version}".encode()).hexdigest()}


def service(name: str, port: int, **extra) -> dict:
    svc = {"name": name, "port": port, "binary": binary(name), "preshutdownTimeoutSeconds": 30,
           "logs": {"maxFileSizeMb": 10, "maxFiles": 4}, "crashDumps": {"enabled": True, "count": 2}}
    svc.update(extra)
    return svc


TWO_SERVICES = [service("orders-api", 8080, environment={"APP_MODE": "prod"}),
                service("billing-worker", 9090, dependencies=["orders-api"], readinessPath="/ready")]


def existing_raw(n_hosts: int = 3, *, batch: int = 1, services: Optional[list] = None, **extra) -> dict:
    raw = {
        "mode": "existingHosts",
        "existingHosts": [{"name": f"lab-{i}", "host": f"10.0.0.{10 + i}", "username": "winfleet",
                           "password": f"pw-{i}", "certSha256": CERT_SHA, "dataDisk": {"diskNumber": 1}}
                          for i in range(n_hosts)],
        "rollout": {"batchSize": batch},
        "services": services if services is not None else TWO_SERVICES,
    }
    raw.update(extra)
    return raw


def existing_cfg(n_hosts: int = 3, **kw):
    return parse_config(existing_raw(n_hosts, **kw))


def azure_cfg(n_hosts: int = 3, *, batch: int = 1, services: Optional[list] = None):
    return parse_config({
        "mode": "azure",
        "azure": {"location": "westeurope", "hostCount": n_hosts, "dnsPrefix": "wftest", "zones": ["1", "2"],
                  "clientSources": ["10.0.0.0/8"], "dataDiskSizeGb": 64},
        "winrm": {"allowedSources": ["203.0.113.0/28"], "connectVia": "public"},
        "rollout": {"batchSize": batch},
        "services": services if services is not None else TWO_SERVICES,
    })


class Graph:
    """The captured registrations as a graph keyed by resource name (names are unique per type here)."""

    def __init__(self, run):
        self.run = run
        self.regs = run.registrations
        self.by_urn = {r.urn: r for r in self.regs}

    def of(self, type_: str) -> dict:
        return {r.name: r for r in self.regs if r.type == type_}

    def one(self, type_: str, name: str):
        found = [r for r in self.regs if r.type == type_ and r.name == name]
        assert len(found) == 1, (type_, name, [r.name for r in self.regs if r.type == type_])
        return found[0]

    def deps(self, reg, type_: Optional[str] = None) -> set[str]:
        """Names of the resources `reg` depends on (optionally only of `type_`)."""
        return {self.by_urn[u].name for u in reg.dependencies
                if u in self.by_urn and (type_ is None or self.by_urn[u].type == type_)}

    def dep_urns(self, reg) -> set[str]:
        return set(reg.dependencies)

    def parent(self, reg):
        return self.by_urn.get(reg.parent)

    def levels(self, type_prefix: str = H) -> dict[str, int]:
        """Engine waves: with unlimited parallelism and unit-time steps, the wave in which each dynamic
        resource's step runs (1 + the latest wave among its dependencies)."""
        dyn = {r.urn: r for r in self.regs if r.type.startswith(type_prefix)}
        memo: dict[str, int] = {}

        def level(u: str) -> int:
            if u not in memo:
                memo[u] = 1 + max([level(d) for d in dyn[u].dependencies if d in dyn], default=-1)
            return memo[u]

        return {f"{dyn[u].type.split(':')[-1]}:{dyn[u].name}": level(u) for u in dyn}

"""`Fleet`: the whole stack from a validated `WinfleetConfig`.

    Fleet("winfleet", load_config())

* targets: ``AzureHosts`` (network, LB + probes, VMs; cfg.mode == "azure") or ``existing_hosts(cfg)``;
* per host a ``winfleet:index:Host`` component (named after the host) holding the host-wide resources:
  ``<host>/data`` (DataVolume), ``<host>/eventlogs`` (EventLogSettings), ``<host>/baseline``
  (ServiceBaseline) — each waits for the host (``HostTarget.depends_on``, the VM); the services'
  resources on a host wait for all three;
* per service a ``GoService`` (components/go_service.py): quota, crash dumps and the WindowsService on
  every host, after the host's data volume, rolled out in batches (``winfleet:rollout.batchSize``).
  Services are built batch by batch across services: batch b of a service waits for its batch b-1
  and for batch b-1 of the services that depend on it (SCM dependents, which its update stops on the
  host), so a release of related services moves host by host and never takes a dependent down on two
  batches at once.

Outputs (``Fleet.outputs``, exported by ``__main__.py``): ``hosts`` (names), ``services`` (per service:
``serviceUrl``, ``batches``, and per host ``state``, ``readinessUrl``, ``notReadyBeforeExit``, ``warnings``).
"""
from __future__ import annotations

from typing import Any, Optional

import pulumi

from .go_service import GoService, GoServiceArgs

TYPE = "winfleet:index:Fleet"
HOST_TYPE = "winfleet:index:Host"


def _azure_hosts(name: str, cfg, opts):
    from .azure import AzureHosts
    return AzureHosts(name, cfg, opts)


def _existing_hosts(cfg):
    from .targets import existing_hosts
    return existing_hosts(cfg)


def event_log_inputs(cfg) -> list[dict]:
    return [{"name": name, "maxSizeKb": log.max_size_kb, "retention": log.retention}
            for name, log in cfg.event_logs.items()]


def baseline_inputs(cfg) -> dict:
    """ServiceBaseline inputs: the baseline's services resolved to a list, minus our own services."""
    from .host.baselines import resolve_baseline
    own = [s.name for s in cfg.services]
    return {"baselineName": cfg.baseline.name,
            "services": resolve_baseline(cfg.baseline.name, cfg.baseline.services, own),
            "managedServices": own}


def data_volume_inputs(cfg, data_disk: dict) -> dict:
    out = {"driveLetter": cfg.data_volume.drive_letter, "label": cfg.data_volume.label, "fileSystem": "NTFS"}
    for key in ("lun", "diskNumber"):
        if data_disk.get(key) is not None:
            out[key] = data_disk[key]
    return out


class FleetHost(pulumi.ComponentResource):
    """The host-wide resources of one host (not the services: those span hosts in GoService)."""

    def __init__(self, target, cfg, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(HOST_TYPE, target.name, None, opts)
        from .host.data_volume import DataVolume
        from .host.event_log_settings import EventLogSettings
        from .host.service_baseline import ServiceBaseline

        self.target = target
        on_host = pulumi.ResourceOptions(parent=self, depends_on=list(target.depends_on or []))
        conn = {"connection": target.connection}
        volume_opts = pulumi.ResourceOptions.merge(on_host, pulumi.ResourceOptions(
            protect=cfg.data_volume.protect, retain_on_delete=cfg.data_volume.retain_on_delete))
        self.data_volume = DataVolume(f"{target.name}/data", {**conn, **data_volume_inputs(cfg, target.data_disk or {})},
                                      volume_opts)
        self.event_logs = EventLogSettings(f"{target.name}/eventlogs", {**conn, "logs": event_log_inputs(cfg)}, on_host)
        self.baseline = None
        if cfg.baseline.name != "none" or cfg.baseline.services:
            self.baseline = ServiceBaseline(f"{target.name}/baseline", {**conn, **baseline_inputs(cfg)}, on_host)
        self.register_outputs({"name": target.name})

    def host_wide(self) -> list[pulumi.Resource]:
        """What the services on this host wait for: the data volume (their logs, dumps and quota live
        there), the event log sizes, and the baseline — so a service whose SCM dependency the baseline
        disables fails at deploy time, not at the next reboot."""
        return [r for r in (self.data_volume, self.event_logs, self.baseline) if r is not None]


class Fleet(pulumi.ComponentResource):
    """See the module docstring. Attributes: ``targets``, ``hosts`` (name -> FleetHost),
    ``services`` (name -> GoService), ``azure`` (AzureHosts or None), ``outputs`` (dict of Outputs)."""

    def __init__(self, name: str, cfg, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(TYPE, name, None, opts)
        self.cfg = cfg
        self.azure = None
        if cfg.mode == "azure":
            self.azure = _azure_hosts(name, cfg, pulumi.ResourceOptions(parent=self))
            self.targets = list(self.azure.hosts)
        else:
            self.targets = list(_existing_hosts(cfg))

        # winfleet:dynamicProviders perHost: one dynamic-provider instance (its own provider-host
        # process) per host. The SDK's provider host serves 4 calls at once (a 4-thread gRPC pool),
        # so one shared instance caps a whole fleet at 4 host operations in flight.
        self.providers: dict[str, pulumi.ProviderResource] = {}
        if cfg.dynamic_providers == "perHost":
            for t in self.targets:
                self.providers[t.name] = pulumi.ProviderResource(
                    "pulumi-python", f"{t.name}/provider", {}, pulumi.ResourceOptions(parent=self))
        self.hosts: dict[str, FleetHost] = {}
        for t in self.targets:
            prov = self.providers.get(t.name)
            self.hosts[t.name] = FleetHost(t, cfg, pulumi.ResourceOptions(
                parent=self, providers={"pulumi-python": prov} if prov else None))

        self.services: dict[str, GoService] = {}
        ws_by_service: dict[str, dict[str, pulumi.Resource]] = {}
        ordered = _dependency_order(cfg.services)
        for svc in ordered:
            args = GoServiceArgs.from_config(
                cfg, svc, self.targets,
                host_dependencies={n: fh.host_wide() for n, fh in self.hosts.items()},
                service_dependencies=ws_by_service,
                service_url=self._service_url(svc.name), providers=self.providers)
            gs = GoService(svc.name, args, pulumi.ResourceOptions(parent=self), build=False)
            self.services[svc.name] = gs
            ws_by_service[svc.name.lower()] = gs.windows_services  # filled in as batches are built
        # Batch by batch across services (dependencies first): batch b of a service also waits for
        # batch b-1 of its SCM dependents, whose update it would interrupt on the host.
        dependents = _dependents(cfg.services)
        n_batches = max((len(gs.batches) for gs in self.services.values()), default=0)
        for b in range(n_batches):
            for svc in ordered:
                after = [r for d in dependents[svc.name.lower()] for r in self.services[d].batch_done(b - 1)]
                self.services[svc.name].build_batch(b, after=after)
        for gs in self.services.values():
            gs.finish()

        self.outputs: dict[str, Any] = {
            "mode": cfg.mode,
            "hosts": [t.name for t in self.targets],
            "services": {n: {"serviceUrl": gs.service_url, "batches": gs.batches, "hosts": gs.host_outputs}
                         for n, gs in self.services.items()},
        }
        self.register_outputs(self.outputs)

    def _service_url(self, service: str):
        """The LB URL of the service's port (Azure mode); no balancer in existingHosts mode."""
        endpoints = getattr(self.azure, "service_endpoints", None) or {}
        ep = endpoints.get(service)
        return ep.url if ep is not None else None


def _dependents(services: list) -> dict[str, list[str]]:
    """service name (lower) -> names of this stack's services that depend on it, transitively."""
    names = {s.name.lower(): s.name for s in services}
    direct = {s.name.lower(): [d.lower() for d in s.dependencies if d.lower() in names] for s in services}
    out: dict[str, list[str]] = {}
    for target in names:
        found, todo = [], [target]
        while todo:
            cur = todo.pop()
            for other, deps in direct.items():
                if cur in deps and names[other] not in found and other != target:
                    found.append(names[other])
                    todo.append(other)
        out[target] = found
    return out


def _dependency_order(services: list) -> list:
    """Services ordered so an SCM dependency among our services comes first (config rejects cycles)."""
    names = {s.name.lower(): s for s in services}
    out, seen = [], set()

    def visit(s, stack=()):
        key = s.name.lower()
        if key in seen:
            return
        if key in stack:
            raise ValueError(f"service dependency cycle through {s.name!r}")
        for d in s.dependencies:
            if d.lower() in names:
                visit(names[d.lower()], stack + (key,))
        seen.add(key)
        out.append(s)

    for s in services:
        visit(s)
    return out

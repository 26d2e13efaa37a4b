"""`GoService`: one declaration per Go service, spanning every host, rolled out batch by batch.

Per host (children of the GoService component, named ``<service>@<host>[/<part>]``):

* ``NtfsQuota``   ``api@web-0/quota``  — the service account's quota on the data volume, sized from the
  log + dump budget x headroom (components.sizing), never below the budget (skipped for LocalSystem,
  which NTFS charges to Administrators and never limits). It ``depends_on`` the WindowsService: the
  virtual account ``NT SERVICE\<svc>`` resolves to a SID only once the service is registered
  (LookupAccountName, https://learn.microsoft.com/en-us/windows/win32/api/winsvc/ns-winsvc-service_sid_info),
  so a quota planned before it is refused. Registration is not split from the start: the quota follows
  the whole WindowsService apply (registered, started, ready), so a first deploy's service runs for that
  moment without its limit (NTFS still charges what it writes). Destroy runs the other way: the quota entry
  goes while the account still resolves, then the service; if the service's files still exist at that point
  NTFS keeps the record, which is reset to the volume defaults (ntfs_quota.py restore_plan);
* ``CrashDumps``  ``api@web-0/dumps``  — WER LocalDumps for the exe + a dump folder the account can
  write (only when crash dumps are on; the service then gets ``GOTRACEBACK=wer``);
* ``ServicePort``  ``api@web-0/port``   — the port is bindable on the host (not in its dynamic or an
  excluded port range, no other process listening: refused at plan time, before the service is
  touched) and, for a load-balanced port, an inbound Windows Defender Firewall rule ``winfleet-<service>``
  from the Azure probe address 168.63.129.16 and ``azure.clientSources`` (the guest firewall blocks
  inbound by default, so without it the probe never reaches the service);
* ``ServiceWatchdog`` ``api@web-0/watchdog`` — only with ``watchdog.enabled``: a scheduled task that restarts
  the service after ``failureThreshold`` failed liveness probes of ``healthPath`` (after the service);
* ``WindowsService`` ``api@web-0``     — binary (URL + SHA-256), SCM registration, event source, log
  directory with an ACL for the account, environment (user variables + WINFLEET_LOG_* + GOTRACEBACK),
  recovery actions (+ restart on non-crash failures), pre-shutdown timeout, and the readiness gate:
  create/update only succeed once ``http://localhost:<port><readinessPath>`` answers 200.

Roll-out order, expressed as Pulumi dependencies so the engine honours it: the hosts are cut into
batches of ``rollout.batchSize`` (declaration order); every WindowsService in batch b ``depends_on``
every WindowsService of the same service in batch b-1 (and on their quotas, so a quota that fails
stops the roll-out at its batch, as a failed service does) — and, in a Fleet, of the services that
depend on it (SCM dependents, which its update stops on the host) in batch b-1, so related services
move host by host together. The engine only starts a resource's
create/update when its dependencies' steps have finished, and stops launching steps at the first
failure — so a change to the binary or configuration reaches batch b only after batch b-1 is
running the new version *and ready*, and a readiness failure stops the roll-out at that batch.
Every per-host resource also depends on the host (``HostTarget.depends_on``: the VM) and on the
host's data volume; a service that depends on another service of this stack (SCM dependency) also
depends on that service's WindowsService on the same host.

The LB rule and readiness probe for the port are built by the Azure layer (``AzureHosts``: the
VMs, and so every host resource, already wait for the load balancer); the GoService receives the
service URL (``AzureHosts.service_endpoints[name].url``) for its output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi

from . import sizing
from . import windows_facts as wf

MIB = 1024 * 1024
TYPE = "winfleet:index:GoService"


def _exempt_from_quota(account: str) -> bool:
    """LocalSystem's files are owned by (and charged to) Administrators, who have no limit."""
    return account.strip().lower() in ("localsystem", "nt authority\\system", ".\\localsystem")


# ---------------------------------------------------------------------------------------------
# pure input builders (unit-tested without Pulumi)
# ---------------------------------------------------------------------------------------------
def service_inputs(svc, *, lb=None) -> dict:
    """WindowsService inputs (without `connection`) from a `ServiceConfig`. Validates the shutdown
    budget against the load balancer's detection time when `lb` (LoadBalancerConfig) is given."""
    if lb is not None:
        problem = sizing.preshutdown_problem(svc.name, svc.preshutdown_timeout_seconds, lb.probe_interval_seconds,
                                             lb.unhealthy_threshold, lb.drain_seconds)
        if problem:
            raise sizing.SizingError(problem)
    drain = (sizing.required_preshutdown_seconds(lb.probe_interval_seconds, lb.unhealthy_threshold, lb.drain_seconds)
             if lb is not None else None)
    env = sizing.service_environment(svc.environment, log_dir=svc.logs.directory,
                                     log_max_size_bytes=svc.logs.max_file_size_mb * MIB,
                                     log_max_files=svc.logs.max_files, dumps_enabled=svc.crash_dumps.enabled,
                                     service=svc.name, port=svc.port, health_path=svc.health_path,
                                     readiness_path=svc.readiness_path, drain_seconds=drain,
                                     event_source=svc.event_source.source or svc.name)
    inputs: dict[str, Any] = {
        "serviceName": svc.name,
        "displayName": svc.display_name or svc.name,
        "description": svc.description,
        "binaryUrl": _secret_url(svc),
        "binarySha256": svc.binary.sha256,
        "installDir": svc.install_dir,
        "arguments": list(svc.arguments),
        "account": svc.account,
        "startMode": svc.start_mode,
        "dependencies": list(svc.dependencies),
        "sidType": svc.sid_type,
        "environment": _secret_values(svc, env),
        "recovery": {
            "actions": [{"action": a.action, "delaySeconds": a.delay_seconds} for a in svc.recovery.actions],
            "resetPeriodSeconds": svc.recovery.reset_period_seconds,
            "failureActionsOnNonCrash": svc.recovery.failure_actions_on_non_crash,
        },
        "preshutdownTimeoutSeconds": svc.preshutdown_timeout_seconds,
        "preshutdownCheck": svc.preshutdown_check,
        "eventSource": {"logName": svc.event_source.log_name, "source": svc.event_source.source or svc.name},
        "logs": {"directory": svc.logs.directory, "maxSizeBytes": svc.logs.max_file_size_mb * MIB,
                 "maxFiles": svc.logs.max_files},
        "port": svc.port,
        "healthPath": svc.health_path,
        "readinessPath": svc.readiness_path,
        "readinessTimeoutSeconds": svc.readiness_timeout_seconds,
        "readinessPollSeconds": sizing.readiness_poll_seconds(svc.readiness_timeout_seconds),
    }
    if svc.account_password is not None:
        inputs["accountPassword"] = pulumi.Output.secret(svc.account_password.get_secret_value())
    secrets = getattr(svc, "secrets", None) or {}
    if secrets:
        # The service reads them from a file only its account, Administrators and SYSTEM can read
        # (WindowsService secretsFile), never from its registry Environment (readable by local users).
        path = secrets_file_path(svc)
        inputs["secrets"] = pulumi.Output.secret({k: v.get_secret_value() for k, v in secrets.items()})
        inputs["secretsFile"] = path
        inputs["environment"] = {**inputs["environment"], SECRETS_FILE_ENV: path}
    return inputs


SECRETS_FILE_ENV = "WINFLEET_SECRETS_FILE"


def secrets_file_path(svc) -> str:
    """Where a service's secrets file lives: ``<installDir>\\secrets.json`` (a folder the service can
    only read, removed with it)."""
    return f"{svc.install_dir}\\secrets.json"


def _is_secure(svc, *loc: str) -> bool:
    check = getattr(svc, "is_secure", None)
    return bool(check and check(*loc))


def _secret_values(svc, env: dict) -> dict:
    """The environment input: values that were `secure:` in the stack config stay Pulumi secrets (the
    WindowsService then makes its ``environment`` output secret too). winfleet's own variables never are."""
    user = set(svc.environment)
    return {k: (pulumi.Output.secret(v) if k in user and _is_secure(svc, "environment", k) else v)
            for k, v in env.items()}


def _secret_url(svc):
    """The binary URL, a secret when it was `secure:` or carries credentials (userinfo, a SAS query)."""
    from .host.base import url_has_credentials
    url = svc.binary.url
    if _is_secure(svc, "binary", "url") or url_has_credentials(url):
        return pulumi.Output.secret(url)
    return url


def quota_sizing(svc, headroom: float) -> sizing.QuotaSizing:
    log_budget = sizing.log_budget_bytes(svc.logs.max_file_size_mb * MIB, svc.logs.max_files)
    dump_budget = sizing.dump_budget_bytes(svc.crash_dumps.enabled, svc.crash_dumps.count,
                                           svc.crash_dumps.size_estimate_mb * MIB)
    return sizing.quota_sizing(log_budget, dump_budget, headroom)


def quota_inputs(svc, *, drive: str, headroom: float, enforce: bool) -> Optional[dict]:
    """NtfsQuota inputs (without `connection`), or None when the account is exempt from quotas."""
    if _exempt_from_quota(svc.account or ""):
        return None
    q = quota_sizing(svc, headroom)
    return {"volume": f"{drive.rstrip(':').upper()}:", "account": svc.account, **q.as_inputs(),
            "enforce": bool(enforce)}


def firewall_sources(client_sources: list[str], vnet_address_space: Optional[str]) -> list[str]:
    """Remote addresses of a load-balanced port's firewall rule: the LB probe address + the client
    sources, with the Azure tags the NSG accepts mapped to what the guest firewall understands:
    ``VirtualNetwork`` -> the VNet's address space, ``Internet`` -> ``Any`` (the NSG still filters)."""
    out = [wf.AZURE_PROBE_ADDRESS]
    for src in client_sources:
        if src == "Internet":
            return ["Any"]
        value = vnet_address_space if src == "VirtualNetwork" else src
        if value and value not in out:
            out.append(value)
    return out


def port_inputs(svc, *, remote_addresses: Optional[list[str]]) -> dict:
    """ServicePort inputs (without `connection`): `remote_addresses` None = check the port only."""
    out = {"serviceName": svc.name, "port": svc.port, "allowDynamicPort": bool(svc.allow_dynamic_port),
           "ruleName": f"winfleet-{svc.name}"}
    if remote_addresses is not None:
        out["remoteAddresses"] = list(remote_addresses)
    return out


def watchdog_inputs(svc) -> Optional[dict]:
    """ServiceWatchdog inputs (without `connection`), or None when the watchdog is off (the default)."""
    w = svc.watchdog
    if not w.enabled:
        return None
    return {"serviceName": svc.name, "port": svc.port, "healthPath": svc.health_path,
            "intervalSeconds": w.interval_seconds, "failureThreshold": w.failure_threshold,
            "timeoutSeconds": w.timeout_seconds, "stopTimeoutSeconds": svc.preshutdown_timeout_seconds + 30}


def dumps_inputs(svc) -> Optional[dict]:
    """CrashDumps inputs (without `connection`), or None when dumps are off."""
    if not svc.crash_dumps.enabled:
        return None
    return {"exeName": svc.binary.exe_name or f"{svc.name}.exe", "dumpFolder": svc.crash_dumps.folder,
            "dumpCount": svc.crash_dumps.count, "dumpType": svc.crash_dumps.type, "account": svc.account}


# ---------------------------------------------------------------------------------------------
@dataclass
class GoServiceArgs:
    """What a GoService needs. Build it with `GoServiceArgs.from_config(cfg, svc, hosts, ...)`."""

    service: Any                                   # components.config.ServiceConfig
    hosts: list                                    # list[components.targets.HostTarget]
    data_drive: str = "D"
    quota_headroom: float = 1.5
    quota_enforce: bool = True
    batch_size: int = 1
    load_balancer: Any = None                      # components.config.LoadBalancerConfig (shutdown check)
    host_dependencies: dict[str, list[pulumi.Resource]] = field(default_factory=dict)  # host -> [DataVolume, ...]
    service_dependencies: dict[str, dict[str, pulumi.Resource]] = field(default_factory=dict)
    # ^ other services of this stack: service name (lower) -> host name -> its WindowsService
    service_url: Optional[pulumi.Input[str]] = None  # LB frontend URL of this port (AzureHosts.service_endpoints)
    firewall_sources: Optional[list[str]] = None      # remote addresses of the port's firewall rule (None: no rule)
    # host -> the explicit dynamic-provider instance of that host (Fleet, winfleet:dynamicProviders perHost)
    providers: dict[str, pulumi.ProviderResource] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg, svc, hosts, **kw) -> "GoServiceArgs":
        if cfg.mode == "azure" and cfg.azure is not None and "firewall_sources" not in kw:
            # every service port is load-balanced in azure mode (AzureHosts builds a rule + probe per service)
            kw["firewall_sources"] = firewall_sources(cfg.azure.client_sources, cfg.azure.vnet_address_space)
        return cls(service=svc, hosts=list(hosts), data_drive=cfg.data_volume.drive_letter,
                   quota_headroom=cfg.quota.headroom, quota_enforce=cfg.quota.enforce,
                   batch_size=cfg.rollout.batch_size, load_balancer=cfg.load_balancer, **kw)


def _address(h) -> pulumi.Output:
    """Where the host is reached for the readiness URL: private IP, else the WinRM endpoint's host."""
    ip = getattr(h, "private_ip", None)
    if ip is not None:
        return pulumi.Output.from_input(ip)
    return pulumi.Output.unsecret(pulumi.Output.from_input(h.connection).apply(
        lambda c: (c or {}).get("host")))


class GoService(pulumi.ComponentResource):
    """See the module docstring. Attributes after construction:

    * ``windows_services``: host name -> WindowsService; ``quotas``/``crash_dumps``: host name -> resource
    * ``batches``: the roll-out batches (lists of host names), in order
    * ``host_outputs``: host name -> Output {"state", "readinessUrl", "batch", "crashes", "notReadyBeforeExit",
      "warnings"} (``crashes``: the SCM/WER crash counts since the last apply, as the last ``pulumi refresh``
      saw them; None before one; ``notReadyBeforeExit``: the last stop's drain, readiness went non-200 before
      the process exited, None when not stopped; ``warnings``: the last apply's, e.g. PreShutdown not accepted)
    * ``service_url``: Output[str] (LB frontend) or None when there is no balancer (existing hosts)

    ``GoService(name, args)`` builds every batch. The ``Fleet`` passes ``build=False`` and calls
    ``build_batch(b, after=...)`` batch by batch across all services, so that a service's batch b
    also waits for batch b-1 of the services that depend on it (their SCM dependents are stopped
    while it updates); then ``finish()``.
    """

    def __init__(self, name: str, args: GoServiceArgs, opts: Optional[pulumi.ResourceOptions] = None, *,
                 build: bool = True):
        super().__init__(TYPE, name, None, opts)
        svc = args.service
        self.args = args
        self.service_name = svc.name
        self._ws_inputs = service_inputs(svc, lb=args.load_balancer)
        self._quota_inputs = quota_inputs(svc, drive=args.data_drive, headroom=args.quota_headroom,
                                          enforce=args.quota_enforce)
        self._dumps_inputs = dumps_inputs(svc)
        self._port_inputs = port_inputs(svc, remote_addresses=args.firewall_sources)
        self._watchdog_inputs = watchdog_inputs(svc)
        if self._quota_inputs is None:
            pulumi.log.warn(f"service {svc.name!r} runs as {svc.account}: NTFS charges its files to Administrators, "
                            "which quotas never limit; no quota is set. Use the default 'NT SERVICE\\<name>' "
                            "account to enforce the log/dump budget.", self)
        self.batches = sizing.rollout_batches([h.name for h in args.hosts], args.batch_size)
        self._by_name = {h.name: h for h in args.hosts}
        self.windows_services: dict[str, pulumi.Resource] = {}
        self.quotas: dict[str, pulumi.Resource] = {}
        self.crash_dumps: dict[str, pulumi.Resource] = {}
        self.ports: dict[str, pulumi.Resource] = {}
        self.watchdogs: dict[str, pulumi.Resource] = {}
        self.host_outputs: dict[str, pulumi.Output] = {}
        self.service_url: Optional[pulumi.Output[str]] = (
            pulumi.Output.from_input(args.service_url) if args.service_url is not None else None)
        self._built: list[int] = []
        if build:
            for b in range(len(self.batches)):
                self.build_batch(b)
            self.finish()

    def batch_services(self, b: int) -> list[pulumi.Resource]:
        """The WindowsServices of batch `b` (empty for b < 0)."""
        return [self.windows_services[h] for h in self.batches[b]] if 0 <= b < len(self.batches) else []

    def batch_done(self, b: int) -> list[pulumi.Resource]:
        """What must finish before batch b+1 moves: batch b's WindowsServices and the quotas set after them."""
        if not 0 <= b < len(self.batches):
            return []
        return self.batch_services(b) + [self.quotas[h] for h in self.batches[b] if h in self.quotas]

    def build_batch(self, b: int, after: list[pulumi.Resource] = ()) -> list[pulumi.Resource]:
        """Create this service's resources on the hosts of batch `b`. Each WindowsService waits for
        batch b-1 of this service and for `after` (more resources that must finish first)."""
        from .host.crash_dumps import CrashDumps
        from .host.ntfs_quota import NtfsQuota
        from .host.service_port import ServicePort
        from .host.service_watchdog import ServiceWatchdog
        from .host.windows_service import WindowsService

        if b != len(self._built):
            raise ValueError(f"GoService {self.service_name}: build batch {len(self._built)} before batch {b}")
        args, svc = self.args, self.args.service
        previous = self.batch_done(b - 1) + list(after)
        own_deps = [d.lower() for d in svc.dependencies]
        for host_name in self.batches[b]:
            h = self._by_name[host_name]
            host_deps = list(h.depends_on or []) + list(args.host_dependencies.get(host_name, []))
            prefix = f"{svc.name}@{host_name}"
            prov = args.providers.get(host_name)
            local: list[pulumi.Resource] = []
            self.ports[host_name] = ServicePort(
                f"{prefix}/port", {"connection": h.connection, **self._port_inputs},
                pulumi.ResourceOptions(parent=self, depends_on=host_deps, provider=prov))
            local.append(self.ports[host_name])
            if self._dumps_inputs is not None:
                self.crash_dumps[host_name] = CrashDumps(
                    f"{prefix}/dumps", {"connection": h.connection, **self._dumps_inputs},
                    pulumi.ResourceOptions(parent=self, depends_on=host_deps, provider=prov))
                local.append(self.crash_dumps[host_name])
            # SCM dependencies on other services of this stack: those first, on this host
            peers = [args.service_dependencies[d][host_name] for d in own_deps
                     if d in args.service_dependencies and host_name in args.service_dependencies[d]]
            ws = WindowsService(prefix, {"connection": h.connection, **self._ws_inputs},
                                pulumi.ResourceOptions(parent=self, depends_on=host_deps + local + peers + previous,
                                                       provider=prov))
            self.windows_services[host_name] = ws
            if self._quota_inputs is not None:
                # after the service: NT SERVICE\<svc> has no SID before it is registered (module docstring)
                self.quotas[host_name] = NtfsQuota(
                    f"{prefix}/quota", {"connection": h.connection, **self._quota_inputs},
                    pulumi.ResourceOptions(parent=self, depends_on=host_deps + [ws], provider=prov))
            if self._watchdog_inputs is not None:   # after the service; deleted before it
                self.watchdogs[host_name] = ServiceWatchdog(
                    f"{prefix}/watchdog", {"connection": h.connection, **self._watchdog_inputs},
                    pulumi.ResourceOptions(parent=self, depends_on=[ws], provider=prov))
            url = pulumi.Output.concat("http://", _address(h), f":{svc.port}{svc.readiness_path}")
            state = ws.state.apply(_service_status)
            crashes = ws.crashes.apply(_crash_counts)   # set by refresh (components/host/crash_report.py)
            # what the last apply saw of the service's contract: the drain of its stop (None when it was
            # not stopped) and the warnings (PreShutdown not accepted with preshutdownCheck: warn, ...)
            drained = ws.state.apply(lambda st: ((st or {}).get("drain") or {}).get("notReadyBeforeExit")
                                     if isinstance(st, dict) else None)
            warnings = ws.state.apply(lambda st: list((st or {}).get("warnings") or []) if isinstance(st, dict) else [])
            self.host_outputs[host_name] = pulumi.Output.all(
                state=state, readinessUrl=url, crashes=crashes, drained=drained, warnings=warnings).apply(
                lambda o, b=b: {"state": o["state"], "readinessUrl": o["readinessUrl"], "batch": b,
                                "crashes": o["crashes"], "notReadyBeforeExit": o["drained"],
                                "warnings": o["warnings"]})
        self._built.append(b)
        return self.batch_services(b)

    def finish(self) -> None:
        if len(self._built) != len(self.batches):
            raise ValueError(f"GoService {self.service_name}: {len(self._built)} of {len(self.batches)} batches built")
        self.register_outputs({
            "serviceName": self.service_name,
            "batches": self.batches,
            "hosts": self.host_outputs,
            "serviceUrl": self.service_url,
        })


def _crash_counts(crashes: Any) -> Optional[dict]:
    """{since, restarts, crashes, werReports} from a WindowsService's ``crashes`` output (None before a refresh)."""
    if not isinstance(crashes, dict):
        return None
    return {k: crashes.get(k) for k in ("since", "restarts", "crashes", "werReports")}


def _service_status(state: Any) -> Optional[str]:
    """The SCM state from a WindowsService's live `state` output (e.g. "Running")."""
    if not isinstance(state, dict):
        return None
    for key in ("status", "state", "serviceState"):
        if isinstance(state.get(key), str):
            return state[key]
    svc = state.get("service")
    if isinstance(svc, dict):
        return _service_status(svc)
    return None

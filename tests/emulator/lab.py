"""``Lab``: N emulated Windows hosts on 127.0.0.1 sharing one throwaway test CA."""
from __future__ import annotations

import os
import secrets
import shutil
import tempfile

from .server import EmulatedHost, Limits
from .tls import TestCA


class Lab:
    """Context manager: ``with Lab(hosts=2, latency=0.0) as lab: lab.hosts[0].endpoint``.

    Options: ``names`` (host names, default ``win-0``...), ``username`` (default
    ``winfleetadmin``), ``auth`` ("ntlm" or "basic": what ``endpoint`` asks for), ``basic``
    (hosts also accept Basic; off by default, as on Windows where winrm/config/service/auth/Basic
    is false: https://learn.microsoft.com/en-us/windows/win32/winrm/installation-and-configuration-for-windows-remote-management;
    ``auth="basic"`` turns it on), ``limits`` (``Limits``), ``admin=True`` to also serve the admin API (``admin_url``).
    """

    def __init__(self, hosts: int = 2, latency: float = 0.0, *, names: list[str] | None = None,
                 username: str = "winfleetadmin", auth: str = "ntlm", limits: Limits | None = None,
                 admin: bool = False, bind: str = "127.0.0.1", base_port: int = 0,
                 password: str | None = None, ca_out: str | None = None, basic: bool = False):
        if names is not None and len(names) != hosts:
            hosts = len(names)
        self.names = list(names) if names is not None else [f"win-{i}" for i in range(hosts)]
        self.latency = latency
        self.username = username
        self.auth = auth
        self.basic = basic or auth == "basic"
        self.limits = limits
        self.bind = bind
        self.want_admin = admin
        self.base_port = base_port      # 0: any free port; else host i listens on base_port + i
        self.password = password        # None: a fresh random password per host
        self.ca_out = ca_out            # also write the test CA's PEM here (for Pulumi.lab.yaml's caPemFile)
        self.hosts: list[EmulatedHost] = []
        self.ca: TestCA | None = None
        self.workdir: str | None = None
        self.admin = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "Lab":
        self.workdir = tempfile.mkdtemp(prefix="winfleet-lab-")
        self.ca = TestCA(self.workdir)
        try:
            if self.ca_out:
                os.makedirs(os.path.dirname(os.path.abspath(self.ca_out)), exist_ok=True)
                with open(self.ca_out, "w", encoding="ascii") as f:
                    f.write(self.ca.pem)
            for index, name in enumerate(self.names):
                cert = self.ca.issue(name, dns=["localhost"] + ([name] if name.isascii() else []), ips=[self.bind])
                host = EmulatedHost(name, cert, self.ca.pem, username=self.username,
                                    password=self.password or secrets.token_urlsafe(18) + "-Aa1",
                                    auth=self.auth, latency=self.latency,
                                    auth_methods=("ntlm", "basic") if self.basic else ("ntlm",),
                                    limits=Limits(**vars(self.limits)) if self.limits else None, bind=self.bind)
                if self.base_port:
                    host.port = self.base_port + index
                self.hosts.append(host.start())
            if self.want_admin:
                from .admin import AdminServer
                self.admin = AdminServer(self).start()
            if getattr(self, "artifacts_dir", None):
                self.register_twins(self.artifacts_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.admin is not None:
            self.admin.stop()
            self.admin = None
        for host in self.hosts:
            host.stop()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def register_twins(self, directory: str) -> list[str]:
        """Every ``<name>.exe`` in ``directory`` with a sibling ``<name>`` (the reference service's builds)
        runs, on every host, as its Linux twin: a real process (tests/emulator/windows/twin.py)."""
        found: list[str] = []
        for h in self.hosts:
            with h.model.lock:
                found = h.model.scm.twins.register_dir(directory)
        return found

    # --- views -----------------------------------------------------------------------------------
    @property
    def ca_pem(self) -> str:
        return self.ca.pem

    @property
    def ca_path(self) -> str:
        return self.ca.path

    @property
    def admin_url(self) -> str | None:
        return self.admin.url if self.admin is not None else None

    def host(self, name: str) -> EmulatedHost:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def state(self) -> dict:
        return {h.name: h.model.state() for h in self.hosts}

    def counters(self) -> dict:
        return {h.name: dict(h.counters.snapshot(), shells_open=h.shells_open) for h in self.hosts}

    def describe(self) -> dict:
        """What the CLI prints: everything a client needs to reach each host."""
        return {"hosts": [dict(h.describe(), caPemPath=self.ca_path) for h in self.hosts],
                "caPemPath": self.ca_path, "admin": self.admin_url}

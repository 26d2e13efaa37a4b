"""``Lab``: N emulated Windows hosts on 127.0.0.1 sharing one throwaway test CA."""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile

from .server import EmulatedHost, Limits
from .tls import TestCA


# Where the lab publishes the files of --artifacts-dir, on every emulated host's download table.
ARTIFACTS_BASE_URL = "https://artifacts.lab.winfleet.test/"


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
                 password: str | None = None, ca_out: str | None = None, basic: bool = False,
                 artifacts_dir: str | None = None):
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
        self.artifacts_dir = artifacts_dir   # every file in it is published (see ``publish``)
        self.artifacts: dict[str, dict] = {}
        self.hosts: list[EmulatedHost] = []
        self.ca: TestCA | None = None
        self.workdir: str | None = None
        self.admin = None

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "Lab":
        self.workdir = tempfile.mkdtemp(prefix="winfleet-lab-")
        self.ca = TestCA(self.workdir)
        try:
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
            if self.artifacts_dir:
                for entry in sorted(os.listdir(self.artifacts_dir)):
                    path = os.path.join(self.artifacts_dir, entry)
                    if os.path.isfile(path):
                        with open(path, "rb") as f:
                            self.publish(entry, f.read())
                # a published <name>.exe with a sibling <name> runs as its Linux twin (a real process)
                self.register_twins(self.artifacts_dir)
            # Written only once every port is bound: a second lab that fails to bind must not
            # replace the CA file a running lab's clients trust.
            if self.ca_out:
                os.makedirs(os.path.dirname(os.path.abspath(self.ca_out)), exist_ok=True)
                tmp = self.ca_out + ".tmp"
                with open(tmp, "w", encoding="ascii") as f:
                    f.write(self.ca.pem)
                os.replace(tmp, self.ca_out)
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

    # --- what the lab serves --------------------------------------------------------------------
    def publish(self, file_name: str, data: bytes) -> dict:
        """Serve ``data`` at ARTIFACTS_BASE_URL + file_name on every host; -> {"url", "sha256"}."""
        if not file_name or "/" in file_name or file_name in (".", ".."):
            raise ValueError(f"artifact file name {file_name!r}: a plain file name")
        ref = {"url": ARTIFACTS_BASE_URL + file_name, "sha256": hashlib.sha256(data).hexdigest()}
        for h in self.hosts:
            with h.model.lock:
                h.model.files.downloads[ref["url"]] = data
        self.artifacts[file_name] = ref
        return ref

    def serve_ready(self, service: str, port: int, path: str | None = None, host: str | None = None,
                    mode: str = "ready") -> None:
        """Declare the readiness listener of ``service`` on ``port`` (every host, or one)."""
        for h in ([self.host(host)] if host else self.hosts):
            with h.model.lock:
                h.model.http.serve(int(port), service=service, mode=mode, path=path)

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

    def lab_json(self, pid: int, ca_pem_file: str) -> dict:
        """The `.winfleet/lab/lab.json` document (docs: tests/emulator/README.md)."""
        return {"pid": pid, "adminUrl": self.admin_url, "caPemFile": ca_pem_file,
                "hosts": [{"name": h.name, "host": h.bind, "port": h.port, "username": h.username,
                           "password": h.endpoint["password"], "tlsServerName": h.name} for h in self.hosts],
                "artifacts": {k: dict(v) for k, v in sorted(self.artifacts.items())}}

    def describe(self) -> dict:
        """What the CLI prints: everything a client needs to reach each host."""
        return {"hosts": [dict(h.describe(), caPemPath=self.ca_path) for h in self.hosts],
                "caPemPath": self.ca_path, "admin": self.admin_url}

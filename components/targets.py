"""What the host layer is given: one `HostTarget` per Windows host, from Azure or from config.

`connection` follows the CONTRACTS.md "connection" shape and is a secret Output as a whole:
`{"host", "port", "username", "password", "auth", "caPem", "certSha256", "tlsServerName", "hostName"}`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi

from .config import ExistingHostConfig, WinfleetConfig


@dataclass
class HostTarget:
    name: str                                   # logical host name, e.g. "go-0"
    connection: pulumi.Output                   # Output[dict] in the "connection" shape (secret)
    data_disk: dict                             # {"lun": 0} | {"diskNumber": n} | {} (already online)
    depends_on: list = field(default_factory=list)   # e.g. [VirtualMachine]: host resources wait for it
    private_ip: Optional[pulumi.Output] = None
    public_ip: Optional[pulumi.Output] = None


def connection_dict(h: ExistingHostConfig, auth: str, reach: dict | None = None) -> dict:
    """The plain connection dict for an existing host (password in clear: wrap before it leaves)."""
    return {
        "host": h.host, "port": h.port, "username": h.username, "password": h.password.get_secret_value(),
        "auth": h.auth or auth, "caPem": h.ca_pem, "certSha256": h.cert_sha256,
        "tlsServerName": h.tls_server_name, "hostName": h.name, **(reach or {}),
    }


def _data_disk(h: ExistingHostConfig) -> dict:
    if h.data_disk.disk_number is not None:
        return {"diskNumber": h.data_disk.disk_number}
    if h.data_disk.lun is not None:
        return {"lun": h.data_disk.lun}
    return {}


def existing_hosts(cfg: WinfleetConfig) -> list[HostTarget]:
    """HostTargets for `winfleet:mode: existingHosts` (no Azure resources; nothing to depend on)."""
    if cfg.mode != "existingHosts":
        raise ValueError("existing_hosts() needs winfleet:mode 'existingHosts'")
    return [HostTarget(name=h.name, connection=pulumi.Output.secret(connection_dict(h, cfg.winrm.auth, cfg.winrm.reach())),
                       data_disk=_data_disk(h), depends_on=[], private_ip=None, public_ip=None)
            for h in cfg.existing_hosts]

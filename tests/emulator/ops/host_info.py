"""host.info: a read-only smoke-test op; ``echo`` is returned unchanged (payload transport tests)."""
from __future__ import annotations

from . import op


@op("host.info")
def host_info(host, params: dict) -> dict:
    return {"changed": False, "state": {
        "hostName": host.name.upper(),
        "osCaption": "Microsoft Windows Server 2022 Datacenter",
        "osVersion": "10.0.20348",
        "psVersion": "5.1.20348.2849",
        "user": "winfleetadmin",
        "echo": params.get("echo") if isinstance(params, dict) else None,
    }}

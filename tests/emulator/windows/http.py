"""Simulated HTTP readiness endpoints on ``http://localhost:<port>`` of the emulated host.

A test declares what a service's listener does; the service.apply handler probes it the way the
driver's ``Invoke-WebRequest -UseBasicParsing`` loop does:

    host.http.serve(8080, service="api", mode="ready")                 # 200 as soon as it runs
    host.http.serve(8080, service="api", mode="never", status=503, body="warming up")
    host.http.serve(8080, service="api", mode="after", after_seconds=0.3)
    host.http.serve(8080, service="api", mode="status", status=500, body="boom")  # always 500
    host.http.serve(8080, service="api", mode="never", binary_sha256=sha_of_v2)   # only build v2 is bad

Faithful where it matters: nothing listens while the bound service is not running (connection
refused, no status); "after" counts from the moment the service entered RUNNING, so a restart
re-arms the delay; a path other than the declared one answers 404. A behaviour given with
``binary_sha256`` applies only while the service runs that build (the SHA-256 of the image it was
started from), so a bad release and the rollback to the good one can be told apart; other builds
get the port's plain behaviour (or "ready" when there is none); a plain ``serve`` replaces them all.
Simplifications: one listener per port, no TLS, no redirects, no headers.

A port on which a real process listens (the Linux twin of a published build, windows/twin.py) is not
simulated: the probe is a real HTTP GET to that process on 127.0.0.1 (its remapped port), with the
driver's 5 s timeout (``Invoke-WebRequest -TimeoutSec 5``).
"""
from __future__ import annotations

import copy
import urllib.error
import urllib.request


class ReadinessEndpoints:
    def __init__(self, host):
        self.host = host
        self._ports: dict[int, dict] = {}
        self.probes: list[tuple[int, str]] = []

    def serve(self, port: int, service: str, mode: str = "ready", after_seconds: float = 0.0,
              status: int | None = None, body: str | None = None, path: str | None = None,
              binary_sha256: str | None = None) -> None:
        if mode not in ("ready", "never", "after", "status"):
            raise ValueError(f"unknown readiness mode {mode!r}")
        rule = {"service": service, "mode": mode, "after": float(after_seconds),
                "status": status, "body": body, "path": path}
        if binary_sha256 is None:            # the port's behaviour for every build (forgets per-build ones)
            self._ports[int(port)] = rule
            return
        base = self._ports.setdefault(int(port), {"service": service, "mode": "ready", "after": 0.0,
                                                  "status": None, "body": None, "path": path})
        base.setdefault("builds", {})[binary_sha256.lower()] = rule

    def unserve(self, port: int) -> None:
        self._ports.pop(int(port), None)

    def _rule(self, ep: dict) -> dict:
        builds = ep.get("builds")
        if not builds:
            return ep
        image = self.host.scm.running_image(ep["service"])
        files = self.host.files
        sha = files.sha256(image) if image and files.is_file(image) else None
        return builds.get(sha, ep)

    def probe(self, port: int, path: str) -> dict:
        """-> {"status": int|None, "body": str, "error": str|None} for GET http://localhost:<port><path>."""
        self.probes.append((int(port), path))
        proc = self.host.scm.twins.for_port(port)
        if proc is not None:
            return real_get(proc.real_port, path)
        ep = self._ports.get(int(port))
        refused = {"status": None, "body": "", "error": f"connection refused (localhost:{port})"}
        if ep is None:
            return refused
        scm = self.host.scm
        started = scm.started_at(ep["service"]) if scm.exists(ep["service"]) else None
        if started is None:
            return refused
        ep = self._rule(ep)
        if ep["path"] is not None and path.split("?")[0] != ep["path"]:
            return {"status": 404, "body": "404 page not found", "error": None}
        if ep["mode"] == "status":
            return {"status": ep["status"] or 500, "body": ep["body"] or "", "error": None}
        ready = ep["mode"] == "ready" or (ep["mode"] == "after" and scm.clock() - started >= ep["after"])
        if ready:
            return {"status": 200, "body": "ok", "error": None}
        return {"status": ep["status"] or 503, "body": ep["body"] or "not ready", "error": None}

    def listening(self) -> dict[int, str]:
        """port -> service name, for every port a service serves (it listens there while it runs)."""
        return {p: ep["service"] for p, ep in self._ports.items()}

    def probe_from(self, remote: str, port: int, path: str) -> dict:
        """GET http://<host>:<port><path> from another machine (``remote``: its source address, e.g. the
        Azure load balancer's probe address 168.63.129.16): Windows Defender Firewall decides first; a
        dropped SYN is a timeout, not a refusal (the default inbound action Block drops silently)."""
        if not self.host.firewall.allows_inbound(remote, int(port)):
            return {"status": None, "body": "", "error": f"timed out (dropped by Windows Defender Firewall: "
                                                         f"no inbound rule allows {remote} to port {port})"}
        return self.probe(port, path)

    def state(self) -> dict:
        return {str(p): copy.deepcopy(v) for p, v in sorted(self._ports.items())}


def real_get(port: int, path: str, timeout: float = 5.0) -> dict:
    """GET http://127.0.0.1:<port><path> for real: {"status", "body", "error"} like ``probe``."""
    url = f"http://127.0.0.1:{int(port)}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return {"status": r.status, "body": r.read(4096).decode("utf-8", "replace"), "error": None}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read(4096).decode("utf-8", "replace"), "error": None}
    except (urllib.error.URLError, OSError) as e:
        return {"status": None, "body": "", "error": f"no response from localhost: {e}"}

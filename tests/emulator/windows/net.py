"""TCP port facts of the emulated host: the dynamic port range, excluded port ranges, listeners.

* Dynamic (ephemeral) range: 49152-65535 (start 49152, 16384 ports) by default since Windows Vista /
  Server 2008, per TCP setting template (Get-NetTCPSetting ``DynamicPortRangeStartPort`` /
  ``DynamicPortRangeNumberOfPorts``): https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/default-dynamic-port-range-tcpip-chang
  and https://learn.microsoft.com/powershell/module/nettcpip/get-nettcpsetting. A port in it may be
  handed out to an outgoing connection at any time, so a service's bind there can fail at random.
* Excluded port ranges (``netsh int ipv4 show excludedportrange protocol=tcp``): reserved by Hyper-V/WinNAT
  or an administrator (``*`` = administered); a bind() into one fails with WSAEACCES (10013) even though
  nothing listens: https://learn.microsoft.com/en-us/troubleshoot/windows-server/networking/service-overview-and-network-port-requirements
  (netsh int ipv4 add excludedportrange). Empty by default (no Hyper-V role on the image).
* Listeners (``Get-NetTCPConnection -State Listen``: LocalAddress, LocalPort, OwningProcess): tests add
  foreign ones with ``listen``; a running emulated service that serves HTTP on a port (``host.http.serve``)
  listens there with its own pid, and the services of that pid are what Win32_Service.ProcessId reports.
"""
from __future__ import annotations

import copy
import itertools

SETTINGS = ("Internet", "Datacenter", "Compat", "InternetCustom", "DatacenterCustom")


class TcpNet:
    def __init__(self, host):
        self.host = host
        self.dynamic = {s: {"settingName": s, "startPort": 49152, "numberOfPorts": 16384} for s in SETTINGS}
        self.excluded: dict[str, list[dict]] = {"ipv4": [], "ipv6": []}
        self._listeners: list[dict] = []
        self._pids = itertools.count(7000, 4)

    def set_dynamic_range(self, start: int, count: int, setting: str | None = None) -> None:
        for s in ([setting] if setting else SETTINGS):
            self.dynamic[s] = {"settingName": s, "startPort": int(start), "numberOfPorts": int(count)}

    def exclude(self, start: int, end: int, administered: bool = False, family: str = "ipv4") -> None:
        self.excluded[family].append({"startPort": int(start), "endPort": int(end), "administered": administered})

    def listen(self, port: int, process: str, address: str = "0.0.0.0", pid: int | None = None) -> int:
        pid = pid if pid is not None else next(self._pids)
        self._listeners.append({"localAddress": address, "localPort": int(port), "pid": pid, "process": process})
        return pid

    def close(self, port: int) -> None:
        self._listeners = [l for l in self._listeners if l["localPort"] != int(port)]

    def listeners(self, port: int) -> list[dict]:
        out = [dict(l, services=[]) for l in self._listeners if l["localPort"] == int(port)]
        scm = self.host.scm
        for p, ep in self.host.http.listening().items():       # running services bound to their port
            if p == int(port) and scm.exists(ep) and scm.started_at(ep) is not None:
                out.append({"localAddress": "::", "localPort": p, "pid": scm.query(ep)["pid"],
                            "process": ep, "services": [scm.canonical(ep)]})
        return out

    def state(self) -> dict:
        return {"dynamic": copy.deepcopy(self.dynamic), "excluded": copy.deepcopy(self.excluded),
                "listeners": copy.deepcopy(self._listeners)}

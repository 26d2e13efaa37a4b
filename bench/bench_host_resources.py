"""WinRM cost of the host resources: ops and WS-Man HTTP requests per lifecycle phase.

Each resource case runs through the real dynamic-provider host (``python -m pulumi.dynamic`` over
gRPC, as ``pulumi up`` runs it) against one emulated host of a local lab, and the emulator's
per-host counters are read around every phase:

* create      - the first ``pulumi up``;
* no-change   - a second identical ``pulumi up``: check + diff only, which are local (expect 0);
* update      - ``pulumi up`` after an input change;
* refresh     - ``pulumi refresh`` (read);
* delete      - ``pulumi destroy``.

"ops" are host ops (one PowerShell run each: Command + Send + Receive... on a pooled shell);
"http" counts every WS-Man request (including NTLM handshakes and shell creation on first use,
since a fresh provider process, like a fresh ``pulumi up``, starts without pooled shells).

To add a resource, append a ``Case`` to ``CASES``. Run: ``python -m bench.bench_host_resources``.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MB = 1024 * 1024


@dataclass
class Case:
    name: str
    provider: Callable[[], object]
    create: Callable[[dict], dict]          # connection -> inputs
    update: Callable[[dict], dict]          # connection -> changed inputs
    setup: Callable[[object], None] = field(default=lambda model: None)


def _providers():
    from components.host.data_volume import DataVolumeProvider
    from components.host.event_log_settings import EventLogSettingsProvider
    from components.host.ntfs_quota import NtfsQuotaProvider
    return DataVolumeProvider, EventLogSettingsProvider, NtfsQuotaProvider


def _d_volume(model) -> None:
    st = model.storage
    st.set_online(1, True)
    st.initialize(1, "GPT")
    st.new_partition(1, "D")
    st.format("D", "NTFS", "Data")


def cases() -> list[Case]:
    DataVolumeProvider, EventLogSettingsProvider, NtfsQuotaProvider = _providers()
    cis = [{"name": "Application", "maxSizeKb": 32768}, {"name": "System", "maxSizeKb": 32768},
           {"name": "Setup", "maxSizeKb": 32768}, {"name": "Security", "maxSizeKb": 196608}]
    bigger = [dict(l, maxSizeKb=l["maxSizeKb"] * 2) for l in cis]
    quota = {"volume": "D:", "account": "NT SERVICE\\api", "warningBytes": 400 * MB, "limitBytes": 500 * MB,
             "budgetBytes": 450 * MB, "enforce": True}
    return [
        Case("EventLogSettings (4 logs)", EventLogSettingsProvider,
             lambda c: {"connection": c, "logs": cis}, lambda c: {"connection": c, "logs": bigger}),
        Case("NtfsQuota", NtfsQuotaProvider,
             lambda c: {"connection": c, **quota}, lambda c: {"connection": c, **quota, "limitBytes": 600 * MB},
             setup=_d_volume),
        Case("DataVolume", DataVolumeProvider,
             lambda c: {"connection": c, "lun": 0, "driveLetter": "D", "label": "Data"},
             lambda c: {"connection": c, "lun": 0, "driveLetter": "D", "label": "Data-2"}),
    ]


CASES_EXTRA: list[Case] = []       # other resources register here


# --- WindowsService / ServiceBaseline / CrashDumps ---------------------------------------------
_SVC_V1, _SVC_V2 = b"MZ bench service v1", b"MZ bench service v2"


def _svc_setup(model) -> None:
    model.files.add_drive("D")
    model.files.downloads["https://bench.example/api/v1/api.exe"] = _SVC_V1
    model.files.downloads["https://bench.example/api/v2/api.exe"] = _SVC_V2
    model.http.serve(8080, service="api", mode="ready")


def _svc_inputs(conn: dict, version: bytes, url: str) -> dict:
    import hashlib
    return {"connection": conn, "serviceName": "api", "displayName": "API", "description": "bench",
            "binaryUrl": url, "binarySha256": hashlib.sha256(version).hexdigest(), "arguments": ["-v"],
            "environment": {"GOTRACEBACK": "wer"}, "preshutdownTimeoutSeconds": 30,
            "eventSource": {"logName": "Application"}, "logs": {"directory": "D:\\logs\\api"},
            "port": 8080, "readinessPath": "/readyz", "readinessTimeoutSeconds": 5, "readinessPollSeconds": 0.05}


def _svc_cases() -> list[Case]:
    from components.host.baselines import resolve_baseline
    from components.host.crash_dumps import CrashDumpsProvider
    from components.host.service_baseline import ServiceBaselineProvider
    from components.host.windows_service import WindowsServiceProvider
    v1 = "https://bench.example/api/v1/api.exe"
    v2 = "https://bench.example/api/v2/api.exe"
    minimal = resolve_baseline("go-host-minimal", [], ["api"])
    dumps = {"exeName": "api.exe", "dumpFolder": "D:\\dumps\\api", "dumpCount": 5, "dumpType": "mini",
             "account": "NT SERVICE\\api"}
    return [
        Case("WindowsService (new binary)", WindowsServiceProvider,
             lambda c: _svc_inputs(c, _SVC_V1, v1), lambda c: _svc_inputs(c, _SVC_V2, v2), setup=_svc_setup),
        Case("WindowsService (description)", WindowsServiceProvider,
             lambda c: _svc_inputs(c, _SVC_V1, v1), lambda c: dict(_svc_inputs(c, _SVC_V1, v1), description="b2"),
             setup=_svc_setup),
        Case(f"ServiceBaseline ({len(minimal)} svcs)", ServiceBaselineProvider,
             lambda c: {"connection": c, "baselineName": "go-host-minimal", "services": minimal,
                        "managedServices": ["api"]},
             lambda c: {"connection": c, "baselineName": "go-host-minimal", "services": minimal + ["PcaSvc"],
                        "managedServices": ["api"]}),
        Case("CrashDumps", CrashDumpsProvider, lambda c: {"connection": c, **dumps},
             lambda c: {"connection": c, **dumps, "dumpType": "full"}, setup=lambda m: m.files.add_drive("D")),
    ]


def _count(host) -> tuple[int, int]:
    snap = host.counters.snapshot()
    return sum(snap["ops"].values()), snap["http_requests"]


def run_case(ph, host, case: Case) -> list[tuple[str, int, int, float]]:
    case.setup(host.model)
    res = ph.resource(case.provider())
    conn = dict(host.endpoint)
    rows = []

    def phase(name, fn):
        o0, h0 = _count(host)
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        o1, h1 = _count(host)
        rows.append((name, o1 - o0, h1 - h0, dt))
        return out

    inputs = res.checked(case.create(conn))
    rid, outs = phase("create", lambda: res.create(inputs))
    assert outs["changed"], f"{case.name}: create changed nothing"

    def no_change():
        again = res.checked(case.create(conn))
        d = res.diff(rid, outs, again)
        assert d["changes"] == "none", d
    phase("no-change", no_change)

    new = res.checked(case.update(conn))
    outs = phase("update", lambda: res.update(rid, outs, new) if res.diff(rid, outs, new)["changes"] == "some" else outs)
    assert outs["changed"], f"{case.name}: update changed nothing"
    phase("refresh", lambda: res.read(rid, outs))
    phase("delete", lambda: res.delete(rid, outs))
    return rows


def main(argv=None) -> int:
    from tests.emulator import Lab
    from tests.providers.harness import ProviderHost

    all_cases = cases() + _svc_cases() + CASES_EXTRA
    print("WinRM cost per resource phase (real provider host over gRPC -> executor -> emulated host)")
    print(f"{'resource':28} {'phase':10} {'ops':>4} {'http':>5} {'seconds':>8}")
    status = 0
    with ProviderHost() as ph, Lab(hosts=len(all_cases)) as lab:
        for case, host in zip(all_cases, lab.hosts):
            try:
                rows = run_case(ph, host, case)
            except Exception as exc:  # a bench prints what it could not measure
                print(f"{case.name:28} FAILED: {exc}")
                status = 1
                continue
            for name, ops, http, dt in rows:
                print(f"{case.name:28} {name:10} {ops:>4} {http:>5} {dt:>8.3f}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

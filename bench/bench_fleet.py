"""Time and WinRM requests to converge 1, 4 and 16 emulated hosts (50 ms latency per request).

Runs the real program (`__main__.py`, `Pulumi.lab.yaml` pointed at an emulator Lab, two Go
services) through the e2e engine: program under mocks -> dynamic-provider host over gRPC -> WinRM
-> emulator. Prints, per fleet size, the first run (everything created, services rolled out host by
host behind the readiness gate) and the no-change run (Check + Diff only).

    python -m bench.bench_fleet [--hosts 1 4 16] [--latency 0.05] [--batch-size 1]
    python -m bench                      # all benchmarks
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench_one(n_hosts: int, latency: float, batch_size: int | None = None) -> dict:
    from tests.e2e.lab_stack import two_service_stack
    from tests.emulator import Lab

    names = [f"lab-{i}" for i in range(n_hosts)]
    with Lab(names=names, latency=latency) as lab, tempfile.TemporaryDirectory(prefix="winfleet-bench-") as tmp:
        batch = batch_size or 1
        stack = two_service_stack(lab, Path(tmp), batch_size=batch if n_hosts > batch else None)
        out = {"hosts": n_hosts, "resources": 0}
        for label in ("first", "nochange"):
            before = stack.total_requests()
            t0 = time.perf_counter()
            result = stack.up()
            out[f"{label}_s"] = time.perf_counter() - t0
            out[f"{label}_requests"] = stack.total_requests() - before
            out[f"{label}_changes"] = len(result.changes)
            out["resources"] = len(result.steps)
        before = stack.total_requests()
        t0 = time.perf_counter()
        stack.destroy()
        out["destroy_s"] = time.perf_counter() - t0
        out["destroy_requests"] = stack.total_requests() - before
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every WinRM request")
    ap.add_argument("--batch-size", type=int, default=1)
    args = ap.parse_args(argv)
    print(f"winfleet fleet convergence: 2 Go services, WinRM latency {args.latency * 1000:.0f} ms/request, "
          f"roll-out batch size {args.batch_size}")
    header = (f"{'hosts':>5} {'resources':>9} | {'first run':>10} {'requests':>9} {'changes':>8} | "
              f"{'no-change':>10} {'requests':>9} {'changes':>8} | {'destroy':>8} {'requests':>9}")
    print(header)
    print("-" * len(header))
    for n in args.hosts:
        r = bench_one(n, args.latency, args.batch_size)
        print(f"{r['hosts']:>5} {r['resources']:>9} | {r['first_s']:>9.2f}s {r['first_requests']:>9} "
              f"{r['first_changes']:>8} | {r['nochange_s']:>9.2f}s {r['nochange_requests']:>9} "
              f"{r['nochange_changes']:>8} | {r['destroy_s']:>7.2f}s {r['destroy_requests']:>9}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

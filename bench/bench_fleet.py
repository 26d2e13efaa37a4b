"""Time and WinRM requests to converge 1, 4 and 16 emulated hosts through the real Pulumi engine.

The real CLI (`.winfleet/bin/pulumi`, `make setup`) runs the lab stack on a scratch copy of the
project (tests/engine/harness.py) against an emulator Lab with 50 ms latency per WinRM request,
two Go services. Printed per fleet size and per dynamic-provider layout (`shared`: the default
provider, one provider-host process serving 4 calls at once; `perHost`: an explicit provider per
host): the first converge, the no-change up and the destroy, and the first converge's roll-out
(batch by batch, serial by design: from the first service start to the last, from the emulator's
SCM start times) apart from the rest.

    python -m bench.bench_fleet [--hosts 1 4 16] [--latency 0.05] [--batch-size 1] [--layouts shared perHost]
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


def second_service() -> dict:
    return {"name": "billing-worker", "displayName": "Billing Worker",
            "description": "Billing queue consumer with a status endpoint (Go)", "port": 9090,
            "readinessPath": "/ready", "logs": {"maxFileSizeMb": 10, "maxFiles": 3},
            "preshutdownTimeoutSeconds": 20, "crashDumps": {"enabled": True, "count": 2, "type": "mini"}}


def bench_one(n_hosts: int, latency: float, batch_size: int, layout: str) -> dict:
    import copy

    from tests.emulator import Lab
    from tests.engine.harness import RealStack

    names = [f"lab-{i}" for i in range(n_hosts)]
    with Lab(names=names, latency=latency) as lab, tempfile.TemporaryDirectory(prefix="winfleet-bench-") as tmp:
        stack = RealStack(lab, Path(tmp), batch_size=batch_size if n_hosts > batch_size else None)
        stack.set_services(copy.deepcopy(stack.services) + [second_service()])
        stack.config["winfleet:dynamicProviders"] = layout
        out = {"hosts": n_hosts, "layout": layout}
        for label in ("first", "nochange"):
            stack.prepare()                       # config + secrets: not part of the timing
            before = stack.total_requests()
            t0 = time.perf_counter()
            run = stack.cli("up", "--yes", "--json")
            out[f"{label}_s"] = time.perf_counter() - t0
            out[f"{label}_requests"] = stack.total_requests() - before
            out[f"{label}_changes"] = sum(run.changes.values())
            if label == "first":
                starts = [h.model.scm.started_at(s) for h in lab.hosts for s in ("orders-api", "billing-worker")]
                starts = [t for t in starts if t is not None]
                out["rollout_s"] = max(starts) - min(starts) if starts else 0.0
        out["resources"] = len(stack.resources())
        stack.prepare()
        before = stack.total_requests()
        t0 = time.perf_counter()
        stack.cli("destroy", "--yes", "--json")
        out["destroy_s"] = time.perf_counter() - t0
        out["destroy_requests"] = stack.total_requests() - before
        return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every WinRM request")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--layouts", nargs="+", default=["shared", "perHost"], choices=["shared", "perHost"])
    args = ap.parse_args(argv)
    print(f"winfleet fleet convergence through the real Pulumi engine: 2 Go services, WinRM latency "
          f"{args.latency * 1000:.0f} ms/request, roll-out batch size {args.batch_size}")
    header = (f"{'hosts':>5} {'providers':>9} {'resources':>9} | {'first up':>9} {'roll-out':>9} {'rest':>8} "
              f"{'requests':>9} | {'no-change':>9} {'requests':>9} | {'destroy':>8} {'requests':>9}")
    print(header)
    print("-" * len(header))
    for n in args.hosts:
        for layout in args.layouts:
            r = bench_one(n, args.latency, args.batch_size, layout)
            print(f"{r['hosts']:>5} {r['layout']:>9} {r['resources']:>9} | {r['first_s']:>8.1f}s "
                  f"{r['rollout_s']:>8.1f}s {r['first_s'] - r['rollout_s']:>7.1f}s {r['first_requests']:>9} | "
                  f"{r['nochange_s']:>8.1f}s {r['nochange_requests']:>9} | {r['destroy_s']:>7.1f}s "
                  f"{r['destroy_requests']:>9}", flush=True)
    print("roll-out: first to last service start (batch by batch, each batch waits for the previous one's "
          "readiness); rest: everything else of the first up (engine, program, policy-free preview, "
          "host-wide resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

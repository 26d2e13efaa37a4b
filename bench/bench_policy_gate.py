"""Offline policy gate timings (figures, not assertions).

    python -m bench.bench_policy_gate [--resources 1000] [--repeat 3]

1. example stack: the whole gate (program under mocks, pack process start, Analyze + AnalyzeStack) on
   Pulumi.example.yaml, as `make preview` runs it.
2. generated stack of ~N resources: Pulumi.example.yaml with `winfleet:azure.hostCount` raised until the
   program registers ~N resources (the real program; falls back to the tests' stand-in program if the real one
   cannot run), through the whole gate.
3. pack only: ~N resources (copies of the policy tests' compliant stack, one per host) fed to an already started
   pack process — the cost of the policies themselves, without the program.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import offline_gate as gate  # noqa: E402

STANDIN = ROOT / "tests" / "policies" / "fixtures" / "program"


def _line(label: str, res: "gate.GateResult") -> str:
    t = res.timings
    n = len(res.resources)
    analyze_per_k = t["analyze_s"] / n * 1000 if n else 0.0
    return (f"{label:<34} {n:>5} resources  total {t['total_s']:6.2f}s  (program under mocks {t['program_s']:.2f}s, "
            f"pack start {t['pack_start_s']:.2f}s, Analyze+AnalyzeStack {t['analyze_s']:.2f}s = "
            f"{analyze_per_k:.2f}s/1000 res)  {len(res.mandatory)} mandatory / {len(res.advisory)} advisory")


def _scaled_config(base: Path, host_count: int, out: Path) -> Path:
    import yaml

    doc = yaml.safe_load(base.read_text(encoding="utf-8"))
    azure = doc["config"].get("winfleet:azure")
    if not isinstance(azure, dict):
        raise gate.GateError("example config has no winfleet:azure block to scale")
    azure["hostCount"] = host_count
    out.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return out


def bench_example(repeat: int) -> list:
    lines, runs = [], []
    for _ in range(repeat):
        runs.append(gate.run_gate(ROOT / "Pulumi.example.yaml"))
    best = min(runs, key=lambda r: r.timings["total_s"])
    lines.append(_line("example stack (Pulumi.example.yaml)", best))
    if repeat > 1:
        lines.append(f"{'':<34} median total {statistics.median(r.timings['total_s'] for r in runs):.2f}s "
                     f"over {repeat} runs")
    return lines


def bench_generated(target: int) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        try:
            one = gate.run_gate(_scaled_config(ROOT / "Pulumi.example.yaml", 1, tmpd / "Pulumi.h1.yaml"))
            two = gate.run_gate(_scaled_config(ROOT / "Pulumi.example.yaml", 2, tmpd / "Pulumi.h2.yaml"))
            per_host = len(two.resources) - len(one.resources)
            base = len(one.resources) - per_host
            hosts = max(1, round((target - base) / per_host))
            res = gate.run_gate(_scaled_config(ROOT / "Pulumi.example.yaml", hosts, tmpd / "Pulumi.generated.yaml"))
            return [_line(f"generated: example x {hosts} hosts", res)]
        except gate.GateError as e:
            first = str(e).strip().splitlines()[-1][:160]
            note = f"(real program unavailable: {first}; using the stand-in program)"
        import yaml

        hosts = max(1, (target - 5) // 4)
        cfg = tmpd / "Pulumi.generated.yaml"
        cfg.write_text(yaml.safe_dump({"config": {"winfleet:hosts": [f"web-{i}" for i in range(hosts)],
                                                  "winfleet:adminPassword": {"secure": "AAAB"}}}))
        res = gate.run_gate(cfg, program_dir=STANDIN)
        return [_line(f"generated: stand-in x {hosts} hosts", res), f"{'':<34} {note}"]


def bench_pack_only(target: int) -> list:
    from tests.policies import stacks

    per_host = [r for r in stacks.good_stack() if r[0] not in (stacks.LB, stacks.NSG)]
    resources = []
    copies = max(1, (target - 2) // len(per_host))
    for i in range(copies):
        host = f"web-{i}"
        for typ, name, props in (stacks.vm(host), stacks.volume(host), stacks.eventlogs(host),
                                 stacks.service(host), stacks.quota(host), stacks.baseline(host), stacks.dumps(host)):
            resources.append(gate.Resource(urn=f"urn:pulumi:bench::winfleet::{typ}::{name}", type=typ, name=name,
                                           inputs=props, outputs=props))
    for typ, name, props in (stacks.lb(), stacks.nsg()):
        resources.append(gate.Resource(urn=f"urn:pulumi:bench::winfleet::{typ}::{name}", type=typ, name=name,
                                       inputs=props, outputs=props))
    t0 = time.perf_counter()
    with gate.PackProcess(gate.DEFAULT_PACK) as pack:
        t1 = time.perf_counter()
        _, diags = gate.analyze(resources, pack)
        t2 = time.perf_counter()
        _, _ = gate.analyze(resources, pack)  # warm second pass
        t3 = time.perf_counter()
    n = len(resources)
    return [f"{'pack only (synthetic compliant)':<34} {n:>5} resources  pack start {t1 - t0:.2f}s, analyze "
            f"{t2 - t1:.2f}s (warm {t3 - t2:.2f}s) = {(t2 - t1) / n * 1000:.2f}s/1000 res, "
            f"{n / (t3 - t2):.0f} res/s; {len(diags)} diagnostics"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_policy_gate")
    ap.add_argument("--resources", type=int, default=1000, help="size of the generated stack")
    ap.add_argument("--repeat", type=int, default=1, help="runs of the example stack")
    args = ap.parse_args(argv if argv is not None else sys.argv[1:])
    lines = []
    try:
        lines += bench_example(args.repeat)
    except gate.GateError as e:
        lines.append(f"{'example stack (Pulumi.example.yaml)':<34} could not run: "
                     f"{str(e).strip().splitlines()[-1][:200]}")
    lines += bench_generated(args.resources)
    lines += bench_pack_only(args.resources)
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

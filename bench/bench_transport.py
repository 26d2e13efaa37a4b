"""WinRM transport: HTTP requests per op and ops/second, winfleet's executor vs naive Session.run_ps.

Starts the emulator lab in its own process (`python -m tests.emulator`, so client and servers do
not share a GIL) with 50 ms of latency added to every HTTP request, against 1 and then 8 hosts.

* winfleet: ``run_op(ep, "host.info", {})`` — pooled shell, bootstrap command line, payload
  (common.ps1 + driver + JSON, ~4 KB) over stdin.
* baseline: ``winrm.Session(...).run_ps("$env:COMPUTERNAME")`` — what most pywinrm code does: a new
  shell (and a new NTLM-authenticated connection) per call, script on the command line. It can
  only carry ~3 KB of script, so it runs a one-liner; it could not carry a winfleet driver at all.

Requests are counted by the emulator (every HTTP request, including NTLM's 401 legs). ops/s is
measured with CONCURRENCY client threads (the dynamic-provider host's pool size), after warm-up
for winfleet (CONCURRENCY parallel ops per host). First-op figures are taken on fresh hosts.

    python -m bench.bench_transport [--hosts 1 8] [--latency 0.05] [--ops-per-host 24]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONCURRENCY = 4


class LabProcess:
    def __init__(self, hosts: int, latency: float):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.emulator", "--hosts", str(hosts),
                                      "--latency", str(latency)], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.info = json.loads(self.proc.stdout.readline())
        self.ca_pem = Path(self.info["caPemPath"]).read_text()

    def connection(self, h: dict) -> dict:
        return {"host": h["host"], "port": h["port"], "username": h["username"], "password": h["password"],
                "auth": h["auth"], "caPem": self.ca_pem, "hostName": h["name"]}

    def requests(self) -> int:
        with urllib.request.urlopen(self.info["admin"] + "/counters", timeout=10) as r:
            return sum(c["http_requests"] for c in json.loads(r.read()).values())

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _timed(fn, jobs) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as tp:
        for _ in tp.map(fn, jobs):
            pass
    return time.perf_counter() - t0


def bench(n_hosts: int, latency: float, ops_per_host: int) -> dict:
    import winrm
    from components.winrm import close_all_shells, run_op

    lab = LabProcess(n_hosts, latency)
    try:
        hosts = lab.info["hosts"]
        conns = [lab.connection(h) for h in hosts]
        out = {"hosts": n_hosts}

        # winfleet: first op on a fresh host, then the next op on the same (pooled) shell
        r0 = lab.requests()
        run_op(conns[0], "host.info", {})
        r1 = lab.requests()
        run_op(conns[0], "host.info", {})
        r2 = lab.requests()
        out["wf_first"], out["wf_next"] = r1 - r0, r2 - r1
        _timed(lambda c: run_op(c, "host.info", {}), conns * CONCURRENCY)   # warm every host's pool
        jobs = [conns[i % n_hosts] for i in range(ops_per_host * n_hosts)]
        r0 = lab.requests()
        elapsed = _timed(lambda c: run_op(c, "host.info", {}), jobs)
        out["wf_ops_s"] = len(jobs) / elapsed
        out["wf_req_per_op"] = (lab.requests() - r0) / len(jobs)
        close_all_shells()

        # baseline: Session.run_ps, a shell per call
        def run_ps(c):
            s = winrm.Session(f"https://{c['host']}:{c['port']}/wsman", auth=(c["username"], c["password"]),
                              transport="ntlm", server_cert_validation="validate",
                              ca_trust_path=_ca_file(lab), proxy=None)
            r = s.run_ps("$env:COMPUTERNAME")
            assert r.status_code == 0, r.std_err
        r0 = lab.requests()
        run_ps(conns[0])
        out["ps_first"] = out["ps_next"] = lab.requests() - r0
        r0 = lab.requests()
        elapsed = _timed(run_ps, jobs)
        out["ps_ops_s"] = len(jobs) / elapsed
        out["ps_req_per_op"] = (lab.requests() - r0) / len(jobs)
        return out
    finally:
        lab.close()


def _ca_file(lab) -> str:
    return lab.info["caPemPath"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_transport", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--ops-per-host", type=int, default=24)
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY, help="client threads (default 4)")
    args = ap.parse_args(argv)
    globals()["CONCURRENCY"] = args.concurrency
    print(f"WinRM transport, {args.latency * 1000:.0f} ms injected latency per HTTP request, "
          f"{args.concurrency} client threads, op host.info (winfleet) vs run_ps one-liner (baseline)")
    print(f"{'hosts':>5} | {'method':<26} | {'req first op':>12} | {'req next op':>11} | "
          f"{'req/op (run)':>12} | {'ops/s':>7}")
    print("-" * 90)
    for n in args.hosts:
        r = bench(n, args.latency, args.ops_per_host)
        print(f"{n:>5} | {'winfleet run_op (pooled)':<26} | {r['wf_first']:>12} | {r['wf_next']:>11} | "
              f"{r['wf_req_per_op']:>12.2f} | {r['wf_ops_s']:>7.1f}")
        print(f"{n:>5} | {'pywinrm Session.run_ps':<26} | {r['ps_first']:>12} | {r['ps_next']:>11} | "
              f"{r['ps_req_per_op']:>12.2f} | {r['ps_ops_s']:>7.1f}")
    from components.winrm import bootstrap
    print(f"command line: winfleet {len(bootstrap.COMMAND_LINE)} chars whatever the op; run_ps of the "
          f"journal.read driver would need {27 + len(bootstrap.op_script('journal.read').encode('utf-16-le')) * 4 // 3} "
          f"(cmd.exe limit 8191)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

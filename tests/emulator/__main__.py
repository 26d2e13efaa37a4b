"""``python -m tests.emulator --hosts N``: start a lab, print one JSON line, run until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .lab import Lab
from .server import Limits


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    ap.add_argument("--hosts", type=int, default=1, help="number of emulated hosts (default 1)")
    ap.add_argument("--latency", type=float, default=0.0, help="seconds added to every HTTP request")
    ap.add_argument("--auth", choices=["ntlm", "basic"], default="ntlm", help="auth the endpoints ask for")
    ap.add_argument("--username", default="winfleetadmin")
    ap.add_argument("--max-envelope-kb", type=int, default=500)
    ap.add_argument("--max-shells-per-user", type=int, default=30)
    ap.add_argument("--names", help="comma-separated host names (default win-0, win-1, …)")
    ap.add_argument("--base-port", type=int, default=0,
                    help="host i listens on BASE_PORT + i (default: any free port)")
    ap.add_argument("--password", help="password of every host's admin user (default: random per host)")
    ap.add_argument("--ca-out", help="also write the lab's test CA (PEM) to this path")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
    if names:
        args.hosts = len(names)
    if args.hosts < 1:
        ap.error("--hosts must be >= 1")
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    limits = Limits(max_envelope_kb=args.max_envelope_kb, max_shells_per_user=args.max_shells_per_user)
    with Lab(hosts=args.hosts, latency=args.latency, username=args.username, auth=args.auth,
             limits=limits, admin=True, names=names, base_port=args.base_port,
             password=args.password, ca_out=args.ca_out) as lab:
        print(json.dumps(lab.describe()), flush=True)
        while not stop.wait(0.2):
            pass
    print("lab stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
    args = ap.parse_args(argv)
    if args.hosts < 1:
        ap.error("--hosts must be >= 1")
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    limits = Limits(max_envelope_kb=args.max_envelope_kb, max_shells_per_user=args.max_shells_per_user)
    with Lab(hosts=args.hosts, latency=args.latency, username=args.username, auth=args.auth,
             limits=limits, admin=True) as lab:
        print(json.dumps(lab.describe()), flush=True)
        while not stop.wait(0.2):
            pass
    print("lab stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

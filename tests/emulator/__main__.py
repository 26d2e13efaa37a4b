"""``python -m tests.emulator --hosts N``: start a lab, print one JSON line, run until SIGINT/SIGTERM.

With ``--lab-json PATH`` the lab also writes the lab.json document (hosts, CA file, admin URL, pid,
artifacts) once it serves, removes it when it stops, and refuses to start (exit 0, nothing
changed) while the lab that file names is still running.
"""
from __future__ import annotations

import argparse
import json
import os
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
    ap.add_argument("--lab-json", help="write the lab.json document here (and refuse a second lab)")
    ap.add_argument("--artifacts-dir", help="publish every file of this folder on every host at "
                    "https://artifacts.lab.winfleet.test/<file name>")
    ap.add_argument("--ready", action="append", default=[], metavar="SERVICE:PORT[:PATH]",
                    help="declare a service's readiness listener (answers 200 while the service runs)")
    args = ap.parse_args(argv)
    ready = []
    for spec in args.ready:
        parts = spec.split(":", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            ap.error(f"--ready {spec!r}: expected SERVICE:PORT[:PATH]")
        ready.append((parts[0], int(parts[1]), parts[2] if len(parts) > 2 else None))
    if args.lab_json:
        running = running_lab(args.lab_json)
        if running is not None:
            print(f"a lab is already running (pid {running['pid']}, {args.lab_json}): nothing changed",
                  file=sys.stderr, flush=True)
            return 0
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
             password=args.password, ca_out=args.ca_out, artifacts_dir=args.artifacts_dir) as lab:
        for service, port, path in ready:
            lab.serve_ready(service, port, path)
        try:
            if args.lab_json:
                doc = lab.lab_json(os.getpid(), args.ca_out or lab.ca_path)
                tmp = args.lab_json + ".tmp"
                os.makedirs(os.path.dirname(os.path.abspath(args.lab_json)), exist_ok=True)
                with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                    json.dump(doc, f, indent=2)
                os.replace(tmp, args.lab_json)
            print(json.dumps(lab.describe()), flush=True)
            while not stop.wait(0.2):
                pass
        finally:
            if args.lab_json and (running_lab(args.lab_json) or {}).get("pid") == os.getpid():
                os.unlink(args.lab_json)
    print("lab stopped", file=sys.stderr, flush=True)
    return 0


def running_lab(path: str) -> dict | None:
    """The lab.json at ``path`` if the process it names is alive, else None."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        pid = int(doc["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return doc


if __name__ == "__main__":
    sys.exit(main())

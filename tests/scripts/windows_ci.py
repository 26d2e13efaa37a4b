"""What the Windows workflow (.github/workflows/windows-pester.yml, job `real-host`) runs in Python on the runner.

It runs only there (a real WinRM listener, real services): here its pieces are tested against the
emulator and on files (tests/scripts/test_windows_ci.py). Subcommands:

* ``make-cert --name localhost --cert C --key K``  a self-signed TLS certificate (cryptography) for the
  artifact server; the workflow adds it to LocalMachine\\Root so the driver's download trusts it.
* ``serve DIR --port P --cert C --key K``  HTTPS on 127.0.0.1 serving the files of DIR (the reference
  service's build), as an artifact store would; runs until killed.
* ``write-stack --out Pulumi.ci.yaml ...``  the lab-style existing-hosts stack aimed at the runner itself:
  the runner's WinRM HTTPS listener, its scratch disk, one service (the reference Go service) as its
  virtual account, crash dumps, quota, event logs, baseline. The password is set afterwards with
  ``pulumi config set --secret``.
* ``smoke --host H --port P --user U --ca CA``  the real executor (components.winrm.run_op, stock pywinrm,
  NTLM over HTTPS) against the listener: host.info, journal.read, a service.read of a missing service.
  The password comes from the environment variable WINFLEET_CI_PASSWORD, never the command line.
* ``compare BEFORE AFTER``  the host snapshots (tests/scripts/ci/Get-HostSnapshot.ps1) before ``pulumi up``
  and after ``pulumi destroy``: exit 1 and print every difference unless the host is back as it was.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import http.server
import json
import os
import ssl
import sys
from pathlib import Path

import yaml

SERVICE = "wfci-refsvc"
DATA_LETTER = "Q"


def make_cert(name: str, cert_out: Path, key_out: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_out.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_out.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def artifact_server(directory: Path, port: int, cert: Path, key: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server


def stack_config(*, winrm_host: str, winrm_port: int, username: str, ca_pem_file: str, disk_number: int,
                 binary_url: str, binary_sha256: str, service_port: int) -> dict:
    """The `config:` of the runner's stack (keys as in Pulumi.lab.yaml; password added by the CLI)."""
    return {"config": {
        "winfleet:mode": "existingHosts",
        "winfleet:winrm": {"auth": "ntlm"},
        "winfleet:existingHosts": [{
            "name": "runner", "host": winrm_host, "port": winrm_port, "username": username,
            "caPemFile": ca_pem_file, "tlsServerName": winrm_host, "dataDisk": {"diskNumber": disk_number}}],
        "winfleet:dataVolume": {"driveLetter": DATA_LETTER, "label": "wfci-data"},
        "winfleet:loadBalancer": {"probeIntervalSeconds": 5, "unhealthyThreshold": 2, "drainSeconds": 5},
        "winfleet:rollout": {"batchSize": 1},
        "winfleet:baseline": {"name": "go-host-minimal"},
        "winfleet:quota": {"headroom": 1.5},
        "winfleet:services": [{
            "name": SERVICE, "displayName": "winfleet CI reference service",
            "description": "The reference Go service, deployed by the Windows workflow onto the runner",
            "binary": {"url": binary_url, "sha256": binary_sha256, "exeName": "winfleet-refsvc.exe"},
            "port": service_port, "logs": {"maxFileSizeMb": 5, "maxFiles": 3},
            "preshutdownTimeoutSeconds": 20, "crashDumps": {"enabled": True, "count": 2, "type": "mini"}}],
    }}


def smoke(host: str, port: int, user: str, ca_file: str, tls_server_name: str | None = None) -> dict:
    from components.winrm import Endpoint, run_op
    password = os.environ["WINFLEET_CI_PASSWORD"]
    ep = Endpoint.from_inputs({"host": host, "port": port, "username": user, "password": password, "auth": "ntlm",
                               "caPem": Path(ca_file).read_text(), "certSha256": None,
                               "tlsServerName": tls_server_name or host, "hostName": "runner"})
    out = {"host.info": run_op(ep, "host.info", {}),
           "journal.read": run_op(ep, "journal.read", {"keys": None}),
           "service.read": run_op(ep, "service.read", {"name": "wfci-no-such-service", "binaryPath": None,
                                                       "previousPath": None, "eventSource": None, "dirs": []})}
    if out["service.read"]["state"].get("exists") is not False:
        raise SystemExit("service.read of a missing service did not say exists: false")
    return out


def differences(before, after, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after)):
            if k not in after:
                out.append(f"{path}/{k}: gone (was {json.dumps(before[k])[:200]})")
            elif k not in before:
                out.append(f"{path}/{k}: new ({json.dumps(after[k])[:200]})")
            else:
                out.extend(differences(before[k], after[k], f"{path}/{k}"))
        return out
    if before != after:
        return [f"{path}: {json.dumps(before)[:200]} -> {json.dumps(after)[:200]}"]
    return []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.scripts.windows_ci", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("make-cert")
    c.add_argument("--name", default="localhost")
    c.add_argument("--cert", type=Path, required=True)
    c.add_argument("--key", type=Path, required=True)
    s = sub.add_parser("serve")
    s.add_argument("directory", type=Path)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--cert", type=Path, required=True)
    s.add_argument("--key", type=Path, required=True)
    w = sub.add_parser("write-stack")
    w.add_argument("--out", type=Path, required=True)
    w.add_argument("--winrm-host", default="localhost")
    w.add_argument("--winrm-port", type=int, default=5986)
    w.add_argument("--username", required=True)
    w.add_argument("--ca-pem-file", required=True)
    w.add_argument("--disk-number", type=int, required=True)
    w.add_argument("--binary-url", required=True)
    w.add_argument("--binary-sha256", required=True)
    w.add_argument("--service-port", type=int, default=18080)
    m = sub.add_parser("smoke")
    m.add_argument("--host", default="localhost")
    m.add_argument("--port", type=int, default=5986)
    m.add_argument("--user", required=True)
    m.add_argument("--ca", required=True)
    m.add_argument("--tls-server-name")
    d = sub.add_parser("compare")
    d.add_argument("before", type=Path)
    d.add_argument("after", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "make-cert":
        make_cert(a.name, a.cert, a.key)
    elif a.cmd == "serve":
        artifact_server(a.directory, a.port, a.cert, a.key).serve_forever()
    elif a.cmd == "write-stack":
        doc = stack_config(winrm_host=a.winrm_host, winrm_port=a.winrm_port, username=a.username,
                           ca_pem_file=a.ca_pem_file, disk_number=a.disk_number, binary_url=a.binary_url,
                           binary_sha256=a.binary_sha256.lower(), service_port=a.service_port)
        a.out.write_text(yaml.safe_dump(doc, sort_keys=False))
    elif a.cmd == "smoke":
        print(json.dumps(smoke(a.host, a.port, a.user, a.ca, a.tls_server_name), indent=1, sort_keys=True))
    elif a.cmd == "compare":
        # PowerShell 5.1 writes UTF-8 with a BOM
        before = json.loads(a.before.read_text(encoding="utf-8-sig"))
        after = json.loads(a.after.read_text(encoding="utf-8-sig"))
        diff = differences(before, after)
        for line in diff:
            print(line)
        print(f"{len(diff)} difference(s) between {a.before} and {a.after}")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

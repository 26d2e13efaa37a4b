"""The lab and the real Pulumi CLI: what `make lab-start|lab-stop|up|refresh|destroy|pulumi` run.

    python -m tools.lab start [--artifacts-dir build/goservice]   # background lab, .winfleet/lab/lab.json
    python -m tools.lab stop
    python -m tools.lab pulumi [--stack lab] -- up --yes ...      # the project's CLI, lab stack prepared

The CLI is `.winfleet/bin/pulumi` (`make setup`), run offline: a file backend under .winfleet/state,
no update check, no plugin downloads, PULUMI_HOME under .winfleet/.

A lab stack's config is generated, never edited in place: `Pulumi.<stack>.yaml` (tracked; the lab
stack's template, falling back to Pulumi.lab.yaml for other stack names) + the running lab's
lab.json -> `.winfleet/stacks/Pulumi.<stack>.yaml`, passed with `--config-file`. The hosts'
endpoints come from lab.json, their passwords become real Pulumi secrets there (`pulumi config
set-all --secret`, encrypted with the stack's passphrase), and each service binary published by
the lab (url under https://artifacts.lab.winfleet.test/) gets the SHA-256 the lab serves.
The lab passphrase is fixed (LAB_PASSPHRASE): lab stacks guard test credentials only.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN_DIR = ROOT / ".winfleet" / "bin"
LAB_PASSPHRASE = "winfleet-lab-passphrase"     # fixed and public: lab stacks only
ARTIFACTS_HOST = "https://artifacts.lab.winfleet.test/"
LAB_BASE_PORT = 15986
STANDIN_NAME = "winfleet-refsvc.exe"
# Commands of the CLI that take --config-file (`make pulumi` adds it to these).
CONFIG_FILE_COMMANDS = {"up", "preview", "refresh", "destroy", "import", "config"}


class LabError(Exception):
    pass


def pulumi_bin() -> str:
    exe = BIN_DIR / "pulumi"
    if not exe.exists():
        raise LabError(f"{exe} is missing: run `make setup`")
    return str(exe)


def pulumi_env(project: Path, *, passphrase: Optional[str] = None, base: Optional[dict] = None) -> dict:
    """The environment the project's CLI runs in: offline, state and plugins under the project."""
    env = dict(os.environ if base is None else base)
    wf = Path(project) / ".winfleet"
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PULUMI_HOME", str(wf / "pulumi-home"))
    env.setdefault("PULUMI_BACKEND_URL", "file://" + str(wf / "state"))
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    env.setdefault("PULUMI_DIY_BACKEND_NO_LEGACY_WARNING", "true")
    if passphrase is not None:
        env["PULUMI_CONFIG_PASSPHRASE"] = passphrase
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    return env


# --- the lab -------------------------------------------------------------------------------------
def lab_dir(project: Path) -> Path:
    return Path(project) / ".winfleet" / "lab"


def running_lab(project: Path) -> Optional[dict]:
    from tests.emulator.__main__ import running_lab as _running
    return _running(str(lab_dir(project) / "lab.json"))


def template_path(project: Path, stack: str) -> Path:
    own = Path(project) / f"Pulumi.{stack}.yaml"
    return own if own.exists() else Path(project) / "Pulumi.lab.yaml"


def _ready_flags(project: Path) -> list[str]:
    """Stand-in readiness listeners for the services the lab stack declares, until the emulated
    SCM runs the reference service's real process (which then answers for itself)."""
    doc = yaml.safe_load(template_path(project, "lab").read_text()) or {}
    flags = []
    for s in (doc.get("config") or {}).get("winfleet:services") or []:
        if isinstance(s, dict) and s.get("name") and s.get("port"):
            flags += ["--ready", f"{s['name']}:{s['port']}:{s.get('readinessPath', '/readyz')}"]
    return flags


def artifacts_dir(project: Path, wanted: Optional[str]) -> Path:
    """`wanted` if it holds files; else a stand-in folder with a stand-in reference-service binary."""
    if wanted:
        d = Path(wanted) if Path(wanted).is_absolute() else Path(project) / wanted
        if d.is_dir() and any(p.is_file() for p in d.iterdir()):
            return d
    standin = lab_dir(project) / "standin-artifacts"
    standin.mkdir(parents=True, exist_ok=True)
    target = standin / STANDIN_NAME
    if not target.exists():
        target.write_bytes(b"MZ winfleet stand-in for the reference Go service (build/goservice not built)\n" * 64)
    return standin


def start(project: Path = ROOT, *, base_port: int = LAB_BASE_PORT, artifacts: Optional[str] = "build/goservice",
          names: Sequence[str] = ("lab-0", "lab-1", "lab-2"), password: Optional[str] = None,
          timeout: float = 60.0) -> dict:
    """Start the lab in the background (or say it runs already); -> lab.json."""
    project = Path(project)
    running = running_lab(project)
    if running is not None:
        print(f"lab already running (pid {running['pid']}, {lab_dir(project) / 'lab.json'}): nothing changed")
        return running
    ldir = lab_dir(project)
    ldir.mkdir(parents=True, exist_ok=True)
    art = artifacts_dir(project, artifacts)
    ca = ldir / "ca.pem"
    if ca.resolve().is_relative_to(ROOT):       # as the contract has it: relative to the project
        ca = ca.resolve().relative_to(ROOT)
    cmd = [sys.executable, "-m", "tests.emulator", "--names", ",".join(names), "--base-port", str(base_port),
           "--ca-out", str(ca), "--lab-json", str(ldir / "lab.json"),
           "--artifacts-dir", str(art)] + _ready_flags(project)
    if password:
        cmd += ["--password", password]
    log = open(ldir / "lab.log", "ab")
    proc = subprocess.Popen(cmd, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = running_lab(project)
        if doc is not None and doc.get("pid") == proc.pid:
            print(f"lab started (pid {proc.pid}): {len(doc['hosts'])} hosts, admin API {doc['adminUrl']}, "
                  f"artifacts from {art}")
            return doc
        if proc.poll() is not None:
            raise LabError(f"the lab exited with {proc.returncode}: see {ldir / 'lab.log'}")
        time.sleep(0.1)
    proc.terminate()
    raise LabError(f"the lab did not start within {timeout:.0f}s: see {ldir / 'lab.log'}")


def stop(project: Path = ROOT, timeout: float = 20.0) -> bool:
    doc = running_lab(project)
    if doc is None:
        print("no lab running")
        return False
    pid = int(doc["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    (lab_dir(project) / "lab.json").unlink(missing_ok=True)
    print(f"lab stopped (pid {pid})")
    return True


def alive(pid: int) -> bool:
    """Is ``pid`` running (a zombie child of ours is reaped and counts as gone)?"""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


# --- lab stacks ----------------------------------------------------------------------------------
def stack_config_path(project: Path, stack: str) -> Path:
    return Path(project) / ".winfleet" / "stacks" / f"Pulumi.{stack}.yaml"


# Keys the CLI writes into a stack file for its secrets provider: kept across regenerations.
_SECRETS_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


def lab_stack_doc(template: dict, lab: dict, existing: Optional[dict] = None) -> tuple[dict, dict[str, str]]:
    """-> (stack file document without passwords, {key path: password}) for `lab`."""
    doc = copy.deepcopy(template)
    config = doc.setdefault("config", {})
    by_name = {h["name"]: h for h in lab["hosts"]}
    hosts = config.get("winfleet:existingHosts") or []
    if len(hosts) != len(lab["hosts"]):     # a lab of another size: the first entry as template
        hosts = [dict(hosts[0] if hosts else {}, name=h["name"]) for h in lab["hosts"]]
    secrets: dict[str, str] = {}
    out_hosts = []
    for i, declared in enumerate(hosts):
        live = by_name.get(declared.get("name"))
        if live is None:
            raise LabError(f"winfleet:existingHosts[{i}].name {declared.get('name')!r}: no such host in the lab "
                           f"({', '.join(sorted(by_name))})")
        entry = {k: v for k, v in declared.items() if k not in ("password", "caPem", "certSha256")}
        entry.update(host=live["host"], port=live["port"], username=live["username"],
                     tlsServerName=live.get("tlsServerName") or live["name"], caPemFile=lab["caPemFile"])
        out_hosts.append(entry)
        secrets[f"winfleet:existingHosts[{i}].password"] = live["password"]
    config["winfleet:existingHosts"] = out_hosts
    for i, s in enumerate(config.get("winfleet:services") or []):
        url = ((s or {}).get("binary") or {}).get("url", "")
        if url.startswith(ARTIFACTS_HOST):
            name = url[len(ARTIFACTS_HOST):]
            art = (lab.get("artifacts") or {}).get(name)
            if art is None:
                raise LabError(f"winfleet:services[{i}].binary.url {url}: the lab does not publish {name!r} "
                               f"(it publishes {sorted(lab.get('artifacts') or {})}); build it into the "
                               f"lab's artifacts folder and restart the lab (`make lab-stop lab-start`)")
            s["binary"] = {"url": art["url"], "sha256": art["sha256"]}
    for k in _SECRETS_KEYS:
        if existing and k in existing:
            doc[k] = existing[k]
    return doc, secrets


def run_cli(args: Sequence[str], *, project: Path, env: dict, check: bool = True, capture: bool = False,
            input: Optional[str] = None, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([pulumi_bin(), *args], cwd=str(project), env=env, text=True, input=input,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, timeout=timeout)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "")[-2000:] if capture else ""
        raise LabError(f"pulumi {' '.join(args[:2])} exited with {proc.returncode}\n{detail}")
    return proc


def prepare_stack(project: Path, stack: str, lab: dict, env: dict, *, template: Optional[Path] = None) -> Path:
    """Create the stack if needed, (re)write its generated config from the template and the lab,
    and set the hosts' passwords as Pulumi secrets. -> the config file."""
    project = Path(project)
    template = template or template_path(project, stack)
    cfg = stack_config_path(project, stack)
    cfg.parent.mkdir(parents=True, exist_ok=True)
    existing = yaml.safe_load(cfg.read_text()) if cfg.exists() else None
    backend = env.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("file://"):
        Path(backend[len("file://"):]).mkdir(parents=True, exist_ok=True)
    listed = run_cli(["stack", "ls", "--json"], project=project, env=env, capture=True)
    names = {s["name"] for s in json.loads(listed.stdout or "[]")}
    if stack not in names:
        # `stack init` writes the passphrase salt into Pulumi.<stack>.yaml beside Pulumi.yaml (it takes
        # no --config-file): run it in a scratch copy of the project file and keep the salt from there.
        with tempfile.TemporaryDirectory(prefix="winfleet-stack-init-") as scratch:
            shutil.copy(project / "Pulumi.yaml", Path(scratch) / "Pulumi.yaml")
            run_cli(["stack", "init", stack, "--secrets-provider", "passphrase"], project=Path(scratch),
                    env=env, capture=True)
            made = Path(scratch) / f"Pulumi.{stack}.yaml"
            existing = yaml.safe_load(made.read_text()) if made.exists() else None
    doc, secrets = lab_stack_doc(yaml.safe_load(template.read_text()) or {}, lab, existing)
    tmp = cfg.with_suffix(".tmp")
    tmp.write_text("# generated by tools/lab.py from " + template.name + " and the running lab: do not edit\n"
                   + yaml.safe_dump(doc, sort_keys=False))
    os.replace(tmp, cfg)
    set_all = ["config", "set-all", "--stack", stack, "--config-file", str(cfg), "--path"]
    for key, value in secrets.items():
        set_all += ["--secret", f"{key}={value}"]
    run_cli(set_all, project=project, env=env, capture=True)
    run_cli(["stack", "select", stack], project=project, env=env, capture=True)
    return cfg


def pulumi_args(args: Sequence[str], stack: str, cfg: Path) -> list[str]:
    """`make pulumi ARGS=...`: add --stack/--config-file to the commands that take them."""
    args = list(args)
    if args and args[0] in CONFIG_FILE_COMMANDS and "--config-file" not in args:
        args[1:1] = ["--config-file", str(cfg)]
    if args and args[0] in CONFIG_FILE_COMMANDS | {"stack"} and "--stack" not in args and "-s" not in args:
        args[1:1] = ["--stack", stack]
    return args


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.lab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start", help="start the lab in the background (a running lab is left alone)")
    s.add_argument("--artifacts-dir", default="build/goservice")
    s.add_argument("--base-port", type=int, default=LAB_BASE_PORT)
    sub.add_parser("stop", help="stop the background lab")
    p = sub.add_parser("pulumi", help="run the project's CLI against a lab stack (starting the lab if needed)")
    p.add_argument("--stack", default="lab")
    p.add_argument("--artifacts-dir", default="build/goservice")
    p.add_argument("args", nargs=argparse.REMAINDER)
    ns = ap.parse_args(argv)
    try:
        if ns.cmd == "start":
            start(ROOT, base_port=ns.base_port, artifacts=ns.artifacts_dir)
            return 0
        if ns.cmd == "stop":
            stop(ROOT)
            return 0
        args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
        lab = running_lab(ROOT) or start(ROOT, artifacts=ns.artifacts_dir)
        env = pulumi_env(ROOT, passphrase=os.environ.get("PULUMI_CONFIG_PASSPHRASE") or LAB_PASSPHRASE)
        cfg = prepare_stack(ROOT, ns.stack, lab, env)
        proc = subprocess.run([pulumi_bin(), *pulumi_args(args, ns.stack, cfg)], cwd=str(ROOT), env=env)
        return proc.returncode
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

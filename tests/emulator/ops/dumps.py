"""Handlers for dumps.read and dumps.apply (drivers: scripts/ops/dumps.read.ps1, dumps.apply.ps1).

WER LocalDumps (MicrosoftDocs/win32 "Collecting User-Mode Dumps"):
  HKLM\\SOFTWARE\\Microsoft\\Windows\\Windows Error Reporting\\LocalDumps\\<exe>: DumpFolder (REG_EXPAND_SZ),
  DumpCount (REG_DWORD), DumpType (REG_DWORD 1 mini / 2 full).
dumps.read params: {"exeName", "dumpFolder", "dirs": [path, ...], "serviceName"|null}
  -> {"localDumps": {"exeName", "values"|null, "missingParent"|null}, "folder": {path, exists, owner, acl}, "dirs": [same, per path],
      "driveExists": bool,
      "aeDebugAuto": bool (automatic debugging disables LocalDumps), "serviceEnvironment": [..]|null}
dumps.apply params: {"exeName", "dumpFolder", "serviceName"|null, "steps": [
    {"do": "mkdir", "path", "grant", "rights"} | {"do": "localDumps", "values"|null, "exeName"?, "upTo"?} |
    {"do": "revoke", "path", "identity"} | {"do": "removeDir", "path", "upTo"} |
    {"do": "cleanGlobal", "values": {name: {kind, data}}}]}
state "globalValues": the values of the LocalDumps key itself (the settings for every process: "you can
configure WER to collect dumps for all applications" in the LocalDumps key, per-application keys override
them; learn.microsoft.com/windows/win32/wer/collecting-user-mode-dumps).
"""
from __future__ import annotations

from tests.emulator.ops import OpError, op
from tests.emulator.ops.service import _svc_key, read_dir
from tests.emulator.ops.svc_support import (mkdir_grant, op_error, reg_put_exact, reg_snapshot, remove_dir_up_to,
                                            step_done)
from tests.emulator.windows.files import FsError

WER = r"HKLM\SOFTWARE\Microsoft\Windows\Windows Error Reporting"
LOCALDUMPS = WER + r"\LocalDumps"
AEDEBUG = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\AeDebug"


def _state(host, params: dict) -> dict:
    exe = params["exeName"]
    auto = host.registry.get_value(AEDEBUG, "Auto")
    env = None
    svc = params.get("serviceName")
    if svc and host.scm.exists(svc):
        got = host.registry.get_value(_svc_key(host.scm.canonical(svc)), "Environment")
        env = got[1] if got else None
    missing = next((k for k in (WER, LOCALDUMPS) if not host.registry.key_exists(k)), None)
    return {"globalValues": reg_snapshot(host.registry, LOCALDUMPS),
            "localDumps": {"exeName": exe, "values": reg_snapshot(host.registry, LOCALDUMPS + "\\" + exe),
                           "missingParent": missing},
            "folder": read_dir(host, params["dumpFolder"]),
            "dirs": [read_dir(host, d) for d in params.get("dirs") or []],
            "driveExists": host.files.drive_exists(params["dumpFolder"][:1]),
            "aeDebugAuto": bool(auto and str(auto[1]) == "1"),
            "serviceEnvironment": env}


@op("dumps.read")
def dumps_read(host, params: dict) -> dict:
    return {"changed": False, "state": _state(host, params)}


@op("dumps.apply")
def dumps_apply(host, params: dict) -> dict:
    f = host.files
    done = []
    for step in params.get("steps") or []:
        verb = step.get("do")
        try:
            if verb == "mkdir":
                changed = mkdir_grant(host, step)
            elif verb == "localDumps":
                exe = step.get("exeName") or params["exeName"]
                changed = reg_put_exact(host.registry, LOCALDUMPS + "\\" + exe, step.get("values"))
                if step.get("values") is None:
                    # an empty LocalDumps key (and an empty WER key) has no effect: remove it with the
                    # last per-exe key, whichever CrashDumps created it (real WER keys are never empty)
                    for key in (LOCALDUMPS, WER):
                        if host.registry.key_exists(key) and not host.registry.subkeys(key) \
                                and not host.registry.values(key):
                            host.registry.delete_key(key)
                            changed = True
                        else:
                            break
            elif verb == "cleanGlobal":
                changed = False
                for name, want in (step.get("values") or {}).items():      # compare-and-delete, like the driver
                    got = host.registry.get_value(LOCALDUMPS, name)
                    if got is not None and got[0] == want["kind"] and str(got[1]).lower() == str(want["data"]).lower():
                        changed = host.registry.delete_value(LOCALDUMPS, name) or changed
            elif verb == "revoke":
                changed = f.is_dir(step["path"]) and f.revoke(step["path"], step["identity"], step.get("sid"))
            elif verb == "removeDir":
                changed = remove_dir_up_to(host, step["path"], step.get("upTo"))
            else:
                raise OpError("BAD_PARAMS", f"unknown step {verb!r}")
        except FsError as e:
            raise op_error(e, f"{verb}") from None
        done.append({"do": verb, "changed": bool(changed)})
        step_done(host, "dumps.apply", verb)
    state = _state(host, params)
    state["steps"] = done
    return {"changed": any(d["changed"] for d in done), "state": state}

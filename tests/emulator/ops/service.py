"""Handlers for service.read and service.apply (drivers: scripts/ops/service.read.ps1, service.apply.ps1).

service.read params: {"name", "binaryPath"|null, "previousPath"|null, "eventSource": {"logName","source"}|null,
                      "dirs": [path], "logonAccount"|null} (state "leftoverPrevious": previousPath when that file
                      exists, else null; "logonRight": {account, held (a direct SeServiceLogonRight assignment),
                      otherServices (the other services running as that account)} or null)
service.apply params: {"name", "steps": [step...], "readiness": {"port","path","timeoutSeconds","pollSeconds"}|null,
                       "startTimeoutSeconds": n, "stopTimeoutSeconds": n, "onNotReady": [step...],
                       "afterReady": [step...], "onStopped": [step...]}
Steps run in order; each is {"do": <verb>, ...}; the verbs and their Windows calls are documented in
service.apply.ps1. The result carries per-step "changed" flags and the state after (as service.read).
Readiness gate passed (or none): the "afterReady" steps run. Gate failed: without "onNotReady" the op
fails NOT_READY; with it, those steps run, the gate runs again (same URL and bound) and the op fails
NOT_READY "... rolled back to the previous version ..." or ROLLBACK_FAILED (exactly as the driver).
A step failing once a step marked "armsRollback" (the binary swap) ran rolls back the same way and fails
with that step's code: "step <verb> failed after the binary swap: <code>: <message>; rolled back ...".
Stops and starts follow the driver's Stop-OurService / Start-OurService (``stop_service`` / ``start_service``):
pending states waited out as the SCM requires, and a stop waits for the process to exit (a real drain for a
service whose process is a Linux twin, windows/twin.py). While our own service stops, its readiness URL is
polled (the driver's Wait-Drained): the state's "drain" is {notReadyBeforeExit: a non-200 answer while it
was still stopping, probes}, null without a readiness URL. After the gate, "requireAccepts" (SERVICE_ACCEPT_*
bits) must be in the running service's dwControlsAccepted, or the op fails PRESHUTDOWN_NOT_ACCEPTED (rolled
back like a failed gate when "onNotReady" is given).
"""
from __future__ import annotations

import hashlib
import time

from tests.emulator.ops import progress, OpError, op
from tests.emulator.ops.svc_support import (STATUS_NAMES, op_error, reg_put_exact, reg_snapshot,
                                            mkdir_grant, poll_ready, remove_dir_up_to, sleep_unlocked,
                                            step_done)
from tests.emulator.windows.files import DownloadError, FsError
from tests.emulator.windows.scm import SERVICES_KEY, ScmError

EVENTLOG_KEY = SERVICES_KEY + r"\EventLog"
LOGON_RIGHTS_KEY = r"HKLM\SOFTWARE\winfleet\LogonRights"


def _svc_key(name: str) -> str:
    return SERVICES_KEY + "\\" + name


def read_service(host, name: str) -> dict | None:
    scm, reg = host.scm, host.registry
    if not scm.exists(name):
        return None
    q = scm.query(name)
    k = _svc_key(q["name"])

    def raw(v, default=None):
        got = reg.get_value(k, v)
        return default if got is None else got[1]

    return {
        "name": q["name"], "type": raw("Type", 0), "start": raw("Start", 3),
        "delayedAutostart": bool(raw("DelayedAutostart", 0)), "imagePath": raw("ImagePath", ""),
        "displayName": raw("DisplayName", ""), "description": raw("Description"),
        "objectName": raw("ObjectName", ""), "dependencies": list(raw("DependOnService", []) or []),
        "sidType": raw("ServiceSidType", 0), "failureActions": raw("FailureActions"),
        "failureActionsOnNonCrashFailures": bool(raw("FailureActionsOnNonCrashFailures", 0)),
        "preshutdownTimeoutMs": raw("PreshutdownTimeout"), "environment": raw("Environment"),
        "status": STATUS_NAMES[q["status"]], "markedForDelete": bool(raw("DeleteFlag", 0)),
        "controlsAccepted": scm.controls_accepted(name),
    }


def read_dir(host, path: str) -> dict:
    f = host.files
    if not f.is_dir(path):
        return {"path": path, "exists": False, "owner": None, "acl": []}
    return {"path": path, "exists": True, "owner": f.owner(path), "acl": f.acl(path)}


def read_state(host, params: dict) -> dict:
    name = params["name"]
    svc = read_service(host, name)
    out = {"exists": svc is not None, "service": svc,
           "dependents": all_dependents(host, name) if svc else [],
           "binary": None, "eventSource": None,
           "dirs": [read_dir(host, d) for d in params.get("dirs") or []]}
    pp = params.get("previousPath")
    out["leftoverPrevious"] = pp if pp and host.files.is_file(pp) else None
    bp = params.get("binaryPath")
    if bp:
        exists = host.files.is_file(bp)
        out["binary"] = {"path": bp, "exists": exists, "sha256": host.files.sha256(bp) if exists else None}
    out["logonRight"] = None
    who = params.get("logonAccount")
    if who:
        others = [n for n in host.scm.names() if n.lower() != name.lower()
                  and (host.scm.query(n).get("objectName") or "").lower() == who.lower()]
        out["logonRight"] = {"account": who, "held": who.lower() in host.accounts.rights
                             and "SeServiceLogonRight" in host.accounts.rights[who.lower()], "otherServices": others,
                             "grantedByWinfleet": host.registry.get_value(LOGON_RIGHTS_KEY, who.lower()) is not None}
    sf = params.get("secretsFile")
    out["secretsFile"] = read_secrets_file(host, sf) if sf else None
    es = params.get("eventSource")
    if es:
        out["eventSource"] = read_event_source(host, es["logName"], es["source"])
    return out


# Well-known SIDs (https://learn.microsoft.com/windows/win32/secauthz/well-known-sids): what the driver's
# GetAccessRules(..., [SecurityIdentifier]) reports for the entries we write.
WELL_KNOWN_SIDS = {"nt authority\\system": "S-1-5-18", "localsystem": "S-1-5-18",
                   "builtin\\administrators": "S-1-5-32-544", "builtin\\users": "S-1-5-32-545",
                   "nt authority\\localservice": "S-1-5-19", "nt authority\\networkservice": "S-1-5-20"}


def read_secrets_file(host, sf: dict) -> dict:
    """service.read's ``secretsFile``: existence, whether the DACL is protected, its entries (identity + SID)
    and HMAC-SHA256(key = the read's nonce, the file's bytes); never the content."""
    import hmac as _hmac
    f, path = host.files, sf["path"]
    if not f.is_file(path):
        return {"path": path, "exists": False, "protected": False, "acl": [], "hmac": None}
    acl = [{"identity": a["identity"], "sid": a.get("sid") or WELL_KNOWN_SIDS.get(a["identity"].lower()),
            "rights": a["rights"], "type": a.get("type", "Allow"), "inherited": bool(a.get("inherited"))}
           for a in f.acl(path)]
    mac = _hmac.new(bytes.fromhex(sf["nonce"]), f.read(path), hashlib.sha256).hexdigest()
    return {"path": path, "exists": True, "protected": f.is_protected(path), "acl": acl, "hmac": mac}


EVENTLOGS_RECORD = r"HKLM\SOFTWARE\winfleet\EventLogs"


def read_event_source(host, log: str, source: str) -> dict:
    """Read-EventSource (scripts/lib/service.ps1): the source's values, whether its log key exists, and every
    log that has a source of that name. A source name is unique on the computer: EventLog.CreateEventSource
    refuses a source that exists in any log ("Source ... already exists on the local computer",
    https://learn.microsoft.com/en-us/dotnet/api/system.diagnostics.eventlog.createeventsource)."""
    reg = host.registry
    return {"logName": log, "source": source, "logExists": reg.key_exists(EVENTLOG_KEY + "\\" + log),
            "registeredIn": [l for l in reg.subkeys(EVENTLOG_KEY) if reg.key_exists(f"{EVENTLOG_KEY}\\{l}\\{source}")],
            "values": reg_snapshot(reg, EVENTLOG_KEY + "\\" + log + "\\" + source)}


def set_event_source(host, log: str, source: str, values) -> bool:
    """Set-EventSource (scripts/lib/service.ps1): the source key set exactly or removed; a log key it creates
    is recorded under HKLM\SOFTWARE\winfleet\EventLogs and removed by the removal that leaves it without
    other sources (a subkey named like the log is the log's own)."""
    reg = host.registry
    log_key, record = EVENTLOG_KEY + "\\" + log, log.lower()
    if values is not None and not reg.key_exists(log_key):
        reg.set_value(EVENTLOGS_RECORD, record, "REG_SZ", log)
        reg.create_key(log_key)
    changed = reg_put_exact(reg, log_key + "\\" + source, values)
    if values is None and reg.get_value(EVENTLOGS_RECORD, record) is not None:
        if not [k for k in reg.subkeys(log_key) if k.lower() != log.lower()]:
            if reg.key_exists(log_key):
                reg.delete_key(log_key)
                changed = True
            reg.delete_value(EVENTLOGS_RECORD, record)
            host.remove_empty_winfleet_key("EventLogs")
    return changed


def all_dependents(host, name: str) -> list[dict]:
    """EnumDependentServices(SERVICE_STATE_ALL): direct and indirect dependents, each listed before the
    services it depends on (a valid stop order), with their status names."""
    scm, order, seen = host.scm, [], set()

    def visit(n):
        for d in scm.dependents(n):
            if d.lower() not in seen:
                seen.add(d.lower())
                visit(d)
                order.append(d)
    visit(name)
    return [{"name": d, "status": STATUS_NAMES[scm.status(d)]} for d in order]


def read_crash_events(host, q: dict) -> list[dict]:
    """Read-CrashEvent (scripts/lib/events.ps1): SCM 7031/7034/7024 naming the service (by display or
    service name, %1) and WER 1000/1001 naming its exe, since ``q["since"]`` (ISO 8601, UTC), oldest first."""
    import datetime
    since = datetime.datetime.fromisoformat(q["since"].replace("Z", "+00:00")).timestamp()
    names = {str(q.get("displayName") or "").lower(), str(q.get("serviceName") or "").lower()} - {""}
    exe = str(q.get("exeName") or "").lower()
    out = []
    for log, ids, provider in (("System", [7031, 7034, 7024], ["Service Control Manager"]),
                               ("Application", [1000, 1001], None)):
        for e in host.eventlogs.events(log, ids=ids, providers=provider, since=since, max_events=500):
            props = [str(p).lower() for p in e["properties"]]
            if log == "System":
                hit = bool(props) and props[0] in names
            elif e["id"] == 1000:
                hit = bool(props) and props[0] == exe
            else:
                hit = len(props) > 5 and props[5] == exe
            if hit:
                t = datetime.datetime.fromtimestamp(e["timeCreated"], tz=datetime.timezone.utc)
                out.append({"log": e["logName"], "id": e["id"], "provider": e["providerName"],
                            "time": t.isoformat().replace("+00:00", "Z"), "message": e["message"][:300]})
    return sorted(out, key=lambda e: e["time"])


@op("service.read")
def service_read(host, params: dict) -> dict:
    state = read_state(host, params)
    if isinstance(params.get("crashEvents"), dict):
        state["crashEvents"] = read_crash_events(host, params["crashEvents"])
    return {"changed": False, "state": state}


def _wait_status(host, name: str, status: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while host.scm.status(name) != status:
        if time.monotonic() >= deadline:
            raise OpError("SERVICE_REQUEST_TIMEOUT", f"{name} did not reach {STATUS_NAMES[status]} within {timeout:g}s "
                                                      f"(status {STATUS_NAMES[host.scm.status(name)]})")
        sleep_unlocked(host, 0.02)


def _wait_running(host, name: str, timeout: float) -> None:
    _wait_status(host, name, "running", timeout)


def _wait_exit(host, pid: int, name: str, timeout: float) -> None:
    """The driver's Wait-ProcessExit: the process outlives SERVICE_STOPPED for a moment (image locked)."""
    deadline = time.monotonic() + timeout
    while host.scm.process_alive(pid):
        if time.monotonic() >= deadline:
            raise OpError("FILE_IN_USE", f"{name} reported Stopped but its process {pid} did not exit within {timeout:g} s")
        sleep_unlocked(host, 0.02)


def _wait_drained(host, name: str, timeout: float, readiness: dict) -> dict:
    """Wait for Stopped (bounded) while probing readiness, 0.25 s apart (the driver's Wait-Drained): did it
    answer non-200 while the service was still stopping?"""
    deadline = time.monotonic() + timeout
    not_ready, probes = False, 0
    while host.scm.status(name) != "stopped":
        if time.monotonic() >= deadline:
            raise OpError("SERVICE_REQUEST_TIMEOUT", f"{name} did not reach Stopped within {timeout:g}s "
                                                      f"(status {STATUS_NAMES[host.scm.status(name)]})")
        got = host.http.probe(int(readiness["port"]), readiness["path"])
        if host.scm.status(name) != "stopped":          # still stopping when it answered
            probes += 1
            not_ready = not_ready or (got["status"] is not None and got["status"] != 200)
        sleep_unlocked(host, 0.25)
    return {"notReadyBeforeExit": not_ready, "probes": probes}


def stop_service(host, name: str, params: dict, readiness: dict | None = None, drain: dict | None = None) -> bool:
    """The driver's Stop-OurService: a pending start is waited out (the SCM refuses a stop then, 1061), a
    pending stop is waited for (not repeated), running dependents refuse, then stop, wait for Stopped and
    for the process to exit."""
    scm = host.scm
    start_t = float(params.get("startTimeoutSeconds") or 30)
    stop_t = float(params.get("stopTimeoutSeconds") or start_t)
    if not scm.exists(name):
        raise OpError("SERVICE_NOT_FOUND", f"service {name} does not exist")
    if scm.status(name) == "start_pending":
        _wait_status(host, name, "running", start_t)
    if scm.status(name) == "stopped":
        return False
    pid = scm.pid(name)
    if scm.status(name) != "stop_pending":
        running = [d for d in scm.dependents(name) if scm.status(d) != "stopped"]
        if running:
            raise OpError("DEPENDENT_SERVICES_RUNNING", f"{name} has running dependents: {', '.join(running)}")
        scm.stop(name)
    progress("stop", f"stopping {name}: draining, up to {stop_t:g} s")
    if readiness is not None:
        got = _wait_drained(host, name, stop_t, readiness)
        if drain is not None:
            drain.clear()
            drain.update(got)
    else:
        _wait_status(host, name, "stopped", stop_t)
    _wait_exit(host, pid, name, stop_t)
    return True


def start_service(host, name: str, params: dict) -> bool:
    """The driver's Start-OurService: a pending stop is waited out (StartService would fail 1056)."""
    scm = host.scm
    start_t = float(params.get("startTimeoutSeconds") or 30)
    stop_t = float(params.get("stopTimeoutSeconds") or start_t)
    if not scm.exists(name):
        raise OpError("SERVICE_NOT_FOUND", f"service {name} does not exist")
    if scm.status(name) == "stop_pending":
        _wait_status(host, name, "stopped", stop_t)
    changed = False
    if scm.status(name) == "stopped":
        scm.start(name)
        changed = True
    _wait_running(host, name, start_t)
    return changed


class _Apply:
    def __init__(self, host, params: dict):
        self.host, self.params = host, params
        self.name = params["name"]
        self.temp: str | None = None
        self.step: str | None = None       # the step running
        self.armed = False                 # a step marked "armsRollback" ran: failures roll back
        self.stopped = False               # a step marked "armsRestart" started: failures start it again
        self.drain: dict | None = None     # what the last stop of our service showed (_wait_drained)

    # each step returns True when it changed the host
    def download(self, s):
        # into the install directory (the driver's comment: a file moved from %TEMP% keeps %TEMP%'s ACL)
        f, target = self.host.files, s["path"]
        parent = target.rsplit("\\", 1)[0]
        if not f.is_dir(parent):
            raise OpError("PATH_NOT_FOUND", f"the install directory of {target} does not exist")
        try:
            data = f.download(s["url"])
        except DownloadError as e:
            # WebException's message, which (unlike Invoke-WebRequest's errors) does not repeat the URL
            why = f"The remote server returned an error: ({e.status})" if e.status else "Unable to connect to the remote server"
            raise OpError("DOWNLOAD_FAILED", f"download of the service binary failed: {why}") from None
        tmp = target + ".winfleet-download"
        f.write(tmp, data)
        got = hashlib.sha256(data).hexdigest()
        if got != s["sha256"].lower():
            f.delete(tmp)
            raise OpError("CHECKSUM_MISMATCH", f"SHA-256 of the downloaded binary is {got}, expected "
                                               f"{s['sha256'].lower()}; nothing was changed")
        self.temp = tmp
        return False  # the temp file is ours and goes away; the host is unchanged so far

    def mkdir(self, s):
        return mkdir_grant(self.host, s)

    def create(self, s):
        # service.apply.ps1's guard: a service of this name with exactly our ImagePath is the one an earlier
        # run of this op created (its response was lost); anything else is refused as before (SERVICE_EXISTS).
        have = self.host.registry.get_value(f"HKLM\\SYSTEM\\CurrentControlSet\\Services\\{self.name}", "ImagePath")
        if self.host.scm.exists(self.name) and have is not None and have[1] == s["imagePath"]:
            return False
        self.host.scm.create(self.name, s["displayName"], s["imagePath"], s["start"], s.get("dependencies") or [],
                             s["account"], s.get("password"))
        return True

    def _stop_ours(self) -> bool:
        drain: dict = {}
        changed = stop_service(self.host, self.name, self.params, self.params.get("readiness"), drain)
        if drain:
            self.drain = drain
        return changed

    def stop(self, s):
        return self._stop_ours()

    def install_binary(self, s):
        f, path = self.host.files, s["path"]
        if self.temp is None:
            raise OpError("HOST_ERROR", "install_binary without a verified download in the same op")
        keep = s.get("previous")           # the old binary stays there until the gate passed
        old = keep or path + ".winfleet-old"
        had_old = f.is_file(path)
        if had_old and f.sha256(path) == f.sha256(self.temp) and not (keep and not f.is_file(keep)):
            # service.apply.ps1's guard: the verified build is already in place (an earlier run of this op
            # whose response was lost swapped it): nothing to move, and a running service keeps running
            f.delete(self.temp)
            self.temp = None
            return False
        if had_old:
            f.move(path, old, replace=True)
        try:
            f.move(self.temp, path)
        except FsError:
            if had_old:
                f.move(old, path)
            raise
        self.temp = None
        if had_old and not keep:
            f.delete(old)
        return True

    def restore_binary(self, s):
        f, path, previous = self.host.files, s["path"], s["previous"]
        if not f.is_file(previous):
            raise OpError("FILE_NOT_FOUND", f"the previous binary {previous} is gone; cannot put it back")
        f.delete(path)
        f.move(previous, path)
        return True

    def config(self, s):
        kw = {k2: s[k1] for k1, k2 in (("displayName", "display_name"), ("imagePath", "image_path"),
                                       ("start", "start"), ("dependencies", "dependencies"),
                                       ("account", "account"), ("password", "password")) if k1 in s}
        self.host.scm.change_config(self.name, **kw)
        return True

    def description(self, s):
        self.host.scm.set_description(self.name, s["value"])
        return True

    def delayed(self, s):
        self.host.scm.set_delayed_autostart(self.name, bool(s["value"]))
        return True

    def sidType(self, s):
        self.host.scm.set_sid_type(self.name, int(s["value"]))
        return True

    def failureActions(self, s):
        self.host.scm.set_failure_actions(self.name, int(s["resetSeconds"]),
                                          [(int(a["type"]), int(a["delayMs"])) for a in s["actions"]])
        return True

    def failureFlag(self, s):
        self.host.scm.set_failure_actions_flag(self.name, bool(s["value"]))
        return True

    def preshutdown(self, s):
        self.host.scm.set_preshutdown_timeout(self.name, int(s["ms"]))
        return True

    def environment(self, s):
        reg, k = self.host.registry, _svc_key(self.host.scm.canonical(self.name))
        if s.get("value"):
            before = reg.get_value(k, "Environment")
            reg.set_value(k, "Environment", "REG_MULTI_SZ", list(s["value"]))
            return before != ("REG_MULTI_SZ", list(s["value"]))
        return reg.delete_value(k, "Environment")

    def eventSource(self, s):
        return set_event_source(self.host, s["logName"], s["source"], s.get("values"))

    def start(self, s):
        return start_service(self.host, self.name, self.params)

    def restart(self, s):
        self._stop_ours()
        start_service(self.host, self.name, self.params)
        return True

    def stopOther(self, s):
        """Stop a (running) dependent of our service before our service stops; restarted by startOther."""
        return stop_service(self.host, s["name"], self.params)

    def startOther(self, s):
        return start_service(self.host, s["name"], self.params)

    def delete(self, s):
        scm = self.host.scm
        if not scm.exists(self.name):
            return False
        self._stop_ours()
        if scm.exists(self.name):
            scm.delete(self.name)
        if scm.exists(self.name):
            raise OpError("SERVICE_MARKED_FOR_DELETE", f"{self.name} is marked for deletion but still exists")
        return True

    def logonRight(self, s):
        # LsaAddAccountRights / LsaRemoveAccountRights of SeServiceLogonRight (the driver reads first), and
        # winfleet's record of a grant it made (HKLM\SOFTWARE\winfleet\LogonRights, like the driver)
        who, grant = s["account"], bool(s["grant"])
        changed = self.host.accounts.set_right(who, "SeServiceLogonRight", grant)
        if changed and grant:
            self.host.registry.set_value(LOGON_RIGHTS_KEY, who.lower(), "REG_SZ", who)
        elif not grant:
            self.host.registry.delete_value(LOGON_RIGHTS_KEY, who.lower())
            self.host.remove_empty_winfleet_key("LogonRights")
        return changed

    def removeFile(self, s):
        return self.host.files.delete(s["path"])

    def writeSecrets(self, s):
        # The driver: File.Create(<path>.tmp, 4096, None, FileSecurity) with a protected DACL of
        # exactly the readers, the UTF-8 content written, then the old file deleted and the new one
        # moved in place (a move within a volume keeps the file's ACL).
        f = self.host.files
        if not f.is_dir(s["path"].rsplit("\\", 1)[0]):
            raise OpError("PATH_NOT_FOUND", f"the folder of {s['path']} does not exist")
        tmp = s["path"] + ".tmp"
        if f.exists(tmp):                  # left by an apply that died: never reuse its DACL
            f.delete(tmp)
        f.create_with_acl(tmp, s["content"].encode("utf-8"), s["readers"])
        if f.exists(s["path"]):
            f.delete(s["path"])
        f.move(tmp, s["path"])
        return True

    def removeDir(self, s):
        return remove_dir_up_to(self.host, s["path"], s.get("upTo"))

    def revoke(self, s):
        f = self.host.files
        return f.is_dir(s["path"]) and f.revoke(s["path"], s["identity"], s.get("sid"))

    def cleanup(self):
        if self.temp and self.host.files.exists(self.temp):
            self.host.files.delete(self.temp)


VERBS = {"download", "mkdir", "create", "stop", "install_binary", "restore_binary", "config", "description",
         "delayed", "sidType", "failureActions", "failureFlag", "preshutdown", "environment", "eventSource", "start",
         "restart", "delete", "removeFile", "removeDir", "revoke", "stopOther", "startOther", "logonRight", "writeSecrets"}


def _run_steps(host, run: _Apply, steps: list, done: list) -> None:
    for step in steps or []:
        verb = step.get("do")
        if verb not in VERBS:
            raise OpError("BAD_PARAMS", f"unknown step {verb!r}")
        run.step = verb
        if step.get("armsRestart"):
            run.stopped = True           # armed before the stop runs, like the driver
        try:
            changed = getattr(run, verb)(step)
        except (ScmError, FsError) as e:
            raise op_error(e, f"{verb} {run.name}") from None
        done.append({"do": verb, "changed": bool(changed)})
        if step.get("armsRollback"):
            run.armed = True
        step_done(host, "service.apply", verb)


def _roll_back(host, run: _Apply, params: dict, failed: str, code: str = "NOT_READY") -> None:
    """The gate (or a step after the binary swap) failed: run the planned rollback, gate the previous
    version, and fail either way (``code``: NOT_READY or the failed step's code)."""
    undone: list = []
    try:
        _run_steps(host, run, params["onNotReady"], undone)
    except OpError as e:
        raise OpError("ROLLBACK_FAILED", f"{failed}; ROLLBACK FAILED after {len(undone)} of "
                                         f"{len(params['onNotReady'])} steps: {e.code}: {e.message}; the host is "
                                         "left between the new and the previous version") from None
    verbs = ", ".join(d["do"] for d in undone)
    ok, again = poll_ready(host, params["readiness"])
    if not ok:
        raise OpError("ROLLBACK_FAILED", f"{failed}; rolled back to the previous version ({verbs}) but it did "
                                         f"not become ready either: {again}")
    raise OpError(code, f"{failed}; rolled back to the previous version ({verbs}), which is ready again")


def _start_again(host, run: _Apply, params: dict, failed: str, code: str) -> None:
    """The driver's Invoke-StartAgain: run the onStopped steps, fail either way."""
    undone: list = []
    try:
        _run_steps(host, run, params["onStopped"], undone)
    except OpError as e:
        raise OpError("ROLLBACK_FAILED", f"{failed}; could not start it again after {len(undone)} of "
                                         f"{len(params['onStopped'])} steps: {e.code}: {e.message}") from None
    raise OpError(code, f"{failed}; started it again ({', '.join(d['do'] for d in undone)})")


@op("service.apply")
def service_apply(host, params: dict) -> dict:
    run = _Apply(host, params)
    done = []
    readiness = None
    try:
        try:
            _run_steps(host, run, params.get("steps"), done)
        except OpError as e:
            if run.armed and params.get("onNotReady"):
                _roll_back(host, run, params, f"step {run.step} failed after the binary swap: {e.code}: {e.message}", e.code)
            if run.stopped and params.get("onStopped"):
                _start_again(host, run, params, f"step {run.step} failed after the service was stopped: "
                                                f"{e.code}: {e.message}", e.code)
            raise
        if params.get("readiness"):
            ok, readiness = poll_ready(host, params["readiness"])
            if not ok and params.get("onNotReady"):
                _roll_back(host, run, params, readiness)
            if not ok:
                raise OpError("NOT_READY", readiness)
        need = params.get("requireAccepts")
        if need and host.scm.exists(run.name) and host.scm.status(run.name) == "running":
            got = host.scm.controls_accepted(run.name)
            if got & int(need) != int(need):
                why = (f"{run.name} does not accept the controls 0x{int(need):x} (QueryServiceStatusEx "
                       f"dwControlsAccepted 0x{got:x}): with a pre-shutdown timeout the program must accept "
                       "SERVICE_CONTROL_PRESHUTDOWN (Go: svc.AcceptPreShutdown in svc.Status.Accepts, handled "
                       "like svc.Stop); or set preshutdownCheck: warn")
                if params.get("onNotReady"):
                    _roll_back(host, run, params, why, "PRESHUTDOWN_NOT_ACCEPTED")
                raise OpError("PRESHUTDOWN_NOT_ACCEPTED", why)
        _run_steps(host, run, params.get("afterReady"), done)
    finally:
        run.cleanup()
    state = read_state(host, {"name": params["name"], "binaryPath": params.get("binaryPath"),
                              "previousPath": params.get("previousPath"), "eventSource": params.get("eventSource"),
                              "dirs": params.get("dirs"), "logonAccount": params.get("logonAccount"),
                              "secretsFile": params.get("secretsFile")})
    state["steps"] = done
    state["readiness"] = readiness
    state["drain"] = run.drain
    return {"changed": any(d["changed"] for d in done), "state": state}

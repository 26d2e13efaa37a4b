"""CrashDumps: WER LocalDumps for one executable and a dump folder its service account can write.

Inputs: ``exeName`` (``api.exe``), ``dumpFolder`` (on the data volume, e.g. ``D:\\dumps\\api``),
``dumpCount`` (1-100; WER's default is 10), ``dumpType`` (``mini`` = 1 | ``full`` = 2), ``account``
(the service account that must be able to write there), ``serviceName`` (optional: the service whose
``Environment`` is checked for ``GOTRACEBACK=wer``).

Why three pieces (windows_domain.md §4.2-4.4; MicrosoftDocs/win32 "Collecting User-Mode Dumps"):
* ``HKLM\\SOFTWARE\\Microsoft\\Windows\\Windows Error Reporting\\LocalDumps\\<exe>``: ``DumpFolder``
  (REG_EXPAND_SZ), ``DumpCount`` (REG_DWORD), ``DumpType`` (REG_DWORD); the per-exe key overrides the
  global one;
* a ``DumpFolder`` whose ACL lets the crashing process write (for ``NT SERVICE\\<svc>`` an explicit
  Modify entry: the default folder would be in the service profile);
* Go only hands a crash to WER with ``GOTRACEBACK=wer`` (Go >= 1.21) in the *service's* environment
  (``Services\\<svc>\\Environment``, set by WindowsService). ``state.goTraceback`` reports what the
  service has, and ``state.warnings`` says when dumps cannot happen (GOTRACEBACK not ``wer``, automatic
  debugging via AeDebug ``Auto=1``, which disables LocalDumps).

Journal key ``CrashDumps/<exe>``; items ``localdumps`` (prior values of the key, or absent) and
``dir:<folder>`` (whether the folder existed, the highest folder we created, the account's prior
explicit entry). Delete restores them exactly.

Cleanup of an old bug (issue 11 item 1): dumps.apply once assigned ``$p`` (PowerShell names ignore case:
that is the params ``$P``), so a run that created the dump folder wrote DumpFolder/DumpCount/DumpType into
the *global* LocalDumps key (dumps for every process on the host) and then failed. The plan recognises
those values by their DumpFolder being this resource's folder (a per-service folder nobody sets as the
host-wide one) and removes them (``cleanGlobal``, compare-and-delete) after journaling them as item
``werglobal`` (so the host records what winfleet removed, before it does). Destroy does not put them back:
they were never the admin's. Other global values are left alone.
"""
from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, field_validator

from ..windows_facts import SERVICE_NAME_RE, exe_name_problem

from .base import HostInputs, HostResource, HostResourceProvider, Refused, redact_environment
from .journal import item_name
from .windows_service import _explicit_ace, account_sid, checked_path

DUMP_TYPES = {"mini": 1, "full": 2}
_SYSTEM = {"localsystem", "nt authority\\system", ".\\localsystem"}
_ACCOUNT_RE = re.compile(r"[^\x00-\x1f\"/\[\]:;|=,+*?<>]{1,256}")


class CrashDumpsInputs(HostInputs):
    exe_name: str
    dump_folder: str
    dump_count: int = Field(default=5, ge=1, le=100)
    dump_type: Literal["mini", "full"] = "mini"
    account: str
    service_name: Optional[str] = None

    @field_validator("exe_name")
    @classmethod
    def _exe(cls, v):
        problem = exe_name_problem(v)     # the stack config's rule (components.windows_facts)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("dump_folder")
    @classmethod
    def _folder(cls, v):
        return checked_path(v)

    @field_validator("account")
    @classmethod
    def _account(cls, v):
        if not _ACCOUNT_RE.fullmatch(v):
            raise ValueError("must be an account name such as NT SERVICE\\api, DOMAIN\\gmsa$ or DOMAIN\\user")
        return v

    @field_validator("service_name")
    @classmethod
    def _svc(cls, v):
        if v is not None and not SERVICE_NAME_RE.fullmatch(v):
            raise ValueError("must be a service name (a letter, then letters, digits, '.', '_', '-')")
        return v

    def values(self) -> dict:
        return {"DumpCount": {"kind": "REG_DWORD", "data": self.dump_count},
                "DumpFolder": {"kind": "REG_EXPAND_SZ", "data": self.dump_folder},
                "DumpType": {"kind": "REG_DWORD", "data": DUMP_TYPES[self.dump_type]}}


BUG_VALUES = ("DumpFolder", "DumpCount", "DumpType")     # what the buggy run wrote into the global key


def stray_global_values(i: "CrashDumpsInputs", glob: dict | None) -> dict:
    """The global LocalDumps values an old winfleet run wrote for this resource (see the module doc):
    all of BUG_VALUES present, when DumpFolder is our folder (REG_EXPAND_SZ, as that run wrote it)."""
    vals = {n.lower(): (n, v) for n, v in (glob or {}).items()}
    folder = vals.get("dumpfolder")
    if folder is None or folder[1].get("kind") != "REG_EXPAND_SZ" \
            or str(folder[1].get("data") or "").rstrip("\\").lower() != i.dump_folder.lower():
        return {}
    return {vals[n.lower()][0]: vals[n.lower()][1] for n in BUG_VALUES if n.lower() in vals}


def _ancestors(path: str) -> list[str]:
    parts = path.split("\\")
    return ["\\".join(parts[:k]) for k in range(2, len(parts) + 1)]


class CrashDumpsProvider(HostResourceProvider):
    kind = "CrashDumps"
    model = CrashDumpsInputs
    replace_keys = ("exeName",)

    def check_inputs(self, i) -> list[tuple[str, str]]:
        if i.dump_folder.upper().startswith("C:\\WINDOWS"):
            return [("dumpFolder", "must not be under C:\\Windows: put dumps on the data volume (e.g. D:\\dumps\\<svc>)")]
        return []

    def journal_scope(self, i) -> str:
        return i.exe_name.lower()

    def item_field(self, i, item) -> str:
        return "exeName"

    def _params(self, i) -> dict:
        return {"exeName": i.exe_name, "dumpFolder": i.dump_folder, "dirs": _ancestors(i.dump_folder),
                "serviceName": i.service_name}

    def read_state(self, host, i) -> dict:
        return self._annotate(host.state("dumps.read", self._params(i)), i)

    @staticmethod
    def _annotate(state: dict, i) -> dict:
        env = state.get("serviceEnvironment")
        tb = None
        for line in env or []:
            k, _, v = line.partition("=")
            if k.upper() == "GOTRACEBACK":
                tb = v
        warnings = []
        if i.service_name is not None and (tb or "").lower() != "wer":
            warnings.append(f"service {i.service_name} has GOTRACEBACK={tb or '(unset)'}: Go crashes reach WER "
                            "only with GOTRACEBACK=wer (Go >= 1.21)")
        if state.get("aeDebugAuto"):
            warnings.append("AeDebug Auto=1 (automatic debugging) is set: WER does not write LocalDumps")
        state["goTraceback"] = tb
        state["warnings"] = warnings
        if env is not None:       # the service's other variables may be secrets (state is a plain output)
            state["serviceEnvironment"] = redact_environment(env)
        return state

    def prior_of(self, i, cur: dict) -> dict:
        dirs = {d["path"].lower(): d for d in cur.get("dirs") or []}
        live = dirs.get(i.dump_folder.lower()) or {"exists": False, "acl": []}
        top = next((p for p in _ancestors(i.dump_folder) if not (dirs.get(p.lower()) or {}).get("exists")), None)
        ld = cur.get("localDumps") or {}
        stray = stray_global_values(i, cur.get("globalValues"))
        extra = {"werglobal": {"removed": stray}} if stray else {}
        return {**extra, "localdumps": {"exeName": i.exe_name, "values": ld.get("values"), "createdFrom": ld.get("missingParent")},
                item_name("dir", i.dump_folder): {"path": i.dump_folder, "exists": bool(live.get("exists")),
                                                  "createdFrom": top, "account": i.account,
                                                  "ace": _explicit_ace(live, i.account)}}

    def plan(self, i, cur: dict) -> list[dict]:
        if not cur.get("driveExists", True):
            raise Refused("dumpFolder", f"drive {i.dump_folder[:2]} does not exist on the host (create the data "
                                        "volume first)")
        steps = []
        stray = stray_global_values(i, cur.get("globalValues"))
        if stray:
            steps.append({"do": "cleanGlobal", "values": stray})
        dirs = {d["path"].lower(): d for d in cur.get("dirs") or []}
        live = dirs.get(i.dump_folder.lower()) or {"exists": False, "acl": []}
        need_ace = i.account.lower() not in _SYSTEM
        ace = _explicit_ace(live, i.account)
        if not live.get("exists") or (need_ace and not (ace and ("Modify" in ace["rights"] or "FullControl" in ace["rights"]))):
            steps.append({"do": "mkdir", "path": i.dump_folder, "grant": i.account if need_ace else None,
                          "sid": account_sid(i.account) if need_ace else None, "rights": "Modify"})
        if (cur.get("localDumps") or {}).get("values") != i.values():
            steps.append({"do": "localDumps", "values": i.values()})
        return steps

    def restore_plan(self, i, prior: dict, cur: dict) -> list[dict]:
        steps = []
        ld = prior.get("localdumps")
        if ld is not None:
            steps.append({"do": "localDumps", "values": ld.get("values"), "exeName": ld.get("exeName"),
                          "upTo": ld.get("createdFrom") if ld.get("values") is None else None})
        for item, p in prior.items():
            if not item.startswith("dir:"):
                continue        # "werglobal": values winfleet wrote by mistake; never put back
            if not p.get("exists"):
                steps.append({"do": "removeDir", "path": p["path"], "upTo": p.get("createdFrom") or p["path"]})
            elif p.get("ace") is None and p.get("account", "").lower() not in _SYSTEM:
                acct = p.get("account") or i.account
                steps.append({"do": "revoke", "path": p["path"], "identity": acct, "sid": account_sid(acct)})
        return steps

    def apply(self, host, i, changes: list[dict], prior: dict) -> dict:
        params = self._params(i)
        params["steps"] = changes
        return self._annotate(host.state("dumps.apply", params, final=True), i)

    def live_inputs(self, i, cur: dict) -> dict:
        out = i.dump()
        vals = (cur.get("localDumps") or {}).get("values") or {}
        out["dumpCount"] = (vals.get("DumpCount") or {}).get("data")
        out["dumpFolder"] = (vals.get("DumpFolder") or {}).get("data")
        dt = (vals.get("DumpType") or {}).get("data")
        out["dumpType"] = {v: k for k, v in DUMP_TYPES.items()}.get(dt, None if dt is None else str(dt))
        return out


class CrashDumps(HostResource, module="winfleet", name="CrashDumps"):
    provider_class = CrashDumpsProvider

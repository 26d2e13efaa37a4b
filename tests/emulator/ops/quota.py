"""Handlers for quota.read and quota.apply (drivers: scripts/ops/quota.read.ps1, quota.apply.ps1).

quota.read  params: {"volume": "D", "accounts": [name]}
  -> state {"volume": {"letter", "exists", "fileSystem", "state", "defaultLimit", "defaultWarning",
                        "logThreshold", "logLimit"},
            "accounts": [{"name", "exists", "admin", "entry": {"warningBytes", "limitBytes", "usedBytes", "explicit"}|null}]}
quota.apply params: {"volume": "D", "changes": [change], "accounts": [name]}
  change: {"do": "setState", "state": "disabled"|"tracked"|"enforced"}
        | {"do": "setEntry", "account", "warningBytes", "limitBytes"}
        | {"do": "removeEntry", "account"}
        | {"do": "setLogging", "logThreshold": bool, "logLimit": bool}   (DiskQuotaControl.LogQuota*)
  -> state as quota.read plus "applied": [{"do", "changed"}]
The driver uses the DiskQuotaControl COM object (QuotaState, enumeration, AddUser/DeleteUser,
QuotaThreshold/QuotaLimit), whose results are numbers, not localized text. Like the driver, these
handlers find an account's record by enumerating the quota records (``Storage.quota_records``):
``Storage.find_user`` models FindUser, which answers for every account with the volume defaults.
"""
from __future__ import annotations

from tests.emulator.ops import OpError, op
from tests.emulator.ops.svc_support import step_done
from tests.emulator.windows.storage import StorageError


def _letter(params) -> str:
    v = params.get("volume") if isinstance(params, dict) else None
    if not isinstance(v, str) or len(v) != 1 or not v.isalpha():
        raise OpError("INVALID_PARAMS", "volume must be a drive letter")
    return v.upper()


def read_quota(host, letter: str, accounts: list[str]) -> dict:
    st = host.storage
    try:
        vol = st.volume(letter)
    except StorageError:
        return {"volume": {"letter": letter, "exists": False}, "accounts": []}
    info = {"letter": letter, "exists": True, "fileSystem": vol["fileSystem"]}
    if vol["fileSystem"] == "NTFS":
        info.update(st.quota(letter))
    out = []
    for name in accounts:
        exists = host.accounts.exists(name)
        rec = _record(host, letter, name) if exists and vol["fileSystem"] == "NTFS" else None
        entry = None
        if rec is not None:
            entry = {"warningBytes": rec["warningBytes"], "limitBytes": rec["limitBytes"],
                     "usedBytes": rec["usedBytes"], "explicit": True}
        out.append({"name": name, "exists": exists, "admin": exists and host.accounts.is_admin(name), "entry": entry})
    return {"volume": info, "accounts": out}


def _record(host, letter: str, account: str) -> dict | None:
    """Get-QuotaRecord (scripts/lib/quota.ps1): the account's record among the enumerated ones, else None."""
    key = host.storage._owner(account).lower()
    return next((r for r in host.storage.quota_records(letter) if r["account"].lower() == key), None)


def _accounts(params) -> list[str]:
    a = params.get("accounts") or []
    if not isinstance(a, list) or not all(isinstance(x, str) and x for x in a):
        raise OpError("INVALID_PARAMS", "accounts must be a list of account names")
    return a


@op("quota.read")
def quota_read(host, params: dict) -> dict:
    return {"changed": False, "state": read_quota(host, _letter(params), _accounts(params))}


@op("quota.apply")
def quota_apply(host, params: dict) -> dict:
    letter = _letter(params)
    changes = params.get("changes")
    if not isinstance(changes, list):
        raise OpError("INVALID_PARAMS", "changes must be a list")
    st = host.storage
    applied = []
    for ch in changes:
        do = ch.get("do") if isinstance(ch, dict) else None
        try:
            if do == "setState":
                changed = st.set_quota_state(letter, ch["state"])
            elif do == "setEntry":
                if not host.accounts.exists(ch["account"]):
                    raise OpError("ACCOUNT_NOT_FOUND", f"No mapping between account names and security IDs was done: {ch['account']}")
                added = _record(host, letter, ch["account"]) is None
                changed = st.set_entry(letter, ch["account"], ch["warningBytes"], ch["limitBytes"]) or added
            elif do == "removeEntry":
                rec = _record(host, letter, ch["account"]) if host.accounts.exists(ch["account"]) else None
                changed = rec is not None and st.remove_entry(letter, ch["account"])
            elif do == "setLogging":
                changed = st.set_quota_logging(letter, ch["logThreshold"], ch["logLimit"])
            else:
                raise OpError("INVALID_PARAMS", f"unknown quota change {do!r}")
        except StorageError as exc:
            raise OpError(exc.code, exc.message) from None
        except (KeyError, TypeError) as exc:
            raise OpError("INVALID_PARAMS", f"{do}: missing or bad {exc}") from None
        applied.append({"do": do, "changed": changed})
        step_done(host, "quota.apply", do)
    state = read_quota(host, letter, _accounts(params))
    state["applied"] = applied
    return {"changed": any(a["changed"] for a in applied), "state": state}

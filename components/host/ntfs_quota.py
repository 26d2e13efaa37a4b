"""NtfsQuota: per-account NTFS quota (warning threshold + limit) on a volume, plus volume tracking.

Inputs: ``connection``, ``volume`` ("D:"), ``account`` (e.g. ``NT SERVICE\\api``), ``warningBytes``,
``limitBytes``, ``budgetBytes`` (the log + dump budget the limit must cover), ``enforce`` (bool).

Windows semantics (windows_domain.md §6): quotas are charged to the file owner; members of
Administrators (and so LocalSystem, whose files are owned by Administrators) are exempt, so a quota
for them would be a silent no-op. We refuse such accounts: statically in ``check`` for the well-known
names, and at apply time for any account the host reports as an administrator.

Several NtfsQuota resources share a volume (one per service account). Journal: ``NtfsQuota/<X>:``
holds the item ``volume`` (prior quota state; every NtfsQuota on the volume holds it, with its
``enforce`` claim) and one item ``entry:<account>`` per account (prior entry, or "no entry").
The first NtfsQuota on a volume records the volume's prior state, the last one deleted restores it;
each one restores its own account's entry. The volume is enforced while any holder asks for
enforcement (or it was enforced before winfleet), tracked otherwise.

Quota events: the warning threshold only tells anyone something if NTFS logs it. Every NtfsQuota
switches on the volume's ``LogQuotaThreshold`` and ``LogQuotaLimit`` (DiskQuotaControl:
https://learn.microsoft.com/en-us/windows/win32/shell/diskquotacontrol-logquotathreshold, .../diskquotacontrol-logquotalimit;
off on a fresh volume), recorded in the ``volume`` item's prior and restored by the last holder. NTFS then
writes to the **System** log, provider ``Ntfs``: event **36** when an account goes over its warning
threshold (IO_FILE_QUOTA_THRESHOLD, 0x40040024) and **37** when it reaches its limit (IO_FILE_QUOTA_LIMIT,
0x40040025; message ids from the WDK's ntiologc.h, the event id is the low word). Logging switched off
behind our back shows as drift of ``warningBytes`` (the threshold without its event).

Ops: ``quota.read`` {volume, accounts} and ``quota.apply`` {volume, changes, accounts}.
"""
from __future__ import annotations

import re

from pydantic import Field, field_validator

from .base import HostInputs, HostResource, HostResourceProvider, Refused
from .journal import item_name

VOLUME_RE = re.compile(r"[D-Zd-z]:?")
# DOMAIN\name or name; characters Windows forbids in account names are refused ("/\[]:;|=,+*?<>"),
# as are control characters. The backslash is only the domain separator.
_ACCOUNT_PART = r"[^\x00-\x1f\"/\\\[\]:;|=,+*?<>]{1,256}"
ACCOUNT_RE = re.compile(rf"(?:{_ACCOUNT_PART}\\)?{_ACCOUNT_PART}")
# Accounts Windows exempts from quotas (Administrators, and LocalSystem which writes as Administrators).
LOG_FLAGS = ("logThreshold", "logLimit")      # DiskQuotaControl.LogQuotaThreshold / LogQuotaLimit
EXEMPT = {"localsystem", "system", "nt authority\\system", ".\\localsystem", "administrators",
          "builtin\\administrators", "administrator", ".\\administrator"}


class NtfsQuotaInputs(HostInputs):
    volume: str
    account: str
    warning_bytes: int = Field(ge=1)
    limit_bytes: int = Field(ge=1)
    budget_bytes: int = Field(default=0, ge=0)
    enforce: bool = True

    @field_validator("volume")
    @classmethod
    def _volume(cls, v: str) -> str:
        if not VOLUME_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a data volume drive letter: use 'D:' to 'Z:' "
                             "(quotas on C:, where the OS, WER and the event logs live, are not supported)")
        return v[0].upper() + ":"

    @field_validator("account")
    @classmethod
    def _account(cls, v: str) -> str:
        if v != v.strip() or not ACCOUNT_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a Windows account name (DOMAIN\\name or NT SERVICE\\<service>; "
                             "no quotes, control characters or any of / [ ] : ; | = , + * ? < >)")
        if v.lower() in EXEMPT:
            raise ValueError(f"{v} is exempt from NTFS quotas (Windows never limits Administrators, and "
                             "LocalSystem's files are owned by Administrators); run the service as its "
                             "virtual account NT SERVICE\\<service> and put the quota on that")
        return v


class NtfsQuotaProvider(HostResourceProvider):
    kind = "NtfsQuota"
    model = NtfsQuotaInputs
    replace_keys = ("volume", "account")

    def journal_scope(self, inputs) -> str:
        return inputs.volume

    def identity(self, inputs) -> str:
        return f"{inputs.volume}{inputs.account.lower()}"

    @staticmethod
    def _entry_item(account: str) -> str:
        return item_name("entry", account)

    def check_inputs(self, inputs) -> list[tuple[str, str]]:
        out = []
        if inputs.warning_bytes > inputs.limit_bytes:
            out.append(("warningBytes", f"{inputs.warning_bytes} is above limitBytes ({inputs.limit_bytes}); "
                                        "the warning threshold must not exceed the limit"))
        if inputs.limit_bytes < inputs.budget_bytes:
            out.append(("limitBytes", f"{inputs.limit_bytes} does not cover budgetBytes ({inputs.budget_bytes}), "
                                      "the log + crash-dump budget of the service; raise limitBytes to at "
                                      f"least {inputs.budget_bytes} or shrink the budget"))
        return out

    def claims(self, inputs) -> dict:
        return {"volume": {"enforce": inputs.enforce}, self._entry_item(inputs.account): True}

    def shareable(self, item, mine, theirs) -> bool:
        """Every NtfsQuota on a volume holds ``volume`` (enforced while any asks): safe to co-own across
        stacks. An account's entry belongs to one owner."""
        return item == "volume"

    def item_field(self, inputs, item) -> str:
        return "volume" if item == "volume" else "account"

    # ---- Get --------------------------------------------------------------------------------
    def read_state(self, host, inputs) -> dict:
        return host.state("quota.read", {"volume": inputs.volume[0], "accounts": [inputs.account]})

    @staticmethod
    def _account(current: dict, account: str) -> dict:
        for a in current.get("accounts", []):
            if a["name"].lower() == account.lower():
                return a
        return {"name": account, "exists": False, "admin": False, "entry": None}

    def prior_of(self, inputs, current) -> dict:
        vol = current.get("volume") or {}
        if not vol.get("exists") or vol.get("fileSystem") != "NTFS":
            return {}
        acct = self._account(current, inputs.account)
        entry = acct.get("entry")
        # A record holding the volume defaults is what NTFS adds by itself for an account that writes while
        # quotas are on ("automatic user addition", FindUserName remarks): e.g. a service that logged before
        # its quota was set. Restoring it means no record of ours, the same limits as the defaults.
        defaults = (vol.get("defaultWarning"), vol.get("defaultLimit"))
        prior_entry = {"account": inputs.account, "exists": bool(
            entry and entry.get("explicit") and (entry["warningBytes"], entry["limitBytes"]) != defaults)}
        if prior_entry["exists"]:
            prior_entry.update(warningBytes=entry["warningBytes"], limitBytes=entry["limitBytes"])
        prior_vol = {"state": vol["state"]}
        for flag in LOG_FLAGS:
            if flag in vol:
                prior_vol[flag] = bool(vol[flag])
        return {"volume": prior_vol, self._entry_item(inputs.account): prior_entry}

    # ---- Test -------------------------------------------------------------------------------
    def plan_in_context(self, inputs, current, ctx) -> list[dict]:
        vol = current.get("volume") or {}
        if not vol.get("exists"):
            raise Refused("volume", f"there is no volume {inputs.volume} on the host (create it with a DataVolume first)")
        if vol.get("fileSystem") != "NTFS":
            raise Refused("volume", f"{inputs.volume} is {vol.get('fileSystem')}; NTFS quotas need an NTFS volume")
        acct = self._account(current, inputs.account)
        if not acct["exists"]:
            raise Refused("account", f"{inputs.account} does not exist on the host (a virtual account "
                                     "NT SERVICE\\<svc> exists once its service is installed)")
        if acct["admin"]:
            raise Refused("account", f"{inputs.account} is an administrator on the host; Windows exempts "
                                     "administrators from NTFS quotas, so this quota would never apply. Run the "
                                     "service as a non-admin account such as NT SERVICE\\<service>")
        changes = []
        entry = acct.get("entry")
        if not (entry and entry.get("explicit") and entry["warningBytes"] == inputs.warning_bytes
                and entry["limitBytes"] == inputs.limit_bytes):
            changes.append({"do": "setEntry", "account": inputs.account,
                            "warningBytes": inputs.warning_bytes, "limitBytes": inputs.limit_bytes})
        others_enforce = any((c or {}).get("enforce") for c in ctx.others.get("volume", {}).values())
        prior_state = (ctx.prior.get("volume") or {}).get("state")
        want = "enforced" if (inputs.enforce or others_enforce or prior_state == "enforced") else "tracked"
        if vol["state"] != want:
            changes.append({"do": "setState", "state": want})
        if not all(vol.get(flag) is True for flag in LOG_FLAGS):
            changes.append({"do": "setLogging", "logThreshold": True, "logLimit": True})
        return changes

    def restore_plan(self, inputs, prior, current) -> list[dict]:
        changes = []
        for item, p in sorted(prior.items()):
            if not item.startswith("entry:"):
                continue
            acct = self._account(current, p["account"])
            entry = acct.get("entry")
            if p["exists"]:
                if not (entry and entry.get("explicit") and entry["warningBytes"] == p["warningBytes"]
                        and entry["limitBytes"] == p["limitBytes"]):
                    changes.append({"do": "setEntry", "account": p["account"],
                                    "warningBytes": p["warningBytes"], "limitBytes": p["limitBytes"]})
            elif entry and entry.get("explicit"):
                if entry.get("usedBytes", 0) > 0:
                    # Windows keeps an entry while the account owns files: fall back to the volume defaults.
                    vol = current.get("volume") or {}
                    changes.append({"do": "setEntry", "account": p["account"],
                                    "warningBytes": vol.get("defaultWarning", -1), "limitBytes": vol.get("defaultLimit", -1)})
                else:
                    changes.append({"do": "removeEntry", "account": p["account"]})
        if "volume" in prior:
            vol = current.get("volume") or {}
            flags = {f: prior["volume"][f] for f in LOG_FLAGS if f in prior["volume"]}  # older entries lack them
            if vol.get("exists") and flags and any(vol.get(f) != v for f, v in flags.items()):
                changes.append({"do": "setLogging", **{f: flags.get(f, bool(vol.get(f))) for f in LOG_FLAGS}})
            if vol.get("exists") and vol.get("state") != prior["volume"]["state"]:
                changes.append({"do": "setState", "state": prior["volume"]["state"]})
        return changes

    def plan_after_release(self, inputs, current, ctx) -> list[dict]:
        """Our NtfsQuota goes away but others on the volume remain: stop enforcing if nobody else
        asks for it (and the volume was not enforced before winfleet)."""
        vol = current.get("volume") or {}
        if "volume" not in ctx.others or not vol.get("exists"):
            return []
        wants = any((c or {}).get("enforce") for c in ctx.others["volume"].values())
        prior_state = (ctx.prior.get("volume") or {}).get("state")
        want = "enforced" if (wants or prior_state == "enforced") else "tracked"
        return [{"do": "setState", "state": want}] if vol.get("state") != want else []

    # ---- Set --------------------------------------------------------------------------------
    def apply(self, host, inputs, changes, prior) -> dict:
        accounts = sorted({inputs.account} | {c["account"] for c in changes if "account" in c}, key=str.lower)
        state = host.state("quota.apply", {"volume": inputs.volume[0], "changes": changes, "accounts": accounts},
                           final=True)
        state.pop("applied", None)
        return state

    def live_inputs(self, inputs, current) -> dict:
        out = inputs.dump()
        vol = current.get("volume") or {}
        entry = self._account(current, inputs.account).get("entry")
        if entry:
            out["warningBytes"] = entry["warningBytes"]
            out["limitBytes"] = entry["limitBytes"]
        if vol.get("exists") and vol.get("logThreshold") is not True:
            out["warningBytes"] = None       # the threshold fires no event: drift (an update switches it back on)
        state = vol.get("state") if vol.get("exists") else None
        if state == "disabled" or state is None:
            out["enforce"] = None            # quotas off (or volume gone): drift whatever we asked for
        elif inputs.enforce and state != "enforced":
            out["enforce"] = False
        # tracked/enforced while we only ask for tracking: another NtfsQuota may enforce; not drift
        return out


class NtfsQuota(HostResource, module="winfleet", name="NtfsQuota"):
    """``NtfsQuota(name, {"connection", "volume", "account", "warningBytes", "limitBytes", "budgetBytes", "enforce"}, opts)``."""

    provider_class = NtfsQuotaProvider

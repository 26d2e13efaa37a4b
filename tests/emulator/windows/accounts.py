"""Accounts the host knows, and which of them are administrators; user rights ("Log on as a service").

Windows exempts members of BUILTIN\\Administrators (and so LocalSystem) from NTFS quotas.

Virtual service accounts (``NT SERVICE\\<svc>``) exist only while their service does: LookupAccountName
converts a service name to its SID ("Use the LookupAccountName and LookupAccountSid functions to convert
between a service name and a service SID", https://learn.microsoft.com/en-us/windows/win32/api/winsvc/ns-winsvc-service_sid_info),
so ``NTAccount.Translate`` / ``FindUserName`` fail with ERROR_NONE_MAPPED for a service that is not (or no
longer) registered. The SID itself is computable before (SHA-1 of the upper-cased name: what ``sc.exe
showsid`` prints), which is why ACLs granted by SID work before the service exists and name lookups do not.

SeServiceLogonRight ("Log on as a service", learn.microsoft.com/windows/security/threat-protection/
security-policy-settings/log-on-as-a-service): on member servers the default holder is
``NT SERVICE\\ALL SERVICES`` (every virtual service account); LocalSystem, LocalService and NetworkService
are the SCM's own logons. A domain user or gMSA holds it only once it is assigned
(LsaAddAccountRights; CreateService/ChangeServiceConfig do not assign it), and the SCM's start fails with
ERROR_SERVICE_LOGON_FAILED 1069 without it. ``rights`` are the direct assignments (LsaEnumerateAccountRights).
"""
from __future__ import annotations

BUILTIN_ADMINS = {"nt authority\\system", "builtin\\administrators", "localsystem"}


class Accounts:
    def __init__(self, host_name: str, service_exists=None):
        self.host_name = host_name
        # name -> bool: is a service of that name registered? (the SCM); None: no SCM, no virtual accounts
        self._service_exists = service_exists
        # lower name -> {"name": display, "admin": bool}
        self._accounts = {
            "nt authority\\system": {"name": "NT AUTHORITY\\SYSTEM", "admin": True},
            "nt authority\\localservice": {"name": "NT AUTHORITY\\LocalService", "admin": False},
            "nt authority\\networkservice": {"name": "NT AUTHORITY\\NetworkService", "admin": False},
            "builtin\\administrators": {"name": "BUILTIN\\Administrators", "admin": True},
            f"{host_name.lower()}\\winfleetadmin": {"name": f"{host_name}\\winfleetadmin", "admin": True},
        }
        self.rights: dict[str, set[str]] = {}      # lower account -> directly assigned user rights

    _IMPLICIT_LOGON = ("localsystem", ".\\localsystem", "nt authority\\system", "nt authority\\localservice",
                       "nt authority\\networkservice", "")

    def has_right(self, name: str, right: str) -> bool:
        n = name.lower()
        if right == "SeServiceLogonRight" and (n in self._IMPLICIT_LOGON or n.startswith("nt service\\")):
            return True
        return right.lower() in {r.lower() for r in self.rights.get(n, set())}

    def set_right(self, name: str, right: str, held: bool) -> bool:
        """LsaAddAccountRights / LsaRemoveAccountRights of a direct assignment; True when it changed."""
        got = self.rights.setdefault(name.lower(), set())
        had = right in got
        (got.add if held else got.discard)(right)
        if not got:
            self.rights.pop(name.lower(), None)
        return had != held

    def add(self, name: str, admin: bool = False) -> None:
        self._accounts[name.lower()] = {"name": name, "admin": admin}

    def remove(self, name: str) -> None:
        self._accounts.pop(name.lower(), None)

    def exists(self, name: str) -> bool:
        n = name.lower()
        if n.startswith("nt service\\"):
            svc = n.split("\\", 1)[1]
            return bool(svc) and self._service_exists is not None and bool(self._service_exists(svc))
        return n in self._accounts

    def is_admin(self, name: str) -> bool:
        n = name.lower()
        if n in BUILTIN_ADMINS:
            return True
        return bool(self._accounts.get(n, {}).get("admin"))

    def state(self) -> dict:
        out = {v["name"]: {"admin": v["admin"]} for _k, v in sorted(self._accounts.items())}
        for k, rights in sorted(self.rights.items()):
            out.setdefault(k, {})["rights"] = sorted(rights)
        return out

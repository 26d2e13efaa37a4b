"""Accounts the host knows, and which of them are administrators.

Windows exempts members of BUILTIN\\Administrators (and so LocalSystem) from NTFS quotas;
virtual service accounts (``NT SERVICE\\<svc>``) exist once their service exists.
"""
from __future__ import annotations

BUILTIN_ADMINS = {"nt authority\\system", "builtin\\administrators", "localsystem"}


class Accounts:
    def __init__(self, host_name: str):
        self.host_name = host_name
        # lower name -> {"name": display, "admin": bool}
        self._accounts = {
            "nt authority\\system": {"name": "NT AUTHORITY\\SYSTEM", "admin": True},
            "nt authority\\localservice": {"name": "NT AUTHORITY\\LocalService", "admin": False},
            "nt authority\\networkservice": {"name": "NT AUTHORITY\\NetworkService", "admin": False},
            "builtin\\administrators": {"name": "BUILTIN\\Administrators", "admin": True},
            f"{host_name.lower()}\\winfleetadmin": {"name": f"{host_name}\\winfleetadmin", "admin": True},
        }

    def add(self, name: str, admin: bool = False) -> None:
        self._accounts[name.lower()] = {"name": name, "admin": admin}

    def remove(self, name: str) -> None:
        self._accounts.pop(name.lower(), None)

    def exists(self, name: str) -> bool:
        n = name.lower()
        return n in self._accounts or n.startswith("nt service\\")

    def is_admin(self, name: str) -> bool:
        n = name.lower()
        if n in BUILTIN_ADMINS:
            return True
        return bool(self._accounts.get(n, {}).get("admin"))

    def state(self) -> dict:
        return {v["name"]: {"admin": v["admin"]} for _k, v in sorted(self._accounts.items())}

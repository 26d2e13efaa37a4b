"""The slice of the Windows registry our ops touch.

Key paths and value names are case-insensitive but case-preserving, as on Windows.
Values are (kind, data) with kind one of REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ (list of str),
REG_DWORD (int), REG_QWORD (int), REG_BINARY (bytes as hex str).

``/`` is an ordinary character in a key name ("Key names cannot include the backslash character (\\),
but any other printable character can be used", https://learn.microsoft.com/en-us/windows/win32/sysinfo/structure-of-the-registry):
event-log channels such as ``WINEVT\\Channels\\Microsoft-Windows-PowerShell/Operational`` are one key.
That is the view of the Win32 API and of Microsoft.Win32.Registry (these methods). PowerShell's
registry provider (Test-Path, Get-Item, Get-ItemProperty, New-Item ... on ``HKLM:\\``) splits paths on
``/`` as well, even with -LiteralPath (PowerShell/PowerShell#5536, PowerShell/PSDscResources#68):
``provider_path`` gives the key such a cmdlet opens instead.
"""
from __future__ import annotations

import copy

KINDS = {"REG_SZ", "REG_EXPAND_SZ", "REG_MULTI_SZ", "REG_DWORD", "REG_QWORD", "REG_BINARY"}


def _norm(path: str) -> str:
    return path.strip("\\").lower()


def provider_path(path: str) -> str:
    """The key PowerShell's registry provider opens for ``path`` (``/`` taken as a separator; see above)."""
    return path.replace("/", "\\")


class Registry:
    def __init__(self):
        # normalised key path -> (display path, {lower value name: (display name, kind, data)})
        self._keys: dict[str, tuple[str, dict[str, tuple[str, str, object]]]] = {}

    def key_exists(self, path: str) -> bool:
        return _norm(path) in self._keys

    def create_key(self, path: str) -> None:
        parts = path.strip("\\").split("\\")
        for i in range(1, len(parts) + 1):
            sub = "\\".join(parts[:i])
            self._keys.setdefault(_norm(sub), (sub, {}))

    def delete_key(self, path: str) -> None:
        """Delete a key and its subkeys (Remove-Item -Recurse)."""
        prefix = _norm(path)
        for k in [k for k in self._keys if k == prefix or k.startswith(prefix + "\\")]:
            del self._keys[k]

    def delete_key_if_empty(self, path: str) -> bool:
        """Delete a key that exists and has no values and no subkeys (the check winfleet's drivers make
        under their lock before RegDeleteKey, which would otherwise delete the values too)."""
        norm = _norm(path)
        key = self._keys.get(norm)
        if key is None or key[1] or self.subkeys(path):
            return False
        del self._keys[norm]
        return True

    def subkeys(self, path: str) -> list[str]:
        prefix = _norm(path) + "\\"
        depth = prefix.count("\\")
        return sorted(disp.split("\\")[-1] for k, (disp, _) in self._keys.items()
                      if k.startswith(prefix) and k.count("\\") == depth)

    def set_value(self, path: str, name: str, kind: str, data) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown registry value kind {kind!r}")
        if kind == "REG_MULTI_SZ":
            data = list(data)
        self.create_key(path)
        self._keys[_norm(path)][1][name.lower()] = (name, kind, data)

    def get_value(self, path: str, name: str, default=None):
        """Return (kind, data) or ``default`` when the key or value is missing."""
        key = self._keys.get(_norm(path))
        if key is None or name.lower() not in key[1]:
            return default
        _disp, kind, data = key[1][name.lower()]
        return kind, copy.deepcopy(data)

    def delete_value(self, path: str, name: str) -> bool:
        key = self._keys.get(_norm(path))
        if key is None:
            return False
        return key[1].pop(name.lower(), None) is not None

    def values(self, path: str) -> dict[str, tuple[str, object]]:
        key = self._keys.get(_norm(path))
        if key is None:
            return {}
        return {disp: (kind, copy.deepcopy(data)) for disp, kind, data in key[1].values()}

    def state(self) -> dict:
        return {disp: {vdisp: {"kind": kind, "data": copy.deepcopy(data)}
                       for vdisp, kind, data in sorted(vals.values())}
                for _k, (disp, vals) in sorted(self._keys.items())}

"""Files and directories of the emulated host, with owners, ACL entries and content hashes.

Faithful where winfleet depends on behaviour:
* paths are case-insensitive and case-preserving; ``/`` and ``\\`` are the same separator;
* a file in use by a running service (its image) cannot be replaced, moved or deleted
  (ERROR_SHARING_VIOLATION 32), as Windows locks a mapped executable; renaming a *different*
  file over it fails the same way;
* a new file or directory inherits its parent's ACL entries (``inherited: true``); explicit
  entries are added with ``grant``. An entry with ``"appliesTo": "folders"`` (icacls ``(CI)`` without
  ``(OI)``) is inherited by subfolders only, never by files; ``CREATOR OWNER`` becomes the new entry's
  owner. ``C:\\Windows\\Temp`` has its real ACL (``icacls C:\\Windows\\Temp`` on Windows Server:
  SYSTEM and Administrators (OI)(CI)F, BUILTIN\\Users (CI)(S,WD,AD,X), CREATOR OWNER (OI)(CI)(IO)F), so a
  file an administrator creates there is readable by SYSTEM and Administrators only;
* **a move keeps the file's ACL** (MoveFileEx within a volume moves the entry, its security descriptor
  included; inherited entries are not re-derived from the new parent: "When you move a file or folder
  within an NTFS volume, the file or folder retains its original permissions",
  learn.microsoft.com/troubleshoot/windows-client/windows-security/permissions-on-copying-moving-files);
* ``can_read_execute(path, identities)``: whether one of the identities (an account and its groups) has an
  Allow entry with read+execute (ReadAndExecute, Modify or FullControl) and no Deny entry; the SCM refuses
  to start a service whose account cannot read and execute its image;
* a path whose drive does not exist fails with ERROR_PATH_NOT_FOUND 3. ``C:`` exists from the start;
  ``add_drive`` adds one; and a formatted volume of the storage model (``host.storage``, DataVolume)
  is a drive too: its root appears when the volume does and everything on it goes when it goes.

Downloads: ``downloads`` maps a URL to the bytes a GET returns (or to an int HTTP status for a
failing URL); tests control it. ``download(url)`` is what a driver's ``Invoke-WebRequest`` sees.

Protected files (the secrets file): ``create_with_acl`` models ``File.Create(path, bufferSize, options,
FileSecurity)``, which creates the file with exactly the given DACL; a protected DACL
(``SetAccessRuleProtection($true, $false)``) inherits nothing from the folder
(https://learn.microsoft.com/dotnet/api/system.security.accesscontrol.objectsecurity.setaccessruleprotection).
``read_as(path, account, groups)`` is an access check: only an Allow entry for the account (or one of
its groups) with read rights grants a read; no matching entry means ERROR_ACCESS_DENIED (a DACL
denies whatever it does not grant: "How DACLs Control Access to an Object",
https://learn.microsoft.com/windows/win32/secauthz/how-dacls-control-access-to-an-object).

ACLs are written two ways, as on Windows: ``grant``/``revoke`` change the DACL only
(``DirectoryInfo.GetAccessControl('Access')`` + ``SetAccessControl``: only the Access section is written),
``set_acl`` writes the whole descriptor ``Get-Acl`` read, owner included (``Set-Acl``), which fails with
ERROR_INVALID_OWNER 1307 when the owner is SYSTEM or TrustedInstaller: an elevated administrator may not
assign those without SeRestorePrivilege enabled ("The security identifier is not allowed to be the owner
of this object": ansible/ansible#20553 for C:\\Program Files, dsccommunity/xSystemSecurity#11).

Junctions (directory reparse points, ``junction``): any account with write access to a directory can
plant one in it (mklink /J needs no privilege). ``delete(recurse=True)`` is a delete that never follows
reparse points (a junction inside the tree is removed as a link, its target untouched: RemoveDirectory on
a reparse point removes the point, https://learn.microsoft.com/en-us/windows/win32/fileio/reparse-points).
``delete_following_junctions`` is what Windows PowerShell 5.1's ``Remove-Item -Recurse -Force`` does: it
enumerates *through* a junction and deletes the target's contents (PowerShell/PowerShell#621, fixed only in
PowerShell 6). Paths are not resolved through junctions otherwise (a path below a junction is not looked up
in its target).

Simplifications: one owner string per entry, ACL entries are (identity, rights, type) without
inheritance flags, no alternate data streams, no short names, no symbolic links or mount points.
"""
from __future__ import annotations

import hashlib
import time

ADMINS = "BUILTIN\\Administrators"
_DEFAULT_ACL = [
    {"identity": "NT AUTHORITY\\SYSTEM", "rights": "FullControl", "type": "Allow"},
    {"identity": ADMINS, "rights": "FullControl", "type": "Allow"},
    {"identity": "BUILTIN\\Users", "rights": "ReadAndExecute", "type": "Allow"},
]


# Owners an elevated administrator cannot (re)assign without SeRestorePrivilege (module docstring).
UNASSIGNABLE_OWNERS = {"nt authority\\system", "nt service\\trustedinstaller"}


class FsError(Exception):
    def __init__(self, code: int, detail: str):
        names = {2: "ERROR_FILE_NOT_FOUND", 3: "ERROR_PATH_NOT_FOUND", 5: "ERROR_ACCESS_DENIED",
                 32: "ERROR_SHARING_VIOLATION", 145: "ERROR_DIR_NOT_EMPTY", 183: "ERROR_ALREADY_EXISTS",
                 123: "ERROR_INVALID_NAME", 267: "ERROR_DIRECTORY", 80: "ERROR_FILE_EXISTS",
                 1307: "ERROR_INVALID_OWNER"}
        self.code = code
        self.symbol = names.get(code, f"WIN32_{code}")
        super().__init__(f"{self.symbol} ({code}): {detail}")


class DownloadError(Exception):
    def __init__(self, url: str, status: int | None, detail: str = ""):
        self.url, self.status = url, status
        super().__init__(f"GET {url}: " + (f"HTTP {status}" if status else detail or "no response"))


def _norm(path: str) -> str:
    p = path.replace("/", "\\")
    while "\\\\" in p[1:]:
        p = p[0] + p[1:].replace("\\\\", "\\")
    if len(p) == 2 and p[1] == ":":
        p += "\\"
    if len(p) > 3 and p.endswith("\\"):
        p = p.rstrip("\\")
    # Win32 path normalisation trims trailing periods and spaces: "api." and "api " open "api"
    # (https://learn.microsoft.com/en-us/dotnet/standard/io/file-path-formats#trim-characters)
    head, _, rest = p.partition("\\")
    if rest:
        p = head + "\\" + "\\".join(seg.rstrip(". ") or seg for seg in rest.split("\\"))
    return p.lower()


# CON, NUL, COM1 ... (also with an extension) are devices, never files or folders (Naming Files, Paths,
# and Namespaces: https://learn.microsoft.com/en-us/windows/win32/fileio/naming-a-file). What
# CreateDirectory does with one is not documented: strict, it fails with ERROR_INVALID_NAME here.
_DEVICES = {"con", "prn", "aux", "nul"} | {f"{d}{n}" for d in ("com", "lpt") for n in "123456789\u00b9\u00b2\u00b3"}


def _check_name(path: str) -> None:
    for seg in path.replace("/", "\\").split("\\")[1:]:
        if seg.split(".")[0].rstrip(" ").lower() in _DEVICES:
            raise FsError(123, f"{path}: the filename, directory name, or volume label syntax is incorrect")


def _parent(path: str) -> str | None:
    p = path.replace("/", "\\").rstrip("\\")
    if len(p) <= 2:
        return None
    head = p.rsplit("\\", 1)[0]
    return head + "\\" if len(head) == 2 else head


class FileSystem:
    def __init__(self):
        self.host = None          # set by the SCM (which has the host): lets drives follow host.storage
        self._e: dict[str, dict] = {}
        self._locked: dict[str, float | None] = {}    # path -> released at (time.monotonic), None = held
        self.downloads: dict[str, bytes | int] = {}
        self.download_log: list[str] = []
        self.add_drive("C")
        for d in (r"C:\Windows", r"C:\Windows\Temp", r"C:\Windows\System32", r"C:\ProgramData", r"C:\Program Files"):
            self.mkdir(d)
        self._e[_norm(r"C:\Windows\Temp")]["acl"] = [
            {"identity": "NT AUTHORITY\\SYSTEM", "rights": "FullControl", "type": "Allow", "inherited": False},
            {"identity": ADMINS, "rights": "FullControl", "type": "Allow", "inherited": False},
            {"identity": "BUILTIN\\Users", "rights": "Traverse, CreateFiles, AppendData, Synchronize", "type": "Allow",
             "inherited": False, "appliesTo": "folders"},
            {"identity": "CREATOR OWNER", "rights": "FullControl", "type": "Allow", "inherited": False,
             "appliesTo": "children"}]

    # --- queries -----------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        self._auto_root(path)
        return _norm(path) in self._e and self.drive_exists(path[:1])

    def is_file(self, path: str) -> bool:
        self._auto_root(path)
        e = self._e.get(_norm(path)) if self.drive_exists(path[:1]) else None
        return bool(e and e["type"] == "file")

    def is_dir(self, path: str) -> bool:
        self._auto_root(path)
        e = self._e.get(_norm(path)) if self.drive_exists(path[:1]) else None
        return bool(e and e["type"] == "dir")

    def drive_exists(self, letter: str) -> bool:
        root = self._e.get(_norm(letter[:1] + ":\\"))
        if root is not None and not root.get("auto"):
            return True
        return self._storage_has(letter)

    def _storage_has(self, letter: str) -> bool:
        storage = getattr(self.host, "storage", None)
        if storage is None or not hasattr(storage, "volume"):
            return False
        try:
            return storage.volume(letter[:1]) is not None
        except Exception:
            return False

    def _auto_root(self, path: str) -> None:
        """Materialise the root of a storage-model volume the first time a path on it is used."""
        if len(path) >= 2 and path[1] == ":":
            root = _norm(path[:2] + "\\")
            if root not in self._e and self._storage_has(path[:1]):
                self._e[root] = {"path": path[:1].upper() + ":\\", "type": "dir", "owner": ADMINS, "auto": True,
                                 "acl": [dict(a, inherited=False) for a in _DEFAULT_ACL]}
            elif root in self._e and self._e[root].get("auto") and not self._storage_has(path[:1]):
                self.remove_drive(path[:1])

    def read(self, path: str) -> bytes:
        e = self._file(path)
        return e["data"]

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.read(path)).hexdigest()

    def owner(self, path: str) -> str:
        return self._entry(path)["owner"]

    def acl(self, path: str) -> list[dict]:
        return [dict(a) for a in self._entry(path)["acl"]]

    def children(self, path: str) -> list[str]:
        base = _norm(path)
        prefix = base if base.endswith("\\") else base + "\\"
        return sorted(e["path"] for k, e in self._e.items()
                      if k.startswith(prefix) and "\\" not in k[len(prefix):] and k != base)

    def is_locked(self, path: str) -> bool:
        return self._held(_norm(path))

    def _held(self, n: str) -> bool:
        if n not in self._locked:
            return False
        until = self._locked[n]
        if until is not None and time.monotonic() >= until:
            del self._locked[n]
            return False
        return True

    # --- changes -----------------------------------------------------------------------------
    def add_drive(self, letter: str, owner: str = ADMINS) -> None:
        root = letter[:1].upper() + ":\\"
        self._e.setdefault(_norm(root), {"path": root, "type": "dir", "owner": owner,
                                         "acl": [dict(a, inherited=False) for a in _DEFAULT_ACL]})

    def remove_drive(self, letter: str) -> None:
        prefix = letter[:1].lower() + ":\\"
        for k in [k for k in self._e if k.startswith(prefix)]:
            del self._e[k]

    def mkdir(self, path: str, owner: str = ADMINS) -> bool:
        """Create a directory and missing parents; returns True when something was created."""
        _check_name(path)
        self._auto_root(path)
        n = _norm(path)
        if n in self._e:
            if self._e[n]["type"] != "dir":
                raise FsError(183, f"{path} exists and is a file")
            return False
        parent = _parent(path)
        if parent is None:
            raise FsError(3, f"drive of {path} does not exist")
        if not self.exists(parent):
            self.mkdir(parent, owner)
        elif not self.is_dir(parent):
            raise FsError(267, f"{parent} is not a directory")
        self._e[n] = {"path": path.replace("/", "\\").rstrip("\\"), "type": "dir", "owner": owner,
                      "acl": self._inherit(parent, owner, folder=True)}
        return True

    def write(self, path: str, data: bytes, owner: str = ADMINS) -> None:
        _check_name(path)
        parent = _parent(path)
        if parent is None or not self.is_dir(parent):
            raise FsError(3, f"parent of {path} does not exist")
        n = _norm(path)
        if self._held(n):
            raise FsError(32, f"{path} is in use")
        old = self._e.get(n)
        if old and old["type"] == "dir":
            raise FsError(5, f"{path} is a directory")
        self._e[n] = {"path": path.replace("/", "\\"), "type": "file", "owner": old["owner"] if old else owner,
                      "acl": old["acl"] if old else self._inherit(parent, owner, folder=False), "data": bytes(data)}

    def junction(self, path: str, target: str, owner: str = ADMINS) -> None:
        """mklink /J path target: a directory entry that points elsewhere (see the module docstring)."""
        parent = _parent(path)
        if parent is None or not self.is_dir(parent):
            raise FsError(3, f"parent of {path} does not exist")
        if _norm(path) in self._e:
            raise FsError(183, f"{path} exists")
        self._e[_norm(path)] = {"path": path.replace("/", "\\").rstrip("\\"), "type": "dir", "owner": owner,
                                "acl": self._inherit(parent), "reparse": target}

    def is_junction(self, path: str) -> bool:
        e = self._e.get(_norm(path))
        return bool(e and e.get("reparse"))

    def delete_following_junctions(self, path: str) -> bool:
        """Windows PowerShell 5.1 ``Remove-Item -Recurse -Force`` (PowerShell/PowerShell#621): the contents of
        every junction met on the way are deleted in the junction's *target*, then the tree itself."""
        n = _norm(path)
        if n not in self._e:
            return False
        e = self._e[n]
        if e.get("reparse"):
            for child in self.children(e["reparse"]):
                self.delete_following_junctions(child)
            del self._e[n]
            return True
        for child in self.children(path):
            self.delete_following_junctions(child)
        return self.delete(path, recurse=True)

    def delete(self, path: str, recurse: bool = False) -> bool:
        n = _norm(path)
        if n not in self._e:
            return False
        # entries below a junction live under its target, not under n: a junction is removed as a link
        sub = [k for k in self._e if k.startswith(n.rstrip("\\") + "\\")]
        if sub and not recurse:
            raise FsError(145, f"{path} is not empty")
        for k in sub + [n]:
            if self._held(k):
                raise FsError(32, f"{self._e[k]['path']} is in use")
        for k in sub + [n]:
            del self._e[k]
        return True

    def move(self, src: str, dst: str, replace: bool = False) -> None:
        """MoveFileEx (files only): fails on a locked source or destination."""
        s, d = _norm(src), _norm(dst)
        e = self._file(src)
        if self._held(s) or self._held(d):
            raise FsError(32, f"{src} -> {dst}: in use")
        if d in self._e and not replace:
            raise FsError(183, f"{dst} exists")
        parent = _parent(dst)
        if parent is None or not self.is_dir(parent):
            raise FsError(3, f"parent of {dst} does not exist")
        del self._e[s]
        self._e[d] = dict(e, path=dst.replace("/", "\\"))

    def grant(self, path: str, identity: str, rights: str, sid: str | None = None) -> bool:
        """Add (or replace) the explicit Allow entry of ``identity``; False when an equal one exists.
        ``sid`` is kept with the entry (an ACE is stored by SID on Windows)."""
        e = self._entry(path)
        for a in e["acl"]:
            if not a["inherited"] and self._same(a, identity, sid) and a["rights"] == rights:
                return False
        e["acl"] = [a for a in e["acl"] if a["inherited"] or not self._same(a, identity, sid)]
        ace = {"identity": identity, "rights": rights, "type": "Allow", "inherited": False}
        if sid:
            ace["sid"] = sid
        e["acl"].append(ace)
        return True

    @staticmethod
    def _same(ace: dict, identity: str | None, sid: str | None) -> bool:
        return bool((identity and ace["identity"].lower() == identity.lower()) or (sid and ace.get("sid") == sid))

    def revoke(self, path: str, identity: str, sid: str | None = None) -> bool:
        e = self._entry(path)
        before = len(e["acl"])
        e["acl"] = [a for a in e["acl"] if a["inherited"] or not self._same(a, identity, sid)]
        return len(e["acl"]) != before

    def create_with_acl(self, path: str, data: bytes, acl: list[dict], owner: str = ADMINS) -> None:
        """File.Create with a FileSecurity: a new file (it must not exist) whose DACL is exactly ``acl``
        ([{identity, sid?, rights}], Allow), protected: nothing inherited from the folder."""
        parent = _parent(path)
        if parent is None or not self.is_dir(parent):
            raise FsError(3, f"parent of {path} does not exist")
        n = _norm(path)
        if n in self._e:
            raise FsError(80, f"{path} exists")            # FileMode.CreateNew semantics: never reuse an ACL
        entries = []
        for a in acl:
            ace = {"identity": a["identity"], "rights": a["rights"], "type": "Allow", "inherited": False}
            if a.get("sid"):
                ace["sid"] = a["sid"]
            entries.append(ace)
        self._e[n] = {"path": path.replace("/", "\\"), "type": "file", "owner": owner, "acl": entries,
                      "protected": True, "data": bytes(data)}

    def is_protected(self, path: str) -> bool:
        return bool(self._entry(path).get("protected"))

    _READ_RIGHTS = ("Read", "ReadAndExecute", "Modify", "FullControl", "ReadData")

    def read_as(self, path: str, account: str, groups: tuple = (), sid: str | None = None) -> bytes:
        """The file's bytes for ``account`` (and its ``groups``): ERROR_ACCESS_DENIED unless an Allow entry
        names one of them (by name or SID) with read rights."""
        e = self._file(path)
        names = {account.lower(), *(g.lower() for g in groups)}
        for a in e["acl"]:
            if a.get("type", "Allow") != "Allow":
                continue
            who = a["identity"].lower() in names or (sid is not None and a.get("sid") == sid)
            if who and any(r in a["rights"] for r in self._READ_RIGHTS):
                return e["data"]
        raise FsError(5, f"{account} may not read {path}")

    def get_acl(self, path: str) -> dict:
        """Get-Acl: the whole descriptor (owner + DACL)."""
        e = self._entry(path)
        return {"owner": e["owner"], "acl": [dict(a) for a in e["acl"]]}

    def set_acl(self, path: str, sd: dict) -> None:
        """Set-Acl -AclObject <what Get-Acl read>: writes the owner as well as the DACL (module docstring)."""
        e = self._entry(path)
        if sd["owner"].lower() in UNASSIGNABLE_OWNERS:
            raise FsError(1307, f"{path}: The security identifier is not allowed to be the owner of this object")
        e["owner"], e["acl"] = sd["owner"], [dict(a) for a in sd["acl"]]

    def set_owner(self, path: str, owner: str) -> None:
        self._entry(path)["owner"] = owner

    def set_locked(self, path: str, locked: bool, for_seconds: float | None = None) -> None:
        """Hold (or release) the sharing lock of a mapped image; ``for_seconds``: held that much longer, then
        released by itself (a process that has reported SERVICE_STOPPED but not yet exited)."""
        n = _norm(path)
        if locked:
            self._locked[n] = None if for_seconds is None else time.monotonic() + for_seconds
        else:
            self._locked.pop(n, None)

    # --- downloads ---------------------------------------------------------------------------
    def download(self, url: str) -> bytes:
        self.download_log.append(url)
        got = self.downloads.get(url)
        if got is None:
            raise DownloadError(url, 404)
        if isinstance(got, int):
            raise DownloadError(url, got)
        return bytes(got)

    # --- internals ---------------------------------------------------------------------------
    def _entry(self, path: str) -> dict:
        self._auto_root(path)
        e = self._e.get(_norm(path))
        if e is None:
            raise FsError(2, f"{path} not found")
        return e

    def _file(self, path: str) -> dict:
        e = self._entry(path)
        if e["type"] != "file":
            raise FsError(5, f"{path} is a directory")
        return e

    def _inherit(self, parent: str, owner: str = ADMINS, folder: bool = True) -> list[dict]:
        out = []
        for a in self._entry(parent)["acl"]:
            if a.get("appliesTo") == "folders" and not folder:
                continue
            a = {k: v for k, v in a.items() if k != "appliesTo" or v == "folders"}
            if a["identity"] == "CREATOR OWNER":
                a["identity"] = owner
            out.append(dict(a, inherited=True))
        return out

    def can_read_execute(self, path: str, identities: set[str]) -> bool:
        ids = {i.lower() for i in identities}
        acl = self._entry(path)["acl"]

        def match(a):
            return a["identity"].lower() in ids or (a.get("sid") or "").lower() in ids
        if any(match(a) and a["type"] == "Deny" for a in acl):
            return False
        return any(match(a) and a["type"] == "Allow" and a.get("appliesTo") is None
                   and any(r in a["rights"] for r in ("ReadAndExecute", "Modify", "FullControl")) for a in acl)

    def state(self) -> dict:
        out = {}
        for k, e in sorted(self._e.items()):
            if e.get("auto") or not self.drive_exists(k[:1]):
                continue          # a storage volume's root (and a volume that is gone) is storage's business
            item = {"type": e["type"], "owner": e["owner"], "acl": [dict(a) for a in e["acl"]]}
            if e.get("protected"):
                item["protected"] = True
            if e.get("reparse"):
                item["junction"] = e["reparse"]
            if e["type"] == "file":
                item["sha256"] = hashlib.sha256(e["data"]).hexdigest()
                item["size"] = len(e["data"])
            out[e["path"]] = item
        return out

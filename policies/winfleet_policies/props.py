"""Reading resource properties the way the engine hands them to a policy pack.

What a policy sees (pulumi-policy 1.21, see docs/policies.md "How props arrive"):
* engine (camelCase) property names: ``intervalInSeconds``, ``preshutdownTimeoutSeconds``;
* dicts and lists wrapped by ``unknown_checking_proxy``: ``Mapping``/``Sequence`` but *not* ``dict``/``list``;
  reading a value that is unknown at preview raises ``UnknownValueError``;
* every number as a ``float`` (properties travel as ``google.protobuf.Struct``): ``8080`` arrives as ``8080.0``;
* secrets unwrapped (``Analyze`` deserializes with ``proxy_secrets=False``); the pack's secret hook
  (``secrets.py``) keeps the secret-ness of strings as a ``str`` subclass.

The helpers here never raise ``UnknownValueError``: a value unknown at preview comes back as ``UNKNOWN``
and each rule skips the check that needs it (and checks everything else). Missing values come back as
the caller's default.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Iterable, Optional

from pulumi_policy.proxy import UnknownValueError, _is_unknown


class _Unknown:
    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:  # an unknown is never "truthy enough" to pass or fail a check
        return False


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or _is_unknown(value)


def _split(path) -> list:
    if isinstance(path, (list, tuple)):
        return list(path)
    return [p for p in str(path).split(".") if p != ""]


def get(props: Any, path, default: Any = None) -> Any:
    """``get(props, "osProfile.windowsConfiguration.winRM")``; integer parts index lists.

    Returns ``default`` when a step is missing or not a container, ``UNKNOWN`` when a step is unknown.
    """
    cur = props
    for part in _split(path):
        if is_unknown(cur):
            return UNKNOWN
        try:
            if isinstance(cur, Mapping):
                if part not in cur:
                    return default
                cur = cur[part]
            elif isinstance(cur, Sequence) and not isinstance(cur, (str, bytes)):
                idx = int(part)
                if idx >= len(cur) or idx < -len(cur):
                    return default
                cur = cur[idx]
            else:
                return default
        except UnknownValueError:
            return UNKNOWN
        except (ValueError, TypeError, KeyError, IndexError):
            return default
    if is_unknown(cur):
        return UNKNOWN
    return default if cur is None else cur


def items(value: Any) -> list:
    """A list (or proxied Sequence) as a plain list of its known elements; unknown → ``UNKNOWN``."""
    if is_unknown(value):
        return UNKNOWN  # type: ignore[return-value]
    if value is None or isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        return []
    out = []
    for i in range(len(value)):
        try:
            out.append(value[i])
        except UnknownValueError:
            out.append(UNKNOWN)
    return out


def mapping(value: Any) -> Mapping:
    if isinstance(value, Mapping):
        return value
    return {}


def num(value: Any, default: Optional[float] = None):
    """A number (engine floats, ints, numeric strings) as int when integral, else float; ``UNKNOWN`` kept."""
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, (int, float)):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return default
    else:
        return default
    return int(f) if f.is_integer() else f


def text(value: Any, default: str = "") -> Any:
    if is_unknown(value):
        return UNKNOWN
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def truthy(value: Any) -> Any:
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def config(args: Any, key: str, default: Any) -> Any:
    """Policy config with a fallback: the CLI applies schema defaults, unit tests and old CLIs may not."""
    try:
        cfg = args.get_config() or {}
    except Exception:  # noqa: BLE001 - a policy must still run without config
        cfg = {}
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else default
    return default if value is None else value


def config_num(args: Any, key: str, default: float):
    value = num(config(args, key, default), default)
    return default if value is UNKNOWN or value is None else value


def config_list(args: Any, key: str, default: Iterable) -> list:
    value = config(args, key, list(default))
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return list(default)
    return list(value)


def host_of(props: Any) -> Any:
    """The logical host a host resource targets: ``connection.hostName`` (falls back to ``connection.host``)."""
    name = get(props, "connection.hostName")
    if name is None:
        name = get(props, "connection.host")
    return name if is_unknown(name) else (str(name).lower() if name is not None else None)


def norm_account(account: Any) -> Any:
    if is_unknown(account) or account is None:
        return account
    a = str(account).strip().lower()
    if a.startswith(".\\"):
        a = a[2:]
    return a


def drive_of(path: Any) -> Any:
    """``"D:\\logs\\api"`` → ``"D"``; no drive letter → ``None``."""
    if is_unknown(path) or not isinstance(path, str):
        return UNKNOWN if is_unknown(path) else None
    p = path.strip()
    if len(p) >= 2 and p[1] == ":" and p[0].isalpha():
        return p[0].upper()
    return None


def port_in_range(port: int, spec: Any) -> Any:
    """Does an NSG port spec (``"*"``, ``"5986"``, ``"5000-6000"``) cover ``port``?"""
    if is_unknown(spec):
        return UNKNOWN
    if spec is None:
        return False
    s = str(spec).strip()
    if s in ("*", "any", "Any"):
        return True
    if "-" in s:
        lo, _, hi = s.partition("-")
        try:
            return int(lo) <= port <= int(hi)
        except ValueError:
            return False
    try:
        return int(float(s)) == port
    except ValueError:
        return False


def type_is(resource_type: str, *names: str) -> bool:
    return resource_type in names

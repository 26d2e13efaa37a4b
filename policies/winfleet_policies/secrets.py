"""Keep the secret-ness of string properties visible to policies.

pulumi-policy 1.21 ``Analyze``/``AnalyzeStack`` deserialize properties with ``proxy_secrets=False``: a value the
engine sent as a secret (``{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": v}``)
reaches the policy as the bare ``v``, so no policy can tell ``adminPassword="hunter2"`` from
``adminPassword=pulumi.Output.secret("hunter2")``. (Only ``Remediate`` wraps secrets in ``Secret``.)

``install()`` wraps ``pulumi_policy.policy.deserialize_properties`` (the name ``Analyze``/``AnalyzeStack`` look up
at call time) so that strings inside a secret become ``SecretStr`` — a ``str`` subclass: every other policy reads
it as the plain string it is, and ``is_secret()`` can tell. The wrapper is installed once per process, is a no-op
for ``Remediate`` (``proxy_secrets=True``), and ``installed()`` lets the secret policy report "not applicable"
instead of false violations if a future SDK renames the function.
"""
from __future__ import annotations

from typing import Any

SPECIAL_SIG_KEY = "4dabf18193072939515e22adb298388d"
SPECIAL_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"


class SecretStr(str):
    """A string that was a Pulumi secret on the wire."""

    def __repr__(self) -> str:  # never print the value
        return "SecretStr('[secret]')"


def is_secret(value: Any) -> bool:
    return isinstance(value, SecretStr)


def _mark(value: Any) -> Any:
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return _mark(value.get("value"))
        return {k: _mark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v) for v in value]
    return value


def mark_secrets(value: Any) -> Any:
    """Replace secret envelopes in wire-form (JSON) properties by their values, strings marked ``SecretStr``."""
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG:
            return _mark(mark_secrets(value.get("value")))
        return {k: mark_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mark_secrets(v) for v in value]
    return value


def installed() -> bool:
    import pulumi_policy.policy as pp

    return bool(getattr(pp.deserialize_properties, "_winfleet_secret_hook", False))


def install() -> bool:
    """Install the hook (idempotent). Returns whether it is active."""
    import pulumi_policy.policy as pp

    original = getattr(pp, "deserialize_properties", None)
    if original is None:
        return False
    if getattr(original, "_winfleet_secret_hook", False):
        return True

    def deserialize_properties(props, proxy_secrets: bool = False):
        if proxy_secrets:
            return original(props, True)
        return original(mark_secrets(props))

    deserialize_properties._winfleet_secret_hook = True  # type: ignore[attr-defined]
    pp.deserialize_properties = deserialize_properties
    return True

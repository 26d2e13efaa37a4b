"""The harness itself: the provider host starts the way `pulumi up` starts it and unpickles our
providers by reference to `components` (no PYTHONPATH, cwd = project root)."""
import base64
import os

import dill

from components.host.event_log_settings import EventLogSettingsProvider
from tests.providers.harness import ROOT, ProviderHost, is_secret, secret, unwrap


def test_provider_pickles_by_reference_and_holds_nothing():
    from pulumi.dynamic.dynamic import serialize_provider
    raw = base64.b64decode(serialize_provider(EventLogSettingsProvider()))
    assert b"components.host.event_log_settings" in raw
    assert len(raw) < 400, "the provider must pickle by reference (a class name and an empty dict)"
    assert vars(dill.loads(raw)) == {}


def test_host_imports_components_without_pythonpath(provider_host):
    assert provider_host.proc.args[1:] == ["-u", "-m", "pulumi.dynamic"]
    env = open(f"/proc/{provider_host.proc.pid}/environ", "rb").read().split(b"\0")
    assert not any(e.startswith(b"PYTHONPATH=") for e in env)
    assert os.readlink(f"/proc/{provider_host.proc.pid}/cwd") == str(ROOT)
    res = provider_host.resource(EventLogSettingsProvider())
    inputs, failures = res.check({"connection": {"host": "h"}, "logs": []})
    # the provider was found and ran (it validated our inputs): import by reference works
    assert {p for p, _ in failures} >= {"logs", "connection.username"}


def test_host_fails_without_project_root_on_path(tmp_path):
    """Control: started from elsewhere, the host cannot import `components` (so the test above means something)."""
    with ProviderHost(cwd=tmp_path) as ph:
        res = ph.resource(EventLogSettingsProvider())
        try:
            res.check({"logs": []})
        except Exception as exc:  # ProviderError carrying the host's traceback
            assert "components" in str(exc)
        else:
            raise AssertionError("a provider host outside the project root imported components")


def test_secret_helpers():
    s = secret({"a": secret("x")})
    assert is_secret(s) and unwrap(s) == {"a": "x"}

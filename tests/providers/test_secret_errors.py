"""Issue 12 item 7: a connection that no longer validates must not put the password into the error.

Delete and read parse the resource's stored properties; when the ``connection`` in state no longer
validates (e.g. a certSha256 edited by hand, a trust anchor removed), pydantic's ValidationError used to
print ``input_value={... 'password': '...'}`` through the provider host into the engine's error."""
from __future__ import annotations

import pytest

from components.host.event_log_settings import EventLogSettingsProvider
from components.host.windows_service import WindowsServiceProvider
from tests.providers.conftest import connection
from tests.providers.harness import ProviderError

PASSWORD = "Pl4nted-Secret-Pw-7f3a"


def broken_connections(host):
    good = dict(connection(host), password=PASSWORD)
    no_trust = {k: v for k, v in good.items() if k not in ("caPem", "certSha256")}
    yield "no trust anchor", no_trust
    yield "bad fingerprint", dict(no_trust, certSha256=PASSWORD)
    yield "bad port", dict(good, port=PASSWORD)
    yield "unknown key", dict(good, passwrd=PASSWORD)


@pytest.mark.parametrize("provider", [WindowsServiceProvider, EventLogSettingsProvider])
@pytest.mark.parametrize("call", ["delete", "read"])
def test_broken_connection_errors_hide_the_password(provider_host, lab, provider, call):
    res = provider_host.resource(provider())
    for label, conn in broken_connections(lab.hosts[0]):
        props = {"connection": conn, "serviceName": "api", "logs": []}
        with pytest.raises(ProviderError) as ei:
            if call == "delete":
                res.delete("id", props)
            else:
                res.read("id", props)
        details = ei.value.details
        assert PASSWORD not in details, (label, details)
        assert "connection" in details, (label, details)       # the error still says what is wrong
    assert PASSWORD not in provider_host.stderr

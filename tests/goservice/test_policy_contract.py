"""service-stop-contract: what the pack can check of the Go service's contract from the inputs alone."""
from __future__ import annotations

from tests.policies import harness as h
from tests.policies import stacks as s


def svc(env: dict | None = None, **over):
    base = s.service()[2]["environment"]
    return s.service(environment={**base, **(env or {})}, **over)


def test_consistent_environment_passes():
    res = h.run_resource("service-stop-contract", svc({"WINFLEET_PORT": "8080", "WINFLEET_HEALTH_PATH": "/healthz",
                                                       "WINFLEET_READINESS_PATH": "/readyz",
                                                       "WINFLEET_DRAIN_SECONDS": "25"}))
    assert res.messages == []


def test_environment_that_disagrees_with_the_gate_is_refused():
    res = h.run_resource("service-stop-contract", svc({"WINFLEET_PORT": "9090", "WINFLEET_READINESS_PATH": "/ready"}))
    assert res.has("WINFLEET_PORT=9090", "port is 8080") and res.has("WINFLEET_READINESS_PATH=/ready")
    assert len(res.messages) == 2


def test_drain_longer_than_the_preshutdown_timeout_is_refused():
    res = h.run_resource("service-stop-contract", svc({"WINFLEET_DRAIN_SECONDS": "40"}))
    assert res.has("WINFLEET_DRAIN_SECONDS=40", "preshutdownTimeoutSeconds=30")


def test_preshutdown_check_warn_only_when_the_organisation_forbids_it():
    warn = svc(preshutdownCheck="warn")
    assert h.run_resource("service-stop-contract", warn).messages == []
    res = h.run_resource("service-stop-contract", warn, config={"allowPreshutdownCheckWarn": False})
    assert res.has("preshutdownCheck is 'warn'")

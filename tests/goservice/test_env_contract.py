"""The environment contract between winfleet (components.sizing / config) and the Go service (goservice/)."""
from __future__ import annotations

import os
import re

import pytest

from components import sizing
from components.config import ConfigError, parse_config
from tests.goservice.conftest import ROOT

GO_CONFIG = os.path.join(ROOT, "goservice", "internal", "refsvc", "config.go")


def go_reads() -> set[str]:
    src = open(GO_CONFIG).read()
    return set(re.findall(r'"(WINFLEET_[A-Z_]+)"', src))


def test_the_go_service_reads_every_variable_winfleet_sets_and_no_other_winfleet_name():
    # WINFLEET_SECRETS_FILE is set by the secrets feature, not by sizing; the service reads it too
    assert go_reads() == set(sizing.RESERVED_ENV) | {"WINFLEET_SECRETS_FILE"}


def test_service_environment_sets_the_http_and_drain_variables():
    env = sizing.service_environment({"APP": "x"}, log_dir=r"D:\logs\api", log_max_size_bytes=1 << 20, log_max_files=4,
                                     dumps_enabled=True, service="api", port=8080, health_path="/healthz",
                                     readiness_path="/readyz", drain_seconds=25, event_source="api")
    assert env == {"APP": "x", "GOTRACEBACK": "wer", "WINFLEET_DRAIN_SECONDS": "25", "WINFLEET_EVENT_SOURCE": "api",
                   "WINFLEET_HEALTH_PATH": "/healthz", "WINFLEET_LOG_DIR": r"D:\logs\api",
                   "WINFLEET_LOG_MAX_FILES": "4", "WINFLEET_LOG_MAX_SIZE_BYTES": "1048576", "WINFLEET_PORT": "8080",
                   "WINFLEET_READINESS_PATH": "/readyz"}
    with pytest.raises(sizing.SizingError, match="set port instead"):
        sizing.service_environment({"winfleet_port": "9"}, log_dir="D:\\l", log_max_size_bytes=1 << 20,
                                   log_max_files=1, dumps_enabled=False, port=8080)


def _raw(env: dict | None = None, **lb) -> dict:
    return {"mode": "azure", "azure": {"location": "westeurope"}, "winrm": {"allowedSources": ["203.0.113.4"]},
            "loadBalancer": lb, "services": [{"name": "api", "port": 8080, "readinessPath": "/ready",
                                               "binary": {"url": "https://x.example.com/api.exe", "sha256": "A" * 64},
                                               "environment": env or {}}]}


def test_the_config_sets_every_variable_and_drain_from_the_load_balancer():
    cfg = parse_config(_raw(probeIntervalSeconds=5, unhealthyThreshold=3, drainSeconds=10))
    env = cfg.services[0].effective_environment
    assert env["WINFLEET_DRAIN_SECONDS"] == "25"                 # 5 x 3 + 10: detection time + drain allowance
    assert env["WINFLEET_PORT"] == "8080" and env["WINFLEET_READINESS_PATH"] == "/ready"
    assert env["WINFLEET_HEALTH_PATH"] == "/healthz" and env["WINFLEET_EVENT_SOURCE"] == "api"
    assert cfg.services[0].preshutdown_check == "refuse"


@pytest.mark.parametrize("name,key", [("WINFLEET_PORT", "services[0].port"),
                                      ("winfleet_drain_seconds", "winfleet:loadBalancer"),
                                      ("WINFLEET_LOG_DIR", "services[0].logs.directory")])
def test_setting_a_winfleet_variable_yourself_is_a_config_error_naming_the_key(name, key):
    with pytest.raises(ConfigError) as e:
        parse_config(_raw({name: "1"}))
    text = str(e.value)
    assert f"winfleet:services[0].environment.{name}" in text and key in text


def test_preshutdown_check_is_refuse_or_warn():
    raw = _raw()
    raw["services"][0]["preshutdownCheck"] = "ignore"
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert "preshutdownCheck" in str(e.value)

"""Sizing rules: log/dump budget, quota, pre-shutdown, environment composition, roll-out batches."""
import itertools
import math

import pytest

from components import sizing
from components.sizing import MIB, SizingError


def test_log_budget_is_size_times_files():
    for size, files in itertools.product([1, 10 * MIB, 123_457], [1, 3, 10]):
        assert sizing.log_budget_bytes(size, files) == size * files


@pytest.mark.parametrize("size,files", [(0, 5), (-1, 5), (MIB, 0), (MIB, -2)])
def test_log_budget_rejects_non_positive(size, files):
    with pytest.raises(SizingError):
        sizing.log_budget_bytes(size, files)


def test_dump_budget_off_is_zero_on_is_count_times_size():
    assert sizing.dump_budget_bytes(False, 5, 64 * MIB) == 0
    assert sizing.dump_budget_bytes(True, 5, 64 * MIB) == 5 * 64 * MIB
    with pytest.raises(SizingError):
        sizing.dump_budget_bytes(True, 0, 64 * MIB)


@pytest.mark.parametrize("log_b,dump_b,headroom,pct", list(itertools.product(
    [1, MIB - 1, 100 * MIB, 7 * MIB + 3], [0, 64 * MIB, 5], [1.0, 1.1, 1.25, 2.0, 3.7], [1, 80, 100, None])))
def test_quota_never_below_budget_and_scaled_by_headroom(log_b, dump_b, headroom, pct):
    q = sizing.quota_sizing(log_b, dump_b, headroom, pct)
    budget = log_b + dump_b
    assert q.budget_bytes == budget
    assert q.limit_bytes >= budget
    assert budget * headroom <= q.limit_bytes < budget * headroom + 1
    assert 1 <= q.warning_bytes <= q.limit_bytes
    if pct is None:
        assert q.warning_bytes == budget  # crossing the planned budget is the warning
    else:
        assert abs(q.warning_bytes - q.limit_bytes * pct / 100) <= 1
    assert q.as_inputs() == {"budgetBytes": budget, "warningBytes": q.warning_bytes, "limitBytes": q.limit_bytes}


def test_quota_agrees_with_the_config_disk_check():
    """The config validation sizes the data disk with WinfleetConfig.quota_limit_bytes: same rule."""
    from components.config import parse_config
    cfg = parse_config({"mode": "existingHosts", "existingHosts": [
        {"name": "h0", "host": "10.0.0.4", "username": "u", "password": "p", "certSha256": "ab" * 32}],
        "quota": {"headroom": 1.3},
        "services": [{"name": "api", "port": 8080, "binary": {"url": "https://x.example/api.exe", "sha256": "0" * 64},
                      "logs": {"maxFileSizeMb": 7, "maxFiles": 3}, "crashDumps": {"count": 2}}]})
    s = cfg.services[0]
    q = sizing.quota_sizing(sizing.log_budget_bytes(s.logs.max_file_size_mb * MIB, s.logs.max_files),
                            sizing.dump_budget_bytes(s.crash_dumps.enabled, s.crash_dumps.count,
                                                     s.crash_dumps.size_estimate_mb * MIB),
                            cfg.quota.headroom)
    assert q.budget_bytes == s.disk_budget_bytes
    assert q.limit_bytes == cfg.quota_limit_bytes(s) >= q.budget_bytes * 1.3


@pytest.mark.parametrize("headroom", [0.99, 0, -1, float("nan"), "2", True])
def test_quota_rejects_headroom_below_one(headroom):
    with pytest.raises(SizingError, match="headroom"):
        sizing.quota_sizing(MIB, 0, headroom)


def test_quota_rejects_empty_budget():
    with pytest.raises(SizingError):
        sizing.quota_sizing(0, 0, 1.5)


@pytest.mark.parametrize("interval,threshold,drain", list(itertools.product([5, 15], [2, 3], [0, 10, 30])))
def test_preshutdown_requirement_is_detection_plus_drain(interval, threshold, drain):
    need = sizing.required_preshutdown_seconds(interval, threshold, drain)
    assert need == interval * threshold + drain
    assert sizing.preshutdown_problem("api", need, interval, threshold, drain) is None
    assert sizing.preshutdown_problem("api", need + 60, interval, threshold, drain) is None
    problem = sizing.preshutdown_problem("api", need - 1, interval, threshold, drain)
    assert problem is not None
    # the message names the service, the detection time and the value to use
    assert "'api'" in problem and f"at least {need}" in problem and f"= {interval * threshold}s" in problem


def test_service_environment_composes_user_logs_and_gotraceback():
    env = sizing.service_environment({"APP_MODE": "prod", "GOMEMLIMIT": "1GiB"}, log_dir=r"D:\logs\api",
                                     log_max_size_bytes=10 * MIB, log_max_files=5, dumps_enabled=True)
    assert env["APP_MODE"] == "prod" and env["GOMEMLIMIT"] == "1GiB"
    assert env[sizing.ENV_LOG_DIR] == r"D:\logs\api"
    assert int(env[sizing.ENV_LOG_MAX_SIZE]) == 10 * MIB
    assert int(env[sizing.ENV_LOG_MAX_FILES]) == 5
    assert env["GOTRACEBACK"] == "wer"
    # sorted case-insensitively, like the SCM merges it
    assert list(env) == sorted(env, key=str.upper)


def test_service_environment_without_dumps_keeps_user_traceback_or_defaults_to_all():
    kw = dict(log_dir="D:\\l", log_max_size_bytes=MIB, log_max_files=2, dumps_enabled=False)
    assert sizing.service_environment({}, **kw)["GOTRACEBACK"] == "all"
    assert sizing.service_environment({"GOTRACEBACK": "single"}, **kw)["GOTRACEBACK"] == "single"


def test_service_environment_rejects_traceback_that_prevents_dumps():
    with pytest.raises(SizingError, match="GOTRACEBACK=wer"):
        sizing.service_environment({"gotraceback": "crash"}, log_dir="D:\\l", log_max_size_bytes=MIB,
                                   log_max_files=2, dumps_enabled=True)
    env = sizing.service_environment({"gotraceback": "WER"}, log_dir="D:\\l", log_max_size_bytes=MIB,
                                     log_max_files=2, dumps_enabled=True)
    assert [k for k in env if k.upper() == "GOTRACEBACK"] == ["GOTRACEBACK"]


def test_service_environment_log_variables_are_owned_by_winfleet():
    kw = dict(log_dir="D:\\l", log_max_size_bytes=MIB, log_max_files=2, dumps_enabled=False)
    with pytest.raises(SizingError, match="conflicts"):
        sizing.service_environment({sizing.ENV_LOG_DIR: "C:\\elsewhere"}, **kw)
    same = sizing.service_environment({sizing.ENV_LOG_DIR.lower(): "D:\\l"}, **kw)
    assert [k for k in same if k.upper() == sizing.ENV_LOG_DIR] == [sizing.ENV_LOG_DIR]


@pytest.mark.parametrize("bad", [{"": "x"}, {"A=B": "x"}, {"A": "x\0y"}, {"A": 1}, {"a": "1", "A": "2"}])
def test_service_environment_rejects_bad_entries(bad):
    with pytest.raises(SizingError):
        sizing.service_environment(bad, log_dir="D:\\l", log_max_size_bytes=MIB, log_max_files=2,
                                   dumps_enabled=False)


@pytest.mark.parametrize("n,size", list(itertools.product([1, 2, 3, 4, 7, 16], [1, 2, 3, 5])))
def test_rollout_batches_cover_every_host_once_in_order(n, size):
    hosts = [f"h{i}" for i in range(n)]
    batches = sizing.rollout_batches(hosts, size)
    assert [h for b in batches for h in b] == hosts
    assert len(batches) == math.ceil(n / size)
    assert all(1 <= len(b) <= size for b in batches)


def test_rollout_batches_rejects_zero():
    with pytest.raises(SizingError):
        sizing.rollout_batches(["a"], 0)


@pytest.mark.parametrize("timeout", [0.5, 1, 2, 3, 8, 60, 3600])
def test_readiness_poll_fits_the_timeout(timeout):
    poll = sizing.readiness_poll_seconds(timeout)
    assert 0.25 <= poll <= 2.0
    assert poll <= timeout
    assert timeout / poll >= 2  # at least two polls within the timeout
    with pytest.raises(SizingError):
        sizing.readiness_poll_seconds(0)

"""The pack carries its own copy of the facts it shares with the program (it must run self-contained, from
policies/ with its own virtualenv, and as a published pack). These tests keep the copies equal."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

from components import sizing, windows_facts

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "policies"))

from winfleet_policies import facts  # noqa: E402
from winfleet_policies import shutdown  # noqa: E402


def test_never_disable_list_equals_the_programs():
    assert {s.lower() for s in facts.NEVER_DISABLE} == {s.lower() for s in windows_facts.NEVER_DISABLE}
    assert len(facts.NEVER_DISABLE) == len(set(facts.NEVER_DISABLE))


def test_event_log_minimums_equal_the_programs():
    assert facts.EVENT_LOG_MINIMUM_KB == windows_facts.CIS_EVENTLOG_MIN_KB


def test_preshutdown_default_equals_the_programs():
    assert facts.DEFAULT_PRESHUTDOWN_SECONDS == windows_facts.DEFAULT_PRESHUTDOWN_SECONDS


def test_sizing_rules_equal_the_programs():
    for size, files in itertools.product([1, 1024, 50 * 1024 * 1024, 123_456_789], [1, 5, 20]):
        assert facts.log_budget_bytes(size, files) == sizing.log_budget_bytes(size, files)
    for budget, headroom in itertools.product([1, 10 * 1024 * 1024 + 7, 890 * 1024 * 1024], [1.0, 1.1, 1.5, 3]):
        assert facts.quota_limit_for(budget, headroom) == sizing.quota_sizing(budget, 0, headroom).limit_bytes
    for interval, threshold, drain in itertools.product([5, 15], [1, 2, 5], [0, 15]):
        assert facts.required_preshutdown_seconds(interval, threshold, drain) == \
            sizing.required_preshutdown_seconds(interval, threshold, drain)


def test_policy_defaults_equal_the_programs_defaults():
    from components import config

    assert shutdown.DEFAULT_DRAIN_SECONDS == config.LoadBalancerConfig().drain_seconds
    assert facts.DEFAULT_DUMP_SIZE_BYTES["mini"] == config.CrashDumpsConfig(type="mini").size_estimate_mb * 2**20
    assert facts.DEFAULT_DUMP_SIZE_BYTES["full"] == config.CrashDumpsConfig(type="full").size_estimate_mb * 2**20


def test_pack_never_imports_the_project():
    for path in (ROOT / "policies").rglob("*.py"):
        if "venv" in path.parts:
            continue
        text = path.read_text()
        assert "import components" not in text and "from components" not in text, path

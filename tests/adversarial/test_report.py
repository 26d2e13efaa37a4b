"""The ledger refuses unknown outcomes and counts what was recorded (a private ledger, not the run's)."""
import pytest

from tests.adversarial.report import Ledger


def test_unknown_outcome_is_refused():
    with pytest.raises(ValueError):
        Ledger().record("input", "x", "fine")


def test_summary_counts_recorded_outcomes():
    ledger = Ledger()
    ledger.record("input", "a", "refused")
    ledger.record("input", "b", "literal")
    ledger.record("fault:drop", "c", "survived")
    ledger.record("stacks", "d", "data_lost")
    lines = ledger.summary_lines()
    assert lines[0] == ("adversarial: tried 4, refused 1, literal 1, interpreted 0, leaks 0, "
                        "faults survived 1 (failed fast 0) of 1, data lost 1")
    assert "adversarial DEFECT: data_lost: stacks: d" in lines

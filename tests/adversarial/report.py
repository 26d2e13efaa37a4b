"""Outcome ledger of the adversarial suite, printed at the end of the run (see conftest.py).

Every adversarial case calls `record(category, case, outcome)` with what actually happened, and then
asserts that the outcome is an acceptable one for that case. The printed counts are therefore
figures from this run, never hard-coded.

Outcomes:
- refused      the input was refused with an error naming the config key / input (nothing changed)
- literal      the input was accepted and stored on the host exactly as given, not interpreted
- interpreted  Windows (or PowerShell) would have interpreted the input (a defect)
- leak         a secret appeared outside the secret channel (a defect)
- survived     a fault was injected and the run converged, host consistent, destroy exact
- failed_fast  a fault was injected and the run failed at once with a clear error, host consistent
- data_lost    a fault or a second stack destroyed data it did not own (a defect)
"""
from __future__ import annotations

import threading
from collections import Counter

OUTCOMES = ("refused", "literal", "interpreted", "leak", "survived", "failed_fast", "data_lost")
DEFECTS = ("interpreted", "leak", "data_lost")

class Ledger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[tuple[str, str, str]] = []

    def record(self, category: str, case: str, outcome: str) -> str:
        """Record one case's outcome; returns it so a test can `assert record(...) in (...)`."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; one of {OUTCOMES}")
        with self._lock:
            self._entries.append((category, case, outcome))
        return outcome

    def entries(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._entries)

    def summary_lines(self) -> list[str]:
        rows = self.entries()
        if not rows:
            return []
        by_outcome = Counter(o for _, _, o in rows)
        by_category = Counter(c for c, _, _ in rows)
        faults = [o for c, _, o in rows if c.startswith("fault")]
        lines = [
            "adversarial: tried {t}, refused {r}, literal {l}, interpreted {i}, leaks {k}, "
            "faults survived {fs} (failed fast {ff}) of {fn}, data lost {d}".format(
                t=len(rows), r=by_outcome["refused"], l=by_outcome["literal"], i=by_outcome["interpreted"],
                k=by_outcome["leak"], fs=faults.count("survived"), ff=faults.count("failed_fast"),
                fn=len(faults), d=by_outcome["data_lost"]),
            "adversarial by category: " + ", ".join(f"{c} {n}" for c, n in sorted(by_category.items())),
        ]
        for c, n, o in [row for row in rows if row[2] in DEFECTS][:20]:
            lines.append(f"adversarial DEFECT: {o}: {c}: {n}")
        return lines


# The run's ledger: categories starting with "fault" count as faults in the summary.
LEDGER = Ledger()
record = LEDGER.record
entries = LEDGER.entries
summary_lines = LEDGER.summary_lines

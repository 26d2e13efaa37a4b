"""Prints the adversarial ledger (tests/adversarial/report.py) at the end of the pytest run."""
from tests.adversarial import report


def pytest_terminal_summary(terminalreporter):
    lines = report.summary_lines()
    if lines:
        terminalreporter.section("adversarial report")
        for line in lines:
            terminalreporter.write_line(line)

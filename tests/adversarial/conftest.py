"""Prints the adversarial ledger (tests/adversarial/report.py) at the end of the pytest run."""
from tests.adversarial import report


def pytest_terminal_summary(terminalreporter):
    lines = report.summary_lines()
    if lines:
        terminalreporter.section("adversarial report")
        for line in lines:
            terminalreporter.write_line(line)


# The real dynamic-provider host (one per session), as the provider tests use it.
from tests.providers.conftest import provider_host  # noqa: E402,F401

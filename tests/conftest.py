"""Shared pytest settings: where the checkout is."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


# A skip is honest only when the machine cannot do the thing: such skips say so with this
# prefix, and the README lists them. Any other skip fails the run.
MACHINE_LIMIT = "machine limit:"


_BAD_SKIPS: list[str] = []
# Figures a test hands over with record_property("figure", line): printed in the terminal summary,
# because output a test prints on an xdist worker never reaches the CI log.
_FIGURES: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _FIGURES.extend(str(value) for name, value in report.user_properties if name == "figure")
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not reason.removeprefix("Skipped: ").startswith(MACHINE_LIMIT):
            _BAD_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session, exitstatus):
    if _BAD_SKIPS and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _FIGURES:
        terminalreporter.section("figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)
    if _BAD_SKIPS:
        terminalreporter.write_line(
            "skips without a documented machine limit (these fail the run):", red=True
        )
        for line in _BAD_SKIPS:
            terminalreporter.write_line(f"  {line}", red=True)

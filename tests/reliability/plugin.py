"""The reliability suite's command-line options and its table of figures at the end of the run.

``--reliability-size reduced`` (the default, inside ``tox``) runs few tries per scenario and asserts
the same invariants as ``full`` (``tox -e reliability``). ``--reliability-report FILE`` also writes
the table to ``FILE``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.figures import Tally, table

SIZES = ("reduced", "full")
TALLIES: list[Tally] = []
"""Every tally the scenarios counted in this run (the table merges them)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reliability")
    group.addoption(
        "--reliability-size",
        choices=SIZES,
        default="reduced",
        help="reduced (few tries, inside tox) or full (tox -e reliability)",
    )
    group.addoption(
        "--reliability-kills",
        type=int,
        default=0,
        help="kills per backend in the kill storm (default: 100 full, 10 reduced)",
    )
    group.addoption("--reliability-report", default="", help="also write the figures table to this file")


def tally(scenario: str, backend: str) -> Tally:
    """A new tally, reported at the end of the run."""
    t = Tally(scenario, backend)
    TALLIES.append(t)
    return t


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if not TALLIES:
        return
    text = table(TALLIES)
    size = config.getoption("--reliability-size")
    terminalreporter.write_sep("=", f"reliability figures ({size})")
    terminalreporter.write(text)
    path = config.getoption("--reliability-report")
    if path:
        Path(path).write_text(text)

"""Counting what a scenario stored against what it wrote, and the table of figures (pure).

Every written line carries a unique ``event``; a scenario hands the events it wrote (in order) and the
events read back from the store (in stored order) to :meth:`Tally.add_log`, which counts them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields


@dataclass
class Tally:
    """The figures of one scenario on one backend (summed over its runs)."""

    scenario: str
    backend: str
    runs: int = 0
    failed_runs: int = 0
    expected: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    max_seconds_lost: float = 0.0
    max_finish_seconds: float = 0.0
    requests: int = 0
    ideal_requests: int = 0
    notes: list[str] = field(default_factory=list)

    def add_log(self, expected: Sequence[str], stored: Sequence[str]) -> tuple[int, int, int]:
        """Count one log; ``(lost, duplicated, out of order)`` for it.

        A text the log holds several times (the package's own report lines) is told apart by its
        occurrence: the second time it is stored matches the second time it was written.
        """
        texts = set(expected)
        expected, stored = _numbered(expected), _numbered(stored)
        position = {event: i for i, event in enumerate(expected)}
        seen = set(stored)
        lost = sum(1 for event in expected if event not in seen)
        extra = [event for event in stored if event not in position]
        duplicated = sum(1 for event in extra if event.split("\x00", 1)[0] in texts)
        unexpected = len(extra) - duplicated
        known = [position[event] for event in stored if event in position]
        out_of_order = sum(1 for a, b in itertools.pairwise(known) if b <= a)
        self.expected += len(expected)
        self.stored += len(stored)
        self.lost += lost
        self.duplicated += duplicated
        self.out_of_order += out_of_order
        self.unexpected += unexpected
        return lost, duplicated, out_of_order

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _numbered(events: Sequence[str]) -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for event in events:
        seen[event] += 1
        out.append(f"{event}\x00{seen[event]}")
    return out


def merge(tallies: Iterable[Tally]) -> list[Tally]:
    """One tally per (scenario, backend), summing runs that were counted separately."""
    out: dict[tuple[str, str], Tally] = {}
    for tally in tallies:
        key = (tally.scenario, tally.backend)
        if key not in out:
            out[key] = Tally(tally.scenario, tally.backend)
        total = out[key]
        for f in fields(Tally):
            value = getattr(tally, f.name)
            if f.name in ("scenario", "backend"):
                continue
            if f.name == "notes":
                for note in value:
                    total.note(note)
            elif f.name.startswith("max_"):
                setattr(total, f.name, max(getattr(total, f.name), value))
            else:
                setattr(total, f.name, getattr(total, f.name) + value)
    return list(out.values())


COLUMNS = (
    "scenario",
    "backend",
    "runs",
    "failed runs",
    "expected",
    "stored",
    "lost",
    "duplicated",
    "out of order",
    "max s lost at a kill",
    "max s in finish",
    "requests / ideal",
    "notes",
)


def table(tallies: Iterable[Tally]) -> str:
    """The figures as a Markdown table."""
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for t in sorted(merge(tallies), key=lambda t: (t.scenario, t.backend)):
        ratio = (
            f"{t.requests} / {t.ideal_requests} ({t.requests / t.ideal_requests:.2f}x)"
            if t.ideal_requests
            else "-"
        )
        cells = [
            t.scenario,
            t.backend,
            str(t.runs),
            str(t.failed_runs),
            str(t.expected),
            str(t.stored),
            str(t.lost),
            str(t.duplicated),
            str(t.out_of_order),
            f"{t.max_seconds_lost:.2f}",
            f"{t.max_finish_seconds:.2f}",
            ratio,
            "; ".join(t.notes) or "-",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"

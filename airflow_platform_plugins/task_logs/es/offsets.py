"""Offsets: the order of a try's lines, strictly increasing across every writer of the try (pure).

A try's log is written in *segments*: the lines one process appends to one local file while it
supervises (or triggers) the try. A reschedule poke, a resume after deferral, the triggerer's part and
a retry on another pod each start a new segment, possibly on another host, with no shared state.

- Within a segment, offsets are consecutive: ``base + 1``, ``base + 2``, ... in file order. A retried
  flush re-sends the same lines with the same offsets.
- A segment's ``base`` is the wall-clock time in nanoseconds when it starts, and never below the end
  of an earlier segment this process wrote for the same file. Segments follow one another in time
  (the next one starts after the previous one ended), and a segment of ``n`` lines spans far more than
  ``n`` nanoseconds, so every later segment starts above every earlier one: offsets never repeat, and
  sorting by offset gives the order the lines were logged in, across hosts.
- Between segments offsets jump; that is not a lost line. Hosts' clocks must agree to within the time
  between two segments (seconds for a poke or a deferral); NTP keeps them within milliseconds.

Offsets stay below 2**63 (Elasticsearch ``long``) until the year 2262.
"""

from __future__ import annotations

import time


def segment_base(previous_end: int | None = None, now_ns: int | None = None) -> int:
    """The base of a new segment: now in nanoseconds, above ``previous_end`` (the last offset written)."""
    now = time.time_ns() if now_ns is None else now_ns
    return now if previous_end is None else max(now, previous_end)

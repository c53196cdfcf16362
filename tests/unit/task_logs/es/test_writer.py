"""The line writer, with sinks that record what they get (no network)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_platform_plugins.task_logs.common.errors import RemoteLogError
from airflow_platform_plugins.task_logs.common.processor import ShippingProcessor
from airflow_platform_plugins.task_logs.es.identity import LogIdTemplate
from airflow_platform_plugins.task_logs.es.sinks import Batch, StdoutSink
from airflow_platform_plugins.task_logs.es.writer import LineWriter
from tests.harness.tasklog import REL, ManualClock, TaskLog, wait_for

TEMPLATE = LogIdTemplate("{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}")


class RecordingSink:
    name = "recording"
    latency = 0.05
    max_bytes = 1 << 20

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.down = False
        self.calls = 0
        self.lock = threading.Lock()

    def where(self) -> str:
        return "the recording sink"

    def prepare(self) -> None:
        pass

    def send(self, batch: Batch) -> None:
        with self.lock:
            self.calls += 1
            if self.down:
                raise RemoteLogError("down for the test")
            for doc_id, offset, doc in batch:
                assert doc["offset"] == offset
                self.ids.append(doc_id)
                self.docs.append(doc)

    def events(self) -> list[str]:
        with self.lock:
            return [d["event"] for d in self.docs]


def make_writer(base: Path, *sinks: Any, **kwargs: Any) -> LineWriter:
    return LineWriter(
        list(sinks), base_log_folder=str(base), log_id_template=TEMPLATE, upload_timeout=2, **kwargs
    )


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def test_lines_are_written_while_the_try_runs_with_consecutive_offsets(base: Path) -> None:
    sink = RecordingSink()
    writer = make_writer(base, sink)
    processor = ShippingProcessor(writer)
    log = TaskLog(base)
    for i in range(5):
        log.line(processor, f"line {i}")

    wait_for(lambda: len(sink.docs) == 5)  # before finish: while the try runs

    offsets = [d["offset"] for d in sink.docs]
    assert offsets == list(range(offsets[0], offsets[0] + 5))
    assert sink.events() == [f"line {i}" for i in range(5)]
    assert {d["log_id"] for d in sink.docs} == {"d-t-r--1-1"}
    assert writer.finish(str(log.path)) is True
    assert len(sink.docs) == 5, "finish sends nothing twice"


def test_a_resumed_try_continues_above_the_earlier_offsets(base: Path) -> None:
    """Two segments in one process (a poke, then the next), then one in a new process (another pod)."""
    sink = RecordingSink()
    log = TaskLog(base)
    writer = make_writer(base, sink)
    processor = ShippingProcessor(writer)
    for round_ in range(2):
        for i in range(3):
            log.line(processor, f"poke {round_} line {i}")
        assert writer.finish(str(log.path))
    other = make_writer(base, sink)  # a new process on the same host appends to the same file
    log.line(ShippingProcessor(other), "after resume")
    assert other.finish(str(log.path))

    assert sink.events() == [*(f"poke {r} line {i}" for r in range(2) for i in range(3)), "after resume"]
    offsets = [d["offset"] for d in sink.docs]
    assert offsets == sorted(set(offsets)), "strictly increasing, no repeats"
    assert offsets[1:3] == [offsets[0] + 1, offsets[0] + 2], "consecutive within a segment"


def test_a_triggerer_part_gets_the_same_log_id_and_later_offsets(base: Path) -> None:
    sink = RecordingSink()
    writer = make_writer(base, sink)
    task = TaskLog(base)
    task.line(ShippingProcessor(writer), "before defer")
    assert writer.finish(str(task.path))
    trigger = TaskLog(base, REL + ".trigger.7.log")
    trigger.line(ShippingProcessor(writer), "trigger fired")
    assert writer.finish(str(trigger.path))

    assert [d["log_id"] for d in sink.docs] == ["d-t-r--1-1"] * 2
    assert sink.docs[0]["offset"] < sink.docs[1]["offset"]


def test_a_failing_sink_is_retried_and_reported_once_in_the_task_log(base: Path) -> None:
    sink = RecordingSink()
    sink.down = True
    writer = make_writer(base, sink, retry_max_delay=0.1)
    processor = ShippingProcessor(writer)
    log = TaskLog(base)
    for i in range(3):
        log.line(processor, f"line {i}")
    assert writer.finish(str(log.path)) is False  # gave up waiting after upload_timeout
    failures = sink.calls
    assert failures > 2, "retried"

    sink.down = False
    wait_for(lambda: not writer.pending())

    events = sink.events()
    assert events[:3] == ["line 0", "line 1", "line 2"]
    reports = [e for e in events if "down for the test" in e]
    assert len(reports) == 1, events
    assert len([e for e in events if "recovered" in e]) == 1, events
    offsets = [d["offset"] for d in sink.docs]
    assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


def test_a_line_still_being_written_waits_for_its_newline(base: Path) -> None:
    sink = RecordingSink()
    clock = ManualClock()
    writer = make_writer(base, sink, clock=clock, background=False)
    path = base / REL
    path.parent.mkdir(parents=True)
    with open(path, "ab") as f:
        writer.track(str(path))
        f.write(b'{"event": "complete"}\n')
        writer.track(str(path))
        f.write(b'{"event": "half')
        f.flush()
        writer.step()  # the lines start waiting for the sink's latency
        for _ in range(3):
            clock.advance(sink.latency)
            writer.step()
            assert sink.events() == ["complete"]
        f.write(b' done"}')
    assert writer.finish(str(path))
    assert sink.events() == ["complete", "half done"]


def test_files_outside_the_log_folder_and_other_layouts_are_ignored(base: Path, tmp_path: Path) -> None:
    sink = RecordingSink()
    clock = ManualClock()
    writer = make_writer(base, sink, clock=clock, background=False)
    elsewhere = tmp_path / "elsewhere.log"
    elsewhere.write_text('{"event": "x"}\n')
    custom = base / "custom" / "layout.log"
    custom.parent.mkdir(parents=True)
    custom.write_text('{"event": "x"}\n')
    writer.track(str(elsewhere))
    writer.track(str(custom))
    clock.advance(sink.latency)
    writer.step()
    assert sink.docs == []
    assert writer.pending() == []


def test_stdout_sink_writes_whole_json_lines(base: Path, tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    with open(out, "wb") as f:
        writer = make_writer(base, StdoutSink(fd=f.fileno()))
        log = TaskLog(base)
        processor = ShippingProcessor(writer)
        for i in range(3):
            log.line(processor, f"line {i}")
        assert writer.finish(str(log.path))
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [d["event"] for d in docs] == ["line 0", "line 1", "line 2"]
    assert all(d["log_id"] == "d-t-r--1-1" and "@timestamp" in d and "message" in d for d in docs)


def test_stdout_sink_reports_a_closed_stdout() -> None:
    r, w = os.pipe()
    os.close(r)
    sink = StdoutSink(fd=w)
    with pytest.raises(RemoteLogError, match="cannot write to stdout"):
        sink.send([("id", 1, {"event": "x"})])
    os.close(w)


def test_the_child_after_fork_starts_empty(base: Path) -> None:
    sink = RecordingSink()
    writer = make_writer(base, sink)
    log = TaskLog(base)
    log.line(ShippingProcessor(writer), "in parent")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os._exit(
            0
            if writer.pending() == []
            and writer.follower.loop is not None
            and writer.follower.loop.thread is None
            else 1
        )
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert writer.finish(str(log.path))


def test_a_segment_left_open_does_not_take_the_lines_another_process_appends(base: Path) -> None:
    """A task defers without an upload: its worker's segment stays open while another worker process
    resumes the try and appends to the same file. Each process writes only the lines it logged."""
    sink = RecordingSink()
    log = TaskLog(base)
    clock = ManualClock()
    first = make_writer(base, sink, clock=clock, background=False)
    log.line(ShippingProcessor(first), "before defer")
    first.step()
    clock.advance(sink.latency)
    first.step()
    assert sink.events() == ["before defer"]
    second = make_writer(base, sink)
    for text in ("after resume", "done"):
        log.line(ShippingProcessor(second), text)
    assert second.finish(str(log.path))
    for _ in range(3):  # the first writer keeps polling its open segment
        clock.advance(sink.latency)
        first.step()

    assert sink.events() == ["before defer", "after resume", "done"]
    offsets = [d["offset"] for d in sink.docs]
    assert offsets == sorted(set(offsets))


def test_a_new_supervision_in_the_same_process_starts_a_new_segment(base: Path) -> None:
    """LocalExecutor: one worker process supervises the part before a deferral and, with a new log
    file handle, the resumed part; the triggerer's part written in between must sort between them."""
    sink = RecordingSink()
    worker = make_writer(base, sink)
    before = TaskLog(base)
    before.line(ShippingProcessor(worker), "before defer")
    wait_for(lambda: len(sink.docs) == 1)
    triggerer = make_writer(base, sink)
    trigger = TaskLog(base, REL + ".trigger.1.log")
    trigger.line(ShippingProcessor(triggerer), "trigger fired")
    assert triggerer.finish(str(trigger.path))
    resumed = TaskLog(base)  # the supervisor opens the file again
    resumed.line(ShippingProcessor(worker), "after resume")
    assert worker.finish(str(resumed.path))

    by_offset = sorted(sink.docs, key=lambda d: d["offset"])
    assert [d["event"] for d in by_offset] == ["before defer", "trigger fired", "after resume"]


class SlowSink(RecordingSink):
    """A sink whose every send takes ``seconds`` of the manual clock (a loaded cluster)."""

    latency = 1.0

    def __init__(self, clock: ManualClock, seconds: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds = seconds
        self.stored_at: list[float] = []

    def send(self, batch: Batch) -> None:
        self.clock.advance(self.seconds)
        super().send(batch)
        self.stored_at += [self.clock.now] * len(batch)


def test_a_line_is_stored_within_the_latency_even_when_sends_are_slow(base: Path) -> None:
    """Regression (reliability suite, kill storm): the writer waited the whole latency before it
    started a send, so a line was stored latency + sweep delay + send time after it was written,
    and a killed pod lost more than ``flush_interval`` of its log."""
    clock = ManualClock()
    sink = SlowSink(clock, seconds=0.4)
    writer = make_writer(base, sink, clock=clock, background=False)
    processor = ShippingProcessor(writer)
    log = TaskLog(base)
    ages = []
    for round_ in range(8):
        written_at = clock.now
        log.line(processor, f"round {round_}")
        while len(sink.docs) <= round_:
            writer.step()
            if len(sink.docs) <= round_:
                clock.advance(writer.follower.tick)
        ages.append(sink.stored_at[-1] - written_at)
    assert max(ages[3:]) <= sink.latency, f"stored after {ages}"


class ColdSink(SlowSink):
    """A sink that needs ``setup`` seconds once before its first send (a fresh process's client)."""

    def __init__(self, clock: ManualClock, seconds: float, setup: float) -> None:
        super().__init__(clock, seconds)
        self.setup = setup
        self.ready = False

    def prepare(self) -> None:
        if not self.ready:
            self.clock.advance(self.setup)
            self.ready = True

    def send(self, batch: Batch) -> None:
        self.prepare()
        super().send(batch)


def test_the_first_line_of_a_fresh_process_is_stored_within_the_latency(base: Path) -> None:
    """Regression (reliability suite, kill storm): the client was built and the index template
    installed at the first send, after the first lines had already waited the whole latency."""
    clock = ManualClock()
    sink = ColdSink(clock, seconds=0.05, setup=0.5)
    writer = make_writer(base, sink, clock=clock, background=False)
    log = TaskLog(base)
    written_at = clock.now
    log.line(ShippingProcessor(writer), "first")
    while not sink.docs:
        writer.step()
        if not sink.docs:
            clock.advance(writer.follower.tick)
    assert sink.stored_at[0] - written_at <= sink.latency

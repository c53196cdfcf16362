"""Merge a stream's small chunks into larger covering objects while it is shipped (no GET).

:mod:`.compaction` decides which run of this process's own objects to merge; this module stores the
covering object and retires the sources:

1. the covering object is written from the local file the shipper follows (those bytes are on disk
   and already shipped, so no read from the store), or composed on the server where the store can
   (Google Cloud Storage ``compose``: no bytes sent, one request);
2. only once it is stored are the sources deleted, after ``grace`` seconds so that a reader that
   listed the old objects can still read them (at the end of a try, at once).

Readers prefer the object reaching furthest (:func:`.stitching.plan`), so the store reads back
exactly at any moment, including after a crash between the two steps (the sources then remain).
"""

from __future__ import annotations

import os

from airflow_platform_plugins.task_logs.common import metrics
from airflow_platform_plugins.task_logs.objectstore import compaction, keys
from airflow_platform_plugins.task_logs.objectstore.compaction import Merge, Run
from airflow_platform_plugins.task_logs.objectstore.store import FileRange, ObjectStore

RETIRE_GRACE = 15.0
"""Seconds merged sources stay readable while the try runs (a reader's list-then-read window)."""


class MergeState:
    """The stored objects of one stream that this process wrote, and the merged ones waiting to be deleted."""

    __slots__ = ("retired", "runs")

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self.retired: list[tuple[str, float]] = []

    def stored(self, start: int, end: int, *, full: bool = False) -> None:
        """Note a chunk this process stored; a chunk that does not continue the runs starts afresh.

        A ``full`` chunk (as large as chunks get: a backlog's) is never merged; runs start after it.
        """
        if full:
            self.runs = []
            return
        if self.runs and self.runs[-1].end != start:
            self.runs = []
        self.runs.append(Run(start, end))

    def restart(self) -> None:
        """Forget the runs (the file became another stream); retired objects are still deleted."""
        self.runs = []


class Merger:
    """Runs the merges :mod:`.compaction` plans for one stream at a time."""

    def __init__(
        self,
        *,
        fan_in: int = compaction.FAN_IN,
        final_objects: int = compaction.FINAL_OBJECTS,
        max_bytes: int = compaction.MERGE_MAX_BYTES,
        grace: float = RETIRE_GRACE,
    ) -> None:
        self.fan_in = fan_in
        self.final_objects = final_objects
        self.max_bytes = max_bytes
        self.grace = grace

    def settle(
        self, store: ObjectStore, state: MergeState, where: tuple[str, str, str], *, now: float, final: bool
    ) -> None:
        """Run the merges due now, then delete the retired sources that are due. Raises RemoteLogError.

        ``where`` is (the log's key, the stream, the local file). ``final``: the try ended, so leave at
        most ``final_objects`` objects and delete every retired source now.
        """
        while True:
            merge = compaction.plan(state.runs, fan_in=self.fan_in, max_bytes=self.max_bytes)
            if merge is None and final:
                merge = compaction.plan_final(state.runs, keep=self.final_objects, max_bytes=self.max_bytes)
            if merge is None or not self._merge(store, state, merge, where, now):
                break
        for key in [key for key, at in state.retired if final or at <= now]:
            store.delete(key)
            state.retired = [(k, at) for k, at in state.retired if k != key]
            metrics.incr("merged_chunks_deleted")

    def _merge(
        self, store: ObjectStore, state: MergeState, merge: Merge, where: tuple[str, str, str], now: float
    ) -> bool:
        """Store the covering object and retire the sources; ``False`` if it cannot be written."""
        log_key, stream, path = where
        target = keys.chunk_key(log_key, stream, merge.start, merge.end)
        sources = [keys.chunk_key(log_key, stream, r.start, r.end) for r in state.runs[merge.first :]]
        compose = getattr(store, "compose", None)
        components = compaction.composable(state.runs, merge) if compose is not None else None
        if compose is not None and components is not None:
            compose(target, sources)
            metrics.incr("merges_composed")
        else:
            try:
                on_disk = os.path.getsize(path)
            except OSError:
                on_disk = -1
            if on_disk < merge.end:
                return False  # the local file is gone or shorter: leave the chunks as they are
            store.put_new(target, FileRange(path, merge.start, merge.end - merge.start))
            components = 1
            metrics.incr("merges_uploaded")
            metrics.incr("bytes_merged", merge.end - merge.start)
        state.runs = compaction.apply(state.runs, merge, components)
        state.retired += [(key, now + self.grace) for key in sources]
        return True

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from airflow_platform_plugins.task_logs.objectstore.lines import split_lines
from airflow_platform_plugins.task_logs.objectstore.stitching import Gap


def blocks_of(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *sorted(c for c in set(cuts) if 0 < c < len(data)), len(data)]
    return [data[s:e] for s, e in itertools.pairwise(edges)]


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=20))
def test_lines_do_not_depend_on_block_boundaries(data: bytes, cuts: list[int]) -> None:
    expected = data.decode("utf-8", "replace").split("\n")
    if expected and expected[-1] == "":
        expected.pop()
    assert list(split_lines(blocks_of(data, cuts))) == expected


def test_multibyte_characters_split_across_blocks_survive() -> None:
    data = "ünïcødé 漢字\nnext\n".encode()
    assert list(split_lines([data[:2], data[2:9], data[9:]])) == ["ünïcødé 漢字", "next"]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert list(split_lines([b"caf\xe9\n\xff\xfe\n"])) == ["caf\ufffd", "\ufffd\ufffd"]


def test_a_gap_is_reported_as_a_line_and_does_not_glue_lines_together() -> None:
    lines = list(split_lines([b"first\npart", Gap(10, 25), b"ial\nlast\n"], "s3://b/k"))
    assert lines[0] == "first"
    assert lines[1] == "part"
    report = json.loads(lines[2])
    assert report["level"] == "warning"
    assert "15 bytes" in report["event"]
    assert "s3://b/k" in report["event"]
    assert lines[3:] == ["ial", "last"]

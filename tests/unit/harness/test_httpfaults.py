"""The fault proxy tells clients it closes each connection, so none reuses one and meets a reset."""

from __future__ import annotations

from tests.harness.httpfaults import closing


def test_a_forwarded_answer_says_connection_close_once() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nconnection: keep-alive\r\n\r\n{}"
    assert closing(answer) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"


def test_a_body_that_looks_like_a_header_is_left_alone() -> None:
    answer = b"HTTP/1.1 200 OK\r\n\r\nConnection: keep-alive\r\n\r\n"
    assert closing(answer) == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nConnection: keep-alive\r\n\r\n"


def test_an_answer_without_a_whole_head_passes_unchanged() -> None:
    assert closing(b"HTTP/1.1 200 OK\r\nContent-") == b"HTTP/1.1 200 OK\r\nContent-"

"""runner.backends.streams: a process's output, fed in chunks as they arrive, handed on as
whole lines (a line split across chunks joined, CRs dropped, overlong lines cut into pieces)
and kept as text, bounded at MAX_OUTPUT_BYTES with a note where it was cut."""

from __future__ import annotations

import pytest

from runner.backends import streams
from runner.backends.streams import MAX_LINE_BYTES, LineCollector


def test_lines_split_across_chunks_are_joined_and_the_text_kept() -> None:
    lines: list[str] = []
    c = LineCollector(lines.append)
    for chunk in (b"step:1 lo", b"ss:3.0\r\nstep:2", b" loss:2.9\n", b"no newline"):
        c.feed(chunk)
    assert lines == ["step:1 loss:3.0", "step:2 loss:2.9"]
    text = c.finish()
    assert lines[-1] == "no newline"  # the tail is handed on at the end
    assert text == "step:1 loss:3.0\r\nstep:2 loss:2.9\nno newline"
    assert not c.truncated


def test_bad_utf8_is_replaced_not_fatal() -> None:
    lines: list[str] = []
    c = LineCollector(lines.append)
    c.feed(b"caf\xc3")  # a character cut between chunks...
    c.feed(b"\xa9 \xff\n")  # ...joined again; a byte that is no UTF-8 replaced
    assert lines == ["café \ufffd"] and c.finish() == "café \ufffd\n"


def test_output_without_newlines_is_handed_on_in_bounded_pieces() -> None:
    lines: list[str] = []
    c = LineCollector(lines.append)
    c.feed(b"x" * (MAX_LINE_BYTES * 2 + 10))
    assert [len(line) for line in lines] == [MAX_LINE_BYTES, MAX_LINE_BYTES]
    c.finish()
    assert len(lines[-1]) == 10


def test_output_past_the_bound_is_dropped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_OUTPUT_BYTES", 20)
    c = LineCollector(None)  # no sink: only kept
    c.feed(b"0123456789\n")
    c.feed(b"abcdefghijklmnop\n")
    c.feed(b"more\n")
    text = c.finish()
    assert c.truncated
    assert text == "0123456789\nabcdefghi\n[runner: output truncated at 20 bytes]\n"

"""The FIFO event channel: lines timestamped on arrival, bad lines noted, writers may reopen."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from runner.events import EventChannel, parse_event_line


def write_events(fifo: Path, lines: list[str], *, gap_s: float, reopen: bool) -> None:
    f = open(fifo, "w", buffering=1)  # noqa: SIM115
    for line in lines:
        if reopen:
            f.close()
            f = open(fifo, "w", buffering=1)  # noqa: SIM115
        f.write(line + "\n")
        f.flush()
        time.sleep(gap_s)
    f.close()


def test_events_are_stamped_on_arrival(tmp_path: Path) -> None:
    fifo = tmp_path / "events"
    os.mkfifo(fifo)
    channel = EventChannel(fifo).start()
    lines = [json.dumps({"event": "hello", "t_variant_s": 0}), json.dumps({"event": "warmup_end"})]
    lines += ["not json", json.dumps({"event": "launch_missiles"})]
    lines += [json.dumps({"event": "done", "train_time_ms": 5.0, "t_ms": -1})]
    writer = threading.Thread(
        target=write_events, args=(fifo, lines), kwargs={"gap_s": 0.3, "reopen": True}
    )
    before = time.monotonic()
    writer.start()
    writer.join()
    log = channel.stop()
    names = [e.name for e in log.events]
    assert names == ["hello", "warmup_end", "done"]
    stamps = [e.t_s for e in log.events]
    assert stamps[0] >= before
    # the writer slept 0.3 s between lines: the runner's stamps show it, whatever the variant says
    assert stamps[1] - stamps[0] >= 0.25
    assert stamps[2] - stamps[1] >= 0.5
    assert log.events[2].payload == {"train_time_ms": 5.0}  # a variant cannot set t_ms
    assert len(log.problems) == 2


def test_a_partial_line_is_completed_by_the_next_write(tmp_path: Path) -> None:
    fifo = tmp_path / "events"
    os.mkfifo(fifo)
    channel = EventChannel(fifo).start()
    with open(fifo, "w") as f:
        f.write('{"event": "do')
        f.flush()
        time.sleep(0.2)
        f.write('ne"}\n')
    time.sleep(0.2)
    log = channel.stop()
    assert [e.name for e in log.events] == ["done"]


def test_parse_event_line_rejects_non_objects() -> None:
    assert isinstance(parse_event_line(b"[1, 2]", 0.0), str)
    assert isinstance(parse_event_line(b"\xff\xfe", 0.0), str)
    event = parse_event_line(b'{"event": "val_pause", "step": 3}', 1.5)
    assert not isinstance(event, str) and event.payload == {"step": 3} and event.t_s == 1.5


def test_a_flood_is_read_to_the_end_and_bounded(tmp_path: Path) -> None:
    """100,000 events and 10 MB of junk: the writer never blocks, the runner keeps at most
    its bounds, and says so (a protocol breach)."""
    from runner.events import MAX_EVENT_BYTES, MAX_EVENTS

    fifo = tmp_path / "events"
    os.mkfifo(fifo)
    channel = EventChannel(fifo).start()
    started = time.monotonic()
    with open(fifo, "wb") as f:
        line = json.dumps({"event": "hello", "pad": "x" * 100}).encode() + b"\n"
        f.write(line * 100_000)
        f.write(b"y" * 10_000_000)  # one endless line
        f.write(b"\n" + json.dumps({"event": "done"}).encode() + b"\n")
    log = channel.stop()
    assert time.monotonic() - started < 30
    assert len(log.events) <= MAX_EVENTS
    assert sum(len(json.dumps(e.payload)) for e in log.events) <= MAX_EVENT_BYTES
    assert any("the rest dropped" in p for p in log.problems)
    assert any("bytes dropped" in p for p in log.problems)
    assert len(log.problems) <= 20


def test_non_finite_numbers_are_malformed_lines() -> None:
    for text in ('{"event": "done", "train_time_ms": NaN}', '{"event": "done", "x": -Infinity}'):
        assert "malformed" in str(parse_event_line(text.encode(), 1.0))

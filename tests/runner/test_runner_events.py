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

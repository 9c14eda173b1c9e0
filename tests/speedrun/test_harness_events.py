"""speedrun.harness.events: the variant's side of the event channel. Rank 0 writes one JSON
line per event, as it happens; other ranks and runs by hand write nothing; `warmup_end` holds
every rank until the runner has opened the training data, and gives up after DATA_WAIT_S."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from speedrun.harness import events
from speedrun.harness.config import MODEL_FILE, HarnessConfig, Scale
from speedrun.harness.events import EVENTS_ENV, Harness

SCALE = Scale("cpu", "float32", 1, 16, 1, 1, 8, 4, 16, 1000, 100)


def config(tmp_path: Path, **changes: Any) -> HarnessConfig:
    cfg = HarnessConfig(
        track="cpu-tiny@v2",
        scale=SCALE,
        seed=0,
        train_files=[str(tmp_path / "train_000001.bin")],
        dev_file=str(tmp_path / "dev.bin"),
        output_dir=str(tmp_path / "out"),
        model_path=str(tmp_path / "out" / MODEL_FILE),
        eval_seq_len=4,
        eval_batch_seqs=2,
        eos_token=0,
    )
    return replace(cfg, **changes)


def read(channel: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in channel.read_text().splitlines()]


@pytest.fixture
def channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "events"
    monkeypatch.setenv(EVENTS_ENV, str(path))
    return path


def test_each_event_is_one_line_with_its_payload_and_the_variants_clock(
    tmp_path: Path, channel: Path
) -> None:
    h = Harness(rank=0, world_size=2, config=config(tmp_path, train_files=[], dev_file=None))
    before = time.monotonic()
    h.hello()
    h.val_pause(step=5)
    h.val_resume(step=5, val_loss=4.25)
    h.done(step=10, train_time_ms=1234.5, train_tokens=640)
    h.close()
    h.close()  # closing twice is harmless
    got = read(channel)
    assert [e["event"] for e in got] == ["hello", "val_pause", "val_resume", "done"]
    assert got[0]["world_size"] == 2 and isinstance(got[0]["pid"], int)
    assert got[2] | {"t_variant_s": 0} == {
        "event": "val_resume",
        "step": 5,
        "val_loss": 4.25,
        "t_variant_s": 0,
    }
    assert got[3]["train_tokens"] == 640 and got[3]["train_time_ms"] == 1234.5
    times = [e["t_variant_s"] for e in got]
    assert before <= times[0] and times == sorted(times)


def test_other_ranks_and_runs_by_hand_write_nothing_but_still_check_names(
    tmp_path: Path, channel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(tmp_path, train_files=[], dev_file=None)
    Harness(rank=1, world_size=2, config=cfg).hello()
    assert not channel.exists()
    monkeypatch.delenv(EVENTS_ENV)
    by_hand = Harness(rank=0, world_size=1, config=cfg)
    by_hand.hello()
    with pytest.raises(ValueError, match="unknown harness event 'start_clock'"):
        by_hand.event("start_clock")


def test_warmup_end_waits_until_the_runner_opens_the_data(tmp_path: Path, channel: Path) -> None:
    cfg = config(tmp_path)
    h = Harness(rank=0, world_size=1, config=cfg)

    def runner_opens_the_data() -> None:
        time.sleep(0.2)
        for name in (cfg.train_files[0], cfg.dev_file):
            assert name is not None
            Path(name).write_bytes(b"")

    opener = threading.Thread(target=runner_opens_the_data)
    started = time.monotonic()
    opener.start()
    h.warmup_end()
    waited = time.monotonic() - started
    opener.join()
    h.close()
    assert waited >= 0.2
    assert [e["event"] for e in read(channel)] == ["warmup_end"]  # sent before the wait


def test_warmup_end_gives_up_when_the_data_never_opens(
    tmp_path: Path, channel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "DATA_WAIT_S", 0.05)
    h = Harness(rank=0, world_size=1, config=config(tmp_path))
    with pytest.raises(RuntimeError, match="not opened after warmup_end"):
        h.warmup_end()
    h.close()


@pytest.mark.slow  # torch.export: a few seconds
def test_export_writes_a_torch_export_archive_and_says_so(tmp_path: Path, channel: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Embedding(16, 8), torch.nn.Linear(8, 16))
    path = tmp_path / "out" / MODEL_FILE
    h = Harness(rank=0, world_size=1, config=config(tmp_path, train_files=[], dev_file=None))
    h.export_model(model, torch.zeros(2, 4, dtype=torch.long), path)
    Harness(rank=1, world_size=1, config=config(tmp_path)).export_model(model, None, tmp_path / "x")
    h.close()
    [event] = read(channel)
    assert event["event"] == "export" and event["path"] == str(path)
    assert event["size_bytes"] == path.stat().st_size > 0
    loaded = torch.export.load(str(path)).module()
    idx = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])  # the exported (fixed) shape
    assert torch.equal(loaded(idx), model(idx))
    assert not (tmp_path / "x").exists()  # only rank 0 exports

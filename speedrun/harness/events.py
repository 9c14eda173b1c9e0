"""The event channel: a variant tells the runner where it is (one JSON object per line on the
file named by SPEEDRUN_EVENTS); the runner timestamps each line on arrival with its own clock."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

from speedrun.harness.config import HarnessConfig, load_config

EVENTS_ENV = "SPEEDRUN_EVENTS"
EVENT_NAMES = frozenset(
    {"hello", "warmup_start", "warmup_end", "val_pause", "val_resume", "done", "export"}
)
DATA_WAIT_S = 60.0  # how long warmup_end waits for the runner to open the training data


class Harness:
    """Event emitter for one process; only rank 0 talks to the runner."""

    def __init__(self, *, rank: int, world_size: int, config: HarnessConfig | None = None) -> None:
        self.rank = rank
        self.world_size = world_size
        cfg = config or load_config()
        self._gated = (
            [*cfg.train_files[:1], *([cfg.dev_file] if cfg.dev_file else [])] if cfg else []
        )
        self._stream: TextIO | None = None
        path = os.environ.get(EVENTS_ENV)
        if path and rank == 0:
            # Line-buffered so each event leaves the process when it is emitted.
            self._stream = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115

    def event(self, name: str, **payload: Any) -> None:
        if name not in EVENT_NAMES:
            raise ValueError(f"unknown harness event {name!r}")
        if self._stream is None:
            return
        record = {"event": name, "t_variant_s": time.monotonic(), **payload}
        self._stream.write(json.dumps(record, sort_keys=True) + "\n")
        self._stream.flush()

    def hello(self) -> None:
        self.event("hello", pid=os.getpid(), world_size=self.world_size)

    def warmup_start(self) -> None:
        self.event("warmup_start")

    def warmup_end(self) -> None:
        """The timed clock starts; every rank waits until the runner has opened the data."""
        self.event("warmup_end")
        deadline = time.monotonic() + DATA_WAIT_S
        while not all(os.access(p, os.R_OK) for p in self._gated):
            if time.monotonic() > deadline:
                raise RuntimeError("the training data was not opened after warmup_end")
            time.sleep(0.002)

    def val_pause(self, step: int) -> None:
        self.event("val_pause", step=step)

    def val_resume(self, step: int, val_loss: float | None = None) -> None:
        self.event("val_resume", step=step, val_loss=val_loss)

    def done(self, step: int, train_time_ms: float, train_tokens: int) -> None:
        self.event("done", step=step, train_time_ms=train_time_ms, train_tokens=train_tokens)

    def export_model(self, model: Any, example_input: Any, path: str | os.PathLike[str]) -> None:
        """Export `model` (idx (B, T) int64 -> logits (B, T, V)) with torch.export; rank 0 only.

        `example_input` must have the evaluation shape (eval_batch_seqs, eval_seq_len).
        """
        if self.rank != 0:
            return
        import torch  # the variant already has torch; this module stays torch-free to import

        model.eval()
        with torch.no_grad():
            program = torch.export.export(model, (example_input,))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.export.save(program, os.fspath(path))
        self.event("export", path=os.fspath(path), size_bytes=Path(path).stat().st_size)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

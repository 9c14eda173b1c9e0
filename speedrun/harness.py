"""The harness contract between a training variant and the runner (torch-free to import).

A *harness variant* imports this module (`from speedrun import harness`); the runner detects
that statically (`is_harness_variant`) before it starts anything, and then:

* hands the variant its configuration in a JSON file named by `SPEEDRUN_CONFIG`: the track
  and its scale (device, world size, model shape, sequence length, batch, token ceiling), the
  train shard paths, a *dev* shard (the tail of the validation shard, past the slice that is
  scored) for the variant's own loss reports, the output directory and where to export the
  model — but never the scored validation tokens;
* listens on the event channel named by `SPEEDRUN_EVENTS` (one JSON object per line) and
  timestamps each event on arrival with its own monotonic clock. Events: `hello`,
  `warmup_start`, `warmup_end` (sent once, even without a warmup: the timed clock starts
  there, and only then does the runner let the variant read its training shards and dev
  tail: a warmup trains on made-up tokens only), `val_pause` / `val_resume` (untimed up to a
  share of the timed time), `done` (with the script's own `train_time_ms`), `export` (the
  model file is written; it is hashed then and must not change afterwards). Untimed time is
  capped by the track; the runner's figure is official;
* after training, evaluates the exported model in a separate process that alone sees the
  validation slice. The model is exported with `torch.export` (a graph of tensor operations,
  not Python), so no submitted code runs where the validation tokens are.

Run by hand (no `SPEEDRUN_CONFIG`), `standalone_config` builds the same configuration from a
track definition and a local data directory, and events are dropped.

A *legacy variant* (an unmodified speedrun script) knows nothing of this; the runner then
times the whole process and marks the log's loss as self-reported.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

HARNESS_VERSION = 1
CONFIG_ENV = "SPEEDRUN_CONFIG"
EVENTS_ENV = "SPEEDRUN_EVENTS"
EVENT_NAMES = frozenset(
    {"hello", "warmup_start", "warmup_end", "val_pause", "val_resume", "done", "export"}
)
MODEL_FILE = "model.pt2"

# `[^\S\n]*+` (not `\s*`): leading blanks of one line only, possessive, so the scan is linear
# however many blank lines a hostile source holds.
_IMPORT_RE = re.compile(
    r"^[^\S\n]*+(from\s+speedrun\s+import\s+[^\n]*\bharness\b|import\s+speedrun\.harness\b"
    r"|from\s+speedrun\.harness\s+import\b)",
    re.MULTILINE,
)


def is_harness_variant(source: str) -> bool:
    """Whether a variant's source imports this module (decided before it runs)."""
    return bool(_IMPORT_RE.search(source))


@dataclass(frozen=True)
class HarnessConfig:
    """Everything a variant may know about its run; serialised to the SPEEDRUN_CONFIG file."""

    track: str  # "cpu-tiny@v1"
    scale: dict[str, Any]  # speedrun.tracks.Scale as a dict
    seed: int
    train_files: list[str]
    dev_file: str | None  # tail of the validation shard, for the variant's own val lines
    output_dir: str
    model_path: str  # where export_model writes the torch.export archive
    eval_seq_len: int
    eval_batch_seqs: int
    eos_token: int
    val_file: str | None = None  # only for runs by hand; never set by the runner
    val_tokens: int | None = None
    harness_version: int = HARNESS_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HarnessConfig:
        version = data.get("harness_version")
        if version != HARNESS_VERSION:
            raise ValueError(f"harness version {version!r} not supported ({HARNESS_VERSION})")
        return cls(**data)


def load_config() -> HarnessConfig | None:
    """The runner's configuration, or None when the variant was started by hand."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        return None
    with open(path, encoding="utf-8") as f:
        return HarnessConfig.from_dict(json.load(f))


def standalone_config(
    track_id: str, data_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str], seed: int
) -> HarnessConfig:
    """A configuration for running a variant by hand against locally fetched data."""
    from speedrun.tracks import get_track  # local import: keeps this module's import tiny

    track = get_track(track_id)
    folder = Path(data_dir) / track.dataset.name
    n_train = len(track.dataset.train_files) or track.dataset.train_shards
    train = [folder / track.dataset.train_name(i) for i in range(1, n_train + 1)]
    out = Path(output_dir)
    return HarnessConfig(
        track=track.key,
        scale=asdict(track.scale),
        seed=seed,
        train_files=[str(p) for p in train if p.exists()],
        dev_file=None,
        output_dir=str(out),
        model_path=str(out / MODEL_FILE),
        eval_seq_len=track.evaluation.seq_len,
        eval_batch_seqs=track.evaluation.batch_seqs,
        eos_token=track.dataset.eos_token,
        val_file=str(folder / track.dataset.val_file.name),
        val_tokens=track.dataset.val_tokens,
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

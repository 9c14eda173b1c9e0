"""What a variant may know about its run: the track's scale and the configuration the runner
writes as JSON to the file named by SPEEDRUN_CONFIG (or `standalone_config` builds by hand)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

HARNESS_VERSION = 1
CONFIG_ENV = "SPEEDRUN_CONFIG"
MODEL_FILE = "model.pt2"


@dataclass(frozen=True)
class Scale:
    """Where the variant runs and how big the model and batch are: the fields of
    `speedrun.tracks.Scale`, as a plain dataclass (the runner images have no pydantic)."""

    device: Literal["cuda", "cpu"]
    dtype: Literal["bfloat16", "float32"]
    world_size: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    seq_len: int
    batch_tokens: int  # tokens per optimizer step, all ranks together
    max_train_tokens: int  # ceiling on training tokens a variant may consume
    val_every_tokens: int  # suggested spacing of the variant's own val points (untimed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scale:
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise ValueError(f"scale fields differ from the harness's: {sorted(set(data) ^ names)}")
        return cls(**data)

    def __getitem__(self, name: str) -> Any:
        """`scale["vocab_size"]`: variants written when the scale was a dict still read it."""
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)


@dataclass(frozen=True)
class HarnessConfig:
    """Everything a variant may know about its run; serialised to the SPEEDRUN_CONFIG file."""

    track: str  # "cpu-tiny@v2"
    scale: Scale
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

    def __post_init__(self) -> None:
        if isinstance(self.scale, Mapping):  # built the old way, with the scale as a dict
            object.__setattr__(self, "scale", Scale.from_dict(self.scale))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HarnessConfig:
        version = data.get("harness_version")
        if version != HARNESS_VERSION:
            raise ValueError(f"harness version {version!r} not supported ({HARNESS_VERSION})")
        return cls(**data)  # the scale arrives as a JSON object; __post_init__ types it


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
    from speedrun.tracks import get_track  # local import: pydantic stays out of the runner image

    track = get_track(track_id)
    folder = Path(data_dir) / track.dataset.name
    n_train = len(track.dataset.train_files) or track.dataset.train_shards
    train = [folder / track.dataset.train_name(i) for i in range(1, n_train + 1)]
    out = Path(output_dir)
    return HarnessConfig(
        track=track.key,
        scale=Scale(**asdict(track.scale)),
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

"""speedrun.harness.config: the scale and configuration a variant reads, round-tripped
through JSON, and refused when the harness version or the scale fields do not match."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from speedrun.harness.config import (
    CONFIG_ENV,
    HARNESS_VERSION,
    MODEL_FILE,
    HarnessConfig,
    Scale,
    load_config,
    standalone_config,
)

SCALE = Scale(
    device="cpu",
    dtype="float32",
    world_size=1,
    vocab_size=256,
    n_layer=2,
    n_head=2,
    n_embd=32,
    seq_len=64,
    batch_tokens=512,
    max_train_tokens=100_000,
    val_every_tokens=10_000,
)


def config(**changes: object) -> HarnessConfig:
    fields: dict[str, object] = {
        "track": "cpu-tiny@v2",
        "scale": SCALE,
        "seed": 3,
        "train_files": ["/data/train_001.bin"],
        "dev_file": "/data/dev.bin",
        "output_dir": "/out",
        "model_path": f"/out/{MODEL_FILE}",
        "eval_seq_len": 64,
        "eval_batch_seqs": 4,
        "eos_token": 0,
    }
    return HarnessConfig(**(fields | changes))  # type: ignore[arg-type]


def test_the_config_file_round_trips_and_types_its_scale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(extra={"lr": 0.01})
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json(), encoding="utf-8")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    loaded = load_config()
    assert loaded == cfg
    assert loaded is not None and isinstance(loaded.scale, Scale)
    assert loaded.scale["n_embd"] == 32 and loaded.harness_version == HARNESS_VERSION
    monkeypatch.delenv(CONFIG_ENV)
    assert load_config() is None


def test_a_config_from_another_harness_version_is_refused() -> None:
    data = json.loads(config().to_json())
    for version in (HARNESS_VERSION + 1, None, "1"):
        with pytest.raises(ValueError, match="harness version"):
            HarnessConfig.from_dict(data | {"harness_version": version})
    del data["harness_version"]
    with pytest.raises(ValueError, match="harness version None"):
        HarnessConfig.from_dict(data)


def test_a_scale_with_missing_or_extra_fields_is_refused_naming_them() -> None:
    good = asdict(SCALE)
    with pytest.raises(ValueError, match=r"\['hidden_layers'\]"):
        Scale.from_dict(good | {"hidden_layers": 4})
    without = {k: v for k, v in good.items() if k != "seq_len"}
    with pytest.raises(ValueError, match=r"\['seq_len'\]"):
        Scale.from_dict(without)
    with pytest.raises(ValueError, match="scale fields differ"):
        config(scale=without)
    with pytest.raises(KeyError):
        SCALE["__init__"]


def test_a_standalone_config_points_into_the_track_data_folder(tmp_path: Path) -> None:
    cfg = standalone_config("cpu-tiny", tmp_path / "data", tmp_path / "out", seed=11)
    assert cfg.track.startswith("cpu-tiny@v")
    assert cfg.seed == 11 and cfg.dev_file is None
    assert cfg.train_files == []  # nothing fetched: only existing shards are listed
    assert cfg.model_path == str(tmp_path / "out" / MODEL_FILE)
    assert cfg.val_file is not None and cfg.val_file.startswith(str(tmp_path / "data"))

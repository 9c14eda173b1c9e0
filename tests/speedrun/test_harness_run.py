"""speedrun.harness.run: the plumbing every recipe shares. The common options; the config and
the recipe's schedule for its track (overrides applied, capped at the token ceiling, val
spacing from the track); and one process brought up on CPU: its log with the header, the
`hello` event, the variant's own val loss over training-shaped forwards, and the export."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speedrun.harness.config import CONFIG_ENV, standalone_config
from speedrun.harness.events import EVENTS_ENV
from speedrun.harness.run import arg_parser, resolve_run, start
from speedrun.tracks import get_track


@dataclass(frozen=True)
class Sched:
    steps: int
    val_every_steps: int | None = None
    val_tokens: int = 1024
    lr: float = 0.01

    def with_steps(self, steps: int) -> Sched:
        return replace(self, steps=steps)


@pytest.fixture(autouse=True)
def by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (CONFIG_ENV, EVENTS_ENV, "RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)


def args(tmp_path: Path, *argv: str) -> Any:
    return arg_parser("A recipe.\n\nMore.", str(tmp_path / "out")).parse_args(
        ["--track", "cpu-smoke", "--data-dir", str(tmp_path / "data"), *argv]
    )


def test_the_common_options_and_their_defaults(tmp_path: Path) -> None:
    parsed = args(tmp_path)
    assert (parsed.seed, parsed.steps, parsed.compile, parsed.export) == (0, None, None, True)
    assert not parsed.random_data and parsed.out == str(tmp_path / "out")
    parsed = args(tmp_path, "--no-export", "--compile", "--seed", "3", "--val-every", "7")
    assert (parsed.export, parsed.compile, parsed.seed, parsed.val_every) == (False, True, 3, 7)


def test_the_schedule_takes_the_overrides_and_the_tracks_val_spacing(tmp_path: Path) -> None:
    cfg, sched = resolve_run(
        args(tmp_path, "--steps", "3", "--val-tokens", "64"), {"cpu-smoke": Sched(10)}
    )
    assert cfg.track == get_track("cpu-smoke").key and cfg.output_dir == str(tmp_path / "out")
    assert (sched.steps, sched.val_tokens, sched.lr) == (3, 64, 0.01)
    scale = cfg.scale
    assert sched.val_every_steps == max(1, scale.val_every_tokens // scale.batch_tokens)
    _, explicit = resolve_run(args(tmp_path, "--val-every", "2"), {"cpu-smoke": Sched(10)})
    assert explicit.val_every_steps == 2


def test_steps_are_capped_at_the_tracks_token_ceiling(tmp_path: Path) -> None:
    cfg, sched = resolve_run(args(tmp_path, "--steps", "10000000"), {"cpu-smoke": Sched(10)})
    assert sched.steps == cfg.scale.max_train_tokens // cfg.scale.batch_tokens


def test_the_runners_config_wins_over_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = standalone_config("cpu-tiny", tmp_path / "d", tmp_path / "runner-out", seed=9)
    (tmp_path / "config.json").write_text(given.to_json())
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "config.json"))
    cfg, _ = resolve_run(args(tmp_path), {"cpu-tiny": Sched(5)})
    assert cfg == given


def test_a_track_without_a_schedule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no schedule for track 'cpu-smoke'"):
        resolve_run(args(tmp_path), {"cpu-tiny": Sched(5)})


@pytest.mark.slow  # torch.export: a few seconds
def test_one_cpu_process_logs_its_header_measures_val_loss_and_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events"))
    cfg = standalone_config("cpu-smoke", tmp_path / "data", tmp_path / "out", seed=0)
    code = tmp_path / "recipe.py"
    code.write_text("print('the recipe')\n")
    run = start(cfg, str(code))
    assert (run.rank, run.world_size, run.device.type, run.distributed) == (0, 1, "cpu", False)

    class Bigram(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(cfg.scale.vocab_size, cfg.scale.vocab_size)

        def forward(self, x: Any, y: Any = None) -> Any:
            logits = self.emb(x)
            if y is None:
                return logits
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())

    torch.manual_seed(0)
    model = Bigram()
    val = np.random.default_rng(0).integers(0, cfg.scale.vocab_size, 4 * 32 + 5).astype(np.int64)
    loss = run.val_loss(model, val, (8, 32, 1))  # 4 forwards of 4 rows x 8 tokens
    with torch.no_grad():
        by_hand = [
            model(
                torch.from_numpy(val[i * 32 : i * 32 + 32]).view(-1, 8),
                torch.from_numpy(val[i * 32 + 1 : i * 32 + 33]).view(-1, 8),
            )
            for i in range(4)
        ]
    assert loss == pytest.approx(float(sum(by_hand)) / 4, rel=1e-6)
    run.export(model)
    run.print0("step:1/1 val_loss:1.0")
    run.close()

    log = (tmp_path / "out" / "log.txt").read_text()
    assert "print('the recipe')" in log and "Running" in log
    assert log.rstrip().endswith("step:1/1 val_loss:1.0")
    assert f"exported model to {cfg.model_path}" in log
    names = [json.loads(line)["event"] for line in (tmp_path / "events").read_text().splitlines()]
    assert names == ["hello", "export"]
    assert Path(cfg.model_path).stat().st_size > 0

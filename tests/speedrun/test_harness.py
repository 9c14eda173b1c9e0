"""The harness contract: static detection, configuration round trip, events on the channel."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from speedrun import harness


@pytest.mark.parametrize(
    "source",
    [
        "from speedrun import harness\n",
        "import os\nfrom speedrun import tracks, harness\n",
        "import speedrun.harness as h\n",
        "from speedrun.harness import Harness\n",
    ],
)
def test_harness_variants_are_detected(source: str) -> None:
    assert harness.is_harness_variant(source)


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nprint('legacy speedrun script')\n",
        "# from speedrun import harness (commented out)\n",
        "s = 'from speedrun import harness'\n",
    ],
)
def test_legacy_variants_are_not_detected(source: str) -> None:
    assert not harness.is_harness_variant(source)


def test_config_round_trip_and_version_check(tmp_path: Path) -> None:
    cfg = harness.standalone_config("cpu-smoke", tmp_path / "data", tmp_path / "out", seed=7)
    assert cfg.track == "cpu-smoke@v2"
    assert cfg.scale["world_size"] == 2
    assert cfg.model_path.endswith(harness.MODEL_FILE)
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    os.environ[harness.CONFIG_ENV] = str(path)
    try:
        loaded = harness.load_config()
    finally:
        del os.environ[harness.CONFIG_ENV]
    assert loaded == cfg
    bad = json.loads(cfg.to_json()) | {"harness_version": 99}
    with pytest.raises(ValueError, match="harness version"):
        harness.HarnessConfig.from_dict(bad)


def test_events_go_to_the_channel_from_rank_zero_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = tmp_path / "events"
    monkeypatch.setenv(harness.EVENTS_ENV, str(channel))
    h0 = harness.Harness(rank=0, world_size=2)
    h1 = harness.Harness(rank=1, world_size=2)
    h0.hello()
    h1.warmup_start()
    h0.warmup_end()
    h0.done(step=10, train_time_ms=123.0, train_tokens=4096)
    h0.close()
    events = [json.loads(line) for line in channel.read_text().splitlines()]
    assert [e["event"] for e in events] == ["hello", "warmup_end", "done"]
    assert events[2]["train_time_ms"] == 123.0
    with pytest.raises(ValueError, match="unknown harness event"):
        h1.event("cheat")


def test_detecting_the_harness_is_linear_in_hostile_source() -> None:
    """300,000 blank lines (a quadratic `^\\s*` took seconds on 20,000)."""
    import time

    from speedrun.harness import is_harness_variant

    started = time.monotonic()
    assert not is_harness_variant("\n" * 300_000 + "x = 1\n")
    assert is_harness_variant("\n" * 300_000 + "  from speedrun import harness\n")
    assert time.monotonic() - started < 0.5

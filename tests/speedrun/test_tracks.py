"""Tracks as versioned data: every rule present, hidden tracks hidden, bad definitions named."""

from __future__ import annotations

import copy
import json
import tomllib
from importlib import resources
from typing import Any

import pytest

from speedrun import cli
from speedrun.errors import TrackError
from speedrun.tracks import get_track, list_tracks, load_tracks, parse_track

GPT2_TRACKS = ["gpt2-124m-8xh100", "gpt2-124m-1xgpu"]


def tracks_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert cli.main(["tracks", "--json", *args]) == 0
    data: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return data


def raw_track(name: str = "cpu-smoke.v2.toml") -> dict[str, Any]:
    text = resources.files("speedrun.trackdefs").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_every_track_in_json_has_every_rule(capsys):
    tracks = tracks_json(capsys, "--all")
    assert {t["id"] for t in tracks} >= {"cpu-tiny", "cpu-smoke", *GPT2_TRACKS}
    for t in tracks:
        where = t["id"]
        assert isinstance(t["version"], int) and t["version"] >= 1, where
        d = t["dataset"]
        assert d["source"] and d["revision"], where
        assert d["val_file"]["name"].endswith(".bin"), where
        assert "%06d" in d["train_pattern"] and d["train_shards"] >= 1, where
        assert d["val_tokens"] > 0, where  # the validation slice: the first val_tokens tokens
        assert t["hardware"]["class"] and t["hardware"]["accelerator"] in ("cuda", "cpu"), where
        assert t["launcher"]["command"].startswith("torchrun --standalone --nproc_per_node="), where
        assert t["launcher"]["backend"] in ("nccl", "gloo"), where
        assert t["limits"]["wall_clock_s"] > t["limits"]["untimed_cap_s"] > 0, where
        r = t["rules"]
        assert r["target_val_loss"] > 0 and r["runs_required"] >= 2, where
        assert 0 < r["significance_alpha"] < 0.5, where  # significance rule
        assert 0 < r["beat_alpha"] < 0.5 and r["min_speedup"] >= 0, where  # margin rule
        assert isinstance(r["paired_ab"], bool), where


@pytest.mark.parametrize("track_id", GPT2_TRACKS)
def test_gpt2_tracks_pin_fineweb_and_the_3_28_target(capsys, track_id):
    t = next(t for t in tracks_json(capsys) if t["id"] == track_id)
    assert t["rules"]["target_val_loss"] == 3.28
    d = t["dataset"]
    assert (d["kind"], d["source"], d["repo_type"]) == ("hub", "kjj0/fineweb10B-gpt2", "dataset")
    assert len(d["revision"]) == 40 and int(d["revision"], 16) >= 0  # a commit, not a branch
    assert d["val_file"]["name"] == "fineweb_val_000000.bin"
    assert d["train_pattern"] == "fineweb_train_%06d.bin"
    assert d["val_tokens"] == 10_485_760
    assert t["scale"]["world_size"] == t["launcher"]["nproc_per_node"]


def test_main_track_is_8xh100_with_paired_timing():
    t = get_track("gpt2-124m-8xh100")
    assert (t.hardware.klass, t.hardware.count, t.launcher.nproc_per_node) == ("8xH100-80GB", 8, 8)
    assert t.rules.paired_ab


def test_synthetic_tracks_pin_every_file():
    for t in list_tracks(include_hidden=True):
        if t.dataset.kind != "synthetic":
            continue
        files = [t.dataset.val_file, *t.dataset.train_files]
        assert len(t.dataset.train_files) == t.dataset.train_shards
        assert all(f.sha256 and len(f.sha256) == 64 for f in files), t.id
        assert t.entropy_floor is not None and t.entropy_floor < t.rules.target_val_loss


def test_cpu_smoke_is_hidden_unless_asked_for(capsys):
    assert cli.main(["tracks"]) == 0
    plain = capsys.readouterr().out
    assert "cpu-tiny@v2" in plain and "gpt2-124m-8xh100@v2" in plain
    assert "cpu-smoke" not in plain
    assert cli.main(["tracks", "--all"]) == 0
    assert "cpu-smoke@v2" in capsys.readouterr().out
    assert "cpu-smoke" not in [t.id for t in list_tracks()]
    assert "cpu-smoke" in [t.id for t in list_tracks(include_hidden=True)]


def test_get_track_by_id_and_version():
    assert get_track("cpu-tiny").key == "cpu-tiny@v2"
    assert get_track("cpu-tiny@v2").version == 2
    assert get_track("cpu-tiny", 1).id == "cpu-tiny"
    assert get_track("cpu-tiny@v1").retired and not get_track("cpu-tiny@v1").accepts_runs
    with pytest.raises(TrackError, match="has no version 9"):
        get_track("cpu-tiny@v9")
    with pytest.raises(TrackError, match="bad track version"):
        get_track("cpu-tiny@vx")


def test_unknown_track_exits_2_with_the_known_ones_listed(capsys):
    assert cli.main(["data", "fetch", "--track", "no-such-track"]) == 2
    err = capsys.readouterr().err
    assert "unknown track 'no-such-track'" in err and "cpu-tiny" in err


def test_shipped_definitions_parse():
    assert all(versions for versions in load_tracks().values())
    assert parse_track(raw_track(), "cpu-smoke.v2.toml") == get_track("cpu-smoke")


def _drop(section: str | None, key: str) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        del (raw[section] if section else raw)[key]

    return edit


def _set(section: str, key: str, value: Any) -> Any:
    def edit(raw: dict[str, Any]) -> None:
        raw[section][key] = value

    return edit


MALFORMED = {
    "missing table": (_drop(None, "rules"), "rules: Field required"),
    "missing dataset": (_drop(None, "dataset"), "dataset: Field required"),
    "missing field": (_drop("limits", "wall_clock_s"), "limits.wall_clock_s: Field required"),
    "missing top field": (_drop(None, "version"), "version"),
    "unknown key": (_set("scale", "n_layers", 3), "scale.n_layers: Unexpected"),
    "unknown top key": (lambda raw: raw.update(colour="red"), "colour: Unexpected"),
    "world size": (_set("scale", "world_size", 3), "scale.world_size"),
    "heads": (_set("scale", "n_head", 3), "n_embd must be divisible by n_head"),
    "batch": (_set("scale", "batch_tokens", 1000), "batch_tokens"),
    "val slice": (_set("dataset", "val_tokens", 1000), "val_tokens"),
    "one run": (_set("rules", "runs_required", 1), "rules.runs_required"),
    "hardware class": (_drop("hardware", "class"), "hardware.class: Field required"),
    "no val_file": (_drop("dataset", "val_file"), "dataset.val_file"),
    "val_file key": (lambda raw: raw["dataset"]["val_file"].update(sha="x"), "val_file.sha"),
    "train_files key": (_set("dataset", "train_files", [{"nme": "a.bin"}]), "train_files.0"),
    "zero heads": (_set("scale", "n_head", 0), "scale.n_head"),
    "zero seq_len": (_set("scale", "seq_len", 0), "scale.seq_len"),
    "target type": (_set("rules", "target_val_loss", "low"), "rules.target_val_loss"),
    "backend value": (_set("launcher", "backend", "mpi"), "launcher.backend"),
}


@pytest.mark.parametrize(
    "case",
    list(MALFORMED),
)
def test_malformed_definition_names_file_and_field(case):
    edit, field = MALFORMED[case]
    raw = copy.deepcopy(raw_track())
    edit(raw)
    with pytest.raises(TrackError) as err:
        parse_track(raw, "broken.v1.toml")
    message = str(err.value)
    assert message.startswith("broken.v1.toml"), message
    assert field in message, message

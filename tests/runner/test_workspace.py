"""runner.workspace: an attempt's folders and their permissions (data locked until
warmup_end, the variant read-only, the event FIFO in place), and the val shard split into
the scored slice and the dev tail."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from runner.workspace import DEV_FILE, SLICE_FILE, Workspace, derive_val_files
from speedrun.data.shards import read_shard, write_shard
from speedrun.errors import DataError
from speedrun.tracks import get_track


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_attempt_workspace_is_laid_out_and_locked(tmp_path: Path) -> None:
    ws = Workspace.create(b"print('hi')\n", "v.py", parent=tmp_path)
    try:
        assert ws.root.parent == tmp_path
        assert ws.variant == ws.root / "variant" / "v.py"
        assert ws.variant.read_bytes() == b"print('hi')\n"
        assert mode(ws.variant) == 0o444
        assert stat.S_ISFIFO(ws.fifo.stat().st_mode)
        assert ws.config == ws.ctl / "config.json"
        site = ws.ctl / "sitecustomize.py"  # runner.stdio_site, read-only to the variant
        assert "def whole_lines" in site.read_text() and mode(site) == 0o444
        assert mode(ws.data) == 0o700
        assert ws.out.is_dir() and ws.eval_out.is_dir() and ws.eval_model.is_dir()
        point = ws.mount_point("train_000001.bin")
        assert point.parent == ws.data and point.stat().st_size == 0
        ws.unlock_data()
        assert mode(ws.data) == 0o755
    finally:
        ws.remove()
    assert not ws.root.exists()


def test_two_attempts_never_share_a_root(tmp_path: Path) -> None:
    a = Workspace.create(b"", "a.py", parent=tmp_path)
    b = Workspace.create(b"", "a.py", parent=tmp_path)
    assert a.root != b.root
    a.remove()
    assert b.variant.exists()
    b.remove()


def test_the_val_shard_splits_into_scored_slice_and_dev_tail(tmp_path: Path) -> None:
    track = get_track("cpu-smoke")
    need = track.dataset.val_tokens + 1
    val = tmp_path / "val.bin"
    tokens = np.arange(need + 10) % 1000
    write_shard(val, tokens)
    derived = derive_val_files(track, val, tmp_path / "session")
    assert derived.slice_file == tmp_path / "session" / SLICE_FILE
    assert derived.dev_file == tmp_path / "session" / DEV_FILE
    assert np.array_equal(read_shard(derived.slice_file), tokens[:need])
    assert np.array_equal(read_shard(derived.dev_file), tokens[need:])

    exact = tmp_path / "exact.bin"
    write_shard(exact, tokens[:need])
    assert derive_val_files(track, exact, tmp_path / "exact").dev_file is None


def test_a_val_shard_too_short_for_the_track_is_refused(tmp_path: Path) -> None:
    track = get_track("cpu-smoke")
    val = tmp_path / "val.bin"
    write_shard(val, np.zeros(track.dataset.val_tokens, dtype=np.uint16))
    with pytest.raises(DataError, match=f"{track.dataset.val_tokens} tokens, the track scores"):
        derive_val_files(track, val, tmp_path / "session")
    assert not (tmp_path / "session" / SLICE_FILE).exists()

"""Every folder under records/ is a complete record: a harness variant readable in one sitting
(sections in the house order, under ~800 lines), metadata naming real tracks and credits, and
a README."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from speedrun.harness import is_harness_variant
from speedrun.tracks import get_track

RECORDS = Path(__file__).resolve().parents[2] / "records"
FOLDERS = sorted(p for p in RECORDS.iterdir() if p.is_dir() and not p.name.startswith("."))
SECTIONS = ["Kernels", "Optimizer", "Modules", "Model", "Data loader", "Main"]


def test_there_are_records() -> None:
    assert {p.name for p in FOLDERS} >= {"seed-recipe", "llmc-baseline"}


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_variant_is_one_readable_harness_file(folder: Path) -> None:
    source = (folder / "train_gpt.py").read_text(encoding="utf-8")
    assert is_harness_variant(source)
    assert len(source.splitlines()) < 800
    assert "one sitting" in source[:2000]
    titles = re.findall(r"^# -{20,}\n# (.+)$", source, flags=re.MULTILINE)
    order = [next(s for s in SECTIONS if t.startswith(s)) for t in titles]
    assert order == SECTIONS, titles


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_metadata_names_real_tracks_and_credits(folder: Path) -> None:
    meta = tomllib.loads((folder / "record.toml").read_text(encoding="utf-8"))
    assert meta["name"] == folder.name and meta["variant"] == "train_gpt.py"
    for track_id in meta["tracks"]:
        get_track(track_id)
    assert meta["credits"] and all(
        c["who"] and c["link"].startswith("http") for c in meta["credits"]
    )
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "cpu-tiny" in readme and "gpt2-124m-8xh100" in readme

"""speedrun.harness.detect: which sources count as harness variants, decided from the text
alone (imports inside strings, comments or other packages do not count)."""

from __future__ import annotations

import time

import pytest

from speedrun.harness.detect import is_harness_variant


@pytest.mark.parametrize(
    "source",
    [
        "from speedrun.harness.config import load_config\n",
        "import torch\n\tfrom speedrun import (harness)\n",
        "if True:\n    import speedrun.harness\n",
    ],
)
def test_imports_of_the_harness_are_detected(source: str) -> None:
    assert is_harness_variant(source)


@pytest.mark.parametrize(
    "source",
    [
        "",
        "from speedrun import tracks\n",
        "import speedrun.harnesses\n",
        "from speedrunner.harness import x\n",
        'doc = """\nx from speedrun import harness\n"""\n',
        "x = 1  # import speedrun.harness\n",
    ],
)
def test_other_sources_are_not(source: str) -> None:
    assert not is_harness_variant(source)


def test_a_hostile_line_of_blanks_is_scanned_in_linear_time() -> None:
    started = time.monotonic()
    assert not is_harness_variant(" " * 1_000_000 + "x\n" + "\t \n" * 100_000)
    assert time.monotonic() - started < 0.5

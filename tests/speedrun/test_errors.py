"""speedrun.errors: one hierarchy, each error carrying what its caller reports, and the exit
code the `speedrun` command ends with when a handler raises it (through the real CLI)."""

from __future__ import annotations

import pytest

from speedrun.cli import run_command
from speedrun.errors import (
    BundleError,
    BundleInvalid,
    DataError,
    IntegrityError,
    KeyFileError,
    LogParseError,
    RuleViolation,
    ShardError,
    SpeedrunError,
    TrackError,
    UsageError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SpeedrunError("x"), 1),
        (UsageError("x"), 2),
        (TrackError("x"), 2),
        (DataError("x"), 1),
        (ShardError("a.bin", "short header"), 1),
        (IntegrityError("a.bin", "aa", "bb"), 1),
        (KeyFileError("x"), 2),
        (LogParseError("log.txt", "no steps"), 1),
        (BundleError("x"), 4),
        (BundleInvalid("bad signature"), 3),
        (RuleViolation("time", "off by 30%"), 1),
    ],
)
def test_every_error_is_a_speedrun_error_with_its_exit_code(
    error: SpeedrunError, code: int
) -> None:
    assert isinstance(error, SpeedrunError)
    assert error.exit_code == code


def test_errors_name_what_went_wrong_and_keep_the_parts() -> None:
    shard = ShardError("train_001.bin", "magic 0 is not 20240520")
    assert str(shard) == "train_001.bin: magic 0 is not 20240520"
    assert (shard.path, shard.problem) == ("train_001.bin", "magic 0 is not 20240520")
    assert isinstance(shard, DataError)

    integrity = IntegrityError("val.bin", "ab" * 32, "cd" * 32)
    assert "expected " + "ab" * 32 in str(integrity) and "got " + "cd" * 32 in str(integrity)
    assert integrity.actual_sha256 == "cd" * 32

    parse = LogParseError("run.txt", "no step lines")
    assert (str(parse), parse.source, parse.reason) == (
        "run.txt: no step lines",
        "run.txt",
        "no step lines",
    )

    rule = RuleViolation("loss_tolerance", "self-reported 3.1 vs 3.4")
    assert str(rule) == "rule 'loss_tolerance' violated: self-reported 3.1 vs 3.4"


def test_an_invalid_bundle_is_a_bundle_error_with_a_code() -> None:
    assert BundleInvalid("x").code == "invalid"
    err = BundleInvalid("member log.txt: sha256 mismatch", code="member-hash")
    assert (err.reason, err.code) == ("member log.txt: sha256 mismatch", "member-hash")
    with pytest.raises(BundleError):  # callers that only read bundles catch the base class
        raise err


def test_the_cli_prints_one_line_and_exits_with_the_errors_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_command(["data", "fetch", "--track", "no-such-track"]) == TrackError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("speedrun data: error: ") and "no-such-track" in err
    assert err.count("\n") == 1 and "Traceback" not in err

"""`speedrun keys init` and loading the signing key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from runner_helpers import cli

from runner.keys import load_signing_key
from speedrun import signing
from speedrun.errors import KeyFileError


def test_keys_init_creates_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    key = tmp_path / "sub" / "runner.key"
    code, out, _ = cli("keys", "init", "--key", str(key))
    assert code == 0
    assert out.strip() == str(key) + ".pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = signing.load_public_key(Path(out.strip()))
    private, _ = load_signing_key(key)
    assert signing.key_id(private.public_key()) == signing.key_id(public)


def test_keys_init_uses_speedrun_key_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPEEDRUN_KEY", str(tmp_path / "env.key"))
    assert cli("keys", "init")[0] == 0
    before = (tmp_path / "env.key").read_bytes()
    code, _, err = cli("keys", "init")
    assert code == 2 and "refusing to overwrite" in err
    assert (tmp_path / "env.key").read_bytes() == before


def test_default_key_lives_under_the_home_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPEEDRUN_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, out, _ = cli("keys", "init")
    assert code == 0
    assert out.strip() == str(tmp_path / ".config" / "speedrun" / "runner.key.pub")


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "k"
    signing.init_keypair(key)
    key.chmod(0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        load_signing_key(key)


def test_garbage_and_missing_keys_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_signing_key(bad)
    with pytest.raises(KeyFileError, match="no signing key"):
        load_signing_key(tmp_path / "missing.key")

"""Bad input gets one clear line, the right exit code, and leaves nothing behind."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from runner_helpers import TINY, cli

from speedrun import signing


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "runner.key"
    signing.init_keypair(path)
    return path


def run_args(out: Path, key: Path, *extra: str, variant: str = str(TINY)) -> list[str]:
    return [
        "run",
        variant,
        "--track",
        "cpu-smoke",
        "--backend",
        "local",
        "--out",
        str(out),
        "--key",
        str(key),
        *extra,
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variant": "/nonexistent/train_gpt.py"}, "no such variant file"),
        ({"variant": "/"}, "not a regular file"),
        ({"extra": ["--track", "no-such-track"]}, "unknown track"),
        ({"extra": ["--time-limit", "181"]}, "may only lower the track's limit"),
        ({"extra": ["--time-limit", "0"]}, "--time-limit must be in"),
        ({"extra": ["--runs", "0"]}, "--runs must be at least 1"),
        ({"extra": ["--baseline", str(TINY)]}, "needs --runs >= 2"),
        ({"extra": ["--backend", "kubernetes"]}, "unknown backend"),
    ],
    ids=[
        "missing-variant",
        "dir-variant",
        "unknown-track",
        "limit-too-high",
        "limit-zero",
        "zero-runs",
        "ab-one-run",
        "bad-backend",
    ],
)
def test_bad_run_arguments(tmp_path: Path, key: Path, change: dict, message: str) -> None:  # type: ignore[type-arg]
    out = tmp_path / "out"
    args = run_args(out, key, *change.get("extra", []), variant=change.get("variant", str(TINY)))
    code, _, stderr = cli(*args)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1
    assert not out.exists()


def test_unusable_keys(tmp_path: Path, key: Path) -> None:
    out = tmp_path / "out"
    code, _, err = cli(*run_args(out, tmp_path / "missing.key"))
    assert code == 2 and "no signing key" in err
    key.chmod(0o644)
    code, _, err = cli(*run_args(out, key))
    assert code == 2 and "readable by others" in err
    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnope\n")
    garbage.chmod(0o600)
    code, _, err = cli(*run_args(out, garbage))
    assert code == 2 and "not a PEM private key" in err
    assert not out.exists()


def test_out_must_be_a_directory(tmp_path: Path, key: Path) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    code, _, err = cli(*run_args(out, key))
    assert code == 2 and "not a directory" in err


def test_docker_backend_without_an_engine(
    tmp_path: Path, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    out = tmp_path / "out"
    args = run_args(out, key)
    args[args.index("local")] = "docker"
    code, _, err = cli(*args)
    assert code == 1 and "no container engine" in err
    assert not out.exists()


def tar_gz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, 4),  # no such file
        (b"", 4),
        (b"hello, I am a text file\n", 4),
        (b"PK\x03\x04" + b"\0" * 100, 4),  # a zip
        (gzip.compress(b"not a tar at all" * 100), 4),
        (tar_gz({"readme.txt": b"no manifest"}), 4),
        (tar_gz({"manifest.json": b"{not json"}), 3),
        (tar_gz({"manifest.json": b"{}"}), 3),
    ],
    ids=[
        "missing",
        "empty",
        "text",
        "zip",
        "gzip-not-tar",
        "no-manifest",
        "bad-json",
        "empty-manifest",
    ],
)
def test_verify_unreadable_and_invalid_files(
    tmp_path: Path, content: bytes | None, code: int
) -> None:
    path = tmp_path / "b.tar.gz"
    if content is not None:
        path.write_bytes(content)
    got, out, err = cli("verify", str(path))
    assert got == code
    assert out == "" and err.startswith("speedrun verify: ") and err.count("\n") == 1


def test_verify_with_an_unreadable_pubkey(tmp_path: Path) -> None:
    path = tmp_path / "b.tar.gz"
    path.write_bytes(b"x")
    code, _, err = cli("verify", str(path), "--pubkey", str(tmp_path / "none.pub"))
    assert code == 2 and "cannot read public key" in err

"""The bundle intake under hostile uploads, over real HTTP to `speedrun serve` in a process
of its own (SQLite and PostgreSQL): each upload below is refused with a 4xx problem naming
the reason, within a second, with the server's peak memory (VmHWM) growing by less than
64 MiB over all of them together, and every table's row count as it was.

The server runs with a raw body bound of 8 MiB and an expanded bound of 16 MiB: a hostile
upload costs at most those bounds in memory, whatever it declares (the defaults, 64 and
128 MiB, would let one legitimate-looking upload alone pass the 64 MiB check)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import socket
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from srv_helpers import Served, assert_problem, row_counts, serve_process
from support.bundles import make_bundle
from support.tarballs import sparse_bomb, tar_gz

from server.db import Database
from server.services import manifest as manifest_checks
from server.services.runners import add_runner
from speedrun import signing

RAW_BYTES, EXPANDED_BYTES = 8 * 1024**2, 16 * 1024**2
MEMORY_BOUND_KIB = 64 * 1024
TIME_BOUND_S = 1.0
ITEMS = 200_000


def ten_gb_header(_: Path) -> bytes:
    info = tarfile.TarInfo("manifest.json")
    info.size = 10 * 1024**3
    return gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024))


def bad_items(signature: dict[str, str] | None) -> bytes:
    """A manifest of 200,000 values no database can hold (NaN), in about a kilobyte."""
    items = "[" + ",".join(["NaN"] * ITEMS) + "]"
    head = "" if signature is None else f'"signature": {json.dumps(signature)}, '
    return tar_gz({"manifest.json": f'{{{head}"items": {items}}}'.encode()})


def signature_of(key: Ed25519PrivateKey) -> dict[str, str]:
    """A well-formed signature block of `key` (its value signs nothing in particular)."""
    public = key.public_key()
    return {
        "algorithm": signing.ALGORITHM,
        "key_id": signing.key_id(public),
        "public_key": signing.public_key_b64(public),
        "value": signing.sign(key, b"something else"),
    }


def deep_nesting(_: Path) -> bytes:
    depth = 200_000
    return tar_gz({"manifest.json": b'{"a": ' + b"[" * depth + b"]" * depth + b"}"})


def gzip_bomb(_: Path) -> bytes:
    """1 GiB of zeros in about a megabyte: refused at the expanded bound."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as gz:
        block = bytes(1024**2)
        for _ in range(1024):
            gz.write(block)
    return out.getvalue()


# name -> (body maker, status, code); the registered key is passed to the makers that need it.
Maker = Callable[[Path, Ed25519PrivateKey], bytes]
CASES: dict[str, tuple[Maker, int, str]] = {
    "sparse tar bomb": (lambda t, k: sparse_bomb(t), 422, "unsafe-member"),
    "10 GB member header": (lambda t, k: ten_gb_header(t), 422, "too-large"),
    "200,000 bad items, unsigned": (lambda t, k: bad_items(None), 422, "bad-signature"),
    "200,000 bad items, unknown key": (
        lambda t, k: bad_items(signature_of(Ed25519PrivateKey.generate())),
        422,
        "unknown-key",
    ),
    "200,000 bad items, registered key, wrong signature": (
        lambda t, k: bad_items(signature_of(k)),
        422,
        "bad-signature",
    ),
    "deeply nested manifest": (lambda t, k: deep_nesting(t), 422, "bad-manifest"),
    "gzip bomb": (lambda t, k: gzip_bomb(t), 422, "too-large"),
    "truncated gzip": (lambda t, k: make_bundle(k)[:-40], 400, "truncated-bundle"),
}


@pytest.fixture
def intake(db_url: str) -> Iterator[tuple[Served, Database, Ed25519PrivateKey]]:
    key = Ed25519PrivateKey.generate()
    db = Database(db_url)
    with db.write() as session:
        add_runner(session, "ci-runner", key.public_key())
    env = {
        "SPEEDRUN_MAX_BUNDLE_BYTES": str(RAW_BYTES),
        "SPEEDRUN_MAX_BUNDLE_EXPANDED_BYTES": str(EXPANDED_BYTES),
    }
    try:
        with serve_process(db_url, **env) as served:
            yield served, db, key
    finally:
        db.dispose()


def _declared_oversize(base: str) -> tuple[int, str]:
    """Headers declaring a 10 GB body, and no body: answered before any of it is read."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\n"
            b"Content-Length: 10000000000\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    head, _, body = answer.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def _streamed_oversize(client: httpx.Client) -> httpx.Response:
    """A chunked body (no length declared) that never ends: refused once past the bound."""

    def endless() -> Iterator[bytes]:
        for _ in range(4 * RAW_BYTES // 65536):
            yield bytes(65536)

    return client.post("/api/v1/runs", content=endless())


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar makes the sparse bomb")
def test_hostile_uploads_are_refused_fast_in_bounded_memory_storing_nothing(intake, tmp_path):
    served, db, key = intake
    bodies = {
        name: (make(tmp_path, key), status, code) for name, (make, status, code) in CASES.items()
    }
    assert len(bodies["sparse tar bomb"][0]) < 200
    assert len(bodies["200,000 bad items, unsigned"][0]) < 4096
    before = row_counts(db)
    with httpx.Client(base_url=served.base, timeout=30) as client:
        assert client.post("/api/v1/runs", content=b"warm-up").status_code == 400
        peak_before = served.memory_kib()
        took = {}
        for name, (body, status, code) in bodies.items():
            started = time.perf_counter()
            answer = client.post("/api/v1/runs", content=body)
            took[name] = time.perf_counter() - started
            assert_problem(answer, status, code)
        started = time.perf_counter()
        status, text = _declared_oversize(served.base)
        took["declared 10 GB body"] = time.perf_counter() - started
        assert status == 413 and '"code":"too-large"' in text
        started = time.perf_counter()
        assert_problem(_streamed_oversize(client), 413, "too-large")
        took["streamed body past the raw bound"] = time.perf_counter() - started
        assert client.get("/api/v1/health").status_code == 200  # still serving
    grown_kib = served.memory_kib() - peak_before
    print(f"refusals (s): { {n: round(s, 3) for n, s in took.items()} }; VmHWM +{grown_kib} KiB")
    slow = {name: round(s, 3) for name, s in took.items() if s >= TIME_BOUND_S}
    assert not slow, f"refusals slower than {TIME_BOUND_S} s: {slow}"
    assert grown_kib < MEMORY_BOUND_KIB, f"peak RSS grew {grown_kib} KiB: {took}"
    assert row_counts(db) == before


def test_values_are_walked_only_after_the_signature(client, monkeypatch, runner_key):
    """The recursive value check never runs on a manifest the registry does not vouch for."""
    walked: list[object] = []
    real = manifest_checks.check_values
    monkeypatch.setattr(
        "server.services.ingest.check_values", lambda v, *a: (walked.append(v), real(v, *a))
    )
    for body in (bad_items(None), bad_items(signature_of(Ed25519PrivateKey.generate()))):
        assert client.post("/api/v1/runs", content=body).status_code == 422
    assert walked == []
    assert client.post("/api/v1/runs", content=make_bundle(runner_key)).status_code == 201
    assert len(walked) == 1  # a trusted, verified manifest is checked

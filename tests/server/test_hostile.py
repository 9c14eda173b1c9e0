"""Hostile input to POST /api/v1/runs: every rejection is a 4xx in one problem-JSON shape that
names the reason, and nothing is stored (row counts of every table before == after)."""

from __future__ import annotations

import gzip
import json
import select
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from srv_helpers import assert_problem, row_counts
from support.bundles import LOSS, make_bundle, manifest
from support.serving import live_server
from support.tarballs import members, tar_gz

from server.app import create_app
from server.config import load_settings


def _tampered(key: Ed25519PrivateKey) -> bytes:
    files = members(make_bundle(key))
    files["log.txt"] = files["log.txt"].replace(f"val_loss:{LOSS:.4f}".encode(), b"val_loss:0.1234")
    return tar_gz(files)


def _resigned_manifest(key: Ed25519PrivateKey, change) -> bytes:
    files = members(make_bundle(key))
    m = json.loads(files["manifest.json"])
    change(m)
    files["manifest.json"] = json.dumps(m).encode()
    return tar_gz(files)


CASES = {
    "empty": (lambda k: b"", 400, "empty-bundle"),
    "not an archive": (lambda k: b"PK\x03\x04 definitely a zip", 400, "not-a-bundle"),
    "gzip but not tar": (lambda k: gzip.compress(b"hello" * 100), 400, "not-a-bundle"),
    "truncated": (lambda k: make_bundle(k)[:-40], 400, "truncated-bundle"),
    "wrong signature": (
        lambda k: _resigned_manifest(k, lambda m: m["figures"].update(time_ms=1.0)),
        422,
        "bad-signature",
    ),
    "unknown key": (lambda k: make_bundle(Ed25519PrivateKey.generate()), 422, "unknown-key"),
    "tampered member": (_tampered, 422, "tampered"),
    "unknown track": (lambda k: make_bundle(k, track="no-such-track"), 422, "unknown-track"),
    "unknown track version": (lambda k: make_bundle(k, version=99), 422, "unknown-track"),
    "dot-dot member": (
        lambda k: tar_gz({"manifest.json": b"{}", "../evil": b"x"}),
        422,
        "unsafe-member-name",
    ),
    "absolute member": (
        lambda k: tar_gz({"manifest.json": b"{}", "/etc/passwd": b"x"}),
        422,
        "unsafe-member-name",
    ),
    "manifest not utf-8": (
        lambda k: tar_gz({"manifest.json": b'{"a": "\xff\xfe"}'}),
        422,
        "bad-encoding",
    ),
    "manifest not json": (lambda k: tar_gz({"manifest.json": b"{nope"}), 422, "bad-manifest"),
    # Edited after signing: the signature, checked first, refuses them before anything
    # walks the values (a lone surrogate or NaN cannot even be signed: no canonical form).
    "lone surrogate in text": (
        lambda k: _raw_edit(k, '"variant"', '"\\ud800"'),
        422,
        "bad-signature",
    ),
    "NUL in text": (lambda k: _raw_edit(k, '"variant"', '"a\\u0000b"'), 422, "bad-signature"),
    "NaN number": (lambda k: _raw_edit(k, '"seed": 0', '"seed": NaN'), 422, "bad-signature"),
    "huge integer": (
        lambda k: _raw_edit(k, '"seed": 0', '"seed": ' + "9" * 30),
        422,
        "bad-signature",
    ),
    # Signed by the registered runner: the values are checked after the signature.
    "NUL in text, signed": (lambda k: _signed_with(k, python="3.11\x00"), 422, "bad-text"),
    "huge integer, signed": (lambda k: _signed_with(k, python=10**30), 422, "bad-number"),
    "schema violation": (lambda k: _signed_without(k, "run_id"), 422, "schema"),
}


def _signed_without(key: Ed25519PrivateKey, field: str) -> bytes:
    """A correctly signed manifest that lacks a required field."""
    m = manifest()
    m.pop(field)
    return make_bundle(key, m)


def _signed_with(key: Ed25519PrivateKey, **software: object) -> bytes:
    """A correctly signed manifest with these values in its free-form software block."""
    m = manifest()
    m["fingerprint"]["software"].update(software)
    return make_bundle(key, m)


def _raw_edit(key: Ed25519PrivateKey, old: str, new: str) -> bytes:
    """Edit the manifest's JSON text (escapes and all) after signing."""
    files = members(make_bundle(key))
    text = files["manifest.json"].decode()
    assert old in text
    files["manifest.json"] = text.replace(old, new, 1).encode()
    return tar_gz(files)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rejected_with_a_problem_and_nothing_stored(case, client, db, runner_key):
    build, status, code = CASES[case]
    data = build(runner_key)
    before = row_counts(db)
    response = client.post("/api/v1/runs", content=data)
    assert_problem(response, status, code)
    assert row_counts(db) == before


def _read_response(sock: socket.socket) -> str:
    data = b""
    sock.settimeout(5)
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        part = sock.recv(65536)
        if not part:
            break
        data += part
    return data.decode()


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_oversized_body_is_refused_while_streaming(settings, runner_key):
    """A chunked upload with no Content-Length is answered 413 long before it ends."""
    small = load_settings(db=settings.db, max_bundle_bytes=10_000)
    app = create_app(small)
    with live_server(app) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        chunk = b"400\r\n" + b"x" * 1024 + b"\r\n"
        while sent < 1000 and not select.select([sock], [], [], 0.005)[0]:
            sock.sendall(chunk)
            sent += 1
        answer = _read_response(sock)
    app.state.speedrun.db.dispose()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "application/problem+json" in answer and '"code":"too-large"' in answer
    assert sent < 100  # refused after ~10 KiB, not after the whole megabyte


def test_declared_oversized_body_is_refused_at_once(settings):
    app = create_app(load_settings(db=settings.db, max_bundle_bytes=10_000))
    with TestClient(app) as client:
        assert_problem(client.post("/api/v1/runs", content=b"x" * 20_000), 413, "too-large")
    app.state.speedrun.db.dispose()


def test_gzip_bomb_is_refused(settings):
    """A small body that expands past the bound is refused without expanding it all."""
    app = create_app(load_settings(db=settings.db, max_bundle_expanded_bytes=1_000_000))
    bomb = gzip.compress(b"\0" * 20_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    with TestClient(app) as client:
        before = row_counts(app.state.speedrun.db)
        assert_problem(client.post("/api/v1/runs", content=bomb), 422, "too-large")
        assert row_counts(app.state.speedrun.db) == before
    app.state.speedrun.db.dispose()

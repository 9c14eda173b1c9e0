"""The signed bundles copied out of the blob store: byte for byte what the API serves, each
one valid for `speedrun verify`, indexed (run id, sha256, size, path), copied once."""

from __future__ import annotations

import hashlib
import json

from support.bundles import claim_runs

from server.services.opendata import bundles
from speedrun.bundle import read_bundle


def test_bundles_are_the_stored_bytes_and_indexed(client, db, runner_key, token, tmp_path):
    claim = claim_runs(client, runner_key, token, "print('a')\n", [1000.0, 1001.0, 1002.0])
    out = tmp_path / "bundles"
    with db.reader() as session:
        entries = bundles.export_bundles(session, out)
    run_ids = [a["run_id"] for a in claim.answers]
    assert [e.run_id for e in entries] == run_ids  # in the order they were stored
    for e in entries:
        data = (out / e.path).read_bytes()
        assert data == client.get(f"/api/v1/runs/{e.run_id}/bundle").content
        assert hashlib.sha256(data).hexdigest() == e.sha256 and len(data) == e.size_bytes
        assert read_bundle(data).manifest["run_id"] == e.run_id
    index = json.loads(bundles.index_json(entries))
    assert index["count"] == 3
    assert index["bundles"][0] == {
        "run_id": run_ids[0],
        "sha256": entries[0].sha256,
        "size_bytes": entries[0].size_bytes,
        "path": f"{run_ids[0]}.tar.gz",
    }


def test_a_bundle_is_copied_once(client, db, runner_key, token, tmp_path):
    claim_runs(client, runner_key, token, "print('a')\n", [1000.0, 1001.0, 1002.0])
    out = tmp_path / "bundles"
    with db.reader() as session:
        first = bundles.export_bundles(session, out)
    stamps = {e.path: (out / e.path).stat().st_mtime_ns for e in first}
    with db.reader() as session:
        bundles.export_bundles(session, out)
    assert {e.path: (out / e.path).stat().st_mtime_ns for e in first} == stamps
    (out / first[0].path).write_bytes(b"truncated")  # a size that is not the blob's
    with db.reader() as session:
        bundles.export_bundles(session, out)
    assert hashlib.sha256((out / first[0].path).read_bytes()).hexdigest() == first[0].sha256

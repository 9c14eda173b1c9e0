"""Benchmark: leaderboard JSON (1,000 records over 10,000 runs) against a trivial endpoint
(/api/v1/health) on the same `speedrun serve` process, 64 concurrent keep-alive clients.

    python benchmarks/server_leaderboard.py [--seconds 10] [--clients 64] [--db URL]

Prints requests/s for each and the ratio (goal: leaderboard >= 0.8x health), and the
leaderboard revalidated (If-None-Match with its ETag: 304, no body). The database is
seeded directly through the ORM (seeding is not what is measured); the first, uncached
leaderboard build is timed on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from server_load import run_load, served

from server.db import Database, migrate
from server.models import Attempt, Blob, Record, Run, Runner
from server.services import catalog
from server.services.attempts import refresh_stats

TRACK, VERSION = "cpu-tiny", 1


def seed(db_url: str, records: int, runs_per: int) -> None:
    db = Database(db_url)
    migrate(db)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    track = catalog.track(TRACK, VERSION)
    with db.write() as s:
        runner = Runner(name="bench", key_id="0" * 16, public_key="AAAA")
        s.add(runner)
        s.flush()
        previous = None
        for i in range(records):
            source = f"# variant {i}\n".encode()
            sha = hashlib.sha256(source).hexdigest()
            s.add(Blob(sha256=sha, size_bytes=len(source), media_type="text/x-python", data=source))
            attempt = Attempt(
                track_id=TRACK,
                track_version=VERSION,
                variant_sha256=sha,
                source_sha256=sha,
                name=f"variant-{i}",
                description=f"record {i}: a faster recipe",
            )
            s.add(attempt)
            s.flush()
            base_ms = 600_000.0 - 500 * i
            s.add_all(
                Run(
                    run_id=hashlib.md5(f"{i}-{j}".encode()).hexdigest(),
                    attempt_id=attempt.id,
                    runner_id=runner.id,
                    track_id=TRACK,
                    track_version=VERSION,
                    backend="docker",
                    official=True,
                    status="completed",
                    time_ms=base_ms + 37 * j,
                    val_loss=1.55 + 0.001 * j,
                    val_loss_source="independently-evaluated",
                    seed=j,
                    hardware_class="cpu",
                    accelerator_count=2,
                    manifest_json=json.dumps({"i": i, "j": j}),
                    started_at=t0,
                    finished_at=t0,
                )
                for j in range(runs_per)
            )
            s.flush()
            refresh_stats(s, attempt, track)  # what ingest does when a run joins an attempt
            record = Record(
                track_id=TRACK,
                track_version=VERSION,
                attempt_id=attempt.id,
                previous_record_id=previous.id if previous else None,
                established_at=t0 + timedelta(hours=i),
                decision_json=json.dumps(
                    {"beat": {"method": "welch", "p_value": 0.001, "speedup": 1.01, "detail": ""}}
                ),
            )
            if previous is not None:
                previous.superseded_at = record.established_at
            s.add(record)
            s.flush()
            previous = record
    db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--runs-per-record", type=int, default=10)
    ap.add_argument("--limit", type=int, default=100, help="leaderboard page size")
    ap.add_argument("--db", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-leaderboard-")
    db_url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
    t = time.perf_counter()
    seed(db_url, args.records, args.runs_per_record)
    print(
        f"seeded {args.records} records, {args.records * args.runs_per_record} runs in {time.perf_counter() - t:.1f} s"
    )
    board = f"/api/v1/tracks/{TRACK}/leaderboard?version={VERSION}&limit={args.limit}"
    with served(db_url) as port:
        t = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{board}") as r:
            body, etag = r.read(), r.headers["etag"]
        print(
            f"first (uncached) leaderboard build: {1000 * (time.perf_counter() - t):.0f} ms, {len(body)} bytes, "
            f"total={json.loads(body)['total']}"
        )
        run_load("127.0.0.1", port, "/api/v1/health", clients=8, seconds=1.0)  # warm up
        health = run_load(
            "127.0.0.1", port, "/api/v1/health", clients=args.clients, seconds=args.seconds
        )
        lead = run_load("127.0.0.1", port, board, clients=args.clients, seconds=args.seconds)
        revalidated = run_load(  # a client that has the body: If-None-Match -> 304, no body
            "127.0.0.1", port, board, clients=args.clients, seconds=args.seconds,
            headers={"If-None-Match": etag or '"none"'},
        )  # fmt: skip
    print(f"health:      {health.rps:8.0f} req/s ({health.errors} errors)")
    print(
        f"leaderboard: {lead.rps:8.0f} req/s ({lead.errors} errors, {lead.body_bytes / max(lead.requests, 1):.0f} bytes each)"
    )
    print(
        f"leaderboard with If-None-Match (304): {revalidated.rps:8.0f} req/s "
        f"({revalidated.body_bytes} body bytes in all; ETag {etag})"
    )
    print(f"ratio leaderboard/health: {lead.rps / health.rps:.2f}x (goal >= 0.8x)")


if __name__ == "__main__":
    main()

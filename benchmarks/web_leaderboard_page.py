"""Benchmark: the leaderboard page of a track with 1,000 records, rendered server-side.

    python benchmarks/web_leaderboard_page.py [--records 1000] [--runs-per-record 3] [--repeat 60]

Seeds a fresh SQLite database through the ORM (seeding is not what is measured): 1,000
records on cpu-tiny, each with its runs, a description, an author, and a re-verification on
every tenth. Then times whole requests in-process (routing, queries, template, SVG chart;
no network) for `/tracks/cpu-tiny` (page 1: 100 rows, the progression chart over all 1,000
records), a later page, and `/` (every public track, 10 rows each), and weighs what a browser
downloads for the page: the HTML plus every asset it references (CSS, JS, SVG).

Goals: median render < 100 ms; page + assets < 300 KB. Also printed: the first render after a
write, when the page's rows are rebuilt from the database (they are kept in the page cache,
`server.services.cache`, until the database's change stamp moves).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import update

from server.app import create_app
from server.config import load_settings
from server.db import Database, migrate
from server.models import Attempt, Blob, Record, Run, Runner, TrackState, User, Verification
from server.services import catalog
from server.services.attempts import refresh_stats

TRACK = "cpu-tiny"
DESCRIPTION = (
    "Muon with Nesterov momentum for hidden matrices, Adam for embeddings; rotary, QK-Norm, "
    "ReLU², zero-init projections, value residual, U-net skips; record {i} trims {ms} ms off "
    "by fusing the optimizer step (see https://example.org/records/{i})."
)


def _record_rows(s, i, runner, author, previous, t0, runs_per, track):  # type: ignore[no-untyped-def]
    source = f"# variant {i}\nprint({i})\n".encode()
    sha = hashlib.sha256(source).hexdigest()
    s.add(Blob(sha256=sha, size_bytes=len(source), media_type="text/x-python", data=source))
    base_ms = 600_000.0 - 500 * i
    attempt = Attempt(
        track_id=TRACK,
        track_version=1,
        variant_sha256=sha,
        source_sha256=sha,
        name=f"record-{i:04d}-fused-step",
        description=DESCRIPTION.format(i=i, ms=500),
        submitter_id=author.id,
    )
    s.add(attempt)
    s.flush()
    s.add_all(
        Run(
            run_id=hashlib.md5(f"{i}-{j}".encode()).hexdigest(),
            attempt_id=attempt.id,
            runner_id=runner.id,
            track_id=TRACK,
            track_version=1,
            backend="docker",
            official=True,
            status="completed",
            time_ms=base_ms + 37 * j,
            val_loss=1.55 + 0.001 * j,
            val_loss_source="independently-evaluated",
            seed=j,
            hardware_class="cpu",
            accelerator_count=2,
            image_digest="sha256:" + "ab" * 32,
            manifest_json=json.dumps({"figures": {"steps": 200}}),
            started_at=t0,
            finished_at=t0,
        )
        for j in range(runs_per)
    )
    s.flush()
    refresh_stats(s, attempt, track)
    record = Record(
        track_id=TRACK,
        track_version=1,
        attempt_id=attempt.id,
        previous_record_id=previous.id if previous else None,
        established_at=t0 + timedelta(hours=6 * i),
        decision_json=json.dumps(
            {"beat": {"method": "welch", "p_value": 0.001, "speedup": 1.001, "detail": ""}}
        ),
    )
    if previous is not None:
        previous.superseded_at = record.established_at
    s.add(record)
    s.flush()
    if i % 10 == 0:
        status = "reproduced" if i % 20 == 0 else "drifted"
        s.add(Verification(record_id=record.id, status=status, n_runs=3, image_digest=sha))
    return record


def seed(db_url: str, records: int, runs_per: int) -> None:
    db = Database(db_url)
    migrate(db)
    t0 = datetime(2024, 6, 1, tzinfo=UTC)
    track = catalog.track(TRACK, 1)
    with db.write() as s:
        runner = Runner(name="bench-runner", key_id="0" * 16, public_key="AAAA")
        authors = [User(name=f"@author{k}") for k in range(50)]
        s.add_all([runner, *authors])
        s.flush()
        previous = None
        for i in range(records):
            author = authors[i % len(authors)]
            previous = _record_rows(s, i, runner, author, previous, t0, runs_per, track)
    db.dispose()


def time_requests(client: TestClient, path: str, repeat: int) -> list[float]:
    client.get(path)  # warm: templates compiled, statements cached
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - t) * 1000)
        assert answer.status_code == 200, answer.text[:300]
    return times


def time_rebuilds(client: TestClient, app: object, path: str, repeat: int) -> list[float]:
    """The first request after a write: the page's rows rebuilt from the database."""
    db = app.state.speedrun.db  # type: ignore[attr-defined]
    times = []
    for _ in range(repeat):
        with db.write() as s:  # what every ingest does to the track's write counter
            s.execute(update(TrackState).values(revision=TrackState.revision + 1))
        app.state.speedrun.cache.invalidate()  # type: ignore[attr-defined]  # as write routes do
        t = time.perf_counter()
        assert client.get(path).status_code == 200
        times.append((time.perf_counter() - t) * 1000)
    return times


def weigh(client: TestClient, path: str) -> tuple[int, int, dict[str, int]]:
    """Bytes of the page and of every asset it references, and their gzip'd total."""
    html = client.get(path).content
    assets = sorted(set(re.findall(rb'(?:href|src)="(/static/[^"]+)"', html)))
    sizes = {path: len(html)}
    zipped = len(gzip.compress(html))
    for asset in assets:
        body = client.get(asset.decode().replace("&amp;", "&")).content
        sizes[asset.decode()] = len(body)
        zipped += len(gzip.compress(body))
    return sum(sizes.values()), zipped, sizes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--runs-per-record", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=60)
    args = ap.parse_args()
    db_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-web-')) / 'bench.db'}"
    t = time.perf_counter()
    seed(db_url, args.records, args.runs_per_record)
    print(
        f"seeded {args.records} records x {args.runs_per_record} runs in {time.perf_counter() - t:.1f} s"
    )
    app = create_app(load_settings(db=db_url))
    ok = True
    with TestClient(app) as client:
        for path in (f"/tracks/{TRACK}", f"/tracks/{TRACK}?page=5", "/"):
            ms = time_requests(client, path, args.repeat)
            total, zipped, sizes = weigh(client, path)
            median = statistics.median(ms)
            p90 = statistics.quantiles(ms, n=10)[-1]
            print(
                f"{path:28} render median {median:6.1f} ms  p90 {p90:6.1f} ms  min {min(ms):6.1f} ms"
                f"  (n={len(ms)})  page+assets {total / 1024:6.1f} KB ({zipped / 1024:.1f} KB gzip'd)"
            )
            for name, size in sizes.items():
                print(f"    {size / 1024:7.1f} KB  {name}")
            ok &= median < 100 and total < 300 * 1024
        cold = time_rebuilds(client, app, f"/tracks/{TRACK}", max(3, args.repeat // 10))
        print(
            f"first render after a write (rows rebuilt): median {statistics.median(cold):.0f} ms"
            f" (n={len(cold)}; the API's uncached leaderboard build is the same work)"
        )
    app.state.speedrun.db.dispose()
    print("goals (median < 100 ms, page + assets < 300 KB):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()

"""Benchmark: the read side from the static snapshot on nginx against the live server, and
the time to bring the snapshot up to date after a write.

    python benchmarks/snapshot_serving.py [--duration 6] [--connections 64] [--records 1000]
                                          [--out benchmarks/results/snapshot_serving.json]

All in one run on one machine (wrk, nginx and the server share its cores):

1. Serving. The speedrun's history (../shared/fixtures/modded-nanogpt) imported with
   `speedrun records import`, published with `speedrun publish`, served by nginx with the
   repository's configuration (docker/nginx/snapshot.conf, gzip_static, one worker per
   core), the live server started as `speedrun serve` starts it (one uvicorn worker). wrk
   (`-t2 -c64 -d6s`, `Accept-Encoding: gzip` as browsers send) asks for the main track's
   leaderboard page and its JSON twin, from the snapshot and from the live server, and for a
   trivial static file from the same nginx, in 3 interleaved rounds (medians reported). Goals: snapshot page >= 0.5x the trivial file's
   requests per second and >= 3x the live server's.
2. Rebuilding. A database holding 1,000 records (a modded-nanogpt checkout of 1,000 README
   rows, each with its log, imported by the real importer), published once; then the time a
   refresh takes (what the server's publisher runs after each write) after one new run on
   cpu-tiny (signed, through the real ingest), after a new record on cpu-tiny (a job's
   runs), and after a new record on the 1,000-record track itself (every record page there
   shows its rank, so all of them are rendered again).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from support import nginx  # noqa: E402
from support.bundles import claim_runs, make_bundle, step_log  # noqa: E402
from support.claims import submitter_token  # noqa: E402
from support.history_checkout import Row, write_checkout  # noqa: E402
from support.loop import speedrun, start_server  # noqa: E402

from server.app import create_app  # noqa: E402
from server.config import load_settings  # noqa: E402
from server.services.history.plan import plan_import  # noqa: E402
from server.services.history.write import write_plan  # noqa: E402
from server.services.runners import add_runner  # noqa: E402
from web.publish import refresh, site, snapshot  # noqa: E402

HISTORY = ROOT.parent / "shared" / "fixtures" / "modded-nanogpt"
TRACK_PAGE = "/tracks/modded-nanogpt-short?version=1"
TRACK_JSON = "/api/v1/tracks/modded-nanogpt-short/leaderboard?version=1&limit=100&offset=0"
TRIVIAL = "/trivial.txt"
WRK_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*")


def wrk(url: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s"]
    cmd += ["-H", "Accept-Encoding: gzip", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rate = WRK_RATE.search(out)
    assert rate, out
    errors = [m.group(0) for m in WRK_ERRORS.finditer(out)]
    return {"url": url, "requests_per_s": round(float(rate.group(1)), 1), "errors": errors}


def _check(url: str, want_type: str) -> int:
    answer = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(want_type), url
    return len(answer.content)


def measure_serving(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    db = f"sqlite:///{folder / 'history.db'}"
    speedrun("records", "import", str(HISTORY), "--db", db, timeout=600)
    out = nginx.readable_dir("snapshot-bench-")
    try:
        port = nginx.free_port()
        started = time.monotonic()
        speedrun(
            "publish",
            "--out",
            str(out),
            "--db",
            db,
            "--base-url",
            f"http://127.0.0.1:{port}/",
            timeout=900,
        )
        publish_s = time.monotonic() - started
        (out / TRIVIAL.lstrip("/")).write_text("ok\n")
        server = start_server(db, folder / "server")
        try:
            with nginx.serving(
                out, upstream_port=server.port, workers=os.cpu_count() or 1, port=port
            ):
                return _load(f"http://127.0.0.1:{port}", server.url, args) | {
                    "publish_s": round(publish_s, 2)
                }
        finally:
            server.kill()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _load(snap: str, live: str, args: argparse.Namespace) -> dict[str, Any]:
    sizes = {
        "page_bytes": _check(snap + TRACK_PAGE, "text/html"),
        "json_bytes": _check(snap + TRACK_JSON, "application/json"),
    }
    _check(live + TRACK_PAGE, "text/html")
    _check(live + TRACK_JSON, "application/json")
    _check(snap + TRIVIAL, "text/plain")
    targets = {
        "trivial_file_nginx": snap + TRIVIAL,
        "page_snapshot_nginx": snap + TRACK_PAGE,
        "page_live_server": live + TRACK_PAGE,
        "json_snapshot_nginx": snap + TRACK_JSON,
        "json_live_server": live + TRACK_JSON,
    }
    # Rounds interleave the targets, so a burst of other load on the machine weighs on all of
    # them; each figure is the median of its rounds (every round's is kept beside it).
    rounds = [{name: wrk(url, args) for name, url in targets.items()} for _ in range(args.rounds)]
    runs = {
        name: {
            "url": url,
            "requests_per_s": statistics.median(r[name]["requests_per_s"] for r in rounds),
            "rounds": [r[name]["requests_per_s"] for r in rounds],
            "errors": [e for r in rounds for e in r[name]["errors"]],
        }
        for name, url in targets.items()
    }
    rate = {k: v["requests_per_s"] for k, v in runs.items()}
    ratios = {
        "page_snapshot_over_trivial": round(
            rate["page_snapshot_nginx"] / rate["trivial_file_nginx"], 3
        ),
        "page_snapshot_over_live": round(rate["page_snapshot_nginx"] / rate["page_live_server"], 2),
        "json_snapshot_over_live": round(rate["json_snapshot_nginx"] / rate["json_live_server"], 2),
    }
    goals = {
        "page_at_least_half_the_trivial_file": ratios["page_snapshot_over_trivial"] >= 0.5,
        "page_at_least_3x_live": ratios["page_snapshot_over_live"] >= 3,
    }
    return {"wrk": runs, "ratios": ratios, "goals_met": goals, **sizes}


def thousand_rows(n: int) -> list[Row]:
    """README rows of a track whose record fell by a second each time, one log each."""
    rows = []
    for i in range(n):
        seconds = 3600 - 3 * i
        day = time.gmtime(time.mktime((2020, 1, 1, 0, 0, 0, 0, 0, 0)) + 86400 * i)
        date = time.strftime("%m/%d/%y", day)
        log = step_log(seconds * 1000.0, 3.275, 8)
        rows.append(Row(f"{seconds / 60:.4f} minutes", f"record {i}: a change", date, log))
    return rows


def _timed(action: Any) -> tuple[Any, float]:
    started = time.monotonic()
    value = action()
    return value, round(time.monotonic() - started, 3)


def measure_rebuild(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings(db=f"sqlite:///{folder / 'records.db'}")
    app = create_app(settings)
    rows = thousand_rows(args.records)
    checkout = write_checkout(folder / "checkout", main=rows)
    summary, import_s = _timed(lambda: write_plan(app.state.speedrun.db, plan_import(checkout)))
    assert summary.total("records_added") == args.records, summary.lines()
    key = Ed25519PrivateKey.generate()
    with app.state.speedrun.db.write() as session:
        add_runner(session, "bench-runner", key.public_key())
    token = submitter_token(app.state.speedrun.db, "bench")
    client = TestClient(app)
    out = folder / "rebuild-snapshot"
    out.mkdir()
    base = "http://127.0.0.1/"
    signature = site.signature(settings, base)
    with site.open_site(create_app(settings, apply_migrations=False), base) as live:
        full, full_s = _timed(lambda: snapshot.build(live, out, signature))
        steps = {}
        bundle = make_bundle(key, source="print('one more')\n", time_ms=1500.0, seed=1)
        assert client.post("/api/v1/runs", content=bundle).status_code == 201
        steps["one_new_run"] = _refresh(live, out, signature)
        claim_runs(client, key, token, "print('a record')\n", [1000.0, 1001.0, 1002.0])
        steps["new_record_on_cpu_tiny"] = _refresh(live, out, signature)
        more = write_checkout(folder / "checkout", main=[*rows, _faster(rows)])
        write_plan(app.state.speedrun.db, plan_import(more))
        steps[f"new_record_on_the_{args.records}_record_track"] = _refresh(live, out, signature)
    return {
        "records": args.records,
        "import_s": import_s,
        "full_build": {"seconds": full_s, "answers": full.answers, "files_written": full.written},
        "refresh": steps,
    }


def _faster(rows: list[Row]) -> Row:
    return Row("0.5000 minutes", "one more record", "01/01/30", step_log(30000.0, 3.275, 8))


def _refresh(live: site.Site, out: Path, signature: str) -> dict[str, Any]:
    report, seconds = _timed(lambda: refresh.refresh(live, out, signature))
    assert not report.full and not report.failures, report.line()
    return {
        "seconds": seconds,
        "answers": report.answers,
        "files_written": report.written,
        "summary": report.line(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, default=6)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--records", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="wrk rounds per target (median)")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args()
    missing = nginx.nginx_missing() or (None if shutil.which("wrk") else "wrk is not installed")
    if missing:
        sys.exit(f"snapshot_serving: {missing} (scripts/system-deps.sh installs it)")
    with tempfile.TemporaryDirectory(prefix="snapshot-bench-") as tmp:
        result = {
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "serving": measure_serving(Path(tmp), args),
            "rebuild": measure_rebuild(Path(tmp), args),
        }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

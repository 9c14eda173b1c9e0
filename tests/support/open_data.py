"""Reading the open data back the way its users do, with pandas and with DuckDB, and holding
it against the JSON API: the same rows (by id) and the same figures, for runs, records and
attempts. `get(path)` answers the API's JSON (a TestClient, or a live server over HTTP)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

Get = Callable[[str], Any]
API = "/api/v1"


def track_versions(get: Get) -> list[tuple[str, int]]:
    """Every version of every track the API lists (hidden ones too)."""
    latest = get(f"{API}/tracks?include_hidden=1")["data"]
    return [(t["id"], v) for t in latest for v in range(1, t["version"] + 1)]


def api_records(get: Get) -> dict[int, dict[str, Any]]:
    out = {}
    for track, version in track_versions(get):
        for e in get(f"{API}/tracks/{track}/records?version={version}")["data"]:
            out[e["record_id"]] = e
    return out


def api_attempts(get: Get) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for track, version in track_versions(get):
        offset = 0
        while True:
            query = f"version={version}&limit=1000&offset={offset}"
            page = get(f"{API}/tracks/{track}/attempts?{query}")["data"]
            out.update((a["id"], a) for a in page)
            if len(page) < 1000:
                break
            offset += 1000
    return out


def rows(path: Path, key: str) -> dict[Any, dict[str, Any]]:
    """The file's rows by `key`, as DuckDB reads them; pandas must read as many."""
    con = duckdb.connect()
    cursor = con.execute(f"SELECT * FROM read_parquet('{path}')")
    names = [d[0] for d in cursor.description]
    found = {r[names.index(key)]: dict(zip(names, r, strict=True)) for r in cursor.fetchall()}
    frame = pd.read_parquet(path)
    assert len(frame) == len(found), f"{path.name}: pandas {len(frame)} rows, DuckDB {len(found)}"
    assert set(frame[key]) == set(found)
    return found


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    return bool(a == b)


def _summary(s: dict[str, Any] | None, field: str) -> Any:
    return None if s is None else s[field]


def check_records(found: dict[Any, dict[str, Any]], api: dict[int, dict[str, Any]]) -> None:
    assert set(found) == set(api), "records: not the API's"
    for i, e in api.items():
        row = found[i]
        for col, want in (
            ("rank", e["rank"]),
            ("status", e["status"]),
            ("track_id", e["track"]["id"]),
            ("time_ms_mean", _summary(e["time_ms"], "mean")),
            ("time_ms_std", _summary(e["time_ms"], "std")),
            ("time_ms_n", _summary(e["time_ms"], "n")),
            ("val_loss_mean", _summary(e["val_loss"], "mean")),
            ("p_value", e["p_value"]),
            ("name", e["name"]),
            ("claimed_time_ms", (e.get("imported") or {}).get("claimed_time_ms")),
        ):
            assert same(row[col], want), f"record {i} {col}: {row[col]!r} != API {want!r}"


def check_attempts(found: dict[Any, dict[str, Any]], api: dict[int, dict[str, Any]]) -> None:
    assert set(found) == set(api), "attempts: not the API's"
    for i, a in api.items():
        row, st = found[i], a["stats"]
        for col, want in (
            ("n_runs", st["n_runs"]),
            ("n_counted", st["n_counted"]),
            ("time_ms_mean", _summary(st["time_ms"], "mean")),
            ("val_loss_mean", _summary(st["val_loss"], "mean")),
            ("p_value", st["p_value"]),
            ("qualifies", st["qualifies"]),
            ("reason", st["reason"]),
            ("record_id", a["record_id"]),
        ):
            assert same(row[col], want), f"attempt {i} {col}: {row[col]!r} != API {want!r}"


def check_runs(found: dict[Any, dict[str, Any]], attempts: dict[int, dict[str, Any]]) -> None:
    api = {r["run_id"]: r for a in attempts.values() for r in a["runs"]}
    assert set(found) == set(api), "runs: not the API's"
    for run_id, r in api.items():
        row = found[run_id]
        for col in ("time_ms", "val_loss", "claimed_time_ms", "status", "purpose", "counts"):
            assert same(row[col], r[col]), f"run {run_id} {col}: {row[col]!r} != API {r[col]!r}"
        evidence = "imported" if r["origin"] == "imported" else r["val_loss_source"]
        want = evidence if r["val_loss"] is not None else None
        assert row["val_loss_evidence"] == want, f"run {run_id}: {row['val_loss_evidence']}"


def check_open_data(folder: Path, get: Get) -> dict[str, int]:
    """Every Parquet file in `folder` against the API; the row counts."""
    attempts = api_attempts(get)
    found = {
        "runs": rows(folder / "runs.parquet", "run_id"),
        "records": rows(folder / "records.parquet", "record_id"),
        "attempts": rows(folder / "attempts.parquet", "attempt_id"),
    }
    check_records(found["records"], api_records(get))
    check_attempts(found["attempts"], attempts)
    check_runs(found["runs"], attempts)
    return {name: len(r) for name, r in found.items()}

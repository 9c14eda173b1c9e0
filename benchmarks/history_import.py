"""Benchmark: `speedrun records import` of a modded-nanogpt checkout into a fresh database.

Measures, over the shared fixture sample (or any checkout given with --checkout):
  * plan: parsing the checkout (README tables, every log, sha256 of each log), in MB/s of log
    bytes, best of --repeat;
  * first import: writing the plan into an empty database (migrated beforehand, not timed);
  * re-import: the same plan again (nothing new: every record and run found by its key);
  * end to end: plan + write again, as the CLI runs it on a second import.

    python benchmarks/history_import.py [--checkout PATH] [--db URL] [--repeat N]

`--db` must name an empty database (default: a fresh SQLite file in a temp folder).
Not a test: it prints what it measured and exits 0.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from server.db import Database, migrate
from server.services.history.plan import ImportPlan, plan_import
from server.services.history.write import import_checkout, write_plan

DEFAULT_CHECKOUT = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "modded-nanogpt"
)


def best_plan(checkout: Path, repeat: int) -> tuple[ImportPlan, float]:
    best, plan = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        plan = plan_import(checkout)
        best = min(best, time.perf_counter() - start)
    assert plan is not None
    return plan, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", type=Path, default=DEFAULT_CHECKOUT)
    ap.add_argument("--db", default=None, help="an empty database (default: fresh SQLite)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-import-')) / 'h.db'}"
    db = Database(url)
    migrate(db)

    plan, plan_s = best_plan(args.checkout.resolve(), args.repeat)
    mb = plan.log_bytes / 1e6
    print(f"checkout: {plan.root} ({plan.log_files} logs, {mb:.2f} MB)")
    print(f"plan (parse + hash), best of {args.repeat}: {plan_s:.2f} s = {mb / plan_s:.2f} MB/s")

    first = write_plan(db, plan)
    records, runs = first.total("records_added"), first.total("runs_added")
    print(f"first import (write): {first.write_s:.2f} s for {records} records, {runs} runs")
    again = [write_plan(db, plan) for _ in range(args.repeat)]
    assert not any(s.changed for s in again), "a re-import changed something"
    print(f"re-import (write, nothing new), best of {args.repeat}: ", end="")
    print(f"{min(s.write_s for s in again):.2f} s")
    start = time.perf_counter()
    import_checkout(db, args.checkout.resolve())
    print(f"re-import end to end (plan + write): {time.perf_counter() - start:.2f} s")
    db.dispose()


if __name__ == "__main__":
    main()

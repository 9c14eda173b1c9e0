"""Do two trees of the code render the same pages for the same database?

Issue 15 (the architecture) had to leave behaviour unchanged: this renders every page, its
JSON twin and every run's log of one SQLite database with the code of tree A and of tree B
(each in its own interpreter, PYTHONPATH=TREE, through the real app in process) and counts the
answers that differ (status, content type or body; the JSON's `generated_at` stamp aside).

    python benchmarks/pages_same.py --db site.db --before OLD_TREE --after NEW_TREE

Trees are checkouts (e.g. `git worktree add /tmp/old cf4f88b`); the database is copied for
each, since migrations may touch it. Exit 0 when nothing differs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

STAMP = re.compile(r'"generated_at": ?"[^"]*"')


def page_paths(db: Path) -> list[str]:
    """Every public page of the database and its JSON twin."""
    con = sqlite3.connect(db)

    def ids(sql: str) -> list[str]:
        return [str(row[0]) for row in con.execute(sql)]

    runs, records = ids("select run_id from runs order by id"), ids("select id from records")
    subs, attempts = ids("select id from submissions"), ids("select id from attempts")
    tracks = sorted(set(ids("select track_id || '@v' || track_version from attempts")))
    con.close()
    paths = ["/", "/?hidden=1", "/api/v1/tracks", "/api/v1/tracks?hidden=1"]
    for t in tracks:
        paths += [f"/tracks/{t}", f"/api/v1/tracks/{t}/leaderboard", f"/tracks/{t}?evidence=signed"]
    paths += [p for r in runs for p in (f"/runs/{r}", f"/api/v1/runs/{r}", f"/runs/{r}/log.txt")]
    paths += [p for r in records for p in (f"/records/{r}", f"/api/v1/records/{r}")]
    paths += [p for s in subs for p in (f"/submissions/{s}", f"/api/v1/submissions/{s}")]
    return paths + [f"/api/v1/attempts/{a}" for a in attempts]


def render(db: Path, out: Path) -> None:
    """Runs inside the tree's interpreter: every answer into a file of `out`."""
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.config import load_settings

    paths = page_paths(db)
    work = out.with_suffix(".db")
    shutil.copyfile(db, work)
    app = create_app(load_settings(db=f"sqlite:///{work}", extra_record_backends=["local"]))
    out.mkdir(parents=True, exist_ok=True)
    with TestClient(app) as client:
        for path in paths:
            r = client.get(path)
            name = path.strip("/").replace("/", "_").replace("?", "_") or "index"
            (out / name).write_text(f"{r.status_code}\n{r.headers.get('content-type')}\n{r.text}")
    app.state.speedrun.db.dispose()


def render_with(tree: Path, db: Path, out: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{tree / 'tests'}"}
    cmd = [sys.executable, __file__, "--render", str(db), str(out)]
    subprocess.run(cmd, cwd=tree, env=env, check=True, timeout=3600)


def differing(a: Path, b: Path) -> list[str]:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    return [name for name in names if not same(a / name, b / name)]


def same(left: Path, right: Path) -> bool:
    if not (left.exists() and right.exists()):
        return False
    return STAMP.sub("", left.read_text()) == STAMP.sub("", right.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--before", type=Path)
    parser.add_argument("--after", type=Path)
    parser.add_argument("--render", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render(*args.render)
        return 0
    if not (args.db and args.before and args.after):
        parser.error("--db, --before and --after are required")
    with tempfile.TemporaryDirectory() as tmp:
        before, after = Path(tmp, "before"), Path(tmp, "after")
        render_with(args.before.resolve(), args.db.resolve(), before)
        render_with(args.after.resolve(), args.db.resolve(), after)
        diffs = differing(before, after)
        for name in diffs:
            print(f"DIFFERS: {name}")
        print(f"{len(diffs)} pages differ (of {len(list(before.iterdir()))})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())

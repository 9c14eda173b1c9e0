"""`speedrun publish`: write a static snapshot of the read side.

    speedrun publish --out DIR [--db URL] [--base-url URL] [--incremental]

Every public page and its JSON twin, the Atom feeds, the open data (Parquet) and the signed
bundles, laid out for any static host (deploy/nginx-snapshot.conf serves it). The database is
only read. Exit 0 when every page rendered, 1 when some did not (listed on stderr; the rest
is written), 2 for a bad --out, --db or --base-url.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

MAX_LISTED = 20


def run_publish(args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.config import load_settings
    from web.publish import folder, refresh, site, snapshot

    settings = load_settings(db=args.db)
    base = site.base_url(settings, args.base_url)
    site.check_database(settings)
    out = folder.prepare(Path(args.out))
    app = create_app(
        settings.model_copy(update={"publish_dir": None, "public_url": base}),
        apply_migrations=False,
    )
    with site.open_site(app, base) as live:
        signature = site.signature(settings, base)
        if args.incremental:
            report = refresh.refresh(live, out, signature)
        else:
            report = snapshot.build(live, out, signature)
    print(f"{report.line()} -> {out}")
    for url, why in report.failures[:MAX_LISTED]:
        print(f"speedrun publish: {url}: {why}", file=sys.stderr)
    if len(report.failures) > MAX_LISTED:
        print(f"speedrun publish: ... {len(report.failures) - MAX_LISTED} more", file=sys.stderr)
    return 1 if report.failures else 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "publish",
        help="write a static snapshot of every public page, its JSON twin and the open data",
    )
    p.add_argument("--out", required=True, help="the snapshot's folder (new, empty or a snapshot)")
    p.add_argument(
        "--db",
        default=None,
        help="SQLAlchemy URL or SQLite file (default: $SPEEDRUN_DB or ./var/speedrun.db)",
    )
    p.add_argument(
        "--base-url",
        default=None,
        help="the site's address as readers see it, named in feeds and on pages "
        "(default: $SPEEDRUN_PUBLIC_URL, else http://HOST:PORT/)",
    )
    p.add_argument(
        "--incremental",
        action="store_true",
        help="rebuild only what changed since the last publish into --out "
        "(a whole build when there is none, or when code or settings changed)",
    )
    p.set_defaults(handler=run_publish)

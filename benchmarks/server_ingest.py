"""Benchmark: ingest of ~1 MB signed bundles into `speedrun serve` (SQLite by default).

    python benchmarks/server_ingest.py [--bundles 200] [--clients 4] [--db URL]

Each bundle holds a 1 MB incompressible member beside the variant and a log, so the file
itself is ~1 MB; every upload is fully verified (schema, member hashes, Ed25519 signature,
track rules) and stored. Bundles are built before the clock starts. Goal: >= 50 bundles/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from server_load import _read_response, served

from server.db import Database, migrate
from server.services.runners import add_runner

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "server"))
from support.bundles import make_bundle


async def upload_all(port: int, bundles: list[bytes], clients: int) -> tuple[float, dict[int, int]]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bundles:
        queue.put_nowait(b)
    statuses: dict[int, int] = {}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not queue.empty():
            body = queue.get_nowait()
            head = f"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/gzip\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
            status, _ = await _read_response(reader)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - start, statuses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundles", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--payload-bytes", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="default: a fresh SQLite file")
    args = ap.parse_args()
    db_url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-ingest-')) / 'bench.db'}"
    key = Ed25519PrivateKey.generate()
    db = Database(db_url)
    migrate(db)
    with db.write() as s:
        add_runner(s, "bench", key.public_key())
    db.dispose()
    t = time.perf_counter()
    bundles = [
        make_bundle(
            key,
            seed=i,
            time_ms=1000.0 + i,
            extra_members={"payload.bin": os.urandom(args.payload_bytes)},
        )
        for i in range(args.bundles)
    ]
    size = sum(map(len, bundles)) / len(bundles)
    print(f"built {len(bundles)} bundles of {size / 1e6:.2f} MB in {time.perf_counter() - t:.1f} s")
    with served(db_url) as port:
        elapsed, statuses = asyncio.run(upload_all(port, bundles, args.clients))
        again, restatuses = asyncio.run(upload_all(port, bundles[:50], args.clients))
    print(
        f"ingest: {len(bundles) / elapsed:.1f} bundles/s, {len(bundles) * size / elapsed / 1e6:.1f} MB/s "
        f"({args.clients} clients; statuses {statuses}) (goal >= 50/s)"
    )
    print(f"idempotent re-upload: {50 / again:.1f} bundles/s (statuses {restatuses})")


if __name__ == "__main__":
    main()

"""Walk one bundle through the server's ingest and count the modules it visits.

The figure issue 15 asked for ("following a bundle through the server's ingest visits N modules
in M stops with K returns to modules already seen"), measured instead of read off the code: the
upload `POST /api/v1/runs` of one signed cpu-tiny bundle, in process, with a profile hook that
notes every call into a module of this project (speedrun, runner, server, web). Consecutive
calls inside one module are one stop; a stop in a module seen before is a return.

    python benchmarks/ingest_walk.py --make-bundle DIR     # writes DIR/run.tar + DIR/runner.pub
    python benchmarks/ingest_walk.py --bundle DIR/run.tar --pubkey DIR/runner.pub [--json]

The second form runs on any checkout with the same CLI and API (so the same bundle can be
walked through an older tree: `PYTHONPATH=OLD_TREE python benchmarks/ingest_walk.py ...` from
that tree), which is how the before/after figures were taken.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

OURS = ("speedrun", "runner", "server", "web")
REPO = Path(__file__).resolve().parents[1]


def make_bundle(out: Path) -> None:
    """A signed, rule-keeping cpu-tiny bundle (tests/support's writer) and its runner's key."""
    sys.path.insert(0, str(REPO / "tests"))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from support.bundles import make_bundle as build

    key = Ed25519PrivateKey.generate()
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.tar").write_bytes(build(key, time_ms=60_000.0, val_loss=1.6, seed=1))
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (out / "runner.pub").write_bytes(pub)


class Walk:
    """The sequence of our modules entered while the hook is set (all threads)."""

    def __init__(self) -> None:
        self.stops: list[str] = []
        self.lock = threading.Lock()

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        name = str(frame.f_globals.get("__name__", ""))
        if name.split(".")[0] not in OURS:
            return
        with self.lock:
            if not self.stops or self.stops[-1] != name:
                self.stops.append(name)

    def figures(self) -> dict[str, Any]:
        seen: set[str] = set()
        edges: list[tuple[str, str]] = []
        returns = 0
        for before, name in zip(["(request)", *self.stops], self.stops, strict=False):
            returns += name in seen
            seen.add(name)
            if (before, name) not in edges:
                edges.append((before, name))
        return {
            "modules_visited": len(seen),
            "stops": len(self.stops),
            "returns_to_seen_modules": returns,
            # A loop that calls across modules once per log line makes many stops of one
            # hop; each hop counted once is the walk a reader follows.
            "distinct_hops": len(edges),
            "path": self.stops,
        }


def walk(bundle: Path, pubkey: Path) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.config import Settings
    from speedrun.cli import main as speedrun

    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/walk.db"
        with contextlib.redirect_stdout(io.StringIO()):
            speedrun(["admin", "runner-add", "walker", str(pubkey), "--db", db])
        app = create_app(Settings(db=db))
        body = bundle.read_bytes()
        trace = Walk()
        # Set before the client starts its event-loop thread, so the route's own thread is
        # traced too (Python 3.11 has no hook for threads already running).
        threading.setprofile(trace.hook)
        sys.setprofile(trace.hook)
        try:
            with TestClient(app) as client:
                client.get("/api/v1/health")
                with trace.lock:
                    trace.stops.clear()  # start-up work is not part of the walk
                answer = client.post("/api/v1/runs", content=body)
                with trace.lock:
                    walked = trace.figures()
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
        return {"status_code": answer.status_code, **walked}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make-bundle", type=Path, metavar="DIR")
    parser.add_argument("--bundle", type=Path)
    parser.add_argument("--pubkey", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.make_bundle:
        make_bundle(args.make_bundle)
        return 0
    if not (args.bundle and args.pubkey):
        parser.error("--bundle and --pubkey (or --make-bundle DIR)")
    figures = walk(args.bundle, args.pubkey)
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"upload answered {figures['status_code']}")
        print(
            f"modules visited {figures['modules_visited']}, stops {figures['stops']}, "
            f"returns to a module already seen {figures['returns_to_seen_modules']}, "
            f"distinct hops {figures['distinct_hops']}"
        )
        print(" -> ".join(figures["path"]))
    return 0 if figures["status_code"] in (200, 201) else 1


if __name__ == "__main__":
    sys.exit(main())

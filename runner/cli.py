"""`speedrun run | keys | verify | image`: the runner's commands (see speedrun.cli).

speedrun run VARIANT --track T [--runs N] [--backend docker|local] [--out DIR]
             [--time-limit S] [--key FILE] [--baseline VARIANT] [--data-dir DIR]
             [--image NAME] [--seed S] [--quiet]
    exit 0 when every attempt completed, 1 when one did not (its bundle is still written)
speedrun keys init [--key FILE]        prints the public key's path
speedrun keys held-out FILE            the deployment's held-out secret (speedrun.data.heldout)
speedrun verify BUNDLE [--pubkey FILE] [--json]
    exit 0 valid, 3 invalid (reason on stderr), 4 unreadable
speedrun image build cpu|cuda [--tag NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speedrun.errors import BundleError, BundleInvalid, SpeedrunError

if TYPE_CHECKING:
    from speedrun.bundle import Verified


def register(sub: Any) -> None:
    _register_run(sub)
    keys = sub.add_parser("keys", help="manage the runner's signing key")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    init = keys_sub.add_parser("init", help="create a signing key; prints the public key path")
    init.add_argument(
        "--key",
        type=Path,
        default=None,
        help="default: $SPEEDRUN_KEY or ~/.config/speedrun/runner.key",
    )
    init.set_defaults(handler=run_keys_init)
    held = keys_sub.add_parser(
        "held-out", help="create the deployment's held-out secret (share it among its runners)"
    )
    held.add_argument("file", type=Path, help="where to write it (mode 0600)")
    held.set_defaults(handler=run_keys_held_out)
    verify = sub.add_parser("verify", help="check a result bundle offline")
    verify.add_argument("bundle", type=Path)
    verify.add_argument("--pubkey", type=Path, default=None, help="trust only this runner key")
    verify.add_argument("--json", action="store_true", help="print the manifest and the verdict")
    verify.set_defaults(handler=run_verify)
    image = sub.add_parser("image", help="build the runner images")
    image_sub = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    build = image_sub.add_parser("build", help="build the cpu image (or the cuda one)")
    build.add_argument("kind", choices=["cpu", "cuda"])
    build.add_argument("--tag", default=None, help="image name (default localhost/speedrun-KIND)")
    build.set_defaults(handler=run_image_build)


def _register_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run a variant under a track's rules; signed bundles")
    p.add_argument("variant", type=Path, help="the variant's train_gpt.py")
    p.add_argument("--track", required=True)
    p.add_argument("--runs", type=int, default=1, help="attempts (A/B: pairs)")
    p.add_argument("--backend", default="docker", help="docker (default) or local")
    p.add_argument("--out", type=Path, default=Path("runs"), help="bundle directory")
    p.add_argument("--time-limit", type=float, default=None, help="seconds; only lowers")
    p.add_argument("--key", type=Path, default=None, help="signing key (see `keys init`)")
    p.add_argument("--baseline", type=Path, default=None, help="A/B against this variant")
    p.add_argument("--data-dir", type=Path, default=None, help="default $SPEEDRUN_DATA_DIR")
    p.add_argument("--image", default=None, help="container image (docker backend)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    p.add_argument(
        "--train-shards", type=int, default=None, help="hub tracks: only the first N train shards"
    )
    p.add_argument(
        "--held-out",
        type=Path,
        default=None,
        help="the deployment's held-out secret (default $SPEEDRUN_HELD_OUT); without it, "
        "held-out tracks run on public data and never count",
    )
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.set_defaults(handler=run_run)


def run_run(args: argparse.Namespace) -> int:
    from runner.session import RunOptions, run_session
    from speedrun.data.fetch import default_data_dir
    from speedrun.data.heldout import secret_from_env
    from speedrun.tracks import get_track

    opts = RunOptions(
        variant=args.variant,
        track=get_track(args.track),
        runs=args.runs,
        backend=args.backend,
        out_dir=args.out,
        time_limit_s=args.time_limit,
        key_path=args.key,
        baseline=args.baseline,
        data_dir=args.data_dir or default_data_dir(),
        quiet=args.quiet,
        image=args.image,
        seed=args.seed,
        train_shards=args.train_shards,
        held_out=secret_from_env(args.held_out),
    )
    summary = run_session(opts)
    print_summary(summary)
    rows = summary.get("attempts") or summary.get("baseline", []) + summary.get("candidate", [])
    return 0 if all(r["status"] == "completed" for r in rows) else 1


def print_summary(summary: dict[str, Any]) -> None:
    rows = summary.get("attempts") or summary.get("baseline", []) + summary.get("candidate", [])
    for row in rows:
        print(f"{row['status']:15s} {row['bundle']}")
    for name in ("time_ms", "val_loss"):
        d = summary.get(name)
        if d:
            print(f"{name}: mean {d['mean']:.4f} std {d['std']:.4f} (n={d['n']})")
    if summary.get("p_value") is not None:
        print(f"p(mean val_loss < {summary['target_val_loss']}) = {summary['p_value']:.3g}")
    print(f"verdict: {summary['verdict']}")
    print(f"summary: {summary['summary_path']}")


def run_keys_held_out(args: argparse.Namespace) -> int:
    from speedrun.data.heldout import init_secret

    secret = init_secret(args.file)
    print(f"held-out secret written to {args.file} (commitment {secret.commitment})")
    print("give it to every runner of this deployment: --held-out FILE or $SPEEDRUN_HELD_OUT")
    return 0


def run_keys_init(args: argparse.Namespace) -> int:
    from runner.keys import init_key

    print(init_key(args.key))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from speedrun import signing
    from speedrun.bundle import read_bundle, verify_bundle

    trusted = None
    if args.pubkey is not None:
        public = signing.load_public_key(args.pubkey)
        trusted = {signing.key_id(public): public}
    manifest: dict[str, Any] | None = None
    try:
        try:
            data = args.bundle.read_bytes()
        except OSError as exc:
            raise BundleError(f"{args.bundle}: cannot read ({exc.strerror})") from None
        bundle = read_bundle(data)
        manifest = bundle.manifest
        verified = verify_bundle(bundle, trusted=trusted)
    except BundleError as exc:
        valid = {
            "valid": False,
            "readable": type(exc) is not BundleError,
            "reason": str(exc),
            "code": getattr(exc, "code", "unreadable"),
        }
        if args.json:
            print(json.dumps({"manifest": manifest, "verdict": valid}, indent=2, sort_keys=True))
        kind = "invalid" if isinstance(exc, BundleInvalid) else "unreadable"
        print(f"speedrun verify: {kind}: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        out = {
            "valid": True,
            "key_id": verified.key_id,
            "trusted": verified.trusted,
            "warnings": verified.warnings,
            "sha256": bundle.sha256,
        }
        print(json.dumps({"manifest": manifest, "verdict": out}, indent=2, sort_keys=True))
    else:
        print(describe_bundle(verified))
    return 0


def describe_bundle(v: Verified) -> str:
    m, fig = v.manifest, v.manifest.figures
    t = f"{fig.time_ms / 1000:.3f} s" if fig.time_ms is not None else "-"
    loss = f"{fig.val_loss:.4f}" if fig.val_loss is not None else "-"
    trust = "trusted" if v.trusted else "not checked against a trusted key"
    lines = [
        f"valid: run {m.run_id} on {m.track.id}@v{m.track.version} ({m.backend} backend)",
        f"  variant   {m.variant.name if m.variant.name is not None else m.variant.path} "
        f"sha256 {m.variant.sha256[:16]}… "
        f"({'harness' if m.variant.harness else 'legacy'})",
        f"  status    {m.exit.status}" + (f": {m.exit.reason}" if m.exit.reason else ""),
        f"  time      {t} ({fig.time_source})",
        f"  val_loss  {loss} ({fig.val_loss_source})",
        f"  seed {m.seed}, started {m.started_at}, finished {m.finished_at}",
        f"  signed by runner key {v.key_id} ({trust})",
    ]
    lines += [f"  flag: {f}" for f in m.flags]
    lines += [f"  warning: {w}" for w in v.warnings]
    return "\n".join(lines)


def run_image_build(args: argparse.Namespace) -> int:
    from runner.image import build_image

    tag = build_image(args.kind, tag=args.tag, progress=True)
    print(tag)
    return 0


__all__ = ["SpeedrunError", "register"]

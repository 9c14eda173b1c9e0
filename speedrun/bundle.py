"""Result bundles: one gzip'd tar holding `manifest.json` and the files it vouches for.

Writing is deterministic (sorted members, zeroed times and owners), so equal content gives
equal bytes and the bundle's sha256 identifies it. Reading trusts nothing and works in cost
order, so a hostile upload is refused before it costs anything: the decompressed size is
bounded while decompressing; every member header is read first and only plain regular files
(no links, devices, or sparse files, whose holes `tarfile` would fill) with plain relative
names are accepted, their declared sizes summed and bounded before any content is read; the
manifest is bounded on its own. `verify_bundle` then checks the signature on the manifest
before anything else reads it (schema, first error only; member hashes; rules), and answers
one `Verified`: the manifest typed (`speedrun.manifest`), its track and the warnings. It separates
"cannot be read" (`BundleError`) from "reads but fails a check" (`BundleInvalid`), and is the
one check both `speedrun verify` and the server's ingest run.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from speedrun import signing
from speedrun.errors import BundleError, BundleInvalid, KeyFileError, TrackError
from speedrun.manifest import Manifest
from speedrun.tracks import Track, get_track

MANIFEST = "manifest.json"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # uncompressed, all members together
MAX_MEMBERS = 64
MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    manifest: dict[str, Any]
    members: dict[str, bytes]  # every member but manifest.json
    sha256: str  # of the bundle file's bytes

    def text(self, name: str) -> str:
        """A member decoded as UTF-8, undecodable bytes replaced."""
        return self.members[name].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Verified:
    """A bundle that passed `verify_bundle`: its manifest typed, the track it ran on, and
    what the checks found worth saying without refusing it."""

    bundle: Bundle
    manifest: Manifest
    track: Track
    key_id: str  # the signing key's
    trusted: bool  # signed by a key the caller trusts (always False without a trust list)
    warnings: list[str] = field(default_factory=list)


@cache
def manifest_schema() -> dict[str, Any]:
    text = resources.files("speedrun.schemas").joinpath("manifest.v1.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_payload(manifest: Mapping[str, Any]) -> bytes:
    return signing.canonical_json({k: v for k, v in manifest.items() if k != "signature"})


def build_bundle(
    manifest: Mapping[str, Any], members: Mapping[str, bytes], key: Ed25519PrivateKey
) -> bytes:
    """Fill in member digests and the signature, and return the bundle's bytes."""
    for name in members:
        check_member_name(name)
    body = dict(manifest)
    body["members"] = {
        name: {"sha256": _sha256(data), "size_bytes": len(data)}
        for name, data in sorted(members.items())
    }
    public = key.public_key()
    body.pop("signature", None)
    body["signature"] = {
        "algorithm": signing.ALGORITHM,
        "key_id": signing.key_id(public),
        "public_key": signing.public_key_b64(public),
        "value": signing.sign(key, signed_payload(body)),
    }
    files = {MANIFEST: json.dumps(body, indent=2, sort_keys=True).encode("utf-8")}
    files.update(members)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in [MANIFEST, *sorted(members)]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(files[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def check_member_name(name: str) -> None:
    parts = name.split("/")
    bad = (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\x00" in name
        or any(p in ("", ".", "..") for p in parts)
        or len(name) > 200
    )
    if bad:
        raise BundleInvalid(f"unsafe member name {name!r}", code="unsafe-member-name")


class _Inflater(io.RawIOBase):
    """The decompressed bundle as a stream, produced only as far as it is read and never
    beyond `max_bytes` in all: a gzip bomb costs what is read of it, not what it expands to."""

    def __init__(self, data: bytes, max_bytes: int) -> None:
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._src = memoryview(data)
        self._pos = 0
        self._buf = b""
        self._out = 0
        self._max = max_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._buf:
            self._fill(len(buffer))
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def finish(self) -> None:
        """Read to the end of the gzip stream (its trailer included): a cut file is refused."""
        while not self._zlib.eof:
            self._buf = b""
            self._fill(1 << 16)

    def _fill(self, want: int) -> None:
        while not self._buf and not self._zlib.eof:
            if self._zlib.unconsumed_tail:
                src = self._zlib.unconsumed_tail
            elif self._pos < len(self._src):
                src = bytes(self._src[self._pos : self._pos + (1 << 16)])
                self._pos += len(src)
            else:
                raise BundleError("truncated bundle: the gzip stream ends early")
            try:
                self._buf = self._zlib.decompress(src, max(want, 1 << 16))
            except zlib.error as exc:
                raise BundleError(f"not a gzip'd bundle: {exc}") from None
            self._out += len(self._buf)
            if self._out > self._max:
                raise BundleInvalid(f"bundle expands beyond {self._max} bytes", code="too-large")


def read_bundle(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Bundle:
    """Parse bundle bytes; raises BundleError (unreadable) or BundleInvalid (unsafe).

    The archive is read as a stream: each member's header is checked before its content is
    decompressed, so a refusal costs what was read up to it, whatever the bundle claims."""
    if not data:
        raise BundleError("empty file: not a bundle")
    if data[:2] != b"\x1f\x8b":
        raise BundleError("not a bundle: expected a gzip'd tar archive")
    files: dict[str, bytes] = {}
    declared = 0
    stream = _Inflater(data, max_bytes)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                declared += _check_header(info, files, max_bytes - declared)
                files[info.name] = _read_member(tar, info)
        stream.finish()
    except tarfile.TarError as exc:
        raise BundleError(f"not a readable tar archive: {exc}") from None
    if MANIFEST not in files:
        raise BundleError(f"no {MANIFEST} in the bundle")
    manifest = parse_manifest(files.pop(MANIFEST))
    return Bundle(manifest=manifest, members=files, sha256=_sha256(data))


def parse_manifest(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BundleInvalid(f"{MANIFEST} is over {MAX_MANIFEST_BYTES} bytes", code="too-large")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BundleInvalid(f"{MANIFEST} is not UTF-8", code="bad-encoding") from None
    except RecursionError:
        raise BundleInvalid(f"{MANIFEST} nests too deeply", code="bad-manifest") from None
    except ValueError as exc:
        raise BundleInvalid(f"{MANIFEST} is not JSON: {exc}", code="bad-manifest") from None
    if not isinstance(manifest, dict):
        raise BundleInvalid(f"{MANIFEST} must hold a JSON object", code="bad-manifest")
    return manifest


def _check_header(info: tarfile.TarInfo, seen: dict[str, bytes], budget: int) -> int:
    """A member's header, checked before its content is read; returns its declared size."""
    check_member_name(info.name)
    plain = info.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and info.sparse is None
    if not plain:
        raise BundleInvalid(f"member {info.name!r} is not a regular file", code="unsafe-member")
    if info.name in seen:
        raise BundleInvalid(f"member {info.name!r} appears twice", code="duplicate-member")
    if len(seen) >= MAX_MEMBERS:
        raise BundleInvalid(f"more than {MAX_MEMBERS} members", code="too-many-members")
    if info.size > budget:
        raise BundleInvalid("members declare more than the bundle may hold", code="too-large")
    return int(info.size)


def _read_member(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(info)
    content = handle.read(info.size) if handle is not None else b""
    if len(content) != info.size:
        raise BundleError(f"truncated bundle: member {info.name!r} is cut short")
    return content


def verify_bundle(
    bundle: Bundle, *, trusted: Mapping[str, Ed25519PublicKey] | None = None
) -> Verified:
    """Signature first, then schema, member hashes and the track's rules. Raises
    BundleInvalid naming the first problem found."""
    m = bundle.manifest
    key_id = _check_signature(m, trusted)
    first = next(jsonschema.Draft202012Validator(manifest_schema()).iter_errors(m), None)
    if first is not None:
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise BundleInvalid(f"manifest schema: at {where}: {first.message[:300]}", code="schema")
    manifest = Manifest.from_json(m)
    if manifest.runner.key_id != key_id:
        raise BundleInvalid("runner.key_id differs from the signing key", code="bad-signature")
    _check_members(bundle, manifest)
    try:
        track = get_track(manifest.track.id, manifest.track.version)
    except TrackError as exc:
        raise BundleInvalid(str(exc), code="unknown-track") from None
    warnings = check_rules(manifest, track)
    return Verified(bundle, manifest, track, key_id, trusted is not None, warnings)


def _check_members(bundle: Bundle, manifest: Manifest) -> None:
    listed = manifest.members
    for name, data in bundle.members.items():
        if name not in listed:
            raise BundleInvalid(f"member {name!r} is not listed in the manifest", code="unlisted")
        if _sha256(data) != listed[name].sha256 or len(data) != listed[name].size_bytes:
            raise BundleInvalid(f"member {name!r} does not match its sha256", code="tampered")
    missing = sorted(set(listed) - set(bundle.members))
    if missing:
        raise BundleInvalid(f"listed members missing: {', '.join(missing)}", code="missing-member")
    variant = manifest.variant
    if variant.path not in bundle.members:
        raise BundleInvalid("the variant source is not in the bundle", code="missing-member")
    if listed[variant.path].sha256 != variant.sha256:
        raise BundleInvalid("variant.sha256 does not match the variant member", code="tampered")


def _check_signature(m: Mapping[str, Any], trusted: Mapping[str, Ed25519PublicKey] | None) -> str:
    """The signature over the manifest, read with no other part of it trusted yet."""
    sig = m.get("signature")
    fields = ("algorithm", "key_id", "public_key", "value")
    if not isinstance(sig, dict) or not all(isinstance(sig.get(k), str) for k in fields):
        raise BundleInvalid("signature: missing or malformed", code="bad-signature")
    if sig["algorithm"] != signing.ALGORITHM:
        raise BundleInvalid(
            f"signature: algorithm must be {signing.ALGORITHM}", code="bad-signature"
        )
    try:
        public = signing.public_key_from_b64(sig["public_key"])
    except KeyFileError:
        raise BundleInvalid("signature: malformed public key", code="bad-signature") from None
    if signing.key_id(public) != sig["key_id"]:
        raise BundleInvalid("signature: key_id does not match the public key", code="bad-signature")
    if trusted is not None:
        known = trusted.get(sig["key_id"])
        if known is None:
            raise BundleInvalid(
                f"signature: key {sig['key_id'][:16]} is not a trusted runner key",
                code="unknown-key",
            )
        if signing.raw_public_bytes(known) != signing.raw_public_bytes(public):
            raise BundleInvalid("signature: key differs from the trusted one", code="unknown-key")
    try:
        payload = signed_payload(m)
    except (ValueError, TypeError, RecursionError):  # NaN, lone surrogates, deep nesting
        raise BundleInvalid(
            "signature: the manifest cannot be canonicalised", code="bad-signature"
        ) from None
    if not signing.verify(public, payload, sig["value"]):
        raise BundleInvalid("signature does not match the manifest", code="bad-signature")
    return str(sig["key_id"])


def check_rules(m: Manifest, track: Track) -> list[str]:
    """Checks against the track's rules; returns warnings, raises on a violation."""
    fig = m.figures
    if m.exit.status == "completed":
        if fig.time_ms is None or fig.val_loss is None:
            raise BundleInvalid("a completed run must carry time_ms and val_loss", code="rules")
        limit_ms = track.limits.wall_clock_s * 1000
        if fig.time_ms > limit_ms:
            raise BundleInvalid(f"time_ms exceeds the track's {limit_ms} ms", code="rules")
    expected_source = "independently-evaluated" if m.variant.harness else "self-reported"
    if fig.val_loss is not None and fig.val_loss_source != expected_source:
        raise BundleInvalid(
            f"val_loss_source must be {expected_source!r} for this variant", code="rules"
        )
    cap = fig.untimed_cap_ms
    if cap is not None and cap > track.limits.untimed_cap_s * 1000:
        raise BundleInvalid("untimed cap above the track's", code="rules")
    data = m.fingerprint.data
    files = data.files
    if data.held_out is not None and data.held_out.kind == "secret-language":
        files = {}  # built from the deployment's secret: no public pin applies
    pinned = {f.name: f.sha256 for f in (track.dataset.val_file, *track.dataset.train_files)}
    for name, digest in files.items():
        if pinned.get(name) and pinned[name] != digest:
            raise BundleInvalid(f"data file {name} differs from the track's pin", code="rules")
    _check_evaluation(m)
    warnings = []
    if m.backend not in track.rules.record_backends:
        warnings.append(f"backend {m.backend!r} does not count toward records on {track.key}")
    if fig.val_loss_source == "self-reported":
        warnings.append("val_loss is self-reported (legacy variant)")
    warnings += [f"flag: {flag}" for flag in m.flags]
    return warnings


def _check_evaluation(m: Manifest) -> None:
    """An independently evaluated loss must be the evaluator's own figure (where the
    manifest carries the runner's `evaluation` block; older manifests have none)."""
    fig, evaluation = m.figures, m.evaluation
    if fig.val_loss_source != "independently-evaluated" or evaluation is None:
        return
    if evaluation.val_loss != fig.val_loss:
        raise BundleInvalid(
            "val_loss is marked independently evaluated but differs from the evaluation block",
            code="rules",
        )
    if fig.has_independent_val_loss and fig.independent_val_loss != fig.val_loss:
        raise BundleInvalid("independent_val_loss differs from val_loss", code="rules")

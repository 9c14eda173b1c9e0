"""The runner registry: public keys that may sign bundles and agent requests."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Runner, utcnow
from server.problems import Conflict, NotFound
from speedrun import signing


def add_runner(session: Session, name: str, key: Ed25519PublicKey) -> Runner:
    key_id = signing.key_id(key)
    if session.scalar(select(Runner).where(Runner.name == name)) is not None:
        raise Conflict("runner-exists", f"a runner named {name!r} is already registered")
    if session.scalar(select(Runner).where(Runner.key_id == key_id)) is not None:
        raise Conflict("runner-exists", f"key {key_id} is already registered")
    runner = Runner(name=name, key_id=key_id, public_key=signing.public_key_b64(key))
    session.add(runner)
    session.flush()
    return runner


def revoke_runner(session: Session, name: str) -> Runner:
    runner = session.scalar(select(Runner).where(Runner.name == name))
    if runner is None:
        raise NotFound("unknown-runner", f"no runner named {name!r}")
    runner.active = False
    runner.revoked_at = utcnow()
    return runner


def active_runner(session: Session, key_id: str) -> Runner | None:
    return session.scalar(select(Runner).where(Runner.key_id == key_id, Runner.active))


def trusted_keys(session: Session) -> dict[str, Ed25519PublicKey]:
    """Active runners' keys, as `speedrun.bundle.verify_bundle(trusted=...)` takes them."""
    rows = session.execute(select(Runner.key_id, Runner.public_key).where(Runner.active))
    return {key_id: signing.public_key_from_b64(b64) for key_id, b64 in rows}


def list_runners(session: Session) -> list[Runner]:
    return list(session.scalars(select(Runner).order_by(Runner.id)))


def runner_names(session: Session) -> dict[int, str]:
    return {i: n for i, n in session.execute(select(Runner.id, Runner.name))}

"""Submitters and their API tokens: printed once at creation, stored as sha256 only, revoked
by id or all of a user's at once (a revoked token is refused like an unknown one)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ApiToken, User
from server.problems import Conflict, NotFound

TOKEN_PREFIX = "srt_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, user_name: str) -> tuple[User, str]:
    """A new token for `user_name` (created on first use); returns the plaintext once."""
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        user = User(name=user_name)
        session.add(user)
        session.flush()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=_digest(token)))
    session.flush()
    return user, token


def active_token(session: Session, token: str) -> tuple[User, int] | None:
    """The submitter behind a token that has not been revoked, and the token's id."""
    query = (
        select(User, ApiToken.id)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == _digest(token), ApiToken.revoked_at.is_(None))
    )
    row = session.execute(query).first()
    return None if row is None else (row[0], row[1])


def revoke_tokens(
    session: Session, target: str, now: datetime, *, as_user: bool = False
) -> tuple[str, list[int]]:
    """Revoke the token whose id is `target` (digits), or every active token of the user
    named `target` (or always the user, with `as_user`); (user name, token ids revoked).
    Raises NotFound / Conflict naming the problem, having changed nothing."""
    if target.isdigit() and not as_user:
        token = session.get(ApiToken, int(target)) if int(target) < 2**31 else None
        if token is None:
            hint = " (a user of that name: add --user)" if _user(session, target) else ""
            raise NotFound("unknown-token", f"no token with id {target}{hint}")
        owner = session.get_one(User, token.user_id).name
        if token.revoked_at is not None:
            raise Conflict("already-revoked", f"token {token.id} of {owner} is already revoked")
        token.revoked_at = now
        return owner, [token.id]
    user = _user(session, target)
    if user is None:
        raise NotFound("unknown-user", f"no user named {target!r}")
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    active = list(session.scalars(query.order_by(ApiToken.id)))
    if not active:
        raise Conflict("already-revoked", f"user {user.name} has no token left to revoke")
    for token in active:
        token.revoked_at = now
    return user.name, [t.id for t in active]


def _user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))

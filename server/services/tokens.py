"""Submitters and their API tokens: printed once at creation, stored as sha256 only."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import ApiToken, User

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


def user_for_token(session: Session, token: str) -> User | None:
    query = (
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == _digest(token), ApiToken.revoked_at.is_(None))
    )
    return session.scalar(query)

"""server.models.policy: an environment (image digest, runner version) is recorded once per
track version: the same one seen again is refused by the database, another version is new."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from server.models import Environment


def env(**changes) -> Environment:
    fields = {
        "track_id": "cpu-tiny",
        "track_version": 2,
        "image_digest": "sha256:aa",
        "runner_version": "0.1",
    }
    return Environment(**(fields | changes))


def test_an_environment_is_recorded_once_per_track_version(db) -> None:
    with db.write() as session:
        first = env()
        session.add_all(
            [first, env(runner_version="0.2"), env(track_version=1), env(image_digest="")]
        )
    assert first.first_seen_at.tzinfo is not None
    with pytest.raises(IntegrityError), db.write() as session:
        session.add(env())

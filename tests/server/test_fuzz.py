"""Property-based requests generated from the OpenAPI schema (schemathesis, on hypothesis):
on SQLite and PostgreSQL, no request gets a 5xx, every error is problem JSON, and a rejected
write stores nothing."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from srv_helpers import row_counts

from server.services.tokens import create_token


@schemathesis.serializer("application/gzip")
def _bundle_bytes(ctx, value):
    """Bundle uploads: generated binary strings go out as they are."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@pytest.fixture
def bearer(db):
    with db.write() as s:
        return {"Authorization": f"Bearer {create_token(s, 'fuzzer')[1]}"}


def _check(case, db, headers):
    writes = case.method.upper() == "POST"
    before = row_counts(db) if writes else None
    response = case.call(headers=dict(headers))
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400:
        content_type = response.headers["content-type"]  # schemathesis keeps header values in lists
        assert content_type[0].startswith("application/problem+json"), response.text
        assert {"type", "title", "status", "detail", "code"} <= set(response.json())
        if writes:
            assert row_counts(db) == before, (
                f"{case.method} {case.path}: rows stored on {response.status_code}"
            )


def test_generated_requests(api_schema, db, bearer, runner_key):
    """Every operation, 25 generated requests each (schemathesis's pytest plugin does not
    run under this pytest, so hypothesis drives each operation's strategy directly)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case):
            _check(case, db, bearer)

        run()

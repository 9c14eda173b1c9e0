"""server.api.common: what route modules share. Ids are 32-bit (a larger one is refused as
invalid, never looked up); a track is named `id`, `id@vN`, or `id` with ?version=N; and the
problem statuses a route declares appear in the OpenAPI document as problem JSON."""

from __future__ import annotations

import pytest
from srv_helpers import assert_problem

from server.api.common import problems, resolve
from server.problems import PROBLEM_MEDIA_TYPE
from speedrun.errors import TrackError
from speedrun.tracks import get_track


def test_tracks_resolve_by_name_key_or_version() -> None:
    latest = get_track("cpu-tiny")
    assert resolve("cpu-tiny", None) == latest
    assert resolve("cpu-tiny@v1", None).version == 1
    assert resolve("cpu-tiny", 1) == get_track("cpu-tiny", 1)
    with pytest.raises(TrackError):
        resolve("cpu-huge", None)


def test_declared_problems_are_problem_json_in_openapi(client) -> None:
    entries = problems(404, 422)
    assert set(entries) == {404, 422}
    assert PROBLEM_MEDIA_TYPE in entries[404]["content"]
    doc = client.get("/api/v1/openapi.json").json()
    record = doc["paths"]["/api/v1/records/{record_id}"]["get"]["responses"]
    assert PROBLEM_MEDIA_TYPE in record["404"]["content"]


@pytest.mark.parametrize("record_id", ["2147483648", "-1", "x"])
def test_ids_outside_32_bits_are_invalid_not_missing(client, record_id: str) -> None:
    assert_problem(client.get(f"/api/v1/records/{record_id}"), 422)
    assert_problem(client.get("/api/v1/records/2147483647"), 404)

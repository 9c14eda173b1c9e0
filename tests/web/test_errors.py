"""web.errors: one error path for the API and the pages. The server's handler decides status
and code; a page request gets that verdict rendered as HTML (with the headers a client needs,
such as Allow), an API request or one asking for JSON keeps the problem JSON, and an id that
does not parse on a page path is simply not found."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from server.app import create_app
from server.config import load_settings
from web.errors import is_page_request


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(load_settings(db=f"sqlite:///{tmp_path / 'web.db'}"))
    with TestClient(app) as c:
        yield c
    app.state.speedrun.db.dispose()


def test_a_missing_page_is_an_html_page_with_the_status(client: TestClient) -> None:
    answer = client.get("/records/4242")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<html" in answer.text.lower() and "4242" in answer.text


def test_an_unparseable_id_on_a_page_is_not_found_not_invalid(client: TestClient) -> None:
    page = client.get("/records/not-a-number")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/records/not-a-number")
    assert api.status_code == 422 and api.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_asking_for_json_keeps_the_problem(client: TestClient) -> None:
    answer = client.get("/records/4242", headers={"Accept": "application/json"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 404


def test_headers_a_client_needs_survive_the_page(client: TestClient) -> None:
    answer = client.post("/")
    assert answer.status_code == 405 and "GET" in answer.headers["allow"]
    assert answer.headers["content-type"].startswith("text/html")


def scope(path: str, accept: str = "text/html") -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "headers": [(b"accept", accept.encode())],
            "query_string": b"",
        }
    )


def test_what_counts_as_a_page_request() -> None:
    assert is_page_request(scope("/records/1"))
    assert not is_page_request(scope("/api/v1/records/1"))
    assert not is_page_request(scope("/docs"))
    assert not is_page_request(scope("/records/1", "application/json"))

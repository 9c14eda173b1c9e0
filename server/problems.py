"""The server's exceptions and the one handler that turns any error into problem JSON.

    ServerError                 base: HTTP status, a stable `code`, a title and a detail
    ├── BadRequest   400/422    malformed input (bad JSON body, bad text, bad parameters)
    │   └── JobMismatch  400    a bundle uploaded for a job that is not one of its runs
    ├── Unauthorized 401        missing or wrong token / agent signature
    ├── Forbidden    403        a revoked runner, a lease held by someone else
    ├── NotFound     404
    ├── Conflict     409        run_id clash, expired or superseded lease, job not running
    ├── TooLarge     413        a body past the configured limit (checked while streaming)
    └── RateLimited  429        too many writes from one client, or submissions in the window

Bundles that fail `speedrun.bundle` checks keep their own codes: BundleError (unreadable)
answers 400, BundleInvalid (readable but wrong) 422. Every answer has the RFC 9457 shape
`{type, title, status, detail, code}` with media type `application/problem+json`.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from speedrun.errors import BundleError, BundleInvalid, TrackError

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://speedrun.invalid/problems/"
log = logging.getLogger("server")


class ServerError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ServerError):
    status, title = 422, "Invalid request"


class JobMismatch(BadRequest):
    status, title = 400, "Bundle does not belong to this job"


class Unauthorized(ServerError):
    status, title = 401, "Not authenticated"


class Forbidden(ServerError):
    status, title = 403, "Forbidden"


class NotFound(ServerError):
    status, title = 404, "Not found"


class Conflict(ServerError):
    status, title = 409, "Conflict"


class TooLarge(ServerError):
    status, title = 413, "Request body too large"


class RateLimited(ServerError):
    status, title = 429, "Too many requests"


def problem(
    status: int, code: str, title: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail}
    body["code"] = code
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _unreadable_code(message: str) -> str:
    for start, code in (("empty", "empty-bundle"), ("truncated", "truncated-bundle")):
        if message.startswith(start):
            return code
    return "not-a-bundle"


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler: every error the app raises ends here."""
    if isinstance(exc, ServerError):
        return problem(exc.status, exc.code, exc.title, exc.detail, exc.headers)
    if isinstance(exc, BundleInvalid):
        return problem(422, exc.code, "Bundle rejected", exc.reason)
    if isinstance(exc, BundleError):
        return problem(400, _unreadable_code(str(exc)), "Bundle unreadable", str(exc))
    if isinstance(exc, TrackError):
        return problem(404, "unknown-track", "Unknown track", str(exc))
    if isinstance(exc, RequestValidationError):
        return problem(422, "validation", "Invalid request", _validation_detail(exc))
    if isinstance(exc, StarletteHTTPException):
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers: dict[str, Any] | None = getattr(exc, "headers", None)
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail), headers)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal", "Internal error", "an unexpected error; it has been logged")


def install_handlers(app: FastAPI) -> None:
    for kind in (
        ServerError,
        BundleError,
        TrackError,
        RequestValidationError,
        StarletteHTTPException,
        Exception,
    ):
        app.add_exception_handler(kind, handle_error)

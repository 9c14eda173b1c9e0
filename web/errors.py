"""One error path for the API and the pages: every exception still goes through the server's
one handler (`server.problems.handle_error`), which decides status, code and detail; a page
request (not under /api/, not asking for JSON) gets that verdict rendered as `error.html`
instead of problem JSON. An id that does not parse on a page path is simply not found."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from web.routes import wants_json

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
KEPT_HEADERS = ("allow", "retry-after", "www-authenticate")


def is_page_request(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(("/api/", "/docs", "/redoc")) and not wants_json(request)


def _page_error(templates: Jinja2Templates, handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = handler(request, exc)
        if inspect.isawaitable(answer):
            answer = await answer
        if not is_page_request(request):
            return answer
        problem: dict[str, Any] = json.loads(bytes(answer.body))
        status = int(problem.get("status", answer.status_code))
        if isinstance(exc, RequestValidationError) and any(
            e.get("loc", ("",))[0] == "path" for e in exc.errors()
        ):
            status, problem["title"] = 404, "Not found"
        page = templates.TemplateResponse(
            request, "error.html", {"problem": problem, "status": status}, status_code=status
        )
        for name in KEPT_HEADERS:
            if name in answer.headers:
                page.headers[name] = answer.headers[name]
        return page

    return handle


def install_page_errors(app: FastAPI, templates: Jinja2Templates) -> None:
    """Wrap every handler the app has (install after `problems.install_handlers`)."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _page_error(templates, handler)

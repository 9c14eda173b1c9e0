"""A loopback stand-in for the Hugging Face hub's file-download endpoints.

The real `huggingface_hub` download path (HEAD of `resolve/`, redirect to a CDN, GET with
`Range` resume, size check) runs against it when `HF_ENDPOINT` (or `endpoint=`) is `url`.
What huggingface_hub 2.x asks for, and what this answers:

    HEAD|GET {url}/datasets/{repo}/resolve/{revision}/{file}
        302 to the "CDN" with X-Repo-Commit, X-Linked-Etag (the file's sha256, quoted as the hub
        quotes it), X-Linked-Size and an ETag of the LFS pointer, as the hub answers for LFS
        files. The CDN listens on a second port, so huggingface_hub treats it as a foreign host
        (it does not follow the redirect on HEAD and GETs the CDN address directly), exactly as
        with the hub's real CDN. With `redirect=False` the resolve URL serves the bytes itself.
        404 with X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound otherwise.
    HEAD|GET {cdn}/lfs/{sha256}
        the bytes, with Content-Length and Accept-Ranges; `Range: bytes=N-[M]` gets a 206.

Faults, per file (`Fault`): cut the first GET of the body after K bytes (huggingface_hub then
resumes with a Range header), serve corrupted bytes while advertising the true sha256,
advertise a wrong sha256. Every request is logged in `requests`.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from speedrun.data import shards

DEFAULT_REPO = "kjj0/fineweb10B-gpt2"
DEFAULT_REVISION = "889765ea1f903759787add96995d81171b632d0c"


@dataclass
class Fault:
    drop_after_bytes: int | None = None  # first body GET: send this many bytes, then hang up
    corrupt: bool = False  # serve bytes with the last one flipped, advertise the true sha256
    advertise_sha256: str | None = None  # advertise this sha256 instead of the true one


@dataclass(frozen=True)
class LoggedRequest:
    server: str  # "hub" or "cdn"
    method: str
    path: str
    range: str | None


@dataclass(frozen=True)
class HostedFile:
    name: str
    data: bytes
    sha256: str


class HubStandin:
    """Serves `files` of one repo at one revision; start with `with HubStandin(...) as hub:`."""

    def __init__(
        self,
        repo_id: str = DEFAULT_REPO,
        revision: str = DEFAULT_REVISION,
        *,
        repo_type: str = "dataset",
        redirect: bool = True,
    ) -> None:
        self.repo_id, self.revision, self.redirect = repo_id, revision, redirect
        self.url_prefix = {"dataset": "/datasets/", "space": "/spaces/"}.get(repo_type, "/")
        self.files: dict[str, HostedFile] = {}
        self.faults: dict[str, Fault] = {}
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._body_gets: Counter[str] = Counter()
        self._connections: set[socket.socket] = set()
        self._hub = self._make_server("hub")
        self._cdn = self._make_server("cdn")
        self._threads: list[threading.Thread] = []

    # --- content -------------------------------------------------------------------------

    def add_file(self, name: str, data: bytes) -> HostedFile:
        hosted = HostedFile(name, data, hashlib.sha256(data).hexdigest())
        self.files[name] = hosted
        return hosted

    def add_shard(self, name: str, tokens: np.ndarray[Any, Any]) -> HostedFile:
        """Host a real `.bin` shard of `tokens`, written by speedrun.data.shards.write_shard."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            shards.write_shard(path, tokens)
            return self.add_file(name, path.read_bytes())

    def add_random_shards(
        self, names: list[str], *, n_tokens: int = 50_000, seed: int = 0
    ) -> dict[str, HostedFile]:
        rng = np.random.default_rng(seed)
        return {
            n: self.add_shard(n, rng.integers(0, 50257, n_tokens, dtype=np.uint16)) for n in names
        }

    # --- what happened -------------------------------------------------------------------

    def body_gets(self, name: str | None = None) -> list[LoggedRequest]:
        """GET requests that served (or would have served) a file's bytes."""
        with self._lock:
            logged = list(self.requests)
        return [
            r
            for r in logged
            if r.method == "GET"
            and self._body_name(r) is not None
            and (name is None or self._body_name(r) == name)
        ]

    def _body_name(self, r: LoggedRequest) -> str | None:
        if r.server == "cdn":
            sha = r.path.rsplit("/", 1)[-1]
            return next((f.name for f in self.files.values() if f.sha256 == sha), None)
        if self.redirect:
            return None
        return self._resolve_target(r.path)[1]

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def start(self) -> HubStandin:
        for server in (self._hub, self._cdn):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        # Idle keep-alive connections would outlive the server in their handler threads; a
        # later stand-in on a recycled port must never be answered by this one.
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):  # already closed by the client
                    conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> HubStandin:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- HTTP ----------------------------------------------------------------------------

    def _make_server(self, role: str) -> ThreadingHTTPServer:
        standin = self

        class Handler(_Handler):
            pass

        Handler.standin, Handler.role = standin, role
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    def _resolve_target(self, path: str) -> tuple[str | None, str | None]:
        """(error code or None, file name) of a `resolve/` path."""
        if not path.startswith(self.url_prefix) or "/resolve/" not in path:
            return "RepoNotFound", None
        repo, _, rest = path[len(self.url_prefix) :].partition("/resolve/")
        revision, _, name = rest.partition("/")
        if repo != self.repo_id:
            return "RepoNotFound", None
        if revision not in (self.revision, "main"):
            return "RevisionNotFound", None
        if name not in self.files:
            return "EntryNotFound", name
        return None, name

    def handle(self, h: _Handler, role: str, *, head: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        with self._lock:
            self.requests.append(LoggedRequest(role, h.command, path, h.headers.get("Range")))
        if role == "cdn":
            sha = path.removeprefix("/lfs/")
            found = next((f for f in self.files.values() if f.sha256 == sha), None)
            if found is None:
                return _reply(h, 404, {}, head=head)
            return self._serve_body(h, found, head=head)
        error, name = self._resolve_target(path)
        if error is not None:
            return _reply(
                h, 404, {"X-Error-Code": error, "X-Repo-Commit": self.revision}, head=head
            )
        assert name is not None
        hosted = self.files[name]
        fault = self.faults.get(name, Fault())
        advertised = fault.advertise_sha256 or hosted.sha256
        meta = {"X-Repo-Commit": self.revision, "Accept-Ranges": "bytes"}
        if not self.redirect:
            return self._serve_body(h, hosted, head=head, extra={**meta, "ETag": f'"{advertised}"'})
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{advertised}\n"
        meta |= {
            "Location": f"{self.cdn_url}/lfs/{hosted.sha256}",
            "X-Linked-Etag": f'"{advertised}"',
            "X-Linked-Size": str(len(hosted.data)),
            "ETag": f'"{hashlib.sha1(pointer.encode()).hexdigest()}"',
        }
        return _reply(h, 302, meta, head=head)

    def _serve_body(
        self, h: _Handler, hosted: HostedFile, *, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        fault = self.faults.get(hosted.name, Fault())
        data = hosted.data
        if fault.corrupt and data:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        headers = {
            "Accept-Ranges": "bytes",
            # as the hub's CDN sends it; huggingface_hub names its progress bar after it
            "Content-Disposition": f"inline; filename*=UTF-8''{hosted.name}; filename=\"{hosted.name}\";",
            **(extra or {}),
        }
        start, end = 0, len(data) - 1
        status = 200
        if (spec := h.headers.get("Range")) is not None:
            first, _, last = spec.removeprefix("bytes=").partition("-")
            start, end = int(first), int(last) if last else len(data) - 1
            if start >= len(data):
                return _reply(h, 416, {"Content-Range": f"bytes */{len(data)}"}, head=head)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        body = data[start : end + 1]
        if head:
            return _reply(h, status, {**headers, "Content-Length": str(len(body))}, head=True)
        with self._lock:
            self._body_gets[hosted.name] += 1
            first_get = self._body_gets[hosted.name] == 1
        if first_get and fault.drop_after_bytes is not None:
            return _hang_up_after(h, status, headers, body, fault.drop_after_bytes)
        return _reply(h, status, headers, body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects of the hub
    standin: HubStandin
    role: str

    def setup(self) -> None:
        super().setup()
        with self.standin._lock:
            self.standin._connections.add(self.connection)

    def finish(self) -> None:
        with self.standin._lock:
            self.standin._connections.discard(self.connection)
        super().finish()

    def do_HEAD(self) -> None:
        self.standin.handle(self, self.role, head=True)

    def do_GET(self) -> None:
        self.standin.handle(self, self.role, head=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; `requests` is the log


def _reply(
    h: BaseHTTPRequestHandler,
    status: int,
    headers: dict[str, str],
    body: bytes = b"",
    *,
    head: bool = False,
) -> None:
    h.send_response(status)
    for key, value in headers.items():
        h.send_header(key, value)
    if "Content-Length" not in headers:
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if body and not head:
        h.wfile.write(body)


def _hang_up_after(
    h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, n_bytes: int
) -> None:
    """Promise the whole body, send `n_bytes` of it, then close the connection mid-transfer."""
    h.send_response(status)
    for key, value in headers.items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body[:n_bytes])
    h.wfile.flush()
    h.close_connection = True
    h.connection.shutdown(socket.SHUT_RDWR)

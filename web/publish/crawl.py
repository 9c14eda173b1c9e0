"""The crawl: ask the real app for each URL, write its answer where `layout` puts it, and
follow its same-site links (`links`), breadth first, one answer in memory at a time.

HTML answers get their asset references rewritten to content-hashed files (`assets`), which
are fetched and written the first time a page names them. URLs in `provided` are already
in the snapshot under another name (a bundle among the open data) and are linked, not
fetched. `follow(url)` decides which newly found links are crawled too (a full build
follows all; a refresh only what is not in the snapshot yet, and the pages it rebuilds).
Whatever cannot be fetched or stored is reported with the reason, and the crawl goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Protocol

from web.publish import assets, layout, links
from web.publish.compress import compressible
from web.publish.writer import SnapshotWriter

MAX_URLS = 2_000_000  # a bound on the seen-set, far above any real site


class Client(Protocol):
    def get(self, url: str, *, follow_redirects: bool = ...) -> Any: ...


@dataclass
class CrawlReport:
    answers: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (url, why)


def follow_all(url: str) -> bool:
    return True


class Crawler:
    def __init__(
        self,
        client: Client,
        writer: SnapshotWriter,
        base: str,
        *,
        follow: Callable[[str], bool] = follow_all,
        provided: dict[str, PurePosixPath] | None = None,
    ) -> None:
        self.client, self.writer, self.base = client, writer, base
        self.follow = follow
        self.provided = provided or {}
        self.report = CrawlReport()
        self.seen: set[str] = set()
        self.hashed: dict[str, str] = {}  # asset reference -> its snapshot URL

    def run(self, seeds: Iterable[str]) -> CrawlReport:
        """Crawl from `seeds` (always fetched) and the links `follow` accepts."""
        queue = deque(u for u in dict.fromkeys(seeds) if u not in self.seen)
        self.seen.update(queue)
        while queue:
            url = queue.popleft()
            for found in self._visit(url):
                if found not in self.seen and len(self.seen) < MAX_URLS and self.follow(found):
                    self.seen.add(found)
                    queue.append(found)
        return self.report

    def _visit(self, url: str) -> list[str]:
        if url in self.provided:
            self.writer.link(layout.file_for(url, "application/octet-stream"), self.provided[url])
            return []
        try:
            layout.split(url)  # before the fetch: a URL no file can hold costs nothing
        except layout.LayoutError as exc:
            self.report.failures.append((url, str(exc)))
            return []
        answer = self.client.get(url, follow_redirects=False)
        if answer.status_code != 200:
            self.report.failures.append((url, f"HTTP {answer.status_code}"))
            return []
        content_type = answer.headers.get("content-type", "application/octet-stream")
        body, found = self._links(url, content_type, answer)
        try:
            rel = layout.file_for(url, content_type)
            self.writer.write(rel, body, compress=compressible(content_type))
        except (layout.LayoutError, OSError) as exc:  # OSError: a name the disk refuses
            self.report.failures.append((url, str(exc)))
            return []
        self.report.answers += 1
        return [u for u in (links.same_site(f, url, self.base) for f in found) if u]

    def _links(self, url: str, content_type: str, answer: Any) -> tuple[bytes, list[str]]:
        """The answer's bytes as stored (assets renamed in HTML) and the links in it."""
        kind = content_type.split(";")[0].strip().lower()
        if kind == "text/html":
            text = assets.rewrite(answer.text, self._asset)
            return text.encode("utf-8"), list(links.html_links(text))
        if kind == "application/json":
            return answer.content, list(links.json_links(answer.text))
        if kind == "application/atom+xml":
            return answer.content, list(links.feed_links(answer.text))
        return answer.content, []

    def _asset(self, ref: str) -> str:
        """The snapshot URL of asset reference `ref`, fetched and written on first sight."""
        if ref not in self.hashed:
            answer = self.client.get(assets.asset_path(ref), follow_redirects=False)
            if answer.status_code != 200:
                self.report.failures.append((ref, f"HTTP {answer.status_code}"))
                self.hashed[ref] = ref
                return ref
            rel = assets.snapshot_path(ref, answer.content)
            content_type = answer.headers.get("content-type", "application/octet-stream")
            self.writer.write(rel, answer.content, compress=compressible(content_type))
            self.hashed[ref] = f"/{rel}"
            self.seen.add(self.hashed[ref])
        return self.hashed[ref]

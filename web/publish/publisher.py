"""The snapshot kept current inside the server (`SPEEDRUN_PUBLISH_DIR`): a daemon thread
that looks at the database every `publish_interval_s` and, when something moved, rebuilds
what the change touches (`refresh`). It sees every writer (this server's routes, other
workers, `speedrun records import`, admin commands), since it compares the database itself,
not events: a cheap aggregate query first (`poll_stamp`), and the whole state every
`FULL_CHECK_EVERY` ticks whatever the aggregates say.

The pages are rendered by an app of its own (its own engine and page cache, no scheduler),
never by the one serving requests. A failed refresh is logged and tried again at the next
tick; the server goes on serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.config import Settings
from server.services.opendata.site_state import poll_stamp
from web.publish import folder, refresh, site
from web.publish.snapshot import PublishReport

LOG = logging.getLogger("speedrun.publish")
FULL_CHECK_EVERY = 30


class Publisher:
    def __init__(
        self, make_app: Callable[[], Any], out: Path, base: str, signature: str, interval_s: float
    ) -> None:
        self.make_app, self.out, self.base = make_app, out, base
        self.signature, self.interval_s = signature, interval_s
        self.stamp: tuple[Any, ...] | None = None
        self.ticks = 0
        self.last: PublishReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_settings(cls, settings: Settings, make_app: Callable[[], Any]) -> Publisher:
        """The publisher `settings` ask for; its folder checked now (PublishError)."""
        assert settings.publish_dir
        out = folder.prepare(Path(settings.publish_dir), "SPEEDRUN_PUBLISH_DIR")
        base = site.base_url(settings)
        return cls(make_app, out, base, site.signature(settings, base), settings.publish_interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _loop(self) -> None:
        with site.open_site(self.make_app(), self.base) as live:
            wait_s = 0.0  # the first look at once: a snapshot may be missing or stale
            while not self._stop.wait(wait_s):
                wait_s = self.interval_s
                try:
                    self.tick(live)
                except Exception:  # the server goes on; the next tick tries again
                    LOG.exception("publishing to %s failed", self.out)

    def tick(self, live: site.Site) -> PublishReport | None:
        """Refresh the snapshot if the database moved (or a whole check is due)."""
        with live.db.reader() as session:
            stamp = poll_stamp(session)
        self.ticks += 1
        if stamp == self.stamp and self.ticks % FULL_CHECK_EVERY:
            return None
        report = refresh.refresh(live, self.out, self.signature)
        self.stamp, self.last = stamp, report
        if report.answers or report.failures:
            LOG.info("%s", report.line())
        for url, why in report.failures:
            LOG.warning("publishing %s: %s", url, why)
        return report

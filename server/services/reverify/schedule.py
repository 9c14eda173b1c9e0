"""The server's periodic re-verification scan (the top-K policy), in a background thread.

Every `reverify_scan_interval_s` seconds (0 turns it off) it asks the policy which records are
due and queues their re-runs, in one short write transaction. `speedrun admin reverify-due`
runs the same scan once, for deployments that prefer cron.
"""

from __future__ import annotations

import logging
import threading

from server.config import Settings
from server.db import Database
from server.models import utcnow
from server.services.reverify import policy as reverify_policy

log = logging.getLogger("speedrun.scheduler")


def scan_once(db: Database, settings: Settings) -> list[int]:
    with db.write() as session:
        return reverify_policy.schedule_due(
            session,
            utcnow(),
            top_k=settings.reverify_top_k,
            every_days=settings.reverify_every_days,
            runs=settings.reverify_runs,
        )


class ReverifyScheduler:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.reverify_scan_interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="reverify-scan", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.reverify_scan_interval_s):
            try:
                jobs = scan_once(self.db, self.settings)
            except Exception:  # a failed scan must not end the thread: log, try next time
                log.exception("re-verification scan failed")
                continue
            if jobs:
                log.info("re-verification scan queued jobs %s", jobs)

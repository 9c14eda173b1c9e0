"""Server settings: one pydantic-settings class (environment prefix `SPEEDRUN_`), built by
`load_settings()` when a command runs, never at import time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB_PATH = Path("var") / "speedrun.db"


def default_db_url() -> str:
    return f"sqlite:///{DEFAULT_DB_PATH}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPEEDRUN_", extra="ignore")

    db: str = Field(default_factory=default_db_url, description="SQLAlchemy URL or file path")
    host: str = "127.0.0.1"
    port: int = 8000
    # Request bodies: a bundle upload is refused while streaming once it passes this.
    max_bundle_bytes: int = 64 * 1024 * 1024
    # Uncompressed size of all members of one bundle together (read_bundle's bound).
    max_bundle_expanded_bytes: int = 128 * 1024 * 1024
    max_variant_bytes: int = 1024 * 1024
    max_json_bytes: int = 2 * 1024 * 1024
    # Submissions per user in a sliding window.
    submissions_per_window: int = 20
    submission_window_s: int = 3600
    # Writes (every POST/PUT/PATCH/DELETE) per client, a token bucket: `rate_limit_burst`
    # at once, refilled at `rate_limit_writes_per_s` (0 turns the limit off). A client is its
    # token or runner key once checked, else its address. Per process (see
    # services/rate_limit.py). An agent polls once a second at most; a submitter's own
    # quota is `submissions_per_window` below.
    rate_limit_writes_per_s: float = Field(default=2.0, ge=0)
    rate_limit_burst: int = Field(default=300, ge=1)
    # Agent jobs: a lease lasts this long past the last heartbeat.
    lease_s: int = 600
    max_lease_expiries: int = 3
    # Agent request signatures older or newer than this are refused.
    signature_skew_s: int = 300
    # A re-run reproduces a record when its mean time is within this fraction of the record's.
    reverify_time_tolerance: float = 0.05
    # Leaderboard cache: invalidated on every write in this process; the TTL bounds how long
    # a write made by another process (an admin command, an importer) can go unseen.
    leaderboard_cache_ttl_s: float = 5.0
    # Backends counted as official on every track besides the track's own record_backends.
    # For demos and tests on machines without a container engine; production leaves it empty.
    extra_record_backends: list[str] = Field(default_factory=list)
    # Re-verification policy (services/reverify_policy.py, services/scheduler.py): the top K
    # records of each track are re-run when their last check is older than D days; the scan
    # runs every `reverify_scan_interval_s` seconds (0 turns it off).
    reverify_top_k: int = Field(default=3, ge=1)
    reverify_every_days: float = Field(default=7.0, ge=0)
    reverify_scan_interval_s: float = Field(default=3600.0, ge=0)
    # Runs per re-verification job; unset means the track's runs_required.
    reverify_runs: int | None = Field(default=None, ge=1)
    # Hidden tracks (cpu-smoke) take runners' bundles but no submissions; this lets them take
    # submissions too, for test suites and demos that need a whole loop in seconds.
    submissions_to_hidden_tracks: bool = False
    # A line shown on every page, e.g. the demo's "local backend, not sandboxed" label.
    notice: str = ""
    sql_echo: bool = False
    # The pages' cost column: accelerator-hours (accelerators x mean time) x a price. An
    # assumption shown beside every figure: on-demand 8x H100 rents for about 2 USD per GPU-hour.
    price_per_accel_hour: float = Field(default=2.0, ge=0)
    # CPU tracks count processes as accelerators: priced per process-hour (one vCPU-hour).
    price_per_cpu_hour: float = Field(default=0.05, ge=0)
    price_currency: str = "USD"
    # The static snapshot (`speedrun publish`): when set, the server keeps a snapshot of every
    # public page, its JSON twin and the open data in this folder, rebuilding what each change
    # touches (checked every `publish_interval_s`); `public_url` is the site's address as
    # readers see it (feeds and copy-paste commands name it), default http://HOST:PORT/.
    publish_dir: str | None = None
    publish_interval_s: float = Field(default=2.0, gt=0)
    public_url: str | None = None

    def site_url(self, request_base: str) -> str:
        """The site's address in links and commands readers copy: `public_url` when set, so
        that a request's Host header cannot choose it, else the address the request came to;
        always ending in `/`."""
        base = self.public_url or request_base
        return base if base.endswith("/") else base + "/"


def normalize_db_url(value: str) -> str:
    """A SQLAlchemy URL as given (plain `postgresql://` gets the installed psycopg 3 driver),
    or a plain file path turned into a SQLite URL."""
    for plain in ("postgresql://", "postgres://"):
        if value.startswith(plain):
            return "postgresql+psycopg://" + value[len(plain) :]
    if "://" in value:
        return value
    return f"sqlite:///{os.path.abspath(value)}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (`SPEEDRUN_*`, `SPEEDRUN_DB`), then explicit overrides."""
    given = {k: v for k, v in overrides.items() if v is not None}
    settings = Settings(**given)
    settings.db = normalize_db_url(settings.db)
    return settings

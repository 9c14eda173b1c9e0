"""Token buckets for write requests: each client gets `burst` requests at once, refilled at
`rate_per_s`; a request that finds its bucket empty is refused 429 with `Retry-After`.

Who the client is: the submitter's token or the runner's key when the request proves it
(after the token is looked up or the signature verified), else the address it came from.
A credential is never trusted before it is checked, so a forged one cannot drain a real
client's bucket, and a request whose credential fails is charged to its address.

The buckets live in each server process, not in the database. With N worker processes a
client gets up to N times the configured rate. That is acceptable for what this guards:
floods and runaway clients, not quotas (the per-user submission quota is counted in the
database and holds across workers), and sharing the buckets would put a database write on
every write request, which on SQLite serialises all writers behind the limiter itself.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from server.problems import RateLimited

PENDING_CHARGE = "write_charge"  # the request state's key for a write's PendingCharge
MAX_CLIENTS = 50_000  # buckets kept; the least recently used go first (a new one is full)


class TokenBuckets:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def take(self, client: str, now: float | None = None) -> float | None:
        """Take one token from `client`'s bucket: None when there was one, else the seconds
        until there will be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            allowed = tokens >= 1.0
            self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate_per_s


def refusal(client: str, wait_s: float) -> RateLimited:
    retry = max(1, math.ceil(wait_s))
    return RateLimited(
        "rate-limited",
        f"too many write requests from {client}; retry in {retry} s",
        headers={"Retry-After": str(retry)},
    )


@dataclass
class PendingCharge:
    """A write request whose client is not known yet (it carries a credential): the
    dependency that checks the credential settles it, to the verified client or, when the
    check fails or nothing checks it, to the address."""

    buckets: TokenBuckets
    address: str
    settled: bool = field(default=False)

    def settle(self, client: str | None) -> None:
        """Charge `client` (None: the address); raise 429 when its bucket is empty."""
        if self.settled:
            return
        self.settled = True
        who = client or self.address
        wait = self.buckets.take(who)
        if wait is not None:
            raise refusal("this client" if client else self.address, wait)

"""Number and date formatting for the pages (also registered as Jinja filters): durations in
the unit a reader expects, mean ± sd, p-values, money, short digests."""

from __future__ import annotations

import math
from datetime import datetime

from server.schemas.common import SummaryPublic
from web.text import http_url, linkify


def fmt_duration_s(seconds: float | None) -> str:
    """`5.03 min`, `45.2 s`, `812 ms`, `2.10 h`."""
    if seconds is None or math.isnan(seconds):
        return "–"
    if seconds == 0:
        return "0"
    if seconds >= 7200:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 120:
        return f"{seconds / 60:.3g} min"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    return f"{seconds * 1000:.3g} ms"


def fmt_ms(ms: float | None) -> str:
    return "–" if ms is None else fmt_duration_s(ms / 1000)


def fmt_time_pm(s: SummaryPublic | None) -> str:
    """Mean ± sample sd of a time summary (ms), in the mean's unit."""
    if s is None:
        return "–"
    mean = s.mean / 1000
    if mean >= 120:
        unit, div = "min", 60.0
    elif mean >= 1:
        unit, div = "s", 1.0
    else:
        unit, div = "ms", 0.001
    if s.n < 2:
        return f"{mean / div:.3g} {unit}"
    return f"{mean / div:.3g} ± {s.std / 1000 / div:.2g} {unit}"


def fmt_loss(v: float | None) -> str:
    return "–" if v is None else f"{v:.4f}"


def fmt_loss_pm(s: SummaryPublic | None) -> str:
    if s is None:
        return "–"
    return f"{s.mean:.4f}" if s.n < 2 else f"{s.mean:.4f} ± {s.std:.4f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def fmt_money(amount: float | None, currency: str = "USD") -> str:
    if amount is None:
        return "–"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    digits = 2 if amount >= 1 else (3 if amount >= 0.01 else 5)
    number = f"{amount:,.{digits}f}"
    return f"{symbol}{number}" if symbol else f"{number} {currency}"


def fmt_steps(steps: float | None) -> str:
    return "–" if steps is None else f"{steps:,.0f}"


def fmt_date(at: datetime | None) -> str:
    return "–" if at is None else at.strftime("%Y-%m-%d")


def fmt_datetime(at: datetime | None) -> str:
    return "–" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_digest(digest: str | None, n: int = 12) -> str:
    if not digest:
        return "–"
    algo, _, hexa = digest.rpartition(":")
    return f"{algo + ':' if algo else ''}{hexa[:n]}…" if len(hexa) > n else digest


def fmt_tokens(tokens: float) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(tokens) >= div:
            return f"{tokens / div:.3g}{unit}"
    return f"{tokens:.0f}"


_SI = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def fmt_si(value: float | None, unit: str) -> str:
    """`2.52 PFLOP`, `48.1 GFLOP/s`, `12 GB/s`: three digits and an SI prefix."""
    if value is None or not math.isfinite(value):
        return "–"
    for div, prefix in _SI:
        if abs(value) >= div:
            return f"{value / div:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def fmt_flops(value: float | None) -> str:
    return fmt_si(value, "FLOP")


def fmt_pct(share: float | None) -> str:
    """A share as a percentage: `41.2%`, `0.35%`."""
    if share is None or not math.isfinite(share):
        return "–"
    return f"{share * 100:.3g}%"


FILTERS = {
    "duration_s": fmt_duration_s,
    "ms": fmt_ms,
    "time_pm": fmt_time_pm,
    "loss": fmt_loss,
    "loss_pm": fmt_loss_pm,
    "p": fmt_p,
    "money": fmt_money,
    "steps": fmt_steps,
    "date": fmt_date,
    "datetime": fmt_datetime,
    "digest": fmt_digest,
    "tokens": fmt_tokens,
    "si": fmt_si,
    "flops": fmt_flops,
    "pct": fmt_pct,
    "linkify": linkify,
    "http_url": http_url,
}

"""web.format: the numbers on the pages: durations in a reader's unit, mean ± sd, p-values,
money, digests and token counts, with a dash for anything missing or NaN."""

from __future__ import annotations

from datetime import datetime

from server.schemas.common import SummaryPublic
from web.format import (
    FILTERS,
    fmt_date,
    fmt_datetime,
    fmt_digest,
    fmt_duration_s,
    fmt_loss_pm,
    fmt_money,
    fmt_ms,
    fmt_p,
    fmt_steps,
    fmt_time_pm,
    fmt_tokens,
)
from web.text import linkify


def test_durations_use_the_unit_a_reader_expects() -> None:
    assert fmt_duration_s(0.812) == "812 ms"
    assert fmt_duration_s(45.24) == "45.2 s"
    assert fmt_duration_s(301.8) == "5.03 min"
    assert fmt_duration_s(7560) == "2.10 h"
    assert fmt_duration_s(0) == "0"
    assert fmt_ms(180_000) == "3 min"
    assert fmt_duration_s(None) == fmt_duration_s(float("nan")) == fmt_ms(None) == "–"


def test_summaries_show_mean_and_sd_only_with_two_values() -> None:
    assert fmt_time_pm(SummaryPublic(n=3, mean=180_000.0, std=6_000.0)) == "3 ± 0.1 min"
    assert fmt_time_pm(SummaryPublic(n=1, mean=450.0, std=0.0)) == "450 ms"
    assert fmt_loss_pm(SummaryPublic(n=2, mean=3.27, std=0.0123)) == "3.2700 ± 0.0123"
    assert fmt_loss_pm(SummaryPublic(n=1, mean=3.27, std=0.0)) == "3.2700"
    assert fmt_time_pm(None) == fmt_loss_pm(None) == "–"


def test_p_values_money_tokens_and_digests() -> None:
    assert fmt_p(0.0123) == "0.012" and fmt_p(0.00001234) == "1.2e-05" and fmt_p(None) == "–"
    assert fmt_money(1234.5) == "$1,234.50"
    assert fmt_money(0.0123, "EUR") == "€0.012"
    assert fmt_money(0.004, "CHF") == "0.00400 CHF"
    assert fmt_tokens(1_500_000_000) == "1.5B" and fmt_tokens(262_144) == "262k"
    assert fmt_tokens(-2_000_000) == "-2M" and fmt_tokens(12) == "12"
    assert fmt_digest("sha256:" + "ab" * 32) == "sha256:abababababab…"
    assert fmt_digest("short") == "short" and fmt_digest("") == fmt_digest(None) == "–"


def test_every_filter_is_registered_and_dates_print_in_utc_form() -> None:
    assert fmt_datetime(datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06 07:08:09 UTC"
    assert fmt_date(datetime(2024, 5, 6)) == "2024-05-06" and fmt_date(None) == "–"
    assert fmt_steps(1234.0) == "1,234"
    assert FILTERS["datetime"] is fmt_datetime and FILTERS["linkify"] is linkify
    assert set(FILTERS) >= {"duration_s", "ms", "time_pm", "loss", "p", "money", "digest"}

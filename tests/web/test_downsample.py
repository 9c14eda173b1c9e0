"""web.downsample: largest-triangle-three-buckets keeps the ends, the count asked for, points
of the input in order, a spike a stride would miss, and picks the same points whatever the
(linear) units."""

from __future__ import annotations

import math

import numpy as np
import pytest

from web.downsample import lttb_indices


def _curve(n: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n, dtype=np.float64)
    return x, np.array([1.4 + 4 * 0.999**i + 0.01 * math.sin(i) for i in range(n)])


def test_small_inputs_come_back_whole() -> None:
    x, y = _curve(10)
    assert lttb_indices(x, y, 10) == list(range(10)) == lttb_indices(x, y, 50)
    assert lttb_indices(x, y, 2) == list(range(10))
    assert lttb_indices(x[:0], y[:0], 5) == []


@pytest.mark.parametrize(("n", "k"), [(5000, 400), (5000, 3), (1000, 999), (7, 4), (401, 400)])
def test_count_ends_and_order(n: int, k: int) -> None:
    x, y = _curve(n)
    kept = lttb_indices(x, y, k)
    assert len(kept) == k
    assert kept[0] == 0 and kept[-1] == n - 1
    assert kept == sorted(set(kept))  # strictly increasing: no point twice


def test_a_spike_survives_where_a_stride_loses_it() -> None:
    x, y = _curve(5000)
    y[2501] = 9.0  # a loss blow-up for one val point
    assert 2501 in lttb_indices(x, y, 50)
    assert 2501 not in range(0, 5000, 100)


def test_units_do_not_change_the_choice() -> None:
    x, y = _curve(3000)
    assert lttb_indices(x, y, 200) == lttb_indices(x * 4096 + 7, y * 1000 - 3, 200)

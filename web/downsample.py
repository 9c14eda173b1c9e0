"""Thinning a curve to what a chart can show: Largest-Triangle-Three-Buckets.

A loss curve logged every step has thousands of points, a chart a few hundred pixels; drawing
them all only makes the page heavy. LTTB keeps the first and last points and, from each of
`n_out - 2` equal buckets in between, the point that makes the largest triangle with the
point kept before it and the average of the next bucket: peaks, dips and the curve's shape
survive, which a stride (every k-th point) would lose.

Technique: Sveinn Steinarsson, "Downsampling Time Series for Visual Representation" (MSc
thesis, University of Iceland, 2013), https://skemman.is/handle/1946/15343. Scaling x or y
multiplies every triangle's area by the same factor, so thinning in data units picks the
same points as thinning in pixels on a linear axis.
"""

from __future__ import annotations

import numpy as np


def lttb_indices(x: np.ndarray, y: np.ndarray, n_out: int) -> list[int]:
    """The indices LTTB keeps of the curve (x[i], y[i]), x ascending: at most `n_out`, the
    first and the last always among them; all of them when there are no more than `n_out`
    (or `n_out` < 3)."""
    n = len(x)
    if n_out >= n or n_out < 3:
        return list(range(n))
    # The inner points 1..n-2 in n_out - 2 buckets: bucket b is [edges[b], edges[b + 1]).
    edges = (np.arange(n_out - 1) * ((n - 2) / (n_out - 2))).astype(np.int64) + 1
    edges[-1] = n - 1
    # Each bucket's "next": the following bucket's mean, the last point for the last one.
    lo, hi = edges[1:], np.append(edges[2:], n)
    cx, cy = np.concatenate(([0.0], np.cumsum(x))), np.concatenate(([0.0], np.cumsum(y)))
    next_x, next_y = (cx[hi] - cx[lo]) / (hi - lo), (cy[hi] - cy[lo]) / (hi - lo)
    kept = [0]
    for b in range(n_out - 2):
        ax, ay = x[kept[-1]], y[kept[-1]]
        bx, by = x[edges[b] : edges[b + 1]], y[edges[b] : edges[b + 1]]
        # twice the triangle's area; the factor does not change which point wins
        area = np.abs((ax - next_x[b]) * (by - ay) - (ax - bx) * (next_y[b] - ay))
        kept.append(int(edges[b] + np.argmax(area)))
    kept.append(n - 1)
    return kept

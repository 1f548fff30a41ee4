"""Interval estimates for the fractions and means that studies report."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["wilson", "mean_sem"]


def wilson(k, n, z=1.96):
    """Wilson score interval (low, high) for k successes in n trials (z = 1.96: 95 %); it
    holds k/n also after rounding (at k = n the bound is 1 exactly)."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)))


def mean_sem(values):
    """(mean, standard error of the mean) of the finite values; SE 0 for a single value."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    sem = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return float(v.mean()), sem

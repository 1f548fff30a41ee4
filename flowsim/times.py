"""Saved times: log-spaced, as the flows relax on every scale from t ~ 1e-3 to t_max."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["log_times"]


def log_times(t_max: float, per_decade: int = 10, decades: int = 6) -> np.ndarray:
    """Saved times: 0, then `per_decade` log-spaced points per decade up to t_max."""
    n = per_decade * decades + 1
    times = np.logspace(math.log10(t_max) - decades, math.log10(t_max), n)
    times[-1] = t_max
    return np.concatenate([[0.0], times])

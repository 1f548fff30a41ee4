"""numpy softmax and logsumexp over an axis, shifted by the maximum (the one numpy copy;
the numba kernels' scalar versions are flowsim.numerics.special.softmax / logsumexp)."""
from __future__ import annotations

import numpy as np

__all__ = ["softmax", "logsumexp"]


def softmax(a, axis=-1):
    """exp(a - max a) / sum exp(a - max a) along `axis`."""
    a = np.asarray(a, dtype=float)
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(a, axis=-1):
    """log sum exp(a) along `axis`, shifted by the maximum."""
    a = np.asarray(a, dtype=float)
    amax = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(amax, axis) + np.log(np.sum(np.exp(a - amax), axis=axis))

"""Input checks that raise ValueError naming the offending field (docs/design.md, the public contract)."""
from __future__ import annotations

import reprlib

import numpy as np

MAX_ARRAY_BYTES = 2 ** 30


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 2 ** 30:.3g} GB"


def check_size(name: str, n_items, what: str, itemsize: int = 8, limit: int = MAX_ARRAY_BYTES) -> None:
    """ValueError naming `name` when an array of `n_items` items would exceed `limit` bytes."""
    need = float(n_items) * itemsize
    if need > limit:
        raise ValueError(f"{name}: {what} would take {_gb(need)} ({n_items:.4g} values); "
                         f"the limit is {_gb(limit)}")


def short(value) -> str:
    """A repr of at most ~80 characters (arrays elided), for error messages."""
    return reprlib.repr(value)


def as_finite_array(name: str, value, ndim: int | None = None) -> np.ndarray:
    """float64 array of `value`; ValueError if not numbers (strings, booleans and None are
    not converted), not finite, or of the wrong rank."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected numbers, got {short(value)}") from None
    if raw.dtype.kind not in "iuf":
        raise ValueError(f"{name}: expected numbers, got {short(value)}")
    arr = np.array(raw, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite, got {short(value)}")
    return arr


def check_positive(name: str, value) -> float:
    """A finite scalar > 0."""
    arr = as_finite_array(name, value)
    if arr.ndim != 0 or arr <= 0:
        raise ValueError(f"{name}: must be a positive number, got {short(value)}")
    return float(arr)


def check_positive_array(name: str, value, ndim: int | None = None) -> np.ndarray:
    """A finite array with every entry > 0."""
    arr = as_finite_array(name, value, ndim)
    if np.any(arr <= 0):
        raise ValueError(f"{name}: every entry must be > 0, got {short(value)}")
    return arr


def check_simplex(name: str, value, size: int, tol: float = 1e-9) -> np.ndarray:
    """Weights of length `size`, each in (0, 1], summing to 1 within `tol`."""
    arr = as_finite_array(name, value, 1)
    if arr.shape != (size,):
        raise ValueError(f"{name}: expected {size} weights, got {arr.shape[0]}")
    if np.any(arr <= 0) or abs(arr.sum() - 1.0) > tol:
        raise ValueError(f"{name}: must be positive and sum to 1 (off the simplex), got {short(value)}")
    return arr


def check_times(name: str, value, t_max: float) -> np.ndarray:
    """Sorted, non-negative saved times not beyond t_max."""
    arr = as_finite_array(name, value, 1)
    if arr.size == 0 or np.any(arr < 0) or np.any(np.diff(arr) < 0) or arr[-1] > t_max:
        raise ValueError(f"{name}: must be sorted, non-negative and <= t_max, got {short(value)}")
    return arr


def check_choice(name: str, value, choices) -> str:
    """One of `choices`."""
    if value not in choices:
        raise ValueError(f"{name}: must be one of {tuple(choices)}, got {short(value)}")
    return value


def check_integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (not a bool, not a float) within [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {short(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value}")
    return value


def check_options(options, known, owner: str) -> None:
    """ValueError naming the first option not in `known`, listing the known ones."""
    for name in options:
        if name not in known:
            raise ValueError(f"{name}: unknown option for {owner} (known: {', '.join(known)})")


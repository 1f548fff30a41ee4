"""Radau IIA's LU factorisation: by blocks against column by column, and LAPACK for scale.

For each size n, the seconds of one factorisation of a random matrix (best of a few):
flowsim's `lu_factor` (blocks of LU_BLOCK columns), the same code column by column
(`factor_by_blocks` with block = n), and scipy's `lu_factor` (LAPACK getrf, with as many
threads as the BLAS library takes), with whether the first two give the same factors bit
for bit. n = 777 and 1554 are the Radau systems of the Adam flow's state at d = 128
(real and complex form).
"""
from __future__ import annotations

import time

import numpy as np

SIZES = (64, 200, 777, 1554)
QUICK_SIZES = (64, 200)


def _best(factor, a, repeats):
    best = float("inf")
    for _ in range(repeats):
        work = a.copy()
        t0 = time.perf_counter()
        factor(work)
        best = min(best, time.perf_counter() - t0)
    return best, work


def run(quick=False) -> list:
    """[{n, block, blocked_s, column_s, lapack_s, speedup, identical}]."""
    import scipy.linalg

    from ..integrate.radau import LU_BLOCK, factor_by_blocks, lu_factor

    rows = []
    for n in QUICK_SIZES if quick else SIZES:
        a = np.random.default_rng(n).standard_normal((n, n))
        piv_b, piv_c = np.empty(n, np.int64), np.empty(n, np.int64)
        repeats = 3 if n < 1000 else 2
        lu_factor(a[:2, :2].copy(), piv_b[:2])
        factor_by_blocks(a[:2, :2].copy(), piv_c[:2], 2)
        blocked_s, blocked = _best(lambda w: lu_factor(w, piv_b), a, repeats)
        column_s, column = _best(lambda w: factor_by_blocks(w, piv_c, n), a, repeats)
        lapack_s, _ = _best(lambda w: scipy.linalg.lu_factor(w, overwrite_a=True), a, repeats)
        rows.append({"n": n, "block": LU_BLOCK, "blocked_s": blocked_s, "column_s": column_s,
                     "lapack_s": lapack_s, "speedup": column_s / blocked_s,
                     "identical": bool(np.array_equal(blocked, column)
                                       and np.array_equal(piv_b, piv_c))})
    return rows

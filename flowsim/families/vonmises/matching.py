"""Exact minimum-cost matching by enumerating permutations (numba, for sizes ≤ 6).

The point-cloud study matches predicted to target components with the Hungarian
algorithm (scipy.optimize.linear_sum_assignment). For K, M ≤ 6 enumerating the
max(K, M)! permutations in lexicographic order is exact, allocation-light and runs
inside an @njit right-hand side; with strict comparisons the first minimiser in
lexicographic order wins. On a rectangular cost matrix (n_rows ≠ n_cols) every
row of the smaller side is matched, as linear_sum_assignment does.
"""
from __future__ import annotations

import numpy as np
from ...numerics.jit import kernel

MAX_ENUMERATED = 6


@kernel
def next_permutation(perm) -> bool:
    """Advance `perm` to the next lexicographic permutation in place; False after the last."""
    n = perm.size
    i = n - 2
    while i >= 0 and perm[i] >= perm[i + 1]:
        i -= 1
    if i < 0:
        return False
    j = n - 1
    while perm[j] <= perm[i]:
        j -= 1
    perm[i], perm[j] = perm[j], perm[i]
    lo, hi = i + 1, n - 1
    while lo < hi:
        perm[lo], perm[hi] = perm[hi], perm[lo]
        lo += 1
        hi -= 1
    return True


@kernel
def min_cost_assignment(cost, row_to_col) -> float:
    """Fill row_to_col[i] with the column matched to row i (−1 if unmatched); return the total.

    Minimises Σ_i cost[i, row_to_col[i]] over injective matchings of the smaller side.
    """
    n_rows, n_cols = cost.shape
    n = max(n_rows, n_cols)
    perm = np.arange(n)
    best = np.inf
    for i in range(n_rows):
        row_to_col[i] = -1
    while True:
        total = 0.0
        if n_rows <= n_cols:
            for i in range(n_rows):
                total += cost[i, perm[i]]
        else:
            for j in range(n_cols):
                total += cost[perm[j], j]
        if total < best:
            best = total
            for i in range(n_rows):
                row_to_col[i] = -1
            if n_rows <= n_cols:
                for i in range(n_rows):
                    row_to_col[i] = perm[i]
            else:
                for j in range(n_cols):
                    row_to_col[perm[j]] = j
        if not next_permutation(perm):
            break
    return best


def assignment(cost: np.ndarray) -> np.ndarray:
    """Python wrapper: row → column (−1 unmatched) for a float cost matrix."""
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    out = np.empty(cost.shape[0], dtype=np.int64)
    min_cost_assignment(cost, out)
    return out

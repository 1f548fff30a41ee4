"""Test problems for the integrators: module-level numba kernels (so the solvers
built over them are disk-cached) with exact solutions where one exists.

    linear_rhs     y' = A y,  A = p.reshape(n, n) (row-major); exact y(t) = expm(tA) y0
    pendulum_rhs   θ' = ω,  ω' = −γ ω − g sin θ,   p = (γ, g)        (damped pendulum)
    logistic_rhs   y' = r y (1 − y / K),            p = (r, K)        (per component);
                   exact y(t) = K y0 / (y0 + (K − y0) e^(−r t))
    replicator_rhs x_i' = x_i (a_i − Σ_j a_j x_j),  p = a  (fitness; the simplex is invariant)
    blowup_rhs     y' = y²  (from y0 = 1: y = 1/(1 − t), blows up at t = 1)
"""
from __future__ import annotations

import numba
import numpy as np

from .reference import as_callable  # noqa: F401  (re-export for tests)


@numba.njit(cache=True)
def linear_rhs(t, y, p, out):
    n = y.shape[0]
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += p[i * n + j] * y[j]
        out[i] = acc


@numba.njit(cache=True)
def pendulum_rhs(t, y, p, out):
    out[0] = y[1]
    out[1] = -p[0] * y[1] - p[1] * np.sin(y[0])


@numba.njit(cache=True)
def logistic_rhs(t, y, p, out):
    for i in range(y.shape[0]):
        out[i] = p[0] * y[i] * (1.0 - y[i] / p[1])


@numba.njit(cache=True)
def replicator_rhs(t, y, p, out):
    mean = 0.0
    for j in range(y.shape[0]):
        mean += p[j] * y[j]
    for i in range(y.shape[0]):
        out[i] = y[i] * (p[i] - mean)


@numba.njit(cache=True)
def blowup_rhs(t, y, p, out):
    for i in range(y.shape[0]):
        out[i] = y[i] * y[i]


def linear_exact(A, y0, t_eval):
    """exp(tA) y0 at every t in t_eval, shape (T, n)."""
    from scipy.linalg import expm

    A = np.asarray(A, dtype=np.float64)
    return np.array([expm(t * A) @ y0 for t in np.asarray(t_eval, dtype=np.float64)])


def logistic_exact(r, K, y0, t_eval):
    """The logistic solution K y0 / (y0 + (K − y0) e^(−r t)), shape (T, n)."""
    t = np.asarray(t_eval, dtype=np.float64)[:, None]
    y0 = np.asarray(y0, dtype=np.float64)[None, :]
    return K * y0 / (y0 + (K - y0) * np.exp(-r * t))

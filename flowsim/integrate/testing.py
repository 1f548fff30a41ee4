"""Test problems for the integrators, all from ONE module-level numba kernel (so the
tests compile one solver, which numba caches on disk):

    quadratic_rhs   y_i' = Σ_j A_ij y_j + Σ_jk Q_ijk y_j y_k,
                    p = concat(A.ravel(), Q.ravel()),  A (n, n), Q (n, n, n)

Instances (each `*_params` returns p):

    linear          Q = 0:  y' = A y;  exact y(t) = expm(tA) y0          (linear_exact)
    logistic        n = 1:  y' = r y (1 − y/K);
                    exact y(t) = K y0 / (y0 + (K − y0) e^(−r t))         (logistic_exact)
    blowup          n = 1:  y' = y²;  from y0 = 1, y = 1/(1 − t) blows up at t = 1
    lotka_volterra  n = 2:  x' = x (α − β y − ε x),  y' = y (−γ + δ x − ζ y)
                    (competitive/predator–prey with self-limitation: a damped
                    oscillation into a coexistence fixed point)
"""
from __future__ import annotations

import numpy as np
from ..numerics.jit import kernel


@kernel
def quadratic_rhs(t, y, p, out):
    n = y.shape[0]
    nn = n * n
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += p[i * n + j] * y[j]
            row = nn + (i * n + j) * n
            for k in range(n):
                acc += p[row + k] * y[j] * y[k]
        out[i] = acc


def quadratic_params(A, Q=None):
    """Pack A (n, n) and Q (n, n, n) (default 0) into p for quadratic_rhs."""
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    Q = np.zeros((n, n, n)) if Q is None else np.asarray(Q, dtype=np.float64)
    return np.concatenate([A.ravel(), Q.ravel()])


def linear_params(A):
    return quadratic_params(A)


def logistic_params(r, K):
    return quadratic_params([[r]], [[[-r / K]]])


def blowup_params():
    return quadratic_params([[0.0]], [[[1.0]]])


def lotka_volterra_params(alpha, beta, gamma, delta, eps=0.0, zeta=0.0):
    A = [[alpha, 0.0], [0.0, -gamma]]
    Q = np.zeros((2, 2, 2))
    Q[0, 0, 1] = -beta
    Q[0, 0, 0] = -eps
    Q[1, 1, 0] = delta
    Q[1, 1, 1] = -zeta
    return quadratic_params(A, Q)


def linear_exact(A, y0, t_eval):
    """exp(tA) y0 at every t in t_eval, shape (T, n)."""
    from scipy.linalg import expm

    A = np.asarray(A, dtype=np.float64)
    return np.array([expm(t * A) @ y0 for t in np.asarray(t_eval, dtype=np.float64)])


def logistic_exact(r, K, y0, t_eval):
    """K y0 / (y0 + (K − y0) e^(−r t)), shape (T, 1)."""
    t = np.asarray(t_eval, dtype=np.float64)[:, None]
    return K * y0 / (y0 + (K - y0) * np.exp(-r * t))

"""numpy reference right-hand sides of the circle objectives: what a user would write without numba.

Each function `f(t, y, p) -> dy/dt` reads the same packed parameter vector as the
objective's numba kernel (layout flowsim.families.vonmises.params) and is written from
the formulas of docs/derivations.md (M1-M3, K1-K2), not by calling any kernel:
vectorised over quadrature nodes and components, scipy for the Bessel functions (i0e,
i1e) and for the matching (linear_sum_assignment). They serve twice: as the RHS that
scipy's solve_ivp calls in the benchmark, and as an independent cross-check of the
kernels (tests/test_objectives.py: equal to 1e-10).

Symbols: w = softmax(z), κ = e^s, A = I1/I0, A' = 1 − A/κ − A².
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import i0e, i1e

LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------- helpers

def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _A(kappa):
    return i1e(kappa) / i0e(kappa)


def _A_prime(kappa):
    a = _A(kappa)
    return 1.0 - a / kappa - a * a


def _log_i0(kappa):
    return np.log(i0e(kappa)) + kappa


def vm_kl(mu_p, kappa_p, mu_q, kappa_q):
    """KL(VM(μ_p, κ_p) ‖ VM(μ_q, κ_q)) = log I0(κ_q) − log I0(κ_p) + A(κ_p)(κ_p − κ_q cos Δ)."""
    return (_log_i0(kappa_q) - _log_i0(kappa_p)
            + _A(kappa_p) * (kappa_p - kappa_q * np.cos(mu_p - mu_q)))


def _circle_layout(p):
    K, M, trainable, lam, N = int(p[0]), int(p[1]), p[2] > 0.5, p[3], int(p[4])
    o = 5
    log_rho, mu_t, kappa_t = p[o:o + M], p[o + M:o + 2 * M], p[o + 2 * M:o + 3 * M]
    o += 3 * M
    cos_t, sin_t, log_p = p[o:o + N], p[o + N:o + 2 * N], p[o + 2 * N:o + 3 * N]
    return K, M, trainable, lam, N, log_rho, mu_t, kappa_t, cos_t, sin_t, log_p


def _regularizer_rate(w, lam):
    """−∂/∂z of λ Σ (w_k − 1/K)²."""
    dev = w - 1.0 / w.size
    return -2.0 * lam * w * (dev - np.dot(w, dev))


# ------------------------------------------------------------ circle: matched

def _matched(y, p, variant):
    K, M, trainable, lam, _, log_rho, mu_t, kappa_t, *_ = _circle_layout(p)
    z, mu, kap = y[:K], y[K:2 * K], np.exp(y[2 * K:3 * K])
    w = _softmax(z)
    out = np.zeros(3 * K)
    rho = np.exp(log_rho)
    if variant == "reversed":
        R = vm_kl(mu_t[:, None], kappa_t[:, None], mu[None, :], kap[None, :])     # (M, K)
        rows, cols = linear_sum_assignment(R)
        c = rho[rows] / rho[rows].sum()
        delta = mu_t[rows] - mu[cols]
        A_t = _A(kappa_t[rows])
        out[K + cols] = -c * (-A_t * kap[cols] * np.sin(delta))
        out[2 * K + cols] = -c * kap[cols] * (_A(kap[cols]) - A_t * np.cos(delta))
    else:
        C = vm_kl(mu[:, None], kap[:, None], mu_t[None, :], kappa_t[None, :])      # (K, M)
        rows, cols = linear_sum_assignment(C)
        per = C[rows, cols]
        if variant == "bound":
            per = per + np.log(w[rows]) - log_rho[cols]
            c = w[rows]
        else:
            c = w[rows] / w[rows].sum()
        value = np.dot(c, per)
        delta = mu[rows] - mu_t[cols]
        kr = kap[rows]
        out[K + rows] = -c * _A(kr) * kappa_t[cols] * np.sin(delta)
        out[2 * K + rows] = -c * kr * _A_prime(kr) * (kr - kappa_t[cols] * np.cos(delta))
        if trainable:
            out[rows] = -c * (per - value)
    if trainable and lam != 0.0:
        out[:K] += _regularizer_rate(w, lam)
    return out


def matched(t, y, p):
    """matched: L = Σ_S w_k C_kσ(k) / Σ_S w_k [+ λ Σ (w_k − 1/K)²]."""
    return _matched(y, p, "matched")


def matched_reversed(t, y, p):
    """matched_reversed: L = Σ_S ρ_j R_jτ(j) / Σ_S ρ_j, R_jk = KL(p_j ‖ q_k)."""
    return _matched(y, p, "reversed")


def matched_bound(t, y, p):
    """matched_bound: L = Σ_k w_k [log(w_k/ρ_σ(k)) + C_kσ(k)]."""
    return _matched(y, p, "bound")


# ------------------------------------------------------- circle: mixture KLs

def _mixture_kl(y, p, forward):
    K, M, trainable, lam, N, _, _, _, cos_t, sin_t, log_p = _circle_layout(p)
    z, mu, kap = y[:K], y[K:2 * K], np.exp(y[2 * K:3 * K])
    log_w = z - (z.max() + np.log(np.sum(np.exp(z - z.max()))))
    w = np.exp(log_w)
    h = 2.0 * np.pi / N
    c = np.outer(cos_t, np.cos(mu)) + np.outer(sin_t, np.sin(mu))       # cos(θ_n − μ_k)  (N, K)
    sn = np.outer(sin_t, np.cos(mu)) - np.outer(cos_t, np.sin(mu))      # sin(θ_n − μ_k)
    a = log_w - LOG_2PI - kap - np.log(i0e(kap)) + kap * c              # a_kn
    amax = a.max(axis=1, keepdims=True)
    log_q = amax[:, 0] + np.log(np.sum(np.exp(a - amax), axis=1))
    da_mu = kap * sn
    da_s = kap * (c - _A(kap))
    out = np.empty(3 * K)
    if forward:
        g = h * np.exp(log_p)                                           # h p_n
        r = np.exp(a - log_q[:, None])
        gr = g[:, None] * r
        out[K:2 * K] = np.sum(gr * da_mu, axis=0)
        out[2 * K:] = np.sum(gr * da_s, axis=0)
        out[:K] = (gr.sum(axis=0) - g.sum() * w) if trainable else 0.0
    else:
        q = np.exp(log_q)
        g = h * (log_q - log_p + 1.0)
        gq = g[:, None] * np.exp(a)                                     # g_n ∂q_n/∂a_kn
        out[K:2 * K] = -np.sum(gq * da_mu, axis=0)
        out[2 * K:] = -np.sum(gq * da_s, axis=0)
        out[:K] = -(gq.sum(axis=0) - w * np.dot(g, q)) if trainable else 0.0
    return out


def reverse_kl(t, y, p):
    """reverse_kl: L = h Σ_n q_n (log q_n − log p_n)."""
    return _mixture_kl(y, p, forward=False)


def forward_kl(t, y, p):
    """forward_kl: L = h Σ_n p_n (log p_n − log q_n)."""
    return _mixture_kl(y, p, forward=True)

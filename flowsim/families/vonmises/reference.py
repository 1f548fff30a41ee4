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
from scipy.special import i0e, i1e

LOG_2PI = math.log(2.0 * math.pi)


# ----------------------------------------------------------------------- helpers

def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def _linear_sum_assignment(cost):
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(cost)


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
        rows, cols = _linear_sum_assignment(R)
        c = rho[rows] / rho[rows].sum()
        delta = mu_t[rows] - mu[cols]
        A_t = _A(kappa_t[rows])
        out[K + cols] = -c * (-A_t * kap[cols] * np.sin(delta))
        out[2 * K + cols] = -c * kap[cols] * (_A(kap[cols]) - A_t * np.cos(delta))
    else:
        C = vm_kl(mu[:, None], kap[:, None], mu_t[None, :], kappa_t[None, :])      # (K, M)
        rows, cols = _linear_sum_assignment(C)
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


# ------------------------------------------------- circle: f-divergences (FD1-FD4)
#
# L = h Σ_n q_n f(p_n/q_n), ∂L/∂φ = h Σ_n c_n ∂ log q_n/∂φ with c_n = q_n g(u_n),
# g = f − u f′. Each named generator is written here as its perspective q f(p/q) and
# q g(p/q) in closed form in ℓ = log p − log q (no u is formed), not from the kernels.

def _log_mixture(y, p):
    """(K, trainable, a, h, w, κ, log q (N), responsibilities r (N, K), ∂a/∂μ, ∂a/∂s (N, K),
    log p (N)) of a circle state."""
    K, M, trainable, a, N, _, _, _, cos_t, sin_t, log_p = _circle_layout(p)
    z, mu, kap = y[:K], y[K:2 * K], np.exp(y[2 * K:3 * K])
    log_w = z - (z.max() + np.log(np.sum(np.exp(z - z.max()))))
    c = np.outer(cos_t, np.cos(mu)) + np.outer(sin_t, np.sin(mu))
    sn = np.outer(sin_t, np.cos(mu)) - np.outer(cos_t, np.sin(mu))
    lc = log_w - LOG_2PI - kap - np.log(i0e(kap)) + kap * c
    amax = lc.max(axis=1, keepdims=True)
    log_q = amax[:, 0] + np.log(np.sum(np.exp(lc - amax), axis=1))
    r = np.exp(lc - log_q[:, None])
    return (K, trainable, a, 2.0 * np.pi / N, np.exp(log_w), kap, log_q, r, kap * sn,
            kap * (c - _A(kap)), log_p)


def _gradient_from_weights(cw, K, trainable, h, w, r, da_mu, da_s):
    """dy/dt = −h Σ_n c_n Σ_k r_kn ∂a_kn/∂y, c_n = q_n g(u_n) (FD1)."""
    cr = (h * cw)[:, None] * r
    out = np.empty(3 * K)
    out[K:2 * K] = -np.sum(cr * da_mu, axis=0)
    out[2 * K:] = -np.sum(cr * da_s, axis=0)
    out[:K] = -(cr.sum(axis=0) - w * h * cw.sum()) if trainable else 0.0
    return out


def _softplus(x):
    return np.logaddexp(0.0, x)


def _fdiv(y, p, weight):
    K, trainable, a, h, w, kap, log_q, r, da_mu, da_s, log_p = _log_mixture(y, p)
    return _gradient_from_weights(weight(log_p, log_q, a), K, trainable, h, w, r, da_mu, da_s)


def js(t, y, p):
    """js: L = h Σ [p log(p/(p+q)) + q log(q/(p+q))] = 2 JS − 2 log 2; q g = −q log(1 + p/q)."""
    return _fdiv(y, p, lambda lp, lq, a: -np.exp(lq) * _softplus(lp - lq))


def nonsaturating(t, y, p):
    """nonsaturating: L = h Σ (p + q) log((p + q)/(2p)) = KL(q‖p) − 2 JS;
    q g = q (−log D + 1 − log 2), −log D = log(1 + q/p)."""
    return _fdiv(y, p, lambda lp, lq, a: np.exp(lq) * (_softplus(lq - lp) + 1.0 - np.log(2.0)))


def chi2(t, y, p):
    """chi2: L = h Σ (p² /q − 2p + q); q g = q − p²/q."""
    return _fdiv(y, p, lambda lp, lq, a: np.exp(lq) - np.exp(2.0 * lp - lq))


def hellinger(t, y, p):
    """hellinger: L = h Σ ½ (√p − √q)²; q g = ½ (q − √(pq))."""
    return _fdiv(y, p, lambda lp, lq, a: 0.5 * (np.exp(lq) - np.exp(0.5 * (lp + lq))))


def alpha(t, y, p):
    """alpha (a = p[3]): L = h Σ (p^a q^(1−a) − q − a (p − q))/(a (a − 1));
    q g = −q (u^a − 1)/a = −q expm1(a ℓ)/a."""
    return _fdiv(y, p, lambda lp, lq, a: -np.exp(lq) * np.expm1(a * (lp - lq)) / a)


def fdivergence_generic(f, fprime):
    """A reference for any generator, from its scalar Python f(u, a) and f′(u, a):
    c_n = q_n (f(u_n) − u_n f′(u_n)) with u_n = exp(ℓ_n) (no log-space care)."""
    fv = np.vectorize(f, otypes=[float])
    fpv = np.vectorize(fprime, otypes=[float])

    def rhs(t, y, p):
        def weight(lp, lq, a):
            u = np.exp(lp - lq)
            return np.exp(lq) * (fv(u, a) - u * fpv(u, a))
        return _fdiv(y, p, weight)
    return rhs


# ------------------------------------------------- circle: Wasserstein-1 (W1, W2)

def _w1_median(D):
    """The level c* where the length of {D_lin > c} is half the circle, D_lin the periodic
    piecewise-linear interpolant of D (bisection over the distinct node levels, then linear
    interpolation; a plateau holding the middle gives its level)."""
    a, b = D, np.roll(D, -1)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    span = np.where(hi > lo, hi - lo, 1.0)

    def above(c, left=False):
        c = np.atleast_1d(c)[:, None]
        frac = np.where(hi > lo, np.clip((hi - c) / span, 0.0, 1.0),
                        (c <= lo) if left else (c < lo))
        return frac.sum(axis=1)

    levels = np.unique(D)
    half = 0.5 * D.size
    # first level whose length above is <= half (bisection; `above` is non-increasing)
    lo_i, hi_i = -1, levels.size - 1
    while hi_i - lo_i > 1:
        mid = (lo_i + hi_i) // 2
        if above(levels[mid])[0] <= half:
            hi_i = mid
        else:
            lo_i = mid
    i = hi_i
    if i == 0:
        return levels[0]
    fa, fb = above(levels[i - 1])[0], above(levels[i], left=True)[0]
    if fb > half:
        return levels[i]
    return levels[i - 1] + (fa - half) / (fa - fb) * (levels[i] - levels[i - 1])


def wasserstein1(t, y, p):
    """wasserstein1: D = h cumsum(p − q), D_lin its periodic linear interpolant, c* its median,
    L = ∫ |D_lin − c*|; σ_n = ∂L/∂D_n at c* fixed (hat functions against sign(D_lin − c*),
    by the crossing point of each segment), T_m = Σ_{n ≥ m} σ_n, ∂L/∂φ = −h Σ_m T_m ∂q_m/∂φ."""
    K, M, trainable, _, N, _, _, _, cos_t, sin_t, log_p = _circle_layout(p)
    z, mu, kap = y[:K], y[K:2 * K], np.exp(y[2 * K:3 * K])
    w = _softmax(z)
    h = 2.0 * np.pi / N
    c = np.outer(cos_t, np.cos(mu)) + np.outer(sin_t, np.sin(mu))
    sn = np.outer(sin_t, np.cos(mu)) - np.outer(cos_t, np.sin(mu))
    qk = w * np.exp(kap * (c - 1.0)) / (2.0 * np.pi * i0e(kap))              # (N, K)
    q = qk.sum(axis=1)
    D = h * np.cumsum(np.exp(log_p) - q)
    cstar = _w1_median(D)
    a, b = D - cstar, np.roll(D, -1) - cstar
    # hat-function integrals of sign(D_lin − c*) over each segment, to its left and right node
    cross = a * b < 0
    x0 = np.where(cross, h * a / np.where(cross, a - b, 1.0), 0.0)
    sg = np.sign(a + b)
    left = np.where(cross, np.sign(a) * (2 * x0 - x0 ** 2 / h - h / 2), sg * h / 2)
    right = np.where(cross, np.sign(a) * (x0 ** 2 / h - h / 2), sg * h / 2)
    flat = (a == 0) & (b == 0)
    if flat.any():
        share = -(left + right)[~flat].sum() / (h * flat.sum())
        left[flat] = right[flat] = share * h / 2
    sigma = left + np.roll(right, 1)
    T = np.cumsum(sigma[::-1])[::-1]
    out = np.empty(3 * K)
    out[K:2 * K] = h * np.sum(T[:, None] * qk * kap * sn, axis=0)
    out[2 * K:] = h * np.sum(T[:, None] * qk * kap * (c - _A(kap)), axis=0)
    out[:K] = h * (np.sum(T[:, None] * qk, axis=0) - w * np.dot(T, q)) if trainable else 0.0
    return out

"""numpy-vectorised reference right-hand sides: what a user would write without numba.

Each function `f(t, y, p) -> dy/dt` reads the same packed parameter vector as the
model's numba kernel and is written from the formulas in that model's docstring,
not by calling any kernel: vectorised over quadrature nodes and components, scipy
for the Bessel functions (i0e, i1e) and for the matching (linear_sum_assignment).
They serve twice: as the RHS that scipy's solve_ivp calls in the benchmark, and as an
independent cross-check of the kernels (tests/test_bench.py: equal to 1e-10).

    circle (flowsim.models.circle_matched, circle_mixture_kl; layout circle_params)
        matched, matched_reversed, matched_bound   closed-form von Mises KLs + matching
        reverse_kl, forward_kl                     periodic trapezoid rule, (N, K) arrays
    gaussian (flowsim.models.gaussian_two_mode)
        two_mode (reverse or forward by p[OBJ])    overlap ODE (G1), (R1)-(R4), (F1)-(F4),
                                                   1-D expectations S, P, V vectorised
                                                   over (pairs, nodes)

Symbols as in those modules: w = softmax(z), κ = e^s, A = I1/I0, A' = 1 − A/κ − A².
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import i0e, i1e, ndtr

from ..gaussian import ALPHA_SWITCH

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


def circle_matched(t, y, p):
    """matched: L = Σ_S w_k C_kσ(k) / Σ_S w_k [+ λ Σ (w_k − 1/K)²]."""
    return _matched(y, p, "matched")


def circle_matched_reversed(t, y, p):
    """matched_reversed: L = Σ_S ρ_j R_jτ(j) / Σ_S ρ_j, R_jk = KL(p_j ‖ q_k)."""
    return _matched(y, p, "reversed")


def circle_matched_bound(t, y, p):
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


def circle_reverse_kl(t, y, p):
    """reverse_kl: L = h Σ_n q_n (log q_n − log p_n)."""
    return _mixture_kl(y, p, forward=False)


def circle_forward_kl(t, y, p):
    """forward_kl: L = h Σ_n p_n (log p_n − log q_n)."""
    return _mixture_kl(y, p, forward=True)


# --------------------------------------------- gaussian: 1-D expectations


def _quad_block(p, off):
    n_gh, n_t = int(p[off]), int(p[off + 1])
    o = off + 2
    return p[o:o + n_gh], p[o + n_gh:o + 2 * n_gh], p[o + 2 * n_gh:o + 2 * n_gh + n_t], \
        p[o + 2 * n_gh + n_t:o + 2 * n_gh + 2 * n_t]


def spv(beta, alpha, p, off):
    """(S, P, V) = E[sgm, softplus, sgm'](β + α ξ), ξ ~ N(0,1), for arrays β, α (n,).

    α < ALPHA_SWITCH: Gauss–Hermite in ξ; else the closed-form piecewise-linear part (Φ, φ)
    plus the remainder in t = β + α ξ on [0, T] (flowsim.gaussian.logistic_normal doc).
    Both branches are evaluated on every pair and selected (vectorised)."""
    gx, gw, tt, tw = _quad_block(p, off)
    beta = np.asarray(beta, float)
    a = np.abs(np.asarray(alpha, float))
    # Gauss–Hermite branch, (n, n_gh)
    t = beta[:, None] + a[:, None] * gx[None, :]
    e = np.exp(-np.abs(t))
    inv = 1.0 / (1.0 + e)
    S_gh = np.where(t >= 0.0, inv, e * inv) @ gw
    P_gh = (np.maximum(t, 0.0) + np.log1p(e)) @ gw
    V_gh = (e * inv * inv) @ gw
    # closed form + tail, (n, n_t)
    asafe = np.where(a >= ALPHA_SWITCH, a, 1.0)
    zz = beta / asafe
    Phi = ndtr(zz)
    phi = np.exp(-0.5 * zz * zz) / math.sqrt(2.0 * math.pi)
    c = 1.0 / (math.sqrt(2.0 * math.pi) * asafe)
    zp = (tt[None, :] - beta[:, None]) / asafe[:, None]
    zm = (tt[None, :] + beta[:, None]) / asafe[:, None]
    gp = c[:, None] * np.exp(-0.5 * zp * zp)
    gm = c[:, None] * np.exp(-0.5 * zm * zm)
    et = np.exp(-tt)
    it = 1.0 / (1.0 + et)
    S_t = Phi + (gm - gp) @ (tw * et * it)
    P_t = beta * Phi + asafe * phi + (gp + gm) @ (tw * np.log1p(et))
    V_t = (gp + gm) @ (tw * et * it * it)
    big = a >= ALPHA_SWITCH
    return np.where(big, S_t, S_gh), np.where(big, P_t, P_gh), np.where(big, V_t, V_gh)


# ------------------------------------------------------- gaussian: two mode

LAM, RHO, TAU, DIM, OBJ, TRAIN_W, TRAIN_V = range(7)
QOFF = 8


def gaussian_two_mode(t, y, p):
    """dy/dt of y = [m_1, m_2, Q_11, Q_12, Q_22, θ_1, θ_2, s] (gaussian_two_mode doc)."""
    Lam, rho, tau, d = p[LAM], p[RHO], p[TAU], p[DIM]
    m = y[0:2]
    Q = np.array([[y[2], y[3]], [y[3], y[4]]])
    th = y[5:7]
    v = math.exp(y[7])
    w = _softmax(th)
    log_w = np.log(w)
    D = max(Q[0, 0] + Q[1, 1] - 2.0 * Q[0, 1], 0.0)
    out = np.empty(8)
    if p[OBJ] == 0.0:
        # (R1): h_k, alpha_h; a_k = θ_k' − θ_k − D/(2v), alpha_a
        h = math.log((1.0 - rho) / rho) + (m - 0.5 * Lam) / tau
        ak = th[::-1] - th - 0.5 * D / v
        beta = np.concatenate([h, ak])
        alpha = np.array([math.sqrt(v * Lam) / tau] * 2 + [math.sqrt(D / v)] * 2)
        S, P, V = spv(beta, alpha, p, QOFF)
        gamma, Sa = S[:2], S[2:]
        c = 0.5 * np.dot(w, Sa)                       # w_1 E_{q_1} s_2 = w_2 E_{q_2} s_1
        a = w * gamma / tau
        B = np.array([[-w[0] / tau + c / v, -c / v], [-c / v, -w[1] / tau + c / v]])
        F = (0.5 * d * (v / tau - 1.0 - math.log(v / tau)) + np.diag(Q) / (2.0 * tau) + log_w
             + P[2:] - math.log(rho) - P[:2])                                            # (R2)
        L = np.dot(w, F)
        dth = -w * (F - L) if p[TRAIN_W] != 0.0 else np.zeros(2)                        # (R3)
        ds = -(0.5 * d * (v / tau - 1.0) + 0.5 * D / v * np.dot(w, V[2:])
               - 0.5 * v * Lam / tau ** 2 * np.dot(w, V[:2])) if p[TRAIN_V] != 0.0 else 0.0  # (R4)
    else:
        rhos = np.array([rho, 1.0 - rho])
        e = np.array([0.0, m[1] - m[0]])
        b = th[1] - th[0] + (e + 0.5 * (Q[0, 0] - Q[1, 1])) / v                           # (F1)
        S, _, V = spv(b, np.full(2, math.sqrt(tau * D) / v), p, QOFF)
        Es = np.stack([1.0 - S, S])                    # Es[k, j] = E_{p_j} s_k
        rep = tau / v * np.dot(rhos, V)
        Ep = Es @ rhos                                  # E_p s_k
        a = rhos[1] * Es[:, 1] / v                      # (F2) in u = ν − μ_1
        B = (np.diag(-Ep) + rep * np.array([[1.0, -1.0], [-1.0, 1.0]])) / v
        dth = Ep - w if p[TRAIN_W] != 0.0 else np.zeros(2)                               # (F3)
        if p[TRAIN_V] != 0.0:                                                             # (F4)
            dist = np.stack([np.diag(Q), Lam - 2.0 * m + np.diag(Q)])   # |μ_j − ν_k|², (j, k)
            acc = np.dot(rhos, np.sum(Es.T * dist, axis=1) - 2.0 * tau / v * D * V + tau * d)
            ds = -0.5 * d + 0.5 * acc / v
        else:
            ds = 0.0
    # (G1): du_k = a_k Δ + Σ_l B_kl u_l
    out[0:2] = a * Lam + B @ m
    G = np.outer(a, m) + B @ Q
    dQ = G + G.T
    out[2], out[3], out[4] = dQ[0, 0], dQ[0, 1], dQ[1, 1]
    out[5:7] = dth
    out[7] = ds
    return out


# ------------------------------------------------------------------ registry

CIRCLE = {
    "matched": circle_matched,
    "matched_reversed": circle_matched_reversed,
    "matched_bound": circle_matched_bound,
    "reverse_kl": circle_reverse_kl,
    "forward_kl": circle_forward_kl,
}


def numpy_rhs_for(problem):
    """The numpy reference f(t, y, p) for a built Problem (None when there is none)."""
    meta = problem.meta
    if meta.get("family") == "vonmises":
        return CIRCLE.get(meta["objective"])
    if meta.get("family") == "gaussian" and meta.get("reduction") == "two_mode":
        return gaussian_two_mode
    return None


__all__ = ["CIRCLE", "gaussian_two_mode", "numpy_rhs_for", "spv", "vm_kl"]

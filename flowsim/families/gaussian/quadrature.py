"""Isotropic Gaussian mixtures in R^d and the 1-D Gaussian expectations of their flows.

A `GaussianMixture` is  sum_k w_k N(x; nu_k, var I_d)  (one variance shared by all
components). It is both the target p (rho_j, mu_j, sigma*^2) and the variational family
q (w_k, nu_k, sigma^2) of the Gaussian flows in flowsim.families.gaussian; the exact
reduction of those flows to overlaps is derived in docs of flowsim.families.gaussian.two_mode
(docs/derivations.md, Q1).

Every expectation the reduced flows need is of the form E_xi f(beta + alpha xi),
xi ~ N(0, 1), with f the logistic function, its derivative or the softplus
(`logistic_normal`). Naive Gauss–Hermite fails when alpha is large (a near-step in xi:
separations up to Lambda = 1e4 give alpha = 100), so for alpha >= ALPHA_SWITCH the
piecewise-linear part of f is integrated in closed form (Phi, phi) and the remainder,
which decays like e^-|t| in t = beta + alpha xi, by a graded composite Gauss–Legendre rule
in t on [0, T_CUT] (both signs of t folded together). Measured absolute error against a
converged reference (Gauss–Hermite 200 nodes, 24 panels x 30 Gauss–Legendre nodes on
[0, 46]; itself checked against mpmath): < 5e-11 over alpha in [0, 100], |beta| <= 5000
(softplus error relative to max(1, |beta|)); see tests/test_gaussian_special.py.

Symbols
-------
=================  ==========================================================
d                  dimension of the space
K, M               number of components of q, of p
w_k, rho_j         mixture weights of q, of p
nu_k, mu_j         component means of q, of p (rows of `means`)
sigma^2, sigma*^2  shared variance of q, of p (`var`)
sgm, sgm'          logistic function 1/(1+e^-t) and its derivative sgm(1 - sgm)
softplus           log(1 + e^t)
Phi, phi           standard normal CDF and density
S, P, V            E sgm(beta + alpha xi), E softplus(.), E sgm'(.)  (xi ~ N(0,1))
=================  ==========================================================
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import roots_legendre

from ...numerics.simd_math import REASSOC, exp_simd, log1p_unit
from ...numerics.jit import kernel
from ...numerics.special import gauss_hermite

ALPHA_SWITCH = 1.15
# Node counts are multiples of 8, so the vectorised node loops (4 lanes, unrolled twice)
# leave no scalar remainder: 46 nodes cost twice as much as 40. The counts are the
# fewest that keep the worst error below 1e-10 (the rules' error budget), measured
# against a converged reference (24 panels x 30 Gauss–Legendre nodes on [0, 46] above
# the switch, Gauss–Hermite 200 below) over alpha in [0, 100], |beta| <= 5000
# (softplus relative to max(1, |beta|)).
# Tail rule: 2 panels [0, 8.7], [8.7, T_CUT] with 16 Gauss–Legendre nodes each (32
# nodes): worst error 4.3e-11 (at alpha -> ALPHA_SWITCH; 4 x 10 nodes on [0, 26]: 1.5e-11;
# the best 4 x 8 found: 4.4e-10; the best 12 + 10 + 10: 1.4e-10).
# Truncation: int_T^inf e^-t rho(t) dt <= e^-T / (alpha sqrt(2 pi)) < 1.3e-11.
T_CUT = 24.0
_T_EDGES = np.array([0.0, 8.7, T_CUT])
_T_NODES = (16, 16)
# Gauss–Hermite nodes for alpha < ALPHA_SWITCH; worst error (at alpha -> ALPHA_SWITCH):
# 3.1e-11 (24 nodes: 1.5e-9; 40: 9.9e-13; at a switch of 1.2: 32 nodes 8.1e-11).
DEFAULT_N_GH = 32

__all__ = ["tail_rule", "hermite_rule", "quadrature_params", "logistic_normal",
           "logistic_normal_np", "ALPHA_SWITCH", "T_CUT", "DEFAULT_N_GH"]


# --------------------------------------------------------------- 1-D expectations

def hermite_rule(n):
    """Probabilists' Gauss–Hermite nodes and weights (sum 1) for E over N(0, 1)."""
    return gauss_hermite(int(n))


def tail_rule():
    """Graded composite Gauss–Legendre rule on [0, T_CUT] (nodes t, weights) for the
    remainder integrals of `logistic_normal` (_T_NODES[i] nodes on panel i of _T_EDGES)."""
    t, w = [], []
    for a, b, n in zip(_T_EDGES[:-1], _T_EDGES[1:], _T_NODES):
        xl, wl = roots_legendre(n)
        t.append(0.5 * (b - a) * xl + 0.5 * (a + b))
        w.append(0.5 * (b - a) * wl)
    return np.concatenate(t), np.concatenate(w)


def quadrature_params(n_gh=DEFAULT_N_GH):
    """Flat vector read by `logistic_normal` at offset 0:

        [n_gh, n_t, gh_x, gh_w, t, t_w, t_w sgm(-t), t_w log(1 + e^-t), t_w sgm'(t)].

    The first 2 + 2 n_gh + 2 n_t entries are the rules themselves (what a reference
    implementation reads); the last three blocks are the tail weights with the t-only
    factors of the S, P, V remainders folded in once, so the kernel evaluates no
    transcendental of t alone.
    """
    x, w = hermite_rule(n_gh)
    t, tw = tail_rule()
    e = np.exp(-t)
    sg = e / (1.0 + e)                       # sgm(-t)
    return np.concatenate([[float(len(x)), float(len(t))], x, w, t, tw,
                           tw * sg, tw * np.log1p(e), tw * sg * (1.0 - sg)])


_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
# The tail rule and the default Gauss–Hermite rule as compile-time constants (the same
# numbers as the blocks of `quadrature_params`; slicing them out of q on every call
# costs about as much as the loop itself).
_GH_X, _GH_W = (np.ascontiguousarray(r) for r in hermite_rule(DEFAULT_N_GH))   # the default rule
_TAIL_BLOCKS = np.split(quadrature_params(1)[4:], 5)          # t, t_w, then the folded weights
_TAIL_T, _TAIL_WS, _TAIL_WP, _TAIL_WV = (np.ascontiguousarray(_TAIL_BLOCKS[i]) for i in (0, 2, 3, 4))


@kernel(fastmath=REASSOC, error_model="numpy")
def _hermite_sums(beta, a, x, w):
    """(S, P, V) by the Gauss–Hermite rule (x, w) in xi; one vectorised loop (V is
    always summed: a branch inside the loop would keep it scalar)."""
    s = 0.0
    p = 0.0
    v = 0.0
    for i in range(x.shape[0]):
        t = beta + a * x[i]
        e = exp_simd(-abs(t))
        inv = 1.0 / (1.0 + e)
        s += w[i] * (inv if t >= 0.0 else e * inv)
        p += w[i] * (max(t, 0.0) + log1p_unit(e))
        v += w[i] * e * inv * inv
    return s, p, v


@kernel(fastmath=REASSOC, error_model="numpy")
def _tail_sums(b, a, t, w_s, w_p, w_v):
    """The S, P, V remainders at b = |beta| >= 0 on the tail rule (nodes t, folded
    weights w_s, w_p, w_v); one vectorised loop (V always summed, as above)."""
    c = _INV_SQRT2PI / a
    h = 0.5 / (a * a)
    k = 4.0 * b * h                     # 2 b / alpha^2
    rs = 0.0
    rp = 0.0
    rv = 0.0
    for i in range(t.shape[0]):
        dt = t[i] - b
        gp = c * exp_simd(-h * dt * dt)
        gm = gp * exp_simd(-k * t[i])
        rs += w_s[i] * (gm - gp)
        rp += w_p[i] * (gp + gm)
        rv += w_v[i] * (gp + gm)
    return rs, rp, rv


@kernel(error_model="numpy")
def logistic_normal(beta, alpha, q, off, out):
    """out[0:3] = (S, P, V) = E[sgm, softplus, sgm'](beta + alpha xi), xi ~ N(0, 1).

    q[off:] is a `quadrature_params` block. No flag selects the outputs: the node loops sum
    all three anyway, and numba would compile the kernel once more for every literal
    flag a caller passes. alpha < ALPHA_SWITCH: Gauss–Hermite in xi.
    Otherwise, with z = beta/alpha and rho(t) = phi((t - beta)/alpha)/alpha the density
    of t = beta + alpha xi:
      S = Phi(z)                       + int_0^T sgm(-t) [rho(-t) - rho(t)] dt
      P = beta Phi(z) + alpha phi(z)   + int_0^T log(1 + e^-t) [rho(t) + rho(-t)] dt
      V =                                int_0^T sgm'(t) [rho(t) + rho(-t)] dt
    (sgm = H + (sgm - H), softplus = max(t, 0) + log1p(e^-|t|); truncation error
    < 1.3e-11, see T_CUT). beta -> -beta swaps rho(t) and rho(-t), so the remainders are
    odd (S) and even (P, V) in beta, the same statement as S(-beta) = 1 - S(beta),
    P(-beta) = P(beta) - beta, V(-beta) = V(beta). They are evaluated at b = |beta| with
    g+ = rho(t), g- = rho(-t) = g+ exp(-2 b t / alpha^2) <= g+ (one exponential more, no
    overflow), and the sign of beta enters only through Phi(z), phi(z) and the sign of
    the S remainder, so S keeps full relative accuracy when it is tiny. The node loops
    use flowsim.numerics.simd_math's exp and log1p, so they vectorise.
    NaN in gives NaN out; never raises.
    """
    n_gh = int(q[off])
    a = abs(alpha)
    if math.isnan(a) or math.isnan(beta):
        out[0] = math.nan
        out[1] = math.nan
        out[2] = math.nan
        return
    if a < ALPHA_SWITCH:
        if n_gh == DEFAULT_N_GH:
            s, p, v = _hermite_sums(beta, a, _GH_X, _GH_W)
        else:
            s, p, v = _hermite_sums(beta, a, q[off + 2:off + 2 + n_gh],
                                    q[off + 2 + n_gh:off + 2 + 2 * n_gh])
        out[0] = s
        out[1] = p
        out[2] = v
        return
    z = beta / a
    s = 0.5 * math.erfc(-z / math.sqrt(2.0))
    p = beta * s + a * _INV_SQRT2PI * math.exp(-0.5 * z * z)
    v = 0.0
    b = abs(beta)
    if (b - T_CUT) / a < 9.0:
        rs, rp, rv = _tail_sums(b, a, _TAIL_T, _TAIL_WS, _TAIL_WP, _TAIL_WV)
        p += rp
        v += rv
        s += rs if beta >= 0.0 else -rs
    out[0] = s
    out[1] = p
    out[2] = v


def logistic_normal_np(beta, alpha, n_gh=DEFAULT_N_GH):
    """numpy convenience: arrays (S, P, V) of `logistic_normal` over broadcast beta, alpha."""
    beta, alpha = np.broadcast_arrays(np.asarray(beta, float), np.asarray(alpha, float))
    q = quadrature_params(n_gh)
    out = np.empty(3)
    res = np.empty(beta.shape + (3,))
    for idx in np.ndindex(beta.shape):
        logistic_normal(float(beta[idx]), float(alpha[idx]), q, 0, out)
        res[idx] = out
    return res[..., 0], res[..., 1], res[..., 2]

"""Gradient flows of the exact mixture KLs on the circle (remedy A of seed 000).

Symbols: nodes θ_n = −π + 2πn/N, h = 2π/N; a_kn = log w_k + log VM(θ_n; μ_k, κ_k);
log q_n = logsumexp_k a_kn; log p_n the target log density (precomputed in p);
r_kn = exp(a_kn − log q_n) the responsibilities.

    reverse_kl   L = h Σ_n q_n (log q_n − log p_n)        ≈ KL(q ‖ p)
    forward_kl   L = h Σ_n p_n (log p_n − log q_n)        ≈ KL(p ‖ q)

The periodic trapezoid rule is spectrally accurate (notes §5.1). Per node, one
exponential per component e_kn = exp(a_kn − max_k a_kn) serves log q_n, q_n, ∂q_n
and r_kn = e_kn / Σ_k e_kn. The gradients are
the exact derivatives of these discrete sums, with the density derivatives under
the sum (∂ log VM/∂μ = κ sin(θ − μ), ∂ log VM/∂s = κ (cos(θ − μ) − A(κ)), s = log κ,
∂ a_kn/∂z_j = δ_kj − w_j):

    ∂L_rev/∂φ = h Σ_n (log q_n − log p_n + 1) ∂q_n/∂φ
    ∂L_fwd/∂φ = −h Σ_n p_n ∂ log q_n/∂φ = −h Σ_n p_n Σ_k r_kn ∂a_kn/∂φ
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..special import bessel_ratio, i0e, logsumexp
from .base import FlowModel
from .circle_params import grid_slices, sizes

REVERSE, FORWARD = 0, 1
LOG_2PI = math.log(2.0 * math.pi)


@njit(cache=True)
def _mixture_kl_loss(y, p, out, direction):
    """Value of the discrete mixture KL in `direction`; writes −∇L into out."""
    k, _, trainable, _, n = sizes(p)
    cos_t, sin_t, log_p = grid_slices(p)
    z = y[:k]
    mu = y[k:2 * k]
    kap = np.exp(y[2 * k:3 * k])
    log_w = z - logsumexp(z)
    w = np.exp(log_w)
    cos_mu, sin_mu = np.cos(mu), np.sin(mu)
    log_norm = np.empty(k)
    a_ratio = np.empty(k)
    for i in range(k):
        log_norm[i] = log_w[i] - kap[i] - LOG_2PI - np.log(i0e(kap[i]))
        a_ratio[i] = bessel_ratio(kap[i])
    for i in range(3 * k):
        out[i] = 0.0
    h = 2.0 * np.pi / n
    a = np.empty(k)
    c = np.empty(k)
    sn = np.empty(k)
    value = 0.0
    for t in range(n):
        amax = -np.inf
        for i in range(k):
            c[i] = cos_t[t] * cos_mu[i] + sin_t[t] * sin_mu[i]
            sn[i] = sin_t[t] * cos_mu[i] - cos_t[t] * sin_mu[i]
            a[i] = log_norm[i] + kap[i] * c[i]
            amax = max(amax, a[i])
        total = 0.0
        for i in range(k):
            a[i] = np.exp(a[i] - amax)
            total += a[i]
        log_q = amax + np.log(total)
        if direction == REVERSE:
            scale = np.exp(amax)
            q = total * scale
            value += h * q * (log_q - log_p[t])
            g = h * (log_q - log_p[t] + 1.0) * scale
            for i in range(k):
                out[k + i] -= g * a[i] * kap[i] * sn[i]
                out[2 * k + i] -= g * a[i] * kap[i] * (c[i] - a_ratio[i])
                if trainable:
                    out[i] -= g * (a[i] - w[i] * total)
        else:
            pt = np.exp(log_p[t])
            value += h * pt * (log_p[t] - log_q)
            g = h * pt / total
            for i in range(k):
                out[k + i] += g * a[i] * kap[i] * sn[i]
                out[2 * k + i] += g * a[i] * kap[i] * (c[i] - a_ratio[i])
                if trainable:
                    out[i] += g * (a[i] - w[i] * total)
    return value


@njit(cache=True)
def rhs_reverse_kl(t, y, p, out):
    _mixture_kl_loss(y, p, out, REVERSE)


@njit(cache=True)
def objective_reverse_kl(y, p):
    return _mixture_kl_loss(y, p, np.empty(y.size), REVERSE)


@njit(cache=True)
def rhs_forward_kl(t, y, p, out):
    _mixture_kl_loss(y, p, out, FORWARD)


@njit(cache=True)
def objective_forward_kl(y, p):
    return _mixture_kl_loss(y, p, np.empty(y.size), FORWARD)


MODELS = {
    "reverse_kl": FlowModel("vonmises.reverse_kl", rhs_reverse_kl, objective_reverse_kl),
    "forward_kl": FlowModel("vonmises.forward_kl", rhs_forward_kl, objective_forward_kl),
}

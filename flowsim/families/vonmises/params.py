"""State and parameter layout shared by every flow on the circle.

State y (length 3K), gradient flow in these coordinates:

    y = [z_1..z_K, μ_1..μ_K, s_1..s_K],   w = softmax(z),  κ_k = exp(s_k)

Parameter vector p:

    p[0] K          p[1] M          p[2] 1 if weights trainable else 0
    p[3] λ          (weight regulariser λ Σ (w_k − 1/K)², matched losses only)
    p[4] N          (trapezoid nodes)
    then log ρ (M), μ* (M), κ* (M)                 target p = Σ_j ρ_j VM(μ*_j, κ*_j)
    then cos θ_n (N), sin θ_n (N), log p(θ_n) (N)   the quadrature grid and target log density
"""
from __future__ import annotations

import numpy as np

from ...numerics.special import bessel_ratio, bessel_ratio_prime, softmax
from .mixture import VonMisesMixture, circle_grid
from ...numerics.jit import kernel

HEADER = 5


def pack_params(target: VonMisesMixture, n_components: int, trainable: bool,
                regularization: float, n_quad: int) -> np.ndarray:
    theta = circle_grid(n_quad)
    head = [float(n_components), float(target.n_components), 1.0 if trainable else 0.0,
            float(regularization), float(n_quad)]
    return np.concatenate([head, np.log(target.weights), target.mu, target.kappa,
                           np.cos(theta), np.sin(theta), target.log_pdf(theta)]).astype(np.float64)


def pack_state(init: VonMisesMixture) -> np.ndarray:
    return np.concatenate([np.log(init.weights), init.mu, np.log(init.kappa)]).astype(np.float64)


def unpack_state(states: np.ndarray, n_components: int):
    """(weights, μ, κ, z) from states of shape (..., 3K)."""
    z = states[..., :n_components]
    w = np.exp(z - z.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    return w, states[..., n_components:2 * n_components], np.exp(states[..., 2 * n_components:]), z


@kernel
def sizes(p):
    """(K, M, trainable, λ, N) from the header."""
    return int(p[0]), int(p[1]), p[2] > 0.5, p[3], int(p[4])


@kernel
def target_slices(p):
    """Views (log ρ, μ*, κ*) of the target inside p."""
    m = int(p[1])
    o = HEADER
    return p[o:o + m], p[o + m:o + 2 * m], p[o + 2 * m:o + 3 * m]


@kernel
def grid_slices(p):
    """Views (cos θ_n, sin θ_n, log p(θ_n)) of the quadrature grid inside p."""
    m, n = int(p[1]), int(p[4])
    o = HEADER + 3 * m
    return p[o:o + n], p[o + n:o + 2 * n], p[o + 2 * n:o + 3 * n]


@kernel
def weights_of(y, k):
    """softmax(z) of the state's logits."""
    w = np.empty(k)
    softmax(y[:k], w)
    return w


@kernel
def add_weight_regularizer(w, lam, k, out_z):
    """Adds −∂/∂z_j of λ Σ_k (w_k − 1/K)² = −2λ w_j[(w_j − 1/K) − Σ_k w_k (w_k − 1/K)] to out_z."""
    if lam == 0.0:
        return 0.0
    mean = 0.0
    value = 0.0
    for i in range(k):
        dev = w[i] - 1.0 / k
        mean += w[i] * dev
        value += dev * dev
    for j in range(k):
        out_z[j] -= 2.0 * lam * w[j] * ((w[j] - 1.0 / k) - mean)
    return lam * value


@kernel
def natural_scale(y, p, s):
    """Inverse block-diagonal Fisher (docs/derivations.md, A3): logit k 1/w_k (Fisher–Rao
    of the categorical), μ_k 1/(w_k κ_k A(κ_k)), log κ_k 1/(w_k κ_k² A'(κ_k))."""
    k = int(p[0])
    w = weights_of(y, k)
    for i in range(k):
        kap = np.exp(y[2 * k + i])
        s[i] = 1.0 / w[i]
        s[k + i] = 1.0 / (w[i] * kap * bessel_ratio(kap))
        s[2 * k + i] = 1.0 / (w[i] * kap * kap * bessel_ratio_prime(kap))


@kernel
def wfr_scale(y, p, s):
    """Wasserstein–Fisher–Rao (A4): logit k 1/w_k, μ_k 1/w_k (a location on the circle),
    log κ_k 4 κ_k / w_k (the Gaussian limit σ² = 1/κ: W2 metric σ²/4 on log κ)."""
    k = int(p[0])
    w = weights_of(y, k)
    for i in range(k):
        kap = np.exp(y[2 * k + i])
        s[i] = 1.0 / w[i]
        s[k + i] = 1.0 / w[i]
        s[2 * k + i] = 4.0 * kap / w[i]

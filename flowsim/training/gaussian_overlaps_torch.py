"""The Gaussian two-mode overlap flow in torch, batched over points, for a GPU sweep.

State y (B, 8) = [m_1, m_2, Q_11, Q_12, Q_22, θ_1, θ_2, s] as in
flowsim.families.gaussian.two_mode (u_k = ν_k − μ_1, Δ = μ_2 − μ_1, m_k = ⟨u_k, Δ⟩,
Q_kl = ⟨u_k, u_l⟩, w = softmax θ, σ² = v = e^s). This module derives the flow a second,
independent way: the reverse KL is written as a function L(m, Q, θ, s) (R2
of the model's docstring) and differentiated by autograd; the mean flow u̇_k = −∇_{u_k} L
then follows from the chain rule through the Gram matrix of {Δ, u_1, u_2}:

    ∇_{u_k} L = a_k Δ + Σ_l B_kl u_l,   a_k = ∂L/∂m_k,  B_kk = 2 ∂L/∂Q_kk,  B_12 = B_21 = ∂L/∂Q_12
    ṁ_k  = −(a_k Λ + Σ_l B_kl m_l)
    Q̇_kl = −(a_k m_l + Σ_i B_ki Q_il) − (a_l m_k + Σ_i B_li Q_ik)
    θ̇ = −∂L/∂θ (trainable weights),  ṡ = −∂L/∂s (trainable variance)

Expectations of softplus(β + αξ), ξ ~ N(0, 1), by Gauss–Hermite (`n_gh` nodes).
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _softplus_expectation(beta, alpha, nodes, weights):
    """P(β, α) = E softplus(β + αξ) by Gauss–Hermite, batched over β, α."""
    x = beta[..., None] + alpha[..., None] * nodes
    return (torch.nn.functional.softplus(x) * weights).sum(-1)


def reverse_kl(y, Lam, rho, d, tau=1.0, n_gh=151):
    """KL(q‖p) of the two-mode problem as a function of the overlap state y (B, 8)."""
    xi, wi = np.polynomial.hermite_e.hermegauss(n_gh)
    nodes = torch.as_tensor(xi, dtype=y.dtype, device=y.device)
    weights = torch.as_tensor(wi / wi.sum(), dtype=y.dtype, device=y.device)
    m = y[:, 0:2]
    q11, q12, q22 = y[:, 2], y[:, 3], y[:, 4]
    theta = y[:, 5:7]
    v = torch.exp(y[:, 7])
    log_w = torch.log_softmax(theta, -1)
    dist2 = (q11 + q22 - 2.0 * q12).clamp_min(1e-300)
    alpha_h = torch.sqrt(v * Lam) / tau
    alpha_a = torch.sqrt(dist2 / v)
    const = 0.5 * d * (v / tau - 1.0 - torch.log(v / tau))
    qkk = torch.stack([q11, q22], -1)
    total = 0.0
    for k in range(2):
        h = math.log((1.0 - rho) / rho) + (m[:, k] - 0.5 * Lam) / tau
        a = log_w[:, 1 - k] - log_w[:, k] - 0.5 * dist2 / v
        f_k = (const + 0.5 * qkk[:, k] / tau + log_w[:, k] + _softplus_expectation(a, alpha_a, nodes, weights)
               - math.log(rho) - _softplus_expectation(h, alpha_h, nodes, weights))
        total = total + torch.exp(log_w[:, k]) * f_k
    return total


def two_mode_rhs(Lam, rho, d, tau=1.0, weights="trainable", train_var=False, n_gh=151):
    """f(t, y) for batched_rk4.rk4: the reverse-KL overlap flow (module doc), y (B, 8)."""

    def f(t, y):
        with torch.enable_grad():
            z = y.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(reverse_kl(z, Lam, rho, d, tau, n_gh).sum(), z)
        a = grad[:, 0:2]
        b = torch.stack([torch.stack([2.0 * grad[:, 2], grad[:, 3]], -1),
                         torch.stack([grad[:, 3], 2.0 * grad[:, 4]], -1)], -2)        # (B, 2, 2)
        m = y[:, 0:2]
        q = torch.stack([torch.stack([y[:, 2], y[:, 3]], -1), torch.stack([y[:, 3], y[:, 4]], -1)], -2)
        dm = -(a * Lam + torch.einsum("bkl,bl->bk", b, m))
        g = a[:, :, None] * m[:, None, :] + torch.einsum("bki,bil->bkl", b, q)       # ⟨∇_{u_k} L, u_l⟩
        dq = -(g + g.transpose(1, 2))
        out = torch.zeros_like(y)
        out[:, 0:2] = dm
        out[:, 2], out[:, 3], out[:, 4] = dq[:, 0, 0], dq[:, 0, 1], dq[:, 1, 1]
        if weights == "trainable":
            out[:, 5:7] = -grad[:, 5:7]
        if train_var:
            out[:, 7] = -grad[:, 7]
        return out

    return f

"""Torch losses of the Gaussian objectives: Monte Carlo estimates of the mixture KLs in R^d.

q = sum_k w_k N(nu_k, v I_d), p = sum_j rho_j N(mu_j, tau I_d), w = softmax(theta), with
reparameterised samples

    x_ki = nu_k + sqrt(v) eps_ki,  eps_ki ~ N(0, I_d)
    L_hat = sum_k w_k (1/n) sum_i [log q(x_ki) - log p(x_ki)]                   (reverse_kl)
    L_hat = sum_j rho_j (1/n) sum_i [log p(y_ji) - log q(y_ji)],  y_ji ~ p_j     (forward_kl)

Squared distances are expanded around x - nu_k = sqrt(v) eps, so d = 1000 loses nothing to
cancellation. Used by flowsim.training.gaussian_vi.
"""
from __future__ import annotations

import math

import torch


def _log_mix(logw, sq, var, d):
    """log sum_j w_j N(x; c_j, var I_d) from squared distances sq (..., J)."""
    return torch.logsumexp(logw - 0.5 * sq / var, dim=-1) - 0.5 * d * math.log(2 * math.pi * var)


def reverse_kl(theta, nu, mu, log_rho, v, tau, eps, estimator="stl"):
    """L_hat per seed (S,): theta (S,K), nu (S,K,d), mu (M,d), eps (S,K,n,d).

    estimator "total": autograd of L_hat as written (path + score terms).
    "stl" ("sticking the landing", Roeder et al. 2017): inside log q the parameters are
    detached, so only the sample path x_ki = nu_k + sqrt(v) eps carries gradient. The
    dropped score term has mean zero (E_q grad log q = 0), so both are unbiased; with
    v = tau the STL noise lies in span{nu, mu} (the x-terms of the scores cancel),
    while the score term's noise spreads over all d directions and inflates Q by
    O(eta d / n)."""
    d = nu.shape[-1]
    logw = torch.log_softmax(theta, -1)
    sv = math.sqrt(v)
    e2 = v * (eps * eps).sum(-1)                                              # (S,K,n)
    nu_in_q = nu.detach() if estimator == "stl" else nu
    logw_in_q = logw.detach() if estimator == "stl" else logw
    dq = nu[:, :, None, :] - nu_in_q[:, None, :, :]                          # (S,K,K',d) x-path minus nu_j
    dp = nu[:, :, None, :] - mu[None, None, :, :]                            # (S,K,M,d)
    cq = sv * torch.einsum("sknd,skjd->sknj", eps, dq)
    cp = sv * torch.einsum("sknd,skjd->sknj", eps, dp)
    sq_q = e2[..., None] + 2 * cq + (dq * dq).sum(-1)[:, :, None, :]
    sq_p = e2[..., None] + 2 * cp + (dp * dp).sum(-1)[:, :, None, :]
    log_q = _log_mix(logw_in_q[:, None, None, :], sq_q, v, d)
    log_p = _log_mix(log_rho, sq_p, tau, d)
    return torch.sum(torch.exp(logw) * (log_q - log_p).mean(-1), -1)


def forward_kl(theta, nu, mu, log_rho, v, tau, eps):
    """L_hat per seed (S,) with eps (S,M,n,d) giving y_ji = mu_j + sqrt(tau) eps (log p term is
    parameter-free and kept only for the value)."""
    d = nu.shape[-1]
    logw = torch.log_softmax(theta, -1)
    st = math.sqrt(tau)
    e2 = tau * (eps * eps).sum(-1)                                            # (S,M,n)
    dq = mu[None, :, None, :] - nu[:, None, :, :]                            # (S,M,K,d)
    dp = (mu[:, None, :] - mu[None, :, :])[None].expand(nu.shape[0], -1, -1, -1)
    sq_q = e2[..., None] + 2 * st * torch.einsum("sjnd,sjkd->sjnk", eps, dq) + (dq * dq).sum(-1)[:, :, None, :]
    sq_p = e2[..., None] + 2 * st * torch.einsum("sjnd,sjkd->sjnk", eps, dp) + (dp * dp).sum(-1)[:, :, None, :]
    log_q = _log_mix(logw[:, None, None, :], sq_q, v, d)
    log_p = _log_mix(log_rho, sq_p, tau, d)
    return torch.sum(torch.exp(log_rho) * (log_p - log_q).mean(-1), -1)

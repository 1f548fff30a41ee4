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


# ------------------------------------------------------------------ f-divergences
#
# D_f(p ‖ q) = E_q[f(p/q)], estimated over the mixture q + p (the identity q f(u) =
# (q + p) f(u)/(1 + u), docs/derivations.md FG1): with reparameterised samples
# x_ki = nu_k + sqrt(v) eps_ki from q_k and y_ji = mu_j + sqrt(tau) eps_ji from p_j,
#
#     L_hat = sum_k w_k (1/n) sum_i h(x_ki) + sum_j rho_j (1/n) sum_i h(y_ji),
#     h = f(u)/(1 + u),   log u = log p − log q,
#
# an unbiased estimate of D_f whose samples from p cover the region where u is large (a
# plain E_q[f(u)] estimate misses it, and is biased in practice when q and p are far
# apart). Autograd gives the pathwise gradient (through x_ki and through log q at y_ji),
# an unbiased estimate of the gradient of D_f (for `nonsaturating`, the −log D
# generator's gradient with D = p/(p + q) held fixed). f is written as a function of
# log u, clamped to |log u| ≤ 300 (χ² stays finite). eps (S, R, n, d) with R ≥ K rows:
# row k draws q_k, row j mod R draws p_j (the same standard normals, reused).
# The exact values are the kernels of flowsim.families.gaussian.fdivergence
# (objectives js, nonsaturating, chi2, hellinger, alpha).

from torch.nn import functional as F  # noqa: E402  (the f-divergence section's own import)

_LOG_EDGE = 300.0


def _sq_dist(centre, eps, scale, others):
    """|c + scale eps − o|² for samples around `centre` (S,R,d) and points `others` (S,R,J,d)
    -> (S,R,n,J), expanded around scale·eps (no cancellation in high d)."""
    diff = centre[:, :, None, :] - others                                   # (S,R,J,d)
    return (scale * scale * (eps * eps).sum(-1)[..., None]
            + 2 * scale * torch.einsum("srnd,srjd->srnj", eps, diff) + (diff * diff).sum(-1)[:, :, None, :])


def _fdiv(gen, theta, nu, mu, log_rho, v, tau, eps):
    S, K, d = nu.shape
    M = mu.shape[0]
    logw = torch.log_softmax(theta, -1)
    lw = logw[:, None, None, :]
    # samples of q_k
    nu_all = nu[:, None, :, :].expand(S, K, K, d)
    mu_all = mu[None, None].expand(S, K, M, d)
    eq = eps[:, :K]
    lq = _log_mix(lw, _sq_dist(nu, eq, math.sqrt(v), nu_all), v, d)
    lp = _log_mix(log_rho, _sq_dist(nu, eq, math.sqrt(v), mu_all), tau, d)
    ell = (lp - lq).clamp(-_LOG_EDGE, _LOG_EDGE)
    h_q = (gen(ell) * torch.sigmoid(-ell)).mean(-1)                          # (S,K)
    # samples of p_j (fixed points; the loss depends on q's parameters through log q)
    ep = eps[:, [j % eps.shape[1] for j in range(M)]]
    mu_c = mu[None].expand(S, M, d)
    lq2 = _log_mix(lw, _sq_dist(mu_c, ep, math.sqrt(tau), nu[:, None].expand(S, M, K, d)), v, d)
    lp2 = _log_mix(log_rho, _sq_dist(mu_c, ep, math.sqrt(tau), mu[None, None].expand(S, M, M, d)), tau, d)
    ell2 = (lp2 - lq2).clamp(-_LOG_EDGE, _LOG_EDGE)
    h_p = (gen(ell2) * torch.sigmoid(-ell2)).mean(-1)                        # (S,M)
    return torch.sum(torch.exp(logw) * h_q, -1) + torch.sum(torch.exp(log_rho) * h_p, -1)


def _gan(ell):
    """u log u − (1 + u) log(1 + u) = −u softplus(−ell) − softplus(ell)."""
    return -torch.exp(ell) * F.softplus(-ell) - F.softplus(ell)


def _nonsat(ell):
    """(1 + u) log((1 + u)/(2u)) = (1 + u)(softplus(−ell) − log 2)."""
    return (1.0 + torch.exp(ell)) * (F.softplus(-ell) - math.log(2.0))


def js(theta, nu, mu, log_rho, v, tau, eps):
    """L_hat of 2 JS(p, q) − 2 log 2 per seed (S,): theta (S,K), nu (S,K,d), mu (M,d),
    eps (S,K,n,d) (the minimax GAN generator loss with the optimal discriminator)."""
    return _fdiv(_gan, theta, nu, mu, log_rho, v, tau, eps)


def nonsaturating(theta, nu, mu, log_rho, v, tau, eps):
    """L_hat of KL(q ‖ p) − 2 JS(p, q) per seed (S,) (its gradient: the −log D generator's,
    D = p/(p + q) held fixed)."""
    return _fdiv(_nonsat, theta, nu, mu, log_rho, v, tau, eps)


def chi2(theta, nu, mu, log_rho, v, tau, eps):
    """L_hat of χ²(p ‖ q) = E_q[(u − 1)²] per seed (S,) (heavy-tailed where v < τ)."""
    return _fdiv(lambda ell: torch.expm1(ell) ** 2, theta, nu, mu, log_rho, v, tau, eps)


def hellinger(theta, nu, mu, log_rho, v, tau, eps):
    """L_hat of H²(p, q) = E_q[½ (√u − 1)²] per seed (S,)."""
    return _fdiv(lambda ell: 0.5 * torch.expm1(0.5 * ell) ** 2, theta, nu, mu, log_rho, v, tau, eps)


def alpha(theta, nu, mu, log_rho, v, tau, eps, alpha=0.5):
    """L_hat of Amari's D_α(p ‖ q) = E_q[(u^α − 1 − α(u − 1))/(α(α − 1))] per seed (S,);
    alpha real, not 0 or 1 (default 0.5, the objective's)."""
    a = float(alpha)
    if not math.isfinite(a) or a in (0.0, 1.0):
        raise ValueError(f"alpha: must be finite and not 0 or 1, got {alpha!r}")

    def gen(ell):
        return (torch.expm1(a * ell) - a * torch.expm1(ell)) / (a * (a - 1.0))
    return _fdiv(gen, theta, nu, mu, log_rho, v, tau, eps)

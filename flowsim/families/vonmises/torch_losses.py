"""Von Mises closed forms and circle objectives in torch (float64 by default, autograd-ready).

Symbols (docs/derivations.md, V1, K1-K2, M1-M3):

    theta          angle on the circle
    mu, kappa      von Mises mean and concentration, VM(theta; mu, kappa)
    A(kappa)       I1/I0 = i1e/i0e, mean resultant length
    w, rho         weights of the variational q (K components) and target p (M modes)
    C[k, j]        component cost KL(q_k || p_j)   (``matched``)  or
                   KL(p_j || q_k)                  (``matched_reversed``)
    sigma          a matching: component k <-> target mode sigma(k)

Losses are written with ``torch.special.i0e/i1e`` (differentiable), never with
``torch.distributions.VonMises`` (approximate log-normaliser, no KL).

    kl(mu_p, kappa_p, mu_q, kappa_q)   KL(VM_p || VM_q), stable form (V1)
    mixture_kl(p, q)                   KL(p || q) by the N-point periodic trapezoid rule
                                       in log space (K1)
    objective(name, q, p, weights)     the circle-flow objectives on batches of mixtures

A mixture is a triple (logw, mu, kappa) of tensors with shape (..., K); leading
dimensions are batch dimensions and broadcast.
"""
from __future__ import annotations

import itertools
import math
from functools import lru_cache

import torch

TWO_PI = 2.0 * math.pi


def log_i0(kappa):
    """log I0(kappa) = log i0e(kappa) + |kappa| (no overflow; V1)."""
    return torch.log(torch.special.i0e(kappa)) + kappa.abs()


def bessel_ratio(kappa):
    """A(kappa) = I1/I0 = i1e/i0e."""
    return torch.special.i1e(kappa) / torch.special.i0e(kappa)


def kl(mu_p, kappa_p, mu_q, kappa_q):
    """KL(VM(mu_p, kappa_p) || VM(mu_q, kappa_q)), stable form (V1):

    log(i0e(kq)/i0e(kp)) + (kq - kp)(1 - A(kp)) + 2 kq A(kp) sin^2((mu_p - mu_q)/2).
    """
    i0p = torch.special.i0e(kappa_p)
    a_p = torch.special.i1e(kappa_p) / i0p
    one_minus_a = (i0p - torch.special.i1e(kappa_p)) / i0p
    s = torch.sin(0.5 * (mu_p - mu_q))
    return (torch.log(torch.special.i0e(kappa_q) / i0p) + (kappa_q - kappa_p) * one_minus_a
            + 2.0 * kappa_q * a_p * s * s)


def log_pdf(theta, mu, kappa):
    """log VM(theta; mu, kappa) = kappa (cos(theta - mu) - 1) - log(2 pi i0e(kappa))."""
    s = torch.sin(0.5 * (theta - mu))
    return -2.0 * kappa * s * s - torch.log(TWO_PI * torch.special.i0e(kappa))


def mixture_log_pdf(theta, logw, mu, kappa):
    """log sum_k w_k VM(theta; mu_k, kappa_k); theta (N,), mixture (..., K) -> (..., N)."""
    terms = logw[..., None, :] + log_pdf(theta[:, None], mu[..., None, :], kappa[..., None, :])
    return torch.logsumexp(terms, dim=-1)


def n_nodes(kappa_max: float, minimum: int = 256) -> int:
    """Trapezoid nodes for concentrations up to kappa_max: the ODE side's rule
    (flowsim.vonmises.quadrature_size: max(256, 32 sqrt(kappa), min(10 kappa, 2^16)))."""
    n = max(minimum, math.ceil(32.0 * math.sqrt(max(float(kappa_max), 0.0))),
            min(math.ceil(10.0 * float(kappa_max)), 2 ** 16))
    return int(32 * math.ceil(n / 32))


def grid(n: int, dtype=torch.float64, device=None):
    """Equispaced nodes theta_n = -pi + 2 pi n / N."""
    return -math.pi + TWO_PI * torch.arange(n, dtype=dtype, device=device) / n


def mixture_kl(p, q, n: int | None = None):
    """KL(p || q) between von Mises mixtures p, q = (logw, mu, kappa), by the N-point periodic
    trapezoid rule in log space (K1): (2 pi / N) sum_n p(theta_n) (log p - log q)."""
    if n is None:
        n = n_nodes(max(float(p[2].detach().max()), float(q[2].detach().max())))
    theta = grid(n, p[1].dtype, p[1].device)
    lp = mixture_log_pdf(theta, *p)
    lq = mixture_log_pdf(theta, *q)
    return (TWO_PI / n) * torch.sum(torch.exp(lp) * (lp - lq), dim=-1)


@lru_cache(maxsize=None)
def _perm_list(k: int):
    return tuple(itertools.permutations(range(k)))


def permutations(k: int, device=None) -> torch.Tensor:
    """All k! permutations in lexicographic order as a (k!, k) long tensor."""
    return torch.tensor(_perm_list(k), dtype=torch.long, device=device)


def match(cost):
    """Minimum-cost matching of a (..., R, C) cost as a 0/1 matrix P (..., R, C).

    Enumerates the max(R, C)! permutations in lexicographic order (exact; the first
    minimiser wins ties, like flowsim.families.vonmises.matching and, up to ties, scipy's
    linear_sum_assignment; M1). Every row of the smaller side is matched; the
    other side's extra entries have an all-zero row (column)."""
    r, c = cost.shape[-2:]
    n = max(r, c)
    perms = permutations(n, cost.device)                          # (P, n)
    cd = cost.detach()
    if r <= c:
        totals = cd[..., torch.arange(r, device=cost.device)[None, :], perms[:, :r]].sum(-1)
        best = perms[torch.argmin(totals, dim=-1)][..., :r]        # (..., R) column of row i
        return torch.nn.functional.one_hot(best, c).to(cost.dtype)
    totals = cd[..., perms[:, :c], torch.arange(c, device=cost.device)[None, :]].sum(-1)
    best = perms[torch.argmin(totals, dim=-1)][..., :c]            # (..., C) row of column j
    return torch.nn.functional.one_hot(best, r).to(cost.dtype).transpose(-1, -2)


def cost_matrix(q, p, reversed_: bool = False):
    """C[k, j] = KL(q_k || p_j) (..., K, M), or R[j, k] = KL(p_j || q_k) (..., M, K)."""
    _, mu_q, kappa_q = q
    _, mu_p, kappa_p = p
    if reversed_:
        return kl(mu_p[..., :, None], kappa_p[..., :, None], mu_q[..., None, :], kappa_q[..., None, :])
    return kl(mu_q[..., :, None], kappa_q[..., :, None], mu_p[..., None, :], kappa_p[..., None, :])


def _weighted(q, weights, fixed_logw):
    """q with its log-weights replaced by the fixed ones (detached) for weights "fixed"."""
    logw = q[0]
    if weights == "fixed":
        logw = (logw if fixed_logw is None else fixed_logw).detach().expand_as(q[1])
    elif weights != "trainable":
        raise ValueError(f"weights: must be 'trainable' or 'fixed', got {weights!r}")
    return (logw, q[1], q[2])


def matched(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """sum_S w_k C_k,sigma(k) / sum_S w_k [+ lambda sum_k (w_k - 1/K)^2] (M1), sigma the
    matching on the unweighted cost C_kj = KL(q_k || p_j)."""
    q = _weighted(q, weights, fixed_logw)
    cost = cost_matrix(q, p)                                           # (..., K, M)
    assign = match(cost)
    c = (assign * cost).sum(-1)
    in_s = assign.sum(-1)
    w = torch.exp(q[0])
    return _penalised(torch.sum(in_s * w * c, -1) / torch.sum(in_s * w, -1), w, regularization)


def _penalised(value, w, regularization):
    """value + lambda sum_k (w_k - 1/K)^2 (the matched losses' weight penalty)."""
    if not regularization:
        return value
    return value + regularization * torch.sum((w - 1.0 / w.shape[-1]) ** 2, -1)


def matched_reversed(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """sum_S rho_j R_j,tau(j) / sum_S rho_j [+ lambda penalty] (M2), tau the matching on
    R_jk = KL(p_j || q_k)."""
    q = _weighted(q, weights, fixed_logw)
    logrho = p[0].expand(q[1].shape[:-1] + p[0].shape[-1:])
    cost = cost_matrix(q, p, reversed_=True)                           # (..., M, K)
    assign = match(cost)
    in_s = assign.sum(-1)
    rho = torch.exp(logrho) * in_s
    value = torch.sum(rho * (assign * cost).sum(-1), -1) / rho.sum(-1)
    return _penalised(value, torch.exp(q[0]), regularization)


def matched_bound(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """sum_S w_k [log(w_k / rho_sigma(k)) + C_k,sigma(k)] [+ lambda penalty] (M3)."""
    q = _weighted(q, weights, fixed_logw)
    logw = q[0]
    logrho = p[0].expand(q[1].shape[:-1] + p[0].shape[-1:])
    cost = cost_matrix(q, p)
    assign = match(cost)
    c = (assign * cost).sum(-1)
    in_s = assign.sum(-1)
    lr = (assign * logrho[..., None, :]).sum(-1)
    w = torch.exp(logw)
    return _penalised(torch.sum(in_s * w * (logw - lr + c), -1), w, regularization)


def reverse_kl(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """KL(q || p) of the mixtures by the periodic trapezoid rule (K1)."""
    return mixture_kl(_weighted(q, weights, fixed_logw), p, n)


def forward_kl(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """KL(p || q) of the mixtures by the periodic trapezoid rule (K2)."""
    return mixture_kl(p, _weighted(q, weights, fixed_logw), n)


def objective(name: str, q, p, weights: str = "trainable", fixed_logw=None, n: int | None = None,
              regularization: float = 0.0):
    """The registered circle objective `name` of q = (logw, mu, kappa) toward target p,
    shape (...); weights "fixed" uses `fixed_logw` (detached; default: q's own)."""
    from ...registry import objective as lookup

    loss = lookup("vonmises", name).load_torch_loss()
    return loss(q, p, weights=weights, fixed_logw=fixed_logw, n=n, regularization=regularization)


def mode_observables(q, p, n: int | None = None):
    """Circle collapse observables of q = (logw, mu, kappa) toward p (numpy-free tensors):

    mode_mass (..., M)     M_j = E_q[pi_j(theta)], pi_j = rho_j p_j / p  (quadrature)
    nearest (..., K)       target mode at the smallest angular distance from mu_k
    distance (..., K)      that angular distance times sqrt(kappa_j) (units of the mode's std)
    """
    logw_q, mu_q, kappa_q = q
    logw_p, mu_p, kappa_p = p
    if n is None:
        n = n_nodes(max(float(kappa_q.max()), float(kappa_p.max())))
    theta = grid(n, mu_q.dtype, mu_q.device)
    lq = mixture_log_pdf(theta, logw_q, mu_q, kappa_q)                        # (..., N)
    lcomp = logw_p[..., None, :] + log_pdf(theta[:, None], mu_p[..., None, :], kappa_p[..., None, :])
    lpi = lcomp - torch.logsumexp(lcomp, dim=-1, keepdim=True)                 # (..., N, M)
    mass = (TWO_PI / n) * torch.sum(torch.exp(lq[..., None] + lpi), dim=-2)
    diff = torch.remainder(mu_q[..., :, None] - mu_p[..., None, :] + math.pi, TWO_PI) - math.pi
    nearest = torch.argmin(diff.abs(), dim=-1)
    ang = torch.gather(diff.abs(), -1, nearest[..., None]).squeeze(-1)
    kap = torch.gather(kappa_p.expand(mu_q.shape[:-1] + kappa_p.shape[-1:]), -1, nearest)
    return mass, nearest, ang * torch.sqrt(kap)


# ------------------------------------------------------- f-divergences and W1 (FD1-FD4, W1)

def _log_densities(q, p, n):
    """(h, log q, log p) at the N trapezoid nodes, q and p = (logw, mu, kappa)."""
    if n is None:
        n = n_nodes(max(float(p[2].detach().max()), float(q[2].detach().max())))
    theta = grid(n, q[1].dtype, q[1].device)
    return TWO_PI / n, mixture_log_pdf(theta, *q), mixture_log_pdf(theta, *p)


def js(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """2 JS(p, q) - 2 log 2 = E_p[log D*] + E_q[log(1 - D*)], D* = p/(p+q) (FD3): the minimax
    GAN value at the optimal discriminator (by the envelope theorem its gradient is the
    generator's with D* held fixed)."""
    h, lq, lp = _log_densities(_weighted(q, weights, fixed_logw), p, n)
    ell = lp - lq
    return h * torch.sum(-torch.exp(lp) * torch.nn.functional.softplus(-ell)
                         - torch.exp(lq) * torch.nn.functional.softplus(ell), dim=-1)


def nonsaturating(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """The -log D generator loss with the discriminator D = p/(p+q) held fixed (FD4):
    E_q[-log D] with D detached, plus the constant E_p[-log D] - 2 log 2 (detached), so that
    the value is KL(q||p) - 2 JS(p, q) and the gradient is the GAN generator's,
    h sum_n (dq_n/dphi) (-log D_n)."""
    h, lq, lp = _log_densities(_weighted(q, weights, fixed_logw), p, n)
    minus_log_d = torch.nn.functional.softplus(lq - lp).detach()             # log(1 + q/p)
    generator = h * torch.sum(torch.exp(lq) * minus_log_d, dim=-1)
    constant = h * torch.sum(torch.exp(lp) * minus_log_d, dim=-1) - 2.0 * math.log(2.0)
    return generator + constant.detach()


def chi2(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """Pearson chi^2(p || q) = h sum_n (p^2/q - 2p + q)."""
    h, lq, lp = _log_densities(_weighted(q, weights, fixed_logw), p, n)
    return h * torch.sum(torch.exp(2.0 * lp - lq) - 2.0 * torch.exp(lp) + torch.exp(lq), dim=-1)


def hellinger(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """Squared Hellinger H^2(p, q) = h sum_n 1/2 (sqrt p - sqrt q)^2."""
    h, lq, lp = _log_densities(_weighted(q, weights, fixed_logw), p, n)
    return h * torch.sum(0.5 * (torch.exp(0.5 * lp) - torch.exp(0.5 * lq)) ** 2, dim=-1)


def alpha(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0, alpha=0.5):
    """Amari's alpha-divergence h sum_n (q expm1(alpha l) - alpha (p - q))/(alpha (alpha - 1)),
    l = log p - log q (alpha -> 0: KL(q||p), alpha -> 1: KL(p||q))."""
    h, lq, lp = _log_densities(_weighted(q, weights, fixed_logw), p, n)
    a = float(alpha)
    qn = torch.exp(lq)
    power = qn * torch.expm1(a * (lp - lq))                 # p^a q^(1-a) - q, accurate near a = 0, 1
    power = torch.where(torch.isfinite(power), power, torch.exp(a * lp + (1.0 - a) * lq) - qn)
    return h * torch.sum((power - a * (torch.exp(lp) - qn)) / (a * (a - 1.0)), dim=-1)


def _w1_median(d):
    """c* of each row of d (..., N) as a tensor: the level where the length of {D_lin > c} is
    half the circle, D_lin the periodic linear interpolant (numpy, detached: Danskin)."""
    import numpy as np

    arr = d.detach().cpu().numpy()
    flat = arr.reshape(-1, arr.shape[-1])
    out = np.empty(flat.shape[0])
    for r, row in enumerate(flat):
        a, b = row, np.roll(row, -1)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        slope = np.where(hi > lo, hi - lo, 1.0)

        def above(c, left=False):
            frac = np.where(hi > lo, np.clip((hi - c) / slope, 0.0, 1.0),
                            (c <= lo) if left else (c < lo))
            return float(frac.sum())

        v = np.sort(row)
        half = 0.5 * row.size
        if above(v[0]) <= half:
            out[r] = v[0]
            continue
        i, j = 0, row.size - 1
        while j - i > 1:
            m = (i + j) // 2
            if above(v[m]) > half:
                i = m
            else:
                j = m
        fa, fb = above(v[i]), above(v[j], left=True)
        out[r] = v[j] if fb > half or not v[j] > v[i] else v[i] + (fa - half) / (fa - fb) * (v[j] - v[i])
    return torch.as_tensor(out.reshape(arr.shape[:-1] + (1,)), dtype=d.dtype, device=d.device)


def wasserstein1(q, p, weights="trainable", fixed_logw=None, n=None, regularization=0.0):
    """W1 on the circle (W1): D = h cumsum(p - q), D_lin its periodic linear interpolant,
    c* its median held fixed (Danskin, W2), L = int |D_lin - c*| segment by segment:
    h |a + b| / 2 on one-signed segments, h (a^2 + b^2) / (2 |a - b|) on crossing ones."""
    h, lq, lp = _log_densities(_weighted(q, weights, fixed_logw), p, n)
    d = h * torch.cumsum(torch.exp(lp) - torch.exp(lq), dim=-1)
    cstar = _w1_median(d)
    a = d - cstar
    b = torch.roll(d, -1, dims=-1) - cstar
    cross = a * b < 0
    one_sign = 0.5 * h * torch.abs(a + b)
    crossing = 0.5 * h * (a * a + b * b) / torch.where(cross, torch.abs(a - b), torch.ones_like(a))
    return torch.sum(torch.where(cross, crossing, one_sign), dim=-1)

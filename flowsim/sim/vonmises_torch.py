"""Von Mises closed forms and circle objectives in torch (float64 by default, autograd-ready).

Symbols (notes/vonmises_pointcloud.md §1–§5; DESIGN.md §Objectives):

    theta          angle on the circle
    mu, kappa      von Mises mean and concentration, VM(theta; mu, kappa)
    A(kappa)       I1/I0 = i1e/i0e, mean resultant length
    w, rho         weights of the variational q (K components) and target p (M modes)
    C[k, j]        component cost KL(q_k || p_j)   (``matched``)  or
                   KL(p_j || q_k)                  (``matched_reversed``)
    sigma          a matching: component k <-> target mode sigma(k)

Losses are written with ``torch.special.i0e/i1e`` (differentiable), never with
``torch.distributions.VonMises`` (approximate log-normaliser, no KL; notes §1.4).

    kl(mu_p, kappa_p, mu_q, kappa_q)   KL(VM_p || VM_q), stable form of notes §1.2
    mixture_kl(p, q)                   KL(p || q) by the N-point periodic trapezoid rule
                                       in log space (notes §5.1)
    objective(name, q, p, weights)     the circle-flow objectives on batches of mixtures

A mixture is a triple (logw, mu, kappa) of tensors with shape (..., K); leading
dimensions are batch dimensions and broadcast.
"""
from __future__ import annotations

import itertools
import math
from functools import lru_cache

import torch

OBJECTIVES = ("matched", "matched_reversed", "matched_bound", "reverse_kl", "forward_kl")
TWO_PI = 2.0 * math.pi


def log_i0(kappa):
    """log I0(kappa) = log i0e(kappa) + |kappa| (no overflow; notes §1.3)."""
    return torch.log(torch.special.i0e(kappa)) + kappa.abs()


def bessel_ratio(kappa):
    """A(kappa) = I1/I0 = i1e/i0e."""
    return torch.special.i1e(kappa) / torch.special.i0e(kappa)


def kl(mu_p, kappa_p, mu_q, kappa_q):
    """KL(VM(mu_p, kappa_p) || VM(mu_q, kappa_q)), notes §1.2 stable form:

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


def n_nodes(kappa_max: float, minimum: int = 512) -> int:
    """Trapezoid nodes N = max(minimum, 16 sqrt(kappa_max)), rounded up to a multiple of 64."""
    n = max(minimum, int(math.ceil(16.0 * math.sqrt(max(float(kappa_max), 0.0)))))
    return 64 * int(math.ceil(n / 64))


def grid(n: int, dtype=torch.float64, device=None):
    """Equispaced nodes theta_n = -pi + 2 pi n / N."""
    return -math.pi + TWO_PI * torch.arange(n, dtype=dtype, device=device) / n


def mixture_kl(p, q, n: int | None = None):
    """KL(p || q) between von Mises mixtures p, q = (logw, mu, kappa), by the N-point periodic
    trapezoid rule in log space (notes §5.1): (2 pi / N) sum_n p(theta_n) (log p - log q)."""
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
    """All k! permutations as a (k!, k) long tensor."""
    return torch.tensor(_perm_list(k), dtype=torch.long, device=device)


def match(cost):
    """Minimum-cost assignment sigma (..., K) of rows k to columns sigma(k) of a square cost
    (..., K, K), by enumerating the K! permutations (exact; equals scipy's
    linear_sum_assignment up to ties, notes §4). The first minimiser wins ties."""
    k = cost.shape[-1]
    perms = permutations(k, cost.device)                       # (P, K)
    rows = torch.arange(k, device=cost.device)
    totals = cost.detach()[..., rows[None, :], perms].sum(-1)  # (..., P)
    best = torch.argmin(totals, dim=-1)
    return perms[best]


def split_target(p, k: int):
    """Re-express an M-mode target as K = r*M components (each mode split into r copies of
    weight rho_j / r), so that matching is a permutation. Identity when K = M."""
    logw, mu, kappa = p
    m = mu.shape[-1]
    if k == m:
        return p
    if k % m:
        raise ValueError(f"K: the number of components ({k}) must be a multiple of the number "
                         f"of target modes ({m})")
    r = k // m
    return (torch.repeat_interleave(logw - math.log(r), r, dim=-1),
            torch.repeat_interleave(mu, r, dim=-1), torch.repeat_interleave(kappa, r, dim=-1))


def matched_terms(q, p, reversed_: bool = False):
    """Per-component matched KLs c_k = C[k, sigma(k)] and the matching sigma (... , K).

    The matching minimises sum_k C[k, sigma(k)] on the unweighted cost (DESIGN.md
    §Objectives); gradients flow through the matched entries only (Danskin, notes §4)."""
    logw_q, mu_q, kappa_q = q
    p = split_target(p, mu_q.shape[-1])
    logw_p, mu_p, kappa_p = p
    mq, kq = mu_q[..., :, None], kappa_q[..., :, None]
    mp, kp = mu_p[..., None, :], kappa_p[..., None, :]
    cost = kl(mp, kp, mq, kq) if reversed_ else kl(mq, kq, mp, kp)   # (..., K, K)
    sigma = match(cost)
    c = torch.gather(cost, -1, sigma[..., None]).squeeze(-1)
    return c, sigma, torch.gather(logw_p.expand_as(logw_q), -1, sigma)


def objective(name: str, q, p, weights: str = "trainable", fixed_logw=None, n: int | None = None):
    """The circle-flow objective `name` of q = (logw, mu, kappa) toward target p, shape (...).

    matched            sum_k w_k KL(q_k || p_sigma(k))
    matched_reversed   sum_k w_k KL(p_sigma(k) || q_k)
    matched_bound      sum_k w_k [log(w_k / rho_sigma(k)) + KL(q_k || p_sigma(k))]
    reverse_kl         KL(q || p) (mixtures, quadrature)
    forward_kl         KL(p || q)

    weights "fixed" replaces q's weights by `fixed_logw` (detached; default: q's own) so
    no gradient reaches them.
    """
    if name not in OBJECTIVES:
        raise ValueError(f"objective: must be one of {OBJECTIVES}, got {name!r}")
    logw = q[0]
    if weights == "fixed":
        logw = (logw if fixed_logw is None else fixed_logw).detach().expand_as(q[1])
    elif weights != "trainable":
        raise ValueError(f"weights: must be 'trainable' or 'fixed', got {weights!r}")
    q = (logw, q[1], q[2])
    if name in ("reverse_kl", "forward_kl"):
        return mixture_kl(q, p, n) if name == "reverse_kl" else mixture_kl(p, q, n)
    c, _, logrho = matched_terms(q, p, reversed_=(name == "matched_reversed"))
    w = torch.exp(logw)
    if name == "matched_bound":
        return torch.sum(w * (logw - logrho + c), dim=-1)
    return torch.sum(w * c, dim=-1)


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

"""Monte Carlo variational inference for isotropic Gaussian mixtures in R^d (issue 5, item 1).

Full d-dimensional training of q = sum_k w_k N(nu_k, v I_d) toward the target
p = sum_j rho_j N(mu_j, tau I_d), w = softmax(theta), with reparameterised samples

    x_ki = nu_k + sqrt(v) eps_ki,  eps_ki ~ N(0, I_d),  i = 1..n   (a batch of n per component)
    L_hat = sum_k w_k (1/n) sum_i [log q(x_ki) - log p(x_ki)]       (reverse_kl)
    L_hat = sum_j rho_j (1/n) sum_i [log p(y_ji) - log q(y_ji)],  y_ji ~ p_j   (forward_kl)

and plain gradient descent theta, nu <- theta, nu - eta grad L_hat (t = eta * steps is
the gradient-flow time of flowsim.models.gaussian_*), or Adam. S seeds run as one batch;
each seed has its own stream of draws from one torch.Generator seeded by `seed`.

Recorded on the flow's time grid, per seed: the overlaps of flowsim.models.gaussian_family,

    m_k  = <nu_k - mu_1, mu_2 - mu_1>,   Q_kl = <nu_k - mu_1, nu_l - mu_1>,   weights w_k,

and the collapse observables (mode masses, nearest mode, distances, exact KLs), measured
by the family's own `observe` on the simulated vectors so both sides share one
definition. Squared distances are expanded around x - nu_k = sqrt(v) eps (no
cancellation in d = 1000).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .device import generator, pick_device
from .record import Record, stack

OBJECTIVES = ("reverse_kl", "forward_kl")


def _log_mix(logw, sq, var, d):
    """log sum_j w_j N(x; c_j, var I_d) from squared distances sq (..., J)."""
    return torch.logsumexp(logw - 0.5 * sq / var, dim=-1) - 0.5 * d * math.log(2 * math.pi * var)


def reverse_kl_estimate(theta, nu, mu, log_rho, v, tau, eps, estimator="stl"):
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


def forward_kl_estimate(theta, nu, mu, log_rho, v, tau, eps):
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


def overlaps(nu, mu):
    """m (S,K) = <nu_k - mu_1, mu_2 - mu_1> (zeros if M = 1) and Q (S,K,K)."""
    u = nu - mu[0]
    Q = torch.einsum("skd,sld->skl", u, u)
    m = u @ (mu[1] - mu[0]) if mu.shape[0] > 1 else torch.zeros(u.shape[:2], dtype=u.dtype)
    return m, Q


def observe_family(target, nu, w, var, objective):
    """Collapse observables of each seed's q, by flowsim.models.gaussian_family (exact in d)."""
    from ..gaussian import GaussianMixture
    from ..models import gaussian_family

    frames = []
    for s in range(nu.shape[0]):
        q = GaussianMixture(nu[s], w[s] / w[s].sum(), var)
        problem = gaussian_family.build(target, q, objective=objective, weights="trainable")
        o = problem.family.observe(problem, [0.0], problem.y0[None, :])
        frames.append({"mode_mass": o.mode_mass[0], "nearest_mode": o.nearest_mode[0],
                       "distance": o.distance[0], "objective": o.objective[0],
                       "reverse_kl": o.reverse_kl[0], "forward_kl": o.forward_kl[0]})
    return {k: np.stack([f[k] for f in frames]) for k in frames[0]}


def run(target, init, *, objective="reverse_kl", weights="trainable", lr, n, t_eval,
        n_seeds=8, seed=0, optimizer="gd", estimator="stl", device=None, observe=True) -> Record:
    """Train S = n_seeds copies of `init` (a GaussianMixture) toward `target` from the same
    start with independent Monte Carlo draws; record at steps round(t / lr).

    Returns a Record with variables m, Q, weights, theta (and the diagnostics observables
    when `observe`); run s of the Record is seed s.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: must be one of {OBJECTIVES}, got {objective!r}")
    if weights not in ("trainable", "fixed"):
        raise ValueError(f"weights: must be 'trainable' or 'fixed', got {weights!r}")
    if optimizer not in ("gd", "adam"):
        raise ValueError(f"optimizer: must be 'gd' or 'adam', got {optimizer!r}")
    if estimator not in ("stl", "total"):
        raise ValueError(f"estimator: must be 'stl' or 'total', got {estimator!r}")
    device = device if isinstance(device, torch.device) else pick_device(device)
    f64 = dict(dtype=torch.float64, device=device)
    gen = generator(seed, device)
    mu = torch.as_tensor(target.means, **f64)
    log_rho = torch.log(torch.as_tensor(target.weights, **f64))
    v, tau = float(init.var), float(target.var)
    S, (K, d), M = int(n_seeds), init.means.shape, target.n_components
    nu = torch.as_tensor(init.means, **f64).expand(S, K, d).clone().requires_grad_(True)
    theta = torch.log(torch.as_tensor(init.weights, **f64)).expand(S, K).clone()
    theta.requires_grad_(weights == "trainable")
    params = [nu, theta] if weights == "trainable" else [nu]
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else None
    n_draw = K if objective == "reverse_kl" else M
    t_eval = np.asarray(t_eval, dtype=float)
    steps = np.rint(t_eval / lr).astype(int)
    frames, step = [], 0
    for target_step in steps:
        while step < target_step:
            eps = torch.randn((S, n_draw, int(n), d), generator=gen, **f64)
            if objective == "reverse_kl":
                loss = reverse_kl_estimate(theta, nu, mu, log_rho, v, tau, eps, estimator).sum()
            else:
                loss = forward_kl_estimate(theta, nu, mu, log_rho, v, tau, eps).sum()
            grads = torch.autograd.grad(loss, params)
            if opt is None:
                with torch.no_grad():
                    for prm, g in zip(params, grads):
                        prm -= lr * g
            else:
                opt.zero_grad()
                for prm, g in zip(params, grads):
                    prm.grad = g
                opt.step()
            step += 1
        with torch.no_grad():
            m, Q = overlaps(nu, mu)
            frame = {"m": m, "Q": Q, "weights": torch.softmax(theta, -1), "theta": theta}
            frame = {k: x.detach().cpu().numpy().copy() for k, x in frame.items()}
        if observe:
            frame.update(observe_family(target, nu.detach().cpu().numpy(), frame["weights"], v, objective))
        frames.append(frame)
    return Record(steps * lr, stack(frames), np.asarray(target.weights, float),
                  {"kind": "gaussian_vi", "objective": objective, "weights": weights, "lr": lr,
                   "n": int(n), "optimizer": optimizer, "estimator": estimator, "dim": int(d), "seed": int(seed)})

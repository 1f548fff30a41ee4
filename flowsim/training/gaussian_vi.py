"""Monte Carlo variational inference for isotropic Gaussian mixtures in R^d.

Full d-dimensional training of q = sum_k w_k N(nu_k, v I_d) toward the target
p = sum_j rho_j N(mu_j, tau I_d), w = softmax(theta), with reparameterised samples

    x_ki = nu_k + sqrt(v) eps_ki,  eps_ki ~ N(0, I_d),  i = 1..n   (a batch of n per component)
    L_hat = sum_k w_k (1/n) sum_i [log q(x_ki) - log p(x_ki)]       (reverse_kl)
    L_hat = sum_j rho_j (1/n) sum_i [log p(y_ji) - log q(y_ji)],  y_ji ~ p_j   (forward_kl)

and plain gradient descent theta, nu <- theta, nu - eta grad L_hat (t = eta * steps is
the gradient-flow time of flowsim.families.gaussian), or Adam, or the natural gradient
in the block-diagonal mixture Fisher (docs/derivations.md, A3; optimizer="natural"):
nu_k <- nu_k - eta (v / w_k) grad_nu_k L_hat, theta_k <- theta_k - eta (1 / w_k) grad_theta_k L_hat
(the explicit-Euler discretisation of the flow with geometry="natural"; v is not trained
here, so its entry 2/d is not needed). With a temperature
schedule (`schedule=`, flowsim.schedule; reverse_kl only) the step at time t = eta * step
descends the annealed estimate (docs/derivations.md, B1)

    L_hat_beta = sum_k w_k (1/n) sum_i [log q(x_ki) - beta(t) log p(x_ki)]
               = L_hat + (1 - beta(t)) sum_k w_k (1/n) sum_i log p(x_ki)     (same draws)

as the flow's annealed kernels do; without one (the default) nothing changes. S seeds run as one batch;
each seed has its own stream of draws from one torch.Generator seeded by `seed`.

Recorded on the flow's time grid, per seed: the overlaps of flowsim.families.gaussian.family,

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
from ..families.gaussian.torch_losses import forward_kl as forward_kl_estimate
from ..families.gaussian.torch_losses import reverse_kl as reverse_kl_estimate
from .record import Record, stack

OBJECTIVES = ("reverse_kl", "forward_kl")


def overlaps(nu, mu):
    """m (S,K) = <nu_k - mu_1, mu_2 - mu_1> (zeros if M = 1) and Q (S,K,K)."""
    u = nu - mu[0]
    Q = torch.einsum("skd,sld->skl", u, u)
    m = u @ (mu[1] - mu[0]) if mu.shape[0] > 1 else torch.zeros(u.shape[:2], dtype=u.dtype)
    return m, Q


def log_p_term(theta, nu, mu, log_rho, v, tau, eps):
    """sum_k w_k (1/n) sum_i log p(x_ki) per seed (S,), x_ki = nu_k + sqrt(v) eps_ki: the
    E_q[log p] part of the reverse-KL estimate (the distances expanded as in
    torch_losses.reverse_kl, so d = 1000 loses nothing to cancellation)."""
    d = nu.shape[-1]
    dp = nu[:, :, None, :] - mu[None, None, :, :]                            # (S,K,M,d)
    sq = (v * (eps * eps).sum(-1)[..., None] + 2 * math.sqrt(v) * torch.einsum("sknd,skjd->sknj", eps, dp)
          + (dp * dp).sum(-1)[:, :, None, :])                                 # (S,K,n,M)
    log_p = torch.logsumexp(log_rho - 0.5 * sq / tau, dim=-1) - 0.5 * d * math.log(2 * math.pi * tau)
    return torch.sum(torch.softmax(theta, -1) * log_p.mean(-1), -1)


def observe_family(target, nu, w, var, objective):
    """Collapse observables of each seed's q, by flowsim.families.gaussian.family (exact in d)."""
    from ..families.gaussian.mixture import GaussianMixture
    from ..families.gaussian import family as gaussian_family

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
        n_seeds=8, seed=0, optimizer="gd", estimator="stl", device=None, observe=True,
        schedule=None, weight_prior=None) -> Record:
    """Train S = n_seeds copies of `init` (a GaussianMixture) toward `target` from the same
    start with independent Monte Carlo draws; record at steps round(t / lr).

    schedule: None (plain reverse or forward KL), or {kind, beta0, rate} of
    flowsim.schedule (reverse_kl only): the step at t = lr * step weights the log p term
    by beta(t) (module docstring).

    weights: "trainable", "fixed", or "regularised": trainable, with the loss plus
    weight_prior * KL(u || w), the symmetric Dirichlet prior of flowsim.weight_modes
    (docs/derivations.md P1), computed exactly (no sampling).

    Returns a Record with variables m, Q, weights, theta (and the diagnostics observables
    when `observe`); run s of the Record is seed s.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: must be one of {OBJECTIVES}, got {objective!r}")
    from ..weight_modes import check_weight_mode, kl_from_uniform, trains_logits

    prior = check_weight_mode(weights, {} if weight_prior is None else {"weight_prior": weight_prior})
    trainable = trains_logits(weights)
    if optimizer not in ("gd", "adam", "natural"):
        raise ValueError(f"optimizer: must be 'gd', 'adam' or 'natural', got {optimizer!r}")
    if estimator not in ("stl", "total"):
        raise ValueError(f"estimator: must be 'stl' or 'total', got {estimator!r}")
    if schedule is not None:
        from ..schedule import KINDS, beta_at, check_schedule

        if objective != "reverse_kl":
            raise ValueError(f"schedule: the objective {objective!r} has no annealed form (only "
                             "the reverse KL anneals: L = E_q[log q] - beta(t) E_q[log p])")
        schedule = check_schedule(schedule)
        code = float(KINDS[schedule["kind"]])
    device = device if isinstance(device, torch.device) else pick_device(device)
    f64 = dict(dtype=torch.float64, device=device)
    gen = generator(seed, device)
    mu = torch.as_tensor(target.means, **f64)
    log_rho = torch.log(torch.as_tensor(target.weights, **f64))
    v, tau = float(init.var), float(target.var)
    S, (K, d), M = int(n_seeds), init.means.shape, target.n_components
    nu = torch.as_tensor(init.means, **f64).expand(S, K, d).clone().requires_grad_(True)
    theta = torch.log(torch.as_tensor(init.weights, **f64)).expand(S, K).clone()
    theta.requires_grad_(trainable)
    params = [nu, theta] if trainable else [nu]
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
                if schedule is not None:
                    beta = beta_at(step * lr, code, schedule["beta0"], schedule["rate"])
                    if beta != 1.0:
                        loss = loss + (1.0 - beta) * log_p_term(theta, nu, mu, log_rho, v, tau, eps).sum()
            else:
                loss = forward_kl_estimate(theta, nu, mu, log_rho, v, tau, eps).sum()
            if prior is not None:
                loss = loss + prior * kl_from_uniform(torch.log_softmax(theta, -1)).sum()
            grads = torch.autograd.grad(loss, params)
            if optimizer == "natural":
                with torch.no_grad():
                    w = torch.softmax(theta, -1)                   # (S, K); fixed: init's weights
                    nu -= lr * (v / w)[..., None] * grads[0]
                    if trainable:
                        theta -= lr * grads[1] / w
            elif opt is None:
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
                   **({} if prior is None else {"weight_prior": prior}),
                   "n": int(n), "optimizer": optimizer, "estimator": estimator, "dim": int(d), "seed": int(seed),
                   **({} if schedule is None else {"schedule": schedule})})

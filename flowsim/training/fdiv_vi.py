"""Monte Carlo gradient descent on an f-divergence of isotropic Gaussian mixtures in R^d.

The torch counterpart of the flows of flowsim.families.gaussian.objectives.fdivergence:
q = Σ_k w_k N(ν_k, v I_d) (v fixed), p = Σ_j ρ_j N(μ_j, τ I_d), w = softmax(θ), and the
objective's registered torch loss (flowsim.families.gaussian.torch_losses: js,
nonsaturating, chi2, hellinger, alpha), a reparameterised estimate

    L_hat = Σ_k w_k (1/n) Σ_i f(p/q (ν_k + √v ε_ki)),   ε_ki ~ N(0, I_d),

minimised by plain gradient descent θ, ν ← θ, ν − η ∇L_hat on its autograd (pathwise)
gradient, so t = η · steps is the flow's time (docs/derivations.md, conventions). S seeds
run as one batch, each with its own stream from one torch.Generator seeded by `seed`.

Recorded at the saved times, per seed: the overlaps m_k = <ν_k − μ_1, μ_2 − μ_1>,
Q_kl = <ν_k − μ_1, ν_l − μ_1>, the weights and logits, and (with `observe`) the collapse
observables measured by the Gaussian family's own `observe` (objective = the exact D_f).
"""
from __future__ import annotations

import numpy as np
import torch

from .device import generator, pick_device
from .gaussian_vi import overlaps
from .record import Record, stack

OBJECTIVES = ("js", "nonsaturating", "chi2", "hellinger", "alpha")


def observe_family(target, nu, w, var, objective, options):
    """Collapse observables of each seed's q by flowsim.families.gaussian (exact in d)."""
    from ..families.gaussian.mixture import GaussianMixture
    from ..api import build_problem

    frames = []
    for s in range(nu.shape[0]):
        q = GaussianMixture(nu[s], w[s] / w[s].sum(), var)
        problem = build_problem(target, q, objective=objective, weights="trainable", **options)
        o = problem.family.observe(problem, [0.0], problem.y0[None, :])
        frames.append({"mode_mass": o.mode_mass[0], "nearest_mode": o.nearest_mode[0],
                       "distance": o.distance[0], "objective": o.objective[0],
                       "reverse_kl": o.reverse_kl[0], "forward_kl": o.forward_kl[0]})
    return {k: np.stack([f[k] for f in frames]) for k in frames[0]}


def run(target, init, *, objective, weights="trainable", lr, n, t_eval, n_seeds=8, seed=0,
        alpha=None, device=None, observe=False, observe_options=None) -> Record:
    """Train S = n_seeds copies of `init` (a GaussianMixture) toward `target` by plain GD on
    the Monte Carlo f-divergence `objective`; record at steps round(t / lr).

    alpha: the α of objective "alpha" (default: the loss's own, 0.5). Returns a Record with
    m, Q, weights, theta (and, with `observe`, the diagnostics observables; their objective
    is the exact D_f computed with `observe_options`, e.g. {"n_cubature": 24})."""
    from ..registry import objective as lookup

    if objective not in OBJECTIVES:
        raise ValueError(f"objective: must be one of {OBJECTIVES}, got {objective!r}")
    if weights not in ("trainable", "fixed"):
        raise ValueError(f"weights: must be 'trainable' or 'fixed', got {weights!r}")
    if alpha is not None and objective != "alpha":
        raise ValueError(f"alpha: only objective 'alpha' takes it, got objective {objective!r}")
    loss_fn = lookup("gaussian", objective).load_torch_loss()
    extra = {} if alpha is None else {"alpha": float(alpha)}
    device = device if isinstance(device, torch.device) else pick_device(device)
    f64 = dict(dtype=torch.float64, device=device)
    gen = generator(seed, device)
    mu = torch.as_tensor(target.means, **f64)
    log_rho = torch.log(torch.as_tensor(target.weights, **f64))
    v, tau = float(init.var), float(target.var)
    S, (K, d) = int(n_seeds), init.means.shape
    nu = torch.as_tensor(init.means, **f64).expand(S, K, d).clone().requires_grad_(True)
    theta = torch.log(torch.as_tensor(init.weights, **f64)).expand(S, K).clone()
    theta.requires_grad_(weights == "trainable")
    params = [nu, theta] if weights == "trainable" else [nu]
    t_eval = np.asarray(t_eval, dtype=float)
    steps = np.rint(t_eval / lr).astype(int)
    options = {**(observe_options or {}), **({} if alpha is None else {"alpha": float(alpha)})}
    frames, step = [], 0
    for target_step in steps:
        while step < target_step:
            eps = torch.randn((S, K, int(n), d), generator=gen, **f64)
            loss = loss_fn(theta, nu, mu, log_rho, v, tau, eps, **extra).sum()
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for prm, g in zip(params, grads):
                    prm -= lr * g
            step += 1
        with torch.no_grad():
            m, Q = overlaps(nu, mu)
            frame = {"m": m, "Q": Q, "weights": torch.softmax(theta, -1), "theta": theta}
            frame = {k: x.detach().cpu().numpy().copy() for k, x in frame.items()}
        if observe:
            frame.update(observe_family(target, nu.detach().cpu().numpy(), frame["weights"], v,
                                        objective, options))
        frames.append(frame)
    return Record(steps * lr, stack(frames), np.asarray(target.weights, float),
                  {"kind": "fdiv_vi", "objective": objective, "weights": weights, "lr": lr,
                   "n": int(n), "dim": int(d), "seed": int(seed),
                   **({} if alpha is None else {"alpha": float(alpha)})})

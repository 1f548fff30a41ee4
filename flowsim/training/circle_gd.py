"""Parameter-only training on the circle: gradient descent on (logits, mu, log kappa).

The state of a run is the circle flow's state y = [z (K), mu (K), log kappa (K)]
(w = softmax z). Plain gradient descent with step eta,

    y_{s+1} = y_s - eta * grad_y L(y_s),        saved at t = eta * s,

is the explicit-Euler discretisation of the circle flow dy/dt = -grad L, so at small
eta it must reproduce `flowsim.simulate(..., objective=...)` (docs/design.md,
conventions: t = learning rate x steps). L is any registered circle objective's torch
loss, differentiated by autograd; many runs (initial points) are advanced together as a
batch (B, 3K). Adam is an option
(then t = eta * steps is only a clock, not gradient-flow time), and so is the natural
gradient in the block-diagonal mixture Fisher (docs/derivations.md, A3),

    y_{s+1} = y_s - eta * F(y_s)^-1 grad_y L(y_s),   F^-1 = diag(natural_scale(y_s)),

the explicit-Euler discretisation of the flow with geometry="natural".
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..families.vonmises import torch_losses as V
from .device import pick_device
from .record import Record, stack
from ..weight_modes import kl_from_uniform


def as_target(target, dtype=torch.float64, device=None):
    """(log rho, mu, kappa) tensors from a VonMisesMixture-like object or a (rho, mu, kappa) triple."""
    if hasattr(target, "kappa"):
        rho, mu, kappa = target.weights, target.mu, target.kappa
    else:
        rho, mu, kappa = target
    f = lambda a: torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype, device=device)
    return torch.log(f(rho)), f(mu), f(kappa)


def init_state(init, dtype=torch.float64, device=None) -> torch.Tensor:
    """State y = [log w, mu, log kappa] (B, 3K) from a mixture or (w, mu, kappa) arrays (K,) or (B, K)."""
    if hasattr(init, "kappa"):
        w, mu, kappa = init.weights, init.mu, init.kappa
    else:
        w, mu, kappa = init
    w, mu, kappa = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (w, mu, kappa))
    y = np.concatenate([np.log(w), mu, np.log(kappa)], axis=-1)
    return torch.as_tensor(y, dtype=dtype, device=device)


def unpack(y: torch.Tensor):
    """y (..., 3K) -> q = (log w, mu, kappa)."""
    k = y.shape[-1] // 3
    z, mu, logk = y[..., :k], y[..., k:2 * k], y[..., 2 * k:]
    return torch.log_softmax(z, dim=-1), mu, torch.exp(logk)


def loss(y, target, objective, weights="trainable", fixed_logw=None, n=None, weight_prior=None):
    """Objective per batch row, shape (B,); weights "regularised" adds the Dirichlet prior
    weight_prior * KL(u || w) (docs/derivations.md, P1) to the trainable objective."""
    q = unpack(y)
    if weights != "regularised":
        return V.objective(objective, q, target, weights=weights, fixed_logw=fixed_logw, n=n)
    return V.objective(objective, q, target, weights="trainable", n=n) + weight_prior * kl_from_uniform(q[0])


def gradient(y, target, objective, weights="trainable", fixed_logw=None, n=None, weight_prior=None):
    """grad_y L per row (rows are independent, so grad of the sum is the batch of gradients)."""
    y = y.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(y, target, objective, weights, fixed_logw, n, weight_prior).sum(), y)
    return g


def observe(y, target, objective, weights="trainable", fixed_logw=None, n=None, weight_prior=None) -> dict:
    """Observables of every row (numpy, shapes (B, ...)), the flow's circle variables
    included; `objective` is the loss that `loss` trains (the prior's term included)."""
    with torch.no_grad():
        logw, mu, kappa = unpack(y)
        if weights == "fixed" and fixed_logw is not None:
            logw = fixed_logw.expand_as(mu)
        q = (logw, mu, kappa)
        mass, nearest, dist = V.mode_observables(q, target, n)
        out = {
            "weights": torch.exp(logw), "mu": torch.remainder(mu + math.pi, 2 * math.pi) - math.pi,
            "kappa": kappa, "mode_mass": mass, "nearest_mode": nearest, "distance": dist,
            "objective": V.objective(objective, q, target, "trainable", n=n)
            + (weight_prior * kl_from_uniform(logw) if weights == "regularised" else 0.0),
            "reverse_kl": V.mixture_kl(q, target, n), "forward_kl": V.mixture_kl(target, q, n),
        }
    return {k: v.detach().cpu().numpy() for k, v in out.items()}


def natural_scale(y: torch.Tensor) -> torch.Tensor:
    """The inverse block-diagonal Fisher F^-1 (docs/derivations.md, A3) at y (B, 3K), in
    torch: logit k 1/w_k, mu_k 1/(w_k kappa_k A(kappa_k)), log kappa_k
    1/(w_k kappa_k^2 A'(kappa_k)), A' = 1 - A/kappa - A^2 (the formulas of
    flowsim.families.vonmises.params.natural_scale; w = softmax of the logits in y)."""
    k = y.shape[-1] // 3
    w = torch.softmax(y[..., :k], -1)
    kappa = torch.exp(y[..., 2 * k:])
    a = V.bessel_ratio(kappa)
    a_prime = 1.0 - a / kappa - a * a
    return torch.cat([1.0 / w, 1.0 / (w * kappa * a), 1.0 / (w * kappa * kappa * a_prime)], -1)


def run(target, init, *, objective, weights="trainable", lr, t_eval, optimizer="gd",
        n_nodes=None, device=None, dtype=torch.float64, weight_prior=None) -> Record:
    """Train q's parameters directly on `objective`; record at the steps round(t / lr).

    weights: "trainable", "fixed", or "regularised": trainable, with the loss plus
    weight_prior * KL(u || w), the symmetric Dirichlet prior of flowsim.weight_modes
    (docs/derivations.md P1).

    optimizer: "gd" (plain gradient descent, the default), "adam" (torch.optim.Adam at lr,
    its default betas and eps) or "natural" (y -= lr * natural_scale(y) * grad).

    `init` may hold a batch (B, K) of initial mixtures; each row is one run of the Record.
    Returns a Record with variables weights, mu, kappa, mode_mass, ..., and `state` (3K).
    """
    from ..weight_modes import check_weight_mode

    prior = check_weight_mode(weights, {} if weight_prior is None else {"weight_prior": weight_prior})
    device = pick_device(device) if not isinstance(device, torch.device) else device
    p = as_target(target, dtype, device)
    y = init_state(init, dtype, device)
    k = y.shape[-1] // 3
    fixed_logw = torch.log_softmax(y[:, :k], -1).detach() if weights == "fixed" else None
    if n_nodes is None:
        n_nodes = V.n_nodes(max(float(p[2].max()), float(torch.exp(y[:, 2 * k:]).max()) * 4))
    t_eval = np.asarray(t_eval, dtype=float)
    steps = np.rint(t_eval / lr).astype(int)
    if optimizer not in ("gd", "adam", "natural"):
        raise ValueError(f"optimizer: must be 'gd', 'adam' or 'natural', got {optimizer!r}")
    y = y.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=lr) if optimizer == "adam" else None
    frames, step = [], 0
    for target_step in steps:
        while step < target_step:
            g = gradient(y, p, objective, weights, fixed_logw, n_nodes, prior)
            if weights == "fixed":
                g[:, :k] = 0.0
            if optimizer == "natural":
                with torch.no_grad():
                    y -= lr * g * natural_scale(y)
            elif opt is None:
                with torch.no_grad():
                    y -= lr * g
            else:
                opt.zero_grad()
                y.grad = g
                opt.step()
            step += 1
        obs = observe(y.detach(), p, objective, weights, fixed_logw, n_nodes, prior)
        obs["state"] = y.detach().cpu().numpy().copy()
        frames.append(obs)
    rho = np.exp(p[0].cpu().numpy())
    return Record(steps * lr, stack(frames), rho,
                  {"objective": objective, "weights": weights, "lr": lr, "optimizer": optimizer,
                   **({} if prior is None else {"weight_prior": prior}), "kind": "circle_gd"})

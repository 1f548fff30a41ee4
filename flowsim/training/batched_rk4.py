"""Fixed-step classic RK4 over a batch of parameter points in torch.

    rk4(f, y0, t_eval, dt) -> states (T, B, n)

integrates dy/dt = f(t, y) for B independent points at once (float64; on a GPU when
the tensors live there), stepping exactly like flowsim.integrate's fixed-step loop:
steps of dt, the step that would reach or pass the next saved time within
dt (1 + SNAP) is shortened to land on it. The same points therefore give the same
states as `flowsim.integrate.integrate(rhs, y0, p, t_eval, method="rk4", dt=dt)` up
to round-off.

`circle_rhs(target, objective, weights)` is the circle flow's right-hand side
-grad_y L(y) by autograd of the torch objectives (flowsim.families.vonmises.torch_losses), batched
over points; the target may be shared (M,) or per point (B, M). The Gaussian two-mode
flow's batched right-hand side is flowsim.training.gaussian_overlaps_torch.two_mode_rhs.
"""
from __future__ import annotations

import numpy as np
import torch

from ..families.vonmises import torch_losses as V
from .circle_gd import unpack

SNAP = 1e-9   # as flowsim.integrate.kernels.SNAP


def rk4(f, y0, t_eval, dt: float):
    """States (T, B, n) at t_eval (sorted, >= 0) of dy/dt = f(t, y), y0 (B, n)."""
    t_eval = np.asarray(t_eval, dtype=float)
    y = y0.clone()
    out = torch.empty((len(t_eval),) + tuple(y0.shape), dtype=y0.dtype, device=y0.device)
    t, j = 0.0, 0
    while j < len(t_eval) and t_eval[j] <= t:
        out[j] = y
        j += 1
    while j < len(t_eval):
        target = t_eval[j]
        if target - t <= dt * (1.0 + SNAP):
            h, t_new = target - t, target
        else:
            h, t_new = dt, t + dt
        k1 = f(t, y)
        k2 = f(t + 0.5 * h, y + 0.5 * h * k1)
        k3 = f(t + 0.5 * h, y + 0.5 * h * k2)
        k4 = f(t + h, y + h * k3)
        y = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        t = t_new
        while j < len(t_eval) and t_eval[j] <= t:
            out[j] = y
            j += 1
    return out


def circle_rhs(target, objective: str, weights: str = "trainable", n_quad: int | None = None):
    """f(t, y) = -grad_y L(y) for states y (B, 3K) = [z, mu, log kappa] (w = softmax z)."""
    log_rho, mu_p, kappa_p = target

    def f(t, y):
        k = y.shape[-1] // 3
        with torch.enable_grad():
            y = y.detach().requires_grad_(True)
            logw, mu, kappa = unpack(y)
            fixed = logw.detach() if weights == "fixed" else None
            loss = V.objective(objective, (logw, mu, kappa), (log_rho, mu_p, kappa_p),
                               weights=weights, fixed_logw=fixed, n=n_quad)
            (g,) = torch.autograd.grad(loss.sum(), y)
        if weights == "fixed":
            g = torch.cat([torch.zeros_like(g[:, :k]), g[:, k:]], dim=-1)
        return -g

    return f

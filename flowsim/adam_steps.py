"""Adam's own recursion on a flow's exact gradient (docs/derivations.md, A2b).

The flow `adam_ode` (A2) models Adam at a learning rate η; the recursion it models costs
one gradient per step, t / η of them to reach time t. Where Adam oscillates about an
optimum instead of settling, the flow must follow each oscillation, and on states of
hundreds of coordinates Radau IIA then pays a dense factorisation per step: a Gaussian
pair at d = 128 takes 12 minutes to hours per run, where the recursion takes seconds.
`adam_steps` runs the recursion in a compiled loop on the gradient −rhs of a euclidean
Problem, with torch.optim.Adam's arithmetic (tests/test_adam_steps.py compares the two).
"""
from __future__ import annotations

import math

import numpy as np
from numba import types

from .geometry import geometry
from .integrate.solver import RHS_TYPE, RhsPointer, compiled_once
from .integrate.status import NON_FINITE, OK
from .numerics.jit import kernel
from .validation import check_times

ADAM = geometry("adam_ode")
BETAS = ADAM.parameters["betas"].default
EPS = ADAM.parameters["eps"].default
SIGNATURE = (RHS_TYPE, types.float64[::1], types.float64[::1], types.int64[::1], types.float64,
             types.float64, types.float64, types.float64, types.float64[:, ::1])


@kernel
def iterate(rhs, y0, p, save_steps, lr, beta1, beta2, eps, out):
    """Adam from y0 with m = v = 0 (A2b): at step k = 1, 2, ... with g = −rhs(η(k − 1), y),

        m ← m + (1 − β₁)(g − m),   v ← β₂ v + (1 − β₂) g²,
        y ← y − (η / (1 − β₁^k)) m / (√v / √(1 − β₂^k) + ε);

    out[j] is y after save_steps[j] steps. Returns (status, steps taken): NON_FINITE at
    the first non-finite gradient or state, the rows not reached left as they were."""
    n = y0.shape[0]
    y = y0.copy()
    g = np.empty(n)
    m = np.zeros(n)
    v = np.zeros(n)
    k = 0
    for j in range(save_steps.shape[0]):
        while k < save_steps[j]:
            rhs(lr * k, y, p, g)
            k += 1
            step_size = lr / (1.0 - beta1 ** k)
            root2 = math.sqrt(1.0 - beta2 ** k)
            finite = True
            for i in range(n):
                grad = -g[i]
                m[i] += (1.0 - beta1) * (grad - m[i])
                v[i] = v[i] * beta2 + (1.0 - beta2) * grad * grad
                y[i] -= step_size * (m[i] / (math.sqrt(v[i]) / root2 + eps))
                if not (math.isfinite(y[i]) and math.isfinite(grad)):
                    finite = False
            if not finite:
                return NON_FINITE, k
        out[j] = y
    return OK, k


def adam_steps(problem, lr: float, t_eval, betas=BETAS, eps: float = EPS):
    """Adam at learning rate `lr` on the exact gradient of a euclidean Problem (∇L =
    −problem.rhs), from problem.y0. Returns (states, status, steps): states (T, n) after
    round(t / lr) steps for each t of `t_eval` (NaN rows past a NON_FINITE stop). lr,
    betas and eps are checked as the adam_ode geometry checks them, and default as it does."""
    values = ADAM.options({"lr": lr, "betas": betas, "eps": eps})
    lr, (b1, b2), eps = values["lr"], values["betas"], values["eps"]
    if problem.meta.get("geometry", "euclidean") != "euclidean":
        raise ValueError(f"problem: adam_steps needs a euclidean problem, got geometry "
                         f"{problem.meta['geometry']!r}")
    t_eval = check_times("t_eval", t_eval, np.inf)
    save_steps = np.rint(t_eval / lr).astype(np.int64)
    out = np.full((t_eval.size, problem.y0.size), np.nan)
    run = compiled_once(iterate, SIGNATURE)
    status, steps = run(RhsPointer(problem.model.rhs), np.array(problem.y0, dtype=np.float64),
                        np.ascontiguousarray(problem.params, dtype=np.float64), save_steps,
                        lr, b1, b2, eps, out)
    return out, int(status), int(steps)

"""rk4: the batched torch RK4 (flowsim.training.batched_rk4) against flowsim.integrate's RK4."""
from __future__ import annotations

import numpy as np

from .circle import circle_setup
from .core import Context, Row


def run(ctx: Context):
    import torch

    from ..integrate import integrate
    from ..training import batched_rk4, circle_gd
    from ..api import build_problem

    s = ctx.settings
    target, inits = circle_setup(max(s.circle_points, 2), s.seed + 1)
    t_eval = np.array([0.0, 0.5, 1.0, 2.0])
    worst = 0.0
    for objective in s.rk4_objectives:
        problems = [build_problem(target, i, objective=objective) for i in inits]
        y0 = torch.tensor(np.stack([p.y0 for p in problems]), dtype=torch.float64, device=ctx.device)
        f = batched_rk4.circle_rhs(circle_gd.as_target(target, device=ctx.device), objective,
                                   n_quad=problems[0].meta["n_quad"])
        out = batched_rk4.rk4(f, y0, t_eval, 0.01).cpu().numpy()
        ref = np.stack([integrate(p.model.rhs, p.y0, p.params, t_eval, method="rk4", dt=0.01).states
                        for p in problems], 1)
        worst = max(worst, float(np.abs(out - ref).max()))
    ctx.rows.append(Row("rk4: batched torch vs numba RK4, max |state diff|", 0.0, worst, 0.0,
                        worst < 1e-9))

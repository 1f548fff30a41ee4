"""circle: parameter-only GD at step eta (flowsim.training.circle_gd) against the circle flow
of every registered circle objective whose check is this section, for every weight mode
(trainable, fixed, and regularised with the Dirichlet prior of Settings.weight_prior);
agreement to O(eta), and the gap halves with eta."""
from __future__ import annotations

import numpy as np

from ..registry import objectives as registered
from .core import Context, Row, weight_options

SECTION = "circle"


def objectives() -> tuple:
    """The names of the circle objectives this section compares (from the registry)."""
    return tuple(o.name for o in registered("vonmises") if o.check == SECTION)


def circle_setup(n_points: int, seed: int):
    """Target: 4 peaks near k pi/2 (kappa 20, unequal weights); inits near the peaks
    (offsets 0.4 rad, kappa 3-6, Dirichlet weights) so the matching stays put."""
    from ..families.vonmises.mixture import VonMisesMixture

    rng = np.random.default_rng(seed)
    target = VonMisesMixture(np.arange(4) * np.pi / 2 + 0.2, np.full(4, 20.0), [0.4, 0.3, 0.2, 0.1])
    inits = [VonMisesMixture(target.mu + rng.uniform(-0.4, 0.4, 4), rng.uniform(3, 6, 4),
                             rng.dirichlet(np.full(4, 5.0))) for _ in range(n_points)]
    return target, inits


def run(ctx: Context):
    import torch

    from ..api import simulate
    from ..training import circle_gd

    s = ctx.settings
    target, inits = circle_setup(s.circle_points, s.seed)
    t_eval = np.array([0.0, s.circle_t_max])
    for objective in objectives():
        for weights in s.weight_modes:
            tag = f"circle {objective}/{weights}"
            prior = weight_options(weights, s)
            flows = [simulate(target, i, objective=objective, weights=weights, t_max=s.circle_t_max,
                              t_eval=t_eval, rtol=1e-10, atol=1e-12, **prior) for i in inits]
            y_flow = np.stack([f.states[-1] for f in flows])
            n_quad = flows[0].problem.meta["n_quad"]
            batch = tuple(np.stack([getattr(i, a) for i in inits]) for a in ("weights", "mu", "kappa"))
            gaps, recs = [], []
            for lr in s.circle_lrs:
                rec = circle_gd.run(target, batch, objective=objective, weights=weights, lr=lr,
                                    t_eval=t_eval, n_nodes=n_quad, device=ctx.device,
                                    dtype=torch.float64, **prior)
                recs.append(rec)
                gaps.append(float(np.abs(rec.variables["state"][-1] - y_flow).max()))
            rec = recs[-1]
            fw = np.mean([f.diagnostics["max_weight"] for f in flows])
            sw = float(rec.variables["weights"][-1].max(-1).mean())
            fo = np.mean([f.diagnostics["final_objective"] for f in flows])
            so = float(rec.variables["objective"][-1].mean())
            tol = 20 * s.circle_lrs[-1]
            ctx.rows.append(Row(f"{tag}: max weight @t={s.circle_t_max:g}", fw, sw, 0.0,
                                abs(fw - sw) <= tol * max(1, abs(fw))))
            ctx.rows.append(Row(f"{tag}: objective @t={s.circle_t_max:g}", fo, so, 0.0,
                                abs(fo - so) <= tol * max(1, abs(fo))))
            ratio = gaps[0] / gaps[-1] if gaps[-1] > 0 else float("inf")
            ctx.rows.append(Row(f"{tag}: state gap ratio eta={s.circle_lrs[0]:g}/{s.circle_lrs[-1]:g} "
                                f"(gap {gaps[-1]:.2e})", 2.0, ratio, 0.0,
                                bool(1.6 <= ratio <= 2.5 or gaps[-1] < 1e-8),
                                note="first-order (Euler) convergence of GD to the flow"))

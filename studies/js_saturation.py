"""JS saturation on the circle: does the JS (minimax GAN) flow stall when q's peak starts far
from p's, and does W1 not?

    python studies/js_saturation.py [--t-max 10000] [--kappas 20 200]

Target p = VM(0, κ), variational q = VM(δ, κ) (one component each, so weights play no
role), κ in --kappas, separations δ = 0.25 … 3.0 rad. For each loss (js, nonsaturating,
reverse_kl, forward_kl, wasserstein1): the gradient norm ‖∇L‖ at the start (in (μ, log κ)),
and the flow time to reach p's mode, defined as the first saved time at which
|μ − μ*| √κ* ≤ 1 (q's mean within one standard deviation of the target mode; the
diagnostics' mode-mass `coverage` is not used here: with one target mode it is always 1,
and with several it counts Voronoi cells, which a far peak already occupies).

Flows: numba backend, method "auto" (rtol 1e-8, atol 1e-10), saved times log-spaced from
1e-4 to t_max (20 per decade); wasserstein1 uses fixed-step RK4 (dt 0.01), because W1 is a
metric: its gradient does not vanish at q = p and an adaptive integrator stalls in the
sliding mode there (flowsim/families/vonmises/objectives/wasserstein.py). The losses have
their own scales (2 JS − 2 log 2, KL − 2 JS, the KLs, W1 in radians), so times compare
orders of magnitude, not factors of two.

Also printed: e^{−κ(1 − cos(δ/2))}, the relative density of the two peaks half-way between
them (the overlap that the JS gradient is expected to scale with).

Prints a markdown table and writes it to studies/results/js_saturation.md.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from flowsim import build_problem, simulate
from flowsim.times import log_times
from flowsim.vonmises import VonMisesMixture, wrap_angle

LOSSES = ("js", "nonsaturating", "reverse_kl", "forward_kl", "wasserstein1")
SEPARATIONS = (0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
COMMAND = "python studies/js_saturation.py"


def run_one(loss, kappa, delta, t_max):
    target = VonMisesMixture([0.0], [kappa])
    init = VonMisesMixture([delta], [kappa])
    prob = build_problem(target, init, objective=loss, weights="fixed")
    grad = -prob.rhs(0.0, prob.y0)[1:]                        # (dL/dμ, dL/dlog κ)
    t_eval = log_times(t_max, per_decade=20, decades=int(round(math.log10(t_max))) + 4)
    kw = dict(method="rk4", dt=0.01) if loss == "wasserstein1" else dict(method="auto")
    if loss == "wasserstein1":
        t_eval = t_eval[t_eval <= min(t_max, 200.0)]
        t_end = float(t_eval[-1])
    else:
        t_end = t_max
    start = time.perf_counter()
    tr = simulate(target, init, objective=loss, weights="fixed", t_max=t_end, t_eval=t_eval,
                  backend="numba", **kw)
    wall = time.perf_counter() - start
    mu = tr.states[:, 1]
    dist = np.abs(wrap_angle(mu - 0.0)) * math.sqrt(kappa)
    ok = np.isfinite(dist) & (dist <= 1.0)
    reach = float(tr.time[np.argmax(ok)]) if ok.any() else math.inf
    last = np.flatnonzero(np.isfinite(dist))
    return {"grad": float(np.linalg.norm(grad)), "dmu": float(grad[0]),
            "value": prob.objective(prob.y0), "reach": reach, "t_end": t_end,
            "final_dist": float(dist[last[-1]]) if last.size else math.nan,
            "status": tr.status, "wall": wall}


def fmt_time(r):
    if math.isfinite(r["reach"]):
        return f"{r['reach']:.3g}"
    return f"> {r['t_end']:g} (r = {r['final_dist']:.3g})"


def table(kappa, t_max, rows):
    head = ["δ (rad)", "e^{−κ(1−cos δ/2)}"] + [f"{loss}: ‖∇L‖₀ / t_reach" for loss in LOSSES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for delta in SEPARATIONS:
        cells = [f"{delta:g}", f"{math.exp(-kappa * (1 - math.cos(delta / 2))):.2e}"]
        for loss in LOSSES:
            r = rows[(loss, delta)]
            flag = "" if r["status"] in (0, 4) else f" [status {r['status']}]"
            cells.append(f"{r['grad']:.2e} / {fmt_time(r)}{flag}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-max", type=float, default=1e4)
    parser.add_argument("--kappas", type=float, nargs="+", default=[20.0, 200.0])
    args = parser.parse_args(argv)
    parts = [f"Command: `{COMMAND}`" + ("" if args.t_max == 1e4 and args.kappas == [20.0, 200.0]
                                          else f" --t-max {args.t_max:g} --kappas "
                                          + " ".join(f"{k:g}" for k in args.kappas)),
             "",
             "p = VM(0, κ), q(0) = VM(δ, κ). Each cell: gradient norm at the start ‖∇L(y₀)‖ "
             "(in μ, log κ) / flow time until |μ − μ*|√κ ≤ 1 (W1: RK4, dt 0.01, up to t = 200; "
             "others: adaptive, up to t_max; '> t (r = …)': not reached, r the final distance "
             "in target standard deviations)."]
    wall = 0.0
    for kappa in args.kappas:
        rows = {}
        for loss in LOSSES:
            for delta in SEPARATIONS:
                rows[(loss, delta)] = run_one(loss, kappa, delta, args.t_max)
                wall += rows[(loss, delta)]["wall"]
        parts += ["", f"### κ = {kappa:g} (t_max = {args.t_max:g})", "", table(kappa, args.t_max, rows)]
    parts += ["", f"Integration wall time {wall:.0f} s."]
    text = "\n".join(parts) + "\n"
    print(text)
    out = Path(__file__).parent / "results" / "js_saturation.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()

"""At which learning rate does Adam's small-step limit flow describe Adam training?

    python studies/adam_limit.py [--lrs 1e-3 3e-4 1e-4 3e-5 1e-5 3e-6] [--smoothing 1e-4 1e-6]

The limit flow `adam` (docs/derivations.md A1) replaces Adam's moment estimates by g and
g^2; torch.optim.Adam (betas (0.9, 0.999), eps 1e-8) averages g^2 over about
1 / (1 - beta2) = 1000 steps, i.e. over eta * 1000 units of the flow's time t = eta * step.
This study measures, for decreasing eta, the largest state gap between torch.optim.Adam
on the exact gradient (flowsim.check.geometry.adam_exact: the real optimiser, no Monte
Carlo noise) and the limit flow, relative to the limit flow's largest displacement, on the
two settings of the check's geometry section:

  circle    matched loss, trainable weights, the check's four starts near a four-peak
            target (flowsim.check.circle.circle_setup(4, 0)), t in {0.5, 1, 2};
  gaussian  reverse KL, trainable weights, two modes in R^100 (Lambda = 16, rho = 1/2;
            flowsim.check.gauss.gaussian_setup(100, 0.5, 0)), t in {0.05, 0.1, 0.2, 0.4}.

The limit flow runs at each --smoothing (eps_s = max(eps, smoothing); default the check's
1e-4, and 1e-6) at rtol 1e-10 (circle) / 1e-8 (Gaussian). It also reports the finite-step flow adam_ode at
each eta against the same training (its gap is O(eta): A2). Writes
studies/results/adam_limit.md.
"""
from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from flowsim.api import build_problem, simulate
from flowsim.check.circle import circle_setup
from flowsim.check.gauss import gaussian_setup
from flowsim.check.geometry import BETAS, EPS, adam_exact, on_steps

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "adam_limit.md"
SMOOTHING = 1e-4
WITHIN = 0.05
SETTINGS = {
    "circle": dict(times=(0.5, 1.0, 2.0), objective="matched", rtol=1e-10, atol=1e-12),
    "gaussian": dict(times=(0.05, 0.1, 0.2, 0.4), objective="reverse_kl", rtol=1e-8, atol=1e-10),
}


def pairs(setting):
    """[(target, init)] of a setting."""
    if setting == "circle":
        target, inits = circle_setup(4, 0)
        return [(target, i) for i in inits]
    return [gaussian_setup(100, 0.5, 0)]


def flow_states(target, init, objective, t_eval, rtol, atol, **geometry):
    tr = simulate(target, init, objective=objective, weights="trainable", t_max=float(t_eval[-1]),
                  t_eval=t_eval, rtol=rtol, atol=atol, backend="numba", method="dopri5", **geometry)
    return tr.problem.base(tr.states)


def gaps(setting, lr, smoothings):
    """([limit gap per smoothing], adam_ode gap, seconds): max |Adam - flow| / max |limit
    flow(t) - limit flow(0)| over the setting's starts and times, for the limit flow at each
    smoothing and for adam_ode at `lr` (both relative to the first smoothing's displacement)."""
    c = SETTINGS[setting]
    t0 = time.perf_counter()
    t_eval = on_steps(np.concatenate([[0.0], c["times"]]), lr)
    lim_gap, ode_gap = [0.0] * len(smoothings), 0.0
    for target, init in pairs(setting):
        full = {"reduction": "full"} if setting == "gaussian" else {}
        euclid = build_problem(target, init, objective=c["objective"], weights="trainable", **full)
        adam = adam_exact(euclid, lr, t_eval)
        lims = [flow_states(target, init, c["objective"], t_eval, c["rtol"], c["atol"],
                            geometry="adam", eps=EPS, smoothing=sm) for sm in smoothings]
        ode = flow_states(target, init, c["objective"], t_eval, c["rtol"], c["atol"],
                          geometry="adam_ode", lr=lr, betas=BETAS, eps=EPS)
        disp = float(np.abs(lims[0] - lims[0][0]).max())
        lim_gap = [max(g, float(np.abs(adam - lim).max()) / disp) for g, lim in zip(lim_gap, lims)]
        ode_gap = max(ode_gap, float(np.abs(adam - ode).max()) / disp)
    return lim_gap, ode_gap, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6])
    ap.add_argument("--smoothing", type=float, nargs="+", default=[SMOOTHING, 1e-6],
                    help="the limit flow's smoothing values (the first is the check's)")
    args = ap.parse_args(argv)
    lrs = sorted(args.lrs, reverse=True)
    sms = args.smoothing
    lines = ["# Adam's small-step limit flow against Adam training", "",
             f"Command: `python studies/adam_limit.py --lrs {' '.join(f'{x:g}' for x in lrs)}` "
             "(settings in its docstring). Gap = max over starts and recorded times of "
             "|torch Adam (exact gradient) - flow| / the limit flow's largest displacement. "
             "Limit flow: geometry `adam` at each smoothing (eps_s = max(eps, smoothing)); "
             "finite-step flow: `adam_ode` at the same eta.", ""]
    for setting, c in SETTINGS.items():
        lines += [f"## {setting} (t = {', '.join(f'{t:g}' for t in c['times'])})", "",
                  "| eta | eta / (1 - beta2) | " + " | ".join(f"limit flow gap, smoothing {sm:g}" for sm in sms)
                  + " | `adam_ode` gap | seconds |",
                  "|---|---|" + "---|" * len(sms) + "---|---|"]
        first = [None] * len(sms)
        for lr in lrs:
            lim, ode, sec = gaps(setting, lr, sms)
            print(f"{setting} eta={lr:g}: limit {lim}, adam_ode {ode:.3g} ({sec:.0f} s)", flush=True)
            lines.append(f"| {lr:g} | {lr / (1 - BETAS[1]):.3g} | " + " | ".join(f"{g:.3g}" for g in lim)
                         + f" | {ode:.3g} | {sec:.0f} |")
            first = [f if f is not None or g > WITHIN else lr for f, g in zip(first, lim)]
        lines.append("")
        for sm, f in zip(sms, first):
            lines.append(f"Largest eta tried with the limit flow (smoothing {sm:g}) within {WITHIN:.0%}: "
                         + (f"{f:g}." if f is not None else "none of those tried."))
        lines.append("")
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()

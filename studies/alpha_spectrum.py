"""The α-spectrum: P(both modes kept) of the Gaussian α-divergence flow against α, ρ and d.

    python studies/alpha_spectrum.py [--centred] [--store-dir results] [--skip-sweep]

Sweeps one of two study files (resumed if its store exists, never replaced), both on the
quickstart's Gaussian target (Λ = 16, ρ = ½ and 0.2), trainable weights, the Amari
α-divergence (α → 0: KL(q‖p); α → 1: KL(p‖q); α = 2: ½ χ²(p‖q)), t = 1000:

- studies/alpha_spectrum.toml: the quickstart's starts (means N(0, I_d)), α ∈ {0.1, 0.25,
  0.5, 0.75, 0.9, 1.5, 2}, d ∈ {2, 8}, 32 seeds, 8 nodes per span axis, at most 2·10⁴ steps.
  d = 32 and 128 are not swept from these starts; the last table says why: the norm of the
  means' initial velocity, |dX/dt| at t = 0 (seed 0, span reduction, 16 nodes per axis), for
  each objective against d;
- with --centred, studies/alpha_spectrum_centred.toml: starts at distance 2 from the origin in random
  directions (init.radius), so the overlaps do not vanish as d grows, α ∈ {0.1, 0.5, 0.9,
  1.5, 2}, d ∈ {2, 8, 32, 128}, 16 seeds, 16 nodes per span axis, at most 5000 steps. Two
  more tables follow: three runs that did not finish in the first study, under 8 and 16
  nodes per axis with each adaptive method (they stalled in Radau IIA where the cubature's
  rule switched as the means became coplanar, docs/findings.md; the rule no longer
  switches), and the centred store's unfinished points, run again with the current code.

Each row: P(both modes kept) with its 95% Wilson interval, the collapsed runs by mechanism,
the stranded runs, the median time of the last change of class, the median smallest weight,
and the runs that did not finish.

Writes studies/results/alpha_spectrum.md (or alpha_spectrum_centred.md).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from flowsim.integrate.status import POINT_STATUS_NAMES
from flowsim.sweep import sweep_files
from geometry_collapse import table, write_results

HERE = Path(__file__).resolve().parent
STUDY = HERE / "alpha_spectrum.toml"
CENTRED = HERE / "alpha_spectrum_centred.toml"


GRADIENT_OBJECTIVES = (("reverse_kl", None), ("alpha", 0.1), ("alpha", 0.5), ("alpha", 0.9),
                       ("forward_kl", None), ("alpha", 1.5), ("alpha", 2.0))


def initial_speeds(dims=(2, 8, 32, 128)):
    """Markdown rows: |dX/dt| of the means at t = 0 per objective and d (the study's target
    at ρ = ½ and its seed-0 start, built from its file at each d)."""
    from flowsim.api import build_problem
    from flowsim.sweep import load_study
    from flowsim.sweep.points import make_objects

    study = load_study(STUDY)
    names = [name if a is None else f"α = {a:g}" for name, a in GRADIENT_OBJECTIVES]
    lines = ["## Why d = 32 and 128 are not swept: the initial speed of the means", "",
             "ρ = ½, seed 0; |dX/dt| at t = 0 over both components' span coordinates.", "",
             "| d | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for d in dims:
        at = {"alpha": 0.5, "rho": 0.5, "d": d, "seed": 0}
        target, init = make_objects(study.point_config([at[axis.name] for axis in study.axes]))
        cells = []
        for name, a in GRADIENT_OBJECTIVES:
            own = {} if a is None else {"alpha": a}
            problem = build_problem(target, init, objective=name, reduction="span", n_cubature=16, **own)
            speed = problem.rhs(0.0, problem.y0)[:2 * problem.meta["rank"]]
            cells.append(f"{np.linalg.norm(speed):.3g}")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return lines + [""]


def run_point(study, at, **overrides):
    """The point `at` ({axis name: value}) of `study`, integrated alone with the study's
    options and solver settings, `overrides` (n_cubature, method, max_steps) replacing them."""
    from flowsim.api import simulate
    from flowsim.sweep.points import make_objects

    cfg = study.point_config([at[axis.name] for axis in study.axes])
    target, init = make_objects(cfg)
    solver = cfg["solver"]
    settings = {**cfg["options"], **{key: solver[key] for key in ("rtol", "atol", "method", "max_steps")},
                **overrides}
    return simulate(target, init, objective=cfg["study"]["objective"], weights=cfg["study"]["weights"],
                    t_max=solver["t_max"], backend="numba", **settings)


def weights_cell(tr):
    w = tr.diagnostics["weights"]
    return ", ".join(f"{x:.3f}" for x in w) if np.all(np.isfinite(w)) else "—"


def node_count_stall(alpha=0.1, rho=0.2, d=8, seeds=(0, 2, 5)):
    """Markdown rows: runs of studies/alpha_spectrum.toml's cell (alpha, rho, d) that did not
    finish there, under 8 and 16 nodes per span axis and each adaptive method, at most 5000
    steps: status, steps, the last saved time reached and the final weights."""
    from flowsim.sweep import load_study

    study = load_study(STUDY)
    lines = ["## The first study's unfinished runs, by nodes per axis and method", "",
             f"Runs of `studies/alpha_spectrum.toml` that did not finish there: d = {d}, α = {alpha:g}, "
             f"ρ = {rho:g}, the quickstart's starts (means N(0, I_d)), t_max = 1000, rtol 1e-7, "
             "atol 1e-9, at most 5000 steps.", "",
             "| seed | nodes per axis | method | status | steps | last saved time reached | weights at the end |",
             "|---|---|---|---|---|---|---|"]
    for seed in seeds:
        at = {"alpha": alpha, "rho": rho, "d": d, "seed": seed}
        for nodes, method in ((8, "auto"), (8, "radau5"), (8, "dopri5"), (16, "auto")):
            tr = run_point(study, at, n_cubature=nodes, method=method, max_steps=5000)
            reached = tr.time[np.isfinite(tr.states[:, 0])]
            lines.append(f"| {seed} | {nodes} | {method} | {tr.status_name} | {tr.n_steps} | "
                         f"{reached[-1] if reached.size else 0:.3g} | {weights_cell(tr)} |")
    return lines + [""]


def rerun_unfinished(store):
    """Markdown rows: every point of the centred store that did not finish, run again with
    the current code and the study's settings."""
    import xarray as xr

    from flowsim.sweep import load_study

    study = load_study(CENTRED)
    status = xr.open_zarr(store)["status"].load()
    lines = ["## The store's unfinished points, run again", "",
             "| α | ρ | d | seed | status in the store | status now | steps | coverage | weights |",
             "|---|---|---|---|---|---|---|---|---|"]
    for idx in zip(*np.nonzero(status.values != 0)):
        at = {axis: status[axis].values[i] for axis, i in zip(status.dims, idx)}
        tr = run_point(study, at)
        lines.append(f"| {at['alpha']:g} | {at['rho']:g} | {at['d']} | {at['seed']} | "
                     f"{POINT_STATUS_NAMES.get(int(status.values[idx]))} | {tr.status_name} | "
                     f"{tr.n_steps} | {tr.diagnostics['coverage']} | {weights_cell(tr)} |")
    return lines + [""]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store-dir", type=Path, default=Path("results"))
    ap.add_argument("--skip-sweep", action="store_true", help="summarise the existing store")
    ap.add_argument("--centred", action="store_true",
                    help="the starts at distance 2 (alpha_spectrum_centred.toml), d up to 128")
    args = ap.parse_args(argv)
    study = CENTRED if args.centred else STUDY
    store = args.store_dir / f"{study.stem}.zarr"
    wall = 0.0 if args.skip_sweep else sweep_files([study], args.store_dir)[1]
    lines = [f"# The α-spectrum of the Gaussian two-mode target{' from centred starts' if args.centred else ''}",
             "", f"Command: `python studies/alpha_spectrum.py{' --centred' if args.centred else ''}` "
             f"(sweeps `studies/{study.name}`; settings in the docstrings of both). Amari's α: "
             "α → 0 is KL(q‖p), α → 1 is KL(p‖q), α = 2 is ½ χ²(p‖q).", ""]
    if args.centred:
        lines += table("Gaussian two-mode target, α-divergence, starts at distance 2", "Λ = 16, target "
                       "weights ρ and 1 − ρ, q: 2 components, means at distance 2 from the origin (the "
                       "midpoint of the modes, each 2 away from it) in random directions per seed, "
                       "σ² = 1 fixed, trainable weights, t = 1000, 16 seeds per cell, 16 Gauss–Hermite "
                       "nodes per span axis, method auto (rtol 1e-7, atol 1e-9, at most 5000 steps).",
                       [store])
        lines += node_count_stall()
        lines += rerun_unfinished(store)
        write_results(study.stem, lines, wall)
        return
    lines += table("Gaussian two-mode target, α-divergence", "Λ = 16, target weights ρ and 1 − ρ, q: 2 "
                   "components, means N(0, I_d) per seed, σ² = 1 fixed, trainable weights, t = 1000, "
                   "32 seeds per cell, 8 Gauss–Hermite nodes per span axis, method auto (rtol 1e-7, "
                   "atol 1e-9, at most 2·10⁴ steps).", [store])
    lines += initial_speeds()
    write_results(study.stem, lines, wall)


if __name__ == "__main__":
    main()

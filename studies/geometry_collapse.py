"""Does the optimiser geometry change whether, and how, a Gaussian mixture loses a mode?

Command (the two sweeps, then this table; an existing store is resumed, never replaced):

    python studies/geometry_collapse.py [--store-dir results] [--skip-sweep]

Sweeps studies/geometry_gaussian.toml (euclidean, natural, wfr, adam: docs/derivations.md
A1, A3, A4) and studies/geometry_gaussian_adam_ode.toml (Adam at η = 1e-2 and 1e-3, A2):
the quickstart's target (two Gaussians in R^d, Λ = 16, weights ρ and 1 − ρ) and starts
(means N(0, I_d) per seed, σ² = 1, trainable weights), reverse KL, t = 1000, 32 seeds per
cell. For each geometry, ρ and d: P(both modes kept) = P(coverage = 2) among the runs
that finished (status ok) with its 95% Wilson interval, the collapsed runs by mechanism
(flowsim.diagnostics: mean alignment / vanishing weight / weight starvation), and the
runs that did not finish, by status.

Writes studies/results/geometry_collapse.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

from flowsim.diagnostics import MECHANISMS
from flowsim.integrate.status import POINT_STATUS_NAMES
from flowsim.stats import wilson
from flowsim.sweep import sweep_files

HERE = Path(__file__).resolve().parent
STUDIES = (HERE / "geometry_gaussian.toml", HERE / "geometry_gaussian_adam_ode.toml")


def run(store_dir: Path, skip: bool):
    if skip:
        return [store_dir / f"{path.stem}.zarr" for path in STUDIES], 0.0
    return sweep_files(STUDIES, store_dir)


def skipped(stores):
    """The study files whose store is missing (listed under the table)."""
    return [path.name for path, store in zip(STUDIES, stores) if not Path(store).exists()]


def cells(stores):
    """(geometry label, rho, d, dataset of that cell over seeds)."""
    main = xr.open_zarr(stores[0]).load()
    for g in main.geometry.values:
        for rho in main.rho.values:
            for d in main.d.values:
                yield str(g), float(rho), int(d), main.sel(geometry=g, rho=rho, d=d)
    if not Path(stores[1]).exists():
        return
    adam = xr.open_zarr(stores[1]).load()
    for lr in adam.lr.values:
        for rho in adam.rho.values:
            for d in adam.d.values:
                yield f"adam_ode η={lr:g}", float(rho), int(d), adam.sel(lr=lr, rho=rho, d=d)


def row(label, rho, d, ds):
    status = ds["status"].values
    ok = status == 0
    kept = (ds["coverage"].values == 2) & ok
    n, k = int(ok.sum()), int(kept.sum())
    lo, hi = wilson(k, n)
    mech = ds["mechanism"].values[ok & ~kept]
    counts = " / ".join(str(int(np.sum(mech == i))) for i in range(1, len(MECHANISMS)))
    failed = ", ".join(f"{POINT_STATUS_NAMES.get(int(c), int(c))} ×{int(np.sum(status == c))}"
                       for c in np.unique(status[~ok])) or "—"
    p = f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]" if n else "—"
    return f"| {label} | {rho:g} | {d} | {p} | {counts} | {failed} |"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store-dir", type=Path, default=Path("results"))
    ap.add_argument("--skip-sweep", action="store_true", help="summarise existing stores")
    args = ap.parse_args(argv)
    stores, wall = run(args.store_dir, args.skip_sweep)
    lines = [
        "# Optimiser geometry against collapse (Gaussian two-mode target, reverse KL)",
        "",
        "Command: `python studies/geometry_collapse.py` (sweeps `studies/geometry_gaussian.toml`, "
        "`studies/geometry_gaussian_adam_ode.toml`). Setting: Λ = 16, target weights ρ and 1 − ρ, "
        "q: 2 components, means N(0, I_d) per seed, σ² = 1 fixed, trainable weights, t = 1000, "
        "32 seeds per cell, method auto (rtol 1e-7, atol 1e-9). Kept = coverage 2 at t.",
        "",
        "| geometry | ρ | d | P(both kept) among finished runs [95% CI] | collapsed: "
        + " / ".join(MECHANISMS[1:]) + " | not finished |",
        "|---|---|---|---|---|---|",
    ]
    lines += [row(*cell) for cell in cells(stores)]
    lines += ["", "Not finished runs with status not_run were never computed (the sweep was stopped)."]
    if skipped(stores):
        lines += ["", "Not run: " + ", ".join(skipped(stores)) + "."]
    if wall:
        lines += ["", f"Sweep wall time {wall:.0f} s (2 cores)."]
    text = "\n".join(lines) + "\n"
    (HERE / "results" / "geometry_collapse.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Does the optimiser geometry change whether, and how, a mixture loses a mode?

Command (the sweeps, then the tables; an existing store is resumed, never replaced):

    python studies/geometry_collapse.py [--store-dir results] [--skip-sweep] [--only STEM ...]
                                        [--results NAME]

Sweeps studies/geometry_gaussian.toml (euclidean, natural, wfr, adam: docs/derivations.md
A1, A3, A4), studies/geometry_gaussian_adam_ode.toml (Adam at η = 1e-2 and 1e-3, A2;
d = 8 and 32) and studies/geometry_gaussian_adam_ode_d128.toml (the same at d = 128,
4 seeds per cell: one run of the 777-dimensional stiff state takes about 12 min on one core): the
quickstart's target (two Gaussians in R^d, Λ = 16, weights ρ and 1 − ρ) and starts (means
N(0, I_d) per seed, σ² = 1, trainable weights), reverse KL, t = 1000, 32 seeds per cell;
and studies/geometry_circle.toml, studies/geometry_circle_adam_ode.toml: the four-peak
circle target of studies/circle_mode_dropping.toml from its broad starts, trainable and
fixed weights, 64 seeds. For each cell: P(all modes kept) = P(coverage = M) among the runs
that finished (status ok) with its 95% Wilson interval, the collapsed runs by mechanism
(flowsim.diagnostics: mean alignment / vanishing weight / weight starvation), how many
finished runs are stranded (a live component still more than 3 standard deviations from
every mode: "—" for a store written before that diagnostic existed), the median time of the
last change of class, and the runs that did not finish, by status. --only
sweeps the named study files (by stem) and summarises the others' stores as they are.

Writes studies/results/geometry_collapse.md (--results NAME: a file of that name in the same folder, for a
summary of some stores only, so that it does not replace the summary of all of them).
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

from flowsim.diagnostics import MECHANISMS
from flowsim.integrate.status import POINT_STATUS_NAMES
from flowsim.stats import wilson
from flowsim.sweep import sweep_files

HERE = Path(__file__).resolve().parent
GAUSSIAN = (HERE / "geometry_gaussian.toml", HERE / "geometry_gaussian_adam_ode.toml",
            HERE / "geometry_gaussian_adam_ode_d128.toml")
CIRCLE = (HERE / "geometry_circle.toml", HERE / "geometry_circle_adam_ode.toml")
STUDIES = GAUSSIAN + CIRCLE


def run(store_dir: Path, skip: bool, only=None):
    stores = [store_dir / f"{path.stem}.zarr" for path in STUDIES]
    if skip:
        return stores, 0.0
    _, wall = sweep_files([p for p in STUDIES if only is None or p.stem in only], store_dir)
    return stores, wall


def skipped(stores):
    """The study files whose store is missing (listed under the tables)."""
    return [path.name for path, store in zip(STUDIES, stores) if not Path(store).exists()]


def cells(store):
    """(geometry label, {axis: value} of the other axes, dataset of that cell over seeds) for
    every cell of a store; a store of adam_ode runs is labelled by its learning rate, a store
    without a geometry axis by its study file's geometry."""
    ds = xr.open_zarr(store).load()
    axes = [a for a in ds.attrs["axes"] if a != "seed"]
    for values in np.ndindex(*(ds.sizes[a] for a in axes)):
        sel = {a: ds[a].values[i] for a, i in zip(axes, values)}
        cell = ds.sel(sel)
        if "geometry" in sel:
            label = str(sel.pop("geometry"))
        elif "lr" in sel:
            label = f"adam_ode η={sel.pop('lr'):g}"
        else:
            label = tomllib.loads(ds.attrs["study"]).get("geometry", {}).get("name", "euclidean")
        yield label, sel, cell


def row(label, sel, ds, axes):
    """One table line: the cell's values in the order of the table's `axes`."""
    status = ds["status"].values
    ok = status == 0
    kept = (ds["coverage"].values == ds.sizes["mode"]) & ok
    n, k = int(ok.sum()), int(kept.sum())
    lo, hi = wilson(k, n)
    mech = ds["mechanism"].values[ok & ~kept]
    counts = " / ".join(str(int(np.sum(mech == i))) for i in range(1, len(MECHANISMS)))
    stranded = str(int(np.sum(ds["stranded"].values[ok] == 1))) if "stranded" in ds else "—"
    failed = ", ".join(f"{POINT_STATUS_NAMES.get(int(c), int(c))} ×{int(np.sum(status == c))}"
                       for c in np.unique(status[~ok])) or "—"
    p = f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]" if n else "—"
    settled = ds["collapse_time"].values[ok]
    t_med = f"{np.median(settled):.3g}" if settled.size else "—"
    w_min = ds["min_weight"].values[ok]
    w_med = f"{np.median(w_min):.3g}" if w_min.size else "—"
    others = " | ".join(f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)
                        for v in (sel[a] for a in axes))
    return f"| {label} | {others} | {p} | {counts} | {stranded} | {t_med} | {w_med} | {failed} |"


def table(title, setting, stores):
    """A markdown table of every cell of the existing `stores` (one family)."""
    present = [s for s in stores if Path(s).exists()]
    if not present:
        return []
    first = xr.open_zarr(present[0])
    axes = [a for a in first.attrs["axes"] if a not in ("seed", "geometry", "lr")]
    names = {"rho": "ρ", "d": "d", "weight_mode": "weights", "beta0": "schedule β₀",
             "weight_prior": "prior λ"}
    head = " | ".join(names.get(a, a) for a in axes)
    lines = [f"## {title}", "", setting, "",
             f"| geometry | {head} | P(all modes kept) among finished runs [95% CI] | collapsed: "
             + " / ".join(MECHANISMS[1:]) + " | stranded | median t of the last change of class | "
             "median min w at t | not finished |",
             "|" + "---|" * (len(axes) + 7)]
    for store in present:
        found = list(cells(store))
        labels = list(dict.fromkeys(label for label, _, _ in found))
        found.sort(key=lambda cell: labels.index(cell[0]))
        lines += [row(*cell, axes) for cell in found]
    return lines + [""]


def write_results(name, lines, wall):
    """studies/results/<name>.md from the lines, with the sweep's wall time when it ran."""
    if wall:
        lines = lines + ["", f"Sweep wall time {wall:.0f} s (2 cores)."]
    text = "\n".join(lines) + "\n"
    (HERE / "results" / f"{name}.md").write_text(text, encoding="utf-8")
    print(text)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store-dir", type=Path, default=Path("results"))
    ap.add_argument("--skip-sweep", action="store_true", help="summarise existing stores")
    ap.add_argument("--only", nargs="+", choices=[p.stem for p in STUDIES], default=None,
                    help="sweep only these study files (the others' stores are read as they are)")
    ap.add_argument("--results", default="geometry_collapse",
                    help="the name of the results file (.md, in the results folder; default geometry_collapse)")
    given = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(given)
    stores, wall = run(args.store_dir, args.skip_sweep, args.only)
    lines = [
        "# Optimiser geometry against collapse",
        "",
        "Command: `" + " ".join(["python studies/geometry_collapse.py", *given]) + "` (sweeps "
        + ", ".join(f"`studies/{p.name}`" for p in STUDIES if args.only is None or p.stem in args.only)
        + "). Kept = coverage = the number "
        "of target modes at t. The median t of the last change of class is flowsim.diagnostics' "
        "collapse_time over the finished runs: when the run reached its final class (its time to "
        "converge, as far as coverage and the mechanism flags see it).",
        "",
    ]
    lines += table("Gaussian two-mode target", "Λ = 16, target weights ρ and 1 − ρ, q: 2 components, "
                   "means N(0, I_d) per seed, σ² = 1 fixed, trainable weights, reverse KL, t = 1000, "
                   "32 seeds per cell (adam_ode at d = 128: 4), method auto (rtol 1e-7, atol 1e-9).",
                   stores[:len(GAUSSIAN)])
    lines += table("Circle, four peaks", "Target: four equal von Mises peaks at 0°, 90°, 180°, 270°, "
                   "κ = 50; q: K = 4, means uniform on the circle per seed, κ = 2, uniform weights; "
                   "reverse KL, t = 1000, 64 seeds per cell, method auto (rtol 1e-7, atol 1e-9, at "
                   "most 2·10⁵ steps).", stores[len(GAUSSIAN):])
    lines += ["", "Not finished runs with status not_run were never computed (the sweep was stopped)."]
    if skipped(stores):
        lines += ["", "Not run: " + ", ".join(skipped(stores)) + "."]
    write_results(args.results, lines, wall)


if __name__ == "__main__":
    main()

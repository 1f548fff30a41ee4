"""The remedies table: P(collapse), mechanism and time per geometry x schedule x weights.

    python studies/remedies.py [--store-dir results] [--skip-sweep]

Sweeps studies/remedies.toml, studies/remedies_prior.toml and studies/remedies_circle.toml
(each resumed if its store exists, never replaced): reverse KL on the quickstart's Gaussian target and starts
(ρ = 1/2 and 0.2) at d = 32 and 128, 32 seeds per cell, for the plain gradient flow, the
natural gradient and the Wasserstein-Fisher-Rao flow (docs/derivations.md A3, A4),
without a schedule (β₀ = 1) and with the slow hot start β(t) = min(1, 10⁻³ + 10⁻³ t)
(B1), with trainable, fixed and regularised weights (P1, default prior λ = 0.01); then
the regularised gradient flow at λ from 10⁻⁴ to 1; then the four-peak circle target from
the broad starts of studies/geometry_circle.toml with regularised weights (λ = 0.01, 0.1;
its trainable and fixed rows are in studies/results/geometry_collapse.md). Each row: P(both modes kept) with its
95% Wilson interval, the collapsed runs by mechanism (flowsim.diagnostics), the median
time of the last change of class (when a run reached its final class), the median
smallest weight at t (the prior's pull toward 1/2 shows there), and the runs that did
not finish. Adam's flows are in studies/results/geometry_collapse.md (the finite-step
flow costs minutes per run at d = 128).

Writes studies/results/remedies.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from flowsim.sweep import sweep_files
from geometry_collapse import table, write_results

HERE = Path(__file__).resolve().parent
STUDIES = (HERE / "remedies.toml", HERE / "remedies_prior.toml", HERE / "remedies_circle.toml")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store-dir", type=Path, default=Path("results"))
    ap.add_argument("--skip-sweep", action="store_true", help="summarise the existing store")
    args = ap.parse_args(argv)
    stores = [args.store_dir / f"{path.stem}.zarr" for path in STUDIES]
    wall = 0.0 if args.skip_sweep else sweep_files(list(STUDIES), args.store_dir)[1]
    lines = ["# Remedies: geometry × schedule × weights against collapse", "",
             "Command: `python studies/remedies.py` (sweeps `studies/remedies.toml` and "
             "`studies/remedies_prior.toml`, `studies/remedies_circle.toml`; settings in the "
             "docstrings of all four). Schedule "
             "β₀ = 1 is the plain flow; β₀ = 0.001 is β(t) = min(1, 10⁻³ + 10⁻³ t). Weights "
             "regularised: the flow of L + λ KL(u‖w), a symmetric Dirichlet prior "
             "(docs/derivations.md P1), λ = 0.01 in the first table.", ""]
    setting = ("Λ = 16, target weights ρ and 1 − ρ, q: 2 components, means N(0, I_d) per seed, "
               "σ² = 1 fixed, t = 5000, 32 seeds per cell, method auto (rtol 1e-7, atol 1e-9).")
    lines += table("Gaussian two-mode target, reverse KL", setting, stores[:1])
    lines += table("The prior's strength (regularised weights, gradient flow)", setting, stores[1:2])
    lines += table("Circle, four peaks, regularised weights", "Target: four equal von Mises peaks at 0°, "
                   "90°, 180°, 270°, κ = 50; q: K = 4, means uniform on the circle per seed, κ = 2, "
                   "uniform weights; reverse KL, t = 1000, 64 seeds per cell, method auto (rtol 1e-7, "
                   "atol 1e-9, at most 2·10⁵ steps). Trainable and fixed weights: "
                   "studies/results/geometry_collapse.md.", stores[2:])
    write_results("remedies", lines, wall)


if __name__ == "__main__":
    main()

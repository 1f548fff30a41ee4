"""Vanishing weight for an unequal target (rho = 0.2) and under the forward KL.

The companion of studies/gaussian_vanishing.py (same geometry, seeds, solver and outcome
classes; see its docstring): Lambda = 16, random_means(2, d, scale=1, seed), initial weights
1/2, fixed vs trainable weights, d in {2, 8, 32, 128, 512}.
1. rho = 0.2 (mode 1 at -sqrt(Lambda)/2 e_1 is the light one), reverse KL. With fixed
   weights 1/2, 1/2 the flow cannot reach KL = 0, but coverage (M_j >= rho_j / 2) still
   counts a run as recovered when each mode holds one component.
2. Forward KL KL(p || q), rho = 1/2 and rho = 0.2: mass-covering, expected not to collapse.

Run: python studies/gaussian_unequal_forward.py [--seeds 32] [--t-max 1e4] [--settle-check]
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from gaussian_vanishing import (  # noqa: E402
    ATOL, DIMS, HORIZONS, LAMBDA, RESULTS, RTOL, SETTLE_TOL, T_MAX, horizon_table, race, race_table,
    recovery_table, run_grid, settle_check,
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--t-max", type=float, default=T_MAX)
    ap.add_argument("--settle-check", action="store_true",
                    help="also re-run every lost trainable reverse-KL run (rho = 0.2) to 10 t_max (slow)")
    args = ap.parse_args(argv)
    horizons = sorted({t for t in HORIZONS if t < args.t_max} | {args.t_max})
    start = time.perf_counter()
    common = (f"{args.seeds} initialisations random_means(2, d, scale=1, seed) per d, Lambda = {LAMBDA:g}, "
              f"modes at -/+ (sqrt(Lambda)/2) e_1 with weights rho, 1 - rho, initial weights 1/2; numba DOPRI5, "
              f"rtol {RTOL:g}, atol {ATOL:g}, t_max = {args.t_max:g}, early stop when max|dy/dt| < "
              f"{SETTLE_TOL:g}. Columns as in gaussian_vanishing.md; 'uncovered mode 1' = the rho-weighted mode at "
              "-sqrt(Lambda)/2 e_1.")
    lines = ["# Vanishing weight: unequal target (rho = 0.2) and forward KL", "", common, ""]
    sections = [("Reverse KL, rho = 0.2", "reverse_kl", 0.2, True),
                ("Forward KL, rho = 1/2", "forward_kl", 0.5, False),
                ("Forward KL, rho = 0.2", "forward_kl", 0.2, False)]
    for title, objective, rho, with_race in sections:
        t0 = time.perf_counter()
        runs, wall = run_grid(DIMS, args.seeds, objective=objective, rho=rho, t_max=args.t_max)
        lines += [f"## {title}", "", recovery_table(runs, wall, DIMS), "",
                  "P(coverage 2) at time t:", "", horizon_table(runs, DIMS, horizons), ""]
        if with_race:
            rows = race(runs, DIMS, args.t_max)
            lines += ["Trainable runs that lose a mode (columns as in gaussian_vanishing.md):", "",
                      race_table(rows, DIMS), ""]
            if args.settle_check:
                lines += ["Settle check: every lost trainable run re-run to 10 t_max:", "",
                          settle_check(runs, rows, DIMS, None, args.t_max, rho=rho), ""]
        lines += [f"Section wall time {time.perf_counter() - t0:.0f} s.", ""]
        print(f"{title}: {time.perf_counter() - t0:.0f} s", flush=True)
    lines.append(f"Total wall time {time.perf_counter() - start:.0f} s (shared 2-core machine).")
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "gaussian_unequal_forward.md").write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Where did the runs that hit the step cap get to?

Command:

    python studies/capped_runs.py STUDY.toml [--store PATH] [--limit N]

A sweep stores no diagnostics for a run that stopped at `solver.max_steps` (status
max_steps), since it did not reach t_max. This script re-runs those points of the study's
store (default results/<name>.zarr), the first N of them with --limit, through the
sweep's own solver call with the study's solver settings (the same run, step for step, up
to the cap), and prints, for each, the last saved time it reached and the diagnostics
there (flowsim.trajectory.Trajectory.reached): weights, coverage, whether it is
collapsed and by which mechanism.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

from flowsim.diagnostics import MECHANISMS
from flowsim.integrate.status import MAX_STEPS
from flowsim.sweep.compute import integrate_point
from flowsim.sweep.points import build_point
from flowsim.sweep.schema import load_study
from flowsim.sweep.variables import time_grid
from flowsim.trajectory import Trajectory


def capped_points(study, ds) -> list:
    """[(axis values, config)] of the points whose status is max_steps, in store order."""
    status = ds["status"].values
    names = [a.name for a in study.axes]
    found = []
    for index in np.argwhere(status == MAX_STEPS):
        values = [ds[name].values[i].item() for name, i in zip(names, index)]
        found.append((dict(zip(names, values)), study.point_config(values)))
    return found


def rerun(cfg, t_eval):
    """The point's trajectory, integrated as the sweep did, up to the last saved time it
    reached."""
    problem = build_point(cfg)
    states, status, n_steps, n_rhs = integrate_point(problem, cfg["solver"], t_eval,
                                                     float(cfg["solver"]["t_max"]))
    return Trajectory(problem, t_eval, states, status, n_steps, n_rhs, "numba", {}).reached()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args(argv)
    study = load_study(args.study)
    store = args.store or Path("results") / f"{study.name}.zarr"
    ds = xr.open_zarr(store).load()
    points = capped_points(study, ds)[:args.limit]
    print(f"{study.name}: {int((ds['status'].values == MAX_STEPS).sum())} runs at the cap "
          f"({study.config['solver']['max_steps']} steps); re-running {len(points)}")
    print()
    print("| point | t reached | weights | coverage | collapsed | mechanism | seconds |")
    print("|---|---:|---|---:|---:|---|---:|")
    t_eval = time_grid(study)
    for values, cfg in points:
        t0 = time.perf_counter()
        traj = rerun(cfg, t_eval)
        d = traj.diagnostics
        point = ", ".join(f"{k} {v}" for k, v in values.items())
        print(f"| {point} | {traj.time[-1]:.3g} | {np.round(d['weights'], 3).tolist()} "
              f"| {d['coverage']:.3g} | {d['collapsed']:.0f} | {MECHANISMS[int(d['mechanism'])]} "
              f"| {time.perf_counter() - t0:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

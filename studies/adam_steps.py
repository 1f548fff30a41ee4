"""Adam's own recursion beside the adam_ode flow: do they lose the same modes?

Command:

    python studies/adam_steps.py STUDY.toml [STUDY.toml ...] [--store-dir results]
                                 [--seeds N] [--jobs J] [--results NAME]

For every point of each study of the adam_ode geometry (docs/derivations.md A2), runs
Adam itself at the point's learning rate on the exact gradient (flowsim.adam_steps, A2b),
from the same start, for t_max / η steps, and reads the diagnostics at the study's saved
times rounded to whole steps, as the sweep reads the flow's: P(all modes kept) and the
collapsed runs by mechanism. Where the study's store exists (default
results/<name>.zarr), each point is set beside the flow's run: how many of the runs both
finished agree on kept or collapsed, and what the recursion says of the runs the flow did
not finish (the step cap). --seeds N runs the seeds 0 … N − 1 of each cell instead of
the study's own (beyond those, the flow has no runs to compare).

Writes studies/results/adam_steps.md (--results NAME: another name in the same folder).
Every run is appended at once to the run cache studies/results/adam_steps_runs.jsonl,
keyed by the point's whole configuration (as a sweep's --resume trusts its study's
digest); a rerun computes only the points the cache lacks.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import xarray as xr

from flowsim.adam_steps import ADAM, adam_steps
from flowsim.diagnostics import MECHANISMS
from flowsim.integrate.status import NOT_RUN, POINT_STATUS_NAMES, STATUS_NAMES
from flowsim.stats import wilson
from flowsim.sweep.points import build_point
from flowsim.sweep.schema import load_study
from flowsim.sweep.variables import time_grid
from flowsim.trajectory import Trajectory

HERE = Path(__file__).resolve().parent


def euclidean_twin(cfg: dict):
    """(the point's Problem in the euclidean geometry on the coordinates adam_ode moves,
    learning rate, betas, eps)."""
    geometry = dict(cfg["geometry"])
    if geometry.get("name") != "adam_ode":
        raise ValueError(f"geometry.name: the study must use adam_ode, not {geometry.get('name')!r}")
    adam = build_point(cfg)
    twin_cfg = copy.deepcopy(cfg)
    twin_cfg["geometry"] = {"name": "euclidean"}
    if cfg["study"]["family"] == "gaussian":
        twin_cfg["options"]["reduction"] = "full"
    twin = build_point(twin_cfg)
    n = adam.n_base
    if not (np.array_equal(twin.y0, adam.y0[:n]) and np.array_equal(twin.params, adam.params[:twin.params.size])):
        raise RuntimeError("the euclidean twin does not start where the adam_ode flow starts")
    geometry.pop("name")
    values = ADAM.options(geometry)
    return twin, values["lr"], values["betas"], values["eps"]


def one_point(path: str, values: list) -> dict:
    """The recursion's verdict at one point of the study at `path`."""
    study = load_study(path)
    twin, lr, betas, eps = euclidean_twin(study.point_config(values))
    t_eval = time_grid(study)
    start = time.perf_counter()
    states, status, steps = adam_steps(twin, lr, t_eval, betas, eps)
    seconds = time.perf_counter() - start
    times = np.rint(t_eval / lr) * lr
    d = Trajectory(twin, times, states, status, steps, steps, "adam_steps", {}).diagnostics
    M = len(d["mode_mass"])
    return {"values": values, "status": status, "steps": steps, "seconds": seconds,
            "kept": bool(status == 0 and d["coverage"] == M), "mechanism": int(d["mechanism"]),
            "weights": np.asarray(d["weights"]).tolist()}


def plain(values) -> list:
    """Axis values as Python scalars (JSON, and keys that match the store's)."""
    return [v.item() if hasattr(v, "item") else v for v in values]


def point_key(cfg: dict) -> str:
    """The cache key of a point: a hash of its whole configuration."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:20]


def load_cache(path: Path) -> dict:
    if not path.exists():
        return {}
    runs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            runs[entry.pop("key")] = entry
    return runs


def run_points(path: Path, points: list, cache_path: Path, jobs: int) -> list:
    """The recursion's verdict at each point, from the cache where it holds the point; the
    others computed on `jobs` processes, each appended to the cache as it ends."""
    study = load_study(path)
    cache = load_cache(cache_path)
    keys = [point_key(study.point_config(values)) for values in points]
    missing = [(key, values) for key, values in zip(keys, points) if key not in cache]
    if missing:
        with ProcessPoolExecutor(jobs) as pool, cache_path.open("a", encoding="utf-8") as fh:
            futures = {pool.submit(one_point, str(path), values): key for key, values in missing}
            for future in as_completed(futures):
                run = future.result()
                run["values"] = plain(run["values"])
                cache[futures[future]] = run
                fh.write(json.dumps({"key": futures[future], **run}) + "\n")
                fh.flush()
    return [{**cache[key], "values": plain(values)} for key, values in zip(keys, points)]


def flow_verdicts(study, store: Path) -> dict:
    """{tuple(axis values): (status, kept, mechanism)} of the flow's runs in `store`."""
    if not store.exists():
        return {}
    ds = xr.open_zarr(store).load()
    names = [a.name for a in study.axes]
    found = {}
    for index in np.ndindex(*ds["status"].shape):
        values = tuple(ds[name].values[i].item() for name, i in zip(names, index))
        status = int(ds["status"].values[index])
        kept = status == 0 and ds["coverage"].values[index] == ds.sizes["mode"]
        found[values] = (status, bool(kept), int(np.nan_to_num(ds["mechanism"].values[index])))
    return found


def verdict(r: dict) -> str:
    """kept or collapsed (mechanism), with the weights at t_max."""
    head = "kept" if r["kept"] else f"collapsed, {MECHANISMS[r['mechanism']]}"
    return f"{head}, weights {np.round(r['weights'], 3).tolist()}"


def bullets(title: str, items: list) -> list:
    return [title, "", *(f"- {item}" for item in items), ""] if items else []


def summarise(study, runs: list, flows: dict) -> list:
    names = [a.name for a in study.axes]

    def where(r):
        return dict(zip(names, r["values"]))

    seed_at = names.index("seed")
    cells = defaultdict(list)
    for r in runs:
        key = tuple(v for i, v in enumerate(r["values"]) if i != seed_at)
        cells[key].append(r)
    others = [n for n in names if n != "seed"]
    lines = [f"## {study.name}", "",
             f"| {' | '.join(others)} | runs | Adam's recursion: all modes kept [95% CI] | collapsed: "
             + " / ".join(MECHANISMS[1:]) + " | flow (adam_ode): kept / finished | both finished: "
             "same verdict | flow stopped early: the recursion keeps | s per run |",
             "|" + "---|" * (len(others) + 7)]
    disagree, unfinished, collapsed = [], [], []
    for key, rs in cells.items():
        ok = [r for r in rs if r["status"] == 0]
        k = sum(r["kept"] for r in ok)
        lo, hi = wilson(k, len(ok))
        mech = " / ".join(str(sum(1 for r in ok if not r["kept"] and r["mechanism"] == i))
                          for i in range(1, len(MECHANISMS)))
        flow = [(r, flows.get(tuple(r["values"]))) for r in rs]
        done = [(r, f) for r, f in flow if f is not None and f[0] == 0 and r["status"] == 0]
        open_ = [(r, f) for r, f in flow if f is not None and f[0] not in (0, NOT_RUN)]
        same = sum(r["kept"] == f[1] for r, f in done)
        disagree += [(r, f) for r, f in done if r["kept"] != f[1]]
        unfinished += open_
        collapsed += [r for r in ok if not r["kept"]]
        flow_cell = (f"{sum(f[1] for _, f in done)}/{len(done)}" if any(f for _, f in flow) else "no store")
        cell = " | ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in key)
        lines.append(
            f"| {cell} | {len(rs)} | {k}/{len(ok)} = {k / max(len(ok), 1):.2f} [{lo:.2f}, {hi:.2f}] "
            f"| {mech} | {flow_cell} | {same}/{len(done)} | "
            f"{sum(r['kept'] for r, _ in open_)}/{len(open_)} "
            f"| {np.median([r['seconds'] for r in rs]):.2g} |")
    failed = [r for r in runs if r["status"] != 0]
    lines.append("")
    if failed:
        lines.append("The recursion stopped early (" + ", ".join(
            f"{STATUS_NAMES[r['status']]} at {where(r)}" for r in failed) + ").")
    lines += bullets("Runs the recursion collapses:",
                     [f"{where(r)}: {verdict(r)}" for r in collapsed])
    lines += bullets("Runs where the recursion and the flow disagree:",
                     [f"{where(r)}: recursion {verdict(r)}; flow "
                      f"{'kept' if f[1] else 'collapsed, ' + MECHANISMS[f[2]]}" for r, f in disagree])
    lines += bullets("Runs the flow stopped before t_max (the step cap), read by the recursion at t_max:",
                     [f"{where(r)} (flow: {POINT_STATUS_NAMES.get(f[0], f[0])}): {verdict(r)}"
                      for r, f in unfinished])
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("studies", nargs="+", type=Path)
    ap.add_argument("--store-dir", type=Path, default=Path("results"))
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0 … N − 1 in each cell")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--results", default="adam_steps")
    given = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(given)
    lines = ["# Adam's recursion beside the adam_ode flow", "",
             "Command: `" + " ".join(["python studies/adam_steps.py", *given]) + "`. Kept = "
             "coverage = the number of target modes at t_max; the recursion is Adam on the exact "
             "gradient (torch's betas and eps unless the study sets them), read at the study's "
             "saved times rounded to whole steps.", ""]
    wall, spent = time.perf_counter(), 0.0
    for path in args.studies:
        study = load_study(path)
        axes = [list(range(args.seeds)) if a.name == "seed" and args.seeds is not None
                else list(a.values) for a in study.axes]
        points = [[values[i] for values, i in zip(axes, index)]
                  for index in np.ndindex(*(len(v) for v in axes))]
        runs = run_points(path, points, HERE / "results" / "adam_steps_runs.jsonl", args.jobs)
        flows = flow_verdicts(study, args.store_dir / f"{study.name}.zarr")
        lines += summarise(study, runs, flows)
        spent += sum(r["seconds"] for r in runs)
    lines.append(f"Wall time {time.perf_counter() - wall:.0f} s ({args.jobs} processes; runs held by "
                 "the run cache adam_steps_runs.jsonl are not recomputed); the recursions took "
                 f"{spent:.0f} s in all, summed over the runs when they were computed (s per run: "
                 "their median).")
    text = "\n".join(lines) + "\n"
    (HERE / "results" / f"{args.results}.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a normalizing flow lose a mode where the mixture theory says it does?

Command (full size; resumable, every finished run is cached):

    nice -n 10 python studies/normalizing_flows.py [--workers 2]
    python studies/normalizing_flows.py --fast          # the small version (~2 min)

P(both modes kept) against the dimension d for five trainings toward the same target,
the `pair` target of the quickstart: p = rho N(-(sqrt(Lambda)/2) e_1, I) +
(1 - rho) N(+(sqrt(Lambda)/2) e_1, I) in R^d, Lambda = 16, rho in {1/2, 0.2} (mode 1, at
-2 e_1, is the minor one at rho = 0.2), d in {2, 8, 32, 128}, all by reverse KL:

    ode_trainable  the gradient flow of a two-component mixture (flowsim.simulate,
                   numba, rtol 1e-7, atol 1e-9), trainable weights (softmax logits)
    ode_fixed      the same with the weights fixed at 1/2
    mc_trainable   Monte Carlo mixture VI (flowsim.training.gaussian_vi, plain gradient
                   descent, STL estimator, n = BATCH/2 draws per component per step):
                   the same parameters as the ODE, trained with noise and step ETA
    mc_fixed       the same with the weights fixed at 1/2
    realnvp        flowsim.training.flows.make_flow("realnvp", d) (4 affine coupling
                   layers, hidden (32, 32)), trained by plain SGD (STL, BATCH draws/step)
    spline         flowsim.training.flows.make_flow("spline", d) (4 rational-quadratic
                   spline coupling layers, 8 bins, hidden (32, 32)), the same training

Matched: the target; the start (the mixtures' means random_means(2, d, scale=1, seed),
i.e. i.i.d. N(0, I_d), variance 1, weights 1/2, as in the quickstart; the flows start at
exactly N(0, I_d), zuko's layers zeroed to the identity, hidden weights from `seed`); the
time budget t = ETA * steps = T_MAX for every model (plain gradient descent / SGD with
step ETA, so t is the gradient-flow time of the ODE); the outcome: coverage == 2 at t
(flowsim.diagnostics: each mode j holds q-mass M_j >= rho_j / 2), the flows read through
TrainResult.observables(). NOT matched, and cannot be: a mixture's start puts each
component at distance ~sqrt(d) from both modes (KL(q0||p) ~ d/2), a flow's N(0, I) start
is the mixture's start averaged over its means, centred between the modes (KL(q0||p) of
order 1 in every d).

Seeds: every cell (model, rho, d) runs seeds 0..MIN_SEEDS-1 and then SEED_STEP more at a
time while the 95% Wilson interval of P(both kept) is wider than WIDTH, up to MAX_SEEDS.

Mechanism of each loss: the mixtures by flowsim.diagnostics (vanishing_weight: a weight
< 1e-3 with its mean > 3 sigma from every mode; mean_alignment: two live components on one
mode). A flow has no components, so it is read from the law of s = <x - mu_1, Delta> /
Lambda under q at t (0 at mu_1, 1 at mu_2; 20000 draws, histogram of bin 0.05): "bump" if
q keeps a separate local maximum on the lost mode's side of the midpoint (at least 1.5
times the lowest density between it and the kept mode), else "one bump" (the lost mode is
only q's tail: the whole density sits on the kept mode, the flow's analogue of mean
alignment). Also recorded: the time the lost mode's mass first fell below rho_j / 2 and
the lowest mass any mode reached (a run that dips and comes back).

Running: `--workers` processes (one torch thread each) take runs from a priority queue:
the mixtures and RealNVP first, cheapest cells first, a cell's next seeds as soon as its
batch is in; the spline flow last and seed by seed across its cells (seed 0 of every d,
then seed 1, ...), so that a stopped study leaves every cell with some seeds. `--cap
MODEL=N` limits a model's seeds per cell (the table then shows the wider intervals).
Every finished run is appended to the cache at once; a rerun skips the runs it holds, so
a stopped study resumes where it stopped; `--report-only` rewrites the table from the
cache.

Outputs: studies/results/normalizing_flows.md (tables, seeds, command, time), the run
cache studies/results/normalizing_flows_runs.jsonl (one JSON object per run: settings,
outcome at each horizon, loss history; the flows' mode masses and KL against time) and
normalizing_flows_invocations.jsonl (each invocation's wall time and new runs). --fast
writes the same files named normalizing_flows_fast*.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np

from flowsim.stats import wilson

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
MODELS = ("ode_trainable", "ode_fixed", "mc_trainable", "mc_fixed", "realnvp", "spline")
LABELS = {"ode_trainable": "ODE, trainable w", "ode_fixed": "ODE, fixed w",
          "mc_trainable": "MC mixture, trainable w", "mc_fixed": "MC mixture, fixed w",
          "realnvp": "RealNVP", "spline": "spline flow"}

FULL = dict(dims=(2, 8, 32, 128), rhos=(0.5, 0.2), Lambda=16.0, eta=0.05, t_max=50.0, batch=128,
            n_eval=2048, horizons=(10.0, 25.0, 50.0), ode_horizons=(100.0, 1000.0),
            min_seeds=10, seed_step=10, max_seeds=50, width=0.3, n_records=24, n_shape=20000,
            transforms=4, hidden=(32, 32), bins=8)
FAST = dict(FULL, dims=(2, 8), t_max=10.0, horizons=(2.5, 5.0, 10.0), ode_horizons=(100.0,),
            min_seeds=4, seed_step=4, max_seeds=4, n_records=12, n_eval=1024, n_shape=5000)


def key(model, d, rho, seed):
    return f"{model}|d={d}|rho={rho:g}|seed={seed}"


# --------------------------------------------------------------------------- one run

def _coverage(mode_mass, rho_vec):
    from flowsim.diagnostics import coverage

    return int(coverage(mode_mass, rho_vec))


def _horizon_index(time_grid, t):
    i = int(np.argmin(np.abs(np.asarray(time_grid) - t)))
    if abs(time_grid[i] - t) > 1e-9 * max(1.0, t):
        raise RuntimeError(f"horizon {t} not on the recorded grid")
    return i


def _loss_history(time_grid, mode_mass, rho_vec):
    """Lowest M_j / rho_j over the run and, for the mode lost at the end (if any), the first
    recorded time its mass fell below rho_j / 2 and the lowest mass it reached."""
    mm = np.asarray(mode_mass, float)
    ratio = mm / rho_vec
    out = {"min_mass_ratio": float(np.nanmin(ratio))}
    final = mm[-1]
    lost = [j for j in range(len(rho_vec)) if final[j] < 0.5 * rho_vec[j]]
    if lost:
        j = int(lost[np.argmin([final[j] / rho_vec[j] for j in lost])])
        below = np.nonzero(mm[:, j] < 0.5 * rho_vec[j])[0]
        out.update(lost_mode=j, t_below_half=float(time_grid[below[0]]), lost_min_mass=float(mm[:, j].min()))
    return out


def _shape(samples_s, lost, lam, bins=np.linspace(-0.75, 1.75, 51)):
    """The law of s = <x - mu_1, Delta> / Lambda under q, read on the lost mode's side of the
    midpoint s = 1/2 (see the module docstring): the highest (3-bin smoothed) density there
    against the lowest density between it and the kept mode."""
    h, edges = np.histogram(samples_s, bins=bins, density=True)
    centres = 0.5 * (edges[:-1] + edges[1:])
    h = np.convolve(h, np.ones(3) / 3.0, mode="same")
    s_lost, s_kept = (0.0, 1.0) if lost == 0 else (1.0, 0.0)
    side = (centres < 0.5) if lost == 0 else (centres > 0.5)
    i_peak = int(np.flatnonzero(side)[np.argmax(h[side])])
    i_kept = int(np.argmin(np.abs(centres - s_kept)))
    lo, hi = sorted((i_peak, i_kept))
    valley = float(h[lo:hi + 1].min())
    ratio = float(h[i_peak] / valley) if valley > 0 else float("inf")
    beyond = samples_s < 0.5 if lost == 0 else samples_s > 0.5
    return {"bump": bool(ratio >= 1.5), "bump_s": float(centres[i_peak]), "bump_to_valley": ratio,
            "lost_side_mass": float(np.mean(beyond)), "mean_s": float(np.mean(samples_s)),
            "bump_dist_sigma": float(abs(centres[i_peak] - s_lost) * math.sqrt(lam))}


def _record_times(cfg):
    steps = int(round(cfg["t_max"] / cfg["eta"]))
    grid = np.rint(np.geomspace(1, steps, cfg["n_records"] - 1))
    extra = [round(t / cfg["eta"]) for t in cfg["horizons"]]
    return np.unique(np.concatenate([[0], grid, extra, [steps]]).astype(int)), steps


def run_ode(weights, d, rho, seed, cfg):
    from flowsim import GaussianMixture, log_times, simulate
    from flowsim.gaussian import pair_target, random_means

    horizons = tuple(cfg["horizons"]) + tuple(cfg["ode_horizons"])
    t_max = max(horizons)
    t_eval = np.union1d(log_times(t_max, per_decade=10, decades=6), horizons)
    target = pair_target(d, cfg["Lambda"], rho)
    init = GaussianMixture(random_means(2, d, scale=1.0, seed=seed), [0.5, 0.5])
    tr = simulate(target, init, objective="reverse_kl", weights=weights, t_max=t_max, t_eval=t_eval,
                  backend="numba", rtol=1e-7, atol=1e-9)
    ds = tr.to_xarray(max_dim=0)
    t = ds["time"].values
    rho_vec = np.array([rho, 1 - rho])
    out = {"status": tr.status_name, "horizon": {}}
    for h in horizons:
        i = _horizon_index(t, h)
        out["horizon"][f"{h:g}"] = {
            "coverage": int(ds["coverage"].values[i]), "vanishing_weight": bool(ds["vanishing_weight"].values[i]),
            "mean_alignment": bool(ds["mean_alignment"].values[i]),
            "mode_mass": ds["mode_mass"].values[i].tolist(), "weights": ds["weights"].values[i].tolist()}
    upto = t <= cfg["t_max"] + 1e-9
    out.update(_loss_history(t[upto], ds["mode_mass"].values[upto], rho_vec))
    out["time"] = t[upto].tolist()
    out["mode_mass"] = ds["mode_mass"].values[upto].tolist()
    out["weights_t"] = ds["weights"].values[upto].tolist()
    return out


def run_mc(weights, d, rho, seed, cfg):
    import torch

    from flowsim import GaussianMixture
    from flowsim.diagnostics import mean_alignment, vanishing_weight
    from flowsim.gaussian import pair_target, random_means
    from flowsim.training import gaussian_vi

    torch.set_num_threads(1)
    grid, _ = _record_times(cfg)
    t_eval = grid * cfg["eta"]
    target = pair_target(d, cfg["Lambda"], rho)
    init = GaussianMixture(random_means(2, d, scale=1.0, seed=seed), [0.5, 0.5])
    rec = gaussian_vi.run(target, init, weights=weights, lr=cfg["eta"], n=cfg["batch"] // 2, t_eval=t_eval,
                          n_seeds=1, seed=seed, optimizer="gd", estimator="stl", device="cpu")
    v = {k: np.asarray(x)[:, 0] for k, x in rec.variables.items()}
    rho_vec = np.array([rho, 1 - rho])
    out = {"status": "ok", "horizon": {}}
    for h in cfg["horizons"]:
        i = _horizon_index(rec.time, h)
        out["horizon"][f"{h:g}"] = {
            "coverage": _coverage(v["mode_mass"][i], rho_vec),
            "vanishing_weight": bool(vanishing_weight(v["weights"][i], v["distance"][i])),
            "mean_alignment": bool(mean_alignment(v["weights"][i], v["nearest_mode"][i], 2)),
            "mode_mass": v["mode_mass"][i].tolist(), "weights": v["weights"][i].tolist()}
    out.update(_loss_history(rec.time, v["mode_mass"], rho_vec))
    out["time"] = np.asarray(rec.time).tolist()
    out["mode_mass"] = v["mode_mass"].tolist()
    out["weights_t"] = v["weights"].tolist()
    out["reverse_kl"] = v["reverse_kl"].tolist()
    return out


def run_flow(kind, d, rho, seed, cfg):
    import torch

    from flowsim.diagnostics import summarize
    from flowsim.gaussian import pair_target
    from flowsim.training.flows import make_flow, train

    torch.set_num_threads(1)
    grid, steps = _record_times(cfg)
    target = pair_target(d, cfg["Lambda"], rho)
    q = make_flow(kind, d, transforms=cfg["transforms"], hidden=cfg["hidden"], bins=cfg["bins"], seed=seed)
    res = train(target, q, lr=cfg["eta"], steps=steps, batch=cfg["batch"], estimator="stl", optimizer="sgd",
                seed=seed, record_steps=grid, n_eval=cfg["n_eval"])
    rho_vec = np.array([rho, 1 - rho])
    out = {"status": "ok" if np.all(np.isfinite(res.loss)) else "nonfinite_loss", "horizon": {}}
    final = summarize(res.observables())
    for h in cfg["horizons"]:
        i = _horizon_index(res.time, h)
        out["horizon"][f"{h:g}"] = {"coverage": _coverage(res.mode_mass[i], rho_vec),
                                    "mode_mass": res.mode_mass[i].tolist()}
    out["vanishing_weight_flag"] = bool(final["vanishing_weight"])
    out.update(_loss_history(res.time, res.mode_mass, rho_vec))
    out["time"] = res.time.tolist()
    out["mode_mass"] = res.mode_mass.tolist()
    out["reverse_kl"] = res.reverse_kl.tolist()
    out["projected_moment"] = np.where(np.isfinite(res.projected_moment), res.projected_moment, np.nan).tolist()
    # law of s = <x - mu_1, Delta> / Lambda under q at t_max
    g = torch.Generator().manual_seed(10_000 + int(seed))
    with torch.no_grad():
        x = q.rsample(cfg["n_shape"], g).double().numpy()
    mu = target.means
    delta = mu[1] - mu[0]
    s_val = (x - mu[0]) @ delta / float(delta @ delta)
    lost = out.get("lost_mode")
    out["shape"] = _shape(s_val, lost if lost is not None else int(np.argmin(res.mode_mass[-1] / rho_vec)),
                          cfg["Lambda"])
    out["s_quantiles"] = np.quantile(s_val, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]).tolist()
    return out


def run_one(task):
    """One run: (model, d, rho, seed, cfg) -> record (JSON-able dict)."""
    model, d, rho, seed, cfg = task
    t0 = time.perf_counter()
    c0 = time.process_time()
    if model.startswith("ode_"):
        out = run_ode(model[4:], d, rho, seed, cfg)
    elif model.startswith("mc_"):
        out = run_mc(model[3:], d, rho, seed, cfg)
    else:
        out = run_flow(model, d, rho, seed, cfg)
    out.update(key=key(model, d, rho, seed), model=model, d=int(d), rho=float(rho), seed=int(seed),
               seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    return _jsonable(out)


def _jsonable(x, digits=6):
    """JSON-able copy with floats rounded to `digits` significant digits (non-finite -> None)."""
    if isinstance(x, dict):
        return {k: _jsonable(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, digits) for v in x]
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return float(f"{x:.{digits}g}") if math.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


SERIES = ("time", "mode_mass", "reverse_kl")


def compact(run):
    """The record as kept in the cache file: series (time, mode masses, KL) only for the flows,
    floats to 5 significant digits."""
    keep = {k: v for k, v in run.items()
            if run["model"] in ("realnvp", "spline") and k in SERIES or k not in SERIES + ("weights_t", "projected_moment")}
    return _jsonable(keep, digits=5)


def compact_cache(path, runs):
    """Rewrite the cache file with every run compacted, sorted by key (atomic replace)."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as fh:
        for k in sorted(runs):
            fh.write(json.dumps(compact(runs[k])) + "\n")
    tmp.replace(path)


# --------------------------------------------------------------------------- scheduling

def load_cache(path):
    runs = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                runs[r["key"]] = r
    return runs


def kept(run, horizon):
    return run["horizon"][f"{horizon:g}"]["coverage"] == 2


def cell_runs(runs, model, d, rho):
    out = [r for r in runs.values() if r["model"] == model and r["d"] == d and r["rho"] == rho]
    return sorted(out, key=lambda r: r["seed"])


def _need_more(cell, cfg):
    n = len(cell)
    if n < cfg["min_seeds"]:
        return True
    if n >= cfg["max_seeds"]:
        return False
    k = sum(kept(r, cfg["t_max"]) for r in cell)
    lo, hi = wilson(k, n)
    return hi - lo > cfg["width"]


def _cost(model, d):
    """Rough seconds per run at the full size (for ordering only)."""
    base = {"ode_trainable": 1, "ode_fixed": 1, "mc_trainable": 3, "mc_fixed": 3, "realnvp": 8, "spline": 40}
    return base[model] * (1 + d / 16) if model in ("realnvp", "spline") else base[model]


def run_study(cfg, models, cache_path, workers, caps=None, interleave=("spline",), log=print):
    """Run every cell's seeds (see the module docstring), `workers` runs at a time, and append
    each finished run to the cache. Order: the cells of the other models first, cheapest
    first (a cell's further seeds as soon as its batch is in); then the models in
    `interleave` seed by seed across their cells (seed 0 of every d, then seed 1, ...), so
    that stopping early leaves every cell with some seeds. `caps` {model: n} limits a
    model's seeds per cell below the Wilson rule's."""
    caps = dict(caps or {})
    runs = load_cache(cache_path)
    cells = [(m, d, r) for m in models for r in cfg["rhos"] for d in cfg["dims"]]
    cap = {c: min(caps.get(c[0], cfg["max_seeds"]), cfg["max_seeds"]) for c in cells}
    target = {c: min(cfg["min_seeds"], cap[c]) for c in cells}
    scheduled = {c: {r["seed"] for r in cell_runs(runs, *c)} for c in cells}
    inflight = {}          # future -> cell
    n_new = 0
    t_start = time.perf_counter()

    def priority(cell, seed):
        m, d, rho = cell
        if m in interleave:
            return (1, seed, _cost(m, d), -rho)
        return (0, _cost(m, d), seed, -rho)

    def grow(cell):
        """A cell whose scheduled seeds are all in: raise its target while the rule asks."""
        if any(c == cell for c in inflight.values()):
            return
        cur = cell_runs(runs, *cell)
        if len(cur) >= target[cell] and _need_more(cur, cfg) and target[cell] < cap[cell]:
            target[cell] = min(len(cur) + cfg["seed_step"], cap[cell])

    def next_task():
        best = None
        for c in cells:
            free = [s for s in range(target[c]) if s not in scheduled[c]]
            if free:
                key = priority(c, free[0])
                if best is None or key < best[0]:
                    best = (key, c, free[0])
        return best

    with ProcessPoolExecutor(max_workers=workers) as pool, cache_path.open("a") as fh:
        while True:
            for c in cells:
                grow(c)
            while len(inflight) < workers:
                task = next_task()
                if task is None:
                    break
                _, cell, seed = task
                scheduled[cell].add(seed)
                inflight[pool.submit(run_one, (cell[0], cell[1], cell[2], seed, cfg))] = cell
            if not inflight:
                break
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            for fut in done:
                inflight.pop(fut)
                rec = fut.result()
                runs[rec["key"]] = rec
                fh.write(json.dumps(compact(rec)) + "\n")
                fh.flush()
                n_new += 1
                cov = rec["horizon"][format(cfg["t_max"], "g")]["coverage"]
                log(f"[{time.perf_counter() - t_start:7.0f} s] {rec['key']}: coverage {cov} "
                    f"({rec['seconds']:.1f} s, {rec['cpu_seconds']:.1f} s CPU)", flush=True)
    return runs, n_new, time.perf_counter() - t_start


# --------------------------------------------------------------------------- report

def _p_cell(cell, horizon):
    n = len(cell)
    if n == 0:
        return None
    k = sum(kept(r, horizon) for r in cell)
    lo, hi = wilson(k, n)
    return k, n, lo, hi


def _fmt_p(v):
    if v is None:
        return "—"
    k, n, lo, hi = v
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


def _rising(run, cfg):
    """The lost mode's mass grew over the second half of the run (t/2 -> t): coming back."""
    t = np.asarray(run["time"], float)
    j = run["lost_mode"]
    i = int(np.argmin(np.abs(t - 0.5 * cfg["t_max"])))
    return run["mode_mass"][-1][j] > run["mode_mass"][i][j]


def _median_last(cell, name):
    vals = [r[name][-1] for r in cell if r.get(name) and r[name][-1] is not None]
    return float(np.median(vals)) if vals else float("nan")


def summary(runs, cfg, models):
    """{(model, rho, d): {...}} with P(both kept) at each horizon and the loss mechanisms."""
    out = {}
    for m in models:
        for rho in cfg["rhos"]:
            for d in cfg["dims"]:
                cell = cell_runs(runs, m, d, rho)
                if not cell:
                    continue
                T = f"{cfg['t_max']:g}"
                lost = [r for r in cell if not kept(r, cfg["t_max"])]
                hz = tuple(cfg["horizons"]) + (tuple(cfg["ode_horizons"]) if m.startswith("ode") else ())
                entry = {"n": len(cell), "seeds": [r["seed"] for r in cell],
                         "p": {f"{h:g}": _p_cell(cell, h) for h in hz},
                         "lost_minor": sum(1 for r in lost if r.get("lost_mode") == 0),
                         "lost_major": sum(1 for r in lost if r.get("lost_mode") == 1),
                         "dipped": sum(1 for r in cell if kept(r, cfg["t_max"]) and r["min_mass_ratio"] < 0.5),
                         "seconds": sum(r["seconds"] for r in cell),
                         "not_ok": sum(1 for r in cell if r.get("status") not in ("ok", "settled"))}
                if m.startswith(("ode", "mc")):
                    entry["vanishing_weight"] = sum(r["horizon"][T]["vanishing_weight"] for r in lost)
                    entry["mean_alignment"] = sum(r["horizon"][T]["mean_alignment"] for r in lost)
                else:
                    entry["rising"] = sum(1 for r in lost if _rising(r, cfg))
                    entry["bump"] = sum(r["shape"]["bump"] for r in lost)
                    entry["one_bump"] = sum(not r["shape"]["bump"] for r in lost)
                    entry["lost_side_mass"] = (float(np.median([r["shape"]["lost_side_mass"] for r in lost]))
                                               if lost else None)
                    entry["final_kl"] = _median_last(cell, "reverse_kl")
                    entry["lost_kl"] = _median_last(lost, "reverse_kl") if lost else None
                tb = [r["t_below_half"] for r in lost if "t_below_half" in r]
                entry["t_below_half"] = float(np.median(tb)) if tb else None
                out[(m, rho, d)] = entry
    return out


def _terminate(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def write_report(runs, cfg, models, path, command, wall, n_new, fast, log_path=None):
    S = summary(runs, cfg, models)
    T = f"{cfg['t_max']:g}"
    total_cpu = sum(r["cpu_seconds"] for r in runs.values())
    total_task = sum(r["seconds"] for r in runs.values())
    L = []
    L.append("# Normalizing flows beside the mixture theory: P(both modes kept) against d")
    L.append("")
    L.append(f"Command: `{command}`" + (" (the small version)" if fast else "") + ".")
    L.append(f"Run cache: `{path.with_name(path.stem + '_runs.jsonl').name}` in this folder "
             f"({len(runs)} runs; the invocations that computed them are listed at the end).")
    L.append("")
    L.append(f"Target `pair_target(d, Λ = {cfg['Lambda']:g}, ρ)` (mode 1 at −2e₁ with weight ρ, mode 2 at +2e₁), "
             f"reverse KL, time budget t = η·steps = {T} for every model (η = {cfg['eta']:g}, "
             f"{int(round(cfg['t_max'] / cfg['eta']))} steps of plain gradient descent / SGD; the ODE is the "
             f"η → 0 limit of the MC mixture). Mixtures start at random_means(2, d, scale 1, seed), variance 1, "
             f"weights ½; flows start at exactly N(0, I_d) (identity layers; hidden weights from the seed). "
             f"Flows: {cfg['transforms']} coupling layers, hidden {tuple(cfg['hidden'])}, spline bins "
             f"{cfg['bins']}, {cfg['batch']} draws per step (the MC mixture: {cfg['batch'] // 2} per component), "
             f"STL gradients, observables from {cfg['n_eval']} fresh draws. 'Kept' = coverage 2 at t "
             f"(each mode j holds q-mass M_j ≥ ρ_j/2). Seeds 0..n−1 per cell: {cfg['min_seeds']}, then "
             f"+{cfg['seed_step']} while the 95% Wilson interval is wider than {cfg['width']:g} (at most "
             f"{cfg['max_seeds']}).")
    L.append("")
    L.append(f"## P(both modes kept) at t = {T} (k/n, 95% Wilson interval)")
    L.append("")
    L.append("| ρ | d | " + " | ".join(LABELS[m] for m in models) + " |")
    L.append("|---|---|" + "---|" * len(models))
    for rho in cfg["rhos"]:
        for d in cfg["dims"]:
            cells = [_fmt_p(S[(m, rho, d)]["p"][T]) if (m, rho, d) in S else "—" for m in models]
            L.append(f"| {rho:g} | {d} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("## How the lost runs lost their mode (at t = %s)" % T)
    L.append("")
    L.append("Mixtures: flowsim.diagnostics' vanishing_weight (VW) / mean_alignment (MA). Flows: 'bump' = q "
             "keeps a separate bump on the lost mode's side, 'one bump' = the lost mode is only q's tail. "
             "'minor/major' = which mode was lost (at ρ = ½ mode 1 and 2 weigh the same). "
             "'dipped' = kept at t but some mode's mass fell below ρ_j/2 on the way. "
             "t½ = median first time the lost mode's mass fell below ρ_j/2.")
    L.append("")
    L.append("| ρ | d | model | lost | minor / major lost | mechanism | dipped and came back | t½ | median KL(q‖p) at t (all / lost) |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for rho in cfg["rhos"]:
        for d in cfg["dims"]:
            for m in models:
                e = S.get((m, rho, d))
                if e is None:
                    continue
                k, n = e["p"][T][0], e["p"][T][1]
                if m.startswith(("ode", "mc")):
                    mech = f"VW {e['vanishing_weight']}, MA {e['mean_alignment']}"
                    kl = ""
                else:
                    mech = f"bump {e['bump']}, one bump {e['one_bump']}"
                    if e["lost_side_mass"] is not None:
                        mech += (f" (median q-mass beyond the midpoint {e['lost_side_mass']:.3f}; lost mode's "
                                 f"mass rising over the second half in {e['rising']})")
                    kl = f"{e['final_kl']:.3f} / " + (f"{e['lost_kl']:.3f}" if e["lost_kl"] is not None else "—")
                tb = f"{e['t_below_half']:.3g}" if e["t_below_half"] is not None else "—"
                L.append(f"| {rho:g} | {d} | {LABELS[m]} | {n - k}/{n} | {e['lost_minor']} / {e['lost_major']} | "
                         f"{mech} | {e['dipped']} | {tb} | {kl} |")
    L.append("")
    hz = list(cfg["horizons"])
    L.append("## P(both modes kept) against the horizon")
    L.append("")
    L.append("The same runs read at earlier recorded times; the ODE also run on to "
             + ", ".join(f"t = {h:g}" for h in cfg["ode_horizons"]) + ".")
    L.append("")
    L.append("| ρ | d | model | " + " | ".join(f"t = {h:g}" for h in hz + list(cfg["ode_horizons"])) + " |")
    L.append("|---|---|---|" + "---|" * (len(hz) + len(cfg["ode_horizons"])))
    for rho in cfg["rhos"]:
        for d in cfg["dims"]:
            for m in models:
                e = S.get((m, rho, d))
                if e is None:
                    continue
                vals = []
                for h in hz + list(cfg["ode_horizons"]):
                    v = e["p"].get(f"{h:g}")
                    vals.append("—" if v is None else f"{v[0] / v[1]:.2f}")
                L.append(f"| {rho:g} | {d} | {LABELS[m]} | " + " | ".join(vals) + " |")
    L.append("")
    L.append("## Seeds and time")
    L.append("")
    L.append("| model | ρ | d | seeds | task seconds | runs not 'ok' (non-finite loss, solver failure) |")
    L.append("|---|---|---|---|---|---|")
    for m in models:
        for rho in cfg["rhos"]:
            for d in cfg["dims"]:
                e = S.get((m, rho, d))
                if e is None:
                    continue
                sd = e["seeds"]
                rng = f"0..{sd[-1]}" if sd == list(range(len(sd))) else ",".join(map(str, sd))
                L.append(f"| {LABELS[m]} | {rho:g} | {d} | {rng} ({len(sd)}) | {e['seconds']:.0f} | {e['not_ok']} |")
    L.append("")
    flow_task = sum(r["seconds"] for r in runs.values() if r["model"] in ("realnvp", "spline"))
    flow_cpu = sum(r["cpu_seconds"] for r in runs.values() if r["model"] in ("realnvp", "spline"))
    L.append(f"Total over all cached runs: {total_task / 3600:.2f} h of task (wall) time and {total_cpu / 3600:.2f} h "
             f"of CPU time, of which the flows {flow_task / 3600:.2f} h and {flow_cpu / 3600:.2f} h; "
             f"{os.cpu_count()} CPUs shared with other jobs, one torch thread per worker, niced, so task time is "
             f"several times the CPU time.")
    if log_path is not None and log_path.exists():
        L.append("")
        L.append("Invocations (wall time each):")
        L.append("")
        for line in log_path.read_text().splitlines():
            if line.strip():
                inv = json.loads(line)
                note = f" ({inv['note']})" if inv.get("note") else ""
                L.append(f"- {inv['started']} UTC, `{inv['command']}` with {inv['workers']} workers: "
                         f"{inv['wall_seconds'] / 60:.1f} min, {inv['new_runs']} new runs, {inv['status']}{note}")
    path.write_text("\n".join(L) + "\n")
    return S


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="the small version (d = 2, 8; 4 seeds; t = 10)")
    ap.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS, help="folder of the table and the cache")
    ap.add_argument("--report-only", action="store_true", help="write the table from the cache, run nothing")
    ap.add_argument("--cap", nargs="+", default=[], metavar="MODEL=N",
                    help="at most N seeds per cell for MODEL (below the Wilson rule; the table says so)")
    args = ap.parse_args(argv)
    cfg = dict(FAST if args.fast else FULL)
    name = "normalizing_flows_fast" if args.fast else "normalizing_flows"
    args.out.mkdir(parents=True, exist_ok=True)
    md, cache = args.out / f"{name}.md", args.out / f"{name}_runs.jsonl"
    command = "python studies/normalizing_flows.py" + (" --fast" if args.fast else "")
    if args.cap:
        command += " --cap " + " ".join(args.cap)
    invoked = command + f" --workers {args.workers}" + (
        " --models " + " ".join(args.models) if list(args.models) != list(MODELS) else "")
    log_path = args.out / f"{name}_invocations.jsonl"
    if args.report_only:
        runs, n_new, wall = load_cache(cache), 0, 0.0
    else:
        caps = {}
        for item in args.cap:
            m, _, n = item.partition("=")
            if m not in MODELS or not n.isdigit():
                ap.error(f"--cap: expected MODEL=N with MODEL in {MODELS}, got {item!r}")
            caps[m] = int(n)
        signal.signal(signal.SIGTERM, _terminate)
        started, status = time.time(), "interrupted"
        n_before = len(load_cache(cache))
        try:
            runs, n_new, wall = run_study(cfg, args.models, cache, args.workers, caps=caps)
            status = "finished"
        finally:
            with log_path.open("a") as fh:
                fh.write(json.dumps({"command": invoked, "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
                                     "wall_seconds": round(time.time() - started, 1), "status": status,
                                     "new_runs": len(load_cache(cache)) - n_before, "workers": args.workers}) + "\n")
    compact_cache(cache, runs)
    write_report(runs, cfg, [m for m in MODELS if any(r["model"] == m for r in runs.values())], md, command,
                 wall, n_new, args.fast, log_path)
    print(md.read_text())
    print(f"total time: {wall:.1f} s wall for {n_new} new runs "
          f"({sum(r['seconds'] for r in runs.values()):.0f} s of task time over all {len(runs)} cached runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Annealing phase diagram: P(both modes kept) over (β₀, rate) of a linear temperature schedule.

Setting (studies/annealing.toml): the annealed reverse KL L_β = E_q[log q] − β(t) E_q[log p]
(docs/derivations.md, B1), β(t) = min(1, β₀ + r t), Gaussian two-mode target in R^d
(Λ = 16, ρ = 1/2, σ*² = 1, as studies/quickstart.toml), q = two components with random
means N(0, I_d), σ² = σ*² fixed, trainable weights; outcome at t_max = 5000 (β = 1 from
t = (1 − β₀)/r ≤ 3160 on): kept = coverage 2 (flowsim.diagnostics), P(kept) over 32 seeds.

What it does:
1. The sweep (`python -m flowsim.sweep studies/annealing.toml`), or reads its store: P(kept)
   per (β₀, r, d), the outcome classes, and the P = 1/2 contour r*(β₀) read off the grid.
2. The boundary sharpened per seed: kept(r) is monotone in r for every seed of the grid
   (checked), so each seed has a critical rate r_c (β₀ fixed) or a critical β₀_c (r fixed),
   found by bisection in log r (log β₀); the median over 32 seeds is the P = 1/2 point, with
   a bootstrap interval. At d = 128 on a row of β₀; at d = 96, 256, 512 at the two ends of
   the boundary (β₀ = 10⁻³, and r = 10^-4.5) and at β₀ = β_c/2, for the d-scaling.
3. Fits of r*(β₀) at d = 128, in log r (residuals in decades):
     race        max_t β(t) e^{−∫β} = c: the quasi-static weight race of a two-variable model
                 (weights follow −β ΔF, offsets decay as e^{−∫β}); 1 parameter
     window      r* = (β_c − β₀)/T: the schedule must stay below a critical β_c for a time T
                 (the initial-temperature / cooling-rate trade-off of simulated annealing:
                 start hot enough, β₀ < β_c, and cool slowly enough, (β_c − β₀)/r > T); 2 parameters
     relaxation  r* = (β_c² − β₀²)/(2S): the same with the time measured in relaxation units
                 ∫β dt = S (the means relax at rate β); 2 parameters
     exponential r* = r₀ e^{−β₀/b} (Arrhenius-like: each step of β₀ costs a factor in rate); 2
     power       r* = r₀ (1 − β₀/β_c)^a; 3 parameters
   the d-scaling of β₀_c(r = 10^-4.5, d) and r*(β₀ = 10⁻³, d) by power laws, and a linear-
   stability criterion with one constant for all d (`growth`): linearising the flow about
   equal weights in the two variables that race, x = log(w₁/w₂) and Δ = ρ₁ − ρ₂ (ρ_k the
   squared offset of mean k orthogonal to the modes' axis; R1, R3 with the repulsion and the
   axial terms dropped), dΔ/dt = −βΔ − βρ̄x, dx/dt = −x/2 − βΔ/4, whose growth rate is
   λ₊ = ½[√((β − ½)² + β²ρ̄) − (β + ½)] (unstable while βρ̄ > 2), with ρ̄(t) = d e^{−∫β}
   (both means contracting at rate β/2): the flow collapses when the integrated growth
   G = ∫ max(λ₊, 0) dt exceeds G*.
4. A torch slice: gradient descent on the Monte Carlo reverse KL with the same schedule
   (flowsim.training.gaussian_vi, `schedule=`), d = 128, β₀ = 10⁻³, five rates across the
   boundary, 8 initialisations × 8 Monte Carlo streams, lr = 0.2, n = 16 draws per component,
   against the flow from the same initialisations, both judged at t = 600.
5. --check-tolerance: 96 points near the d = 128 boundary again at rtol 1e-8, atol 1e-10.

Writes studies/results/annealing.md.
Run: python studies/annealing.py [--store results/annealing.zarr] [--run] [--check-tolerance]
     [--no-torch] [--workers 2]
     python studies/annealing.py --torch-only [--workers 2]   (the torch slice alone)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent
STUDY = ROOT / "annealing.toml"
RESULTS = ROOT / "results" / "annealing.md"
TORCH_RESULTS = ROOT / "results" / "annealing_torch.md"
DEFAULT_STORE = ROOT.parent / "results" / "annealing.zarr"

T_MAX = 5000.0
T_AFTER = 1840.0                      # the grid's least time at β = 1 before t_max
RTOL, ATOL = 1e-6, 1e-8              # the study's solver settings
R_LO, R_HI = 10 ** -3.5, 10 ** 0.5   # the study's rate range
B_LO, B_HI = 1e-3, 1.0               # the study's β₀ range
R_SLOW = 10 ** -4.5                   # the bisections' slowest rate (t_max grows to ~3.3e4)
N_BISECT = 9                          # 5 decades / 2^9 = 0.01 decade in r
N_SEEDS = 32
D_MAIN = 128
D_SCALING = (96, 128, 256, 512)
BETA_ROW = (1e-3, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16)
TORCH = dict(d=128, beta0=1e-3, rates=(2e-3, 3.5e-3, 5e-3, 8e-3, 1.5e-2), inits=8, streams=8,
             lr=0.2, n=16, horizon=600.0)


# ------------------------------------------------------------------ one flow

_STUDY = None


def study():
    global _STUDY
    if _STUDY is None:
        from flowsim.sweep import load_study
        _STUDY = load_study(STUDY)
    return _STUDY


def mixtures(d, seed):
    """(target, init) of the study's point (d, seed) (the schedule does not enter them)."""
    from flowsim.sweep.points import make_objects

    return make_objects(study().point_config([0.1, 0.01, int(d), int(seed)]))


def horizon(beta0, rate):
    """t_max of a point: the grid's 5000, or longer for rates below the grid's, so that the
    plain flow (β = 1) always runs at least T_AFTER before the outcome is read."""
    return max(T_MAX, (1.0 - beta0) / rate + T_AFTER)


def kept(d, seed, beta0, rate, t_max=None, rtol=RTOL, atol=ATOL):
    """1 if both modes are kept at t_max (default `horizon`) by the annealed flow, else 0
    (and the status)."""
    from flowsim import simulate

    t_max = horizon(beta0, rate) if t_max is None else t_max
    target, init = mixtures(d, seed)
    tr = simulate(target, init, objective="reverse_kl", weights="trainable", t_max=t_max,
                  t_eval=np.array([0.0, t_max]), backend="numba", method="auto", rtol=rtol,
                  atol=atol, schedule={"kind": "linear", "beta0": float(beta0), "rate": float(rate)})
    dg = tr.diagnostics
    return int(dg["coverage"] == 2), dg["status"]


def bisect_seed(job):
    """Critical value of one seed by bisection in log: ("rate", d, seed, β₀) → r_c with kept
    for r < r_c; ("beta0", d, seed, r) → β₀_c with kept for β₀ < β₀_c. ±inf when censored."""
    kind, d, seed, fixed = job
    lo, hi = (R_SLOW, R_HI) if kind == "rate" else (B_LO, B_HI)

    def ok(x):
        return kept(d, seed, fixed, x)[0] if kind == "rate" else kept(d, seed, x, fixed)[0]

    if not ok(lo):
        return job, -math.inf
    if ok(hi):
        return job, math.inf
    a, b = math.log(lo), math.log(hi)
    for _ in range(N_BISECT):
        m = 0.5 * (a + b)
        if ok(math.exp(m)):
            a = m
        else:
            b = m
    return job, math.exp(0.5 * (a + b))


def run_jobs(fn, jobs, workers):
    if workers <= 1:
        return [fn(j) for j in jobs]
    with ProcessPoolExecutor(workers, initializer=os.nice, initargs=(10,)) as ex:
        return list(ex.map(fn, jobs, chunksize=4))


def median_ci(values, rng, n_boot=2000):
    """Median of values (±inf allowed) and its 95% bootstrap interval over seeds."""
    v = np.asarray(values, float)
    boots = np.median(rng.choice(v, (n_boot, v.size)), axis=1)
    return float(np.median(v)), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


# ------------------------------------------------------------------ the grid

def load_grid(store):
    import xarray as xr

    ds = xr.open_zarr(str(store)).load()
    return ds


def grid_contour(beta0, rate, P, level=0.5):
    """Per β₀ row: the rate where P(kept) first falls through `level` (log interpolation
    between grid columns); nan when the row never crosses, −inf/inf when it is below/above
    throughout."""
    out = []
    lr = np.log10(rate)
    for row in P:
        if np.all(row >= level):
            out.append(math.inf)
            continue
        if row[0] < level:
            out.append(-math.inf)
            continue
        j = int(np.nonzero(row < level)[0][0])
        f = (row[j - 1] - level) / (row[j - 1] - row[j])
        out.append(10 ** (lr[j - 1] + f * (lr[j] - lr[j - 1])))
    return np.array(out)


def monotone_fraction(ds, d):
    """Fraction of (seed, β₀) rows whose kept(r) on the grid never goes from collapsed back to
    kept as r grows, and likewise of (seed, r) columns in β₀."""
    k = 1 - ds.collapsed.sel(d=d).transpose("beta0", "rate", "seed").values     # (B, R, S)
    rows = np.all(np.diff(k, axis=1) <= 0, axis=1).mean()
    cols = np.all(np.diff(k, axis=0) <= 0, axis=0).mean()
    return float(rows), float(cols)


# ------------------------------------------------------------------ the fits

def race_rate(beta0, c):
    """r with max_t (β₀ + r t) e^{−(β₀ t + r t²/2)} = c (the quasi-static race), nan if none:
    the maximum is β₀ when β₀² ≥ r, else √r e^{−(1 − β₀²/r)/2}."""
    if beta0 >= c:
        return math.nan
    # g(r) = √r e^{−(1 − β₀²/r)/2} increases with r on r > β₀²; solve g(r) = c by bisection
    a, b = math.log(max(beta0 ** 2, 1e-12)), math.log(1e4)
    g = lambda lr: math.sqrt(math.exp(lr)) * math.exp(-0.5 * (1 - beta0 ** 2 / math.exp(lr)))
    if g(b) < c:
        return math.nan
    for _ in range(200):
        m = 0.5 * (a + b)
        if g(m) < c:
            a = m
        else:
            b = m
    return math.exp(0.5 * (a + b))


FORMS = {
    "race": (("c",), lambda b, p: np.array([race_rate(x, p[0]) for x in b]), (0.05,)),
    "window": (("beta_c", "T"), lambda b, p: (p[0] - b) / p[1], (0.2, 30.0)),
    "relaxation": (("beta_c", "S"), lambda b, p: (p[0] ** 2 - b ** 2) / (2 * p[1]), (0.2, 3.0)),
    "exponential": (("r0", "b"), lambda b, p: p[0] * np.exp(-b / p[1]), (5e-3, 0.06)),
    "power": (("r0", "beta_c", "a"), lambda b, p: p[0] * np.clip(1 - b / p[1], 0, None) ** p[2],
              (5e-3, 0.2, 1.0)),
}


def growth(beta0, rate, d):
    """G = ∫ max(λ₊, 0) dt of the linearised weight–offset race (module docstring, 3.)."""
    t1 = (1.0 - beta0) / rate
    ts = np.concatenate([[0.0], np.geomspace(1e-3, t1 + 200.0, 20000)])
    beta = np.minimum(1.0, beta0 + rate * ts)
    S = np.where(ts < t1, beta0 * ts + 0.5 * rate * ts ** 2, beta0 * t1 + 0.5 * rate * t1 ** 2 + ts - t1)
    rho = d * np.exp(-S)
    lam = np.maximum(0.0, 0.5 * (np.sqrt((beta - 0.5) ** 2 + beta ** 2 * rho) - (beta + 0.5)))
    return float(np.sum(0.5 * (lam[1:] + lam[:-1]) * np.diff(ts)))


def growth_rate(beta0, d, g_star):
    """The rate r with G(β₀, r; d) = G* (G falls as r falls), nan when none in [1e-6, 10]."""
    from scipy.optimize import brentq

    f = lambda lr: growth(beta0, 10 ** lr, d) - g_star
    if f(-6.0) > 0 or f(1.0) < 0:
        return math.nan
    return 10 ** brentq(f, -6.0, 1.0, xtol=1e-4)


def fit_growth(points):
    """G* by least squares in log r over points (d, β₀, r*); residuals in decades (nan where
    the criterion predicts no boundary)."""
    from scipy.optimize import minimize_scalar

    def res(g):
        return np.array([math.log10(growth_rate(b, d, g) / r) for d, b, r in points])

    g0 = np.median([growth(b, r, d) for d, b, r in points])
    sol = minimize_scalar(lambda g: float(np.sum(res(g) ** 2)), bounds=(0.5 * g0, 2 * g0),
                          method="bounded", options={"xatol": 1e-3})
    return float(sol.x), res(float(sol.x))


def fit_form(name, beta0, rstar):
    """Least squares in log10 r over the finite points; returns params, residuals (decades)."""
    from scipy.optimize import least_squares

    names, model, x0 = FORMS[name]
    beta0, rstar = np.asarray(beta0, float), np.asarray(rstar, float)

    def res(p):
        m = model(beta0, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.log10(np.where(m > 0, m, np.nan)) - np.log10(rstar)
        return np.where(np.isfinite(r), r, 3.0)      # a model that predicts no boundary: 3 decades off

    lo = [1e-6] * len(x0)
    if "beta_c" in names:
        lo[names.index("beta_c")] = float(beta0.max()) * 1.0001
    best = None
    for scale in (0.5, 1.0, 2.0):
        start = [max(v * scale, l * 1.01) for v, l in zip(x0, lo)]
        sol = least_squares(res, start, bounds=(lo, [np.inf] * len(x0)))
        if best is None or sol.cost < best.cost:
            best = sol
    return dict(zip(names, best.x)), res(best.x)


def power_law(x, y):
    """y = A x^b by least squares in logs: (A, b, residuals in decades)."""
    lx, ly = np.log10(x), np.log10(y)
    b, a = np.polyfit(lx, ly, 1)
    return 10 ** a, b, ly - (a + b * lx)


# ------------------------------------------------------------------ torch slice

def torch_job(job):
    """One (rate, init) of the torch slice: kept fraction over the Monte Carlo streams, and
    the flow's outcome from the same initialisation, both at the horizon."""
    import torch

    from flowsim.diagnostics import summarize
    from flowsim.training import gaussian_vi

    torch.set_num_threads(1)
    rate, seed = job
    c = TORCH
    target, init = mixtures(c["d"], seed)
    schedule = {"kind": "linear", "beta0": c["beta0"], "rate": rate}
    rec = gaussian_vi.run(target, init, lr=c["lr"], n=c["n"], t_eval=[c["horizon"]],
                          n_seeds=c["streams"], seed=1000 + seed, schedule=schedule, device="cpu")
    kept_mc = [int(summarize(rec.observables(s))["coverage"] == 2) for s in range(rec.n_runs)]
    ode = kept(c["d"], seed, c["beta0"], rate, t_max=c["horizon"])[0]
    return job, kept_mc, ode



def torch_section(torch_rows, wall_s):
    """The torch slice's section of the report (markdown lines)."""
    c = TORCH
    L = ["## Torch slice: Monte Carlo training with the same schedule", ""]
    L.append(f"flowsim.training.gaussian_vi.run(schedule=...): plain gradient descent on the "
             f"reparameterised reverse-KL estimate with the log p term weighted by β(t), "
             f"t = lr × step; d = {c['d']}, β₀ = {c['beta0']:g}, lr = {c['lr']}, n = {c['n']} draws "
             f"per component and step (STL estimator), {c['streams']} Monte Carlo streams from each "
             f"of the first {c['inits']} initialisations of the study; outcome at t = {c['horizon']:g}, "
             f"against the flow from the same initialisations at the same t (β = 1 from "
             f"t = {1 / max(c['rates']):.0f}–{1 / min(c['rates']):.0f}). Wall time {wall_s:.0f} s.")
    L.append("")
    L.append(f"| r | P(kept), flow ({c['inits']} inits) | P(kept), torch ({c['inits'] * c['streams']} runs) "
             f"[95% Wilson] | per init: flow / torch kept of {c['streams']} |")
    L.append("|---|---|---|---|")
    from flowsim.stats import wilson
    for r in c["rates"]:
        rows = sorted((j[1], k, o) for j, k, o in torch_rows if abs(j[0] - r) < 1e-15)
        ode = np.mean([o for _, _, o in rows])
        k_mc = sum(sum(k) for _, k, _ in rows)
        n_mc = sum(len(k) for _, k, _ in rows)
        lo, hi = wilson(k_mc, n_mc)
        per = ", ".join(f"{o}/{sum(k)}" for _, k, o in rows)
        L.append(f"| {r:.3g} | {ode:.2f} | {k_mc / n_mc:.2f} [{lo:.2f}, {hi:.2f}] | {per} |")
    L.append("")
    return L


def run_torch_slice(workers):
    """(rows, wall seconds) of the torch slice: every (rate, init) job of TORCH."""
    t0 = time.perf_counter()
    jobs = [(r, s) for r in TORCH["rates"] for s in range(TORCH["inits"])]
    out = run_jobs(torch_job, jobs, workers)
    return [[list(j), k, o] for j, k, o in out], time.perf_counter() - t0


# ------------------------------------------------------------------ report

def fmt(x, spec=".3g"):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == math.inf:
        return f"> {R_HI:.3g}" if spec == "r" else "∞"
    if x == -math.inf:
        return f"< {R_SLOW:.3g}" if spec == "r" else "−∞"
    return format(x, ".3g" if spec == "r" else spec)


def grid_table(ds, d):
    P = 1 - ds.collapsed.sel(d=d).transpose("beta0", "rate", "seed").values.mean(-1)
    rates = ds.rate.values
    head = "| β₀ \\ r | " + " | ".join(f"{r:.2g}" for r in rates) + " |"
    lines = [head, "|---|" + "---|" * len(rates)]
    for b, row in zip(ds.beta0.values, P):
        lines.append(f"| {b:.3g} | " + " | ".join(f"{x:.2f}" for x in row) + " |")
    return "\n".join(lines), P


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default=str(DEFAULT_STORE))
    ap.add_argument("--run", action="store_true", help="run the sweep even if the store exists "
                    "(it must not exist: the sweep refuses to overwrite)")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-only", action="store_true", help="run only the torch slice (no grid "
                    "needed) and write it to " + TORCH_RESULTS.name)
    ap.add_argument("--check-tolerance", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default=None, help="JSON file keeping the bisection and torch "
                    "results between runs of this script (default: none)")
    args = ap.parse_args(argv)
    if args.torch_only:
        rows, wall = run_torch_slice(args.workers)
        head = ["# Annealing: the torch slice", "",
                f"Command: `python studies/annealing.py --torch-only --workers {args.workers}` "
                "(the same section as in annealing.md, without the grid).", ""]
        TORCH_RESULTS.write_text("\n".join(head + torch_section(rows, wall)))
        print(f"wrote {TORCH_RESULTS} ({wall:.0f} s)")
        return
    rng = np.random.default_rng(0)
    t_start = time.perf_counter()
    cache = {}
    if args.cache and pathlib.Path(args.cache).exists():
        cache = json.loads(pathlib.Path(args.cache).read_text())

    def save_cache():
        if args.cache:
            pathlib.Path(args.cache).write_text(json.dumps(cache))

    store = pathlib.Path(args.store)
    sweep_line = f"read from {store}"
    if args.run or not store.exists():
        from flowsim.sweep import run_sweep
        t0 = time.perf_counter()
        res = run_sweep(study(), store, figure=False)
        st = res.stats
        sweep_line = (f"computed now: {st.points_computed} points in {st.wall_s:.0f} s wall "
                      f"({st.points_per_s:.0f} points/s)")
        cache["sweep_wall_s"] = time.perf_counter() - t0
    ds = load_grid(store)
    beta0, rates = ds.beta0.values, ds.rate.values

    # 1. grid tables and contours
    tables, contours = {}, {}
    for d in ds.d.values:
        tables[int(d)], P = grid_table(ds, int(d))
        contours[int(d)] = (P, grid_contour(beta0, rates, P))
    classes = {int(d): {k: int(ds[k].sel(d=d).sum()) for k in ("collapsed", "vanishing_weight",
                                                              "mean_alignment")}
               for d in ds.d.values}
    mono = {int(d): monotone_fraction(ds, int(d)) for d in ds.d.values}
    status = {int(v): int(c) for v, c in zip(*np.unique(ds.status.values, return_counts=True))}
    late = int((ds.collapse_time.values > 0.8 * T_MAX).sum())

    # 2. bisection
    t0 = time.perf_counter()
    if "bisect" not in cache:
        jobs = [("rate", D_MAIN, s, b) for b in BETA_ROW for s in range(N_SEEDS)]
        jobs += [("beta0", d, s, R_SLOW) for d in D_SCALING for s in range(N_SEEDS)]
        jobs += [("rate", d, s, B_LO) for d in D_SCALING if d != D_MAIN for s in range(N_SEEDS)]
        out = run_jobs(bisect_seed, jobs, args.workers)
        crit = {}
        for (kind, d, s, fixed), v in out:
            crit.setdefault(f"{kind}|{d}|{fixed!r}", []).append(v)
        cache["bisect"] = {"crit": crit, "half": {}, "wall_s": time.perf_counter() - t0}
        save_cache()
        # β₀ = β_c/2 rows for the d-scaling of the boundary's shape (where β_c is bracketed)
        half = {d: 0.5 * float(np.median(crit[f"beta0|{d}|{R_SLOW!r}"])) for d in D_SCALING}
        half = {d: v for d, v in half.items() if B_LO < v < B_HI}
        jobs = [("rate", d, s, half[d]) for d in half for s in range(N_SEEDS)]
        for (kind, d, s, fixed), v in run_jobs(bisect_seed, jobs, args.workers):
            crit.setdefault(f"{kind}|{d}|{fixed!r}", []).append(v)
        cache["bisect"] = {"crit": crit, "half": {str(k): v for k, v in half.items()},
                           "wall_s": time.perf_counter() - t0}
        save_cache()
    crit = cache["bisect"]["crit"]
    half = {int(k): v for k, v in cache["bisect"]["half"].items()}

    def med(kind, d, fixed):
        return median_ci(crit[f"{kind}|{d}|{fixed!r}"], rng)

    row = [(b, *med("rate", D_MAIN, b)) for b in BETA_ROW]
    bc_main = med("beta0", D_MAIN, R_SLOW)

    # 3. fits at d = 128: the row of r_c medians and the β₀_c point at r = R_SLOW
    fb = np.array([b for b, m, lo, hi in row if np.isfinite(m)] + [bc_main[0]])
    fr = np.array([m for b, m, lo, hi in row if np.isfinite(m)] + [R_SLOW])
    fits = {name: fit_form(name, fb, fr) for name in FORMS}

    # d-scaling
    scale_rows = []
    for d in D_SCALING:
        bc = med("beta0", d, R_SLOW)
        r0 = med("rate", d, B_LO)
        rh = med("rate", d, half[d]) if d in half else (math.nan,) * 3
        scale_rows.append((d, bc, r0, rh))
    ds_d = np.array([r[0] for r in scale_rows], float)
    bc_fit = power_law(ds_d, [r[1][0] for r in scale_rows])
    r0_fit = power_law(ds_d, [r[2][0] for r in scale_rows])
    shape = [r[3][0] / r[2][0] if np.isfinite(r[2][0]) else math.nan for r in scale_rows]
    hot = [(d, B_LO, r0[0]) for d, bc, r0, rh in scale_rows]
    g_star, g_res = fit_growth(hot)
    g_along = [(b, m, growth(b, m, D_MAIN), growth_rate(b, D_MAIN, g_star)) for b, m, lo, hi in row
               if np.isfinite(m)]
    g_along.append((bc_main[0], R_SLOW, growth(bc_main[0], R_SLOW, D_MAIN),
                    growth_rate(bc_main[0], D_MAIN, g_star)))
    g_scale = [(d, growth(bc[0], R_SLOW, d), growth(half[d], rh[0], d) if d in half else math.nan)
               for d, bc, r0, rh in scale_rows]
    growth_fit = (g_star, g_res, hot, g_along, g_scale)

    # 4. torch slice
    torch_rows = None
    if not args.no_torch:
        if "torch" not in cache:
            rows, wall = run_torch_slice(args.workers)
            cache["torch"] = {"rows": rows, "wall_s": wall}
            save_cache()
        torch_rows = cache["torch"]["rows"]

    # 5. tolerance check
    tol_line = None
    if args.check_tolerance:
        if "tolerance" not in cache:
            t0 = time.perf_counter()
            P, rc = contours[D_MAIN]
            pts = []
            for i, b in enumerate(beta0):
                if not np.isfinite(rc[i]):
                    continue
                j = int(np.argmin(abs(np.log10(rates) - math.log10(rc[i]))))
                for s in range(N_SEEDS):
                    pts.append((float(b), float(rates[j]), s))
            pts = [pts[i] for i in np.random.default_rng(1).permutation(len(pts))[:96]]
            tight = run_jobs(_tight, pts, args.workers)
            store_kept = [int(1 - ds.collapsed.sel(d=D_MAIN, beta0=b, rate=r, seed=s))
                          for b, r, s in pts]
            changed = sum(int(a != b) for a, b in zip(tight, store_kept))
            cache["tolerance"] = {"n": len(pts), "changed": changed, "wall_s": time.perf_counter() - t0}
            save_cache()
        tc = cache["tolerance"]
        tol_line = (f"{tc['n']} points at d = {D_MAIN} on the grid column nearest the P = 1/2 contour "
                    f"of each row, again at rtol 1e-8, atol 1e-10: {tc['changed']} outcome(s) changed "
                    f"({tc['wall_s']:.0f} s).")

    total = time.perf_counter() - t_start
    write_report(ds, tables, contours, classes, mono, status, late, sweep_line, cache, row,
                 bc_main, fits, fb, fr, scale_rows, bc_fit, r0_fit, shape, half, torch_rows,
                 tol_line, total, growth_fit)
    print(f"wrote {RESULTS} ({total:.0f} s)")


def _tight(pt):
    b, r, s = pt
    return kept(D_MAIN, s, b, r, rtol=1e-8, atol=1e-10)[0]


def write_report(ds, tables, contours, classes, mono, status, late, sweep_line, cache, row,
                 bc_main, fits, fb, fr, scale_rows, bc_fit, r0_fit, shape, half, torch_rows,
                 tol_line, total, growth_fit):
    L = []
    L.append("# Annealing phase diagram: P(both modes kept) over (β₀, r), linear schedule")
    L.append("")
    L.append("Commands: `python -m flowsim.sweep studies/annealing.toml --out results/annealing.zarr` "
             "(the grid), then `python studies/annealing.py --store results/annealing.zarr "
             "--check-tolerance` (this file). Setting: studies/annealing.toml and the docstring of "
             "studies/annealing.py: annealed reverse KL L_β = E_q[log q] − β(t) E_q[log p] "
             "(docs/derivations.md, B1), β(t) = min(1, β₀ + r t); target ρ N(−2e₁, I) + (1 − ρ) N(2e₁, I) "
             "in R^d (Λ = 16, ρ = 1/2); q: 2 components, means N(0, I_d) per seed, σ² = 1 fixed, "
             "weights trainable from 1/2; 'kept' = coverage 2 at t_max = 5000 (β = 1 from t = (1 − β₀)/r "
             "≤ 3160 on). numba, method auto, rtol 1e-6, atol 1e-8. 32 seeds per cell; the same 32 "
             "initialisations in every cell of a given d.")
    L.append("")
    L.append(f"Grid: {sweep_line}. Statuses: "
             + ", ".join(f"{ds.attrs['status_meanings'][str(k)]} {v}" for k, v in status.items())
             + f"; {late} points changed classification after 0.8 t_max (collapse_time).")
    L.append("")
    for d in sorted(tables):
        c = classes[d]
        P, rc = contours[d]
        L.append(f"## d = {d}: P(kept)")
        L.append("")
        L.append(f"Collapsed points: {c['collapsed']} of {P.size * N_SEEDS} (vanishing_weight "
                 f"{c['vanishing_weight']}, mean_alignment {c['mean_alignment']}); P(kept) ranges "
                 f"{P.min():.2f}–{P.max():.2f}; the plain flow (β₀ = 1, last row) keeps "
                 f"{P[-1].mean():.2f}. Monotone per seed: kept(r) non-increasing in r for "
                 f"{100 * mono[d][0]:.0f}% of the (seed, β₀) rows, kept(β₀) non-increasing in β₀ for "
                 f"{100 * mono[d][1]:.0f}% of the (seed, r) columns.")
        L.append("")
        L.append(tables[d])
        L.append("")
        if np.any(np.isfinite(rc)):
            lo, hi = ds.rate.values[0], ds.rate.values[-1]
            cell = lambda x: (f"> {hi:.3g}" if x == math.inf else f"< {lo:.3g}" if x == -math.inf
                              else f"{x:.3g}")
            L.append("P = 1/2 contour read off the grid (log interpolation between columns), r*(β₀): "
                     + ", ".join(f"{b:.3g}: {cell(x)}" for b, x in zip(ds.beta0.values, rc)))
        else:
            L.append("No P = 1/2 contour: P(kept) ≥ 1/2 in every cell.")
        L.append("")

    bis = cache["bisect"]
    L.append(f"## The boundary at d = {D_MAIN}, per seed (bisection)")
    L.append("")
    L.append(f"Each seed's critical rate r_c (kept for r < r_c) at fixed β₀, by {N_BISECT} bisections "
             f"in log r on [{R_SLOW:.3g}, {R_HI:.3g}] (0.01 decade; t_max = max(5000, (1 − β₀)/r + "
             f"{T_AFTER:g}), so below the grid's rates β = 1 still holds for ≥ {T_AFTER:g} before the "
             "outcome is read); the median over the 32 seeds is "
             "the P = 1/2 point, with a 95% bootstrap interval over seeds. ± censored seeds: kept at "
             f"r = {R_HI:.3g} / collapsed at r = {R_SLOW:.3g}. Bisection wall time {bis['wall_s']:.0f} s "
             "(all d).")
    L.append("")
    L.append("| β₀ | r* = median r_c | 95% CI | censored (kept at r_hi / lost at r_lo) | grid contour |")
    L.append("|---|---|---|---|---|")
    P, rc = contours[D_MAIN]
    for b, m, lo, hi in row:
        v = np.asarray(bis["crit"][f"rate|{D_MAIN}|{b!r}"])
        gi = np.interp(math.log10(b), np.log10(ds.beta0.values),
                       np.log10(np.where(np.isfinite(rc) & (rc > 0), rc, np.nan)))
        L.append(f"| {b:.3g} | {fmt(m, 'r')} | [{fmt(lo, 'r')}, {fmt(hi, 'r')}] | "
                 f"{int(np.sum(v == np.inf))} / {int(np.sum(v == -np.inf))} | "
                 f"{fmt(10 ** gi if np.isfinite(gi) else math.nan, 'r')} |")
    L.append(f"| β₀_c = {bc_main[0]:.3g} [{bc_main[1]:.3g}, {bc_main[2]:.3g}] | {R_SLOW:.3g} (fixed) | | | |")
    L.append("")
    L.append("## Fits of the boundary r*(β₀) at d = 128")
    L.append("")
    L.append("Least squares in log10 r over the points above (the last one is (β₀_c, r = 10^-4.5)); "
             "residual = log10(model) − log10(data), in decades.")
    L.append("")
    L.append("| form | parameters | RMS residual (decades) | max |residual| | residuals by β₀ |")
    L.append("|---|---|---|---|---|")
    for name, (par, res) in fits.items():
        L.append(f"| {name} | " + ", ".join(f"{k} = {v:.3g}" for k, v in par.items())
                 + f" | {math.sqrt(np.mean(res ** 2)):.3f} | {np.max(np.abs(res)):.3f} | "
                 + ", ".join(f"{b:.3g}: {x:+.2f}" for b, x in zip(fb, res)) + " |")
    L.append("")
    L.append("## The boundary against d (bisection, 32 seeds each)")
    L.append("")
    L.append("β₀_c: critical β₀ at r = 10^-4.5 (the slow-cooling end); r*(β₀ = 10⁻³) (the cold-start "
             "end); r*(β_c/2) at β₀ = half the median β₀_c of that d; shape = r*(β_c/2)/r*(10⁻³) "
             "(the window form predicts 1/2 at every d).")
    L.append("")
    L.append("| d | β₀_c [95% CI] | r*(β₀ = 10⁻³) [95% CI] | r*(β_c/2) [95% CI] | shape |")
    L.append("|---|---|---|---|---|")
    for (d, bc, r0, rh), sh in zip(scale_rows, shape):
        L.append(f"| {d} | {bc[0]:.3g} [{bc[1]:.3g}, {bc[2]:.3g}] | {fmt(r0[0], 'r')} [{fmt(r0[1], 'r')}, "
                 f"{fmt(r0[2], 'r')}] | {fmt(rh[0], 'r')} [{fmt(rh[1], 'r')}, {fmt(rh[2], 'r')}] | {sh:.2f} |")
    L.append("")
    L.append(f"Power laws: β₀_c = {bc_fit[0]:.3g} d^{bc_fit[1]:.3f} (residuals "
             + ", ".join(f"{x:+.3f}" for x in bc_fit[2]) + f" decades); r*(10⁻³) = {r0_fit[0]:.3g} "
             f"d^{r0_fit[1]:.3f} (residuals " + ", ".join(f"{x:+.3f}" for x in r0_fit[2])
             + " decades). The window form's time T = β_c / r*(0) per d: "
             + ", ".join(f"{d}: {bc[0] / r0[0]:.3g}" for d, bc, r0, rh in scale_rows) + ".")
    L.append("")
    g_star, g_res, hot, g_along, g_scale = growth_fit
    L.append("## Linear-stability criterion (one constant for every d)")
    L.append("")
    L.append("G(β₀, r; d) = ∫ max(λ₊, 0) dt, λ₊ = ½[√((β − ½)² + β² ρ̄) − (β + ½)], ρ̄ = d e^{−∫β} "
             "(docstring of studies/annealing.py, 3.): the integrated growth of the weight–offset "
             "race linearised about equal weights. Collapse predicted when G > G*; G* fitted to the "
             f"hot-start ends r*(β₀ = 10⁻³, d): G* = {g_star:.3g}.")
    L.append("")
    L.append("| d | r*(10⁻³) measured | predicted by G = G* | residual (decades) | G at β₀_c(10^-4.5) | G at (β_c/2, r*) |")
    L.append("|---|---|---|---|---|---|")
    for (d, b, r), res, (_, gc, gh) in zip(hot, g_res, g_scale):
        L.append(f"| {d} | {r:.3g} | {r * 10 ** res:.3g} | {res:+.3f} | {gc:.2f} | {gh:.2f} |")
    L.append("")
    L.append(f"Along the d = {D_MAIN} boundary (β₀, measured r*, G there, r* predicted by G = G*; "
             "'none' = G > G* at every rate, i.e. the criterion predicts collapse however slow the "
             "schedule): " + ", ".join(
                 f"({b:.3g}, {m:.3g}, G = {g:.2f}, {fmt(p, 'r') if np.isfinite(p) else 'none'})"
                 for b, m, g, p in g_along) + ".")
    L.append("")
    if torch_rows is not None:
        L += torch_section(torch_rows, cache["torch"]["wall_s"])
    if tol_line:
        L.append("## Tolerance")
        L.append("")
        L.append(tol_line)
        L.append("")
    L.append(f"Wall time of this analysis: {total:.0f} s (grid, bisections, torch slice and tolerance "
             "check as stated in their sections; a shared 2-core machine).")
    RESULTS.write_text("\n".join(L) + "\n")


if __name__ == "__main__":
    main()

"""Figure F7 (single_gaussian): one Gaussian q = N(mu, sigma^2) fitted to 1/2 N(-a, 1) + 1/2 N(a, 1).

With p that target and a = A = 3: forward KL(p||q) is convex in (mu, 1/sigma^2) and
minimised by moment matching (SG1); reverse KL(q||p) is not convex: at a = 3 it has a
mode-seeking minimum near each mode, a broad symmetric minimum at mu = 0 and a saddle
between the centre and each mode. Panels:
(a) the target with the forward optimum and every reverse minimum as densities, with their
KL values; (b) the reverse-KL landscape over (mu, log sigma^2) with its stationary points;
(c) which minimum the project's reverse-KL gradient flow (flowsim.simulate, K = 1, fixed
weight, trainable variance) reaches from each start (mu_0, log sigma_0^2); (d) a few of
those flow trajectories.

Equations, tagged SG1-SG5 (local to this figure; x = mu + sigma z, z ~ N(0, 1),
s = log sigma^2, v = sigma^2 = e^s):

(SG1) argmin KL(p||q) = (E_p x, Var_p x) = (0, 1 + a^2): dKL/dmu = -(E_p x - mu)/v and
      dKL/dv = (v - E_p (x - mu)^2) / (2 v^2) vanish only there.
(SG2) log p(x) = -(x^2 + a^2)/2 - log(2 pi)/2 + log cosh(a x).
(SG3) KL(q||p) = -(1 + s)/2 + (mu^2 + v + a^2)/2 - E_q log cosh(a x).
(SG4) dKL/dmu = mu - a E_q tanh(a x);
      dKL/ds  = (v (1 - a^2 E_q sech^2(a x)) - 1) / 2            (Stein's lemma).
      Stationary: mu = a E tanh(a x) and v = 1 / (1 - a^2 E sech^2(a x)).
(SG5) With S = E sech^2(a x), U = E sech^2 tanh(a x), W = E sech^2 (sech^2 - 2 tanh^2)(a x):
      H_mumu = 1 - a^2 S,  H_mus = a^3 v U,  H_ss = v (1 - a^2 S)/2 + a^4 v^2 W / 2.

The flow of flowsim is the Euclidean gradient flow dy/dt = -grad KL in y = (mu, s), so its
rest points are those of (SG4), and its linearisation at a rest point is -H of (SG5).
Expectations under q are adaptive quadratures (scipy.integrate.quad, split at x = 0).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import integrate, optimize, special

import flowsim
from flowsim import GaussianMixture, simulate

from paper_figures.common import pyplot, save_figure, save_results

NAME = "single_gaussian"
TITLE = "One Gaussian fitted to a bimodal target: forward KL matches moments, reverse KL has three minima"

A = 3.0
MU0_RANGE = (-6.0, 6.0)
LOGVAR0_RANGE = (-3.0, 4.0)
T_MAX = 2e3
RTOL, ATOL = 1e-9, 1e-11
CONVERGED_TOL = 1e-4          # max-norm distance in (mu, log sigma^2) to call a flow converged
STATIONARY_TOL = 1e-10        # |grad| at an accepted stationary point
# Basin codes of panel (c), in reading (left-to-right) order.
BASINS = ("left mode", "centre", "right mode", "other / not converged")
LEFT, CENTRE, RIGHT, OTHER = range(4)
BASIN_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "0.55")
TRAJECTORY_STARTS = ((-5.5, 3.5), (-1.2, -2.5), (0.6, 3.8), (2.2, 3.6), (1.0, -2.5), (5.5, -2.0))

_Z_LIM = 14.0                 # |z| beyond which N(0, 1) mass is < 1e-44
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------- quadrature

def _expect(f, mu, log_var):
    """E_{x ~ N(mu, e^log_var)} f(x) by adaptive quadrature in z, split at x = 0."""
    sig = math.exp(0.5 * log_var)
    z0 = -mu / sig

    def g(z):
        return f(mu + sig * z) * math.exp(-0.5 * z * z)

    pts = [z0] if -_Z_LIM < z0 < _Z_LIM else None
    val, _ = integrate.quad(g, -_Z_LIM, _Z_LIM, points=pts, epsabs=1e-13, epsrel=1e-11, limit=400)
    return val / _SQRT_2PI


def _logcosh(y):
    y = abs(y)
    return y + math.log1p(math.exp(-2.0 * y)) - math.log(2.0)


def _sech2(y):
    e = math.exp(-2.0 * abs(y))
    return 4.0 * e / (1.0 + e) ** 2


def log_target(x, a):
    """log p(x) for p = 1/2 N(-a, 1) + 1/2 N(a, 1), equation (SG2) (vectorised)."""
    x = np.asarray(x, float)
    y = np.abs(a * x)
    return -0.5 * (x * x + a * a) - 0.5 * math.log(2 * math.pi) + y + np.log1p(np.exp(-2 * y)) - math.log(2)


def normal_pdf(x, mu, log_var):
    """N(x; mu, e^log_var) (vectorised)."""
    v = math.exp(log_var)
    return np.exp(-0.5 * (np.asarray(x, float) - mu) ** 2 / v) / math.sqrt(2 * math.pi * v)


def forward_optimum(a):
    """(mu, log sigma^2) minimising KL(p||q): moment matching, equation (SG1): (0, log(1 + a^2))."""
    return 0.0, math.log1p(a * a)


def forward_kl_quadrature(mu, log_var, a):
    """KL(p||q) = int p (log p - log q) dx by adaptive quadrature (breaks at -a, 0, a)."""
    v = math.exp(log_var)
    lo, hi = -abs(a) - 15.0, abs(a) + 15.0

    def g(x):
        lp = float(log_target(x, a))
        lq = -0.5 * (x - mu) ** 2 / v - 0.5 * math.log(2 * math.pi * v)
        return math.exp(lp) * (lp - lq)

    pts = sorted({-abs(a), 0.0, abs(a)})
    val, _ = integrate.quad(g, lo, hi, points=pts, epsabs=1e-13, epsrel=1e-11, limit=400)
    return val


def reverse_kl_quadrature(mu, log_var, a):
    """KL(q||p) for q = N(mu, e^log_var), equation (SG3), E_q log cosh(a x) by adaptive quadrature."""
    return (-0.5 * (1.0 + log_var) + 0.5 * (mu * mu + math.exp(log_var) + a * a)
            - _expect(lambda x: _logcosh(a * x), mu, log_var))


def reverse_kl_gradient(mu, log_var, a):
    """(dKL/dmu, dKL/dlog sigma^2) of KL(q||p), equation (SG4)."""
    v = math.exp(log_var)
    t1 = _expect(lambda x: math.tanh(a * x), mu, log_var)
    s2 = _expect(lambda x: _sech2(a * x), mu, log_var)
    return np.array([mu - a * t1, 0.5 * (v * (1.0 - a * a * s2) - 1.0)])


def reverse_kl_hessian(mu, log_var, a):
    """Hessian of KL(q||p) in (mu, log sigma^2), equation (SG5)."""
    v = math.exp(log_var)
    s2 = _expect(lambda x: _sech2(a * x), mu, log_var)
    u = _expect(lambda x: _sech2(a * x) * math.tanh(a * x), mu, log_var)
    w = _expect(lambda x: _sech2(a * x) * (_sech2(a * x) - 2.0 * math.tanh(a * x) ** 2), mu, log_var)
    h_mm = 1.0 - a * a * s2
    h_ms = a ** 3 * v * u
    h_ss = 0.5 * v * (1.0 - a * a * s2) + 0.5 * a ** 4 * v * v * w
    return np.array([[h_mm, h_ms], [h_ms, h_ss]])


def reverse_kl_grid(mu, log_var, a, panels=24, nodes=16):
    """KL(q||p) of (SG3) on arrays (broadcast) of mu, log sigma^2, for contour plots.

    log cosh y = |y| + log(1 + e^{-2|y|}) - log 2: E|x| in closed form (folded normal),
    the remainder (supported on |x| < 20/a) by composite Gauss–Legendre on each side of 0.
    Agrees with `reverse_kl_quadrature` to ~1e-12 for log sigma^2 >= -4 (tested).
    """
    mu, s = np.broadcast_arrays(np.asarray(mu, float), np.asarray(log_var, float))
    sig = np.exp(0.5 * s)
    e_abs = (sig * math.sqrt(2 / math.pi) * np.exp(-0.5 * (mu / sig) ** 2)
             + mu * special.erf(mu / (sig * math.sqrt(2))))
    gx, gw = np.polynomial.legendre.leggauss(nodes)
    L = 20.0 / abs(a)
    edges = np.linspace(0.0, L, panels + 1)
    h = np.diff(edges)
    x = (0.5 * (edges[:-1] + edges[1:])[:, None] + 0.5 * h[:, None] * gx).ravel()
    wts = (0.5 * h[:, None] * gw).ravel() * np.log1p(np.exp(-2 * abs(a) * x))
    xs = np.concatenate([x, -x])
    ws = np.concatenate([wts, wts])
    dens = np.exp(-0.5 * ((xs - mu[..., None]) / sig[..., None]) ** 2) / (sig[..., None] * _SQRT_2PI)
    e_rem = dens @ ws
    e_logcosh = abs(a) * e_abs + e_rem - math.log(2)
    return -0.5 * (1 + s) + 0.5 * (mu * mu + np.exp(s) + a * a) - e_logcosh


# --------------------------------------------------------------------- stationary points

class StationaryPoint(NamedTuple):
    mu: float
    log_var: float
    kl: float
    eigenvalues: tuple       # of the Hessian (SG5), ascending
    kind: str                # "minimum" | "saddle" | "maximum" | "degenerate"


def _grad_clipped(p, a):
    """(SG4) with (mu, s) clipped to a box, extended linearly outside (keeps root finders finite)."""
    q = np.clip(p, [-50.0, -30.0], [50.0, 30.0])
    return reverse_kl_gradient(q[0], q[1], a) + (p - q)


def _hess_clipped(p, a):
    q = np.clip(p, [-50.0, -30.0], [50.0, 30.0])
    return reverse_kl_hessian(q[0], q[1], a)


def default_starts(a, n_mu=11, n_s=7):
    """A grid of starts (mu, log sigma^2) covering every stationary point of (SG4).

    Stationary points satisfy |mu| = a |E tanh(a x)| < a and v = 1/(1 - a^2 S) >= 1 (SG4);
    KL -> infinity as |mu| -> infinity or |log sigma^2| -> infinity, and the grid spans
    |mu| <= a + 2, log sigma^2 in [-2, log(1 + a^2) + 1.5].
    """
    mus = np.linspace(-(abs(a) + 2.0), abs(a) + 2.0, n_mu)
    ss = np.linspace(-2.0, math.log1p(a * a) + 1.5, n_s)
    return [(m, s) for m in mus for s in ss]


def _classify(eig, tol=1e-8):
    if eig[0] > tol:
        return "minimum"
    if eig[-1] < -tol:
        return "maximum"
    if eig[0] < -tol < tol < eig[-1]:
        return "saddle"
    return "degenerate"


def stationary_points(a, starts=None):
    """Every stationary point of KL(q||p) over (mu, log sigma^2), classified by its Hessian.

    From each start: scipy.optimize.minimize (trust-exact, gradient (SG4), Hessian (SG5))
    for the minima, and scipy.optimize.root (hybr, Jacobian (SG5)) on (SG4) for every
    stationary point; candidates with |grad| > STATIONARY_TOL are dropped, the rest polished
    by Newton steps and de-duplicated. Sorted by mu, then log sigma^2.
    """
    starts = default_starts(a) if starts is None else starts
    cands = []
    for p0 in starts:
        p0 = np.asarray(p0, float)
        try:
            r1 = optimize.minimize(lambda p: reverse_kl_quadrature(*np.clip(p, [-50, -30], [50, 30]), a),
                                   p0, jac=lambda p: _grad_clipped(p, a), hess=lambda p: _hess_clipped(p, a),
                                   method="trust-exact", options={"gtol": 1e-12, "maxiter": 200})
            cands.append(r1.x)
        except (ValueError, OverflowError, np.linalg.LinAlgError):
            pass
        r2 = optimize.root(_grad_clipped, p0, args=(a,), jac=_hess_clipped, method="hybr",
                           options={"xtol": 1e-13})
        cands.append(r2.x)
    found = []
    for p in cands:
        if not np.all(np.isfinite(p)) or abs(p[1]) > 25 or abs(p[0]) > 45:
            continue
        for _ in range(3):   # Newton polish
            g = reverse_kl_gradient(p[0], p[1], a)
            if np.max(np.abs(g)) < 1e-14:
                break
            try:
                p = p - np.linalg.solve(reverse_kl_hessian(p[0], p[1], a), g)
            except np.linalg.LinAlgError:
                break
        if np.max(np.abs(reverse_kl_gradient(p[0], p[1], a))) > STATIONARY_TOL:
            continue
        if any(np.max(np.abs(p - q)) < 1e-6 for q in found):
            continue
        found.append(p)
    out = []
    for p in sorted(found, key=lambda q: (round(q[0], 6), q[1])):
        mu, s = float(p[0]), float(p[1])
        if abs(mu) < 1e-9:
            mu = 0.0
        eig = tuple(float(e) for e in np.linalg.eigvalsh(reverse_kl_hessian(mu, s, a)))
        out.append(StationaryPoint(mu, s, reverse_kl_quadrature(mu, s, a), eig, _classify(eig)))
    return out


def minima_by_basin(points, tol=1e-6):
    """{LEFT | CENTRE | RIGHT: StationaryPoint} of the minima (mu < 0, mu = 0, mu > 0)."""
    out = {}
    for p in points:
        if p.kind == "minimum":
            out[CENTRE if abs(p.mu) < tol else (LEFT if p.mu < 0 else RIGHT)] = p
    return out


def separatrices(a, points, box=(MU0_RANGE, LOGVAR0_RANGE), eps=1e-6):
    """The basin boundaries: stable manifold of each saddle, as (N, 2) (mu, s) rows, NaN-separated.

    Each branch is the time-reversed flow dy/dt = +grad KL (SG4) from saddle +/- eps times the
    Hessian's positive-eigenvalue eigenvector (the stable direction of the flow), integrated
    by scipy's solve_ivp until it leaves the box (padded by 0.5).
    """
    from scipy.integrate import solve_ivp

    (m_lo, m_hi), (s_lo, s_hi) = box

    def leave(t, y):
        return min(y[0] - m_lo + 0.5, m_hi + 0.5 - y[0], y[1] - s_lo + 0.5, s_hi + 0.5 - y[1])

    leave.terminal = True
    curves = []
    for p in points:
        if p.kind != "saddle":
            continue
        _, vecs = np.linalg.eigh(reverse_kl_hessian(p.mu, p.log_var, a))
        branches = []
        for sign in (1.0, -1.0):
            y0 = np.array([p.mu, p.log_var]) + sign * eps * vecs[:, 1]
            sol = solve_ivp(lambda t, y: reverse_kl_gradient(y[0], y[1], a), (0.0, 500.0), y0,
                            events=leave, rtol=1e-8, atol=1e-10, max_step=0.25)
            branches.append(sol.y.T)
        curves.append(np.vstack([branches[0][::-1], branches[1]]))
        curves.append(np.full((1, 2), np.nan))
    return np.vstack(curves) if curves else np.empty((0, 2))


# --------------------------------------------------------------------------- the flow

def target_mixture(a):
    return GaussianMixture([[-a], [a]], [0.5, 0.5], 1.0)


def user_coordinates(tr):
    """(mean (T, K, d), log sigma^2 (T,)) of a Gaussian-family trajectory in the target's
    coordinates, as the API returns them (Trajectory.to_xarray: the means in R^d and the
    shared variance at every saved time; tr.final is the last of them)."""
    ds = tr.to_xarray()
    return np.asarray(ds["means"].values, float), np.log(np.asarray(ds["var"].values, float))


def run_flow(a, mu0, log_var0, objective="reverse_kl", t_max=T_MAX, t_eval=None):
    """The project's gradient flow of q = N(mu, sigma^2) (K = 1, variance trained) from (mu0, log_var0).

    Returns (time, mu (T,), log sigma^2 (T,), status name).
    """
    init = GaussianMixture([[float(mu0)]], [1.0], math.exp(log_var0))
    tr = simulate(target_mixture(a), init, objective=objective, weights="fixed", t_max=t_max,
                  t_eval=t_eval, train_var=True, backend="numba", rtol=RTOL, atol=ATOL)
    mean, log_var = user_coordinates(tr)
    return tr.time, mean[:, 0, 0], log_var, tr.status_name


def classify_end(mu, log_var, minima, status, tol=CONVERGED_TOL):
    """Basin code (LEFT, CENTRE, RIGHT or OTHER) of a flow's end point."""
    if status not in ("ok", "settled") or not (math.isfinite(mu) and math.isfinite(log_var)):
        return OTHER
    for code, p in minima.items():
        if max(abs(mu - p.mu), abs(log_var - p.log_var)) < tol:
            return code
    return OTHER


def basin_map(a, mu0s, log_var0s, minima, t_max=T_MAX):
    """Basin codes (n_mu, n_s) and end points of the reverse-KL flow from each grid start."""
    codes = np.empty((len(mu0s), len(log_var0s)), dtype=np.int64)
    ends = np.empty((len(mu0s), len(log_var0s), 2))
    for i, m0 in enumerate(mu0s):
        for j, s0 in enumerate(log_var0s):
            _, mu, lv, status = run_flow(a, m0, s0, t_max=t_max, t_eval=[0.0, t_max])
            ends[i, j] = mu[-1], lv[-1]
            codes[i, j] = classify_end(mu[-1], lv[-1], minima, status)
    return codes, ends


# ------------------------------------------------------------------------ generate/plot

def _trajectory_times(t_max):
    return np.unique(np.concatenate([np.linspace(0.0, 10.0, 201), np.geomspace(10.0, t_max, 80)]))


def generate(out_dir: Path, fast: bool = False, tiny: bool = False) -> Path:
    """Stationary points, forward optimum, landscape, basin map and trajectories at a = A."""
    a = A
    if tiny:
        n_grid, n_land, starts = (5, 5), (41, 29), default_starts(a, 5, 3)
    elif fast:
        n_grid, n_land, starts = (11, 11), (121, 71), default_starts(a, 7, 5)
    else:
        n_grid, n_land, starts = (41, 41), (241, 141), default_starts(a)
    points = stationary_points(a, starts)
    minima = minima_by_basin(points)
    f_mu, f_s = forward_optimum(a)

    x = np.linspace(-10.0, 10.0, 801)
    data = {
        "a": a, "fast": bool(fast), "tiny": bool(tiny), "flowsim_version": flowsim.__version__,
        "t_max": T_MAX, "rtol": RTOL, "atol": ATOL, "converged_tol": CONVERGED_TOL,
        "basin_names": np.array(BASINS), "basin_colors": np.array(BASIN_COLORS),
        "x": x, "target_pdf": np.exp(log_target(x, a)),
        "forward_mu": f_mu, "forward_log_var": f_s,
        "forward_kl_pq": forward_kl_quadrature(f_mu, f_s, a),
        "forward_kl_qp": reverse_kl_quadrature(f_mu, f_s, a),
        "forward_pdf": normal_pdf(x, f_mu, f_s),
        "sp_mu": np.array([p.mu for p in points]), "sp_log_var": np.array([p.log_var for p in points]),
        "sp_kl": np.array([p.kl for p in points]), "sp_eig": np.array([p.eigenvalues for p in points]),
        "sp_kind": np.array([p.kind for p in points]),
        "sp_basin": np.array([next((c for c, m in minima.items() if m is p), -1) for p in points]),
        "sp_pdf": np.array([normal_pdf(x, p.mu, p.log_var) for p in points]),
    }
    data["separatrix"] = separatrices(a, points)
    mu_l = np.linspace(*MU0_RANGE, n_land[0])
    s_l = np.linspace(*LOGVAR0_RANGE, n_land[1])
    data.update({"land_mu": mu_l, "land_log_var": s_l,
                 "land_kl": reverse_kl_grid(mu_l[:, None], s_l[None, :], a)})
    mu0 = np.linspace(*MU0_RANGE, n_grid[0])
    s0 = np.linspace(*LOGVAR0_RANGE, n_grid[1])
    codes, ends = basin_map(a, mu0, s0, minima)
    data.update({"basin_mu0": mu0, "basin_log_var0": s0, "basin_code": codes, "basin_end": ends})
    starts_tr = TRAJECTORY_STARTS[::2] if tiny else TRAJECTORY_STARTS
    t_eval = _trajectory_times(T_MAX)
    trajs = []
    for m0, v0 in starts_tr:
        _, mu, lv, status = run_flow(a, m0, v0, t_eval=t_eval)
        trajs.append((mu, lv, classify_end(mu[-1], lv[-1], minima, status)))
    data.update({"traj_time": t_eval, "traj_mu": np.array([t[0] for t in trajs]),
                 "traj_log_var": np.array([t[1] for t in trajs]),
                 "traj_code": np.array([t[2] for t in trajs])})
    _, fmu, flv, fstatus = run_flow(a, 1.0, 0.0, objective="forward_kl", t_eval=[0.0, T_MAX])
    data.update({"forward_flow_end": np.array([fmu[-1], flv[-1]]), "forward_flow_status": fstatus})
    data["params_json"] = json.dumps({
        "a": a, "fast": bool(fast), "tiny": bool(tiny), "flowsim_version": flowsim.__version__,
        "t_max": T_MAX, "rtol": RTOL, "atol": ATOL, "backend": "numba", "weights": "fixed",
        "train_var": True, "basin_grid": list(n_grid), "landscape_grid": list(n_land),
        "mu0_range": list(MU0_RANGE), "log_var0_range": list(LOGVAR0_RANGE),
        "n_stationary_starts": len(starts), "trajectory_starts": [list(p) for p in starts_tr]})
    return save_results(out_dir, NAME, data)


def _fmt_normal(mu, log_var):
    m = f"{mu:.2f}".replace("-", "−")
    if m in ("−0.00", "0.00"):
        m = "0"
    return f"N({m}, {math.exp(log_var):.2f})"


def plot(results: Path, out_dir: Path) -> Path:
    plt = pyplot()
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    d = np.load(results)
    a = float(d["a"])
    colors = [str(c) for c in d["basin_colors"]]
    names = [str(n) for n in d["basin_names"]]
    kind = [str(k) for k in d["sp_kind"]]
    sp_basin = d["sp_basin"]
    is_saddle = np.array([k == "saddle" for k in kind])
    min_order = sorted((i for i, k in enumerate(kind) if k == "minimum"), key=lambda i: int(sp_basin[i]))
    sep = d["separatrix"]

    fig, axes = plt.subplots(2, 2, figsize=(7.6, 7.0))
    fig.subplots_adjust(hspace=0.62, wspace=0.45)
    ax_a, ax_b, ax_c, ax_d = axes.ravel()

    # (a) densities
    x = d["x"]
    ax_a.fill_between(x, d["target_pdf"], color="0.85", lw=0, label="target p")
    ax_a.plot(x, d["forward_pdf"], color="k", ls="--",
              label=f"forward opt. {_fmt_normal(float(d['forward_mu']), float(d['forward_log_var']))}, "
                    f"KL(p‖q) = {float(d['forward_kl_pq']):.3f}")
    for i in min_order:
        ax_a.plot(x, d["sp_pdf"][i], color=colors[int(sp_basin[i])],
                  label=f"reverse min. {_fmt_normal(d['sp_mu'][i], d['sp_log_var'][i])}, "
                        f"KL(q‖p) = {d['sp_kl'][i]:.3f}")
    ax_a.set_xlim(x[0], x[-1])
    ax_a.set_ylim(0, 0.66)
    ax_a.set_xlabel("x")
    ax_a.set_ylabel("density")
    ax_a.set_title(f"(a) target ½N(−{a:g}, 1) + ½N({a:g}, 1) and its fits", loc="left")
    ax_a.legend(loc="upper left", fontsize=8, handlelength=1.6, borderaxespad=0.1, labelspacing=0.3)

    def mark(ax, with_forward=False):
        for i in min_order:
            ax.plot(d["sp_mu"][i], d["sp_log_var"][i], "o", ms=6.5, mfc=colors[int(sp_basin[i])],
                    mec="k", mew=0.8, zorder=5)
        ax.plot(d["sp_mu"][is_saddle], d["sp_log_var"][is_saddle], "X", ms=7, mfc="w", mec="k",
                mew=0.8, zorder=5)
        if with_forward:
            ax.plot(float(d["forward_mu"]), float(d["forward_log_var"]), "*", ms=9, mfc="w", mec="k",
                    mew=0.7, zorder=5)
        ax.set_xlim(MU0_RANGE)
        ax.set_ylim(LOGVAR0_RANGE)

    # (b) landscape
    mu_l, s_l, kl = d["land_mu"], d["land_log_var"], d["land_kl"]
    kmin = float(np.min(d["sp_kl"]))
    levels = np.array([0.72, 0.76, 0.8, 0.84, 0.88, 0.92, 0.96, 1.0, 1.1, 1.25, 1.5, 2, 3, 4, 6, 9, 14, 20])
    levels = np.concatenate([[min(kmin, float(np.min(kl)))], levels[levels > kmin], [float(np.max(kl))]])
    cf = ax_b.contourf(mu_l, s_l, kl.T, levels=levels, cmap="viridis_r", norm=BoundaryNorm(levels, 256))
    ax_b.contour(mu_l, s_l, kl.T, levels=levels[1:-1], colors="k", linewidths=0.3, alpha=0.5)
    if np.any(is_saddle):
        ax_b.contour(mu_l, s_l, kl.T, levels=[float(d["sp_kl"][is_saddle][0])], colors="w",
                     linewidths=1.0, linestyles="--")
    cb = fig.colorbar(cf, ax=ax_b, ticks=[t for t in (0.76, 0.84, 0.92, 1.0, 1.25, 2, 4, 9, 20)
                                          if levels[0] < t < levels[-1]], format="%g")
    cb.set_label("KL(q‖p)")
    cb.ax.tick_params(labelsize=8)
    mark(ax_b, with_forward=True)
    ax_b.set_xlabel("mean μ")
    ax_b.set_ylabel("log variance log σ²")
    ax_b.set_title("(b) reverse-KL landscape", loc="left")
    ax_b.grid(False)
    _legend_below(ax_b, [
        Line2D([], [], ls="", marker="o", mfc="0.7", mec="k", ms=6.5, label="minimum"),
        Line2D([], [], ls="", marker="X", mfc="w", mec="k", ms=7, label="saddle"),
        Line2D([], [], ls="", marker="*", mfc="w", mec="k", ms=9, label="forward opt."),
        Line2D([], [], color="0.3", ls="--", lw=1.0, label="saddle level")])

    # (c) basins of the flow
    mu0, s0, code = d["basin_mu0"], d["basin_log_var0"], d["basin_code"]
    cmap = ListedColormap([_lighten(c) for c in colors])
    ax_c.pcolormesh(mu0, s0, code.T, cmap=cmap, norm=BoundaryNorm(np.arange(-0.5, 4.5), 4),
                    shading="nearest", rasterized=True)
    ax_c.plot(sep[:, 0], sep[:, 1], color="k", lw=1.0, ls="-")
    mark(ax_c)
    ax_c.grid(False)
    ax_c.set_xlabel("initial mean μ₀")
    ax_c.set_ylabel("initial log variance log σ₀²")
    ax_c.set_title(f"(c) minimum reached by the flow ({len(mu0)}×{len(s0)} starts)", loc="left")
    present = [k for k in range(4) if k != OTHER or np.any(code == OTHER)]
    _legend_below(ax_c, [Patch(fc=_lighten(colors[k]), ec="0.3", lw=0.5, label=names[k]) for k in present]
                  + [Line2D([], [], color="k", lw=1.0, label="saddles' stable manifolds")])

    # (d) trajectories
    ax_d.contour(mu_l, s_l, kl.T, levels=levels[1:-1], colors="0.78", linewidths=0.4)
    ax_d.plot(sep[:, 0], sep[:, 1], color="k", lw=0.8, ls=":")
    for mu, lv, c in zip(d["traj_mu"], d["traj_log_var"], d["traj_code"]):
        ax_d.plot(mu, lv, color=colors[int(c)], lw=1.3)
        ax_d.plot(mu[0], lv[0], "o", ms=4.5, mfc="w", mec=colors[int(c)], mew=1.1, zorder=4)
    mark(ax_d)
    ax_d.set_xlabel("mean μ")
    ax_d.set_ylabel("log variance log σ²")
    ax_d.set_title("(d) reverse-KL flow trajectories", loc="left")
    _legend_below(ax_d, [
        Line2D([], [], ls="", marker="o", ms=4.5, mfc="w", mec="0.3", label="start"),
        Line2D([], [], color="0.3", lw=1.3, label="flow path"),
        Line2D([], [], color="0.5", lw=0.4, label="KL(q‖p) contours"),
        Line2D([], [], color="k", lw=0.8, ls=":", label="basin boundary")])
    return save_figure(fig, out_dir, NAME)


def _legend_below(ax, handles, ncol=2):
    ax.legend(handles=_reading_order(handles, ncol), loc="upper center", bbox_to_anchor=(0.5, -0.2),
              ncol=ncol, fontsize=8, handlelength=1.6, columnspacing=1.0)


def _reading_order(handles, ncol):
    """Reorder legend handles so that matplotlib's column-first layout reads row by row."""
    nrows, n_large = divmod(len(handles), ncol)
    rows = [nrows + 1] * n_large + [nrows] * (ncol - n_large)
    return [handles[r * ncol + c] for c in range(ncol) for r in range(rows[c])]


def _lighten(color, amount=0.55):
    from matplotlib.colors import to_rgb

    r = np.array(to_rgb(color))
    return tuple(r + (1 - r) * amount)

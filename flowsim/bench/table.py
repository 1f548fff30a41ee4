"""Markdown rendering of a benchmark result and the check of the issue's targets."""
from __future__ import annotations

TARGETS = {
    "speedup_vs_scipy_numpy": 10.0,     # one trajectory, warm, every model
    "max_abs_diff": 1e-6,               # final states numba vs scipy
    "overhead": 0.20,                   # integrator overhead
    "sweep_seconds_all": 20.0,          # 10,000 points, 2 cores
    "speedup_vs_diffrax": 2.0,
    "scaling_1_to_all": 1.7,
    "warm_start_s": 2.0,
    "first_solve_cold_s": 10.0,         # a fresh install's first numba simulate()
    "quickstart_cold_s": 15.0,          # a fresh install's README quickstart
}


def _f(x, fmt):
    return "—" if x is None else format(x, fmt)


def targets(result) -> list:
    """[(target, measured, met: bool | None)] for every target of the issue."""
    rows = []
    tr = result.get("trajectories") or []
    if tr:
        sp = [r["speedup_vs_scipy_numpy"] for r in tr if r["speedup_vs_scipy_numpy"] is not None]
        worst = min(sp) if sp else None
        rows.append((f"trajectory ≥ {TARGETS['speedup_vs_scipy_numpy']:g}× scipy+numpy RHS, every model",
                     _f(worst, ".1f") + "× (worst)", None if worst is None
                     else worst >= TARGETS["speedup_vs_scipy_numpy"]))
        diff = max(r["max_abs_diff"] for r in tr)
        rows.append((f"final states equal to {TARGETS['max_abs_diff']:g}", f"{diff:.1e} (largest)",
                     diff <= TARGETS["max_abs_diff"]))
        ov = max(r["overhead"] for r in tr)
        rows.append((f"integrator overhead ≤ {TARGETS['overhead']:.0%}", f"{ov:.0%} (largest)",
                     ov <= TARGETS["overhead"]))
    sw = result.get("sweep") or {}
    if sw.get("seconds_all") is not None:
        pts = sw["points"]
        scale = 10_000 / pts
        est = sw["seconds_all"] * scale
        note = "" if pts == 10_000 else f" ({sw['seconds_all']:.1f} s for {pts} points, scaled)"
        rows.append((f"sweep of 10,000 points < {TARGETS['sweep_seconds_all']:g} s on all cores, DOPRI5",
                     f"{est:.1f} s{note}", est < TARGETS["sweep_seconds_all"]))
        if sw.get("seconds_all_settle") is not None:
            est_s = sw["seconds_all_settle"] * scale
            rows.append(("  … DOPRI5 with settle_tol", f"{est_s:.1f} s",
                         est_s < TARGETS["sweep_seconds_all"]))
        au = sw.get("auto") or {}
        if au.get("seconds_all") is not None:
            est_a = au["seconds_all"] * scale
            rows.append(("  … method auto (DOPRI5, then Radau IIA once stiff)", f"{est_a:.1f} s",
                         est_a < TARGETS["sweep_seconds_all"]))
            est_as = au["seconds_all_settle"] * scale
            rows.append(("  … method auto with settle_tol", f"{est_as:.1f} s",
                         est_as < TARGETS["sweep_seconds_all"]))
        sc = sw.get("scaling_1_to_all")
        rows.append((f"≥ {TARGETS['scaling_1_to_all']:g}× from 1 core to all "
                     f"({sw.get('threads_all', '?')})", _f(sc, ".2f") + "×",
                     None if sc is None else sc >= TARGETS["scaling_1_to_all"]))
        sd = sw.get("speedup_vs_diffrax")
        rows.append((f"≥ {TARGETS['speedup_vs_diffrax']:g}× diffrax throughput",
                     ("diffrax skipped" if (sw.get("diffrax") or {}).get("skipped") else "diffrax absent")
                     if sd is None else f"{sd:.2f}×",
                     None if sd is None else sd >= TARGETS["speedup_vs_diffrax"]))
    st = result.get("start") or {}
    if st.get("warm_s") is not None:
        rows.append((f"warm `python -m flowsim.sweep --help` < {TARGETS['warm_start_s']:g} s",
                     f"{st['warm_s']:.2f} s", st["warm_s"] < TARGETS["warm_start_s"]))
    for key, what in (("first_solve_cold_s", "cold first numba simulate()"),
                      ("quickstart_cold_s", "cold quickstart sweep")):
        if st.get(key) is not None:
            rows.append((f"{what} ≤ {TARGETS[key]:g} s", f"{st[key]:.2f} s", st[key] <= TARGETS[key]))
    return rows


def render(result) -> str:
    lines = []
    if result.get("trajectories"):
        lines += ["## Trajectories (one warm trajectory per model; scipy = solve_ivp RK45, "
                  "same tolerances)", "",
                  "| model | numba | scipy + numpy RHS | scipy + njit RHS | × vs numpy | × vs njit "
                  "| RHS µs | RHS evals | RHS/s | overhead | max \\|Δy(T)\\| |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result.get("trajectories") or []:
        lines.append(
            f"| {r['model']} | {r['numba_s'] * 1e3:.1f} ms | {_ms(r['scipy_numpy_s'])} "
            f"| {_ms(r['scipy_njit_s'])} | {_f(r['speedup_vs_scipy_numpy'], '.1f')} "
            f"| {_f(r.get('speedup_vs_scipy_njit'), '.1f')} | {r['rhs_us']:.2f} "
            f"| {r.get('n_rhs', '—')} | {_f(r.get('rhs_per_s'), '.3g')} | {r['overhead']:+.0%} "
            f"| {r['max_abs_diff']:.1e} |")
    sw = result.get("sweep")
    if sw and sw.get("points") is not None:
        lines += ["", f"## Sweep: Gaussian two-mode reverse KL, trainable weights, {sw['points']} points",
                  "", "| run | wall s | CPU s (all threads) | points/s | RHS evals / point |",
                  "|---|---:|---:|---:|---:|",
                  f"| numba, 1 thread | {_f(sw['seconds_1core'], '.2f')} | {_f(sw.get('cpu_s_1core'), '.2f')} "
                  f"| {_f(sw.get('points_per_s_1core'), '.1f')} | {_f(sw.get('rhs_evals_per_point'), '.0f')} |",
                  f"| numba, {sw.get('threads_all', 'all')} threads | {_f(sw['seconds_all'], '.2f')} "
                  f"| {_f(sw.get('cpu_s_all'), '.2f')} "
                  f"| {_f(sw['points_per_s'], '.1f')} | {_f(sw.get('rhs_evals_per_point'), '.0f')} |"]
        if sw.get("seconds_all_settle") is not None:
            lines.append(f"| numba, {sw.get('threads_all', 'all')} threads, settle_tol "
                         f"{sw.get('settle_tol'):g} | {sw['seconds_all_settle']:.2f} "
                         f"| {_f(sw.get('cpu_s_all_settle'), '.2f')} "
                         f"| {sw['points_per_s_settle']:.1f} "
                         f"| {_f(sw.get('rhs_evals_per_point_settle'), '.0f')} |")
        au = sw.get("auto") or {}
        if au.get("seconds_all") is not None:
            for sfx, label in (("", ""), ("_settle", f", settle_tol {sw.get('settle_tol'):g}")):
                lines.append(f"| numba, method auto, {sw.get('threads_all', 'all')} threads{label} "
                             f"| {au['seconds_all' + sfx]:.2f} | {_f(au.get('cpu_s_all' + sfx), '.2f')} "
                             f"| {au['points_per_s' + sfx]:.1f} "
                             f"| {_f(au.get('rhs_evals_per_point' + sfx), '.0f')} |")
        dx = sw.get("diffrax") or {}
        if dx.get("available"):
            lines.append(f"| diffrax (jax {dx.get('jax', '')}) vmap Dopri5 | {dx['seconds']:.2f} "
                         f"| {_f(dx.get('cpu_s'), '.2f')} "
                         f"| {dx['points_per_s']:.1f} | {6 * dx['mean_steps']:.0f} (≈ 6 × mean steps; lockstep: max {dx['max_steps']}) |")
        elif dx.get("skipped"):
            lines.append("| diffrax | skipped (--no-diffrax) | — | — | — |")
        else:
            lines.append("| diffrax | absent (pip install flowsim[bench]) | — | — | — |")
        lines.append("")
        lines.append(f"speedup vs diffrax: {_f(sw.get('speedup_vs_diffrax'), '.2f')}× by wall time, "
                     f"{_f(sw.get('speedup_vs_diffrax_cpu'), '.2f')}× by CPU time, "
                     f"{_f(sw.get('speedup_vs_diffrax_settle'), '.2f')}× with settle_tol; "
                     f"1 → all threads: {_f(sw.get('scaling_1_to_all'), '.2f')}×")
        if au.get("seconds_all") is not None:
            lines.append("")
            lines.append(f"method auto against DOPRI5: largest final-state difference "
                         f"{au['max_abs_diff_vs_dopri5']:.1e}, largest weight difference "
                         f"{au['max_weight_diff_vs_dopri5']:.1e} "
                         f"({au['settle_max_weight_diff_vs_dopri5']:.1e} with settle_tol); "
                         f"{au['status_ok']} of {sw['points']} points ok; vs diffrax Dopri5: "
                         f"{_f(au.get('speedup_vs_diffrax'), '.2f')}× "
                         f"({_f(au.get('speedup_vs_diffrax_settle'), '.2f')}× with settle_tol)")
        if sw.get("steps_over_stability_minimum") is not None:
            lo, hi = sw["stiffest_eigenvalue_range"]
            lines.append("")
            lines.append(f"stiffness: at the final states the stiffest Jacobian eigenvalue is between "
                         f"{lo:.2f} and {hi:.2f}; DOPRI5 is stable for h |λ| ≤ 3.31, so a point needs "
                         f"at least t_max |λ| / 3.31 steps. Steps taken over that minimum (median): "
                         f"{sw['steps_over_stability_minimum']:.2f}")
    st = result.get("start")
    if st and st.get("cold_s") is not None:
        lines += ["", "## Start (fresh processes; cold = empty NUMBA_CACHE_DIR)", "",
                  "| command | cold | warm |", "|---|---:|---:|",
                  f"| python -m flowsim.sweep --help | {_f(st.get('cold_s'), '.2f')} s "
                  f"| {_f(st.get('warm_s'), '.2f')} s |"]
        if "first_solve_cold_s" in st:
            lines.append(f"| first numba simulate() | {_f(st.get('first_solve_cold_s'), '.2f')} s "
                         f"| {_f(st.get('first_solve_warm_s'), '.2f')} s |")
        if "second_model_cold_s" in st:
            lines.append(f"| a second model's first simulate() (the solvers already cached) | "
                         f"{_f(st.get('second_model_cold_s'), '.2f')} s "
                         f"| {_f(st.get('second_model_warm_s'), '.2f')} s |")
        if "quickstart_cold_s" in st:
            lines.append(f"| quickstart sweep (80 points) | {_f(st.get('quickstart_cold_s'), '.2f')} s "
                         f"| {_f(st.get('quickstart_warm_s'), '.2f')} s |")
    lu = result.get("lu")
    if lu:
        lines += ["", f"## Radau's LU (one factorisation, best of a few; blocks of {lu[0]['block']} "
                  "columns)", "",
                  "| n | by blocks | column by column | × | same factors | LAPACK getrf (scipy) |",
                  "|---:|---:|---:|---:|---|---:|"]
        for r in lu:
            ms = [f"{r[k]:.3g} s" if r[k] >= 1.0 else f"{r[k] * 1e3:.3g} ms"
                  for k in ("blocked_s", "column_s", "lapack_s")]
            lines.append(f"| {r['n']} | {ms[0]} | {ms[1]} | {r['speedup']:.2f} "
                         f"| {'bit for bit' if r['identical'] else 'no'} | {ms[2]} |")
    rows = targets(result)
    if rows:
        lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
        for name, measured, met in rows:
            lines.append(f"| {name} | {measured} | {'—' if met is None else ('yes' if met else 'no')} |")
    return "\n".join(lines).lstrip("\n")


def _ms(x):
    return "—" if x is None else f"{x * 1e3:.1f} ms"

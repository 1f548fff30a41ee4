"""`python -m flowsim.check`: the flows against full training in torch.

    python -m flowsim.check [--device cpu|cuda] [--fast] [--json] [--only SECTION] [--threads N]

Runs the comparisons and prints one table: quantity, flow, simulation ± standard
error, agreement (`--json`: a list of objects with name, flow, sim, sem, agree, and
`required`, `note`). Exit status 0 when every required row agrees, 1 otherwise, 2 on
bad input (one line on stderr). Every random draw is seeded, so two runs on the same
machine print the same table; timings go to stderr.

Sections (one module each; docs/check.md has the full table and what it shows):

    gauss       Monte Carlo mixture VI against the Gaussian flow, d = 100 and 1000
    scaling     the gap against the sample size n (noise) and the step eta (Euler bias)
    circle      gradient descent on every registered circle objective against its flow
    rk4         the batched torch RK4 against the compiled RK4
    pointcloud  a PointNet on symmetric objects beside the per-sample flow (informational)
    divergences gradient descent on each f-divergence and W1 against its flow (circle; Gaussian d = 100)
    nf          normalizing-flow training beside the mixture theory (informational rows say so)
    geometry    torch Adam and natural-gradient steps against the adam_ode and natural flows
"""
from __future__ import annotations

import importlib
import math
import sys
import time

from .core import Context, Row, Settings

SECTIONS = {name: f"{__name__}.{name}" for name in ("gauss", "scaling", "circle", "rk4", "pointcloud",
                                                     "divergences", "nf", "geometry")}


def run_check(device=None, fast=False, only=None, threads=None) -> list:
    """All comparisons (or those in `only`); returns the rows (list of Row)."""
    import torch

    from ..training.device import pick_device

    dev = pick_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    ctx = Context(Settings.fast_settings() if fast else Settings(), dev)
    for name, module in SECTIONS.items():
        if only and name not in only:
            continue
        t0 = time.perf_counter()
        importlib.import_module(module).run(ctx)
        ctx.timings[name] = time.perf_counter() - t0
        print(f"[flowsim.check] {name}: {ctx.timings[name]:.1f} s", file=sys.stderr)
    return ctx.rows


def format_table(rows) -> str:
    def f(x):
        return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"

    head = ("quantity", "flow", "simulation ± SE", "eta->0 ± SE", "agree")
    body = [(r.name, f(r.flow), f"{f(r.sim)} ± {f(r.sem)}",
             f"{f(r.extrapolated)} ± {f(r.sem_extrapolated)}" if math.isfinite(r.extrapolated) else "",
             ("yes" if r.agree else "NO") + ("" if r.required else " (info)")) for r in rows]
    widths = [max(len(x[i]) for x in body + [head]) for i in range(5)]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths))
    out = [line(head), "-+-".join("-" * w for w in widths)] + [line(b) for b in body]
    return "\n".join(out)


__all__ = ["SECTIONS", "Row", "Settings", "Context", "run_check", "format_table"]

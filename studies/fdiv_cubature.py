"""How many cubature nodes the Gaussian f-divergence flows need, and what an RHS call costs.

Command:

    python studies/fdiv_cubature.py            # writes studies/results/fdiv_cubature.md

The benchmark's Gaussian flow (flowsim.families.gaussian.family `example_problem`: K = M = 2
in d = 10, Λ = 16, ρ = 0.3, σ² = τ; the span is 3-dimensional, FG1) at STATES random states
(`random_state`, seed 0). For each f-divergence objective and each n_cubature (nodes per
principal axis of the tensor Gauss–Hermite rule, FG1) it reports the largest |Δ rhs| over
the states against the rule with REFERENCE nodes per axis, and the time of one RHS call
(best of short batches, this process), beside the reverse KL's RHS (span and two-mode).
"""
from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from flowsim.families import family

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
OBJECTIVES = ("js", "nonsaturating", "chi2", "hellinger", "alpha")
NODES = (8, 12, 16, 20, 24, 32, 48)
REFERENCE = 80
STATES = 6


def rhs_seconds(prob, y, budget=0.3):
    """Seconds per RHS call at y: the best of three batches of about `budget` / 3."""
    out = np.empty_like(y)
    prob.model.rhs(0.0, y, prob.params, out)
    best = np.inf
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while True:
            prob.model.rhs(0.0, y, prob.params, out)
            n += 1
            dt = time.perf_counter() - t0
            if dt > budget / 3:
                break
        best = min(best, dt / n)
    return best


def rhs_at(prob, states):
    out = np.empty_like(states)
    for i, y in enumerate(states):
        prob.model.rhs(0.0, y, prob.params, out[i])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=RESULTS / "fdiv_cubature.md")
    args = ap.parse_args(argv)
    fam = family("gaussian")
    rng = np.random.default_rng(0)
    base = fam.example_problem("js")
    states = np.array([fam.random_state(base, rng) for _ in range(STATES)])
    states[:, -1] = base.y0[-1]                       # σ² = τ: the flow keeps it (fixed variance)
    t_start = time.perf_counter()
    rows = []
    for name in OBJECTIVES:
        ref = rhs_at(fam.example_problem(name, n_cubature=REFERENCE), states)
        scale = float(np.max(np.abs(ref)))
        for n in NODES:
            prob = fam.example_problem(name, n_cubature=n)
            err = float(np.max(np.abs(rhs_at(prob, states) - ref)))
            rows.append((name, n, err, err / scale, rhs_seconds(prob, states[0])))
            print(name, n, f"{err:.2e}", flush=True)
    kl = {}
    for reduction in ("span", "two_mode"):
        prob = fam.example_problem("reverse_kl", reduction=reduction)
        kl[reduction] = rhs_seconds(prob, prob.y0)
    lines = [
        "# Cubature of the Gaussian f-divergence flows (FG1): error and cost",
        "",
        "Command: `python studies/fdiv_cubature.py`. Setting: the benchmark's Gaussian flow "
        "(K = M = 2, d = 10, Λ = 16, ρ = 0.3, σ² = τ, span dimension 3), "
        f"{STATES} random states (seed 0); error = max |rhs(n) − rhs({REFERENCE})| over the "
        "states and the state's coordinates (relative: divided by max |rhs|); cost = one RHS "
        "call at the first state, best of three batches.",
        "",
        "| objective | n_cubature | nodes per component (n³) | max abs error | relative | µs per RHS |",
        "|---|---|---|---|---|---|",
    ]
    for name, n, err, rel, sec in rows:
        lines.append(f"| {name} | {n} | {n ** 3} | {err:.1e} | {rel:.1e} | {sec * 1e6:.0f} |")
    lines += [
        "",
        f"Reverse KL at the same flow: span {kl['span'] * 1e6:.1f} µs, two-mode overlap ODE "
        f"{kl['two_mode'] * 1e6:.1f} µs per RHS call.",
        "",
        f"Wall time {time.perf_counter() - t_start:.0f} s.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

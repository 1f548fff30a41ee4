"""How accurate is the span reduction's tensor cubature? (docs/findings.md)

For K or M = 3 the span flow's expectations run over n_e = 2 dimensions, by a tensor
Gauss–Hermite cubature with n_cubature nodes per dimension. Over random two-dimensional
configurations (means N(0, 1.5² I), weights Dirichlet(3), variances in [0.6, 1.5]) this
measures the relative RHS error max|f_kernel − f_ref| / max(1, max|f_ref|) against the
converged full-space gradient (flowsim.families.gaussian.reference, 320² nodes), at the
problem's initial state, for several n_cubature, and the cost of one RHS call.

    python studies/span_cubature.py [--seeds 6]     (writes studies/results/span_cubature.md)
"""
from __future__ import annotations

import argparse
import pathlib
import time

import numpy as np

from flowsim.families import family
from flowsim.families.gaussian import reference

OUT = pathlib.Path(__file__).parent / "results" / "span_cubature.md"
NODES = (40, 64, 80, 96, 128)
SHAPES = ((3, 2), (2, 3), (3, 3))
REFERENCE_NODES = 320


def errors(n_seeds: int) -> dict:
    fam = family("gaussian")
    out = {}
    for objective in ("reverse_kl", "forward_kl"):
        for K, M in SHAPES:
            for seed in range(n_seeds):
                rng = np.random.default_rng(1000 * seed + 10 * K + M)
                prob = fam.random_problem(objective, rng, K, M, 2, reduction="span")
                y = prob.y0
                ref = reference._span_rhs(y, prob.params, objective, REFERENCE_NODES)
                scale = max(1.0, float(np.max(np.abs(ref))))
                for n in NODES:
                    p = fam.build(prob.meta["target"], prob.meta["init"], objective=objective,
                                  train_var=True, reduction="span", n_cubature=n)
                    err = float(np.max(np.abs(p.rhs(0.0, y) - ref))) / scale
                    out.setdefault((objective, K, M, n), []).append(err)
    return out


def cost() -> dict:
    fam = family("gaussian")
    prob = fam.random_problem("reverse_kl", np.random.default_rng(0), 3, 3, 2, reduction="span")
    out = {}
    for n in NODES:
        p = fam.build(prob.meta["target"], prob.meta["init"], objective="reverse_kl",
                      train_var=True, reduction="span", n_cubature=n)
        buf = np.empty_like(p.y0)
        p.model.rhs(0.0, p.y0, p.params, buf)
        t0 = time.perf_counter()
        for _ in range(20):
            p.model.rhs(0.0, p.y0, p.params, buf)
        out[n] = (time.perf_counter() - t0) / 20
    return out


def table(errs: dict, costs: dict, n_seeds: int) -> str:
    lines = [f"Relative RHS error of the span kernels against the converged full-space gradient "
             f"({n_seeds} random configurations per row; `python studies/span_cubature.py`).", "",
             "| objective | K | M | " + " | ".join(f"n = {n}: median / worst" for n in NODES) + " |",
             "|---|---|---|" + "---|" * len(NODES)]
    for objective in ("reverse_kl", "forward_kl"):
        for K, M in SHAPES:
            cells = []
            for n in NODES:
                e = errs[(objective, K, M, n)]
                cells.append(f"{np.median(e):.1e} / {max(e):.1e}")
            lines.append(f"| {objective} | {K} | {M} | " + " | ".join(cells) + " |")
    lines += ["", "Cost of one RHS call (reverse KL, K = M = 3, this machine, one run):", "",
              "| n_cubature | " + " | ".join(str(n) for n in NODES) + " |",
              "|---|" + "---|" * len(NODES),
              "| ms | " + " | ".join(f"{costs[n] * 1e3:.2f}" for n in NODES) + " |"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args(argv)
    text = table(errors(args.seeds), cost(), args.seeds)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(text)
    print(f"written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

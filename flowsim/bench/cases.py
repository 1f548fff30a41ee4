"""The benchmark's models: one representative Problem per registered objective.

Every objective of every family in flowsim.registry is a case, built by its family's
`example_problem` (the circle: a three-mode target and a broad three-component start;
the Gaussian family: the two-mode overlap ODE in d = 10, Λ = 16, ρ = 0.3), so a newly
registered objective is benchmarked without editing this module.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..families import FAMILIES, load_all
from ..registry import objectives
from ..times import log_times


class Case(NamedTuple):
    name: str
    problem: object
    t_max: float
    t_eval: np.ndarray


QUICK_FRACTION = 0.01


def cases(quick=False):
    """Every benchmark case (quick: runs 1/100 as long, same models, with the family's
    `bench_quick_options`: the Gaussian f-divergences on a 12-node cubature)."""
    load_all()
    out = []
    for fam in FAMILIES.values():
        t_max = fam.bench_t_max * (QUICK_FRACTION if quick else 1.0)
        for obj in objectives(fam.name):
            prob = fam.example_problem(obj.name, **(fam.bench_quick_options if quick else {}))
            name = ".".join(dict.fromkeys((fam.name, prob.meta["reduction"], obj.name)))
            out.append(Case(name.replace(".circle.", "."), prob, t_max, log_times(t_max)))
    return out

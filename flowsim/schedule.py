"""Temperature schedules: the annealed reverse KL  L_β(t) = E_q[log q] − β(t) E_q[log p].

The normaliser of p^β does not depend on q, so it drops out of the flow
(docs/derivations.md, B1). Kinds (β capped at 1):

    constant    β(t) = β₀
    linear      β(t) = min(1, β₀ + r t)
    geometric   β(t) = min(1, β₀ e^{r t})

with β₀ ∈ (0, 1] and r > 0 (r is unused by `constant`). Only the reverse KL has an
annealed form: the forward KL E_p[log p − log q] has no E_q[log p] to temper (tempering its
p would change the samples it averages over, not a weight on a term), so a schedule on any
other objective is refused.

A flow with a schedule uses its objective's annealed kernels (`Objective.annealed`), which
read (kind code, β₀, r) from p right after the model's own parameters (each layout knows
where its own part ends); a geometry's entries, if any, come after.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from .numerics.jit import kernel

__all__ = ["KINDS", "check_schedule", "schedule_tail", "beta_at", "kernels_for"]

KINDS = {"constant": 0, "linear": 1, "geometric": 2}
FIELDS = ("kind", "beta0", "rate")


def check_schedule(spec, field_name: str = "schedule") -> dict:
    """A validated schedule {"kind", "beta0", "rate"}; ValueError naming the field."""
    from .validation import as_finite_array

    if not isinstance(spec, Mapping):
        raise ValueError(f"{field_name}: expected a table {{kind, beta0, rate}}, got {spec!r}")
    for key in spec:
        if key not in FIELDS:
            raise ValueError(f"{field_name}.{key}: unknown field (allowed: {', '.join(FIELDS)})")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{field_name}.kind: must be one of {tuple(KINDS)}, got {kind!r}")
    if "beta0" not in spec:
        raise ValueError(f"{field_name}.beta0: required")
    beta0 = float(as_finite_array(f"{field_name}.beta0", spec["beta0"], 0))
    if not 0.0 < beta0 <= 1.0:
        raise ValueError(f"{field_name}.beta0: must be in (0, 1], got {beta0!r}")
    rate = spec.get("rate")
    if kind == "constant":
        rate = 0.0 if rate is None else float(as_finite_array(f"{field_name}.rate", rate, 0))
    else:
        if rate is None:
            raise ValueError(f"{field_name}.rate: required for a {kind} schedule")
        rate = float(as_finite_array(f"{field_name}.rate", rate, 0))
        if not rate > 0.0:
            raise ValueError(f"{field_name}.rate: must be > 0, got {rate!r}")
    return {"kind": kind, "beta0": beta0, "rate": rate}


def schedule_tail(schedule: Mapping) -> np.ndarray:
    """(kind code, β₀, r), the entries a schedule appends to p."""
    return np.array([KINDS[schedule["kind"]], schedule["beta0"], schedule["rate"]], float)


@kernel
def beta_at(t, code, beta0, rate):
    """β(t) of the schedule (code, β₀, r)."""
    if code == 0.0:
        return beta0
    if code == 1.0:
        return min(1.0, beta0 + rate * t)
    return min(1.0, beta0 * math.exp(min(rate * t, 700.0)))


def kernels_for(objective, schedule) -> Mapping:
    """The objective's {reduction: FlowModel}: its plain kernels without a schedule, its
    annealed kernels with one (ValueError naming `schedule` when it has none)."""
    if schedule is None:
        return objective.models
    if not objective.annealed:
        raise ValueError(f"schedule: the objective {objective.name!r} has no annealed form "
                         "(only the reverse KL anneals: L = E_q[log q] − β(t) E_q[log p])")
    return objective.annealed

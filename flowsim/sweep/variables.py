"""Every per-point result variable of a sweep: name, extra dimensions, dtype, fill, meaning.

The diagnostics come from flowsim.diagnostics.DIAGNOSTICS (stored as float64, NaN where a
point failed); the solver's status and counters, and with output.save_trajectory the
states and observables at the saved times, are the sweep's own.
"""
from __future__ import annotations

import numpy as np

from ..diagnostics import DIAGNOSTICS
from ..integrate.status import NOT_RUN
from ..times import log_times

OWN = {
    "status": "solver status (see flag_values / flag_meanings)",
    "n_steps": "integrator step attempts",
    "n_rhs": "right-hand-side evaluations",
}
TRAJECTORY = {
    "state": "integrated state at the saved times (NaN-padded)",
    "objective_t": "objective at the saved times",
    "reverse_kl_t": "exact mixture KL(q || p) at the saved times",
    "forward_kl_t": "exact mixture KL(p || q) at the saved times",
    "weights_t": "mixture weights at the saved times",
    "mode_mass_t": "q-mass on each target mode at the saved times",
}
DIMENSIONS = ("component", "mode", "time", "state_index", "chunk")
DESCRIPTIONS = {**{d.name: d.description for d in DIAGNOSTICS}, **OWN, **TRAJECTORY}
RESERVED_NAMES = frozenset(DESCRIPTIONS) | frozenset(DIMENSIONS) | {"chunk_done"}


def time_grid(study) -> np.ndarray:
    s = study.solver
    if s["t_eval"] is not None:
        return np.asarray(s["t_eval"], dtype=np.float64)
    grid = {k: int(s[k]) for k in ("per_decade", "decades") if s[k] is not None}
    return np.asarray(log_times(float(s["t_max"]), **grid), dtype=np.float64)


def variable_shapes(study) -> dict:
    """{name: (extra dims, extra shape, dtype, fill)} of every per-point result variable."""
    K, M = study.extra["sizes"]
    size = {"component": K, "mode": M}
    spec = {}
    for d in DIAGNOSTICS:
        if d.dim is None:
            spec[d.name] = ((), (), np.float64, np.nan)
    for d in DIAGNOSTICS:
        if d.dim is not None:
            spec[d.name] = ((d.dim,), (size[d.dim],), np.float64, np.nan)
    spec["status"] = ((), (), np.int8, NOT_RUN)
    spec["n_steps"] = ((), (), np.int64, -1)
    spec["n_rhs"] = ((), (), np.int64, -1)
    if study.output["save_trajectory"]:
        T = len(time_grid(study))
        spec["state"] = (("time", "state_index"), (T, study.extra["n_state"]), np.float64, np.nan)
        for name in ("objective_t", "reverse_kl_t", "forward_kl_t"):
            spec[name] = (("time",), (T,), np.float64, np.nan)
        spec["weights_t"] = (("time", "component"), (T, K), np.float64, np.nan)
        spec["mode_mass_t"] = (("time", "mode"), (T, M), np.float64, np.nan)
    return spec

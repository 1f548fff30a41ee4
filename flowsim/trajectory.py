"""A solved flow: saved states, the observables derived from them, and xarray export.

The state is kept minimal (what the ODE integrates); everything else — named
variables, mode masses, exact mixture KLs, diagnostics — is derived on demand by the
problem's family, so an ODE trajectory and a torch simulation that record the same
observables overlay directly.

A family (flowsim.families) provides

    state_variables(problem, states) -> {name: (dims, array)}   dims start with "time"
    observe(problem, time, states) -> flowsim.diagnostics.Observables
    final(trajectory) -> the variational mixture at the last saved time, user coordinates
    user_variables(trajectory, max_dim) -> extra variables in user coordinates (the
        Gaussian means in R^d, for d <= max_dim)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .diagnostics import Observables, classify, summarize
from .integrate.status import DIAGNOSTIC_ERROR, STATUS_NAMES, is_success
from .integrate.status import POINT_STATUS_NAMES as STATUS_NAMES_ALL
from .problem import Problem

MAX_MEANS_DIM = 1000


@dataclass
class Trajectory:
    """States of one flow at the saved times, with status and solver counters."""

    problem: Problem
    time: np.ndarray
    states: np.ndarray
    status: int
    n_steps: int = -1
    n_rhs: int = -1
    backend: str = "scipy"
    options: dict = field(default_factory=dict)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[int(self.status)]

    @cached_property
    def observables(self) -> Observables:
        return self.problem.family.observe(self.problem, self.time, self.problem.base(self.states))

    @cached_property
    def diagnostics(self) -> dict:
        """Every entry of flowsim.diagnostics.DIAGNOSTICS at the final saved time, plus `status`."""
        d = summarize(self.observables)
        d["status"] = self.status_name
        finite = all(np.all(np.isfinite(v)) for v in d.values() if not isinstance(v, str))
        if not finite and is_success(self.status):
            d["status"] = STATUS_NAMES_ALL[DIAGNOSTIC_ERROR]
        return d

    @cached_property
    def final(self):
        """The variational mixture at the last saved time, in the user's coordinates (for a
        run that stopped early, at the last saved time it reached)."""
        return self.problem.family.final(self.reached())

    def reached(self) -> "Trajectory":
        """This trajectory up to its last saved state that is finite (itself if all are)."""
        finite = np.all(np.isfinite(self.states), axis=1)
        if finite.all() or not finite.any():
            return self
        last = int(np.nonzero(finite)[0][-1]) + 1
        return Trajectory(self.problem, self.time[:last], self.states[:last], self.status,
                          self.n_steps, self.n_rhs, self.backend, self.options)

    def to_xarray(self, max_dim: int = MAX_MEANS_DIM):
        """xarray Dataset with coordinate `time`, state variables, observables, diagnostics,
        and the variables in user coordinates (the Gaussian means in R^d for d <= max_dim)."""
        import xarray as xr

        obs = self.observables
        per_time = classify(obs)
        data = dict(self.problem.family.state_variables(self.problem, self.problem.base(self.states)))
        data.update(self.problem.family.user_variables(self, max_dim))
        data.update({
            "objective": (("time",), obs.objective),
            "reverse_kl": (("time",), obs.reverse_kl),
            "forward_kl": (("time",), obs.forward_kl),
            "mode_mass": (("time", "mode"), obs.mode_mass),
            "target_weights": (("mode",), obs.target_weights),
            "nearest_mode": (("time", "component"), obs.nearest_mode),
            "distance": (("time", "component"), obs.distance),
        })
        for key, value in per_time.items():
            data[key] = (("time",), value)
        n_comp = obs.weights.shape[1]
        ds = xr.Dataset(
            data,
            coords={"time": self.time, "component": np.arange(n_comp),
                    "mode": np.arange(obs.mode_mass.shape[1])},
        )
        ds.attrs.update({
            "model": self.problem.model.name,
            "status": self.status_name,
            "backend": self.backend,
            "n_steps": int(self.n_steps),
            "n_rhs": int(self.n_rhs),
        })
        for key, value in self.problem.meta.items():
            if isinstance(value, (str, int, float, bool)):
                ds.attrs[key] = value
        return ds

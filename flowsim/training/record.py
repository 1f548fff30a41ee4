"""What a torch simulation hands back: the flow's observables on the flow's time grid, per run.

A `Record` holds, for S independent runs (seeds, or batch points) recorded at T saved
times, named variables of shape (T, S, ...). The keys that flowsim.diagnostics needs
(weights, mode_mass, nearest_mode, distance, objective, reverse_kl, forward_kl) are
always present, so every run converts to an `Observables` and gets the ONE collapse
classification (`summarize`, `classify`) that ODE trajectories get.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..diagnostics import Observables, summarize

OBSERVABLE_KEYS = ("weights", "mode_mass", "nearest_mode", "distance", "objective",
                   "reverse_kl", "forward_kl")


@dataclass
class Record:
    """Saved times `time` (T,), variables {name: (T, S, ...)}, target weights rho (M,)."""

    time: np.ndarray
    variables: dict
    target_weights: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return int(self.variables["weights"].shape[1])

    def observables(self, s: int) -> Observables:
        v = self.variables
        return Observables(time=np.asarray(self.time, float), weights=v["weights"][:, s],
                           mode_mass=v["mode_mass"][:, s], target_weights=self.target_weights,
                           nearest_mode=v["nearest_mode"][:, s], distance=v["distance"][:, s],
                           objective=v["objective"][:, s], reverse_kl=v["reverse_kl"][:, s],
                           forward_kl=v["forward_kl"][:, s])

    def diagnostics(self, s: int) -> dict:
        """flowsim.diagnostics.summarize of run s."""
        return summarize(self.observables(s))

    def all_diagnostics(self) -> list:
        return [self.diagnostics(s) for s in range(self.n_runs)]

    def mean_sem(self, name: str):
        """Mean over runs and its standard error (0 for a single run), shapes (T, ...)."""
        x = np.asarray(self.variables[name], dtype=float)
        mean = x.mean(axis=1)
        sem = x.std(axis=1, ddof=1) / np.sqrt(x.shape[1]) if x.shape[1] > 1 else np.zeros_like(mean)
        return mean, sem

    def to_xarray(self):
        """xarray Dataset with dims (time, run, ...)."""
        import xarray as xr

        data = {}
        for name, arr in self.variables.items():
            arr = np.asarray(arr)
            dims = ("time", "run") + tuple(f"{name}_dim{i}" for i in range(arr.ndim - 2))
            if name in ("weights", "nearest_mode", "distance", "mu", "kappa", "m"):
                dims = ("time", "run", "component")
            elif name == "mode_mass":
                dims = ("time", "run", "mode")
            elif name == "Q":
                dims = ("time", "run", "component", "component2")
            data[name] = (dims, arr)
        ds = xr.Dataset(data, coords={"time": np.asarray(self.time, float)})
        ds["target_weights"] = (("mode",), np.asarray(self.target_weights))
        for key, value in self.meta.items():
            if isinstance(value, (str, int, float, bool)):
                ds.attrs[key] = value
        return ds


def stack(frames: list) -> dict:
    """[{name: (S, ...)}] per saved time -> {name: (T, S, ...)}."""
    return {k: np.stack([f[k] for f in frames]) for k in frames[0]}

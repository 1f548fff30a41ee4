"""The check's rows, settings and context, shared by every comparison module."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# Losses trained per shape. matched_bound has no flow when K > M (the rectangle's and the
# cylinder's targets have fewer modes than the K = 4 heads); on the cylinder the exact KLs
# start at KL < 0.1 from the near-uniform target and show nothing; the rest is time.
PC_LOSSES = {
    "box": ("matched", "matched_fixed", "matched_bound", "reverse_kl", "forward_kl"),
    "rectangle": ("matched", "matched_fixed", "reverse_kl", "forward_kl"),
    "cylinder": ("matched", "matched_fixed"),
}


@dataclass
class Settings:
    """Sizes of every comparison; `fast()` keeps the whole check under ~2 minutes on 2 cores."""

    gauss_dims: tuple = (100, 1000)
    gauss_rhos: tuple = (0.5, 0.3)
    gauss_lr: float = 0.02
    gauss_n: int = 64
    gauss_seeds: int = 16
    scaling_ns: tuple = (16, 64, 256, 1024)
    scaling_n_lr: float = 0.05
    scaling_lrs: tuple = (0.4, 0.2, 0.1, 0.05)
    scaling_lr_n: int = 1024
    scaling_seeds: int = 8
    circle_lrs: tuple = (0.01, 0.005)
    circle_t_max: float = 10.0
    circle_points: int = 4
    pc_seeds: int = 5
    pc_steps: int = 500
    pc_batch: int = 32
    pc_points: int = 128
    pc_widths: tuple = (32, 64, 128)
    pc_head: int = 64
    pc_flow_samples: int = 8
    pc_flow_t_max: float = 5000.0
    pc_heldout: int = 128
    pc_shapes: tuple = ("box", "rectangle", "cylinder")
    pc_losses: dict = field(default_factory=lambda: dict(PC_LOSSES))
    pc_geometries: tuple = ("adam",)
    rk4_objectives: tuple = ("matched", "matched_bound", "reverse_kl", "forward_kl")
    weight_modes: tuple = ("trainable", "fixed", "regularised")
    weight_prior: float = 0.5
    seed: int = 0
    fast: bool = False

    @classmethod
    def fast_settings(cls):
        return cls(gauss_lr=0.1, gauss_n=16, gauss_seeds=4, scaling_ns=(16, 64, 256),
                   scaling_lrs=(0.4, 0.2, 0.1), scaling_lr_n=256, scaling_seeds=4,
                   circle_lrs=(0.02, 0.01), circle_t_max=4.0, circle_points=2, pc_seeds=1,
                   pc_steps=150, pc_batch=16, pc_points=64, pc_widths=(16, 32, 64), pc_head=32,
                   pc_flow_samples=4, pc_heldout=64, pc_shapes=("box",), rk4_objectives=("matched",),
                   scaling_n_lr=0.1, fast=True)


def weight_options(weights: str, settings: Settings) -> dict:
    """The keyword arguments a flow and its training take for a weight mode: the prior's
    strength for "regularised" (flowsim.weight_modes, P1), none otherwise."""
    return {"weight_prior": settings.weight_prior} if weights == "regularised" else {}


@dataclass
class Row:
    name: str
    flow: float
    sim: float
    sem: float
    agree: bool
    required: bool = True
    note: str = ""
    extrapolated: float = float("nan")
    sem_extrapolated: float = float("nan")

    def as_dict(self):
        d = {"name": self.name, "flow": _num(self.flow), "sim": _num(self.sim),
             "sem": _num(self.sem), "agree": bool(self.agree), "required": bool(self.required),
             "note": self.note}
        if math.isfinite(self.extrapolated):
            d["sim_eta0"] = self.extrapolated
            d["sem_eta0"] = self.sem_extrapolated
        return d


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass
class Context:
    settings: Settings
    device: object
    rows: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)


def extrapolated_row(prefix, times, f, x, x2):
    """The row comparing a flow with two simulations at steps eta and 2 eta, by the eta -> 0
    value 2 sim(eta) - sim(2 eta) of their seed means: f (times,), x and x2 (times, seeds).
    Agreement: within 3 SE of that value (plus 1e-9 relative) at every time; the row
    reports the worst time, named "<prefix> @t=<time>"."""
    import numpy as np

    mean, mean2 = x.mean(1), x2.mean(1)
    sem = x.std(1, ddof=1) / math.sqrt(x.shape[1])
    sem2 = x2.std(1, ddof=1) / math.sqrt(x2.shape[1])
    extra = 2 * mean - mean2
    sem_x = np.sqrt(4 * sem ** 2 + sem2 ** 2)
    gap = np.abs(extra - f)
    tol = 3.0 * sem_x + 1e-9 * (1.0 + np.abs(f))
    i = int(np.argmax(gap / np.maximum(tol, 1e-300)))
    agree = bool(np.all(gap <= tol))
    return Row(f"{prefix} @t={times[i]:g}", float(f[i]), float(mean[i]), float(sem[i]), agree,
               extrapolated=float(extra[i]), sem_extrapolated=float(sem_x[i]))


def section_sizes(ctx, section: str, fast: dict, full: dict, **overrides) -> dict:
    """A section's sizes: `fast` or `full` by the context's settings, with `overrides`
    (an unknown name is a ValueError naming the section)."""
    s = dict(fast if ctx.settings.fast else full)
    unknown = set(overrides) - set(s)
    if unknown:
        raise ValueError(f"{section}: unknown size {sorted(unknown)[0]!r}; choose from {sorted(s)}")
    s.update(overrides)
    return s


"""The contract every flow model meets.

A flow model is a gradient flow  dy/dt = -grad_y L(y; p)  on a flat float64 state
vector y, with every parameter packed into a flat float64 vector p. Because all
models share that shape, one compiled integrator (flowsim.integrate) and one sweep
kernel (flowsim.sweep) serve every model, and a sweep point is just a row of y0 and
a row of p.

Kernels (flowsim.numerics.jit.kernel, module-level so that the solvers over them cache):

    rhs(t, y, p, out) -> None        writes dy/dt into out; never raises
    objective(y, p) -> float         the L whose negative gradient rhs is

A `Problem` binds a model to one initial state and one parameter vector, and a
`Family` knows how to name the state's pieces and how to measure the collapse
observables (flowsim.diagnostics) from a stack of states.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np


class FlowModel(NamedTuple):
    """A compiled gradient flow: its name and its two kernels."""

    name: str
    rhs: Callable
    objective: Callable


@dataclass(frozen=True)
class Problem:
    """One flow instance: model, initial state y0, packed parameters p.

    `family` turns states into named variables and observables; `meta` keeps the
    Python-side description (target, options) used to build y0 and p. A geometry that
    integrates more than the model's state (adam_ode: the moment estimates) appends to
    y0; `base` cuts states back to the model's part, which is what the family reads.
    """

    model: FlowModel
    y0: np.ndarray
    params: np.ndarray
    family: Any
    meta: dict = field(default_factory=dict)

    def rhs(self, t: float, y: np.ndarray) -> np.ndarray:
        out = np.empty_like(y)
        self.model.rhs(t, np.ascontiguousarray(y, dtype=np.float64), self.params, out)
        return out

    @property
    def n_base(self) -> int:
        """The size of the model's own state (y0 may carry a geometry's extra variables)."""
        return int(self.meta.get("n_base", self.y0.size))

    def base(self, states: np.ndarray) -> np.ndarray:
        """The model's part of states (..., n) (a view)."""
        return np.asarray(states)[..., :self.n_base]

    def objective(self, y: np.ndarray) -> float:
        y = np.ascontiguousarray(self.base(y), dtype=np.float64)
        return float(self.model.objective(y, self.params))

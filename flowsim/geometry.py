"""Optimiser geometries: the layer between the gradient and the state derivative.

Every objective's kernel writes out = −∇L in the model's coordinates. A geometry turns
that into the flow's derivative (docs/derivations.md, A1–A4):

    euclidean   dy/dt = −∇L                                   plain gradient flow
    adam        dy_i/dt = −g_i / (|g_i| + ε_s)                Adam's small-step limit (η → 0
                                                              at fixed β₁, β₂: the moments
                                                              relax to g and g²); sign descent
                                                              as ε → 0. ε_s = max(ε, smoothing):
                                                              at ε = 1e-8 (torch's default) the
                                                              field switches sign across a layer
                                                              |g_i| ~ 1e-8 that no integrator
                                                              resolves (it stalls at max_steps),
                                                              so the flow is smoothed at
                                                              `smoothing` (default 1e-3); the
                                                              flow converges as it shrinks
                                                              (tests/test_geometry.py)
    adam_ode    dm/dt = (1 − β₁)/η (g − m), dv/dt = (1 − β₂)/η (g² − v),
                dy/dt = −m̂ / (√v̂ + ε),  m̂ = m/(1 − β₁^(t/η)), v̂ = v/(1 − β₂^(t/η))
                                                              Adam at learning rate η; the
                                                              state is [y, m, v]
    natural     dy_i/dt = −∇L_i / F_ii                        natural gradient in the
                                                              block-diagonal mixture Fisher
                                                              (the family's diagonal F)
    wfr         dy_i/dt = −∇L_i / W_ii                        Wasserstein–Fisher–Rao: the
                                                              weights in Fisher–Rao, the
                                                              components in Wasserstein

with g = ∇L. Coordinate-wise geometries (adam, adam_ode) are not rotation invariant, so on
the Gaussian family they run on the full coordinates (the means in R^d), not on overlaps.
Each geometry is declared once here; a flow's kernel is the composition, compiled per
(model, geometry) and cached under that name. The geometry's parameters are appended to
the packed parameter vector p, after everything the objective's kernel reads:

    adam       p[-1] = ε_s = max(ε, smoothing)
    adam_ode   p[-4:] = (η, β₁, β₂, ε)
    natural, wfr   the family's scale kernel reads the model's own part of p
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .numerics.jit import kernel, rhs_identity
from .registry import Parameter, Registry

__all__ = ["Geometry", "GEOMETRIES", "geometry", "geometry_rhs", "with_geometry", "method_for"]


def _positive(name, value):
    from .validation import check_positive

    return check_positive(name, value)


def _nonnegative(name, value):
    from .validation import as_finite_array

    value = float(as_finite_array(name, value, 0))
    if value < 0:
        raise ValueError(f"{name}: must be >= 0, got {value!r}")
    return value


def _betas(name, value):
    from .validation import as_finite_array

    b = as_finite_array(name, value, 1)
    if b.shape != (2,) or not (0.0 <= b[0] < 1.0 and 0.0 < b[1] < 1.0):
        raise ValueError(f"{name}: expected (beta1, beta2) with 0 <= beta1 < 1 and 0 < beta2 < 1, "
                         f"got {value!r}")
    return (float(b[0]), float(b[1]))


@dataclass(frozen=True)
class Geometry:
    """A geometry: its parameters, whether it is coordinate-wise (not rotation invariant),
    how many copies of the state it integrates (adam_ode: 3), and whether it needs the
    family's diagonal metric (`metric`: "natural" or "wfr")."""

    name: str
    description: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    coordinatewise: bool = False
    copies: int = 1
    metric: str | None = None

    def options(self, given: Mapping) -> dict:
        out = {}
        for name, par in self.parameters.items():
            value = given.get(name, par.default)
            if value is None:
                raise ValueError(f"{name}: required by geometry {self.name!r} ({par.description})")
            out[name] = par.check(name, value)
        return out

    def tail(self, values: Mapping) -> np.ndarray:
        """The geometry's entries appended to p."""
        if self.name == "adam":
            return np.array([max(values["eps"], values["smoothing"])], float)
        if self.name == "adam_ode":
            b1, b2 = values["betas"]
            return np.array([values["lr"], b1, b2, values["eps"]], float)
        return np.empty(0)


GEOMETRIES = Registry("geometry", "geometry")
for _g in (
        Geometry("euclidean", "plain gradient flow (gradient descent at a vanishing step)"),
        Geometry("adam", "Adam's small-step limit -g/(|g| + eps), coordinate by coordinate",
                 {"eps": Parameter(1e-8, _positive, "Adam's epsilon"),
                  "smoothing": Parameter(1e-3, _nonnegative, "the flow uses max(eps, smoothing)")},
                 coordinatewise=True),
        Geometry("adam_ode", "Adam at learning rate lr, with its moment estimates in the state",
                 {"lr": Parameter(None, _positive, "the learning rate eta"),
                  "betas": Parameter((0.9, 0.999), _betas, "Adam's (beta1, beta2)"),
                  "eps": Parameter(1e-8, _positive, "Adam's epsilon")},
                 coordinatewise=True, copies=3),
        Geometry("natural", "natural gradient in the block-diagonal mixture Fisher metric",
                 metric="natural"),
        Geometry("wfr", "Wasserstein-Fisher-Rao: weights in Fisher-Rao, components in Wasserstein",
                 metric="wfr")):
    GEOMETRIES.register(_g.name, _g)


def geometry(name, field_name: str = "geometry") -> Geometry:
    return GEOMETRIES.get(name, field_name)


def method_for(problem, method: str) -> str:
    """The integrator that runs `problem` for `method`: "auto" becomes the builder's choice
    `problem.meta["auto_method"]` where it made one. The Gaussian family makes one for the
    adam limit flow (A1): on the full coordinates Radau IIA's Newton iteration fails while
    the means' coordinates cross g_i = 0, so the stiffness switch of "auto" stalls there
    (10^5 steps short of t = 10 on the Gaussian pair, d = 32), while DOPRI5 pays a
    stability-limited step ~ ε_s and finishes t = 1000 in ~1.5·10^5 steps. On the circle
    "auto" does better (~500 steps to t = 1000 where DOPRI5 needs more than 2·10^5), and
    the family makes no choice."""
    if method != "auto":
        return method
    return problem.meta.get("auto_method", "auto")


def with_geometry(problem, geom: Geometry, values: Mapping, scale=None):
    """`problem` flowing in the geometry `geom` (the same Problem for euclidean): the
    composed kernel, p with the geometry's tail, y0 with its extra variables (zeros)."""
    from .problem import FlowModel, Problem

    if geom.name == "euclidean":
        return problem
    rhs = geometry_rhs(problem.model.rhs, geom, scale)
    model = FlowModel(f"{problem.model.name}.{geom.name}", rhs, problem.model.objective)
    n = problem.y0.size
    y0 = np.concatenate([problem.y0, np.zeros((geom.copies - 1) * n)])
    params = np.concatenate([problem.params, geom.tail(values)])
    meta = {**problem.meta, **values, "geometry": geom.name, "n_base": n}
    return Problem(model, y0, params, problem.family, meta)


_RHS: dict = {}


def geometry_rhs(base_rhs, geom: Geometry, scale=None):
    """The kernel rhs(t, y, p, out) of `base_rhs` (out = −∇L) in the geometry `geom`;
    `scale(y, p, s)` writes the family's inverse diagonal metric for natural and wfr."""
    if geom.name == "euclidean":
        return base_rhs
    key = (base_rhs, geom.name, scale)
    if key in _RHS:
        return _RHS[key]
    base = rhs_identity(base_rhs)
    metric = None if scale is None else rhs_identity(scale)
    identity = None if base is None or (scale is not None and metric is None) else \
        f"{base}.{geom.name}" + ("" if metric is None else f".{metric}")
    if geom.name == "adam":
        @kernel(identity=identity)
        def rhs(t, y, p, out):
            base_rhs(t, y, p, out)
            eps = p[p.shape[0] - 1]
            for i in range(out.shape[0]):
                out[i] = out[i] / (abs(out[i]) + eps)
    elif geom.name == "adam_ode":
        @kernel(identity=identity)
        def rhs(t, y, p, out):
            n = y.shape[0] // 3
            P = p.shape[0]
            lr, b1, b2, eps = p[P - 4], p[P - 3], p[P - 2], p[P - 1]
            g = np.empty(n)
            base_rhs(t, y[:n], p, g)             # g = −∇L
            steps = t / lr
            c1 = -math.expm1(steps * math.log(b1)) if b1 > 0.0 else 1.0
            c2 = -math.expm1(steps * math.log(b2))
            for i in range(n):
                grad = -g[i]
                m = y[n + i]
                v = y[2 * n + i]
                out[n + i] = (1.0 - b1) / lr * (grad - m)
                out[2 * n + i] = (1.0 - b2) / lr * (grad * grad - v)
                if steps > 0.0:
                    m_hat = m / c1
                    v_hat = v / c2
                else:                            # the limits of m/c1, v/c2 as t -> 0
                    m_hat = grad * (1.0 - b1) / (-math.log(b1)) if b1 > 0.0 else grad
                    v_hat = grad * grad * (1.0 - b2) / (-math.log(b2))
                out[i] = -m_hat / (math.sqrt(max(v_hat, 0.0)) + eps)
    else:
        if scale is None:
            raise ValueError(f"geometry: {geom.name!r} needs the family's metric for this reduction")

        @kernel(identity=identity)
        def rhs(t, y, p, out):
            base_rhs(t, y, p, out)
            s = np.empty(out.shape[0])
            scale(y, p, s)
            for i in range(out.shape[0]):
                out[i] = out[i] * s[i]
    _RHS[key] = rhs
    return rhs

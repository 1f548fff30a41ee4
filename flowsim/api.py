"""The one entry point: build a flow from a target and an initial mixture, integrate it.

    simulate(target, init, objective=..., weights="trainable"|"fixed"|"regularised", t_max=...)

dispatches on the family of `target` (von Mises mixture on the circle, isotropic
Gaussian mixture in R^d) to the family's problem builder, integrates the gradient
flow with the chosen backend, and returns a `Trajectory`.
"""
from __future__ import annotations

import numpy as np

from .geometry import method_for
from .integrate import STATUS_NAMES, integrate
from .integrate.methods import METHOD_CODES
from .numerics.jit import announce_compilation
from .weight_modes import WEIGHT_MODES
from .times import log_times
from .trajectory import Trajectory
from .validation import check_choice, check_positive, check_times

BACKENDS = ("scipy", "numba")


def build_problem(target, init, *, objective, weights="trainable", **options):
    """The family-specific Problem (model, y0, packed parameters) for this target."""
    from .families import family_of

    check_choice("weights", weights, WEIGHT_MODES)
    return family_of(target).build(target, init, objective=objective, weights=weights, **options)


def simulate(target, init, *, objective, weights="trainable", t_max, t_eval=None,
             rtol=1e-8, atol=1e-10, backend="scipy", method="auto", dt=None,
             max_steps=10**6, settle_tol=0.0, **options) -> Trajectory:
    """Integrate the gradient flow dy/dt = -grad L of `objective` from `init` toward `target`.

    backend "scipy" calls solve_ivp (RK45) on the compiled RHS; "numba" runs the
    compiled integrators: `method="auto"` (Dormand–Prince until its steps are held by
    stiffness, then Radau IIA; a family's builder may choose another for a flow,
    flowsim.geometry.method_for),
    `"dopri5"`, `"radau5"`, or fixed-step
    `method="rk4"|"euler"|"dopri5_fixed"` with step `dt` (the small-step limit of
    gradient descent at learning rate dt).
    """
    check_positive("t_max", t_max)
    check_positive("rtol", rtol)
    check_positive("atol", atol)
    check_choice("backend", backend, BACKENDS)
    check_choice("method", method, tuple(METHOD_CODES))
    problem = build_problem(target, init, objective=objective, weights=weights, **options)
    method = method_for(problem, method)
    t_eval = log_times(t_max) if t_eval is None else check_times("t_eval", t_eval, t_max)
    if backend == "scipy":
        from .integrate import solve_scipy      # scipy.integrate only where it is used

        states, status, n_rhs = solve_scipy(problem.rhs, problem.y0, t_eval, t_max, rtol, atol)
        n_steps = -1
    else:
        with announce_compilation(problem.model.name, method):
            res = integrate(problem.model.rhs, problem.y0, problem.params, t_eval, t_max=t_max,
                            method=method, rtol=rtol, atol=atol, dt=dt, max_steps=max_steps,
                            settle_tol=settle_tol)
        states, status, n_steps, n_rhs = res.states, res.status, res.n_steps, res.n_rhs
    return Trajectory(problem, np.asarray(t_eval, dtype=float), states, int(status),
                      int(n_steps), int(n_rhs), backend,
                      {"rtol": rtol, "atol": atol,
                       "method": "RK45" if backend == "scipy" else method})


__all__ = ["simulate", "build_problem", "log_times", "STATUS_NAMES"]

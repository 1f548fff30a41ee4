"""Integer status codes returned by every integrator kernel (kernels never raise).

    OK             0  reached the final time
    MAX_STEPS      1  more than max_steps step attempts
    STEP_UNDERFLOW 2  adaptive step fell below 1e-14·|t| (or a fixed step was not > 0)
    NON_FINITE     3  non-finite state or derivative
    SETTLED        4  stopped early: max|dy/dt| < settle_tol (the flow is at rest);
                      counts as success, the remaining rows hold the final state
    INVALID        5  malformed kernel arguments (shapes, method code, tolerances);
                      the Python wrappers raise ValueError before this can happen
                      (a sweep also gives it to a point whose inputs are invalid)

Two more codes are a sweep point's, never a kernel's:

    NOT_RUN       -1  not computed (yet): the fill value of a sweep's status
    DIAGNOSTIC_ERROR 6  the integration succeeded but the observables could not be computed

Rows of the output beyond the stopping point of a failed run are NaN.
"""
from __future__ import annotations

OK = 0
MAX_STEPS = 1
STEP_UNDERFLOW = 2
NON_FINITE = 3
SETTLED = 4
INVALID = 5
NOT_RUN = -1
DIAGNOSTIC_ERROR = 6

STATUS_NAMES = {
    OK: "ok",
    MAX_STEPS: "max_steps",
    STEP_UNDERFLOW: "step_underflow",
    NON_FINITE: "non_finite",
    SETTLED: "settled",
    INVALID: "invalid",
}
POINT_STATUS_NAMES = {NOT_RUN: "not_run", **STATUS_NAMES, DIAGNOSTIC_ERROR: "diagnostic_error"}

SUCCESS = (OK, SETTLED)


def status_name(code: int) -> str:
    """The name of a status code ('unknown(<code>)' if it is not one)."""
    return STATUS_NAMES.get(int(code), f"unknown({int(code)})")


def is_success(code: int) -> bool:
    """True for OK and SETTLED."""
    return int(code) in SUCCESS

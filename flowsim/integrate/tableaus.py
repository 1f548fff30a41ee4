"""Explicit Runge–Kutta methods as data: Butcher tableaus.

A tableau (HNW I §II.1, eq. 1.8) defines the s-stage explicit method

    k_i     = f(t + c_i h,  y + h Σ_{j<i} a_ij k_j),    i = 1..s
    y_{n+1} = y_n + h Σ_i b_i k_i
    err     = h Σ_i e_i k_i       (e = b − b̂, the embedded lower-order difference)

The solver (flowsim.integrate.solver) runs ONE stepping loop over these arrays;
adding a method means adding a tableau here and a method code there.

Symbols: s stages; a (s, s) strictly lower triangular; b, c, b_err (s,);
`order` is the order of the propagated solution b; `fsal` (first same as last)
means the last stage is f(t + h, y_{n+1}), i.e. the next step's first stage.

References
----------
Dormand, J. R. & Prince, P. J. (1980). A family of embedded Runge–Kutta formulae.
    J. Comput. Appl. Math. 6(1), 19–26.  (RK5(4)7M, Table 2.)
Hairer, E., Nørsett, S. P. & Wanner, G. (1993). Solving Ordinary Differential
    Equations I, 2nd ed. Springer.  §II.5, Table 5.2 (DOPRI5); §II.6 dense output
    (Hairer's `dopri5.f`, subroutine CONTD5); §II.1 Table 1.2 (RK4).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np


class Tableau(NamedTuple):
    """A Butcher tableau.  Arrays are float64; `b_err` is None for methods without
    an embedded error estimate; `dense` holds the coefficients of a free continuous
    extension (DOPRI5 only)."""

    name: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    b_err: Optional[np.ndarray]
    order: int
    fsal: bool
    dense: Optional[np.ndarray] = None

    @property
    def stages(self) -> int:
        return int(self.b.shape[0])


def _f(rows):
    return np.array(rows, dtype=np.float64)


# --- Dormand–Prince 5(4), FSAL, 7 stages (Dormand & Prince 1980; HNW I Table 5.2) ---
_DP_A = np.zeros((7, 7))
_DP_A[1, :1] = [1 / 5]
_DP_A[2, :2] = [3 / 40, 9 / 40]
_DP_A[3, :3] = [44 / 45, -56 / 15, 32 / 9]
_DP_A[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
_DP_A[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
_DP_A[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
_DP_B = _f([35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0])
_DP_BHAT = _f([5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200,
               187 / 2100, 1 / 40])
# e = b − b̂ written with exact rationals (as in Hairer's dopri5.f, E1..E7) rather
# than as a difference of rounded numbers.
_DP_E = _f([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200,
            22 / 525, -1 / 40])
_DP_C = _f([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
# Free 4th-order continuous extension (Hairer's CONTD5; HNW I §II.6): the weights
# d_i of  rcont5 = h Σ d_i k_i.
_DP_DENSE = _f([-12715105075 / 11282082432, 0.0, 87487479700 / 32700410799,
                -10690763975 / 1880347072, 701980252875 / 199316789632,
                -1453857185 / 822651844, 69997945 / 29380423])

DOPRI5 = Tableau("dopri5", _DP_A, _DP_B, _DP_C, _DP_E, 5, True, _DP_DENSE)

# --- classic Runge–Kutta 4 (HNW I §II.1, Table 1.2) ---
_RK4_A = np.zeros((4, 4))
_RK4_A[1, 0] = 0.5
_RK4_A[2, 1] = 0.5
_RK4_A[3, 2] = 1.0
RK4 = Tableau("rk4", _RK4_A, _f([1 / 6, 1 / 3, 1 / 3, 1 / 6]), _f([0.0, 0.5, 0.5, 1.0]),
              None, 4, False)

# --- explicit Euler (HNW I §I.7) ---
EULER = Tableau("euler", np.zeros((1, 1)), _f([1.0]), _f([0.0]), None, 1, False)

TABLEAUS = {t.name: t for t in (DOPRI5, RK4, EULER)}


def check_tableau(tab: Tableau, tol: float = 1e-14) -> None:
    """Assert the row-sum condition c_i = Σ_j a_ij, Σ b = 1, Σ e = 0 and that a is
    strictly lower triangular (HNW I eq. 1.9)."""
    s = tab.stages
    assert tab.a.shape == (s, s) and tab.c.shape == (s,)
    assert np.all(np.triu(tab.a) == 0.0)
    assert np.allclose(tab.a.sum(axis=1), tab.c, atol=tol, rtol=0)
    assert abs(tab.b.sum() - 1.0) < tol
    if tab.b_err is not None:
        assert abs(tab.b_err.sum()) < tol
    if tab.fsal:
        assert tab.c[-1] == 1.0 and np.array_equal(tab.a[-1, :-1], tab.b[:-1]) and tab.b[-1] == 0.0

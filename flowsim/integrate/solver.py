"""Compiled explicit Runge–Kutta integrators that know no model.

`make_solver(rhs)` gives, for a right-hand side, a solver

    solve(y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
          settle_tol, out_states) -> (status, n_steps, n_rhs, t_final)

that integrates  dy/dt = rhs(t, y, p)  from t = 0 to max(t_max, t_eval[-1]) and
writes the state at every t_eval into the preallocated (len(t_eval), n) array
`out_states`.  `rhs(t, y, p, out)` is a module-level numba kernel.

The solver is three compiled kernels, each compiled once for every model: `explicit`,
the adaptive methods below; `fixed_step`, the fixed-step ones (compiled on first use);
and the Radau IIA continuation of flowsim.integrate.radau, which a run needs once it is
stiff (method "radau5", or a method "auto" run whose steps are held by stiffness):
`explicit` then stops with the state, the step and the Jacobian, and Radau IIA continues
from there. On a cold disk cache `explicit` and Radau IIA are compiled by two other
processes while this one compiles the model's right-hand side
(flowsim.integrate.prefetch). Every kernel releases the GIL, so `make_batch_solver`
runs a batch's points on threads, each point with its own adaptive loop.

An explicit method is a Butcher tableau (flowsim.integrate.tableaus) plus ONE stepping
function (`stages`, below) run by one of two loops, after the start they share (`begin`):

    method 0  DOPRI5 adaptive: PI step-size controller (Gustafsson 1991; Söderlind 2002;
              HNW II §IV.2):  fac = 0.9 · err^(−β1) · err_prev^(β2),
              β1 = 0.7/5, β2 = 0.4/5, fac ∈ [0.2, 10], no growth right after a
              rejection; error norm  sqrt(mean((e_i / (atol + rtol·max(|y_i|,|ŷ_i|)))²))
              (HNW I eq. 4.11); starting step by HNW I §II.4 (Hairer's HINIT);
              output at t_eval by the free 4th-order continuous extension
              (HNW I §II.6, Hairer's CONTD5).
    method 1  classic RK4, fixed step `fixed_dt`
    method 2  explicit Euler, fixed step `fixed_dt`
    method 3  DOPRI5 5th-order solution, fixed step `fixed_dt` (no error control)
    method 4  Radau IIA from the start (first step by HINIT for its order-3 estimate)
    method 5  "auto": DOPRI5, and every STIFF_CHECK_EVERY accepted steps in which the step
              has not grown, the Jacobian's spectral radius ρ; once h ρ > STIFF_HRHO the
              run continues in Radau IIA (docs/derivations.md, N3)

Fixed-step methods shorten a step to land exactly on each t_eval point (a step
within 1e-9·dt of a point is stretched onto it instead of leaving a sliver).

`settle_tol > 0` stops as soon as max_i |dy_i/dt| < settle_tol at an accepted
state (status SETTLED); the remaining rows are the final state.  Kernels never
raise; see flowsim.integrate.status for the codes.  A non-finite adaptive trial
step is rejected and the step shrunk by 5; if the step then underflows the
status is NON_FINITE (else STEP_UNDERFLOW).  Fixed-step methods stop at the first
non-finite state or derivative.  Rows past the stopping point
of a failed run are NaN.  `n_steps` counts step attempts (accepted + rejected),
which is what `max_steps` bounds; `n_rhs` counts rhs evaluations.

One solver for every model.  The kernels take the rhs as their first argument, typed
RHS_TYPE, a first-class function type: the rhs is called through a function pointer
instead of being inlined, so `explicit` and Radau IIA are compiled (or loaded from the
disk cache) once per installation and serve every model, and a new model compiles only
its rhs. No compiled solver holds a model: the model is an argument of each call, so a
cached solver cannot run another model's code. The indirect call costs nothing
measurable against the rhs itself (docs/performance.md, One solver for every model).
`make_solver` compiles the rhs for the signature of RHS_TYPE and looks its address up once.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import types
from numba.core.dispatcher import Dispatcher
from numba.core.typing.typeof import typeof_impl

from ..numerics.jit import compiled_elsewhere, kernel, on_disk
from . import kernels as _k
from . import prefetch
from . import radau as _radau

__all__ = ["make_solver", "make_batch_solver"]

# ---------------------------------------------------------------------------
# the factory
# ---------------------------------------------------------------------------
_SOLVERS: dict = {}
_BATCH_SOLVERS: dict = {}
_COMPILE_LOCK = threading.Lock()
STIFF = -2      # internal to a solver: the explicit phase stops, Radau IIA continues
GOING_ON = -3   # internal to a solver: `begin` found nothing that ends the run
RADAU_ORDER = 3       # order of Radau IIA's error estimate (first step, HINIT)
FIXED_METHODS = (1, 2, 3)

_F8, _I8, _B1 = types.float64, types.int64, types.boolean
_V, _M = types.float64[::1], types.float64[:, ::1]
RHS_TYPE = types.FunctionType(types.void(_F8, _V, _V, _V))
"""The type of every right-hand side rhs(t, y, p, out): the solvers call it through this
function pointer, so one compiled solver serves every model."""
EXPLICIT_SIGNATURE = (RHS_TYPE, _V, _V, _V, _F8, _F8, _F8, _F8, _I8, _I8, _F8, _M, _V, _V, _M)
FIXED_SIGNATURE = (RHS_TYPE, _V, _V, _V, _F8, _I8, _I8, _F8, _F8, _M)
RADAU_SIGNATURE = (RHS_TYPE, _F8, _V, _V, _F8, _M, _B1, _F8, _V, _V, _I8, _F8, _F8, _I8, _I8,
                   _F8, _M)


def _check_rhs(rhs):
    if not isinstance(rhs, Dispatcher):
        raise ValueError("rhs: must be a numba @njit function rhs(t, y, p, out), "
                         f"got {type(rhs).__name__}")


@kernel(nogil=True)
def stages(rhs, t, y, h, p, A, C, s, K, ytmp):
    """The one stepping function: given K[0] = f(t, y), fill stages K[1..s-1]
    (HNW I eq. 1.8).  The last stage argument is left in ytmp."""
    n = y.shape[0]
    for i in range(1, s):
        for k in range(n):
            acc = 0.0
            for j in range(i):
                if A[i, j] != 0.0:
                    acc += A[i, j] * K[j, k]
            ytmp[k] = y[k] + h * acc
        rhs(t + C[i] * h, ytmp, p, K[i])


@kernel(nogil=True)
def initial_step(rhs, t, y, f0, p, rtol, atol, order, hmax, ytmp, f1):
    """Starting step size (HNW I §II.4, p. 169; Hairer's HINIT)."""
    n = y.shape[0]
    d0 = 0.0
    d1 = 0.0
    for i in range(n):
        sk = atol + rtol * abs(y[i])
        d0 += (y[i] / sk) ** 2
        d1 += (f0[i] / sk) ** 2
    d0 = np.sqrt(d0 / n)
    d1 = np.sqrt(d1 / n)
    if d0 < 1e-5 or d1 < 1e-5:
        h = 1e-6
    else:
        h = 0.01 * d0 / d1
    h = min(h, hmax)
    for i in range(n):
        ytmp[i] = y[i] + h * f0[i]
    rhs(t + h, ytmp, p, f1)
    d2 = 0.0
    for i in range(n):
        sk = atol + rtol * abs(y[i])
        d2 += ((f1[i] - f0[i]) / sk) ** 2
    d2 = np.sqrt(d2 / n) / h
    if not np.isfinite(d2):
        return min(h * 1e-3, hmax)
    der12 = max(d1, d2)
    if der12 <= 1e-15:
        h1 = max(1e-6, h * 1e-3)
    else:
        h1 = (0.01 / der12) ** (1.0 / order)
    return min(100.0 * h, h1, hmax)


@kernel(nogil=True)
def begin(rhs, y0, p, t_eval, t_max, rtol, atol, max_steps, method, fixed_dt, settle_tol,
          out_states, y, f0):
    """The start every method shares: the checks, y = y0, the rows at t = 0 and f0 = f(0, y).
    Returns (status, n_rhs, j, t_end); status GOING_ON when the run goes on."""
    _k.fill_nan(out_states)
    if not _k.check_args(y0, t_eval, t_max, rtol, atol, max_steps, method, fixed_dt,
                         settle_tol, out_states):
        return _k.INVALID, 0, 0, 0.0
    n = y0.shape[0]
    T = t_eval.shape[0]
    t_end = t_max
    if T > 0 and t_eval[T - 1] > t_end:
        t_end = t_eval[T - 1]
    _k.copy_into(y0, y)
    if not _k.all_finite(y):
        return _k.NONFIN, 0, 0, t_end
    j = 0
    while j < T and t_eval[j] <= 0.0:
        _k.copy_into(y, out_states[j])
        j += 1
    if n == 0 or t_end <= 0.0:
        _k.fill_rows(out_states, j, y)
        return _k.OK, 0, j, t_end
    rhs(0.0, y, p, f0)
    if not _k.all_finite(f0):
        return _k.NONFIN, 1, j, t_end
    if settle_tol > 0.0 and _k.max_abs(f0) < settle_tol:
        _k.fill_rows(out_states, j, y)
        return _k.SETTLED, 1, j, t_end
    return GOING_ON, 1, j, t_end


@kernel(nogil=True)
def explicit(rhs, y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, settle_tol,
             out_states, y, f, J):
    """The adaptive methods up to the switch to Radau IIA (DOPRI5, auto; radau5 stops at
    once). y, f (n,) and J (n, n) receive the state, its derivative and the Jacobian (when
    computed) at the stop. Returns (status, n_steps, n_rhs, t, h, j, have_jac); status
    STIFF hands over to Radau."""
    n = y0.shape[0]
    T = t_eval.shape[0]
    A = _k.TAB_A[0]
    B = _k.TAB_B[0]
    C = _k.TAB_C[0]
    E = _k.TAB_E[0]
    s = _k.TAB_STAGES[0]
    K = np.empty((s, n))
    status, n_rhs, j, t_end = begin(rhs, y0, p, t_eval, t_max, rtol, atol, max_steps, method,
                                    1.0, settle_tol, out_states, y, K[0])
    t = 0.0
    h = 0.0
    if status != GOING_ON:
        return status, 0, n_rhs, t if status != _k.OK else t_end, h, j, False
    ynew = np.empty(n)
    ytmp = np.empty(n)
    err = np.empty(n)
    n_steps = 0

    status = _k.OK
    stiff = False
    have_jac = False
    # first step: given, or HINIT for the order of the method's estimate
    hmax = t_end - t
    if h0 > 0.0:
        h = min(h0, hmax)
    else:
        order = RADAU_ORDER if method == 4 else _k.ORDER_ADAPTIVE
        h = initial_step(rhs, t, y, K[0], p, rtol, atol, order, hmax, ytmp, err)
        n_rhs += 1
    if method == 4:
        # ---------------- Radau IIA from the start ----------------
        stiff = True
    else:
        # ---------------- adaptive DOPRI5 (method 5: until it is held by stiffness) ----
        err_prev = _k.ERR_PREV0
        rejected_last = False
        nonfinite_last = False
        since_check = 0
        h_at_check = 0.0
        while t < t_end:
            if n_steps >= max_steps:
                status = _k.MAX_STEPS
                break
            last = False
            if t + 1.01 * h >= t_end:
                h = t_end - t
                last = True
            if not (h > _k.UNDERFLOW * abs(t)) or h < 1e-300:
                status = _k.NONFIN if nonfinite_last else _k.UNDER
                break
            n_steps += 1
            stages(rhs, t, y, h, p, A, C, s, K, ytmp)
            n_rhs += s - 1
            _k.combine(y, K, B, h, s, ynew)
            _k.error_estimate(K, E, h, s, err)
            errn = _k.error_norm(err, y, ynew, rtol, atol)
            if not np.isfinite(errn):
                # non-finite trial: reject and shrink (a blow-up ends in underflow,
                # reported as NON_FINITE)
                nonfinite_last = True
                rejected_last = True
                h *= _k.FAC_MIN
                continue
            nonfinite_last = False
            if errn <= 1.0:
                fac = _k.pi_factor(errn, err_prev)
                if rejected_last:
                    fac = min(fac, 1.0)
                t_new = t_end if last else t + h
                while j < T and t_eval[j] <= t_new:
                    if t_eval[j] == t_new:
                        _k.copy_into(ynew, out_states[j])
                    else:
                        _k.dense_dopri5(y, ynew, K, h, (t_eval[j] - t) / h, out_states[j])
                    j += 1
                _k.copy_into(ynew, y)
                _k.copy_into(K[s - 1], K[0])      # DOPRI5 is FSAL
                t = t_new
                err_prev = max(errn, _k.ERR_PREV0)
                rejected_last = False
                if settle_tol > 0.0 and _k.max_abs(K[0]) < settle_tol:
                    status = _k.SETTLED
                    break
                if method == 5 and not last:
                    since_check += 1
                    if since_check >= _k.STIFF_CHECK_EVERY:
                        since_check = 0
                        if h <= _k.STIFF_GROWTH * h_at_check:
                            _radau.jacobian(rhs, t, y, K[0], p, J, ytmp, err)
                            n_rhs += n
                            have_jac = True
                            if h * _k.spectral_radius(J) > _k.STIFF_HRHO:
                                stiff = True
                        h_at_check = h
                h = h * fac
                if stiff:
                    break
            else:
                rejected_last = True
                h = h * max(_k.FAC_MIN, _k.SAFETY * errn ** (-1.0 / _k.ORDER_ADAPTIVE))

    if stiff and status == _k.OK and t < t_end:
        _k.copy_into(K[0], f)
        return STIFF, n_steps, n_rhs, t, h, j, have_jac
    if status == _k.SETTLED:
        _k.fill_rows(out_states, j, y)
    return status, n_steps, n_rhs, t, h, j, have_jac


@kernel(nogil=True)
def fixed_step(rhs, y0, p, t_eval, t_max, max_steps, method, fixed_dt, settle_tol,
               out_states):
    """The fixed-step methods 1–3 (RK4, Euler, DOPRI5 without error control). Returns
    (status, n_steps, n_rhs, t)."""
    n = y0.shape[0]
    T = t_eval.shape[0]
    A = _k.TAB_A[method]
    B = _k.TAB_B[method]
    C = _k.TAB_C[method]
    s = _k.TAB_STAGES[method]
    fsal = _k.TAB_FSAL[method] == 1
    y = np.empty(n)
    K = np.empty((s, n))
    status, n_rhs, j, t_end = begin(rhs, y0, p, t_eval, t_max, 1.0, 1.0, max_steps, method,
                                    fixed_dt, settle_tol, out_states, y, K[0])
    t = 0.0
    if status != GOING_ON:
        return status, 0, n_rhs, t if status != _k.OK else t_end
    ynew = np.empty(n)
    ytmp = np.empty(n)
    n_steps = 0
    status = _k.OK
    h = fixed_dt
    while t < t_end:
        if n_steps >= max_steps:
            status = _k.MAX_STEPS
            break
        target = t_eval[j] if j < T else t_end
        if target - t <= h * (1.0 + _k.SNAP):
            hs = target - t
            t_new = target
        else:
            hs = h
            t_new = t + h
        n_steps += 1
        stages(rhs, t, y, hs, p, A, C, s, K, ytmp)
        n_rhs += s - 1
        _k.combine(y, K, B, hs, s, ynew)
        if fsal:
            _k.copy_into(K[s - 1], K[0])
        else:
            rhs(t_new, ynew, p, K[0])
            n_rhs += 1
        if not (_k.all_finite(ynew) and _k.all_finite(K[0])):
            status = _k.NONFIN
            t = t_new
            break
        _k.copy_into(ynew, y)
        t = t_new
        while j < T and t_eval[j] <= t:
            _k.copy_into(y, out_states[j])
            j += 1
        if settle_tol > 0.0 and _k.max_abs(K[0]) < settle_tol:
            status = _k.SETTLED
            break
    if status == _k.SETTLED:
        _k.fill_rows(out_states, j, y)
    return status, n_steps, n_rhs, t


class RhsPointer(types.WrapperAddressProtocol):
    """`rhs` as a value of RHS_TYPE whose address is looked up once (numba's wrapper
    address protocol): passing the dispatcher itself would look its address up, through
    its compile results and LLVM, at every call (about 160 µs)."""

    def __init__(self, rhs):
        from numba.experimental.function_type import _get_wrapper_address

        self.rhs = rhs
        rhs.compile(RHS_TYPE.signature.args)
        self.address = _get_wrapper_address(rhs, RHS_TYPE.signature)

    def __wrapper_address__(self):
        return self.address

    def signature(self):
        return RHS_TYPE.signature


@typeof_impl.register(RhsPointer)
def _typeof_pointer(val, c):
    return RHS_TYPE


def compiled_once(dispatcher, signature):
    """`dispatcher` compiled (or loaded from the disk cache) for `signature` only: a
    right-hand side passed to it is converted to RHS_TYPE instead of specialising it."""
    with _COMPILE_LOCK:
        if not dispatcher.signatures:
            dispatcher.compile(signature)
            dispatcher.disable_compile()
    return dispatcher


def _input(a):
    """A float64, C-contiguous, writeable view of `a` (a copy only where it is not one),
    as the compiled signatures ask."""
    if (type(a) is np.ndarray and a.dtype == np.float64 and a.flags.c_contiguous
            and a.flags.writeable):
        return a
    return np.require(a, np.float64, ("C", "W"))


SOLVER_KERNELS = {"explicit": (explicit, EXPLICIT_SIGNATURE),
                  "radau": (_radau.run, RADAU_SIGNATURE)}
"""The model-free kernels that flowsim.integrate.prefetch compiles in other processes, by
the names it knows them by."""


def prefetch_solvers(expect_stiff: bool = False):
    """Start compiling, in other processes, the solver kernels that neither this process
    nor the disk cache holds (flowsim.integrate.prefetch); Radau IIA's process yields the
    CPU unless `expect_stiff`. A caller that knows it will integrate (a sweep) calls this
    before its own imports and setup, so that the solvers compile during them; a Solver
    calls it too."""
    missing = [name for name, (dispatcher, sig) in SOLVER_KERNELS.items()
               if not dispatcher.signatures and not on_disk(dispatcher, sig)]
    if missing:
        prefetch.start(missing, yielding=() if expect_stiff else prefetch.YIELDING)


def _solver_kernel(name):
    """The solver kernel `name`, once the process compiling it (if any) has written it."""
    dispatcher, sig = SOLVER_KERNELS[name]
    if not dispatcher.signatures and prefetch.compiling(name):
        with compiled_elsewhere():
            prefetch.wait(name)
    return compiled_once(dispatcher, sig)


class Solver:
    """The solver of one rhs: the shared explicit kernel, and the shared Radau IIA
    continuation compiled on first use. Calling it has the signature of the module
    docstring's `solve`. On a cold cache the solver kernels are compiled by other
    processes while this one compiles the rhs (flowsim.integrate.prefetch)."""

    def __init__(self, rhs):
        self.rhs = rhs
        prefetch_solvers()
        self.pointer = RhsPointer(rhs)
        self.explicit = _solver_kernel("explicit")

    @property
    def radau(self):
        """The Radau IIA continuation (compiled on first use)."""
        return _solver_kernel("radau")

    @property
    def fixed_step(self):
        """The fixed-step methods (compiled on first use)."""
        return compiled_once(fixed_step, FIXED_SIGNATURE)

    def __call__(self, y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
                 settle_tol, out_states):
        y0, p, t_eval = _input(y0), _input(p), _input(t_eval)
        if method in FIXED_METHODS:
            status, n_steps, n_rhs, t = self.fixed_step(self.pointer, y0, p, t_eval, t_max,
                                                        max_steps, method, fixed_dt,
                                                        settle_tol, out_states)
            return int(status), int(n_steps), int(n_rhs), float(t)
        n = y0.shape[0]
        y = np.empty(n)
        f = np.empty(n)
        J = np.empty((n, n))
        status, n_steps, n_rhs, t, h, j, have_jac = self.explicit(
            self.pointer, y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, settle_tol,
            out_states, y, f, J)
        if status == STIFF:
            t_end = max(t_max, t_eval[-1]) if t_eval.shape[0] else t_max
            status, t, n_steps, nr, j = self.radau(self.pointer, t, y, f, h, J, have_jac,
                                                   t_end, p, t_eval, j, rtol, atol, max_steps,
                                                   n_steps, settle_tol, out_states)
            n_rhs += nr
            if status == _k.SETTLED:
                out_states[j:] = y
        return int(status), int(n_steps), int(n_rhs), float(t)


def make_solver(rhs) -> Solver:
    """The solver for `rhs` (one per rhs, reused; every rhs runs on the same compiled kernels).

    solve(y0, p, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
          settle_tol, out_states) -> (status, n_steps, n_rhs, t_final)

    y0 (n,), p (np,), t_eval (T,) sorted, ≥ 0: float64 C-contiguous; out_states (T, n)
    float64, overwritten. method: the codes of flowsim.integrate.methods (0 dopri5,
    1 rk4, 2 euler, 3 dopri5_fixed, 4 radau5, 5 auto); h0 ≤ 0 picks the first adaptive
    step automatically; fixed_dt is the step of methods 1–3; settle_tol > 0 enables early
    stopping at rest.
    """
    _check_rhs(rhs)
    solver = _SOLVERS.get(rhs)
    if solver is None:
        solver = Solver(rhs)
        _SOLVERS[rhs] = solver
    return solver


def make_batch_solver(rhs):
    """The batch solver for `rhs`: the points of a batch on numba's number of threads
    (numba.get_num_threads()), each point with its own adaptive loop, so the result of a
    point never depends on the batch or the threads.

    solve_batch(Y0 (P, n), Pmat (P, np), t_eval, t_max, rtol, atol, h0, max_steps,
                method, fixed_dt, settle_tol, out (P, T, n), status (P,) int64,
                n_steps (P,) int64, n_rhs (P,) int64) -> None

    Mismatched shapes set every status to INVALID.
    """
    _check_rhs(rhs)
    batch = _BATCH_SOLVERS.get(rhs)
    if batch is not None:
        return batch
    solve = make_solver(rhs)

    def solve_batch(Y0, Pmat, t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
                    settle_tol, out, status, n_steps, n_rhs):
        P = Y0.shape[0]
        ok = (Pmat.shape[0] == P and out.shape[0] == P and out.shape[1] == t_eval.shape[0]
              and out.shape[2] == Y0.shape[1] and status.shape[0] == P
              and n_steps.shape[0] == P and n_rhs.shape[0] == P)
        if not ok:
            status[:] = _k.INVALID
            return

        def one(i):
            status[i], n_steps[i], n_rhs[i], _ = solve(
                Y0[i], Pmat[i], t_eval, t_max, rtol, atol, h0, max_steps, method, fixed_dt,
                settle_tol, out[i])

        threads = min(numba.get_num_threads(), P)
        if threads <= 1:
            for i in range(P):
                one(i)
            return
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(P)))

    _BATCH_SOLVERS[rhs] = solve_batch
    return solve_batch

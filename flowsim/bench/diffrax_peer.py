"""The peer a user would pick for batched ODEs: diffrax (JAX), `jax.vmap` of Dopri5.

The same flow as the sweep benchmark (flowsim.bench.sweep_throughput): the Gaussian
two-mode reverse-KL overlap ODE with trainable weights and fixed variance, written in
jax.numpy from the formulas of flowsim.families.gaussian.two_mode (R1)-(R3), (G1), with
the same 1-D rules (the Gauss–Hermite and tail nodes of the packed parameter vector),
float64, Dopri5 with a PI controller of the same exponents (β1 = 0.7/5, β2 = 0.4/5),
the same rtol/atol, initial step by Hairer's rule, output at the same saved times.
`jax.jit(jax.vmap(solve))` is compiled ahead of time, then timed warm.

Needs the optional extra `bench` (jax, diffrax); `available()` is False without it.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..families.gaussian.quadrature import ALPHA_SWITCH
from ..families.gaussian import two_mode as two
from . import sweep_throughput as sw


def available() -> bool:
    try:
        import diffrax  # noqa: F401
        import jax  # noqa: F401
    except Exception:
        return False
    return True


def make_vector_field(p0):
    """f(t, y, args) in jax.numpy; args = d (per point); Λ, ρ, τ and the nodes from p0."""
    import jax.numpy as jnp

    Lam, rho, tau = float(p0[two.LAM]), float(p0[two.RHO]), float(p0[two.TAU])
    off = two.QOFF
    n_gh, n_t = int(p0[off]), int(p0[off + 1])
    o = off + 2
    gx = jnp.asarray(p0[o:o + n_gh])
    gw = jnp.asarray(p0[o + n_gh:o + 2 * n_gh])
    tt = jnp.asarray(p0[o + 2 * n_gh:o + 2 * n_gh + n_t])
    tw = jnp.asarray(p0[o + 2 * n_gh + n_t:o + 2 * n_gh + 2 * n_t])
    et = jnp.exp(-tt)
    it = 1.0 / (1.0 + et)
    tw_s, tw_p = tw * et * it, tw * jnp.log1p(et)
    lr = math.log((1.0 - rho) / rho)
    inv_sqrt2pi = 1.0 / math.sqrt(2.0 * math.pi)

    def sp(beta, alpha):
        """(S, P) = E[sgm, softplus](β + α ξ) for β, α of shape (n,)."""
        a = jnp.abs(alpha)
        t = beta[:, None] + a[:, None] * gx[None, :]
        e = jnp.exp(-jnp.abs(t))
        inv = 1.0 / (1.0 + e)
        S_gh = jnp.where(t >= 0.0, inv, e * inv) @ gw
        P_gh = (jnp.maximum(t, 0.0) + jnp.log1p(e)) @ gw
        big = a >= ALPHA_SWITCH
        asafe = jnp.where(big, a, 1.0)
        z = beta / asafe
        Phi = 0.5 * jax_erfc(-z / math.sqrt(2.0))
        phi = inv_sqrt2pi * jnp.exp(-0.5 * z * z)
        c = inv_sqrt2pi / asafe
        zp = (tt[None, :] - beta[:, None]) / asafe[:, None]
        zm = (tt[None, :] + beta[:, None]) / asafe[:, None]
        gp = c[:, None] * jnp.exp(-0.5 * zp * zp)
        gm = c[:, None] * jnp.exp(-0.5 * zm * zm)
        S_t = Phi + (gm - gp) @ tw_s
        P_t = beta * Phi + asafe * phi + (gp + gm) @ tw_p
        return jnp.where(big, S_t, S_gh), jnp.where(big, P_t, P_gh)

    from jax.scipy.special import erfc as jax_erfc

    def f(t, y, d):
        m = y[0:2]
        q11, q12, q22 = y[2], y[3], y[4]
        th = y[5:7]
        v = jnp.exp(y[7])
        lw = th - jnp.logaddexp(th[0], th[1])
        w = jnp.exp(lw)
        D = jnp.maximum(q11 + q22 - 2.0 * q12, 0.0)
        h = lr + (m - 0.5 * Lam) / tau
        ak = th[::-1] - th - 0.5 * D / v
        beta = jnp.concatenate([h, ak])
        ah = jnp.sqrt(v * Lam) / tau
        aa = jnp.sqrt(D / v)
        alpha = jnp.stack([ah, ah, aa, aa])
        S, P = sp(beta, alpha)
        gamma, Sa = S[:2], S[2:]
        c = 0.5 * (w[0] * Sa[0] + w[1] * Sa[1])
        a = w * gamma / tau
        b11 = -w[0] / tau + c / v
        b22 = -w[1] / tau + c / v
        b12 = -c / v
        dm1 = a[0] * Lam + b11 * m[0] + b12 * m[1]
        dm2 = a[1] * Lam + b12 * m[0] + b22 * m[1]
        d11 = a[0] * m[0] + b11 * q11 + b12 * q12
        d12 = a[0] * m[1] + b11 * q12 + b12 * q22
        d21 = a[1] * m[0] + b12 * q11 + b22 * q12
        d22 = a[1] * m[1] + b12 * q12 + b22 * q22
        F = (0.5 * d * (v / tau - 1.0 - jnp.log(v / tau)) + jnp.stack([q11, q22]) / (2.0 * tau)
             + lw + P[2:] - math.log(rho) - P[:2])
        dth = -w[0] * w[1] * (F[0] - F[1])
        return jnp.stack([dm1, dm2, 2.0 * d11, d12 + d21, 2.0 * d22, dth, -dth, 0.0 * v])

    return f


def make_batch(p0, t_eval, rtol, atol, max_steps=200_000):
    import diffrax
    import jax
    import jax.numpy as jnp

    f = make_vector_field(p0)
    term = diffrax.ODETerm(f)
    solver = diffrax.Dopri5()
    eo = float(solver.error_order(term))
    # our PI controller: fac = 0.9 err^(-0.7/5) err_prev^(0.4/5), fac in [0.2, 10]
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.08 * eo, icoeff=0.06 * eo,
                                 factormin=0.2, factormax=10.0, safety=0.9)
    ts = jnp.asarray(t_eval)
    t1 = float(t_eval[-1])

    def one(y0, d):
        sol = diffrax.diffeqsolve(term, solver, t0=0.0, t1=t1, dt0=None, y0=y0, args=d,
                                  saveat=diffrax.SaveAt(ts=ts), stepsize_controller=ctrl,
                                  max_steps=max_steps, throw=False)
        return sol.ys[-1], sol.result._value, sol.stats["num_steps"]

    return jax.jit(jax.vmap(one))


def run(n_points=10_000, y_ref=None) -> dict:
    """Warm seconds and points/s of the vmapped diffrax solve; max |Δ| of final states vs numba."""
    if not available():
        return {"available": False}
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    Y0, Pm, dims = sw.sweep_points(n_points)
    t_eval = sw.log_times(sw.T_MAX)
    batch = make_batch(Pm[0], t_eval, sw.RTOL, sw.ATOL)
    y0 = jnp.asarray(Y0)
    dd = jnp.asarray(dims.astype(np.float64))
    t0 = time.perf_counter()
    compiled = batch.lower(y0, dd).compile()
    compile_s = time.perf_counter() - t0
    c0 = time.process_time()
    t0 = time.perf_counter()
    yT, result, steps = compiled(y0, dd)
    yT.block_until_ready()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    yT = np.asarray(yT)
    return {
        "available": True,
        "jax": jax.__version__,
        "seconds": seconds,
        "cpu_s": cpu,
        "compile_s": compile_s,
        "points_per_s": n_points / seconds,
        "ok": int(np.sum(np.asarray(result) == 0)),
        "max_steps": int(np.max(np.asarray(steps))),
        "mean_steps": float(np.mean(np.asarray(steps))),
        "max_abs_diff_vs_numba": (None if y_ref is None
                                  else float(np.nanmax(np.abs(yT - y_ref)))),
    }

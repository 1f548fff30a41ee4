"""Gradient flows of f-divergences D_f(p ‖ q) = E_q[f(p/q)] on the circle (FD1, FD2).

Symbols as in mixture_kl.py: nodes θ_n = −π + 2πn/N, h = 2π/N; a_kn = log w_k +
log VM(θ_n; μ_k, κ_k); log q_n = logsumexp_k a_kn; log p_n the target log density
(precomputed in p); r_kn = exp(a_kn − log q_n); ℓ_n = log p_n − log q_n, u_n = e^ℓ_n.
A generator (flowsim.divergences.Generator) gives f(u, a) and f′(u, a); a is the
generator's parameter, read from the header slot p[3] (0 for generators without one).

    L = h Σ_n q_n f(u_n)                                       (FD1, periodic trapezoid rule)
    ∂L/∂φ = h Σ_n (∂q_n/∂φ) g(u_n) = h Σ_n c_n Σ_k r_kn ∂a_kn/∂φ,
            g(u) = f(u) − u f′(u),   c_n = q_n g(u_n)

with ∂a_kn/∂μ_k = κ_k sin(θ_n − μ_k), ∂a_kn/∂s_k = κ_k (cos(θ_n − μ_k) − A(κ_k)) and
∂a_kn/∂z_j = δ_kj − w_j. This is the exact derivative of the discrete sum (node by node);
the kernels evaluate it after the centring below, which changes it only by the aliasing
error of the trapezoid rule.

Numerics (FD2). u is never formed where it could overflow: where ℓ_n ≤ 0 the node uses
the q-form q_n f(u_n), c_n = q_n g(u_n); where ℓ_n > 0 the p-form p_n φ(ℓ_n),
c_n = p_n ψ(ℓ_n), with φ = f(u)/u and ψ = g(u)/u = φ − f′(u) (the same numbers, written
around the larger density, so neither underflowing q nor overflowing u reaches them).
Beyond |ℓ| = LOG_U_EDGE = 600 the generator is not evaluated: f(e^ℓ) (below) and φ(ℓ)
(above) continue linearly in ℓ from the edge, with the chord slope over the last 100 in
ℓ (a tangent from f′ would carry the rounding of f − u f′, ~1e-13, times |ℓ| − 600 into
the value); value and gradient stay each other's exact derivative. This is exact for
f = α + β u + γ log u + δ u log u (the KLs) and exact to e^−500 for every generator whose
f and f(u)/u tend to finite limits (JS, Hellinger, α ∈ (0, 1) away from 1; near α = 1
the error is of order (1 − α)(|ℓ| − 600)², as large as the α → 1 limit error itself);
for generators that grow faster (χ², α > 1 or α < 0) the contributions there exceed
10^200 p_n (or q_n) anyway.
Where a generator overflows (χ² beyond u ≈ 1e154) or returns NaN, the value is +inf,
never NaN, and the rhs is NaN (the integrator stops with status non_finite).

Per-component centring (FD1): Σ_n q_kn ∂a_kn/∂μ_k and Σ_n q_kn ∂a_kn/∂s_k are the
derivatives of component k's trapezoid mass, zero up to the aliasing error
≈ 2 I_N(κ_k)/I_0(κ_k) (< 1e-100 at the default node count), and Σ_n ∂q_n/∂z_j is the
derivative of the total mass, also zero. So g may be replaced by g − R_k (R = Σ w_k R_k
for the logits), R_k = g at the node nearest μ_k, without changing the gradient beyond
that aliasing error; it removes the rounding floor (~1e-14) that Σ_n q_kn g(u_n) ∂a_kn
leaves where g is nearly constant over q_k (saturated JS: u ≈ 0 on q's support), so
saturated gradients far below it are resolved (6e-255 for JS between κ = 2000 peaks half
a circle apart, tests/test_circle_divergences.py; 5e-80 … 4e-10 in studies/js_saturation.py).

The node loop uses the unscaled form of mixture_kl.py (e_kn = exp(κ_k(cos(θ_n − μ_k) − 1))
with simd exp), and falls back to per-node logsumexp where some q_n < Q_TINY.

`fdivergence_kernels(generator)` builds (rhs, value) for any generator: closures made by
`flowsim.numerics.jit.kernel(identity="vonmises.fdiv.<name>")` that capture the
generator's f and f′ dispatchers (whose code identity enters the cache key), kept in a
module-level dict so one generator is compiled once per process.
`register_fdivergence(name, generator, description, parameters=...)` registers the flow.
The named objectives below register the factory's closures; they are disk-cached under
the closures' identity (flowsim.numerics.jit.rhs_identity).

Registered here:

    js             2 JS(p, q) − 2 log 2 = E_q[u log u − (1+u) log(1+u)]: the minimax (saturating)
                   GAN generator loss with the optimal discriminator D* = p/(p+q) (FD3);
                   g(u) = −log(1+u) = log(1 − D*), so the flow is the generator's
                   E_q[log(1 − D)] with D held at D* (the envelope theorem: re-optimising D
                   gives the same gradient, since ∂V/∂D = 0 at D*)
    nonsaturating  KL(q ‖ p) − 2 JS(p, q) = E_q[(1+u) log((1+u)/(2u))]: its gradient is that
                   of the −log D generator loss E_q[−log D] with D = p/(p+q) held fixed
                   (g(u) = −log D + 1 − log 2; FD4); not the gradient of E_q[log((p+q)/p)]
                   with D re-optimised
    chi2           Pearson χ²(p ‖ q) = E_q[(u − 1)²]
    hellinger      H²(p, q) = E_q[½(√u − 1)²] = 1 − ∫√(pq)
    alpha          Amari's α-divergence, parameter `alpha` ∉ {0, 1} (α → 0: KL(q‖p), α → 1:
                   KL(p‖q)); default 0.5 (= 4 H²)
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ....divergences import Generator, generator as named_generator
from ....numerics.jit import kernel
from ....numerics.simd_math import REASSOC, exp_simd, log_simd
from ....numerics.special import bessel_ratio, i0e, logsumexp
from ....problem import FlowModel
from ....registry import Missing, Objective, Parameter, register_objective
from ..params import grid_slices, sizes
from .. import reference

__all__ = ["fdivergence_kernels", "register_fdivergence", "FDivergenceObjective",
           "MINIMAX_GAN", "NONSATURATING_GAN", "LOG_U_EDGE"]

LOG_U_EDGE = 600.0
EDGE_CHORD = 100.0
Q_TINY = 1e-280
LOG_2PI = math.log(2.0 * math.pi)
IDENTITY_PREFIX = "vonmises.fdiv."
_KERNELS: dict = {}


MINIMAX_GAN = named_generator("minimax_gan")
NONSATURATING_GAN = named_generator("nonsaturating_gan")


# ------------------------------------------------------------------ the kernel factory

def fdivergence_kernels(gen: Generator):
    """(rhs, value) numba kernels of L = h Σ_n q_n f(p_n/q_n) for the generator `gen` (FD1, FD2),
    compiled once per process (module-level dict) and disk-cached under the identity
    "vonmises.fdiv.<name>"; the key also holds the code identity of gen.f and gen.fprime."""
    key = (gen.name, gen.f, gen.fprime)
    if key in _KERNELS:
        return _KERNELS[key]
    if any(name == gen.name for name, _, _ in _KERNELS):
        # the identity names the closure's symbols: two closures under one name would share them
        raise ValueError(f"generator: another generator named {gen.name!r} already has kernels "
                         "in this process; give this one another name")
    f, fp = gen.f, gen.fprime
    identity = IDENTITY_PREFIX + gen.name
    edge = LOG_U_EDGE
    chord = EDGE_CHORD

    @kernel(identity=identity, fastmath=REASSOC, error_model="numpy")
    def fdiv_loss(y, p, out):
        k, _, trainable, a, n = sizes(p)
        cos_t, sin_t, log_p = grid_slices(p)
        z = y[:k]
        kap = np.exp(y[2 * k:3 * k])
        log_w = z - logsumexp(z)
        w = np.exp(log_w)
        cm = np.cos(y[k:2 * k])
        sm = np.sin(y[k:2 * k])
        h = 2.0 * np.pi / n
        log_norm = np.empty(k)                       # log W_k = log w_k − log(2π i0e(κ_k))
        norm_w = np.empty(k)
        for i in range(k):
            log_norm[i] = log_w[i] - LOG_2PI - np.log(i0e(kap[i]))
            norm_w[i] = np.exp(log_norm[i])
        # r[i, t]: first e_kn = exp(κ(cos − 1)), then the responsibilities r_kn
        r = np.empty((k, n))
        q = np.zeros(n)
        for i in range(k):
            ki = kap[i]
            ri = r[i]
            for t in range(n):
                x = exp_simd(ki * (cos_t[t] * cm[i] + sin_t[t] * sm[i] - 1.0))
                ri[t] = x
                q[t] += norm_w[i] * x
        qmin = np.inf
        for t in range(n):
            qmin = min(qmin, q[t])
        lq = np.empty(n)
        if qmin >= Q_TINY:
            for t in range(n):
                lq[t] = log_simd(q[t])
            for i in range(k):
                ri = r[i]
                for t in range(n):
                    ri[t] = norm_w[i] * ri[t] / q[t]
        else:                                        # per-node logsumexp (q_n may underflow)
            col = np.empty(k)
            for t in range(n):
                amax = -np.inf
                for i in range(k):
                    col[i] = log_norm[i] + kap[i] * (cos_t[t] * cm[i] + sin_t[t] * sm[i] - 1.0)
                    amax = max(amax, col[i])
                s = 0.0
                for i in range(k):
                    col[i] = np.exp(col[i] - amax)
                    s += col[i]
                lq[t] = amax + np.log(s)
                q[t] = np.exp(lq[t])
                for i in range(k):
                    r[i, t] = col[i] / s
        # the generator at the two edges |ℓ| = LOG_U_EDGE, continued linearly beyond with the
        # chord slope over the last EDGE_CHORD in ℓ (not f′ at the edge: the chord's rounding
        # error is EDGE_CHORD times smaller, and it is exact where the continuation is)
        f_lo = f(np.exp(-edge), a)
        d_lo = (f(np.exp(chord - edge), a) - f_lo) / chord        # d f(e^ℓ)/dℓ below
        u_hi = np.exp(edge)
        phi_hi = f(u_hi, a) / u_hi
        u_in = np.exp(edge - chord)
        psi_hi = (f(u_in, a) / u_in - phi_hi) / chord             # −dφ/dℓ above
        c = np.empty(n)
        value = 0.0
        for t in range(n):
            ell = log_p[t] - lq[t]
            if ell <= 0.0:
                if ell >= -edge:
                    u = np.exp(ell)
                    fv = f(u, a)
                    gv = fv - u * fp(u, a)
                else:
                    fv = f_lo + d_lo * (ell + edge)
                    gv = fv - d_lo
                value += q[t] * fv
                c[t] = q[t] * gv
            else:
                pt = np.exp(log_p[t])
                if ell <= edge:
                    u = np.exp(ell)
                    phi = f(u, a) / u
                    psi = phi - fp(u, a)
                else:
                    phi = phi_hi - psi_hi * (ell - edge)
                    psi = psi_hi
                value += pt * phi
                c[t] = pt * psi
        if not math.isfinite(value):
            for i in range(3 * k):
                out[i] = np.nan
            return np.inf
        # centring constants R_k = g at the node nearest μ_k (module docstring)
        ref = np.zeros(k)
        ref_all = 0.0
        for i in range(k):
            j = int(math.floor((y[k + i] + np.pi) / h + 0.5)) % n
            if q[j] > 0.0:
                gj = c[j] / q[j]
                if math.isfinite(gj):
                    ref[i] = gj
            ref_all += w[i] * ref[i]
        total = 0.0
        for t in range(n):
            total += c[t] - ref_all * q[t]
        for i in range(k):
            ri = r[i]
            ci = cm[i]
            si = sm[i]
            s_sin = 0.0
            s_cos = 0.0
            s_x = 0.0
            s_m = 0.0
            for t in range(n):
                x = ri[t] * (c[t] - ref[i] * q[t])
                s_sin += x * (sin_t[t] * ci - cos_t[t] * si)
                s_cos += x * (cos_t[t] * ci + sin_t[t] * si)
                s_x += x
                s_m += ri[t] * q[t]
            out[k + i] = -h * kap[i] * s_sin
            out[2 * k + i] = -h * kap[i] * (s_cos - bessel_ratio(kap[i]) * s_x)
            if trainable:
                out[i] = -h * (s_x + (ref[i] - ref_all) * s_m - w[i] * total)
            else:
                out[i] = 0.0
        return h * value

    @kernel(identity=identity)
    def rhs(t, y, p, out):
        fdiv_loss(y, p, out)

    @kernel(identity=identity)
    def value(y, p):
        return fdiv_loss(y, p, np.empty(y.size))

    _KERNELS[key] = (rhs, value)
    return rhs, value


# ------------------------------------------------------------------ registration

@dataclass(frozen=True)
class FDivergenceObjective(Objective):
    """An Objective whose generator parameter (`header`, if any) is packed into the header
    slot p[3] that the kernels read.

    Stopgap: the circle builder (flowsim/families/vonmises/family.py) packs only
    `regularization` into p[3], so `options` also returns the parameter under that name;
    once the builder packs the objective's declared slot, this override goes."""

    header: str | None = None

    def options(self, given) -> dict:
        own = super().options(given)
        if self.header is not None:
            own["regularization"] = own[self.header]
        return own


def real_parameter(gen: Generator):
    """A Parameter check for the generator's parameter: a real number, then gen's domain."""
    def check(name, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name}: must be a real number, got {value!r}")
        value = float(value)
        if gen.check_parameter is not None:
            return float(gen.check_parameter(name, value))
        if not math.isfinite(value):
            raise ValueError(f"{name}: must be finite, got {value!r}")
        return value
    return check


def register_fdivergence(name: str, gen: Generator, description: str, parameters=None, *,
                         reference_rhs=None, torch_loss=None, check=None,
                         replace=False):
    """Register the circle flow of D_f(p ‖ q) for the generator `gen` (a
    flowsim.divergences.Generator, from `make_generator`) as objective `name`.

    parameters   {option name: Parameter}, at most one: the generator's parameter a
                 (packed into p[3]); None for a generator without one
    reference_rhs  numpy reference f(t, y, p) [a generic one built from gen's f and f′]
    torch_loss   "module:function" [Missing: user generators have none unless given]
    check        flowsim.check section [Missing unless a torch loss is given: "circle"]
    """
    if not isinstance(gen, Generator):
        raise ValueError(f"generator: expected a flowsim.divergences.Generator (make_generator), "
                         f"got {type(gen).__name__}")
    parameters = dict(parameters or {})
    if len(parameters) > 1:
        raise ValueError(f"parameters: an f-divergence has at most one parameter, got "
                         f"{', '.join(parameters)}")
    for pname, par in parameters.items():
        if not isinstance(par, Parameter):
            raise ValueError(f"parameters: {pname!r} must be a flowsim.registry.Parameter")
        if pname == "regularization":
            raise ValueError("parameters: 'regularization' is the matched losses' option; "
                             "name the generator's parameter otherwise")
    rhs, value = fdivergence_kernels(gen)
    if reference_rhs is None:
        reference_rhs = reference.fdivergence_generic(gen.f.py_func, gen.fprime.py_func)
    if torch_loss is None:
        torch_loss = Missing("no torch loss was given for this generator")
    if check is None:
        check = "circle" if torch_loss else Missing("no torch loss to train")
    return register_objective(FDivergenceObjective(
        family="vonmises", name=name, description=description,
        models={"circle": FlowModel(f"{IDENTITY_PREFIX}{gen.name}", rhs, value)},
        reference={"circle": reference_rhs}, torch_loss=torch_loss, check=check,
        parameters=parameters, header=next(iter(parameters), None)), replace=replace)


_ALPHA = named_generator("alpha")
ALPHA = Parameter(0.5, real_parameter(_ALPHA),
                  "Amari's alpha (real, not 0 or 1): alpha -> 0 is KL(q||p), alpha -> 1 is KL(p||q)")

TORCH = "flowsim.families.vonmises.torch_losses"
for _name, _gen, _doc, _params in (
        ("js", MINIMAX_GAN,
         "2 JS(p, q) - 2 log 2: minimax GAN generator, optimal discriminator (trapezoid rule)", None),
        ("nonsaturating", NONSATURATING_GAN,
         "KL(q||p) - 2 JS(p, q): gradient of the -log D generator loss with D = p/(p+q) fixed", None),
        ("chi2", named_generator("chi2"), "Pearson chi^2(p||q) = E_q[(p/q - 1)^2] (trapezoid rule)",
         None),
        ("hellinger", named_generator("hellinger"), "squared Hellinger H^2(p, q) = 1 - int sqrt(pq)",
         None),
        ("alpha", _ALPHA, "Amari alpha-divergence (int p^a q^(1-a) - 1)/(a(a-1)), parameter alpha",
         {"alpha": ALPHA})):
    register_fdivergence(_name, _gen, _doc, _params, reference_rhs=getattr(reference, _name),
                         torch_loss=f"{TORCH}:{_name}", check="circle")

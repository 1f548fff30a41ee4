"""Von Mises mixtures on the circle: the value type, densities, sampling, KLs.

Symbols (docs/derivations.md, V1):

    VM(θ; μ, κ) = exp(κ cos(θ − μ)) / (2π I0(κ))       von Mises density
    A(κ) = I1(κ)/I0(κ),   A'(κ) = 1 − A/κ − A²          mean resultant length
    Δ = μ_p − μ_q                                      mean difference

Closed-form KL between two von Mises densities (V1), in the
cancellation-free form used everywhere in flowsim:

    KL(VM(μ_p,κ_p) ‖ VM(μ_q,κ_q))
      = log(i0e(κ_q)/i0e(κ_p)) + (κ_q − κ_p)(1 − A(κ_p)) + 2 κ_q A(κ_p) sin²(Δ/2)

Mixture KLs have no closed form; they are computed by the N-point periodic
trapezoid rule in log space (K1), spectrally accurate, with N chosen from
the largest concentration.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ...numerics.special import bessel_ratio, bessel_ratio_prime, i0e, log_i0, one_minus_bessel_ratio
from ...validation import as_finite_array, check_positive_array, check_simplex
from ...numerics.jit import kernel

LOG_2PI = math.log(2.0 * math.pi)
KAPPA_MAX = 1e6


def wrap_angle(theta):
    """Angles wrapped to (−π, π]."""
    theta = np.asarray(theta, dtype=float)
    wrapped = np.mod(theta + np.pi, 2.0 * np.pi) - np.pi
    return np.where(wrapped == -np.pi, np.pi, wrapped)


class VonMisesMixture:
    """Mixture Σ_k w_k VM(μ_k, κ_k); arrays of length K, scalars broadcast, weights default uniform."""

    def __init__(self, mu, kappa, weights=None):
        mu = as_finite_array("mu", mu)
        kappa = check_positive_array("kappa", kappa)
        if mu.ndim > 1 or kappa.ndim > 1:
            raise ValueError(f"mu/kappa: expected scalars or 1-d arrays, got shapes {mu.shape}, {kappa.shape}")
        if mu.size == 0 or kappa.size == 0:
            raise ValueError("mu: need at least one component (K >= 1)")
        if np.any(kappa > KAPPA_MAX):
            raise ValueError(f"kappa: must be <= {KAPPA_MAX:g} (the trapezoid rule resolves peaks "
                             f"of width 1/sqrt(kappa) with at most 2^16 nodes), got {kappa.max():g}")
        if np.any(np.abs(mu) > 2.0 * np.pi):
            warnings.warn(f"mu: angles beyond 2π ({np.abs(mu).max():g}) look like degrees; "
                          "convert them with np.radians", UserWarning, stacklevel=2)
        size = max(mu.size, kappa.size, 0 if weights is None else np.size(weights))
        try:
            mu, kappa = (np.broadcast_to(a, (size,)).astype(float) for a in (mu, kappa))
        except ValueError:
            raise ValueError(f"kappa: length {kappa.size} does not match mu length {mu.size}") from None
        weights = np.full(size, 1.0 / size) if weights is None else check_simplex("weights", weights, size)
        self.mu = wrap_angle(mu)
        self.kappa = kappa
        self.weights = np.asarray(weights, dtype=float)

    @property
    def n_components(self) -> int:
        return self.mu.size

    def __repr__(self) -> str:
        return (f"VonMisesMixture(mu={np.round(self.mu, 6).tolist()}, "
                f"kappa={np.round(self.kappa, 6).tolist()}, weights={np.round(self.weights, 6).tolist()})")

    def component_log_pdf(self, theta):
        """log VM(θ; μ_k, κ_k), shape theta.shape + (K,): κ(cos(θ−μ) − 1) − log(2π i0e(κ))."""
        theta = np.asarray(theta, dtype=float)[..., None]
        return self.kappa * (np.cos(theta - self.mu) - 1.0) - LOG_2PI - np.log(i0e(self.kappa))

    def log_pdf(self, theta):
        """log Σ_k w_k VM(θ; μ_k, κ_k), by log-sum-exp."""
        a = self.component_log_pdf(theta) + np.log(self.weights)
        amax = np.max(a, axis=-1, keepdims=True)
        return (amax + np.log(np.sum(np.exp(a - amax), axis=-1, keepdims=True)))[..., 0]

    def pdf(self, theta):
        return np.exp(self.log_pdf(theta))

    def sample(self, n: int, seed=None) -> np.ndarray:
        """n angles in (−π, π]: a component by its weight, then numpy's von Mises sampler."""
        rng = np.random.default_rng(seed)
        k = rng.choice(self.n_components, size=n, p=self.weights)
        return wrap_angle(rng.vonmises(self.mu[k], self.kappa[k]))


def kl(mu_p, kappa_p, mu_q, kappa_q):
    """KL(VM(μ_p,κ_p) ‖ VM(μ_q,κ_q)), numpy broadcasting, cancellation-free form (module doc)."""
    kappa_p = check_positive_array("kappa_p", kappa_p)
    kappa_q = check_positive_array("kappa_q", kappa_q)
    delta = as_finite_array("mu_p", mu_p) - as_finite_array("mu_q", mu_q)
    value = _kl_stable(delta, kappa_p, kappa_q)
    return np.maximum(value, 0.0)


def _kl_stable(delta, kappa_p, kappa_q):
    s = np.sin(0.5 * delta)
    return (np.log(i0e(kappa_q) / i0e(kappa_p)) + (kappa_q - kappa_p) * one_minus_bessel_ratio(kappa_p)
            + 2.0 * kappa_q * bessel_ratio(kappa_p) * s * s)


_kl_delta = kernel(_kl_stable)


@kernel
def kl_scalar(mu_p, kappa_p, mu_q, kappa_q):
    """The closed-form KL of the module doc, for use inside kernels."""
    return _kl_delta(mu_p - mu_q, kappa_p, kappa_q)


def kl_gradient(mu_p, kappa_p, mu_q, kappa_q):
    """The four partial derivatives of KL(VM_p ‖ VM_q) (V1), Δ = μ_p − μ_q:

        ∂/∂μ_p =  A(κ_p) κ_q sin Δ           ∂/∂μ_q = −A(κ_p) κ_q sin Δ
        ∂/∂κ_p =  A'(κ_p)(κ_p − κ_q cos Δ)   ∂/∂κ_q =  A(κ_q) − A(κ_p) cos Δ

    Returns (d_mu_p, d_kappa_p, d_mu_q, d_kappa_q), broadcast together.
    """
    kappa_p = check_positive_array("kappa_p", kappa_p)
    kappa_q = check_positive_array("kappa_q", kappa_q)
    delta = as_finite_array("mu_p", mu_p) - as_finite_array("mu_q", mu_q)
    a_p = bessel_ratio(kappa_p)
    d_mu_p = a_p * kappa_q * np.sin(delta)
    s = np.sin(0.5 * delta)
    d_kappa_p = bessel_ratio_prime(kappa_p) * ((kappa_p - kappa_q) + 2.0 * kappa_q * s * s)
    d_kappa_q = bessel_ratio(kappa_q) - a_p * np.cos(delta)
    return np.broadcast_arrays(d_mu_p, d_kappa_p, -d_mu_p, d_kappa_q)


def quadrature_size(kappa_max: float, floor: int = 256, cap: int = 2**16) -> int:
    """Nodes of the periodic trapezoid rule for mixtures with concentrations up to κ_max.

    One von Mises term aliases with error 2 I_N(κ)/I0(κ) ≈ 2 exp(−N²/(2κ)) (notes
    §5.1), so N ≳ 32 √κ. A mixture KL needs more: log q switches between components
    over angles ~1/κ, which caps the analyticity strip and makes the error decay like
    exp(−c N/κ); 1e-11 needed N ≈ 8κ at κ ≤ 50 and N ≈ 4.4κ at κ = 1000 in our runs
    (tests/test_vonmises.py). Hence N = max(floor, 32√κ, min(10κ, cap)), rounded up to 32.
    """
    n = max(floor, math.ceil(32.0 * math.sqrt(kappa_max)), min(math.ceil(10.0 * kappa_max), cap))
    return int(32 * math.ceil(n / 32))


def circle_grid(n: int) -> np.ndarray:
    """The N equispaced nodes θ_n = −π + 2π n/N of the periodic trapezoid rule."""
    return -np.pi + 2.0 * np.pi * np.arange(n) / n


def mixture_kl(p: VonMisesMixture, q: VonMisesMixture, n: int | None = None,
               tol: float = 1e-12, max_nodes: int = 2**21) -> float:
    """KL(p ‖ q) = ∫ p log(p/q) dθ by the N-point periodic trapezoid rule in log space.

    With `n` given, that rule alone. Otherwise N starts at quadrature_size(κ_max) and
    doubles until two successive rules agree to `tol` (relative to max(1, |KL|)):
    where q is tiny under p, log q switches between components over angles ~1/κ and
    the aliasing error then decays like exp(−c N/κ) rather than exp(−N²/2κ).
    """
    if n is not None:
        return _trapezoid_kl(p, q, int(n))
    n = quadrature_size(max(p.kappa.max(), q.kappa.max()))
    value = _trapezoid_kl(p, q, n)
    while n < max_nodes:
        n *= 2
        finer = _trapezoid_kl(p, q, n)
        if abs(finer - value) <= tol * max(1.0, abs(finer)):
            return finer
        value = finer
    return value


def _trapezoid_kl(p: VonMisesMixture, q: VonMisesMixture, n: int) -> float:
    theta = circle_grid(n)
    lp, lq = p.log_pdf(theta), q.log_pdf(theta)
    return float(max((2.0 * np.pi / n) * np.sum(np.exp(lp) * (lp - lq)), 0.0))


__all__ = ["VonMisesMixture", "kl", "kl_gradient", "kl_scalar", "mixture_kl", "wrap_angle",
           "quadrature_size", "circle_grid", "log_i0", "bessel_ratio"]

"""f-divergences as data: a generator f and its derivative f′, shared by every family.

    D_f(p ‖ q) = E_q[ f(p/q) ],   f convex, f(1) = 0.

The gradient flow of D_f needs, besides f, only

    g(u) = f(u) − u f′(u),    since  ∂/∂φ ∫ q f(p/q) = ∫ (∂q/∂φ) g(p/q)

(docs/derivations.md, FD1), so a family's kernels evaluate f and g at the nodes of their
quadrature, with u = exp(log p − log q) formed in log space. Each generator is a pair of
numba kernels taking (u, a) with one real parameter a (the α of the α-family, unused
elsewhere); `Generator` bundles them with the parameter's domain.

Named generators (α follows Amari: α → 0 gives KL(q‖p), α → 1 gives KL(p‖q), α = 2 gives
½ χ²(p‖q), α = ½ gives 4 H²(p, q)):

    name           f(u)                                        D_f
    reverse_kl     −log u                                      KL(q ‖ p)
    forward_kl     u log u                                     KL(p ‖ q)
    js             ½ [u log u − (1 + u) log((1 + u)/2)]        JS(p, q)
    chi2           (u − 1)²                                    χ²(p ‖ q) = ∫ p²/q − 1
    hellinger      ½ (√u − 1)²                                 H²(p, q) = 1 − ∫ √(p q)
    alpha          (u^α − α u − (1 − α)) / (α (α − 1))         (∫ p^α q^(1−α) − 1)/(α(α − 1))
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from .numerics.jit import kernel
from .registry import Registry

__all__ = ["Generator", "GENERATORS", "generator", "make_generator"]


@dataclass(frozen=True)
class Generator:
    """An f-divergence generator: f(u, a), its derivative fprime(u, a) (numba kernels), and
    the domain of its parameter a (`check_parameter(name, a)` raises ValueError naming it)."""

    name: str
    f: Callable
    fprime: Callable
    description: str
    check_parameter: Callable | None = None


GENERATORS = Registry("f-divergence generator", "generator")


def make_generator(name, f, fprime, description="", check_parameter=None) -> Generator:
    """A Generator from numba kernels f(u, a) and fprime(u, a); ValueError naming the field
    when either is missing or not a compiled kernel."""
    from numba.core.dispatcher import Dispatcher

    for field_name, fn in (("f", f), ("fprime", fprime)):
        if fn is None:
            raise ValueError(f"{field_name}: an f-divergence needs both f and its derivative f′")
        if not isinstance(fn, Dispatcher):
            raise ValueError(f"{field_name}: must be a numba kernel fn(u, a), got {type(fn).__name__}")
    return Generator(name, f, fprime, description, check_parameter)


def generator(name) -> Generator:
    return GENERATORS.get(name)


@kernel
def _reverse_kl_f(u, a):
    return -math.log(u)


@kernel
def _reverse_kl_fp(u, a):
    return -1.0 / u


@kernel
def _forward_kl_f(u, a):
    return u * math.log(u) if u > 0.0 else 0.0


@kernel
def _forward_kl_fp(u, a):
    return math.log(u) + 1.0


@kernel
def _js_f(u, a):
    ulogu = u * math.log(u) if u > 0.0 else 0.0
    return 0.5 * (ulogu - (1.0 + u) * math.log(0.5 * (1.0 + u)))


@kernel
def _js_fp(u, a):
    return 0.5 * (math.log(u) - math.log(0.5 * (1.0 + u)))


@kernel
def _chi2_f(u, a):
    return (u - 1.0) ** 2


@kernel
def _chi2_fp(u, a):
    return 2.0 * (u - 1.0)


@kernel
def _hellinger_f(u, a):
    return 0.5 * (math.sqrt(u) - 1.0) ** 2


@kernel
def _hellinger_fp(u, a):
    return 0.5 * (1.0 - 1.0 / math.sqrt(u))


@kernel
def _alpha_f(u, a):
    """(u^α − 1 − α (u − 1)) / (α (α − 1)) with u^α − 1 = expm1(α log u): accurate as α → 0, 1."""
    return (math.expm1(a * math.log(u)) - a * (u - 1.0)) / (a * (a - 1.0))


@kernel
def _alpha_fp(u, a):
    return math.expm1((a - 1.0) * math.log(u)) / (a - 1.0)


@kernel
def _minimax_gan_f(u, a):
    """u log u − (1 + u) log(1 + u) = 2 f_JS(u) − (1 + u) log 2, written without
    cancellation on either side of 1 (FD3)."""
    if u > 1.0:
        return -u * math.log1p(1.0 / u) - math.log1p(u)
    ulogu = u * math.log(u) if u > 0.0 else 0.0
    return ulogu - (1.0 + u) * math.log1p(u)


@kernel
def _minimax_gan_fp(u, a):
    """log(u/(1 + u)) = log D*."""
    return -math.log1p(1.0 / u)


@kernel
def _nonsaturating_gan_f(u, a):
    """(1 + u) log((1 + u)/(2u)) = f_reverse_kl(u) − 2 f_JS(u) (FD4)."""
    return (1.0 + u) * (math.log1p(1.0 / u) - math.log(2.0))


@kernel
def _nonsaturating_gan_fp(u, a):
    return math.log1p(1.0 / u) - math.log(2.0) - 1.0 / u



def _check_alpha(name, a):
    a = float(a)
    if not math.isfinite(a) or a in (0.0, 1.0):
        raise ValueError(f"{name}: must be finite and not 0 or 1 (use reverse_kl / forward_kl "
                         f"for those limits), got {a!r}")
    return a


for _g in (make_generator("reverse_kl", _reverse_kl_f, _reverse_kl_fp, "KL(q ‖ p)"),
           make_generator("forward_kl", _forward_kl_f, _forward_kl_fp, "KL(p ‖ q)"),
           make_generator("js", _js_f, _js_fp, "Jensen–Shannon JS(p, q)"),
           make_generator("chi2", _chi2_f, _chi2_fp, "Pearson χ²(p ‖ q)"),
           make_generator("hellinger", _hellinger_f, _hellinger_fp, "squared Hellinger H²(p, q)"),
           make_generator("alpha", _alpha_f, _alpha_fp, "Amari α-divergence", _check_alpha),
           make_generator("minimax_gan", _minimax_gan_f, _minimax_gan_fp,
                          "2 JS(p, q) - 2 log 2: the minimax GAN value at the optimal D"),
           make_generator("nonsaturating_gan", _nonsaturating_gan_f, _nonsaturating_gan_fp,
                          "KL(q || p) - 2 JS(p, q): the -log D generator loss, D fixed")):
    GENERATORS.register(_g.name, _g)

"""The f-divergence flows of isotropic Gaussian mixtures (docs/derivations.md FG1, FG2).

Each objective is D_f(p ‖ q) = E_q[f(p/q)] for one generator (flowsim.divergences, or the
two GAN generators of flowsim.families.gaussian.fdivergence), reduced exactly to the span
of the means (`span` kernels only: reduction "auto" picks span for them):

    js             2 JS(p, q) − 2 log 2, the minimax GAN generator with the optimal discriminator
    nonsaturating  KL(q ‖ p) − 2 JS(p, q), whose gradient is the −log D generator's with
                   D = p/(p + q) held fixed
    chi2           Pearson χ²(p ‖ q) = ∫ p²/q − 1 (+inf where v ≤ τ/2)
    hellinger      H²(p, q) = 1 − ∫ √(p q)
    alpha          Amari's α-divergence (∫ p^α q^(1−α) − 1)/(α(α − 1)), parameter `alpha`
                   (real, not 0 or 1; default 0.5): α → 0 is KL(q ‖ p) (reverse_kl),
                   α → 1 is KL(p ‖ q) (forward_kl), α = 2 is χ²/2

The α parameter reaches the kernels through the head slot p[HPARAM] of the span layout,
where flowsim/families/gaussian/family.py writes it.
"""
from __future__ import annotations

import numbers

from ....divergences import generator as named_generator
from ....problem import FlowModel
from ....registry import Objective, Parameter, register_objective
from .. import reference
from ..fdivergence import DEFAULT_ALPHA, DEFAULT_N_CUBATURE, KERNELS, MAX_RANK

__all__ = ["check_alpha", "OBJECTIVES"]

TORCH = "flowsim.families.gaussian.torch_losses"
OBJECTIVES = {
    "js": "2 JS(p, q) - 2 log 2 of the mixtures in R^d: minimax GAN generator, optimal discriminator",
    "nonsaturating": "KL(q||p) - 2 JS(p, q): gradient of the -log D generator loss, D = p/(p+q) fixed",
    "chi2": "Pearson chi^2(p||q) = int p^2/q - 1 of the mixtures in R^d (+inf where v <= tau/2)",
    "hellinger": "squared Hellinger H^2(p, q) = 1 - int sqrt(p q) of the mixtures in R^d",
    "alpha": "Amari alpha-divergence (int p^a q^(1-a) - 1)/(a(a-1)), parameter alpha "
             "(alpha -> 0: KL(q||p), alpha -> 1: KL(p||q))",
}
def check_alpha(name, value) -> float:
    """α as a float: a real number, finite, not 0 or 1 (flowsim.divergences' domain)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: must be a real number, got {value!r}")
    return float(named_generator("alpha").check_parameter(name, float(value)))


ALPHA = Parameter(DEFAULT_ALPHA, check_alpha,
                  "Amari's alpha (real, not 0 or 1): alpha -> 0 is KL(q||p), alpha -> 1 is KL(p||q), "
                  "alpha = 2 is chi^2/2")


def check_span_rank(target, init) -> None:
    """The tensor rule runs over r = min(d, K + M − 1) ≤ MAX_RANK span dimensions."""
    K, M, d = init.n_components, target.n_components, target.dim
    r = min(d, K + M - 1)
    if r > MAX_RANK:
        raise ValueError(f"init: the f-divergence flows integrate over the span of the means "
                         f"(dimension r = min(d, K + M - 1) = {r}) by a tensor rule that needs "
                         f"r <= {MAX_RANK}; got K = {K}, M = {M}, d = {d}")


for _name, _doc in OBJECTIVES.items():
    _rhs, _value = KERNELS[_name]
    register_objective(Objective(
        family="gaussian", name=_name, description=_doc,
        models={"span": FlowModel(f"gaussian.span.{_name}", _rhs, _value)},
        reference={"span": getattr(reference, f"span_{_name}")},
        torch_loss=f"{TORCH}:{_name}",
        check="divergences",
        parameters={"alpha": ALPHA} if _name == "alpha" else {},
        check_inputs=check_span_rank,
        family_defaults={"n_cubature": DEFAULT_N_CUBATURE}))


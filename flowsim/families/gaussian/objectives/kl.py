"""KL(q‖p) and KL(p‖q) of isotropic Gaussian mixtures, reduced exactly (docs/derivations.md).

Two reductions, each with its own kernels: `two_mode` (K = M = 2, the closed overlap ODE
R1-R4, F1-F5) and `span` (any K, M: the coordinates of the means in the span of the
means, S1-S3).
"""
from __future__ import annotations

from ....problem import FlowModel
from ....registry import Objective, register_objective
from .. import reference, span, two_mode

for _name, _doc in (("reverse_kl", "KL(q||p) of the mixtures in R^d (mode seeking)"),
                    ("forward_kl", "KL(p||q) of the mixtures in R^d (mass covering)")):
    register_objective(Objective(
        family="gaussian", name=_name, description=_doc,
        models={"two_mode": FlowModel(f"gaussian.two_mode.{_name}",
                                      getattr(two_mode, f"rhs_{_name}"), getattr(two_mode, _name)),
                "span": FlowModel(f"gaussian.span.{_name}",
                                  getattr(span, f"rhs_{_name}"), getattr(span, _name))},
        reference={"two_mode": getattr(reference, f"two_mode_{_name}"),
                   "span": getattr(reference, f"span_{_name}")},
        torch_loss=f"flowsim.families.gaussian.torch_losses:{_name}",
        check="gauss",
        # B1: the annealed reverse KL (its value kernel is the plain KL(q||p), beta = 1);
        # the `full` reduction derives from the span kernels
        annealed={"two_mode": FlowModel("gaussian.two_mode.reverse_kl.annealed",
                                        two_mode.rhs_reverse_kl_annealed, two_mode.reverse_kl),
                  "span": FlowModel("gaussian.span.reverse_kl.annealed",
                                    span.rhs_reverse_kl_annealed, span.reverse_kl)}
        if _name == "reverse_kl" else {}))

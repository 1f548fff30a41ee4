"""The isotropic Gaussian-mixture family in R^d, reduced exactly to the span of the means.

    mixture.py      GaussianMixture, random_means, pair_target
    quadrature.py   the 1-D logistic-normal expectations S, P, V and their rules
    two_mode.py     K = M = 2: the closed overlap ODE (kernels)
    span.py         any K, M: coordinates in the span of the means (kernels)
    objectives/     one module per group of objectives; each registers itself
    family.py       build(), observables, state naming (the Family object)
    inputs.py       the study-file target and init kinds
    reference.py    numpy reference right-hand sides (overlap ODE, full-space gradient)
    torch_losses.py Monte Carlo estimates of the objectives in torch
"""
from .. import FAMILIES, load_objectives
from .family import FAMILY

FAMILIES.register(FAMILY.name, FAMILY)
load_objectives(f"{__name__}.objectives")

"""The von Mises family: mixtures on the circle, flows by the periodic trapezoid rule.

    mixture.py      VonMisesMixture, the closed-form KL, mixture KLs by quadrature
    params.py       the packed state and parameter layout of every circle flow
    matching.py     exact minimum-cost matching (numba) for the matched losses
    objectives/     one module per group of objectives; each registers itself
    family.py       build(), observables, state naming (the Family object)
    inputs.py       the study-file target and init kinds
    reference.py    numpy reference right-hand sides
    torch_losses.py the objectives in torch
"""
from .. import FAMILIES, load_objectives
from .family import FAMILY

FAMILIES.register(FAMILY.name, FAMILY)
load_objectives(f"{__name__}.objectives")

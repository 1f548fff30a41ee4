"""Families of mixtures: each owns one folder, registers itself and its objectives.

A family (`vonmises`: the circle; `gaussian`: isotropic mixtures in R^d) provides

    mixture                     the mixture class (target and variational family)
    build(target, init, *, objective, weights, **options) -> Problem
    state_variables(problem, states) -> {name: (dims, array)}     dims start with "time"
    observe(problem, time, states) -> flowsim.diagnostics.Observables
    distribution(problem, y) -> the variational mixture at state y (user coordinates)
    inputs                      the study-file sections it accepts (flowsim.sweep.inputs)
    bench_problem(objective)    a representative Problem for `python -m flowsim.bench`

Families are imported on first use (`load_all`), so `import flowsim` stays light; each
family's package registers its objectives by importing every module of its
`objectives/` folder.
"""
from __future__ import annotations

import importlib
import pkgutil

from ..registry import Registry

FAMILIES = Registry("family", "family")
FAMILY_MODULES = ("vonmises", "gaussian")
_loaded = [False]


def load_all() -> None:
    """Import every family package (registering the families and their objectives)."""
    if _loaded[0]:
        return
    _loaded[0] = True
    for name in FAMILY_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def load_objectives(package: str) -> None:
    """Import every module of `package` (a family's objectives folder)."""
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{package}.{info.name}")


def family(name, field_name: str = "family"):
    load_all()
    return FAMILIES.get(name, field_name)


def family_of(target, field_name: str = "target"):
    """The family whose mixture class `target` is an instance of."""
    load_all()
    for fam in FAMILIES.values():
        if isinstance(target, fam.mixture):
            return fam
    kinds = " or ".join(f.mixture.__name__ for f in FAMILIES.values())
    raise ValueError(f"{field_name}: expected a {kinds}, got {type(target).__name__}")


def names() -> tuple:
    load_all()
    return FAMILIES.names()

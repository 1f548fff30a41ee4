"""Isotropic Gaussian mixtures and their quadrature, at the import path of earlier releases.

The family now lives in flowsim.families.gaussian; this module re-exports its public names.
"""
from .families.gaussian.mixture import *  # noqa: F401,F403
from .families.gaussian.quadrature import *  # noqa: F401,F403
from .families.gaussian.mixture import __all__ as _mixture_all
from .families.gaussian.quadrature import __all__ as _quadrature_all

__all__ = list(_mixture_all) + list(_quadrature_all)

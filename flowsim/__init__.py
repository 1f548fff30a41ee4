"""flowsim: low-dimensional gradient flows of mixture variational inference and their collapse.

Public entry points: `simulate`, `VonMisesMixture`, `GaussianMixture`, and the
modules `flowsim.vonmises`, `flowsim.gaussian`, `flowsim.diagnostics`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flowsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"


def __getattr__(name):
    if name == "simulate":
        from .simulation import simulate
        return simulate
    if name == "VonMisesMixture":
        from .vonmises import VonMisesMixture
        return VonMisesMixture
    if name == "GaussianMixture":
        from .gaussian import GaussianMixture
        return GaussianMixture
    raise AttributeError(f"module 'flowsim' has no attribute {name!r}")


__all__ = ["simulate", "VonMisesMixture", "GaussianMixture", "__version__"]

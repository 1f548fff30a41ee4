"""flowsim: low-dimensional gradient flows of mixture variational inference and their collapse.

Public entry points: `simulate`, `build_problem`, `log_times`, `VonMisesMixture`,
`GaussianMixture`, and the modules `flowsim.vonmises`, `flowsim.gaussian`,
`flowsim.diagnostics`, `flowsim.registry`.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flowsim")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"


def __getattr__(name):
    if name in ("simulate", "build_problem"):
        from . import api
        return getattr(api, name)
    if name == "log_times":
        from .times import log_times
        return log_times
    if name == "VonMisesMixture":
        from .families.vonmises.mixture import VonMisesMixture
        return VonMisesMixture
    if name == "GaussianMixture":
        from .families.gaussian.mixture import GaussianMixture
        return GaussianMixture
    raise AttributeError(f"module 'flowsim' has no attribute {name!r}")


__all__ = ["simulate", "build_problem", "log_times", "VonMisesMixture", "GaussianMixture",
           "__version__"]

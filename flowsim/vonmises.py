"""The von Mises mixture and its closed forms, at the import path of earlier releases.

The family now lives in flowsim.families.vonmises; this module re-exports its public names.
"""
from .families.vonmises.mixture import *  # noqa: F401,F403
from .families.vonmises.mixture import __all__  # noqa: F401

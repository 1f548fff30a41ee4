"""`simulate` and `build_problem` at the import path of earlier releases (now flowsim.api)."""
from .api import *  # noqa: F401,F403
from .api import __all__  # noqa: F401

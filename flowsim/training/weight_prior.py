"""The regularised weight mode's penalty for torch training (docs/derivations.md, P1)."""
from __future__ import annotations

import math


def kl_from_uniform(log_w):
    """KL(u‖w) = −(1/K) Σ_k log w_k − log K per row of log weights (..., K); the trainings
    add weight_prior times it to their loss (flowsim.weight_modes)."""
    return -log_w.mean(-1) - math.log(log_w.shape[-1])

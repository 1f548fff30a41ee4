"""Study-file inputs of a family: the kinds of `[target]` and `[init]` tables it accepts.

Each kind declares its fields, the required ones, the fields whose length sets the
number of components (which cannot be swept whole), how to count the components without
building anything, and how to build the mixture. Builders are pure functions of the
fields and the point's seed: random draws come from numpy generators seeded by
(seed, stream), never from global state, so a point gives the same numbers in any chunk,
on any executor, before or after a resume.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

TARGET_STREAM = 1
INIT_STREAM = 2


@dataclass(frozen=True)
class InputKind:
    """One kind of [target] or [init] table.

    fields      the allowed fields besides `kind`
    required    the fields that must be given
    size        fields -> the number of components (K of init, M of target)
    build       target: (fields, seed) -> mixture; init: (fields, seed, target, target_fields)
    size_fields fields whose length is the number of components
    """

    fields: frozenset
    required: tuple
    size: Callable
    build: Callable
    size_fields: frozenset = frozenset()


@dataclass(frozen=True)
class FamilyInputs:
    target: dict
    init: dict


def rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def weights_of(section: str, spec, size: int):
    """The weights field as an array of `size` entries (None: the mixture's default)."""
    if spec is None:
        return None
    arr = np.asarray(spec, dtype=float)
    if arr.ndim != 1 or arr.size != size:
        raise ValueError(f"{section}.weights: expected {size} weights, got {spec!r}")
    return arr

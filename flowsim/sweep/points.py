"""From a study point to a `Problem`: the family's target and init kinds build the mixtures,
then the family builds the flow.

Every input of a point is a pure function of the study and the point's axis values
(including its `seed`): the kinds draw random means from generators seeded by
(seed, stream) (flowsim.families.inputs), so a point gives the same numbers in any
chunk, on any executor, before or after a resume.

Errors become `PointError`s whose `field` is the study-file field at fault: a failure
inside the target (init) builder is `target.<field>` (`init.<field>`); a failure of the
flow's build names an option (`options.<name>`), the objective (`study.objective`) or
the weights (`study.weights`).
"""
from __future__ import annotations

import numpy as np

from .errors import PointError

STUDY_FIELDS = ("objective", "weights")
ERRORS = (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError,
          FloatingPointError)


def _field_of(message: str) -> str:
    return message.split(":", 1)[0].strip() if ":" in message else ""


def _in_section(section: str, exc: Exception) -> PointError:
    message = str(exc) or type(exc).__name__
    head = _field_of(message)
    if not message.startswith(f"{section}."):
        message = f"{section}.{message}"
        head = f"{section}.{head}" if head else section
    return PointError(message, head or section)


def kinds(family: str):
    from ..families import family as lookup

    return lookup(family).inputs


def make_objects(cfg: dict):
    """(target, init) mixtures of one point's config; errors name target.* or init.* fields."""
    seed = int(cfg["study"]["seed"])
    inputs = kinds(cfg["study"]["family"])
    t, i = cfg["target"], cfg["init"]
    try:
        target = inputs.target[t["kind"]].build(t, seed)
    except ERRORS as exc:
        raise _in_section("target", exc) from None
    try:
        init = inputs.init[i["kind"]].build(i, seed, target, t)
    except ERRORS as exc:
        raise _in_section("init", exc) from None
    return target, init


def build_point(cfg: dict):
    """The Problem of one point, or PointError naming what is wrong with its inputs."""
    from ..api import build_problem

    target, init = make_objects(cfg)
    st = cfg["study"]
    options = dict(cfg["options"])
    geometry = dict(cfg.get("geometry") or {})
    if geometry:
        options["geometry"] = geometry.pop("name", "euclidean")
        options.update(geometry)
    if cfg.get("schedule"):
        options["schedule"] = dict(cfg["schedule"])
    try:
        problem = build_problem(target, init, objective=st["objective"], weights=st["weights"],
                                **options)
    except ERRORS as exc:
        message = str(exc) or type(exc).__name__
        head = _field_of(message)
        if head in geometry or head == "geometry":
            field = "geometry.name" if head == "geometry" else f"geometry.{head}"
        elif head in cfg["options"]:
            field = f"options.{head}"
        elif head in STUDY_FIELDS:
            field = f"study.{head}"
        elif head.split(".")[0] in ("target", "init", "schedule"):
            field = head
        else:
            field = None
        if field is not None and not message.startswith(field):
            message = f"{field}{message[len(head):]}"
        raise PointError(message, field) from None
    if not (np.all(np.isfinite(problem.y0)) and np.all(np.isfinite(problem.params))):
        raise PointError("non-finite value in the initial state or the packed parameters")
    return problem


def sizes(cfg: dict, target_kinds: dict, init_kinds: dict) -> tuple[int, int]:
    """(K components of q, M modes of p) from a config, without building anything."""
    t, i = cfg["target"], cfg["init"]
    return int(init_kinds[i["kind"]].size(i)), int(target_kinds[t["kind"]].size(t))

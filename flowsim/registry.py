"""The registries: every family, objective, geometry and schedule is declared once, here found.

A `Registry` maps names to declarations and raises `ValueError` naming the field for an
unknown name, listing the known ones; nothing falls back to another entry. The sweep
schema, the bench cases, the check rows, the numpy references and the parametrised tests
all read these tables, so a declaration is the only edit an addition needs.

An `Objective` declares, at once, everything a flow of that loss needs:

    family      the family it belongs to ("vonmises", "gaussian")
    name        its name in the API and in study files
    models      {reduction: FlowModel} — the numba kernels (rhs and value) per reduction
    reference   {reduction: numpy RHS (t, y, p) -> dy/dt}, an independent implementation
    torch_loss  "module:function" of its torch loss (imported on use), or `Missing(reason)`
    check       the `python -m flowsim.check` section that compares it with training,
                or `Missing(reason)`
    parameters  {name: Parameter} — its own options (for example the α of the α-family)
    check_inputs  (target, init) -> None, raising ValueError naming the field when the
                objective cannot take these mixtures (for example K > M for a bound)
    annealed    {reduction: FlowModel}: kernels of its annealed form under a temperature
                schedule (flowsim.schedule), or empty when it has none
    description one line
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Registry", "Objective", "Parameter", "Missing", "OBJECTIVES", "objective",
           "objectives", "register_objective", "resolve", "reference_for"]


class Registry:
    """Named declarations of one kind; `get` raises ValueError naming `field`."""

    def __init__(self, kind: str, field_name: str):
        self.kind = kind
        self.field = field_name
        self._items: dict = {}

    def register(self, name: str, item, *, replace: bool = False):
        if name in self._items and not replace:
            raise ValueError(f"{self.field}: {self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name, field_name: str | None = None):
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise ValueError(f"{field_name or self.field}: unknown {self.kind} {name!r}; "
                             f"known: {', '.join(self.names())}") from None

    def names(self) -> tuple:
        return tuple(self._items)

    def items(self):
        return tuple(self._items.items())

    def values(self):
        return tuple(self._items.values())

    def __contains__(self, name) -> bool:
        return name in self._items

    def __iter__(self):
        return iter(tuple(self._items))

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Missing:
    """An explicit absence (a torch loss or a check that does not exist), with the reason."""

    reason: str

    def __bool__(self) -> bool:
        return False


@dataclass(frozen=True)
class Parameter:
    """An objective's own option: default, and a check that raises ValueError naming it."""

    default: Any
    check: Callable[[str, Any], Any]
    description: str = ""


@dataclass(frozen=True)
class Objective:
    family: str
    name: str
    description: str
    models: Mapping[str, Any]
    reference: Mapping[str, Callable]
    torch_loss: Any
    check: Any
    parameters: Mapping[str, Parameter] = field(default_factory=dict)
    check_inputs: Callable | None = None
    annealed: Mapping[str, Any] = field(default_factory=dict)
    family_defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.family}.{self.name}"

    def model(self, reduction: str, kernels: Mapping | None = None):
        """Its FlowModel for `reduction` (from `kernels`, default its plain `models`)."""
        kernels = self.models if kernels is None else kernels
        try:
            return kernels[reduction]
        except KeyError:
            raise ValueError(f"reduction: objective {self.name!r} has no {reduction!r} kernels; "
                             f"it has {', '.join(kernels)}") from None

    def options(self, given: Mapping) -> dict:
        """This objective's parameters from `given` (defaults filled in, each checked)."""
        out = {}
        for name, par in self.parameters.items():
            out[name] = par.check(name, given[name]) if name in given else par.default
        return out

    def load_torch_loss(self) -> Callable:
        if not self.torch_loss:
            raise ValueError(f"objective: {self.name!r} has no torch loss ({self.torch_loss.reason})")
        return resolve(self.torch_loss)


def resolve(spec: str):
    """The object named by "package.module:attribute" (imported now)."""
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


OBJECTIVES = Registry("objective", "objective")


def register_objective(obj: Objective, *, replace: bool = False) -> Objective:
    return OBJECTIVES.register(obj.key, obj, replace=replace)


def objectives(family: str) -> tuple:
    """The objectives of `family`, in registration order."""
    _load_families()
    return tuple(o for o in OBJECTIVES.values() if o.family == family)


def objective(family: str, name, field_name: str = "objective") -> Objective:
    """The objective `name` of `family`; ValueError naming `field_name` if unknown."""
    _load_families()
    if not isinstance(name, str) or f"{family}.{name}" not in OBJECTIVES:
        known = ", ".join(o.name for o in objectives(family))
        raise ValueError(f"{field_name}: unknown objective {name!r} for the {family} family; "
                         f"known: {known}")
    return OBJECTIVES.get(f"{family}.{name}")


def reference_for(problem):
    """The numpy reference RHS f(t, y, p) of a built Problem's objective and reduction."""
    meta = problem.meta
    return objective(meta["family"], meta["objective"]).reference[meta["reduction"]]


def _load_families() -> None:
    from . import families

    families.load_all()

"""Study files: the TOML schema of `python -m flowsim.sweep`, parsed and validated.

A study is a plain dict with the sections below (docs/sweep.md documents every field).
Families, objectives, their target and init kinds, the methods and the diagnostics are
read from their registries, so this module names none of them.
Validation happens once, up front, and every problem raises `StudyError` (a
ValueError) whose message starts with the dotted name of the offending field, e.g.

    axes.init.m[0]: empty axis
    target.Lambda: must be a positive number, got -1

so the CLI can print exactly one line and exit 2. Nothing here builds a flow: the
per-point construction of target and initialisation lives in `flowsim.sweep.points`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..diagnostics import SCALAR_DIAGNOSTICS
from ..integrate.methods import ADAPTIVE_METHODS, METHOD_CODES
from ..weight_modes import WEIGHT_MODES
from .errors import PointError, StudyError
from .variables import RESERVED_NAMES

# Allowed keys per section (None = free-form table passed through to the builder).
STUDY_KEYS = {"name", "description", "family", "objective", "weights", "seed"}
SOLVER_DEFAULTS = {
    "t_max": None, "t_eval": None, "per_decade": None, "decades": None,
    "method": "auto", "rtol": 1e-8, "atol": 1e-10, "dt": 0.0, "h0": 0.0,
    "max_steps": 1_000_000, "settle_tol": 0.0,
}
OUTPUT_DEFAULTS = {"chunk_size": 64, "save_trajectory": False, "phase_diagram": "collapsed"}
TIME_GRID_FIELDS = {"t_max", "t_eval", "per_decade", "decades"}

SECTIONS = ("study", "target", "init", "options", "geometry", "schedule", "solver", "output",
            "axes")
SWEEPABLE = ("study", "target", "init", "options", "geometry", "schedule", "solver")

MAX_AXIS_VALUES = 1_000_000
MAX_POINTS = 10 ** 8
MAX_TIMES = 100_000
MAX_CHUNK_BYTES = 2 ** 30

_PATH_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


@dataclass
class Axis:
    """One swept field: `path` into the study, coordinate `values`, dimension `name`."""

    name: str
    path: tuple          # ((section, key), index-or-None)
    values: list

    @property
    def size(self) -> int:
        return len(self.values)


@dataclass
class Study:
    """A validated study: the parsed sections, the axes, and the file text."""

    config: dict
    axes: list
    text: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config["study"]["name"]

    @property
    def family(self) -> str:
        return self.config["study"]["family"]

    @property
    def shape(self) -> tuple:
        return tuple(a.size for a in self.axes)

    @property
    def n_points(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.axes else 1

    @property
    def solver(self) -> dict:
        return self.config["solver"]

    @property
    def output(self) -> dict:
        return self.config["output"]

    def describe(self, key: str) -> str:
        """The study's `key` ("objective", "weights"), or "swept (<axis>)" when an axis sweeps it."""
        swept = [a.name for a in self.axes if a.path == (("study", key), None)]
        return f"swept ({swept[0]})" if swept else self.config["study"][key]

    def digest(self) -> str:
        """Hash of everything that determines the numbers (for --resume checks)."""
        payload = {"config": self.config, "axes": [(a.name, a.path, a.values) for a in self.axes]}
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def point_config(self, values) -> dict:
        """The study's sections with each axis field set to this point's value."""
        cfg = copy.deepcopy(self.config)
        for axis, value in zip(self.axes, values):
            set_field(cfg, axis.path, value)
        return cfg


def _fail(name: str, message: str):
    raise StudyError(f"{name}: {message}")


def _number(name, value, *, positive=False, integer=False, nonneg=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(name, f"expected a number, got {value!r}")
    if not math.isfinite(value):
        _fail(name, f"must be finite, got {value!r}")
    if integer and int(value) != value:
        _fail(name, f"expected an integer, got {value!r}")
    if positive and value <= 0:
        _fail(name, f"must be a positive number, got {value!r}")
    if nonneg and value < 0:
        _fail(name, f"must be >= 0, got {value!r}")
    return int(value) if integer else value


def _choice(name, value, choices):
    if value not in choices:
        _fail(name, f"must be one of {tuple(choices)}, got {value!r}")
    return value


def _table(raw, name):
    value = raw.get(name, {})
    if not isinstance(value, dict):
        _fail(name, f"expected a table, got {type(value).__name__}")
    return dict(value)


def _check_keys(section: str, table: dict, allowed):
    for key in table:
        if key not in allowed:
            _fail(f"{section}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def parse_path(text: str):
    """'init.m[0]' -> (('init', 'm'), 0); 'seed' -> (('study', 'seed'), None)."""
    parts = text.split(".")
    if len(parts) == 1:
        parts = ["study", parts[0]]
    if len(parts) != 2 or parts[0] not in SWEEPABLE:
        raise StudyError(f"axes.{text}: unknown field (use section.field with section in "
                         f"{', '.join(SWEEPABLE)}, or 'seed')")
    match = _PATH_RE.match(parts[1])
    if match is None:
        raise StudyError(f"axes.{text}: malformed field name")
    index = None if match.group(2) is None else int(match.group(2))
    return (parts[0], match.group(1)), index


def get_field(cfg: dict, path):
    (section, key), index = path
    value = cfg[section].get(key)
    return value if index is None else value[index]


def set_field(cfg: dict, path, value):
    (section, key), index = path
    if index is None:
        cfg[section][key] = value
    else:
        seq = list(cfg[section][key])
        seq[index] = value
        cfg[section][key] = seq


def _axis_values(name: str, spec) -> tuple[list, str | None]:
    """Coordinate values of one axis spec: a list, or a table with values/linspace/logspace/range."""
    label = None
    if isinstance(spec, list):
        values = spec
    elif isinstance(spec, dict):
        spec = dict(spec)
        label = spec.pop("name", None)
        if label is not None and (not isinstance(label, str) or not label):
            _fail(f"{name}.name", f"expected a non-empty string, got {label!r}")
        kinds = [k for k in ("values", "linspace", "logspace", "range") if k in spec]
        unknown = set(spec) - {"values", "linspace", "logspace", "range"}
        if unknown:
            _fail(f"{name}.{sorted(unknown)[0]}", "unknown field (allowed: values, linspace, logspace, range, name)")
        if len(kinds) != 1:
            _fail(name, "give exactly one of values, linspace, logspace, range")
        kind = kinds[0]
        arg = spec[kind]
        if kind == "values":
            if not isinstance(arg, list):
                _fail(f"{name}.values", f"expected a list, got {arg!r}")
            values = arg
        elif kind == "range":
            n = _number(f"{name}.range", arg, integer=True, nonneg=True)
            _check_count(f"{name}.range", n)
            values = list(range(n))
        else:
            if not isinstance(arg, list) or len(arg) != 3:
                _fail(f"{name}.{kind}", f"expected [start, stop, num], got {arg!r}")
            start = _number(f"{name}.{kind}[0]", arg[0])
            stop = _number(f"{name}.{kind}[1]", arg[1])
            num = _number(f"{name}.{kind}[2]", arg[2], integer=True, nonneg=True)
            _check_count(f"{name}.{kind}[2]", num)
            fn = np.linspace if kind == "linspace" else np.logspace
            values = [float(v) for v in fn(start, stop, num)]
    else:
        _fail(name, f"expected a list or a table (values/linspace/logspace/range), got {spec!r}")
    if len(values) == 0:
        _fail(name, "empty axis")
    kinds = {type(v) for v in values}
    if kinds <= {int}:
        pass
    elif kinds <= {int, float}:
        values = [float(v) for v in values]  # nan/inf allowed: such points are recorded as invalid
    elif kinds == {str}:
        pass
    elif kinds == {bool}:
        pass
    else:
        _fail(name, "axis values must all be numbers or all be strings")
    if len({repr(v) for v in values}) != len(values):
        _fail(name, "axis values must be distinct")
    return list(values), label


def input_kinds(family: str, section: str) -> dict:
    """{kind: InputKind} of the family's [target] or [init] tables."""
    from ..families import family as lookup

    inputs = lookup(family).inputs
    return inputs.target if section == "target" else inputs.init


def _check_count(name: str, n: int) -> None:
    if n > MAX_AXIS_VALUES:
        _fail(name, f"{n:.4g} values would take {n * 8 / 2 ** 30:.3g} GB before anything runs; "
                    f"an axis has at most {MAX_AXIS_VALUES:,} values")


def _check_grid(study) -> None:
    """Refuse grids whose points or store would not fit, naming the largest axis."""
    n = study.n_points
    if n > MAX_POINTS:
        big = max(study.axes, key=lambda a: a.size)
        _fail(f"axes.{big.name}", f"the grid has {n:.4g} points; the limit is {MAX_POINTS:.4g}")
    from .grid import Grid
    from .variables import variable_shapes

    if study.output["save_trajectory"] and "n_state" not in study.extra:
        return      # the first point failed: its size is not known before the sweep probes one
    per_point = sum(np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64))
                    for _, shape, dtype, _ in variable_shapes(study).values())
    chunk = Grid(study.shape, study.output["chunk_size"]).block
    in_memory = per_point * int(np.prod(chunk, dtype=np.int64))
    if in_memory > MAX_CHUNK_BYTES:
        _fail("output.chunk_size", f"one chunk's results would take {in_memory / 2 ** 30:.3g} GB "
                                   f"in memory ({per_point:,} bytes per point); the limit is "
                                   f"{MAX_CHUNK_BYTES / 2 ** 30:.3g} GB: lower chunk_size or the "
                                   "saved times")


def _check_flow_sections(cfg: dict):
    """[geometry]: name and that geometry's parameters; [schedule]: kind, beta0, rate (the
    values are checked when the first point is built)."""
    from ..geometry import GEOMETRIES

    geo = cfg["geometry"]
    if geo:
        name = geo.setdefault("name", "euclidean")
        _choice("geometry.name", name, GEOMETRIES.names())
        known = {"name"} | {k for g in GEOMETRIES.values() for k in g.parameters}
        _check_keys("geometry", geo, known)
    if cfg["schedule"]:
        from ..schedule import FIELDS
        _check_keys("schedule", cfg["schedule"], FIELDS)


def _check_family_sections(cfg: dict):
    family = cfg["study"]["family"]
    for section in ("target", "init"):
        kinds = input_kinds(family, section)
        body = cfg[section]
        kind = body.setdefault("kind", "explicit")
        _choice(f"{section}.kind", kind, tuple(kinds))
        _check_keys(section, body, kinds[kind].fields | {"kind"})


def _check_solver(solver: dict):
    _check_keys("solver", solver, SOLVER_DEFAULTS)
    for key, default in SOLVER_DEFAULTS.items():
        solver.setdefault(key, default)
    if solver["t_max"] is None:
        _fail("solver.t_max", "required (final gradient-flow time)")
    _number("solver.t_max", solver["t_max"], positive=True)
    _choice("solver.method", solver["method"], tuple(METHOD_CODES))
    for key in ("rtol", "atol"):
        _number(f"solver.{key}", solver[key], positive=True)
    for key in ("dt", "h0", "settle_tol"):
        _number(f"solver.{key}", solver[key], nonneg=True)
    for key in ("max_steps", "per_decade", "decades"):
        if solver[key] is not None:
            _number(f"solver.{key}", solver[key], integer=True, positive=True)
    n_times = (solver["per_decade"] or 10) * (solver["decades"] or 6) + 2
    if n_times > MAX_TIMES:
        _fail("solver.per_decade", f"{n_times:.4g} saved times per point; the limit is {MAX_TIMES:,}")
    if solver["method"] not in ADAPTIVE_METHODS and solver["dt"] <= 0:
        _fail("solver.dt", f"required (> 0) for the fixed-step method {solver['method']!r}")
    if solver["t_eval"] is not None:
        t = solver["t_eval"]
        if (not isinstance(t, list) or not t or not all(isinstance(v, (int, float)) for v in t)
                or any(b < a for a, b in zip(t, t[1:])) or t[0] < 0 or t[-1] > solver["t_max"]):
            _fail("solver.t_eval", "must be a non-empty sorted list of times in [0, t_max]")


def _check_output(output: dict):
    _check_keys("output", output, OUTPUT_DEFAULTS)
    for key, default in OUTPUT_DEFAULTS.items():
        output.setdefault(key, default)
    _number("output.chunk_size", output["chunk_size"], integer=True, positive=True)
    if not isinstance(output["save_trajectory"], bool):
        _fail("output.save_trajectory", f"expected true or false, got {output['save_trajectory']!r}")
    _choice("output.phase_diagram", output["phase_diagram"], SCALAR_DIAGNOSTICS)


def _build_axes(cfg: dict, raw_axes: dict) -> list:
    axes, names = [], set()
    for key, spec in raw_axes.items():
        label = f"axes.{key}"
        path = parse_path(key)
        (section, field_name), index = path
        if section == "study" and field_name not in {"seed", "objective", "weights"}:
            _fail(label, "only seed, objective and weights can be swept in [study]")
        if section == "output":
            _fail(label, "output settings cannot be swept")
        if section == "solver":
            if field_name not in SOLVER_DEFAULTS:
                _fail(label, f"unknown field (allowed: {', '.join(sorted(SOLVER_DEFAULTS))})")
            if field_name in TIME_GRID_FIELDS:
                _fail(label, "the saved-time grid cannot be swept (it is shared by all points)")
        elif section in ("target", "init"):
            kind = cfg[section]["kind"]
            allowed = input_kinds(cfg["study"]["family"], section)[kind].fields
            if field_name not in allowed:
                _fail(label, f"unknown field for {section}.kind = {kind!r} "
                             f"(allowed: {', '.join(sorted(allowed))})")
        if index is not None:
            current = cfg[section].get(field_name)
            if not isinstance(current, list) or index >= len(current):
                _fail(label, f"{section}.{field_name} has no element {index} to sweep")
        values, name = _axis_values(label, spec)
        name = name or key
        if name in RESERVED_NAMES:
            _fail(label, f"dimension name {name!r} is taken by a result variable; "
                         "give the axis another name (name = ...)")
        if name in names:
            _fail(label, f"duplicate dimension name {name!r}")
        names.add(name)
        axes.append(Axis(name=name, path=path, values=values))
    return axes


def load_study(source) -> Study:
    """Parse and validate a study from a path (`parse_study` takes the TOML text)."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"study: cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise StudyError(f"study: {source} is not a UTF-8 text file (a TOML study file is "
                         "expected)") from None
    return parse_study(text, source=str(path), default_name=path.stem)


def parse_study(text: str, source: str = "<string>", default_name: str = "study") -> Study:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"study: malformed TOML in {source}: {exc}") from None
    _check_keys("study file", raw, SECTIONS)
    cfg = {name: _table(raw, name) for name in SECTIONS if name != "axes"}
    raw_axes = _table(raw, "axes")

    st = cfg["study"]
    _check_keys("study", st, STUDY_KEYS)
    st.setdefault("name", default_name)
    st.setdefault("description", "")
    st.setdefault("weights", "trainable")
    st.setdefault("seed", 0)
    for key in ("family", "objective"):
        if key not in st:
            _fail(f"study.{key}", "required")
    from ..families import names as family_names
    _choice("study.family", st["family"], family_names())
    _check_objective("study.objective", st["family"], st["objective"])
    _choice("study.weights", st["weights"], WEIGHT_MODES)
    _number("study.seed", st["seed"], integer=True, nonneg=True)
    if not isinstance(st["name"], str) or not re.match(r"^[A-Za-z0-9_.-]+$", st["name"]):
        _fail("study.name", f"expected letters, digits, '_', '-' or '.', got {st['name']!r}")

    _check_family_sections(cfg)
    _check_flow_sections(cfg)
    _check_solver(cfg["solver"])
    _check_output(cfg["output"])
    axes = _build_axes(cfg, raw_axes)
    for axis in axes:
        (section, key), _ = axis.path
        if axis.path == (("study", "weights"), None):
            for v in axis.values:
                _choice(f"axes.{axis.name}", v, WEIGHT_MODES)
        if axis.path == (("study", "seed"), None):
            for v in axis.values:
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    _fail(f"axes.{axis.name}", f"seeds must be non-negative integers, got {v!r}")
        if axis.path == (("study", "objective"), None):
            for v in axis.values:
                _check_objective(f"axes.{axis.name}", st["family"], v)
        if section == "solver" and key == "method":
            for v in axis.values:
                _choice(f"axes.{axis.name}", v, tuple(METHOD_CODES))
    study = Study(config=cfg, axes=axes, text=text, source=source)
    _check_inputs(study)
    _check_first_point(study)
    _check_grid(study)
    return study


def _check_objective(name: str, family: str, value) -> None:
    from ..registry import objective

    try:
        objective(family, value, name)
    except ValueError as exc:
        raise StudyError(str(exc)) from None


def _check_inputs(study) -> None:
    """Field-level checks of the target and init tables that need no building."""
    from .points import sizes

    cfg = study.config
    for section in ("target", "init"):
        kind = cfg[section]["kind"]
        spec = input_kinds(study.family, section)[kind]
        for key in spec.required:
            if key not in cfg[section]:
                _fail(f"{section}.{key}", f"required for {section}.kind = {kind!r}")
        for key in ("K", "M", "d"):
            if key in cfg[section]:
                _number(f"{section}.{key}", cfg[section][key], integer=True, positive=True)
        if cfg[section].get("units", "rad") not in ("rad", "deg"):
            _fail(f"{section}.units", f"must be 'rad' or 'deg', got {cfg[section]['units']!r}")
        for axis in study.axes:
            (sec, key), index = axis.path
            if sec == section and key in spec.size_fields and index is None:
                _fail(f"axes.{axis.name}", f"{section}.{key} sets the number of components; "
                                           f"sweep its elements ({section}.{key}[i]) instead")
    for axis in study.axes:
        if axis.path[0][1] == "d" and axis.path[0][0] in ("target", "init"):
            for v in axis.values:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    _fail(f"axes.{axis.name}", f"dimensions must be positive integers, got {v!r}")
    try:
        study.extra["sizes"] = sizes(cfg, input_kinds(study.family, "target"),
                                     input_kinds(study.family, "init"))
    except (KeyError, TypeError, ValueError) as exc:
        raise StudyError(f"init: cannot read the number of components ({exc})") from None


def _check_first_point(study) -> None:
    """Build the first point: an error in a field that no axis sweeps is a study error.

    A failure caused by a swept value (say target.Lambda = -1 on one axis entry) is not:
    such points are recorded with status INVALID and the sweep goes on.
    """
    from .points import build_point

    try:
        problem = build_point(study.point_config([a.values[0] for a in study.axes]))
        study.extra["n_state"] = problem.y0.size
    except PointError as exc:
        swept = {f"{a.path[0][0]}.{a.path[0][1]}" for a in study.axes}
        if exc.field is not None and exc.field.split("[")[0] in swept:
            return
        raise StudyError(str(exc)) from None

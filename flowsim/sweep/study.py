"""Study files: the TOML schema of `python -m flowsim.sweep`, parsed and validated.

A study is a plain dict with the sections below (README.md §Sweeps documents every field).
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

FAMILIES = ("vonmises", "gaussian")
WEIGHT_MODES = ("trainable", "fixed")
METHODS = {"dopri5": 0, "rk4": 1, "euler": 2, "dopri5_fixed": 3, "radau5": 4, "auto": 5}
ADAPTIVE = ("dopri5", "radau5", "auto")

# Allowed keys per section (None = free-form table passed through to the builder).
STUDY_KEYS = {"name", "description", "family", "objective", "weights", "seed"}
SOLVER_DEFAULTS = {
    "t_max": None, "t_eval": None, "per_decade": None, "decades": None,
    "method": "auto", "rtol": 1e-8, "atol": 1e-10, "dt": 0.0, "h0": 0.0,
    "max_steps": 1_000_000, "settle_tol": 0.0,
}
OUTPUT_DEFAULTS = {"chunk_size": 64, "save_trajectory": False, "phase_diagram": "collapsed"}
TIME_GRID_FIELDS = {"t_max", "t_eval", "per_decade", "decades"}

TARGET_KEYS = {
    "gaussian": {
        "explicit": {"kind", "means", "weights", "var"},
        "pair": {"kind", "d", "Lambda", "rho", "var"},
        "random": {"kind", "K", "d", "scale", "weights", "var"},
    },
    "vonmises": {
        "explicit": {"kind", "mu", "kappa", "weights", "units"},
        "uniform": {"kind", "M", "kappa", "offset", "weights", "units"},
    },
}
INIT_KEYS = {
    "gaussian": {
        "explicit": {"kind", "means", "weights", "var"},
        "random": {"kind", "K", "scale", "center", "weights", "var"},
        "projection": {"kind", "m", "r", "weights", "var"},
    },
    "vonmises": {
        "explicit": {"kind", "mu", "kappa", "weights", "units"},
        "random": {"kind", "K", "kappa", "weights"},
    },
}
SECTIONS = ("study", "target", "init", "options", "solver", "output", "axes")

RESERVED_NAMES = {
    "min_weight", "max_weight", "coverage", "collapsed", "mode_weight_error", "emc",
    "vanishing_weight", "mean_alignment", "collapse_time", "final_objective", "reverse_kl",
    "forward_kl", "weights", "mode_mass", "status", "n_steps", "n_rhs", "state", "objective_t",
    "reverse_kl_t", "forward_kl_t", "weights_t", "mode_mass_t", "chunk_done", "component",
    "mode", "time", "state_index", "chunk",
}

_PATH_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


class StudyError(ValueError):
    """A study file problem; the message names the field."""


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
    if len(parts) != 2 or parts[0] not in SECTIONS[:5]:
        raise StudyError(f"axes.{text}: unknown field (use section.field with section in "
                         f"{', '.join(SECTIONS[:5])}, or 'seed')")
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
            values = list(range(n))
        else:
            if not isinstance(arg, list) or len(arg) != 3:
                _fail(f"{name}.{kind}", f"expected [start, stop, num], got {arg!r}")
            start = _number(f"{name}.{kind}[0]", arg[0])
            stop = _number(f"{name}.{kind}[1]", arg[1])
            num = _number(f"{name}.{kind}[2]", arg[2], integer=True, nonneg=True)
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


def _check_family_sections(cfg: dict):
    family = cfg["study"]["family"]
    for section, table in (("target", TARGET_KEYS), ("init", INIT_KEYS)):
        kinds = table[family]
        body = cfg[section]
        default_kind = "explicit"
        kind = body.setdefault("kind", default_kind)
        _choice(f"{section}.kind", kind, tuple(kinds))
        _check_keys(section, body, kinds[kind])


def _check_solver(solver: dict):
    _check_keys("solver", solver, SOLVER_DEFAULTS)
    for key, default in SOLVER_DEFAULTS.items():
        solver.setdefault(key, default)
    if solver["t_max"] is None:
        _fail("solver.t_max", "required (final gradient-flow time)")
    _number("solver.t_max", solver["t_max"], positive=True)
    _choice("solver.method", solver["method"], tuple(METHODS))
    for key in ("rtol", "atol"):
        _number(f"solver.{key}", solver[key], positive=True)
    for key in ("dt", "h0", "settle_tol"):
        _number(f"solver.{key}", solver[key], nonneg=True)
    for key in ("max_steps", "per_decade", "decades"):
        if solver[key] is not None:
            _number(f"solver.{key}", solver[key], integer=True, positive=True)
    if solver["method"] not in ADAPTIVE and solver["dt"] <= 0:
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
    from .summary import PHASE_VARIABLES
    _choice("output.phase_diagram", output["phase_diagram"], PHASE_VARIABLES)


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
                _fail(label, "unknown field")
            if field_name in TIME_GRID_FIELDS:
                _fail(label, "the saved-time grid cannot be swept (it is shared by all points)")
        elif section in ("target", "init"):
            kind = cfg[section]["kind"]
            allowed = (TARGET_KEYS if section == "target" else INIT_KEYS)[cfg["study"]["family"]][kind]
            if field_name not in allowed or field_name == "kind":
                _fail(label, f"unknown field for {section}.kind = {kind!r}")
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
    """Parse and validate a study from a path (or a TOML string with `from_text`)."""
    path = Path(source)
    try:
        text = path.read_text()
    except OSError as exc:
        raise StudyError(f"study: cannot read {source}: {exc.strerror}") from None
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
    _choice("study.family", st["family"], FAMILIES)
    if not isinstance(st["objective"], str):
        _fail("study.objective", f"expected a string, got {st['objective']!r}")
    _choice("study.weights", st["weights"], WEIGHT_MODES)
    _number("study.seed", st["seed"], integer=True, nonneg=True)
    if not isinstance(st["name"], str) or not re.match(r"^[A-Za-z0-9_.-]+$", st["name"]):
        _fail("study.name", f"expected letters, digits, '_', '-' or '.', got {st['name']!r}")

    _check_family_sections(cfg)
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
        if section == "solver" and key == "method":
            for v in axis.values:
                _choice(f"axes.{axis.name}", v, tuple(METHODS))
    study = Study(config=cfg, axes=axes, text=text, source=source)
    # Build one point eagerly so that bad field values fail here, naming the field.
    from .points import check_study
    check_study(study)
    return study

"""From a study point to a `Problem`: build the target and initial mixtures, then the flow.

Every input of a point is a pure function of the study and the point's axis values
(including its `seed`): random means are drawn from numpy generators seeded by
(seed, stream), never from global state, chunk order or time, so a point gives the
same numbers in any chunk, on any executor, before or after a resume.

Symbols (notes/gmm_flow_reconstruction.md §3): for the Gaussian `pair` target the two
modes are μ+ = −(√Λ/2) e_1 (weight ρ) and μ− = +(√Λ/2) e_1 (weight 1 − ρ), so the
separation Δ = μ− − μ+ has Λ = ‖Δ‖²; the `projection` initialisation puts component k
at ν_k = μ+ + m_k Δ + r_k e_{o(k)}, i.e. m_k = ⟨ν_k − μ+, Δ⟩/Λ is the projection
m_k/Λ of the notes (0 at μ+, 1 at μ−) and r_k an orthogonal offset along the axis
e_{o(k)}, o(k) = 2 + (k mod (d − 1)).
"""
from __future__ import annotations

import math

import numpy as np

TARGET_STREAM = 1
INIT_STREAM = 2


class PointError(ValueError):
    """A point whose inputs are invalid; recorded with status INVALID, never raised out of a sweep."""


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def _angles(values, units: str):
    arr = np.asarray(values, dtype=float)
    return np.deg2rad(arr) if units == "deg" else arr


def _weights(section: str, spec, size: int):
    if spec is None:
        return None
    arr = np.asarray(spec, dtype=float)
    if arr.ndim != 1 or arr.size != size:
        raise PointError(f"{section}.weights: expected {size} weights, got {spec!r}")
    return arr


def gaussian_target(t: dict, seed: int):
    from ..gaussian import GaussianMixture

    var = t.get("var", 1.0)
    kind = t["kind"]
    if kind == "explicit":
        return GaussianMixture(t["means"], weights=t.get("weights"), var=var)
    if kind == "pair":
        d, lam, rho = int(t.get("d", 2)), float(t["Lambda"]), float(t.get("rho", 0.5))
        if d < 1:
            raise PointError(f"target.d: must be >= 1, got {d}")
        if not lam > 0:
            raise PointError(f"target.Lambda: must be > 0, got {lam}")
        if not 0 < rho < 1:
            raise PointError(f"target.rho: must be in (0, 1), got {rho}")
        means = np.zeros((2, d))
        means[0, 0], means[1, 0] = -0.5 * math.sqrt(lam), 0.5 * math.sqrt(lam)
        return GaussianMixture(means, weights=[rho, 1.0 - rho], var=var)
    if kind == "random":
        from ..gaussian import random_means
        K, d = int(t["K"]), int(t["d"])
        means = random_means(K, d, float(t.get("scale", 1.0)), seed=[int(seed), TARGET_STREAM])
        return GaussianMixture(means, weights=t.get("weights"), var=var)
    raise PointError(f"target.kind: unknown {kind!r}")


def gaussian_init(i: dict, target, target_cfg: dict, seed: int):
    from ..gaussian import GaussianMixture

    var = i.get("var", getattr(target, "var", 1.0))
    kind = i["kind"]
    d = np.asarray(target.means).shape[1]
    if kind == "explicit":
        return GaussianMixture(i["means"], weights=i.get("weights"), var=var)
    if kind == "random":
        K = int(i["K"])
        scale = float(i.get("scale", 1.0))
        center = i.get("center", "origin")
        if center == "origin":
            c = np.zeros(d)
        elif center == "target":
            c = np.asarray(target.weights) @ np.asarray(target.means)
        else:
            raise PointError(f"init.center: must be 'origin' or 'target', got {center!r}")
        from ..gaussian import random_means
        means = random_means(K, d, scale, seed=[int(seed), INIT_STREAM], center=c)
        return GaussianMixture(means, weights=_weights("init", i.get("weights"), K), var=var)
    if kind == "projection":
        if target_cfg["kind"] != "pair":
            raise PointError("init.kind: 'projection' needs target.kind = 'pair'")
        m = np.asarray(i["m"], dtype=float)
        K = m.size
        r = np.zeros(K) if i.get("r") is None else np.asarray(i["r"], dtype=float)
        if r.shape != (K,):
            raise PointError(f"init.r: expected {K} offsets (one per entry of init.m), got {i['r']!r}")
        mu_plus, mu_minus = np.asarray(target.means)
        delta = mu_minus - mu_plus
        means = mu_plus + m[:, None] * delta
        if np.any(r != 0):
            if d < 2:
                raise PointError("init.r: orthogonal offsets need d >= 2")
            for k in range(K):
                means[k, 1 + (k % (d - 1))] += r[k]
        return GaussianMixture(means, weights=_weights("init", i.get("weights"), K), var=var)
    raise PointError(f"init.kind: unknown {kind!r}")


def vonmises_target(t: dict, seed: int):
    from ..vonmises import VonMisesMixture

    units = t.get("units", "rad")
    if t["kind"] == "explicit":
        return VonMisesMixture(_angles(t["mu"], units), t["kappa"], t.get("weights"))
    M = int(t["M"])
    offset = float(_angles(t.get("offset", 0.0), units))
    mu = offset + 2.0 * np.pi * np.arange(M) / M
    return VonMisesMixture(mu, t["kappa"], _weights("target", t.get("weights"), M))


def vonmises_init(i: dict, target, seed: int):
    from ..vonmises import VonMisesMixture

    if i["kind"] == "explicit":
        return VonMisesMixture(_angles(i["mu"], i.get("units", "rad")), i["kappa"], i.get("weights"))
    K = int(i["K"])
    mu = _rng(seed, INIT_STREAM).uniform(-np.pi, np.pi, K)
    return VonMisesMixture(mu, i.get("kappa", 1.0), _weights("init", i.get("weights"), K))


def _prefixed(section: str, exc: Exception) -> PointError:
    message = str(exc) or type(exc).__name__
    return PointError(message if message.startswith(f"{section}.") else f"{section}.{message}")


def make_objects(cfg: dict):
    """(target, init) mixtures of one point's config; errors name target.* or init.* fields."""
    seed = int(cfg["study"]["seed"])
    gaussian = cfg["study"]["family"] == "gaussian"
    try:
        target = (gaussian_target if gaussian else vonmises_target)(cfg["target"], seed)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _prefixed("target", exc) from None
    try:
        if gaussian:
            return target, gaussian_init(cfg["init"], target, cfg["target"], seed)
        return target, vonmises_init(cfg["init"], target, seed)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _prefixed("init", exc) from None


def build_point(cfg: dict):
    """The Problem of one point, or PointError naming what is wrong with its inputs."""
    from ..simulation import build_problem

    try:
        target, init = make_objects(cfg)
        st = cfg["study"]
        problem = build_problem(target, init, objective=st["objective"], weights=st["weights"],
                                **cfg["options"])
    except PointError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError,
            FloatingPointError) as exc:
        raise PointError(str(exc) or type(exc).__name__) from None
    if not (np.all(np.isfinite(problem.y0)) and np.all(np.isfinite(problem.params))):
        raise PointError("non-finite value in the initial state or the packed parameters")
    return problem


def _sizes(cfg: dict) -> tuple[int, int]:
    """(K components of q, M modes of p) from a config, without building anything."""
    t, i = cfg["target"], cfg["init"]
    if cfg["study"]["family"] == "gaussian":
        M = {"explicit": lambda: len(t["means"]), "pair": lambda: 2, "random": lambda: int(t["K"])}[t["kind"]]()
        K = {"explicit": lambda: len(i["means"]), "random": lambda: int(i["K"]),
             "projection": lambda: len(i["m"])}[i["kind"]]()
    else:
        M = len(np.atleast_1d(t["mu"])) if t["kind"] == "explicit" else int(t["M"])
        K = (max(np.size(i["mu"]), np.size(i["kappa"])) if i["kind"] == "explicit" else int(i["K"]))
    return K, M


REQUIRED = {
    ("gaussian", "target", "explicit"): ("means",), ("gaussian", "target", "pair"): ("Lambda",),
    ("gaussian", "target", "random"): ("K", "d"), ("gaussian", "init", "explicit"): ("means",),
    ("gaussian", "init", "random"): ("K",), ("gaussian", "init", "projection"): ("m",),
    ("vonmises", "target", "explicit"): ("mu", "kappa"), ("vonmises", "target", "uniform"): ("M", "kappa"),
    ("vonmises", "init", "explicit"): ("mu", "kappa"), ("vonmises", "init", "random"): ("K",),
}
SIZE_FIELDS = {"K", "M", "means", "mu", "m"}


def check_study(study) -> None:
    """Field-level checks of the non-swept inputs (StudyError naming the field)."""
    from .study import StudyError

    cfg = study.config
    fam = cfg["study"]["family"]
    for section in ("target", "init"):
        kind = cfg[section]["kind"]
        for key in REQUIRED[(fam, section, kind)]:
            if key not in cfg[section]:
                raise StudyError(f"{section}.{key}: required for {section}.kind = {kind!r}")
        for key in ("K", "M", "d"):
            if key in cfg[section]:
                v = cfg[section][key]
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise StudyError(f"{section}.{key}: expected a positive integer, got {v!r}")
        if cfg[section].get("units", "rad") not in ("rad", "deg"):
            raise StudyError(f"{section}.units: must be 'rad' or 'deg', got {cfg[section]['units']!r}")
    for axis in study.axes:
        (section, key), index = axis.path
        if key in SIZE_FIELDS and index is None:
            raise StudyError(f"axes.{axis.name}: {section}.{key} sets the number of components; "
                             f"sweep its elements ({section}.{key}[i]) instead")
        if key in ("d",):
            for v in axis.values:
                if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                    raise StudyError(f"axes.{axis.name}: dimensions must be positive integers, got {v!r}")
    _check_first_point(study)
    try:
        study.extra["sizes"] = _sizes(cfg)
    except (KeyError, TypeError, ValueError) as exc:
        raise StudyError(f"{'target' if 'target' in str(exc) else 'init'}: cannot read the number "
                         f"of components ({exc})") from None


def _check_first_point(study) -> None:
    """Build the first point: an error in a field no axis touches is a study error.

    A failure caused by a swept value (say target.Lambda = -1 on one axis entry) is not:
    such points are recorded with status INVALID and the sweep goes on.
    """
    from .study import StudyError

    cfg0 = study.point_config([a.values[0] for a in study.axes])
    try:
        build_point(cfg0)
    except PointError as exc:
        message = str(exc)
        options = study.config["options"]
        for key in options:
            if f"'{key}'" in message and "keyword" in message:
                raise StudyError(f"options.{key}: unknown option for the {study.family} family") from None
        head = message.split(":", 1)[0].strip()
        leaf = head.rsplit(".", 1)[-1]
        swept = {a.path[0][1] for a in study.axes} | {a.path[0][0] for a in study.axes}
        if head in swept or leaf in swept or any(head == a.name for a in study.axes):
            return
        if leaf in options and not head.startswith("options."):
            message = f"options.{message}"
        elif leaf == "objective" and not head.startswith("study."):
            message = f"study.{message}"
        raise StudyError(message) from None

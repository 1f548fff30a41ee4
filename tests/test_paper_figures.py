"""paper_figures CLI and every figure's generate -> plot on a tiny configuration.

Each figure module is run in fast mode, and with `tiny=True` where its generate() accepts
it (smaller grids, fewer seeds, shorter t_max), into a temporary folder; the image must
exist and be non-empty, and the results file must record the package version and the
parameters (paper_figures.common.save_results). A module without `tiny` has the `simulate` it imported wrapped so
that every flow stops at t = TINY_T_MAX (the plumbing is what is tested here; the
physics is tested elsewhere). The CLI must list every figure and reject an unknown name with
exit status 2 and a single line on stderr.
"""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import numpy as np

import flowsim
from paper_figures import FIGURE_MODULES, figures

ROOT = Path(__file__).resolve().parents[1]
TINY_T_MAX = 10.0


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "paper_figures", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_list_names_every_figure():
    res = _cli("--list")
    assert res.returncode == 0, res.stderr
    names = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert names == list(figures())
    assert len(names) == len(FIGURE_MODULES)


def test_unknown_figure_exits_2_with_one_line():
    res = _cli("--only", "bogus")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "bogus" in lines[0]
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def _short(simulate):
    def wrapped(*args, t_max, t_eval=None, **kwargs):
        if t_eval is not None:
            t_eval = [t for t in t_eval if t <= TINY_T_MAX]
        return simulate(*args, t_max=min(t_max, TINY_T_MAX), t_eval=t_eval, **kwargs)
    return wrapped


@pytest.mark.parametrize("name", list(figures()))
def test_generate_and_plot(name, tmp_path, monkeypatch):
    mod = figures()[name]
    for attr in ("NAME", "TITLE", "generate", "plot"):
        assert hasattr(mod, attr), f"{name}: missing {attr}"
    kwargs = {"fast": True}
    if "tiny" in inspect.signature(mod.generate).parameters:
        kwargs["tiny"] = True
    elif hasattr(mod, "simulate"):
        monkeypatch.setattr(mod, "simulate", _short(mod.simulate))
    results = Path(mod.generate(tmp_path, **kwargs))
    assert results.is_file() and results.stat().st_size > 0
    with np.load(results) as d:
        assert str(d["flowsim_version"]) == flowsim.__version__
        params = json.loads(str(d["params_json"]))
    assert params["flowsim_version"] == flowsim.__version__ and len(params) > 2
    image = Path(mod.plot(results, tmp_path))
    assert image.is_file() and image.suffix == ".png"
    assert image.stat().st_size > 1000


def test_new_figures_are_registered():
    names = list(figures())
    for name in ("nf_contours", "ode_vs_simulation", "nf_collapse", "single_gaussian", "divergence_zoo"):
        assert name in names


def test_nf_collapse_reads_the_study_cache(tmp_path):
    """With a run cache, F5 draws from it (and records its path, sha256 and size)."""
    from paper_figures import fig_nf_collapse as F
    from paper_figures.common import load_params

    cache = tmp_path / "runs.jsonl"
    lines = []
    for model in ("ode_trainable", "realnvp"):
        for rho in (0.5, 0.2):
            for d in (2, 8):
                for seed in range(3):
                    kept = not (model == "realnvp" and rho == 0.2 and d == 8 and seed == 1)
                    rec = {"model": model, "d": d, "rho": rho, "seed": seed,
                           "horizon": {"50": {"coverage": 2 if kept else 1}}}
                    if model == "realnvp":
                        rec["time"] = [0.0, 1.0, 50.0]
                        rec["mode_mass"] = [[0.35, 0.65], [0.2, 0.8], [0.2 if kept else 0.02, 0.8]]
                    lines.append(json.dumps(rec))
    cache.write_text("\n".join(lines) + "\n")
    results = F.generate(tmp_path, cache=cache)
    p = load_params(results)
    assert p["data"]["source"] == "study cache" and p["data"]["n_runs"] == len(lines)
    assert p["t_max"] == 50.0 and p["models"] == ["ode_trainable", "realnvp"]
    with np.load(results) as d:
        assert list(d["k_realnvp_1"]) == [3, 2] and list(d["n_realnvp_1"]) == [3, 3]
        assert int(d["series_lost_seed"]) == 1 and int(d["series_lost_d"]) == 8
        assert int(d["series_kept_d"]) == 8
    assert F.plot(results, tmp_path).is_file()

"""flowsim.bench: every registered objective is a case, and the benchmark CLI runs and prints
the documented JSON. No timing assertions. (Kernels against their numpy references:
tests/test_objectives.py.)"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from flowsim.bench import cases as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_registered_objective_is_a_case():
    from flowsim.registry import OBJECTIVES, reference_for

    cases = C.cases(quick=True)
    names = {c.name.rsplit(".", 1)[-1] + "@" + c.name.split(".")[0] for c in cases}
    assert names == {f"{o.name}@{o.family}" for o in OBJECTIVES.values()}
    for case in cases:
        assert callable(reference_for(case.problem)), case.name


def test_spv_matches_closed_forms():
    """S at β = 0 is 1/2 by symmetry; S, P, V at α = 0 are sgm, softplus, sgm'."""
    from flowsim.families.gaussian.quadrature import quadrature_params
    from flowsim.families.gaussian.reference import spv
    q = quadrature_params(48)
    S, P, V = spv(np.array([0.0, 0.0, 1.3, -2.0]), np.array([0.5, 7.0, 0.0, 0.0]), q, 0)
    assert S[0] == pytest.approx(0.5, abs=1e-14) and S[1] == pytest.approx(0.5, abs=1e-14)
    sg = 1 / (1 + np.exp(-np.array([1.3, -2.0])))
    np.testing.assert_allclose(S[2:], sg, rtol=1e-13)
    np.testing.assert_allclose(P[2:], np.log1p(np.exp([1.3, -2.0])), rtol=1e-13)
    np.testing.assert_allclose(V[2:], sg * (1 - sg), rtol=1e-13)


def test_numpy_two_mode_reference_exercises_both_expectation_branches():
    """Random two-mode states reach both branches of S, P, V (α below and above ALPHA_SWITCH)."""
    from flowsim.families import family
    from flowsim.families.gaussian.quadrature import ALPHA_SWITCH

    fam = family("gaussian")
    rng = np.random.default_rng(0)
    alphas = []
    for Lam in (0.5, 16.0):
        from flowsim.families.gaussian.mixture import pair_target
        prob = fam.build(pair_target(6, Lam), pair_target(6, Lam), objective="reverse_kl",
                         reduction="two_mode")
        for _ in range(30):
            y = fam.random_state(prob, rng)
            D = y[2] + y[4] - 2 * y[3]
            alphas.append(math.sqrt(max(D, 0.0) / math.exp(y[7])))
            alphas.append(math.sqrt(math.exp(y[7]) * Lam))
    alphas = np.array(alphas)
    assert np.any(alphas < ALPHA_SWITCH) and np.any(alphas >= ALPHA_SWITCH)


TRAJ_KEYS = {"model", "numba_s", "scipy_numpy_s", "scipy_njit_s", "speedup_vs_scipy_numpy",
             "rhs_us", "overhead", "max_abs_diff"}
SWEEP_KEYS = {"points", "seconds_1core", "seconds_all", "points_per_s", "diffrax_points_per_s",
              "speedup_vs_diffrax"}
START_KEYS = {"cold_s", "warm_s"}


@pytest.mark.slow
def test_bench_cli_quick_json():
    """Two cases of each family's kind (every case compiles its own right-hand side: all of
    them would take minutes; test_every_registered_objective_is_a_case covers the list)."""
    patterns = "vonmises.reverse_kl,vonmises.js,gaussian.two_mode.reverse_kl,gaussian.span.hellinger"
    proc = subprocess.run([sys.executable, "-m", "flowsim.bench", "--json", "--quick",
                           "--cases", patterns], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert set(res) >= {"trajectories", "sweep", "start"}
    assert sorted(r["model"] for r in res["trajectories"]) == sorted(patterns.split(","))
    for row in res["trajectories"]:
        assert TRAJ_KEYS <= set(row), TRAJ_KEYS - set(row)
        assert row["numba_s"] > 0 and row["rhs_us"] > 0
        assert row["max_abs_diff"] is not None and math.isfinite(row["max_abs_diff"])
    assert SWEEP_KEYS <= set(res["sweep"]), SWEEP_KEYS - set(res["sweep"])
    assert res["sweep"]["points"] >= 2 and res["sweep"]["seconds_all"] > 0
    auto = res["sweep"]["auto"]
    assert auto["status_ok"] == res["sweep"]["points"]
    assert auto["max_weight_diff_vs_dopri5"] < 1e-6 and auto["max_abs_diff_vs_dopri5"] < 1e-4
    assert auto["rhs_evals_per_point"] < res["sweep"]["rhs_evals_per_point"]
    if res["sweep"]["diffrax_points_per_s"] is None:
        assert res["sweep"]["speedup_vs_diffrax"] is None
        assert res["sweep"]["diffrax"]["available"] is False
    assert START_KEYS <= set(res["start"])
    assert res["start"]["cold_s"] > 0 and res["start"]["warm_s"] > 0
    assert [r["n"] for r in res["lu"]] == [64, 200]
    assert all(r["identical"] and r["blocked_s"] > 0 for r in res["lu"])


@pytest.mark.parametrize("args", [["--only", "nope"], ["--cases", "no.such.case"]])
def test_bench_cli_bad_option_one_line_exit_2(args):
    proc = subprocess.run([sys.executable, "-m", "flowsim.bench", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and args[1] in proc.stderr
    assert "Traceback" not in proc.stderr


def test_table_renders_json_result():
    from flowsim.bench.table import render, targets
    result = {"trajectories": [{"model": "m", "numba_s": 0.01, "scipy_numpy_s": 0.2,
                                "scipy_njit_s": 0.05, "speedup_vs_scipy_numpy": 20.0,
                                "rhs_us": 1.0, "overhead": 0.1, "max_abs_diff": 1e-9}],
              "sweep": {"points": 100, "seconds_1core": 2.0, "seconds_all": 1.0,
                        "points_per_s": 100.0, "diffrax_points_per_s": None,
                        "speedup_vs_diffrax": None},
              "start": {"cold_s": 3.0, "warm_s": 1.0},
              "lu": [{"n": 777, "block": 32, "blocked_s": 0.09, "column_s": 0.27,
                      "lapack_s": 0.02, "speedup": 3.0, "identical": True}]}
    text = render(result)
    assert "| m |" in text and "diffrax" in text and "Targets" in text
    assert "| 777 | 90 ms | 270 ms | 3.00 | bit for bit | 20 ms |" in text
    met = {name: ok for name, _, ok in targets(result)}
    assert any("diffrax" in k and v is None for k, v in met.items())

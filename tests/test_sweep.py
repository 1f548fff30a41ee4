"""flowsim.sweep: study validation, grid, executors (local vs dask), Zarr resume after
kill -9, diverging points, CLI errors. Kept small: a 2 × 3 Gaussian two-mode grid."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

xr = pytest.importorskip("xarray")
pytest.importorskip("zarr")

from flowsim.sweep import load_study, parse_study, run_sweep  # noqa: E402
from flowsim.sweep.__main__ import main  # noqa: E402
from flowsim.sweep.grid import Grid, block_shape  # noqa: E402
from flowsim.sweep import StudyError  # noqa: E402
from flowsim.integrate.status import MAX_STEPS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

SMALL = """
[study]
name = "small"
family = "gaussian"
objective = "reverse_kl"
weights = "trainable"

[target]
kind = "pair"
Lambda = 16.0
d = 2

[init]
kind = "random"
K = 2

[solver]
t_max = 50.0
rtol = 1e-6
atol = 1e-8
per_decade = 5
decades = 3

[output]
chunk_size = 1
save_trajectory = {save}

[axes]
"target.d" = {{ values = [2, 16], name = "d" }}
seed = {{ range = 3 }}
"""


def small_study(tmp_path, save="true", name="small.toml"):
    path = tmp_path / name
    path.write_text(SMALL.format(save=save))
    return path


def load(path):
    ds = xr.open_zarr(str(path))
    return ds.load()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small study run by the local executor (also compiles the kernels once)."""
    tmp = tmp_path_factory.mktemp("ref")
    study = load_study(small_study(tmp))
    result = run_sweep(study, tmp / "ref.zarr")
    return tmp, result


# ----------------------------------------------------------------- study and grid

def test_block_shape_and_chunks():
    assert block_shape((5, 32), 64) == (2, 32)
    assert block_shape((5, 32), 1) == (1, 1)
    assert block_shape((3, 4), 100) == (3, 4)
    grid = Grid((5, 32), 64)
    assert grid.n_chunks == 3
    assert grid.chunk(2).slices == (slice(4, 5), slice(0, 32))
    assert sum(c.n_points for c in grid.chunks()) == 160


def test_axis_forms_and_point_config():
    text = SMALL.format(save="false").replace(
        '"target.d" = { values = [2, 16], name = "d" }',
        '"target.Lambda" = { logspace = [1, 2, 3] }\n"init.scale" = { linspace = [0.5, 1.5, 2] }')
    study = parse_study(text)
    assert [a.name for a in study.axes] == ["target.Lambda", "init.scale", "seed"]
    np.testing.assert_allclose(study.axes[0].values, [10.0, 10 ** 1.5, 100.0])
    assert study.shape == (3, 2, 3)
    cfg = study.point_config([100.0, 1.5, 2])
    assert cfg["target"]["Lambda"] == 100.0 and cfg["init"]["scale"] == 1.5
    assert cfg["study"]["seed"] == 2
    assert study.config["target"]["Lambda"] == 16.0  # the base config is untouched


@pytest.mark.parametrize("edit, field", [
    (("Lambda = 16.0", "Lambda = 16.0\nfoo = 1"), "target.foo"),
    (('seed = { range = 3 }', 'seed = []'), "axes.seed"),
    (('seed = { range = 3 }', '"init.bogus" = [1, 2]'), "axes.init.bogus"),
    (('seed = { range = 3 }', '"nowhere.x" = [1, 2]'), "axes.nowhere.x"),
    (('family = "gaussian"', 'family = "torus"'), "study.family"),
    (('t_max = 50.0', 't_max = -1.0'), "solver.t_max"),
    (('chunk_size = 1', 'chunk_size = 0'), "output.chunk_size"),
    (('seed = { range = 3 }', 'weights = ["fixed"]'), "axes.weights"),
])
def test_study_errors_name_the_field(edit, field):
    text = SMALL.format(save="false").replace(*edit)
    with pytest.raises(StudyError, match=f"^{field.replace('.', '[.]')}:"):
        parse_study(text)


def test_points_are_pure_functions_of_the_seed():
    from flowsim.sweep.points import make_objects

    study = parse_study(SMALL.format(save="false"))
    a = make_objects(study.point_config([16, 1]))[1].means
    b = make_objects(study.point_config([16, 1]))[1].means
    c = make_objects(study.point_config([16, 2]))[1].means
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# ----------------------------------------------------------------- runs

def test_local_run_dataset(reference):
    tmp, result = reference
    ds = load(result.path)
    assert ds["collapsed"].dims == ("d", "seed")
    assert ds["weights"].dims == ("d", "seed", "component")
    assert ds["state"].dims[:3] == ("d", "seed", "time")
    assert list(ds["d"].values) == [2, 16]
    assert np.all(ds["status"].values == 0)
    assert np.all(ds["n_steps"].values > 0)
    assert np.all(ds["chunk_done"].values == 1)
    for key in ("min_weight", "max_weight", "coverage", "collapsed", "mode_weight_error", "emc",
                "vanishing_weight", "mean_alignment", "collapse_time", "final_objective",
                "reverse_kl", "forward_kl"):
        assert np.all(np.isfinite(ds[key].values)), key
    np.testing.assert_allclose(ds["weights"].sum("component"), 1.0, atol=1e-12)
    assert "Lambda = 16.0" in ds.attrs["study"] and ds.attrs["flowsim_version"]
    assert result.figure and Path(result.figure).exists()


def test_sweep_matches_simulate(reference):
    """One point of the sweep equals simulate(...) with the same settings (one definition)."""
    from flowsim.api import simulate
    from flowsim.sweep.compute import time_grid
    from flowsim.sweep.points import make_objects

    tmp, result = reference
    study = load_study(tmp / "small.toml")
    target, init = make_objects(study.point_config([16, 2]))
    traj = simulate(target, init, objective="reverse_kl", weights="trainable", t_max=50.0,
                    t_eval=time_grid(study), rtol=1e-6, atol=1e-8, backend="numba")
    ds = load(result.path).sel(d=16, seed=2)
    np.testing.assert_array_equal(ds["state"].values, traj.states)
    assert float(ds["reverse_kl"]) == traj.diagnostics["reverse_kl"]
    assert int(ds["n_steps"]) == traj.n_steps


def test_a_swept_weight_prior_equals_simulate(tmp_path):
    """weights = "regularised" with `options.weight_prior` as an axis: each point is
    simulate(..., weights="regularised", weight_prior=λ)."""
    from flowsim.api import simulate
    from flowsim.sweep.compute import time_grid
    from flowsim.sweep.points import make_objects

    text = SMALL.format(save="true").replace('weights = "trainable"', 'weights = "regularised"').replace(
        "seed = { range = 3 }", '"options.weight_prior" = { values = [0.01, 1.0], name = "lam" }\nseed = { range = 2 }')
    path = tmp_path / "prior.toml"
    path.write_text(text)
    study = load_study(path)
    ds = load(run_sweep(study, tmp_path / "prior.zarr", figure=False).path)
    assert ds.attrs["weights"] == "regularised"
    for lam in (0.01, 1.0):
        target, init = make_objects(study.point_config([16, lam, 1]))
        traj = simulate(target, init, objective="reverse_kl", weights="regularised", weight_prior=lam,
                        t_max=50.0, t_eval=time_grid(study), rtol=1e-6, atol=1e-8, backend="numba")
        np.testing.assert_array_equal(ds.sel(d=16, lam=lam, seed=1)["state"].values, traj.states)
    w = ds.sel(d=16, seed=1)["weights"].values
    assert abs(w[1, 0] - 0.5) < abs(w[0, 0] - 0.5)        # the stronger prior holds w nearer 1/2


def test_dask_executor_gives_identical_dataset(reference, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    tmp, result = reference
    out = tmp_path / "dask.zarr"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        code = main([str(tmp / "small.toml"), "--out", str(out), "--executor", "dask",
                     "--scheduler", cluster.scheduler_address, "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "executor    dask " in printed and "6 computed, 0 reused" in printed
    xr.testing.assert_identical(load(out), load(result.path))


def test_diverging_points_are_recorded(tmp_path):
    text = SMALL.format(save="false").replace(
        '"target.d" = { values = [2, 16], name = "d" }',
        '"target.Lambda" = { values = [16.0, -1.0, nan], name = "Lambda" }\n'
        '"solver.max_steps" = { values = [3, 100000], name = "max_steps" }').replace(
        "seed = { range = 3 }", "")
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = run_sweep(load_study(path), tmp_path / "bad.zarr", figure=False)
    ds = load(result.path)
    status = ds["status"].values
    assert status[0, 0] == 1 and status[0, 1] == 0          # max_steps, ok
    assert np.all(status[1:] == 5)                           # invalid inputs
    assert np.isnan(ds["collapsed"].values[0, 0]) and np.isfinite(ds["collapsed"].values[0, 1])
    assert "invalid 4" in result.summary and "max_steps 1" in result.summary


@pytest.mark.slow
# ----------------------------------------------------------------- kill -9 and resume

def test_resume_after_kill(reference, tmp_path, capsys):
    """A sweep of 120 one-point chunks (each chunk's write is fsync'ed, so the run lasts
    seconds) killed once two chunks are marked done, then resumed."""
    study_path = tmp_path / "long.toml"
    study_path.write_text(SMALL.format(save="true").replace("seed = {{ range = 3 }}".format(),
                                                            "seed = { range = 60 }"))
    result = run_sweep(load_study(study_path), tmp_path / "uninterrupted.zarr", figure=False)
    total = 120
    out = tmp_path / "killed.zarr"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "flowsim.sweep", str(study_path), "--out", str(out),
                             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    import zarr
    done = np.zeros(total)
    deadline = time.time() + 90
    while time.time() < deadline:
        if (out / "chunk_done").exists():
            try:
                done = zarr.open_array(str(out / "chunk_done"), mode="r")[:]
            except Exception:  # noqa: BLE001 - mid-write
                pass
            if done.sum() >= 2:
                break
        if proc.poll() is not None:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = int(np.asarray(zarr.open_array(str(out / "chunk_done"), mode="r")[:]).sum())
    assert 2 <= finished < total, "the sweep should have been killed mid-way"

    assert main([str(study_path), "--out", str(out), "--resume", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"{total - finished} computed, {finished} reused" in printed
    assert str(out) in printed
    xr.testing.assert_identical(load(out), load(result.path))


# ----------------------------------------------------------------- CLI errors

@pytest.mark.parametrize("content, needle", [
    ("[study\nfamily = 1", "malformed TOML"),
    (SMALL.format(save="false").replace("K = 2", "K = 2\ncolour = 'red'"), "init.colour"),
    (SMALL.format(save="false").replace("seed = { range = 3 }", '"init.nope" = [1]'), "axes.init.nope"),
    (SMALL.format(save="false").replace("seed = { range = 3 }", "seed = { range = 0 }"), "axes.seed: empty axis"),
    (SMALL.format(save="false").replace("K = 2", "K = 2\n\n[options]\nweight_prior = 0.1"),
     "options.weight_prior: only weights 'regularised' have a prior"),
    (SMALL.format(save="false").replace('weights = "trainable"', 'weights = "regularised"').replace(
        "K = 2", "K = 2\n\n[options]\nweight_prior = -1.0"), "options.weight_prior: must be a positive number"),
])
def test_cli_errors_one_line_exit_2(tmp_path, capsys, content, needle):
    path = tmp_path / "s.toml"
    path.write_text(content)
    assert main([str(path), "--out", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_cli_error_subprocess_no_traceback(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SMALL.format(save="false").replace("seed = { range = 3 }", "seed = []"))
    proc = subprocess.run([sys.executable, "-m", "flowsim.sweep", str(path)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "axes.seed: empty axis" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_resume_refuses_a_different_study(reference, tmp_path, capsys):
    tmp, result = reference
    other = tmp_path / "other.toml"
    other.write_text(SMALL.format(save="true").replace("t_max = 50.0", "t_max = 60.0"))
    assert main([str(other), "--out", result.path, "--resume", "--quiet"]) == 2
    assert "different study" in capsys.readouterr().err


def test_out_refuses_a_path_that_is_not_a_sweep_store(tmp_path, capsys):
    study = small_study(tmp_path, save="false")
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "data.txt").write_text("keep me")
    assert main([str(study), "--out", str(tmp_path / "precious"), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err
    assert (tmp_path / "precious" / "data.txt").read_text() == "keep me"


def test_a_resumed_sweep_with_nothing_to_do_leaves_its_bar_on_screen(reference, tmp_path, capsys):
    """The first bar is replaced once a chunk comes back; when none does (nothing left, or
    an interrupt), it stays on screen with the points the store holds."""
    out = tmp_path / "done.zarr"
    study = load_study(small_study(tmp_path))
    run_sweep(study, out, figure=False)
    capsys.readouterr()
    run_sweep(study, out, resume=True, progress=True, figure=False)
    err = capsys.readouterr().err
    last = err.rstrip("\n").split("\r")[-1]
    assert "6/6" in last, repr(err)


def test_a_resumed_sweep_shows_no_rate_before_its_second_chunk(reference, tmp_path, capsys):
    """The progress bar of a resumed run starts at the points already done and shows no
    rate or ETA until a chunk has come back after the first (which may compile); it never
    shows fewer points done than the store holds, nor a negative rate."""
    import re

    tmp, _ = reference
    out = tmp_path / "bar.zarr"
    study = load_study(small_study(tmp_path))
    run_sweep(study, out, figure=False)
    import zarr
    marks = zarr.open_array(str(out / "chunk_done"), mode="r+")
    marks[2:] = False                      # 2 of 6 one-point chunks done
    capsys.readouterr()
    run_sweep(study, out, resume=True, progress=True, figure=False)
    frames = [f for f in re.split(r"[\r\n]", capsys.readouterr().err) if "pt" in f]
    counts = [int(m.group(1)) for f in frames if (m := re.search(r"(\d+)/6", f))]
    assert counts and min(counts) >= 2 and counts[-1] == 6, frames
    assert not any(re.search(r"-\d", f.split("|")[-1]) for f in frames), frames
    assert all("?" in f for f in frames if re.search(r"\b[23]/6", f)), frames


def test_capped_runs_are_read_at_the_last_time_they_reached(tmp_path):
    """studies/capped_runs.py re-runs the points a sweep stopped at the step cap and reads
    them at the last time they reached."""
    path = tmp_path / "capped.toml"
    path.write_text(SMALL.format(save="false").replace(
        "atol = 1e-8", 'atol = 1e-8\nmethod = "dopri5"\nmax_steps = 40'))
    out = tmp_path / "capped.zarr"
    run_sweep(load_study(path), out, figure=False)
    ds = xr.open_zarr(out).load()
    assert np.all(ds["status"].values == MAX_STEPS)
    assert np.all(np.isnan(ds["coverage"].values))
    proc = subprocess.run([sys.executable, str(ROOT / "studies" / "capped_runs.py"), str(path),
                           "--store", str(out), "--limit", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "small: 6 runs at the cap (40 steps); re-running 1" in proc.stdout
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| d 2, seed 0 |")]
    assert len(rows) == 1, proc.stdout
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert 0.0 < float(cells[1]) < 50.0
    weights = json.loads(cells[2])
    assert len(weights) == 2 and abs(sum(weights) - 1.0) < 1e-9
    assert cells[3] in ("1", "2") and cells[5] in ("none", "mean_alignment", "vanishing_weight",
                                                   "weight_starvation")


@pytest.mark.parametrize("method, stiff", [("auto", True), ("dopri5", False)])
def test_a_local_sweep_starts_compiling_the_solvers_before_its_setup(tmp_path, monkeypatch,
                                                                     method, stiff):
    """The solver kernels start compiling elsewhere before the store is created (their
    Radau IIA process does not yield the CPU when the method may switch to it)."""
    import flowsim.integrate.solver as solver
    from flowsim.sweep import store

    calls = []
    create = store.create
    monkeypatch.setattr(solver, "prefetch_solvers",
                        lambda expect_stiff=False: calls.append(("prefetch", expect_stiff)))
    monkeypatch.setattr(store, "create", lambda *a, **k: (calls.append(("create",)),
                                                          create(*a, **k))[1])
    text = SMALL.format(save="false").replace('atol = 1e-8', f'atol = 1e-8\nmethod = "{method}"')
    run_sweep(parse_study(text), tmp_path / "s.zarr", figure=False)
    assert calls[:2] == [("prefetch", stiff), ("create",)]


def test_the_phase_diagram_shows_the_mean_over_seeds(reference):
    from flowsim.sweep.phase import phase_values

    tmp, result = reference
    ds = load(result.path)
    study = load_study(small_study(tmp))
    dims, values, title = phase_values(ds, study, "min_weight")
    assert dims == ["d"] and "mean over seed, n=3" in title
    np.testing.assert_allclose(values, ds["min_weight"].mean("seed").values, rtol=1e-15)
    ds["min_weight"].values[0, 1] = np.nan
    dims, values, _ = phase_values(ds, study, "min_weight")
    np.testing.assert_allclose(values[0], ds["min_weight"].values[0, [0, 2]].mean(), rtol=1e-15)

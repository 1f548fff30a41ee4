"""No data lost: the sweep store refuses to overwrite, detects damage on --resume, survives a
full disk, and every error path of the CLI is one line with exit 2."""
from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

xr = pytest.importorskip("xarray")

from flowsim.sweep import StoreError, load_study, run_sweep  # noqa: E402
from flowsim.sweep import store as store_module  # noqa: E402
from flowsim.sweep.__main__ import main  # noqa: E402

STUDY = """
[study]
name = "store"
family = "gaussian"
objective = "reverse_kl"

[target]
kind = "pair"
Lambda = 16.0
d = 2

[init]
kind = "random"
K = 2

[solver]
t_max = 20.0
per_decade = 4
decades = 3

[output]
chunk_size = 2

[axes]
seed = { range = 8 }
"""


@pytest.fixture(scope="module")
def study_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "store.toml"
    path.write_text(STUDY)
    return path


@pytest.fixture(scope="module")
def reference(study_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.zarr"
    run_sweep(load_study(study_file), out, figure=False)
    return load(out)


def load(path):
    return xr.open_zarr(str(path)).load()


def data_vars(ds):
    return ds.drop_vars(["chunk_done", "chunk_digest"])


def one_line(capsys, code) -> str:
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def chunk_file(store: Path, name: str, cid: int) -> Path:
    """The file of chunk `cid` of a one-axis variable (seed axis, chunk size 2)."""
    files = sorted(p for p in (store / name).rglob("*") if p.is_file() and p.name != "zarr.json")
    assert files, name
    by_index = {int(p.relative_to(store / name).parts[-1]): p for p in files}
    return by_index[cid]


# ----------------------------------------------------------------------- no overwrite

def test_existing_store_is_refused_then_overwritten(study_file, tmp_path, capsys, reference):
    out = tmp_path / "s.zarr"
    assert main([str(study_file), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    stamp = (out / "zarr.json").stat().st_mtime_ns
    err = one_line(capsys, main([str(study_file), "--out", str(out), "--quiet"]))
    assert "--resume" in err and "--overwrite" in err
    assert (out / "zarr.json").stat().st_mtime_ns == stamp
    assert main([str(study_file), "--out", str(out), "--quiet", "--overwrite"]) == 0
    xr.testing.assert_identical(data_vars(load(out)), data_vars(reference))


def test_another_study_with_the_same_name_is_refused(study_file, tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert main([str(study_file), "--out", str(out), "--quiet"]) == 0
    other = tmp_path / "store.toml"
    other.write_text(STUDY.replace("Lambda = 16.0", "Lambda = 9.0"))
    capsys.readouterr()
    one_line(capsys, main([str(other), "--out", str(out), "--quiet"]))
    err = one_line(capsys, main([str(other), "--out", str(out), "--quiet", "--resume"]))
    assert "different study" in err


def test_help_documents_resume_and_overwrite(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "--resume" in text and "--overwrite" in text


# ----------------------------------------------------------------------- damage

@pytest.mark.parametrize("damage", ["truncate_data", "delete_data", "truncate_status", "flip_byte"])
def test_a_damaged_chunk_is_recomputed_on_resume(study_file, tmp_path, capsys, reference, damage):
    out = tmp_path / "s.zarr"
    run_sweep(load_study(study_file), out, figure=False)
    name = "status" if damage == "truncate_status" else "reverse_kl"
    f = chunk_file(out, name, 1)
    blob = f.read_bytes()
    if damage == "delete_data":
        f.unlink()
    elif damage == "flip_byte":
        f.write_bytes(blob[:-1] + bytes([blob[-1] ^ 0xFF]))
    else:
        f.write_bytes(blob[: len(blob) // 2])
    assert main([str(study_file), "--out", str(out), "--resume", "--quiet"]) == 0
    assert "1 computed, 3 reused" in capsys.readouterr().out
    xr.testing.assert_identical(data_vars(load(out)), data_vars(reference))


def test_a_missing_array_is_refused_on_resume(study_file, tmp_path, capsys):
    out = tmp_path / "s.zarr"
    run_sweep(load_study(study_file), out, figure=False)
    shutil.rmtree(out / "status")
    err = one_line(capsys, main([str(study_file), "--out", str(out), "--resume", "--quiet"]))
    assert "'status' is missing" in err and "--overwrite" in err


# ----------------------------------------------------------------------- full disk

def test_a_full_disk_stops_with_one_line_and_resume_completes(study_file, tmp_path, capsys,
                                                              reference, monkeypatch):
    out = tmp_path / "s.zarr"
    real = store_module.Writer._write
    calls = []

    def failing(self, cid, results):
        calls.append(cid)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, cid, results)

    monkeypatch.setattr(store_module.Writer, "_write", failing)
    err = one_line(capsys, main([str(study_file), "--out", str(out), "--quiet"]))
    assert "no space left" in err and "--resume" in err
    monkeypatch.setattr(store_module.Writer, "_write", real)
    assert main([str(study_file), "--out", str(out), "--resume", "--quiet"]) == 0
    assert "2 computed, 2 reused" in capsys.readouterr().out
    xr.testing.assert_identical(data_vars(load(out)), data_vars(reference))

@pytest.mark.slow

def test_a_real_full_disk_on_a_small_tmpfs(study_file, tmp_path, reference, subprocess_env):
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        out = mnt / "s.zarr"
        run = subprocess.run([sys.executable, "-m", "flowsim.sweep", str(study_file), "--out",
                              str(out), "--quiet"], capture_output=True, text=True,
                             env=subprocess_env, timeout=300)
        if run.returncode == 0:
            pytest.skip("the store fitted in the tmpfs")
        errors = [line for line in run.stderr.splitlines() if line.startswith("flowsim.sweep:")]
        assert run.returncode == 2 and len(errors) == 1, run.stderr
        assert "no space left" in errors[0] and "Traceback" not in run.stderr
        moved = tmp_path / "moved.zarr"
        shutil.copytree(out, moved)       # space freed: finish it elsewhere
        assert main([str(study_file), "--out", str(moved), "--resume", "--quiet"]) == 0
        xr.testing.assert_identical(data_vars(load(moved)), data_vars(reference))
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# ----------------------------------------------------------------------- unwritable --out

def test_out_under_a_regular_file_is_one_line(study_file, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    err = one_line(capsys, main([str(study_file), "--out", str(blocker / "s.zarr"), "--quiet"]))
    assert err.startswith("flowsim.sweep: --out:")


def test_out_without_permission_is_one_line(study_file, tmp_path, capsys, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(store_module, "_create", denied)
    err = one_line(capsys, main([str(study_file), "--out", str(tmp_path / "s.zarr"), "--quiet"]))
    assert "Permission denied" in err and "--out" in err


def test_out_that_is_not_a_store_is_refused(study_file, tmp_path, capsys):
    (tmp_path / "dir.zarr").mkdir()
    with pytest.raises(StoreError, match="not a flowsim sweep store"):
        run_sweep(load_study(study_file), tmp_path / "dir.zarr", overwrite=True, figure=False)


# ----------------------------------------------------------------------- bad study files

@pytest.mark.parametrize("edit, field", [
    (lambda s: s.replace("Lambda = 16.0", 'Lambda = "half"'), "target.Lambda"),
    (lambda s: s.replace("d = 2", "d = 1000000000"), "target.d"),
    (lambda s: s.replace("range = 8", "range = 1000000000"), "axes.seed.range"),
    (lambda s: s.replace("decades = 3", "decades = 3000000"), "solver.per_decade"),
    (lambda s: s + "\n[options]\nn_quad = 1000000000\n", "options.n_quad"),
    (lambda s: s.replace("seed = { range = 8 }", '"init.bogus" = [1, 2]'), "axes.init.bogus"),
])
def test_study_errors_name_the_field_in_one_line(tmp_path, capsys, edit, field):
    path = tmp_path / "bad.toml"
    path.write_text(edit(STUDY))
    err = one_line(capsys, main([str(path), "--out", str(tmp_path / "x.zarr"), "--quiet"]))
    assert err.startswith(f"flowsim.sweep: {field}"), err
    assert not (tmp_path / "x.zarr").exists()


def test_an_unknown_axis_field_lists_the_allowed_ones(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(STUDY.replace("seed = { range = 8 }", '"init.bogus" = [1, 2]'))
    err = one_line(capsys, main([str(path), "--quiet"]))
    assert "allowed:" in err and "scale" in err


def test_random_bytes_are_one_line(tmp_path, capsys):
    path = tmp_path / "noise.toml"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes())
    err = one_line(capsys, main([str(path)]))
    assert err.startswith("flowsim.sweep: study:")

"""The compiled-kernel disk cache never hands one model's machine code to another.

Every scenario runs real processes on a shared NUMBA_CACHE_DIR and compares each
result with the same run alone in a fresh cache: processes in turn, a process that
loads several models' kernels, processes started together on an empty cache, and a
cold dask sweep followed by local runs from its cache. Before the content-addressed
cache, the first and the last of these gave status ok beside another model's numbers.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from flowsim.numerics import jit

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

RUNNER = r"""
import json, sys
import numpy as np
from flowsim import simulate, VonMisesMixture, GaussianMixture

def circle():
    d = np.radians
    return (VonMisesMixture(d([0, 90, 180, 270]), [50.0] * 4, [0.25] * 4),
            VonMisesMixture(d([10, 45, 135, 225]), [40.0, 30.0, 20.0, 10.0], [.7, .1, .1, .1]))

def gaussian():
    t = GaussianMixture([[-2.0, 0.0, 0.0], [2.0, 0.0, 0.0]], [0.3, 0.7], 1.0)
    q = GaussianMixture([[0.5, 0.3, -0.2], [-0.4, -0.6, 0.1]], [0.5, 0.5], 1.0)
    return t, q

from flowsim.numerics.jit import compiled_count

for spec in sys.argv[1:]:
    family, objective, weights, *geometry = spec.split(":")
    extra = {"geometry": geometry[0]} if geometry else {}
    if extra.get("geometry") == "adam_ode":
        extra["lr"] = 0.01
    target, init = circle() if family == "vonmises" else gaussian()
    before = compiled_count()
    tr = simulate(target, init, objective=objective, weights=weights, t_max=50.0, backend="numba",
                  **extra)
    print(json.dumps({"spec": spec, "status": tr.status, "n_steps": tr.n_steps,
                      "final": tr.states[-1].tolist(), "compiled": compiled_count() - before}))
"""

SPECS = ("vonmises:matched:trainable", "vonmises:matched_bound:fixed",
         "vonmises:matched_reversed:trainable", "vonmises:reverse_kl:trainable",
         "vonmises:forward_kl:fixed", "gaussian:reverse_kl:trainable")
# right-hand sides that are closures with a declared identity (a geometry's wrapper of the
# objective's kernel; an f-divergence's factory closure): they are disk-cached too
CLOSURE_SPECS = ("vonmises:matched:trainable:adam_ode", "vonmises:matched:trainable:natural",
                 "vonmises:js:trainable")


def _env(cache: Path, prefetch: bool = True) -> dict:
    """The environment of a run on the cache `cache`; with `prefetch`, the solver kernels
    missing from it are compiled by other processes (flowsim.integrate.prefetch)."""
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(cache)
    env["FLOWSIM_PREFETCH"] = "1" if prefetch else "0"
    env.pop("NUMBA_NUM_THREADS", None)
    return env


def run_models(cache: Path, *specs, prefetch: bool = True) -> dict:
    """{spec: result} of one process running `specs` in turn on the cache `cache`."""
    out = subprocess.run([sys.executable, "-c", RUNNER, *specs], env=_env(cache, prefetch),
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return {r["spec"]: r for r in rows}


def start_models(cache: Path, specs) -> list:
    """Start one process per spec at once on the cache `cache`."""
    return [subprocess.Popen([sys.executable, "-c", RUNNER, s], env=_env(cache),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for s in specs]


def finish(procs) -> dict:
    results = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-2000:]
        for line in stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                results[row["spec"]] = row
    return results


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict:
    """Each model run alone, in a cache of its own (two processes at a time), compiling
    every kernel itself: the other tests run with the solver kernels compiled by other
    processes, so they also compare those with these."""
    root = tmp_path_factory.mktemp("alone")

    def one(i_spec):
        i, spec = i_spec
        return run_models(root / f"cache{i}", spec, prefetch=False)[spec]

    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(one, enumerate(SPECS)))
    assert all(r["status"] == 0 for r in rows)
    return {r["spec"]: r for r in rows}


def assert_same(result: dict, reference: dict) -> None:
    """The same run: the same status and step count, the final state to rounding.

    Not bit for bit: a kernel compiled while a callee it shares with another model (a
    special function, logsumexp) was compiled in the same process can inline that callee;
    one compiled while the callee came from the disk cache links it as machine code. The
    two round differently (measured: 8e-15 in a final state of size ~4 after 186 steps).
    Another model's solver differs by more than 1e-3 (test_models_differ)."""
    assert result["status"] == reference["status"], result["spec"]
    assert result["n_steps"] == reference["n_steps"], result["spec"]
    ref = np.asarray(reference["final"])
    np.testing.assert_allclose(result["final"], ref, rtol=0.0, atol=1e-12 * max(1.0, np.max(np.abs(ref))),
                               err_msg=result["spec"])


def test_models_differ(alone):
    """The scenarios below could not tell a swapped solver if the models agreed."""
    finals = [np.asarray(alone[s]["final"]) for s in SPECS[:3]]
    for i in range(3):
        for j in range(i):
            assert np.max(np.abs(finals[i] - finals[j])) > 1e-3


def test_processes_in_turn_then_one_process_with_two_models(tmp_path, alone):
    cache = tmp_path / "shared"
    for spec in SPECS[:3]:
        assert_same(run_models(cache, spec)[spec], alone[spec])
    both = run_models(cache, SPECS[1], SPECS[2], SPECS[0])
    for spec in SPECS[:3]:
        assert_same(both[spec], alone[spec])


def test_processes_started_together_on_an_empty_cache(tmp_path, alone):
    cache = tmp_path / "shared"
    specs = SPECS[:4] + SPECS[5:]
    results = finish(start_models(cache, specs))
    for spec in specs:
        assert_same(results[spec], alone[spec])
    after = run_models(cache, *reversed(specs))
    for spec in specs:
        assert_same(after[spec], alone[spec])


def test_cold_dask_sweep_then_local_runs_from_its_cache(tmp_path):
    pytest.importorskip("distributed")
    study = REPO / "studies" / "circle_collapsed.toml"

    def sweep(cache, out, *extra):
        proc = subprocess.run([sys.executable, "-m", "flowsim.sweep", str(study), "--out", str(out),
                               "--quiet", *extra], env=_env(cache), capture_output=True, text=True,
                              timeout=1200)
        assert proc.returncode == 0, proc.stderr[-2000:]
        import xarray as xr
        ds = xr.open_zarr(str(out))
        return {name: ds[name].values for name in ("status", "weights", "final_objective", "n_steps")}

    shared = tmp_path / "shared"
    dask_run = sweep(shared, tmp_path / "dask.zarr", "--executor", "dask")
    local_after = sweep(shared, tmp_path / "local.zarr")
    fresh = sweep(tmp_path / "fresh", tmp_path / "fresh.zarr")
    for name in fresh:                               # exact counts, values to rounding (assert_same)
        check = np.testing.assert_array_equal if name in ("status", "n_steps") else (
            lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol=0.0, atol=1e-12, err_msg=err_msg))
        check(dask_run[name], fresh[name], err_msg=name)
        check(local_after[name], fresh[name], err_msg=name)


def test_closure_right_hand_sides_share_the_disk_cache_and_keep_their_own_code(tmp_path):
    """A second process loads the kernels of closure right-hand sides (nothing compiled),
    and one process holding all of them gets each model's own numbers."""
    alone = {spec: run_models(tmp_path / f"alone{i}", spec)[spec] for i, spec in enumerate(CLOSURE_SPECS)}
    finals = [np.asarray(alone[s]["final"])[:12] for s in CLOSURE_SPECS]     # the mixture's 12
    assert all(np.max(np.abs(a - b)) > 1e-3 for i, a in enumerate(finals) for b in finals[:i])
    cache = tmp_path / "shared"
    for spec in CLOSURE_SPECS:
        first = run_models(cache, spec)[spec]
        assert first["compiled"] > 0
        assert_same(first, alone[spec])
    again = run_models(cache, *reversed(CLOSURE_SPECS))
    for spec in CLOSURE_SPECS:
        assert again[spec]["compiled"] == 0, spec
        assert_same(again[spec], alone[spec])


# ------------------------------------------------------------------- the mechanism

def test_an_entry_loads_only_for_its_own_key(tmp_path):
    store = jit._ContentAddressedFile(str(tmp_path), "mod.f")
    key_a, key_b = ("id", "sig-a", "cpu"), ("id", "sig-b", "cpu")
    store.save(key_a, "payload a")
    store.save(key_b, "payload b")
    assert store.load(key_a) == "payload a" and store.load(key_b) == "payload b"
    store._file(key_b).write_bytes(store._file(key_a).read_bytes())   # a foreign entry in b's place
    assert store.load(key_b) is None
    store._file(key_a).write_bytes(store._file(key_a).read_bytes()[:10])   # a truncated entry
    assert store.load(key_a) is None
    assert not list(tmp_path.glob("*.tmp"))


def test_a_kernel_numba_cannot_cache_warns_and_runs(tmp_path, monkeypatch):
    """A ctypes call is a dynamic global: numba refuses to cache the kernel and warns,
    naming its file; the kernel still runs, and nothing is written."""
    pkg = tmp_path / "pkgdyn"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "dyn.py").write_text(
        "import ctypes, ctypes.util\nfrom flowsim.numerics.jit import kernel\n"
        "libm = ctypes.CDLL(ctypes.util.find_library('m'))\ncos = libm.cos\n"
        "cos.restype = ctypes.c_double\ncos.argtypes = [ctypes.c_double]\n\n@kernel\n"
        "def f(x):\n    return cos(x) + 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    import pkgdyn.dyn as dyn
    from numba.core.errors import NumbaWarning

    with pytest.warns(NumbaWarning, match="Cannot cache"):
        assert dyn.f(0.0) == 2.0
    assert not list((tmp_path / "cache").rglob(f"*{jit.SUFFIX}"))


def test_code_identity_follows_callees_in_other_files_and_ignores_the_rest(tmp_path, monkeypatch):
    pkg = tmp_path / "pkgid"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "callee.py").write_text("from flowsim.numerics.jit import kernel\n\n@kernel\n"
                                   "def g(x):\n    return x + 1.0\n")
    (pkg / "caller.py").write_text("import numpy as np\nfrom flowsim.numerics.jit import kernel\n"
                                   "from .callee import g\nC = np.arange(3.0)\n\n@kernel\n"
                                   "def f(x):\n    return 2.0 * g(x) + C[0]\n")
    (pkg / "other.py").write_text("z = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import pkgid.caller as caller

    def identity():
        importlib.reload(importlib.import_module("pkgid.callee"))
        importlib.reload(caller)
        return jit.code_identity(caller.f)

    first = identity()
    (pkg / "other.py").write_text("z = 2\n")
    assert identity() == first                        # a file the kernel does not reach
    (pkg / "callee.py").write_text("from flowsim.numerics.jit import kernel\n\n@kernel\n"
                                   "def g(x):\n    return x + 2.0\n")
    edited = identity()
    assert edited != first                            # a callee in another file
    assert caller.f(1.0) == 6.0


EDITED_WHILE_RUNNING = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import pkgedit.caller as caller
if len(sys.argv) > 2:       # the source changes on disk after this process imported it
    Path(sys.argv[1], "pkgedit", "callee.py").write_text(sys.argv[2])
print(caller.make()(1.0))
"""


def test_a_source_edited_while_a_process_runs_keeps_its_kernels_apart(tmp_path):
    """A process that imported the old code, then compiles a kernel after its source
    changed on disk, compiles the old code: its entry must not be keyed as the new
    code's, which the next process would load."""
    pkg = tmp_path / "pkgedit"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    callee = "from flowsim.numerics.jit import kernel\n\n@kernel\ndef g(x):\n    return x + {}\n"
    (pkg / "callee.py").write_text(callee.format("1.0"))
    (pkg / "caller.py").write_text(
        "from flowsim.numerics.jit import kernel\nfrom .callee import g\n\n\ndef make():\n"
        "    @kernel(identity='edit.f')\n    def f(x):\n        return 2.0 * g(x)\n"
        "    return f\n")
    env = _env(tmp_path / "cache")

    def run(*args):
        out = subprocess.run([sys.executable, "-c", EDITED_WHILE_RUNNING, str(tmp_path), *args],
                             env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return float(out.stdout.split()[-1])

    assert run(callee.format("2.0")) == 4.0      # the old code: 2 (1 + 1)
    assert run() == 6.0                          # the new code: 2 (1 + 2), not the old entry


def test_code_identity_sees_captured_values():
    def make(arr):
        def f(x):
            return x + arr[0]
        return f

    assert jit.code_identity(make(np.zeros(2))) != jit.code_identity(make(np.ones(2)))
    assert jit.code_identity(make(np.zeros(2))) == jit.code_identity(make(np.zeros(2)))


def test_prune_removes_unused_entries_only(tmp_path):
    old, recent = tmp_path / f"a.1{jit.SUFFIX}", tmp_path / f"b.2{jit.SUFFIX}"
    for f in (old, recent, tmp_path / "notes.txt"):
        f.write_bytes(b"x")
    os.utime(old, (0, 0))
    os.utime(tmp_path / "notes.txt", (0, 0))
    assert jit.prune(tmp_path, max_age_days=30) == [old]
    assert recent.exists() and (tmp_path / "notes.txt").exists()


def test_closures_without_identity_get_distinct_names_and_no_disk_cache():
    def make(c):
        @jit.kernel
        def f(x):
            return x + c
        return f

    f1, f2 = make(1.0), make(2.0)
    assert f1.py_func.__qualname__ != f2.py_func.__qualname__
    assert (f1(1.0), f2(1.0)) == (2.0, 3.0)
    assert not isinstance(f1._cache, jit.KernelCache)


def test_closure_identity_becomes_its_name():
    @jit.kernel(identity="model.a")
    def g(x):
        return x

    assert "model.a" in g.py_func.__qualname__
    assert isinstance(g._cache, jit.KernelCache)


def test_kernel_refuses_numbas_cache_flag():
    with pytest.raises(ValueError, match="cache"):
        jit.kernel(cache=True)


# ------------------------------------------------------------------- two versions, one cache

VERSION_RUNNER = r"""
import numpy as np
from flowsim.integrate import integrate
from flowsim.integrate.testing import linear_params, quadratic_rhs
res = integrate(quadratic_rhs, [1.0, 0.5], linear_params(np.array([[-1.0, 0.3], [0.0, -2.0]])),
                [0.0, 1.0, 3.0], method="auto")
print(repr(res.states[-1].tolist()))
"""


def _version_run(package_root: Path, cache: Path) -> list:
    env = _env(cache)
    env["PYTHONPATH"] = str(package_root)
    out = subprocess.run([sys.executable, "-c", VERSION_RUNNER], env=env, capture_output=True,
                         text=True, timeout=600, cwd=str(package_root))
    assert out.returncode == 0, out.stderr[-2000:]
    return eval(out.stdout.strip().splitlines()[-1])


def test_two_versions_of_the_package_share_one_cache(tmp_path, repo):
    """A second copy of the package whose test rhs differs (another version at another
    path, then the same path edited) runs on the same cache as this one, in turn: every
    process gets its own version's numbers, as in a fresh cache."""
    import shutil

    other = tmp_path / "other"
    shutil.copytree(repo / "flowsim", other / "flowsim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    testing = other / "flowsim" / "integrate" / "testing.py"
    text = testing.read_text()
    assert "out[i] = acc" in text
    testing.write_text(text.replace("out[i] = acc", "out[i] = acc + 0.25", 1))
    shared = tmp_path / "shared"
    fresh_this = _version_run(repo, tmp_path / "fresh_this")
    fresh_other = _version_run(other, tmp_path / "fresh_other")
    assert fresh_this != fresh_other
    for _ in range(2):
        assert _version_run(repo, shared) == fresh_this
        assert _version_run(other, shared) == fresh_other
    testing.write_text(text)                 # the same path, edited back: another version
    assert _version_run(other, shared) == fresh_this


SOLVER_RUNNER = r"""
import sys
import numpy as np
from flowsim import simulate, VonMisesMixture
from flowsim.integrate import solver
from flowsim.numerics.jit import compiled_count
d = np.radians
target = VonMisesMixture(d([0, 90, 180, 270]), [50.0] * 4, [0.25] * 4)
init = VonMisesMixture(d([10, 45, 135, 225]), [40.0, 30.0, 20.0, 10.0], [.7, .1, .1, .1])
simulate(target, init, objective=sys.argv[1], t_max=5.0, backend="numba", method="dopri5")
print(compiled_count(), len(solver.explicit.stats.cache_hits),
      len(solver.explicit.stats.cache_misses))
"""


def test_a_cold_run_says_it_compiles_and_a_second_model_loads_the_shared_solver(tmp_path):
    """On an empty cache the first run prints one line saying what it compiles; a warm run
    prints nothing and compiles nothing; a second model compiles its right-hand side only
    and loads the one explicit solver that the first model compiled (each process compiles
    what it needs itself here: FLOWSIM_PREFETCH=0)."""
    def run(objective):
        out = subprocess.run([sys.executable, "-c", SOLVER_RUNNER, objective],
                             env=_env(tmp_path / "cache", prefetch=False), capture_output=True,
                             text=True, timeout=900, cwd=str(REPO))
        assert out.returncode == 0, out.stderr[-2000:]
        compiled, hits, misses = map(int, out.stdout.split()[-3:])
        said = [line for line in out.stderr.splitlines() if line.startswith("flowsim: compiling")]
        return compiled, hits, misses, said

    compiled, hits, misses, said = run("reverse_kl")
    assert compiled > 0 and (hits, misses) == (0, 1)
    assert len(said) == 1 and "vonmises" in said[0] and "DOPRI5 solvers" in said[0], said
    assert run("reverse_kl") == (0, 1, 0, [])
    compiled, hits, misses, said = run("forward_kl")
    assert compiled > 0 and (hits, misses) == (1, 0) and len(said) == 1


PREFETCH_RUNNER = r"""
import json
import numpy as np
from flowsim import simulate, GaussianMixture
from flowsim.integrate import solver
from flowsim.numerics.jit import compiled_count
t = GaussianMixture([[-2.0, 0.0, 0.0], [2.0, 0.0, 0.0]], [0.3, 0.7], 1.0)
q = GaussianMixture([[0.5, 0.3, -0.2], [-0.4, -0.6, 0.1]], [0.5, 0.5], 1.0)
rows = []
for method in ("auto", "radau5"):
    tr = simulate(t, q, objective="reverse_kl", t_max=200.0, backend="numba", method=method)
    rows.append({"status": tr.status, "n_steps": tr.n_steps, "states": tr.states.tolist()})
loaded = {name: (len(k.stats.cache_hits), len(k.stats.cache_misses))
          for name, k in (("explicit", solver.explicit), ("radau", solver._radau.run))}
print(json.dumps({"rows": rows, "loaded": loaded, "compiled": compiled_count()}))
"""


def _prefetch_run(cache: Path, prefetch: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", PREFETCH_RUNNER], env=_env(cache, prefetch),
                         capture_output=True, text=True, timeout=900, cwd=str(REPO))
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_a_cold_start_has_its_solvers_compiled_by_other_processes_with_the_same_numbers(
        tmp_path):
    """On an empty cache the explicit and Radau IIA kernels are compiled by two other
    processes while this one compiles its right-hand side: this process loads both from
    the disk cache (a hit each, no miss) and its trajectories, through the explicit phase
    and Radau IIA, are bit for bit those of a process that compiles everything itself."""
    prefetched = _prefetch_run(tmp_path / "prefetched", prefetch=True)
    itself = _prefetch_run(tmp_path / "itself", prefetch=False)
    assert prefetched["loaded"] == {"explicit": [1, 0], "radau": [1, 0]}, prefetched["loaded"]
    assert itself["loaded"] == {"explicit": [0, 1], "radau": [0, 1]}, itself["loaded"]
    assert 0 < prefetched["compiled"] < itself["compiled"]
    for ours, theirs in zip(prefetched["rows"], itself["rows"]):
        assert ours["status"] == theirs["status"] == 0
        assert ours["n_steps"] == theirs["n_steps"]
        assert np.array_equal(np.asarray(ours["states"]), np.asarray(theirs["states"]))


def test_a_run_that_waits_for_solvers_another_process_compiles_says_so(tmp_path):
    """Its right-hand side cached and its solvers not (an upgrade that changed the solvers
    only): the run compiles nothing itself but waits for the process that compiles the
    explicit kernel; it says so once, and counts that kernel as compiled."""
    cache = tmp_path / "cache"

    def run(prefetch):
        out = subprocess.run([sys.executable, "-c", SOLVER_RUNNER, "reverse_kl"],
                             env=_env(cache, prefetch), capture_output=True, text=True,
                             timeout=900, cwd=str(REPO))
        assert out.returncode == 0, out.stderr[-2000:]
        said = [line for line in out.stderr.splitlines() if line.startswith("flowsim: compiling")]
        return tuple(map(int, out.stdout.split()[-3:])), said

    run(prefetch=False)
    entries = cache / jit.CACHE_NAME
    removed = (list(entries.glob("flowsim.integrate.solver.explicit.*"))
               + list(entries.glob("flowsim.integrate.radau.run.*")))
    assert removed
    for entry in removed:
        entry.unlink()
    (compiled, hits, misses), said = run(prefetch=True)
    assert (compiled, hits, misses) == (1, 1, 0) and len(said) == 1, (compiled, hits, misses, said)

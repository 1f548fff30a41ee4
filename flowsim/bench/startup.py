"""Cold and warm start, measured in fresh processes (subprocess).

cold = first run with an empty NUMBA_CACHE_DIR (a new temporary directory), so every
cached kernel the command needs is compiled; warm = the second run on that cache.

    start        `python -m flowsim.sweep --help`
    first solve  `python -c "<one numba simulate() of the Gaussian two-mode flow>"`
                 (cold, it compiles the model while two other processes compile the
                 explicit and Radau IIA kernels; the run does not switch to Radau IIA, so
                 it waits for the explicit one only)
    quickstart   `python -m flowsim.sweep studies/quickstart.toml --overwrite` (the
                 README's main command: 80 points, which switch to Radau IIA)
    second model `python -c "<one numba simulate() of the Gaussian two-mode forward KL>"`
                 on a cache where the first solve has run: cold, it compiles only the new
                 model's right-hand side, since every model shares the compiled solver

Each timed command runs in a process group of its own, and the next starts once every
process of that group has ended: a cold run can leave Radau IIA compiling for the next
run (flowsim.integrate.prefetch), which is not timed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_SOLVE = (
    "import numpy as np\n"
    "from flowsim import simulate, GaussianMixture\n"
    "mu = np.zeros((2, 4)); mu[1, 0] = 4.0\n"
    "t = GaussianMixture(mu, [0.5, 0.5], 1.0)\n"
    "q = GaussianMixture(np.eye(2, 4), [0.5, 0.5], 1.0)\n"
    "simulate(t, q, objective='reverse_kl', t_max=10.0, backend='numba')\n"
)
SECOND_MODEL = FIRST_SOLVE.replace("objective='reverse_kl'", "objective='forward_kl'")


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group `pgid` is still running (Linux /proc; False elsewhere)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[0] != "Z" and fields[2] == str(pgid):
            return True
    return False


def _wait_for_group(pgid: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _timed(cmd, env, cwd):
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    _, stderr = proc.communicate()
    dt = time.perf_counter() - t0
    _wait_for_group(proc.pid)
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or [""]
        raise RuntimeError(f"{' '.join(cmd[:3])}: exit {proc.returncode}: {tail[0]}")
    return dt


def cold_warm(cmd, warm_repeats=3, prepare=None):
    """(cold seconds, warm seconds = best of warm_repeats) of `cmd` on a fresh numba cache
    (on which the command `prepare`, if given, has run first, untimed)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory(prefix="flowsim-bench-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        if prepare is not None:
            _timed(prepare, env, root)
        cold = _timed(cmd, env, root)
        warm = min(_timed(cmd, env, root) for _ in range(max(1, warm_repeats)))
    return cold, warm


def run(quick=False) -> dict:
    """--help cold/warm; unless quick, also the first numba simulate() and the quickstart
    sweep, cold and warm."""
    reps = 1 if quick else 3
    res = {}
    try:
        res["cold_s"], res["warm_s"] = cold_warm([sys.executable, "-m", "flowsim.sweep", "--help"],
                                                 reps)
    except (RuntimeError, OSError) as exc:
        res["cold_s"] = res["warm_s"] = None
        res["error"] = str(exc)
    if quick:
        return res
    try:
        res["first_solve_cold_s"], res["first_solve_warm_s"] = cold_warm(
            [sys.executable, "-c", FIRST_SOLVE], reps)
    except (RuntimeError, OSError) as exc:
        res["first_solve_cold_s"] = res["first_solve_warm_s"] = None
        res["first_solve_error"] = str(exc)
    try:
        res["second_model_cold_s"], res["second_model_warm_s"] = cold_warm(
            [sys.executable, "-c", SECOND_MODEL], reps, prepare=[sys.executable, "-c", FIRST_SOLVE])
    except (RuntimeError, OSError) as exc:
        res["second_model_cold_s"] = res["second_model_warm_s"] = None
        res["second_model_error"] = str(exc)
    with tempfile.TemporaryDirectory(prefix="flowsim-bench-out-") as out:
        cmd = [sys.executable, "-m", "flowsim.sweep", "studies/quickstart.toml", "--out",
               os.path.join(out, "q.zarr"), "--overwrite", "--quiet"]
        try:
            res["quickstart_cold_s"], res["quickstart_warm_s"] = cold_warm(cmd, reps)
        except (RuntimeError, OSError) as exc:
            res["quickstart_cold_s"] = res["quickstart_warm_s"] = None
            res["quickstart_error"] = str(exc)
    return res

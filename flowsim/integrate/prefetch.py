"""The model-free solver kernels, compiled by other processes while this one compiles
its model.

numba compiles under one lock per process, so on a cold disk cache a first run compiles,
one after the other on one core, the explicit Runge–Kutta kernel, its model's
right-hand side and, once the run turns stiff, Radau IIA. The two solver kernels know no
model (flowsim.integrate.solver), so other processes can compile them at the same time:
`start(names)` launches, for each kernel, `python -m flowsim.integrate.prefetch <name>=<niceness>`,
which compiles it into the shared disk cache and prints its name once the entry is
written; `wait(name)` blocks until that line, or until that process has ended, after
which the caller's own compile loads the entry from the disk cache (or compiles it, if
the other process could not). Entries are content-addressed and written atomically
(flowsim.numerics.jit), so neither process can load a partial entry or another kernel's.

Radau IIA is needed only once a run turns stiff, so by default its process yields the
CPU (nice 10) to this process and to the explicit kernel's; a caller that expects a stiff
run (a sweep of method "auto" or "radau5" over many points) passes `yielding=()` and all
three share the cores alike. A compiling process outlives a run that ends first, so that
the next run finds Radau IIA compiled. FLOWSIM_PREFETCH=0 turns them off (each process
then compiles what it needs).
Measured: docs/performance.md, Compiling the solvers in a second process.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["start", "compiling", "wait", "KERNELS"]

WAIT_S = 600.0
KERNELS = ("explicit", "radau")
YIELDING = ("radau",)
"""The kernels whose process yields the CPU by default (nice YIELD_NICENESS): Radau IIA is
needed only once a run turns stiff."""
YIELD_NICENESS = 10

_state = threading.Condition()
_processes: dict = {}
_written: set = set()
_ended: set = set()


def enabled() -> bool:
    """Whether other processes may compile the solver kernels (FLOWSIM_PREFETCH != 0)."""
    return os.environ.get("FLOWSIM_PREFETCH", "1").strip() != "0" and bool(sys.executable)


def _read(name, stream, written, ended) -> None:
    try:
        with stream:
            for line in stream:
                with _state:
                    written.add(line.strip())
                    _state.notify_all()
    finally:
        with _state:
            ended.add(name)
            _state.notify_all()


def _launch(name, niceness):
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = package_parent + os.pathsep + env.get("PYTHONPATH", "")
    try:
        return subprocess.Popen([sys.executable, "-m", "flowsim.integrate.prefetch",
                                 f"{name}={niceness}"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env, text=True)
    except OSError:
        return None


def start(names, yielding=YIELDING) -> list:
    """Launch one compiling process for each kernel of `names` (KERNELS) that has none
    yet in this process, those named in `yielding` at nice YIELD_NICENESS; returns the
    names launched."""
    if not enabled():
        return []
    launched = []
    with _state:
        for name in KERNELS:
            if name not in names or name in _processes:
                continue
            process = _launch(name, YIELD_NICENESS if name in yielding else 0)
            if process is None:
                continue
            _processes[name] = process
            launched.append(name)
            threading.Thread(target=_read, args=(name, process.stdout, _written, _ended),
                             daemon=True).start()
    return launched


def compiling(name: str) -> bool:
    """Whether a process started here is still compiling `name`."""
    with _state:
        return name in _processes and name not in _written and name not in _ended


def wait(name: str, timeout: float = WAIT_S) -> bool:
    """Block until the process compiling `name` has written its entry (True), or has
    ended or was never started (False)."""
    with _state:
        if name not in _processes:
            return False
        _state.wait_for(lambda: name in _written or name in _ended, timeout)
        return name in _written


def _main(requests) -> int:
    from . import solver

    for name, niceness in requests:
        if niceness > 0 and hasattr(os, "nice"):
            os.nice(niceness)
        solver.compiled_once(*solver.SOLVER_KERNELS[name])
        try:
            print(name, flush=True)
        except (BrokenPipeError, OSError):
            pass
    return 0


def _requests(args) -> list:
    """[(kernel, niceness)] from arguments `name=niceness`."""
    out = []
    for arg in args:
        name, _, niceness = arg.partition("=")
        if name in KERNELS and niceness.isdigit():
            out.append((name, int(niceness)))
    return out


if __name__ == "__main__":
    sys.exit(_main(_requests(sys.argv[1:])))

"""flowsim.integrate.prefetch: waiting on the processes that compile the solver kernels.

The end-to-end test (a cold start whose solvers another process compiled gives the same
numbers as one that compiles everything itself) is in tests/test_kernel_cache.py."""
import subprocess
import sys
import time

import pytest

from flowsim.integrate import prefetch


@pytest.fixture
def fresh(monkeypatch):
    """prefetch with no process started, whose launches run `script[name]` instead."""
    monkeypatch.setattr(prefetch, "_processes", {})
    monkeypatch.setattr(prefetch, "_written", set())
    monkeypatch.setattr(prefetch, "_ended", set())
    monkeypatch.setenv("FLOWSIM_PREFETCH", "1")
    scripts = {}
    scripts_niceness = scripts.setdefault("niceness", {})

    def launch(name, niceness):
        scripts_niceness[name] = niceness
        return subprocess.Popen([sys.executable, "-c", scripts[name]], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)

    monkeypatch.setattr(prefetch, "_launch", launch)
    yield scripts
    for name, process in prefetch._processes.items():
        process.kill()
        process.wait()
        prefetch.wait(name, timeout=10.0)           # its reader has closed the pipe


def test_wait_returns_once_the_kernel_is_written_and_false_when_its_process_ends_without(fresh):
    fresh["explicit"] = "import time; print('explicit', flush=True); time.sleep(30)"
    fresh["radau"] = "import sys; sys.exit(1)"
    assert prefetch.start(["radau", "explicit"]) == ["explicit", "radau"]
    t0 = time.monotonic()
    assert prefetch.wait("explicit", timeout=20.0)
    assert not prefetch.wait("radau", timeout=20.0)
    assert time.monotonic() - t0 < 15.0
    assert prefetch.start(["explicit", "radau"]) == []          # one process per kernel


def test_nothing_started_means_nothing_to_wait_for(fresh, monkeypatch):
    assert not prefetch.wait("explicit", timeout=0.1)
    monkeypatch.setenv("FLOWSIM_PREFETCH", "0")
    assert prefetch.start(["explicit"]) == []
    assert not prefetch.wait("explicit", timeout=0.1)


def test_a_process_that_cannot_start_is_skipped(fresh, monkeypatch):
    monkeypatch.setattr(prefetch, "_launch", lambda name, niceness: None)
    assert prefetch.start(["explicit"]) == []
    assert not prefetch.wait("explicit", timeout=0.1)


def test_compiling_is_true_only_until_the_kernel_is_written(fresh):
    fresh["explicit"] = "import time; time.sleep(0.5); print('explicit', flush=True)"
    assert not prefetch.compiling("explicit")
    prefetch.start(["explicit"])
    assert prefetch.compiling("explicit")
    assert prefetch.wait("explicit", timeout=20.0)
    assert not prefetch.compiling("explicit")


def test_radau_yields_the_cpu_unless_the_caller_expects_a_stiff_run(fresh):
    fresh["explicit"] = fresh["radau"] = "print('done', flush=True)"
    prefetch.start(["explicit", "radau"])
    assert fresh["niceness"] == {"explicit": 0, "radau": prefetch.YIELD_NICENESS}
    for name, process in prefetch._processes.items():
        process.wait()
        prefetch.wait(name, timeout=10.0)
    prefetch._processes.clear()
    prefetch.start(["explicit", "radau"], yielding=())
    assert fresh["niceness"] == {"explicit": 0, "radau": 0}


def test_the_compiling_process_reads_kernel_and_niceness_and_ignores_the_rest():
    assert prefetch._requests(["explicit=0", "radau=10", "lu=0", "radau", "radau=-5"]) == [
        ("explicit", 0), ("radau", 10)]

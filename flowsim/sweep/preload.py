"""What a sweep reads after its run, imported on a thread while the run computes.

Reading the store needs xarray and drawing the figure matplotlib, about 1 s of imports on
a 2-core machine. `Preload` imports them on a thread that starts when the run first
waits for a solver kernel another process compiles (flowsim.integrate.prefetch), when a
core is idle, or else when the first chunk is back. Measured: docs/performance.md,
Starting the solvers before the sweep's setup.
"""
from __future__ import annotations

import threading

from numba.core import event

from ..numerics.jit import ELSEWHERE

__all__ = ["Preload"]


class Preload(event.Listener):
    """The imports of one sweep (matplotlib's only when it draws a figure): `start`
    launches the thread once, `join` waits for it (starting it first if nothing has),
    `started_on_wait` starts it on the first wait for a kernel compiled elsewhere (it
    listens for the numba event flowsim.numerics.jit.ELSEWHERE)."""

    def __init__(self, figure: bool):
        self.figure = figure
        self.thread = None
        self.lock = threading.Lock()

    def _import(self):
        try:
            import xarray  # noqa: F401
            if self.figure:
                import matplotlib.backends.backend_agg  # noqa: F401
                import matplotlib.figure  # noqa: F401
        except ImportError:
            pass            # raised again where the module is used

    def start(self):
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._import, name="flowsim-imports",
                                               daemon=True)
                self.thread.start()

    def join(self):
        self.start()
        self.thread.join()

    def on_start(self, ev):
        self.start()

    def on_end(self, ev):
        pass

    def started_on_wait(self):
        """A context within which the first wait for a kernel compiled elsewhere starts
        the imports."""
        return event.install_listener(ELSEWHERE, self)

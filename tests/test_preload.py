"""flowsim.sweep.preload: the sweep's later imports, on a thread started by the first
wait for a kernel compiled elsewhere or by the first chunk."""
import subprocess
import sys

from flowsim.numerics.jit import compiled_elsewhere
from flowsim.sweep.preload import Preload


def test_the_first_wait_for_a_kernel_compiled_elsewhere_starts_the_imports_once():
    preload = Preload(figure=False)
    with compiled_elsewhere():
        pass
    assert preload.thread is None                   # a wait outside the context
    with preload.started_on_wait():
        assert preload.thread is None
        with compiled_elsewhere():
            thread = preload.thread
            assert thread is not None
        with compiled_elsewhere():
            pass
    preload.start()
    assert preload.thread is thread
    preload.join()
    assert not thread.is_alive()


def test_join_imports_what_reading_the_store_and_drawing_the_figure_need():
    code = ("import sys\n"
            "from flowsim.sweep.preload import Preload\n"
            "for figure in (False, True):\n"
            "    Preload(figure).join()\n"
            "    print('xarray' in sys.modules, 'matplotlib.figure' in sys.modules,\n"
            "          'matplotlib.backends.backend_agg' in sys.modules, 'matplotlib.pyplot' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["True False False False", "True True True False"]

"""The README's Python example runs and says what its comments say."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example():
    block = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert abs(float(scope["kl"](0.0, 50.0, scope["np"].pi / 4, 50.0)) - 14.49747) < 1e-5
    assert scope["traj"].diagnostics["vanishing_weight"] is True
    assert scope["traj"].final.means.shape == (2, 128)
    assert "weights" in scope["ds"] and "kappa" in scope["ds"]

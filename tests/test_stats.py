"""flowsim.stats: the Wilson interval and the mean with its standard error."""
import math

import numpy as np

from flowsim.stats import mean_sem, wilson


def test_wilson_holds_the_proportion_exactly_at_both_ends():
    for n in range(1, 201):
        for k in range(n + 1):
            lo, hi = wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
        assert wilson(n, n)[1] == 1.0 and wilson(0, n)[0] == 0.0


def test_wilson_matches_its_closed_form():
    z = 1.96
    for n in (5, 40, 1000):
        assert math.isclose(wilson(0, n)[1], z * z / (n + z * z), rel_tol=1e-12)
    lo, hi = wilson(20, 40)
    half = z * math.sqrt(0.25 / 40 + z * z / (4 * 1600)) / (1 + z * z / 40)
    assert math.isclose(lo, 0.5 - half, rel_tol=1e-12) and math.isclose(hi, 0.5 + half, rel_tol=1e-12)
    assert all(math.isnan(x) for x in wilson(0, 0))


def test_mean_sem_ignores_non_finite_values():
    m, se = mean_sem([1.0, 2.0, 3.0, np.nan, np.inf])
    assert m == 2.0 and math.isclose(se, 1.0 / math.sqrt(3.0), rel_tol=1e-12)

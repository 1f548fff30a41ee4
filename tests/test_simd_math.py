"""flowsim.numerics.simd_math against libm (numpy) and mpmath: exp, log, log1p to a few ulp."""
import math

import mpmath
import numpy as np
import pytest
from numba import njit

from flowsim.numerics.simd_math import REASSOC, exp_simd, log1p_unit, log_simd


@njit(fastmath=REASSOC)
def _apply(kind, x, out):
    for i in range(x.shape[0]):
        if kind == 0:
            out[i] = exp_simd(x[i])
        elif kind == 1:
            out[i] = log_simd(x[i])
        else:
            out[i] = log1p_unit(x[i])


@njit(fastmath=REASSOC)
def _sum_exp(x):
    acc = 0.0
    for i in range(x.shape[0]):
        acc += exp_simd(x[i])
    return acc


def apply(kind, x):
    x = np.ascontiguousarray(x, dtype=float)
    out = np.empty_like(x)
    _apply(kind, x, out)
    return out


def ulps(got, ref):
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_exp_within_two_ulp_of_libm_on_a_million_points():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-745, 709.7, 10**6), rng.uniform(-1, 1, 10**5),
                        rng.uniform(-1e-8, 1e-8, 1000)])
    got, ref = apply(0, x), np.exp(x)
    ok = ref > 2.3e-308                                   # normal results: ulp test
    assert ulps(got[ok], ref[ok]).max() <= 2.0
    assert np.abs(got[~ok] - ref[~ok]).max() <= 2 * 4.95e-324   # subnormals: absolute


def test_exp_edges():
    x = np.array([0.0, -0.0, 709.78, 709.79, 710.0, 1e4, -745.0, -745.2, -746.0, -1e4,
                  np.inf, -np.inf, np.nan])
    got = apply(0, x)
    with np.errstate(over="ignore"):
        ref = np.exp(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    fin = np.isfinite(ref) & (ref > 0)
    assert ulps(got[fin], ref[fin]).max() <= 2.0
    assert np.array_equal(got[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])


@pytest.mark.parametrize("x", [-700.5, -20.25, -1.0, -1e-3, 0.3, 7.0, 300.0])
def test_exp_matches_mpmath(x):
    with mpmath.workdps(40):
        ref = float(mpmath.exp(mpmath.mpf(x)))
    assert abs(apply(0, [x])[0] / ref - 1.0) < 3e-16


def test_log_within_two_ulp_of_libm():
    rng = np.random.default_rng(1)
    x = np.concatenate([10.0 ** rng.uniform(-307, 308, 10**6), rng.uniform(0.5, 2.0, 10**5),
                        1.0 + rng.uniform(-1e-6, 1e-6, 10**4), [5e-324, 1e-310, 2.2e-308]])
    got, ref = apply(1, x), np.log(x)
    assert ulps(got, ref).max() <= 2.0


def test_log_edges():
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0, 2.0, 0.5])
        ref = np.log(x)
    got = apply(1, x)
    np.testing.assert_array_equal(got, ref)


def test_log1p_unit_relative_accuracy_down_to_tiny_arguments():
    rng = np.random.default_rng(2)
    e = np.concatenate([rng.uniform(0, 1, 10**6), 10.0 ** rng.uniform(-300, 0, 10**5), [0.0, 1.0]])
    got, ref = apply(2, e), np.log1p(e)
    nz = ref > 0
    assert ulps(got[nz], ref[nz]).max() <= 2.0
    assert got[~nz].max() == 0.0


def test_reassociated_sum_equals_the_plain_sum_to_rounding():
    x = np.random.default_rng(3).uniform(-30, 5, 4097)
    assert math.isclose(_sum_exp(x), math.fsum(np.exp(x)), rel_tol=1e-14)


def _packed_double_ops(dispatcher, *args):
    """Packed double-precision AVX instructions in a fresh (uncached) compile of
    `dispatcher` with its own options, for the types of args."""
    import re

    from numba import njit as _njit
    opts = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("cache", "nopython")}
    fresh = _njit(**opts)(dispatcher.py_func)
    fresh(*args)
    asm = "\n".join(fresh.inspect_asm().values())
    return len(re.findall(r"\bv\w+pd\s+[^\n]*%[yz]mm", asm))


def _cpu_has_avx2():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not _cpu_has_avx2(), reason="packed 256-bit code needs AVX2")
def test_quadrature_loops_compile_to_packed_simd_code():
    """A division under numba's default error model, or an index that may wrap around,
    keeps a node loop scalar (and exp_simd is slower than libm when scalar)."""
    from flowsim.families.gaussian.quadrature import _hermite_sums, _tail_sums, hermite_rule, tail_rule
    from flowsim.families.vonmises.objectives import mixture_kl as cm
    from flowsim.api import build_problem
    from flowsim.families.vonmises.mixture import VonMisesMixture

    x, w = hermite_rule(32)
    t, tw = tail_rule()
    prob = build_problem(VonMisesMixture([0.0, 2.0], [5.0, 8.0], [0.5, 0.5]),
                         VonMisesMixture([0.5, 1.0], [2.0, 3.0], [0.4, 0.6]), objective="reverse_kl")
    assert _packed_double_ops(_hermite_sums, 0.3, 0.5, x, w) >= 20
    assert _packed_double_ops(_tail_sums, 0.3, 4.0, t, tw, tw, tw) >= 20
    assert _packed_double_ops(cm._mixture_kl_loss, prob.y0, prob.params, np.empty(prob.y0.size),
                              cm.REVERSE) >= 20

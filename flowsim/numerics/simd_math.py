"""exp, log and log1p written so that LLVM can vectorise the loops that call them.

numba calls libm's scalar `exp`/`log` from a loop, which keeps the loop scalar (numba
ships vector math only with Intel SVML). These functions are branch-free float code
(polynomials, `floor`, integer shifts and bit casts), inlined into the caller, so a
loop over quadrature nodes compiles to AVX2/AVX-512 instructions. Callers that sum
over such a loop compile with `fastmath=REASSOC` (reassociation only: NaN and inf
keep their IEEE meaning).

exp_simd(x)   (E1) x = n ln2 + r, |r| <= ln2/2 (Cody–Waite: ln2 = LN2_HI + LN2_LO with
              n LN2_HI exact for |n| < 2^11); e^r by its Taylor series to r^13
              (remainder < 0.35^14/14! < 2e-17); 2^n applied as 2^(n/2) 2^(n - n/2) so
              results down to the subnormals and up to overflow are right.
log_simd(x)   (L1) x = 2^e m, m in [1/sqrt2, sqrt2), f = m - 1 (exact); log m = 2 atanh(s),
              s = f/(2 + f), |s| <= 0.1716, summed as f - (f²/2 - s (f²/2 + R)),
              R = 2 sum_{j>=1} s^(2j)/(2j + 1) to j = 11 (remainder < 0.0295^12/25 <
              2e-20; the form of fdlibm's log, so the exact f carries the leading bits);
              subnormal x rescaled by 2^54 first.
log1p_unit(e) (L2) log(1 + e) for e in [0, 1]: (L1) with f = e, |s| <= 1/3, R to j = 17 (the
              terms of (L1) plus z^11 times those from j = 12)
              (remainder < 9^-18/37 < 2e-19); full relative accuracy for tiny e.

Errors against libm: <= 2 ulp (tests/test_simd_math.py over 10^6 points and the edges).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .jit import kernel

# A dict, not a set: numba pickles the fastmath option into every cache key of the
# kernels that call these loops, and a set's order changes with the per-process hash
# seed, so each new process would miss the cache and compile again.
REASSOC = {"reassoc": True, "contract": True}

LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01      # 0x3FE62E42FEE00000: 32 trailing zero bits
LN2_LO = 1.90821492927058770002e-10
SQRT2 = 1.4142135623730951
TWO54 = 18014398509481984.0
DBL_MIN = 2.2250738585072014e-308
_EXP_C = tuple(1.0 / math.factorial(k) for k in range(14))
_ATANH_C = tuple(1.0 / (2 * j + 1) for j in range(18))

__all__ = ["REASSOC", "exp_simd", "log1p_unit", "log_simd"]


@intrinsic
def _bits_to_float(typingctx, x):
    """The float64 whose IEEE bits are the int64 x."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """The IEEE bits of the float64 x as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13 = _EXP_C
A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17 = _ATANH_C


@kernel(inline="always")
def exp_simd(x):
    """e^x (E1); NaN -> NaN, x > 709.79 -> inf, x < -745.2 -> 0."""
    xc = min(max(x, -746.0), 710.0)
    nf = math.floor(xc * LOG2E + 0.5)
    r = (xc - nf * LN2_HI) - nf * LN2_LO
    p = C13
    p = p * r + C12
    p = p * r + C11
    p = p * r + C10
    p = p * r + C9
    p = p * r + C8
    p = p * r + C7
    p = p * r + C6
    p = p * r + C5
    p = p * r + C4
    p = p * r + C3
    p = p * r + C2
    p = p * r + C1
    p = p * r + C0
    n = np.int64(nf)
    n1 = n >> 1
    res = p * _bits_to_float((n1 + 1023) << 52) * _bits_to_float((n - n1 + 1023) << 52)
    return res if x == x else x  # noqa: PLR0124  (NaN test that vectorises; math.isnan does not)


@kernel(inline="always")
def _atanh_tail_11(z):
    """sum_{j=1}^{11} z^(j-1)/(2j + 1)."""
    p = A11
    p = p * z + A10
    p = p * z + A9
    p = p * z + A8
    p = p * z + A7
    p = p * z + A6
    p = p * z + A5
    p = p * z + A4
    p = p * z + A3
    p = p * z + A2
    return p * z + A1


@kernel(inline="always")
def log_simd(x):
    """log x (L1); log 0 = -inf, log x<0 = NaN, log inf = inf, NaN -> NaN."""
    sub = x < DBL_MIN
    xs = x * TWO54 if sub else x
    bits = _float_to_bits(xs)
    e = ((bits >> 52) & 0x7FF) - 1023
    if sub:
        e -= 54
    m = _bits_to_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    if m > SQRT2:
        m *= 0.5
        e += 1
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    hfsq = 0.5 * f * f
    lm = f - (hfsq - s * (hfsq + 2.0 * z * _atanh_tail_11(z)))
    ef = np.float64(e)
    res = ef * LN2_HI + (lm + ef * LN2_LO)
    if x == 0.0:
        res = -math.inf
    if not (x >= 0.0):
        res = math.nan
    if x == math.inf:
        res = math.inf
    return res


@kernel(inline="always")
def log1p_unit(e):
    """log(1 + e) for 0 <= e <= 1 (L2), relative error ~1 ulp even for e -> 0."""
    s = e / (2.0 + e)
    z = s * s
    hfsq = 0.5 * e * e
    z2 = z * z
    z4 = z2 * z2
    high = ((((A17 * z + A16) * z + A15) * z + A14) * z + A13) * z + A12
    p = _atanh_tail_11(z) + (z4 * z4 * z2 * z) * high
    return e - (hfsq - s * (hfsq + 2.0 * z * p))

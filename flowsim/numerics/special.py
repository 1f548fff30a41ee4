"""Numba-compatible special functions for the von Mises and Gaussian families.

Every scalar function is a numba ufunc (flowsim.numerics.jit.ufunc, compiled for float64
on first use): it broadcasts over numpy arrays and can be called with scalars inside
kernels.

Symbols
-------
=====================  ====================================================
k                      concentration κ (any real; the functions extend to k < 0
                       by parity)
I0, I1                 modified Bessel functions of the first kind (DLMF 10.25)
i0e, i1e               exp(-|x|) I0(x), exp(-|x|) I1(x)
A(k)                   I1(k) / I0(k), the mean resultant length of vM(0, k)
u(k)                   1 - A(k)
A'(k)                  dA/dk = 1 - A/k - A^2
log_i0(k)              log I0(k)
sigmoid, log_sigmoid   1/(1 + e^-x) and its log
softplus               log(1 + e^x)
=====================  ====================================================

Branches: |k| <= ``K_ASYMPTOTIC`` uses the Chebyshev expansions of i0e and i1e
(Cephes) and a positive-term power series for A'; above it, u and A' come from
the large-k expansion u(k) = sum_n c_n k^-n, whose coefficients follow from the
Riccati equation for A.
"""

from fractions import Fraction
import math

import numpy as np
from .jit import kernel, ufunc

__all__ = [
    "K_ASYMPTOTIC",
    "chbevl",
    "i0e",
    "i1e",
    "log_i0",
    "bessel_ratio",
    "one_minus_bessel_ratio",
    "bessel_ratio_prime",
    "sigmoid",
    "log_sigmoid",
    "softplus",
    "logsumexp",
    "softmax",
    "gauss_hermite",
]

K_ASYMPTOTIC = 30.0

_I0_A = np.array([
    -4.41534164647933937950e-18, 3.33079451882223809783e-17,
    -2.43127984654795469359e-16, 1.71539128555513303061e-15,
    -1.16853328779934516808e-14, 7.67618549860493561688e-14,
    -4.85644678311192946090e-13, 2.95505266312963983461e-12,
    -1.72682629144155570723e-11, 9.67580903537323691224e-11,
    -5.18979560163526290666e-10, 2.65982372468238665035e-9,
    -1.30002500998624804212e-8, 6.04699502254191894932e-8,
    -2.67079385394061173391e-7, 1.11738753912010371815e-6,
    -4.41673835845875056359e-6, 1.64484480707288970893e-5,
    -5.75419501008210370398e-5, 1.88502885095841655729e-4,
    -5.76375574538582365885e-4, 1.63947561694133579842e-3,
    -4.32430999505057594430e-3, 1.05464603945949983183e-2,
    -2.37374148058994688156e-2, 4.93052842396707084878e-2,
    -9.49010970480476444210e-2, 1.71620901522208775349e-1,
    -3.04682672343198398683e-1, 6.76795274409476084995e-1,
])

_I0_B = np.array([
    -7.23318048787475395456e-18, -4.83050448594418207126e-18,
    4.46562142029675999901e-17, 3.46122286769746109310e-17,
    -2.82762398051658348494e-16, -3.42548561967721913462e-16,
    1.77256013305652638360e-15, 3.81168066935262242075e-15,
    -9.55484669882830764870e-15, -4.15056934728722208663e-14,
    1.54008621752140982691e-14, 3.85277838274214270114e-13,
    7.18012445138366623367e-13, -1.79417853150680611778e-12,
    -1.32158118404477131188e-11, -3.14991652796324136454e-11,
    1.18891471078464383424e-11, 4.94060238822496958910e-10,
    3.39623202570838634515e-9, 2.26666899049817806459e-8,
    2.04891858946906374183e-7, 2.89137052083475648297e-6,
    6.88975834691682398426e-5, 3.36911647825569408990e-3,
    8.04490411014108831608e-1,
])

_I1_A = np.array([
    2.77791411276104639959e-18, -2.11142121435816608115e-17,
    1.55363195773620046921e-16, -1.10559694773538630805e-15,
    7.60068429473540693410e-15, -5.04218550472791168711e-14,
    3.22379336594557470981e-13, -1.98397439776494371520e-12,
    1.17361862988909016308e-11, -6.66348972350202774223e-11,
    3.62559028155211703701e-10, -1.88724975172282928790e-9,
    9.38153738649577178388e-9, -4.44505912879632808065e-8,
    2.00329475355213526229e-7, -8.56872026469545474066e-7,
    3.47025130813767847674e-6, -1.32731636560394358279e-5,
    4.78156510755005422638e-5, -1.61760815825896745588e-4,
    5.12285956168575772895e-4, -1.51357245063125314899e-3,
    4.15642294431288815669e-3, -1.05640848946261981558e-2,
    2.47264490306265168283e-2, -5.29459812080949914269e-2,
    1.02643658689847095384e-1, -1.76416518357834055153e-1,
    2.52587186443633654823e-1,
])

_I1_B = np.array([
    7.51729631084210481353e-18, 4.41434832307170791151e-18,
    -4.65030536848935832153e-17, -3.20952592199342395980e-17,
    2.96262899764595013876e-16, 3.30820231092092828324e-16,
    -1.88035477551078244854e-15, -3.81440307243700780478e-15,
    1.04202769841288027642e-14, 4.27244001671195135429e-14,
    -2.10154184277266431302e-14, -4.08355111109219731823e-13,
    -7.19855177624590851209e-13, 2.03562854414708950722e-12,
    1.41258074366137813316e-11, 3.25260358301548823856e-11,
    -1.89749581235054123450e-11, -5.58974346219658380687e-10,
    -3.83538038596423702205e-9, -2.63146884688951950684e-8,
    -2.51223623787020892529e-7, -3.88256480887769039346e-6,
    -1.10588938762623716291e-4, -9.76109749136146840777e-3,
    7.78576235018280120474e-1,
])


def _asymptotic_coefficients(n):
    """c_1..c_n of u(k) = 1 - A(k) ~ sum_m c_m k^-m (exact rationals).

    Substituting A = 1 - u into A' = 1 - A/k - A^2 and matching powers of 1/k
    gives c_1 = 1/2 and c_m = ((m - 2) c_{m-1} + sum_{i+j=m} c_i c_j) / 2.
    """
    c = [Fraction(0), Fraction(1, 2)]
    for m in range(2, n + 1):
        c.append(((m - 2) * c[m - 1] + sum(c[i] * c[m - i] for i in range(1, m))) / 2)
    return c[1:]


_N_ASYMPTOTIC = 24
_U_C = np.array([float(c) for c in _asymptotic_coefficients(_N_ASYMPTOTIC)])
_DU_C = _U_C * np.arange(1, _N_ASYMPTOTIC + 1)
_M = np.arange(160.0)
_N_TERM_RATIO = (2 * _M + 1) * (2 * _M + 2) / ((_M + 1) ** 2 * (_M + 2) ** 2)


@kernel
def chbevl(x, coef):
    """Sum of a Chebyshev series, highest order first (Cephes chbevl.c)."""
    b0 = coef[0]
    b1 = 0.0
    b2 = 0.0
    for i in range(1, coef.shape[0]):
        b2 = b1
        b1 = b0
        b0 = x * b1 - b2 + coef[i]
    return 0.5 * (b0 - b2)


@kernel
def _horner(x, coef):
    """sum_n coef[n] x^(n+1)."""
    s = 0.0
    for i in range(coef.shape[0] - 1, -1, -1):
        s = (s + coef[i]) * x
    return s


@kernel
def _i0_minus_one(k):
    """I0(k) - 1 = sum_{m>=1} (k^2/4)^m / m!^2 (DLMF 10.25.2), for |k| < 1."""
    q = 0.25 * k * k
    t = 1.0
    s = 0.0
    for m in range(1, 12):
        t *= q / (m * m)
        s += t
    return s


@ufunc()
def i0e(x):
    """exp(-|x|) I0(x) by Chebyshev expansions on [0, 8] and (8, inf) (Cephes i0.c, i0e)."""
    ax = abs(x)
    if ax <= 8.0:
        return chbevl(0.5 * ax - 2.0, _I0_A)
    return chbevl(32.0 / ax - 2.0, _I0_B) / math.sqrt(ax)


@ufunc()
def i1e(x):
    """exp(-|x|) I1(x), odd, by Chebyshev expansions on [0, 8] and (8, inf) (Cephes i1.c, i1e)."""
    ax = abs(x)
    if ax <= 8.0:
        z = chbevl(0.5 * ax - 2.0, _I1_A) * ax
    else:
        z = chbevl(32.0 / ax - 2.0, _I1_B) / math.sqrt(ax)
    return -z if x < 0.0 else z


@ufunc()
def log_i0(k):
    """log I0(k) = log(i0e(k)) + |k|; for |k| < 1, log1p(I0 - 1) by the power series DLMF 10.25.2."""
    ak = abs(k)
    if ak < 1.0:
        return math.log1p(_i0_minus_one(ak))
    if ak == math.inf:
        return ak
    return math.log(i0e(ak)) + ak


@ufunc()
def one_minus_bessel_ratio(k):
    """u(k) = 1 - I1(k)/I0(k) = (i0e - i1e)/i0e; for k > K_ASYMPTOTIC the expansion sum_m c_m k^-m (see module docstring)."""
    if k > K_ASYMPTOTIC:
        return _horner(1.0 / k, _U_C)
    e0 = i0e(k)
    return (e0 - i1e(k)) / e0


@ufunc()
def bessel_ratio(k):
    """A(k) = I1(k)/I0(k) = i1e/i0e (odd); 1 - u(|k|) for |k| > K_ASYMPTOTIC."""
    ak = abs(k)
    if ak > K_ASYMPTOTIC:
        a = 1.0 - _horner(1.0 / ak, _U_C)
        return -a if k < 0.0 else a
    return i1e(k) / i0e(k)


@ufunc()
def bessel_ratio_prime(k):
    """A'(k) = 1 - A/k - A^2 (even), evaluated without cancellation.

    |k| <= K_ASYMPTOTIC: A' = (I0^2 + I0 I2 - 2 I1^2) / (2 I0^2) = N(k) / (2 I0^2) with
    N(k) = sum_m (2m)! / (m!^2 (m+1)!^2) (k/2)^{2m}, all terms positive (Cauchy
    product of the series DLMF 10.25.2; the cancelling parts cancel exactly in the
    coefficients); I0 by its power series for |k| < 1, else I0^2 = i0e^2 e^{2|k|}.
    |k| > K_ASYMPTOTIC: A' = -u'(k) = sum_m m c_m k^-(m+1).
    """
    ak = abs(k)
    if ak > K_ASYMPTOTIC:
        return _horner(1.0 / ak, _DU_C) / ak
    q = 0.25 * ak * ak
    t = 1.0
    s = 1.0
    for m in range(_N_TERM_RATIO.shape[0]):
        t *= q * _N_TERM_RATIO[m]
        s += t
        if t <= 1e-17 * s:
            break
    if ak < 1.0:
        i0 = 1.0 + _i0_minus_one(ak)
        return 0.5 * s / (i0 * i0)
    e = i0e(ak)
    return 0.5 * s * math.exp(-2.0 * ak) / (e * e)


@ufunc()
def sigmoid(x):
    """1 / (1 + e^-x), evaluated with a non-positive exponent for either sign of x."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@ufunc()
def softplus(x):
    """log(1 + e^x) = max(x, 0) + log1p(e^-|x|)."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@ufunc()
def log_sigmoid(x):
    """log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(e^-|x|)."""
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


@kernel
def logsumexp(a):
    """log sum_i exp(a_i) for a 1-D float64 array, shifted by max(a); -inf if every a_i = -inf."""
    m = -math.inf
    for i in range(a.shape[0]):
        if a[i] > m or math.isnan(a[i]):
            m = a[i]
    if not math.isfinite(m):
        return m
    s = 0.0
    for i in range(a.shape[0]):
        s += math.exp(a[i] - m)
    return m + math.log(s)


@kernel
def softmax(z, out):
    """out_i = exp(z_i - max z) / sum_j exp(z_j - max z) for 1-D float64 arrays; returns out."""
    m = -math.inf
    for i in range(z.shape[0]):
        m = max(m, z[i])
    s = 0.0
    for i in range(z.shape[0]):
        out[i] = math.exp(z[i] - m)
        s += out[i]
    for i in range(z.shape[0]):
        out[i] /= s
    return out


def gauss_hermite(n):
    """Nodes x and weights w with sum_i w_i f(x_i) = E f(xi), xi ~ N(0, 1), exact for
    polynomials of degree <= 2n - 1 (probabilists' Gauss-Hermite, numpy hermegauss,
    weights normalised to sum 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()

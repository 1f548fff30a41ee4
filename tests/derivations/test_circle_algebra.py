"""Derivations only: sympy proofs of the algebra behind the circle objectives
(docs/derivations.md, V1, M1–M3), written inside the tests. The kernels are tested against
independent computations elsewhere (tests/test_objectives.py, tests/test_circle_flows.py,
tests/test_special.py)."""
import numpy as np
import sympy as sp


def test_softmax_chain_rules_by_sympy():
    z = sp.symbols("z0:4")
    c = sp.symbols("c0:4", positive=True)
    rho = sp.Rational(1, 4)
    norm = sum(sp.exp(zi) for zi in z)
    w = [sp.exp(zi) / norm for zi in z]
    loss = sum(wi * ci for wi, ci in zip(w, c))
    bound = sum(wi * (sp.log(wi / rho) + ci) for wi, ci in zip(w, c))
    point = {**{zi: v for zi, v in zip(z, (0.3, -1.2, 0.7, 0.1))}, **{ci: v for ci, v in zip(c, (2.0, 0.5, 7.0, 1.5))}}
    for j in range(4):
        replicator = w[j] * (c[j] - loss)
        assert abs(float((sp.diff(loss, z[j]) - replicator).evalf(30, subs=point))) < 1e-25
        b_j = sp.log(w[j] / rho) + c[j]
        assert abs(float((sp.diff(bound, z[j]) - w[j] * (b_j - bound)).evalf(30, subs=point))) < 1e-25
    lam = sp.Symbol("lambda")
    reg = lam * sum((wi - sp.Rational(1, 4)) ** 2 for wi in w)
    mean = sum(wi * (wi - sp.Rational(1, 4)) for wi in w)
    for j in range(4):
        formula = 2 * lam * w[j] * ((w[j] - sp.Rational(1, 4)) - mean)
        assert abs(float((sp.diff(reg, z[j]) - formula).evalf(30, subs={**point, lam: 0.9}))) < 1e-25


def test_sympy_bessel_ratio_derivative():
    k = sp.Symbol("k", positive=True)
    a = sp.besseli(1, k) / sp.besseli(0, k)
    diff = sp.diff(a, k) - (1 - a / k - a**2)
    assert sp.simplify(diff.rewrite(sp.besseli).subs(sp.besseli(-1, k), sp.besseli(1, k))
                       .subs(sp.besseli(2, k), sp.besseli(0, k) - 2 * sp.besseli(1, k) / k)) == 0
    rng = np.random.default_rng(2)
    for v in rng.uniform(0.01, 40.0, 6):
        assert abs(diff.evalf(40, subs={k: sp.Float(v, 40)})) < 1e-25

"""Derivations only: sympy proofs of the algebra behind the Gaussian reduction
(docs/derivations.md, G1, R1–R4), written inside the tests. The code that implements the
results is tested against independent computations elsewhere (tests/test_objectives.py,
tests/test_gaussian_fullspace.py)."""
import sympy as sp


def test_projection_algebra():
    # (G1): du_k/dt = a_k Delta + sum_l b_kl u_l  =>  dm_k/dt, dQ_kl/dt in overlaps only.
    d = 4
    D = sp.Matrix(sp.symbols("D0:4"))
    u = [sp.Matrix(sp.symbols(f"u{k}_0:4")) for k in range(2)]
    a = sp.symbols("a1 a2")
    b = sp.Matrix(2, 2, sp.symbols("b11 b12 b21 b22"))
    du = [a[k] * D + b[k, 0] * u[0] + b[k, 1] * u[1] for k in range(2)]
    Lam = D.dot(D)
    m = [u[k].dot(D) for k in range(2)]
    Q = [[u[k].dot(u[l]) for l in range(2)] for k in range(2)]
    for k in range(2):
        assert sp.expand(du[k].dot(D) - (a[k] * Lam + b[k, 0] * m[0] + b[k, 1] * m[1])) == 0
        for l in range(2):
            lhs = du[k].dot(u[l]) + u[k].dot(du[l])
            rhs = (a[k] * m[l] + sum(b[k, i] * Q[i][l] for i in range(2))
                   + a[l] * m[k] + sum(b[l, i] * Q[i][k] for i in range(2)))
            assert sp.expand(lhs - rhs) == 0
    # the reverse-KL vector flow (R1) is of this form: w_k (gamma_k Delta - u_k)/tau + c (u_k - u_k')/v
    w1, w2, g1, g2, c, tau, v = sp.symbols("w1 w2 g1 g2 c tau v", positive=True)
    flow1 = w1 * (g1 * D - u[0]) / tau + c * (u[0] - u[1]) / v
    form1 = (w1 * g1 / tau) * D + (-w1 / tau + c / v) * u[0] + (-c / v) * u[1]
    assert sp.simplify(flow1 - form1) == sp.zeros(d, 1)


def test_stein_identities():
    x, nu, c, k = sp.symbols("x nu c k", real=True)
    v = sp.symbols("v", positive=True)
    dens = sp.exp(-(x - nu) ** 2 / (2 * v)) / sp.sqrt(2 * sp.pi * v)
    E = lambda f: sp.simplify(sp.integrate(f * dens, (x, -sp.oo, sp.oo)))
    for f in (sp.exp(c * x), x ** 3 + k * x ** 2):
        # first order: E[(x - nu) f] = v E[f']  and  d/dnu E f = E f'
        assert sp.simplify(E((x - nu) * f) - v * E(sp.diff(f, x))) == 0
        assert sp.simplify(sp.diff(E(f), nu) - E(sp.diff(f, x))) == 0
        # variance: d/dv E f = E f''/2  (so d/ds E f = (v/2) E f'' with s = log v)
        assert sp.simplify(sp.diff(E(f), v) - E(sp.diff(f, x, 2)) / 2) == 0


def test_gaussian_kl_closed_form():
    x, nu, mu = sp.symbols("x nu mu", real=True)
    v, tau = sp.symbols("v tau", positive=True)
    q = sp.exp(-(x - nu) ** 2 / (2 * v)) / sp.sqrt(2 * sp.pi * v)
    logq = -(x - nu) ** 2 / (2 * v) - sp.log(2 * sp.pi * v) / 2
    logp = -(x - mu) ** 2 / (2 * tau) - sp.log(2 * sp.pi * tau) / 2
    kl = sp.integrate(q * (logq - logp), (x, -sp.oo, sp.oo))
    closed = (v / tau - 1 - sp.log(v / tau)) / 2 + (nu - mu) ** 2 / (2 * tau)
    assert sp.simplify(sp.expand_log(kl - closed, force=True)) == 0


def test_weight_equation():
    # L = int q log(q/p) on a discrete proxy measure, q = w_1 a + w_2 b, w = softmax(theta):
    # dL/dtheta_1 = w_1 w_2 (F_1 - F_2), F_1 = sum_i a_i log(q_i/p_i) (sum a = sum b = 1).
    th1, th2 = sp.symbols("theta1 theta2", real=True)
    a = sp.symbols("a0:3", positive=True)
    b = sp.symbols("b0:3", positive=True)
    p = sp.symbols("p0:3", positive=True)
    w1 = sp.exp(th1) / (sp.exp(th1) + sp.exp(th2))
    w2 = 1 - w1
    q = [w1 * a[i] + w2 * b[i] for i in range(3)]
    L = sum(q[i] * sp.log(q[i] / p[i]) for i in range(3))
    F1 = sum(a[i] * sp.log(q[i] / p[i]) for i in range(3))
    F2 = sum(b[i] * sp.log(q[i] / p[i]) for i in range(3))
    expr = sp.diff(L, th1) - w1 * w2 * (F1 - F2)
    expr = expr.subs({a[2]: 1 - a[0] - a[1], b[2]: 1 - b[0] - b[1]})
    assert sp.simplify(expr) == 0

"""Higher-order derivatives through ``backward(create_graph=True)``.

References: sympy's symbolic derivatives evaluated at 30 digits (unary ops,
pow, mul, div, mixed partials, a third derivative), and, for every row of
OP_CASES, central differences of the (finite-difference-checked) gradient in
the direction of a random vector: a Hessian-vector product check that reaches
the second-order rules of every VJP, fused kernels and scatter included.
"""

import numpy as np
import pytest
import sympy as sp
from cases import OP_CASES
from gradcheck_helper import analytic_gradients, weights_for

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")

S, X, Y = sp.symbols("s x y", real=True)

REAL_POINTS = np.array([-1.7, -0.6, -0.2, 0.3, 0.9, 1.8])
POSITIVE_POINTS = np.array([0.3, 0.7, 1.0, 1.6, 2.5, 4.0])
ABOVE_MINUS_ONE = np.array([-0.7, -0.3, 0.2, 0.8, 1.5, 3.0])

# op: (sympy expression in S, points). relu and abs are piecewise: the points avoid
# the kink, where sympy's Piecewise derivative is the classical one.
UNARY = {
    "neg": (-S, REAL_POINTS),
    "abs": (sp.Piecewise((S, S > 0), (-S, True)), REAL_POINTS),
    "exp": (sp.exp(S), REAL_POINTS),
    "log": (sp.log(S), POSITIVE_POINTS),
    "log1p": (sp.log(1 + S), ABOVE_MINUS_ONE),
    "expm1": (sp.exp(S) - 1, REAL_POINTS),
    "sqrt": (sp.sqrt(S), POSITIVE_POINTS),
    "square": (S ** 2, REAL_POINTS),
    "sin": (sp.sin(S), REAL_POINTS),
    "cos": (sp.cos(S), REAL_POINTS),
    "tanh": (sp.tanh(S), REAL_POINTS),
    "sigmoid": (1 / (1 + sp.exp(-S)), REAL_POINTS * 2),
    "relu": (sp.Piecewise((S, S > 0), (0, True)), REAL_POINTS),
    "softplus": (sp.log(1 + sp.exp(S)), REAL_POINTS * 2),
}


def sympy_eval(expr, subs_list):
    """Evaluate ``expr`` at each substitution dict, with 30 significant digits."""
    return np.array([float(sp.N(expr.subs({k: sp.Float(v, 30) for k, v in s.items()}), 30))
                     for s in subs_list])


def sympy_unary(expr, points, order):
    d = sp.diff(expr, S, order)
    return sympy_eval(d, [{S: p} for p in points])


def grad_or_zeros(t):
    return np.zeros(t.shape) if t.grad is None else np.array(t.grad.numpy())


def differentiate(out, wrt, retain=False):
    """d sum(out) / d wrt (each a list of leaves); zeros where out is constant in them.

    A gradient that does not depend on the inputs is a constant (it does not require
    grad), so its own derivative is zero, as in PyTorch.
    """
    for t in wrt:
        t.grad = None
    if out.requires_grad:
        out.sum().backward(retain_graph=retain, create_graph=True)
    result = [grad_or_zeros(t) for t in wrt]
    grads = [t.grad for t in wrt]
    for t in wrt:
        t.grad = None
    return result, grads


# ----- unary ops against sympy ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_second_derivative_matches_sympy(name):
    expr, points = UNARY[name]
    x = ad.Tensor(points, requires_grad=True)
    ad_fn = getattr(ad, name)
    ad_fn(x).sum().backward(create_graph=True)
    g1 = x.grad
    np.testing.assert_allclose(g1.numpy(), sympy_unary(expr, points, 1), rtol=1e-12, atol=1e-14)
    x.grad = None
    if g1.requires_grad:
        g1.sum().backward()
        second = x.grad.numpy()
    else:
        second = np.zeros_like(points)  # a constant gradient: the function is linear
    np.testing.assert_allclose(second, sympy_unary(expr, points, 2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "log", "sin", "softplus", "sqrt"])
def test_unary_third_derivative_matches_sympy(name):
    expr, points = UNARY[name]
    x = ad.Tensor(points, requires_grad=True)
    out = getattr(ad, name)(x)
    derivs = []
    for _ in range(3):
        (d,), (gt,) = differentiate(out, [x])
        derivs.append(d)
        out = gt
    for order, d in enumerate(derivs, start=1):
        np.testing.assert_allclose(d, sympy_unary(expr, points, order), rtol=1e-11, atol=1e-13,
                                   err_msg=f"derivative of order {order}")


def test_tanh_fourth_derivative_matches_sympy():
    points = REAL_POINTS
    x = ad.Tensor(points, requires_grad=True)
    out = ad.tanh(x)
    for _ in range(4):
        (d,), (out,) = differentiate(out, [x])
    np.testing.assert_allclose(d, sympy_unary(sp.tanh(S), points, 4), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("exponent", [3, 2, 1, 0, -1, 0.5, 2.5, -1.5])
def test_pow_scalar_exponent_second_derivative_matches_sympy(exponent):
    points = POSITIVE_POINTS
    x = ad.Tensor(points, requires_grad=True)
    (d1,), (g1,) = differentiate(x ** exponent, [x])
    (d2,), _ = differentiate(g1, [x]) if g1 is not None else ((np.zeros(6),), None)
    expr = S ** sp.nsimplify(exponent)
    np.testing.assert_allclose(d1, sympy_unary(expr, points, 1), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d2, sympy_unary(expr, points, 2), rtol=1e-12, atol=1e-14)


def test_pow_negative_base_integer_exponent_second_derivative_matches_sympy():
    points = REAL_POINTS
    x = ad.Tensor(points, requires_grad=True)
    (d1,), (g1,) = differentiate(x ** 3, [x])
    (d2,), _ = differentiate(g1, [x])
    np.testing.assert_allclose(d1, 3 * points ** 2, rtol=1e-13)
    np.testing.assert_allclose(d2, sympy_unary(S ** 3, points, 2), rtol=1e-13)


# ----- two-input functions: full second-order blocks against sympy -------------------------

BINARY = {
    # id: (function on tensors, sympy expression in X, Y, x points, y points)
    "pow-tensor-exponent": (lambda x, y: x ** y, X ** Y, POSITIVE_POINTS, REAL_POINTS),
    "mul": (lambda x, y: x * y, X * Y, REAL_POINTS, REAL_POINTS[::-1]),
    "mul-squared": (lambda x, y: x * x * y, X * X * Y, REAL_POINTS, REAL_POINTS[::-1]),
    "div": (lambda x, y: x / y, X / Y, REAL_POINTS, POSITIVE_POINTS),
    "div-reflected": (lambda x, y: (x * x) / (1.0 + y * y), X ** 2 / (1 + Y ** 2), REAL_POINTS,
                      REAL_POINTS[::-1]),
    "mixed-sin-exp": (lambda x, y: ad.sin(x * y) + ad.exp(x) / y,
                      sp.sin(X * Y) + sp.exp(X) / Y, REAL_POINTS, POSITIVE_POINTS),
    "sub-tanh": (lambda x, y: ad.tanh(x - 2.0 * y) * y, sp.tanh(X - 2 * Y) * Y, REAL_POINTS,
                 REAL_POINTS[::-1]),
}


def second_order_blocks(fn, xv, yv):
    """(fx, fy), and (fxx, fxy, fyx, fyy) elementwise, from nested backward passes."""
    x = ad.Tensor(xv, requires_grad=True)
    y = ad.Tensor(yv, requires_grad=True)
    (fx, fy), (gx, gy) = differentiate(fn(x, y), [x, y])
    (fxx, fxy), _ = differentiate(gx, [x, y], retain=True) if gx is not None else \
        ((np.zeros_like(xv), np.zeros_like(yv)), None)
    (fyx, fyy), _ = differentiate(gy, [x, y]) if gy is not None else \
        ((np.zeros_like(xv), np.zeros_like(yv)), None)
    return (fx, fy), (fxx, fxy, fyx, fyy)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_second_derivatives_match_sympy(name):
    fn, expr, xv, yv = BINARY[name]
    (fx, fy), (fxx, fxy, fyx, fyy) = second_order_blocks(fn, xv, yv)
    subs = [{X: a, Y: b} for a, b in zip(xv, yv)]
    ref = {
        "fx": sympy_eval(sp.diff(expr, X), subs),
        "fy": sympy_eval(sp.diff(expr, Y), subs),
        "fxx": sympy_eval(sp.diff(expr, X, 2), subs),
        "fxy": sympy_eval(sp.diff(expr, X, Y), subs),
        "fyy": sympy_eval(sp.diff(expr, Y, 2), subs),
    }
    got = {"fx": fx, "fy": fy, "fxx": fxx, "fxy": fxy, "fyy": fyy}
    for key, expected in ref.items():
        np.testing.assert_allclose(got[key], expected, rtol=1e-11, atol=1e-13, err_msg=key)
    # d/dy (df/dx) and d/dx (df/dy) are the same mixed partial.
    np.testing.assert_allclose(fyx, ref["fxy"], rtol=1e-11, atol=1e-13, err_msg="fyx")


def test_mixed_partial_with_broadcasting_matches_sympy():
    # f(x_i, y_j) over a (3, 1) x (4,) grid: d/dx_i sum_j f_x(x_i, y_j) = sum_j f_xx(x_i, y_j).
    xv = np.array([[0.4], [1.1], [2.0]])
    yv = np.array([-0.5, 0.3, 1.2, 2.2])
    fn = lambda x, y: x ** y * ad.sin(y)
    expr = X ** Y * sp.sin(Y)
    (fx, fy), (fxx, fxy, fyx, fyy) = second_order_blocks(fn, xv, yv)
    grid = [{X: a, Y: b} for a in xv[:, 0] for b in yv]

    def on_grid(e):
        return sympy_eval(e, grid).reshape(3, 4)

    np.testing.assert_allclose(fx, on_grid(sp.diff(expr, X)).sum(1, keepdims=True), rtol=1e-11)
    np.testing.assert_allclose(fy, on_grid(sp.diff(expr, Y)).sum(0), rtol=1e-11)
    np.testing.assert_allclose(fxx, on_grid(sp.diff(expr, X, 2)).sum(1, keepdims=True),
                               rtol=1e-11)
    # d/dy_j sum_i f_x(x_i, y_j) (gx summed over its elements, then differentiated by y).
    np.testing.assert_allclose(fxy, on_grid(sp.diff(expr, X, Y)).sum(0), rtol=1e-11)
    np.testing.assert_allclose(fyx, on_grid(sp.diff(expr, X, Y)).sum(1, keepdims=True),
                               rtol=1e-11)
    np.testing.assert_allclose(fyy, on_grid(sp.diff(expr, Y, 2)).sum(0), rtol=1e-11)


# ----- create_graph semantics --------------------------------------------------------------

def test_create_graph_gradient_requires_grad_only_when_asked():
    x = ad.Tensor([0.5, 1.5], requires_grad=True)
    ad.exp(x).sum().backward()
    assert not x.grad.requires_grad
    x.grad = None
    ad.exp(x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    np.testing.assert_allclose(x.grad.numpy(), np.exp([0.5, 1.5]), rtol=1e-15)


def test_create_graph_float32_second_derivative_stays_float32():
    pts = np.array([-0.5, 0.25, 1.0], dtype=np.float32)
    x = ad.Tensor(pts, requires_grad=True)
    ad.tanh(x).sum().backward(create_graph=True)
    g1 = x.grad
    assert g1.dtype == np.float32
    x.grad = None
    g1.sum().backward()
    assert x.grad.dtype == np.float32
    t = np.tanh(pts.astype(np.float64))
    np.testing.assert_allclose(x.grad.numpy(), -2 * t * (1 - t * t), rtol=1e-5)


def test_create_graph_hessian_of_logsumexp_matches_closed_form(rng):
    # Hessian of logsumexp = diag(p) - p p^T; its rows are gradients of the gradient.
    v = rng.standard_normal(4)
    x = ad.Tensor(v, requires_grad=True)
    ad.logsumexp(x).backward(create_graph=True)
    g = x.grad
    p = np.exp(v - v.max()) / np.exp(v - v.max()).sum()
    np.testing.assert_allclose(g.numpy(), p, rtol=1e-13)
    rows = []
    for i in range(4):
        x.grad = None
        g[i].backward(retain_graph=True)
        rows.append(x.grad.numpy().copy())
    np.testing.assert_allclose(np.array(rows), np.diag(p) - np.outer(p, p), rtol=1e-12,
                               atol=1e-15)


def test_create_graph_hessian_of_quadratic_form_matches_closed_form(rng):
    # f(x) = x^T A x has Hessian A + A^T: second order through matmul and transpose.
    a = rng.standard_normal((3, 3))
    v = rng.standard_normal(3)
    x = ad.Tensor(v, requires_grad=True)
    (x @ ad.Tensor(a) @ x).backward(create_graph=True)
    g = x.grad
    np.testing.assert_allclose(g.numpy(), (a + a.T) @ v, rtol=1e-12)
    rows = []
    for i in range(3):
        x.grad = None
        g[i].backward(retain_graph=True)
        rows.append(x.grad.numpy().copy())
    np.testing.assert_allclose(np.array(rows), a + a.T, rtol=1e-12)


# ----- every op: Hessian-vector products against differences of the gradient ---------------

HVP_EPS = 1e-5  # error ~ eps^2 |g'''| + 1e-16 |g| / eps: about 1e-10 for our O(1) inputs
HVP_CASES = [c for c in OP_CASES if c.gradcheck]


def _gradients(case, arrays, w):
    return analytic_gradients(case.fn, arrays, w)[1]


@pytest.mark.parametrize("case", HVP_CASES, ids=[c.id for c in HVP_CASES])
def test_op_hessian_vector_product_matches_finite_differences(case, rng):
    arrays = case.inputs(rng)
    w = weights_for(np.shape(case.ref(*arrays)))
    vs = [rng.standard_normal(a.shape) for a in arrays]

    # Analytic: d/dx [ sum_i <grad_i L(x), v_i> ] with the gradient recorded.
    xs = [ad.Tensor(a, requires_grad=True) for a in arrays]
    (case.fn(*xs) * w).sum().backward(create_graph=True)
    terms = [(x.grad * v).sum() for x, v in zip(xs, vs)
             if x.grad is not None and x.grad.requires_grad]
    for x in xs:
        x.grad = None
    if terms:
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        total.backward()
    hvp = [grad_or_zeros(x) for x in xs]

    # Numeric: central difference of the first-order gradient along v.
    plus = _gradients(case, [a + HVP_EPS * v for a, v in zip(arrays, vs)], w)
    minus = _gradients(case, [a - HVP_EPS * v for a, v in zip(arrays, vs)], w)
    for i, (h, p, m) in enumerate(zip(hvp, plus, minus)):
        np.testing.assert_allclose(h, (p - m) / (2 * HVP_EPS), rtol=1e-6, atol=1e-7,
                                   err_msg=f"Hessian-vector product, input {i}")

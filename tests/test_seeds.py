"""The worked examples of the seed documents (../shared/seeds/), on vectors.

000: ``a*b``, ``a + a*b``, ``(x + c)*x`` (two paths: 2x + c) and the squared-error
line ``L = (y - (m*x + c))*(y - (m*x + c))``. 003: ``(x + y)*y`` and
``z = (12 - x*exp(y)) / (45 + x*y*exp(-x))`` against sympy. Each is checked
against its closed form or sympy, elementwise on shape-(5,) inputs.
"""

import numpy as np
import pytest
import sympy as sp

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
def ab(rng):
    return rng.standard_normal(5), rng.standard_normal(5)


def leaves(*arrays):
    return [ad.Tensor(a, requires_grad=True) for a in arrays]


def test_seed_mul_gradients_swap_operands(ab):
    av, bv = ab
    a, b = leaves(av, bv)
    z = a * b
    np.testing.assert_array_equal(z.numpy(), av * bv)
    z.backward(gradient=np.ones(5))
    np.testing.assert_array_equal(a.grad.numpy(), bv)
    np.testing.assert_array_equal(b.grad.numpy(), av)


def test_seed_add_mul_gradients(ab):
    av, bv = ab
    a, b = leaves(av, bv)
    z = a + a * b
    np.testing.assert_allclose(z.numpy(), av + av * bv, rtol=1e-15)
    z.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 1 + bv, rtol=1e-15)
    np.testing.assert_array_equal(b.grad.numpy(), av)


def test_seed_two_paths_gradient_is_2x_plus_c(ab):
    xv, cv = ab
    x, c = leaves(xv, cv)
    z = (x + c) * x
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv + cv, rtol=1e-14)
    np.testing.assert_allclose(c.grad.numpy(), xv, rtol=1e-15)


def test_seed_two_paths_with_constant_c(ab):
    # c a plain number, as in the article's diagram: only x is a variable.
    xv, _ = ab
    (x,) = leaves(xv)
    ((x + 3.0) * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xv + 3.0, rtol=1e-14)


def test_seed_squared_error_line_matches_closed_form(rng):
    # Data vectors x, y; scalar parameters m, c (0-d tensors): the gradient of the summed
    # loss sums over the data (broadcasting), as in least squares.
    xv, yv = rng.standard_normal(5), rng.standard_normal(5)
    mv, cv = 0.7, -0.3
    x, y = ad.Tensor(xv), ad.Tensor(yv)
    m, c = leaves(np.array(mv), np.array(cv))
    L = (y - (m * x + c)) * (y - (m * x + c))
    r = yv - (mv * xv + cv)
    np.testing.assert_allclose(L.numpy(), r * r, rtol=1e-14)
    L.sum().backward()
    assert m.grad.shape == () and c.grad.shape == ()
    np.testing.assert_allclose(m.grad.item(), np.sum(-2 * xv * r), rtol=1e-13)
    np.testing.assert_allclose(c.grad.item(), np.sum(-2 * r), rtol=1e-13)


def test_seed_squared_error_line_elementwise_all_inputs(rng):
    # Every symbol a vector of 5 independent values: dL/dv elementwise, as the article derives.
    xv, yv, mv, cv = (rng.standard_normal(5) for _ in range(4))
    x, y, m, c = leaves(xv, yv, mv, cv)
    L = (y - (m * x + c)) * (y - (m * x + c))
    L.backward(gradient=np.ones(5))
    r = yv - (mv * xv + cv)
    np.testing.assert_allclose(y.grad.numpy(), 2 * r, rtol=1e-13)
    np.testing.assert_allclose(m.grad.numpy(), -2 * r * xv, rtol=1e-13)
    np.testing.assert_allclose(x.grad.numpy(), -2 * r * mv, rtol=1e-13)
    np.testing.assert_allclose(c.grad.numpy(), -2 * r, rtol=1e-13)


def test_seed_sum_times_y_gradient(rng):
    # 003: z2 = (x + y) * y, dz2/dy = x + 2y (13 at x=3, y=5).
    xv = np.array([3.0, 1.0, -2.0, 0.5, 4.0])
    yv = np.array([5.0, -1.0, 2.5, 0.0, 1.5])
    x, y = leaves(xv, yv)
    ((x + y) * y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), xv + 2 * yv)
    np.testing.assert_array_equal(x.grad.numpy(), yv)
    assert y.grad.numpy()[0] == 13.0


# ----- the article's z against sympy --------------------------------------------------------

XS, YS = sp.symbols("x y", real=True)
Z_EXPR = (12 - XS * sp.exp(YS)) / (45 + XS * YS * sp.exp(-XS))


def _z(x, y):
    return (12 - x * ad.exp(y)) / (45 + x * y * ad.exp(-x))


def _sympy_at(expr, xv, yv):
    return np.array([float(sp.N(expr.subs({XS: sp.Float(a, 30), YS: sp.Float(b, 30)}), 30))
                     for a, b in zip(xv, yv)])


def test_seed_article_z_gradient_at_3_5_matches_sympy():
    x, y = leaves(np.array(3.0), np.array(5.0))
    z = _z(x, y)
    z.backward()
    dzdx = float(sp.N(sp.diff(Z_EXPR, XS).subs({XS: 3, YS: 5}), 30))
    dzdy = float(sp.N(sp.diff(Z_EXPR, YS).subs({XS: 3, YS: 5}), 30))
    np.testing.assert_allclose(z.item(), float(sp.N(Z_EXPR.subs({XS: 3, YS: 5}), 30)),
                               rtol=1e-14)
    np.testing.assert_allclose(x.grad.item(), dzdx, rtol=1e-13)
    np.testing.assert_allclose(y.grad.item(), dzdy, rtol=1e-13)
    # The reference itself agrees with the values the article prints.
    assert abs(dzdx - -3.34729777301069) < 1e-12
    assert abs(dzdy - -9.70176956641438) < 1e-12


def test_seed_article_z_vectorized_matches_sympy():
    xv = np.array([3.0, 0.5, 1.7, -0.8, 2.2])
    yv = np.array([5.0, -1.0, 0.3, 1.4, 2.0])
    x, y = leaves(xv, yv)
    z = _z(x, y)
    np.testing.assert_allclose(z.numpy(), _sympy_at(Z_EXPR, xv, yv), rtol=1e-13)
    z.backward(gradient=np.ones(5))
    np.testing.assert_allclose(x.grad.numpy(), _sympy_at(sp.diff(Z_EXPR, XS), xv, yv),
                               rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), _sympy_at(sp.diff(Z_EXPR, YS), xv, yv),
                               rtol=1e-12)


def test_seed_article_z_second_derivatives_match_sympy():
    # The article returns derivatives as graphs, so derivatives of derivatives work.
    xv = np.array([3.0, 0.5, 1.7])
    yv = np.array([5.0, -1.0, 0.3])
    x, y = leaves(xv, yv)
    _z(x, y).sum().backward(create_graph=True)
    gx = x.grad
    x.grad = y.grad = None
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _sympy_at(sp.diff(Z_EXPR, XS, 2), xv, yv),
                               rtol=1e-11)
    np.testing.assert_allclose(y.grad.numpy(), _sympy_at(sp.diff(Z_EXPR, XS, YS), xv, yv),
                               rtol=1e-11)


def test_seed_article_z_float32(rng):
    xv = np.array([3.0, 0.5, 1.7], dtype=np.float32)
    yv = np.array([5.0, -1.0, 0.3], dtype=np.float32)
    x = ad.Tensor(xv, requires_grad=True)
    y = ad.Tensor(yv, requires_grad=True)
    z = _z(x, y)
    assert z.dtype == np.float32
    z.sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), _sympy_at(sp.diff(Z_EXPR, XS), xv, yv),
                               rtol=1e-5)
    np.testing.assert_allclose(y.grad.numpy(), _sympy_at(sp.diff(Z_EXPR, YS), xv, yv),
                               rtol=1e-5)

"""The function transforms: ``grad``, ``value_and_grad``, ``jacobian``, ``hessian``.

References: closed-form derivatives written out by hand, sympy's symbolic
derivatives, central differences of numpy code, and (when installed) HIPS
autograd and PyTorch's own transforms.
"""

import contextlib
import inspect
import sys
import warnings

import numpy as np
import pytest
import sympy as sp

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")


def arr(t):
    assert isinstance(t, ad.Tensor), f"expected a Tensor, got {type(t).__name__}"
    return np.array(t.numpy())


def sum_sin(x):
    return ad.sin(x).sum()


def numeric_grad(fn, x, eps=1e-6):
    """Central differences of the numpy function ``fn`` at ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (fn(xp) - fn(xm)) / (2 * eps)
    return g


# ----- grad -------------------------------------------------------------------------------

def test_grad_of_sum_sin_is_cos(rng):
    x = rng.standard_normal((3, 4))
    g = ad.grad(sum_sin)(x)
    np.testing.assert_allclose(arr(g), np.cos(x), rtol=1e-13)
    assert g.shape == (3, 4) and g.dtype == np.float64
    assert not g.requires_grad


@pytest.mark.parametrize("kind", ["ndarray", "list", "tensor", "tensor_rg"])
def test_grad_accepts_arrays_lists_and_tensors(kind, rng):
    x = rng.standard_normal((2, 3))
    arg = {"ndarray": x, "list": x.tolist(), "tensor": ad.Tensor(x),
           "tensor_rg": ad.Tensor(x, requires_grad=True)}[kind]
    g = ad.grad(lambda t: (t * t * t).sum())(arg)
    np.testing.assert_allclose(arr(g), 3 * x ** 2, rtol=1e-13)


@pytest.mark.parametrize("value, expected", [(2.0, 12.0), (3, 27.0), (np.float64(-1.5), 6.75)])
def test_grad_accepts_python_and_numpy_numbers(value, expected):
    g = ad.grad(lambda x: x ** 3)(value)
    assert g.shape == () and g.dtype == np.float64
    assert g.item() == pytest.approx(expected, rel=1e-14)


def test_grad_keeps_float32(rng):
    x = rng.standard_normal(5).astype(np.float32)
    g = ad.grad(sum_sin)(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(arr(g), np.cos(x.astype(np.float64)), rtol=1e-5)
    g = ad.grad(sum_sin)(ad.Tensor(x))
    assert g.dtype == np.float32


def test_grad_second_derivative_closed_form(rng):
    # f(x) = x^3 + sin(x) x: f'' = 6x + 2cos(x) - x sin(x)
    def f(x):
        return x ** 3 + ad.sin(x) * x

    for x in rng.uniform(-2, 2, 5):
        d2 = ad.grad(ad.grad(f))(x)
        assert d2.item() == pytest.approx(6 * x + 2 * np.cos(x) - x * np.sin(x), rel=1e-12)


def test_grad_third_and_fourth_derivatives_of_tanh_match_sympy():
    s = sp.Symbol("s")
    g3 = ad.grad(ad.grad(ad.grad(ad.tanh)))
    g4 = ad.grad(g3)
    for x in (-1.3, 0.2, 0.9):
        d3 = float(sp.diff(sp.tanh(s), s, 3).subs(s, x))
        d4 = float(sp.diff(sp.tanh(s), s, 4).subs(s, x))
        assert g3(x).item() == pytest.approx(d3, rel=1e-11)
        assert g4(x).item() == pytest.approx(d4, rel=1e-10)


def test_grad_argnums_int_and_tuple(rng):
    x, y, z = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(3)

    def f(x, y, z):
        return (x * ad.exp(y) + z * z).sum()

    np.testing.assert_allclose(arr(ad.grad(f, argnums=1)(x, y, z)), x * np.exp(y), rtol=1e-13)
    gx, gz = ad.grad(f, argnums=(0, 2))(x, y, z)
    np.testing.assert_allclose(arr(gx), np.exp(y), rtol=1e-13)
    np.testing.assert_allclose(arr(gz), 2 * z, rtol=1e-13)
    (gz2,) = ad.grad(f, argnums=(-1,))(x, y, z)
    np.testing.assert_allclose(arr(gz2), 2 * z, rtol=1e-13)
    ga, gb = ad.grad(f, argnums=(1, 1))(x, y, z)
    np.testing.assert_allclose(arr(ga), x * np.exp(y), rtol=1e-13)
    np.testing.assert_allclose(arr(gb), x * np.exp(y), rtol=1e-13)


def test_grad_of_unused_argument_is_zeros_of_its_shape(rng):
    x = rng.standard_normal((2, 3))
    with pytest.warns(UserWarning, match=r"grad: Output seems independent of input\. .*argnums=1"):
        gx, gy = ad.grad(lambda x, y: (x * 2.0).sum(), argnums=(0, 1))(x, np.ones((4, 1)))
    np.testing.assert_array_equal(arr(gx), np.full((2, 3), 2.0))
    assert gy.shape == (4, 1)
    np.testing.assert_array_equal(arr(gy), np.zeros((4, 1)))


def test_grad_of_constant_function_is_zero():
    with pytest.warns(UserWarning, match="Output seems independent of input"):
        g = ad.grad(lambda x: 3.0)(np.ones(3))
    np.testing.assert_array_equal(arr(g), np.zeros(3))
    with pytest.warns(UserWarning, match="Output seems independent of input"):
        g = ad.grad(lambda x: ad.Tensor(5.0))([1.0, 2.0])
    np.testing.assert_array_equal(arr(g), np.zeros(2))


def test_grad_of_identity_is_one():
    assert ad.grad(lambda x: x)(4.0).item() == 1.0


def test_grad_non_scalar_output_raises_value_error_naming_grad_and_shape():
    with pytest.raises(ValueError, match=r"grad: .*shape \(3,\)"):
        ad.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(ValueError, match=r"value_and_grad: .*shape \(2, 2\)"):
        ad.value_and_grad(lambda x: x * 2)(np.ones((2, 2)))


def test_grad_one_element_output_of_any_shape(rng):
    x = rng.standard_normal(4)
    g = ad.grad(lambda x: x.sum().reshape(1, 1))(x)
    np.testing.assert_array_equal(arr(g), np.ones(4))


def test_grad_bad_argnums_raise_type_error():
    with pytest.raises(TypeError, match="argnums"):
        ad.grad(sum_sin, argnums="0")
    with pytest.raises(TypeError, match="argnums"):
        ad.grad(sum_sin, argnums=())
    with pytest.raises(TypeError, match=r"argnums=2 requires at least 3 positional"):
        ad.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_grad_bad_output_and_argument_types_raise_type_error():
    with pytest.raises(TypeError, match="grad: f must return"):
        ad.grad(lambda x: "no")(1.0)
    with pytest.raises(TypeError, match="grad: argument 0"):
        ad.grad(lambda x: x)("text")


def test_grad_keeps_signature_and_passes_keywords():
    def f(x, scale=1.0, *, shift=0.0):
        """Doc."""
        return (x * scale + shift).sum()

    g = ad.grad(f)
    assert inspect.signature(g) == inspect.signature(f)
    assert g.__name__ == "f"
    np.testing.assert_array_equal(arr(g(np.ones(2), 3.0, shift=1.0)), [3.0, 3.0])


def test_grad_does_not_mutate_user_array(rng):
    x = rng.standard_normal(4)
    before = x.copy()
    g = ad.grad(lambda t: (t * t).sum())(x)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(arr(g), x)
    g.data[...] = 0.0  # the result is the caller's to change
    np.testing.assert_array_equal(x, before)


def test_grad_leaves_user_tensor_grad_alone(rng):
    x = ad.Tensor(rng.standard_normal(3), requires_grad=True)
    old = ad.Tensor([7.0, 7.0, 7.0])
    x.grad = old
    g = ad.grad(lambda t: (t * t).sum())(x)
    assert x.grad is old
    np.testing.assert_array_equal(arr(x.grad), [7.0, 7.0, 7.0])
    np.testing.assert_allclose(arr(g), 2 * x.numpy(), rtol=1e-14)
    x.grad = None
    ad.grad(lambda t: (t * t).sum())(x)
    assert x.grad is None


def test_grad_leaves_closure_parameter_grad_alone_and_keeps_history(rng):
    # f(x) = sum(w x^2): df/dx = 2 w x, and d/dw sum(2 w x) = 2 x.
    w = ad.Tensor(rng.standard_normal(3), requires_grad=True)
    x = rng.standard_normal(3)
    g = ad.grad(lambda t: (w * t * t).sum())(x)
    assert w.grad is None
    np.testing.assert_allclose(arr(g), 2 * w.numpy() * x, rtol=1e-14)
    # The gradient depends on w, which requires grad: it carries history to w.
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(arr(w.grad), 2 * x, rtol=1e-14)


def test_grad_of_recorded_tensor_carries_history(rng):
    # d/dx [d/dx sum(x^3)] summed = d/dx sum(3 x^2) = 6 x
    x = ad.Tensor(rng.standard_normal(4), requires_grad=True)
    g = ad.grad(lambda t: (t ** 3).sum())(x)
    np.testing.assert_allclose(arr(g), 3 * x.numpy() ** 2, rtol=1e-14)
    assert g.requires_grad and x.grad is None
    g.sum().backward()
    np.testing.assert_allclose(arr(x.grad), 6 * x.numpy(), rtol=1e-14)


def test_grad_of_non_leaf_argument_keeps_its_history(rng):
    # h(x) = sum(cos(2x)) = sum(grad(sum sin)(2x)); dh/dx = -2 sin(2x)
    x = rng.standard_normal(5)
    h = ad.grad(lambda x: ad.grad(sum_sin)(2 * x).sum())(x)
    np.testing.assert_allclose(arr(h), -2 * np.sin(2 * x), rtol=1e-13)


def test_grad_nested_through_closure(rng):
    # inner: d/dx sum(x^2 y) = 2 x y; outer: d/dy sum(2 x0 y) = 2 x0 (a vector y)
    x0, y0 = rng.standard_normal(3), rng.standard_normal(3)

    def outer(y):
        return ad.grad(lambda x: (x * x * y).sum())(x0).sum()

    np.testing.assert_allclose(arr(ad.grad(outer)(y0)), 2 * x0, rtol=1e-14)


def test_grad_hessian_vector_product(rng):
    # f = sum(exp(x) * x[::-1]): H v by differentiating <grad f, v>, against numpy's Hessian.
    x, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(t):
        return (ad.exp(t) * t[::-1]).sum()

    hv = ad.grad(lambda t: (ad.grad(f)(t) * v).sum())(x)
    n = len(x)
    hess = np.diag(np.exp(x) * x[::-1])
    for i in range(n):
        hess[i, n - 1 - i] += np.exp(x[i])
        hess[n - 1 - i, i] += np.exp(x[i])
    np.testing.assert_allclose(arr(hv), hess @ v, rtol=1e-12)


def test_grad_inside_no_grad_still_differentiates_without_history(rng):
    x = ad.Tensor(rng.standard_normal(3), requires_grad=True)
    with ad.no_grad():
        g = ad.grad(sum_sin)(x)
        assert not ad.is_grad_enabled()
    np.testing.assert_allclose(arr(g), np.cos(x.numpy()), rtol=1e-14)
    assert not g.requires_grad
    assert ad.is_grad_enabled()


def test_grad_restores_state_when_f_raises():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)

    def bad(t):
        raise RuntimeError("boom")

    with ad.no_grad():
        with pytest.raises(RuntimeError, match="boom"):
            ad.grad(bad)(x)
        assert not ad.is_grad_enabled()
    assert x.grad is None


def test_grad_top_level_result_has_no_history(rng):
    g = ad.grad(lambda x: (x ** 3).sum())(rng.standard_normal(3))
    assert not g.requires_grad and g.is_leaf
    h = ad.hessian(lambda x: (x ** 3).sum())(rng.standard_normal(3))
    assert not h.requires_grad and h.is_leaf


def test_grad_closure_graph_survives(rng):
    # A recorded result held by the closure can still be backpropagated afterwards.
    w = ad.Tensor(rng.standard_normal(3), requires_grad=True)
    h = ad.exp(w)
    ad.grad(lambda x: (h * x).sum())(np.ones(3))
    h.sum().backward()
    np.testing.assert_allclose(arr(w.grad), np.exp(w.numpy()), rtol=1e-14)


def test_grad_long_chain_does_not_recurse():
    n = 50_000  # two ops per step: 10**5 recorded ops
    c = 1.0 + 1e-5

    def f(x):
        y = x
        for _ in range(n):
            y = y * c + 1e-6
        return y.sum()

    limit = sys.getrecursionlimit()
    g = ad.grad(f)(np.array([0.5, -1.0]))
    assert sys.getrecursionlimit() == limit
    np.testing.assert_allclose(arr(g), np.full(2, np.exp(n * np.log1p(1e-5))), rtol=1e-9)


def test_grad_matches_hips_autograd(rng):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    w = rng.standard_normal((4, 3))
    x = rng.standard_normal(4)

    def f_ad(x):
        return ad.logsumexp(ad.tanh(x @ w) * 2.0) + (x * x).mean()

    def f_ag(x):
        z = anp.tanh(anp.dot(x, w)) * 2.0
        return anp.log(anp.sum(anp.exp(z))) + anp.mean(x * x)

    np.testing.assert_allclose(arr(ad.grad(f_ad)(x)), autograd.grad(f_ag)(x), rtol=1e-12)
    np.testing.assert_allclose(arr(ad.hessian(f_ad)(x)), autograd.hessian(f_ag)(x),
                               rtol=1e-10, atol=1e-12)


# ----- value_and_grad ---------------------------------------------------------------------

def test_value_and_grad_returns_both(rng):
    x = rng.standard_normal(5)
    value, g = ad.value_and_grad(sum_sin)(x)
    assert isinstance(value, ad.Tensor)
    assert value.item() == pytest.approx(np.sin(x).sum(), rel=1e-14)
    np.testing.assert_allclose(arr(g), np.cos(x), rtol=1e-14)
    assert not value.requires_grad


def test_value_and_grad_argnums_tuple(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    value, (gx, gy) = ad.value_and_grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, y)
    assert value.item() == pytest.approx(x @ y, rel=1e-14)
    np.testing.assert_allclose(arr(gx), y, rtol=1e-14)
    np.testing.assert_allclose(arr(gy), x, rtol=1e-14)


def test_value_and_grad_nested_value_carries_history(rng):
    # d/dx [value * grad] of f = sum(x^2)/2 ... value = |x|^2/2, grad = x:
    # d/dx sum(value * grad) = x * sum(x) + value * 1
    x = rng.standard_normal(3)

    def outer(t):
        value, g = ad.value_and_grad(lambda s: (s * s).sum() / 2)(t)
        return (value * g).sum()

    expected = x * x.sum() + (x @ x) / 2
    np.testing.assert_allclose(arr(ad.grad(outer)(x)), expected, rtol=1e-13)


# ----- jacobian ---------------------------------------------------------------------------

def test_jacobian_of_square_is_diagonal(rng):
    x = rng.standard_normal(4)
    jac = ad.jacobian(lambda t: t * t)(x)
    assert jac.shape == (4, 4)
    np.testing.assert_allclose(arr(jac), np.diag(2 * x), rtol=1e-14)


def test_jacobian_of_linear_map_is_the_matrix(rng):
    a, x = rng.standard_normal((3, 5)), rng.standard_normal(5)
    np.testing.assert_allclose(arr(ad.jacobian(lambda t: a @ t)(x)), a, rtol=1e-14)


def test_jacobian_shape_is_out_shape_plus_in_shape(rng):
    w, x = rng.standard_normal((2, 3)), rng.standard_normal(3)
    jac = ad.jacobian(lambda w, x: ad.tanh(w @ x), argnums=0)(w, x)
    assert jac.shape == (2, 2, 3)
    # d tanh(w x)_i / d w_jk = [i == j] (1 - tanh^2(w x)_i) x_k
    d = 1 - np.tanh(w @ x) ** 2
    expected = np.einsum("ij,i,k->ijk", np.eye(2), d, x)
    np.testing.assert_allclose(arr(jac), expected, rtol=1e-13)


def test_jacobian_argnums_tuple_and_scalar_output(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    jx, jy = ad.jacobian(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, y)
    assert jx.shape == (3,) and jy.shape == (3,)
    np.testing.assert_allclose(arr(jx), y, rtol=1e-14)
    np.testing.assert_allclose(arr(jy), x, rtol=1e-14)


def test_jacobian_of_tuple_output(rng):
    x = rng.standard_normal(3)
    j1, j2 = ad.jacobian(lambda t: (ad.exp(t), t.sum()))(x)
    np.testing.assert_allclose(arr(j1), np.diag(np.exp(x)), rtol=1e-14)
    np.testing.assert_allclose(arr(j2), np.ones(3), rtol=1e-14)


def test_jacobian_of_constant_output_is_zero(rng):
    with pytest.warns(UserWarning, match="jacobian: Output seems independent of input"):
        jac = ad.jacobian(lambda t: ad.ones((2, 2)))(rng.standard_normal(3))
    assert jac.shape == (2, 2, 3)
    np.testing.assert_array_equal(arr(jac), np.zeros((2, 2, 3)))


def test_jacobian_of_softmax_matches_closed_form_and_torch(rng):
    x = rng.standard_normal(5)
    jac = arr(ad.jacobian(ad.softmax)(x))
    s = np.exp(x - x.max())
    s /= s.sum()
    np.testing.assert_allclose(jac, np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15)
    torch = pytest.importorskip("torch")
    tj = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, 0), torch.tensor(x))
    np.testing.assert_allclose(jac, tj.numpy(), rtol=1e-12, atol=1e-15)


def test_jacobian_leaves_user_tensor_alone(rng):
    x = ad.Tensor(rng.standard_normal(3), requires_grad=True)
    jac = ad.jacobian(lambda t: t * t)(x)
    assert x.grad is None
    np.testing.assert_allclose(arr(jac), np.diag(2 * x.numpy()), rtol=1e-14)
    # x requires grad, so the Jacobian carries history: sum(J) = sum(2x), d/dx = 2
    assert jac.requires_grad
    jac.sum().backward()
    np.testing.assert_allclose(arr(x.grad), np.full(3, 2.0), rtol=1e-14)


# ----- hessian ----------------------------------------------------------------------------

def test_hessian_of_sum_cubes_is_diag_6x(rng):
    x = rng.standard_normal(4)
    h = ad.hessian(lambda t: (t ** 3).sum())(x)
    assert h.shape == (4, 4)
    np.testing.assert_allclose(arr(h), np.diag(6 * x), rtol=1e-13)


def test_hessian_of_two_variable_function_matches_sympy():
    a, b = sp.symbols("a b", real=True)
    expr = a ** 2 * b + sp.sin(a * b) + sp.exp(a - 2 * b)
    sym = sp.hessian(expr, (a, b))

    def f(v):
        return v[0] ** 2 * v[1] + ad.sin(v[0] * v[1]) + ad.exp(v[0] - 2 * v[1])

    for point in ([0.3, -1.2], [1.1, 0.4]):
        expected = np.array(sym.subs({a: point[0], b: point[1]}).evalf(30), dtype=np.float64)
        np.testing.assert_allclose(arr(ad.hessian(f)(point)), expected, rtol=1e-12)


def test_hessian_argnums_tuple_matches_sympy():
    a, b = sp.symbols("a b", real=True)
    expr = a ** 3 * sp.cos(b)
    point = {a: 0.7, b: -0.4}

    def f(x, y):
        return x ** 3 * ad.cos(y)

    h = ad.hessian(f, argnums=(0, 1))(0.7, -0.4)
    for i, u in enumerate((a, b)):
        for j, v in enumerate((a, b)):
            expected = float(sp.diff(expr, u, v).subs(point))
            assert h[i][j].shape == ()
            assert h[i][j].item() == pytest.approx(expected, rel=1e-12)


def test_hessian_of_matrix_argument_has_in_shape_twice(rng):
    # f(W) = sum((W x)^2): d2f / dW_ij dW_kl = 2 [i == k] x_j x_l
    w, x = rng.standard_normal((2, 3)), rng.standard_normal(3)
    h = ad.hessian(lambda w: ((w @ x) ** 2).sum())(w)
    assert h.shape == (2, 3, 2, 3)
    expected = 2 * np.einsum("ik,j,l->ijkl", np.eye(2), x, x)
    np.testing.assert_allclose(arr(h), expected, rtol=1e-13, atol=1e-15)


def test_hessian_matches_finite_differences_of_numpy_gradient(rng):
    x = rng.uniform(0.5, 1.5, 3)

    def f(t):
        return ad.log(t).sum() * ad.sigmoid(t).sum()

    def grad_np(v):
        s = 1 / (1 + np.exp(-v))
        return (1 / v) * s.sum() + np.log(v).sum() * s * (1 - s)

    expected = np.stack([numeric_grad(lambda v, i=i: grad_np(v)[i], x) for i in range(3)])
    np.testing.assert_allclose(arr(ad.hessian(f)(x)), expected, rtol=1e-7, atol=1e-9)


def test_hessian_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(4)

    def f(t):
        return (ad.tanh(t) * t[::-1]).sum() + ad.logsumexp(t)

    def tf(t):
        return (torch.tanh(t) * t.flip(0)).sum() + torch.logsumexp(t, 0)

    expected = torch.autograd.functional.hessian(tf, torch.tensor(x)).numpy()
    np.testing.assert_allclose(arr(ad.hessian(f)(x)), expected, rtol=1e-12, atol=1e-14)


def test_jacobian_of_hessian_third_derivative_tensor(rng):
    # f = sum(x^4): third derivative tensor is 24 x_i on the diagonal i == j == k.
    x = rng.standard_normal(3)
    t3 = ad.jacobian(ad.hessian(lambda t: (t ** 4).sum()))(x)
    expected = np.zeros((3, 3, 3))
    for i in range(3):
        expected[i, i, i] = 24 * x[i]
    np.testing.assert_allclose(arr(t3), expected, rtol=1e-13, atol=1e-15)


# ----- outputs independent of an input: zeros and a warning ---------------------------------

INDEPENDENT = r"Output seems independent of input\."


@contextlib.contextmanager
def no_warnings():
    """Inside: any warning is an error, so a test fails on an unexpected one."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transform, shape_of", [
    (ad.grad, lambda x: x.shape),
    (lambda f: (lambda x: ad.value_and_grad(f)(x)[1]), lambda x: x.shape),
    (ad.jacobian, lambda x: () + x.shape),
    (ad.hessian, lambda x: x.shape + x.shape),
], ids=["grad", "value_and_grad", "jacobian", "hessian"])
@pytest.mark.parametrize("f", [
    lambda t: ad.tensor(2.5),                       # a constant
    lambda t: 2.5,                                  # a number
    lambda t: (t.detach() ** 2).sum(),              # detached
    lambda t: ad.where(t > 0, 1.0, -1.0).sum(),     # only through a comparison
    lambda t: ad.tensor(t.sum().item()) * 3.0,      # only through .item()
], ids=["tensor", "number", "detach", "compare", "item"])
def test_independent_output_warns_and_gives_zeros(transform, shape_of, f, np_dtype, rng):
    x = rng.standard_normal((2, 3)).astype(np_dtype)
    name = "value_and_grad" if transform not in (ad.grad, ad.jacobian, ad.hessian) \
        else transform.__name__
    with pytest.warns(UserWarning, match=rf"^{name}: {INDEPENDENT} The result for argnums=0 "
                                         r"is zeros\.$") as caught:
        g = transform(f)(x)
    assert len([w for w in caught if "independent" in str(w.message)]) == 1
    assert caught[0].filename == __file__  # points at the caller, not at pyautodiff
    assert g.shape == shape_of(x) and g.dtype == np_dtype
    np.testing.assert_array_equal(arr(g), np.zeros(shape_of(x)))


@pytest.mark.parametrize("n", [3, 70000])
def test_gradient_zero_at_a_point_does_not_warn(n, rng):
    # The output depends on x through the graph; the derivative just is 0 here.
    x = np.zeros(n)
    neg = -np.abs(rng.standard_normal(n)) - 0.1
    with no_warnings():
        g_square = ad.grad(lambda t: (t * t).sum())(x)
        g_relu = ad.grad(lambda t: ad.relu(t).sum())(neg)
        g_times0 = ad.grad(lambda t: (t * 0.0).sum())(neg)
        v, g_vg = ad.value_and_grad(lambda t: (t ** 3).sum())(x)
        j_relu = ad.jacobian(lambda t: ad.relu(t[:2]))(neg)
        h_cubic = ad.hessian(lambda t: (t[:2] ** 3).sum())(x[:3])  # (n, n) would not fit
    for g in (g_square, g_relu, g_times0, g_vg):
        np.testing.assert_array_equal(arr(g), np.zeros(n))  # 2x, relu', 0, 3x^2 at these x
    assert v.item() == 0.0
    np.testing.assert_array_equal(arr(j_relu), np.zeros((2, n)))
    np.testing.assert_array_equal(arr(h_cubic), np.zeros((3, 3)))  # 6x at x = 0


def test_independent_warning_names_only_the_unused_argnums(rng):
    x, y, z = rng.standard_normal(3), rng.standard_normal(2), rng.standard_normal(4)

    def f(a, b, c):
        return (a * a).sum() + ad.tanh(c).sum()

    with pytest.warns(UserWarning, match=rf"^grad: {INDEPENDENT} The result for argnums=1 "):
        gx, gy, gz = ad.grad(f, argnums=(0, 1, 2))(x, y, z)
    np.testing.assert_allclose(arr(gx), 2 * x, rtol=1e-14)
    np.testing.assert_array_equal(arr(gy), np.zeros(2))
    np.testing.assert_allclose(arr(gz), 1 - np.tanh(z) ** 2, rtol=1e-14)
    with pytest.warns(UserWarning, match=r"argnums=\(1, -2\) is zeros"):
        ad.grad(lambda a, b, c, d: a.sum(), argnums=(0, 1, -2, 1))(x, y, z, x)
    with no_warnings():
        gx, gz = ad.grad(f, argnums=(0, -1))(x, y, z)
    np.testing.assert_allclose(arr(gz), 1 - np.tanh(z) ** 2, rtol=1e-14)


def test_jacobian_of_tuple_output_warns_for_the_independent_output(rng):
    x = rng.standard_normal(3)
    with pytest.warns(UserWarning, match=rf"^jacobian: {INDEPENDENT} The result for output 1, "
                                         r"argnums=0 is zeros\.$") as caught:
        j0, j1 = ad.jacobian(lambda t: (ad.exp(t), ad.ones(2)))(x)
    assert len(caught) == 1
    np.testing.assert_allclose(arr(j0), np.diag(np.exp(x)), rtol=1e-14)
    np.testing.assert_array_equal(arr(j1), np.zeros((2, 3)))


def test_hessian_of_linear_function_warns_once_naming_hessian(rng):
    x = rng.standard_normal(3)
    for f in (lambda t: (2.0 * t).sum(), lambda t: 1.0):  # gradient constant / f constant
        with pytest.warns(UserWarning, match=rf"^hessian: {INDEPENDENT}") as caught:
            h = ad.hessian(f)(x)
        assert len(caught) == 1, [str(w.message) for w in caught]
        np.testing.assert_array_equal(arr(h), np.zeros((3, 3)))


def test_nested_grad_warns_for_the_transform_whose_output_is_independent():
    with pytest.warns(UserWarning, match=rf"^grad: {INDEPENDENT}") as caught:
        d2 = ad.grad(ad.grad(lambda t: 3.0 * t))(1.5)  # f' = 3 is constant: f'' = 0
    assert len(caught) == 1 and d2.item() == 0.0
    with no_warnings():
        d2 = ad.grad(ad.grad(lambda t: t ** 3))(1.5)
    assert d2.item() == pytest.approx(9.0, rel=1e-14)


def test_independent_warning_for_an_argument_that_requires_grad(rng):
    x = ad.tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.warns(UserWarning, match=INDEPENDENT):
        g = ad.grad(lambda t: ad.tensor(1.0) * 2.0)(x)
    np.testing.assert_array_equal(arr(g), np.zeros(3))
    with no_warnings():
        g = ad.grad(lambda t: (t * t).sum())(x)
    np.testing.assert_allclose(arr(g), 2 * x.numpy(), rtol=1e-14)
    assert x.grad is None


def test_gradcheck_does_not_warn_about_an_unused_input(rng):
    with no_warnings():
        assert ad.gradcheck(lambda a, b: ad.sin(a), (rng.standard_normal(3), np.ones(2)))


def test_independent_warning_agrees_with_hips_autograd(rng):
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    x = rng.standard_normal(3)
    cases = [  # (pyautodiff f, autograd f, transform name)
        (lambda t: (t * t).sum(), lambda t: anp.sum(t * t), "grad"),
        (lambda t: 2.0, lambda t: 2.0, "grad"),
        (lambda t: (t * 0.0).sum(), lambda t: anp.sum(t * 0.0), "grad"),
        (lambda t: ad.ones(2), lambda t: anp.ones(2), "jacobian"),
        (lambda t: ad.exp(t), lambda t: anp.exp(t), "jacobian"),
        (lambda t: (3.0 * t).sum(), lambda t: anp.sum(3.0 * t), "hessian"),
        (lambda t: (t ** 3).sum(), lambda t: anp.sum(t ** 3), "hessian"),
    ]
    for f_ad, f_ag, name in cases:
        with warnings.catch_warnings(record=True) as ours:
            warnings.simplefilter("always")
            mine = getattr(ad, name)(f_ad)(x)
        with warnings.catch_warnings(record=True) as theirs:
            warnings.simplefilter("always")
            expected = getattr(autograd, name)(f_ag)(x)
        assert bool(ours) == bool(theirs), (name, [str(w.message) for w in ours])
        np.testing.assert_allclose(arr(mine), expected, rtol=1e-13, atol=0)


# ----- has_aux (API.md "More transforms"), with argnums tuples ----------------------------

@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1, -2)])
def test_grad_and_value_and_grad_with_has_aux_return_aux_untouched(argnums, rng):
    x, y = rng.standard_normal((2, 3))
    aux = {"y": y, "tag": object()}

    def f(x, y):
        return (x * ad.exp(y)).sum(), aux

    by_position = {0: np.exp(y), 1: x * np.exp(y), -2: np.exp(y)}
    expected = (tuple(by_position[i] for i in argnums) if isinstance(argnums, tuple)
                else by_position[argnums])
    g, got = ad.grad(f, argnums, has_aux=True)(x, y)
    assert got is aux
    (value, got2), g2 = ad.value_and_grad(f, argnums, has_aux=True)(x, y)
    assert got2 is aux
    assert value.item() == pytest.approx(float(np.sum(x * np.exp(y))), rel=1e-14)
    for ours in (g, g2):
        if isinstance(argnums, tuple):
            assert isinstance(ours, tuple) and len(ours) == len(argnums)
            for o, e in zip(ours, expected):
                np.testing.assert_allclose(arr(o), e, rtol=1e-13)
        else:
            np.testing.assert_allclose(arr(ours), expected, rtol=1e-13)


def test_has_aux_aux_may_hold_tensors_and_grad_still_nests():
    def f(x):
        return x ** 3, x * 2  # aux: a Tensor computed from x

    g, aux = ad.grad(f, has_aux=True)(2.0)
    assert g.item() == 12.0 and aux.item() == 4.0
    # The second derivative through a has_aux gradient: d/dx 3x^2 = 6x.
    assert ad.grad(lambda x: ad.grad(f, has_aux=True)(x)[0])(2.0).item() == 12.0


@pytest.mark.parametrize("transform", [ad.grad, ad.value_and_grad, ad.hessian, ad.jacrev])
@pytest.mark.parametrize("returned, got", [
    (lambda x: x.sum(), "Tensor"),
    (lambda x: (x.sum(), 1, 2), "a tuple of length 3"),
])
def test_has_aux_needs_a_pair(transform, returned, got):
    name = transform.__name__
    with pytest.raises(TypeError, match=rf"^{name}: with has_aux=True f must return a pair "
                                        rf"\(output, aux\), got {got}$"):
        transform(returned, has_aux=True)(np.ones(2))


def test_jacobian_is_jacrev_by_another_name(rng):
    x = rng.standard_normal(3)

    def f(x):
        return ad.tanh(x) * x.sum()

    t = np.tanh(x)
    expected = np.diag((1 - t * t) * x.sum()) + t[:, None]
    for transform in (ad.jacobian, ad.jacrev):
        np.testing.assert_allclose(arr(transform(f)(x)), expected, rtol=1e-13)
    with pytest.warns(UserWarning, match=r"^jacobian: Output seems independent"):
        ad.jacobian(lambda x, y: x, argnums=1)(x, x)
    with pytest.warns(UserWarning, match=r"^jacrev: Output seems independent"):
        ad.jacrev(lambda x, y: x, argnums=1)(x, x)

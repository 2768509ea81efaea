"""Forward mode and the other transforms of API.md "More transforms": ``jvp``, ``vjp``,
``jacfwd``, ``jacrev`` and Hessian-vector products, and how they nest.

References: central differences of the same function evaluated by numpy (no pyautodiff
code), and ``torch.func`` (jvp, vjp, jacfwd, jacrev, grad, hessian) where PyTorch is
installed. Each case of ``CASES`` is one function written once for numpy, pyautodiff and
torch (they share the names used: tanh, sin, exp, sum/mean with axis and keepdims, ``@``,
indexing), of two arguments, so ``argnums`` tuples and several primals are exercised too.
"""

import warnings

import numpy as np
import pytest
from gradcheck_helper import ATOL, EPS, RTOL

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")

# name: (f(m, x, y) for the module m, shape of x, shape of y)
CASES = {
    "elementwise": (lambda m, x, y: m.tanh(m.sin(x) * y) + m.exp(-x * x), (3, 2), (3, 2)),
    "matmul": (lambda m, x, y: m.tanh(x @ y), (3, 4), (4, 2)),
    "reduce_axis": (lambda m, x, y: m.sum(m.sin(x) * y, axis=1, keepdims=True) * x
                    + m.mean(x * x, axis=0), (3, 2), (3, 2)),
    "indexing": (lambda m, x, y: m.exp(x[[0, 2, 0]]) * y[:, 1:], (3, 2), (3, 2)),
    "broadcast": (lambda m, x, y: x * y + m.sin(y), (3, 1), (1, 2)),
    "scalar_input": (lambda m, x, y: m.sin(x) * y, (), (2,)),
    "scalar_output": (lambda m, x, y: m.sum(m.tanh(x) * y), (2, 3), (3,)),
}
# Agreement with torch.func: the same float64 math by another library (its own libm and
# summation order), so a little above rounding.
TORCH_RTOL, TORCH_ATOL = 1e-10, 1e-12


def arr(t):
    assert isinstance(t, ad.Tensor), f"expected a Tensor, got {type(t).__name__}"
    return np.array(t.numpy())


def fn(case, m=ad):
    f = CASES[case][0]
    return lambda x, y: f(m, x, y)


def point(case, seed=1):
    """x, y, the tangents vx, vy and a cotangent c of the output's shape."""
    _, xs, ys = CASES[case]
    rng = np.random.default_rng(seed)
    x, vx = rng.standard_normal((2, *xs))
    y, vy = rng.standard_normal((2, *ys))
    c = rng.standard_normal(np.shape(fn(case, np)(x, y)))
    return x, y, vx, vy, c


def numeric_jacobian(f, args, i, eps=EPS):
    """d f(*args) / d args[i] by central differences, shape out.shape + args[i].shape."""
    args = [np.array(a, dtype=np.float64) for a in args]
    out_shape = np.shape(f(*args))
    jac = np.zeros(out_shape + args[i].shape)
    for idx in np.ndindex(args[i].shape):
        plus = [a.copy() for a in args]
        minus = [a.copy() for a in args]
        plus[i][idx] += eps
        minus[i][idx] -= eps
        jac[(...,) + idx] = (np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * eps)
    return jac


def close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(arr(actual), expected, rtol=rtol, atol=atol)


def contract(jac, v, ndim):
    """``J v`` for a Jacobian of shape out + in, contracting the last ``ndim`` axes."""
    return np.tensordot(jac, v, axes=ndim)


# ----- against finite differences ---------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_transforms_match_finite_differences(case):
    x, y, vx, vy, c = point(case)
    f, f_np = fn(case), fn(case, np)
    jx, jy = (numeric_jacobian(f_np, (x, y), i) for i in (0, 1))
    out_ndim = c.ndim

    out, tangent = ad.jvp(f, (x, y), (vx, vy))
    np.testing.assert_allclose(arr(out), f_np(x, y), rtol=1e-14, atol=1e-15)
    close(tangent, contract(jx, vx, x.ndim) + contract(jy, vy, y.ndim))
    assert tangent.shape == out.shape and not tangent.requires_grad

    out, vjp_fn = ad.vjp(f, x, y)
    np.testing.assert_allclose(arr(out), f_np(x, y), rtol=1e-14, atol=1e-15)
    gx, gy = vjp_fn(c)
    close(gx, np.tensordot(c, jx, axes=out_ndim))
    close(gy, np.tensordot(c, jy, axes=out_ndim))
    assert gx.shape == x.shape and gy.shape == y.shape

    for transform in (ad.jacfwd, ad.jacrev, ad.jacobian):
        jfx, jfy = transform(f, argnums=(0, 1))(x, y)
        close(jfx, jx)
        close(jfy, jy)
        close(transform(f, argnums=1)(x, y), jy)


# Some blocks of these Hessians are zero by construction (f linear in y), and say so.
@pytest.mark.filterwarnings("ignore:.*Output seems independent of input")
@pytest.mark.parametrize("case", CASES)
def test_hessian_vector_products_match_finite_differences(case):
    x, y, vx, vy, _ = point(case)
    w = np.random.default_rng(2).standard_normal(np.shape(fn(case, np)(x, y)))

    def s(x, y):
        return ad.sum(fn(case)(x, y) * w)

    grads = ad.grad(s, argnums=(0, 1))
    hvx, hvy = ad.jvp(grads, (x, y), (vx, vy))[1]
    # The reference: central differences of the reverse-mode gradient along (vx, vy).
    plus = grads(x + EPS * vx, y + EPS * vy)
    minus = grads(x - EPS * vx, y - EPS * vy)
    close(hvx, (arr(plus[0]) - arr(minus[0])) / (2 * EPS))
    close(hvy, (arr(plus[1]) - arr(minus[1])) / (2 * EPS))
    # The Hessian both ways, contracted with the tangents.
    for h in (ad.hessian(s, argnums=(0, 1))(x, y), ad.jacfwd(grads, argnums=(0, 1))(x, y)):
        (hxx, hxy), (hyx, hyy) = (tuple(arr(b) for b in row) for row in h)
        np.testing.assert_allclose(contract(hxx, vx, x.ndim) + contract(hxy, vy, y.ndim),
                                   arr(hvx), rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(contract(hyx, vx, x.ndim) + contract(hyy, vy, y.ndim),
                                   arr(hvy), rtol=1e-12, atol=1e-13)


def test_jvp_and_vjp_above_the_c_threshold(size):
    # Elementwise, so each output element's directional derivative is a central
    # difference of its own inputs: checked at every element even for 70000.
    rng = np.random.default_rng(3)
    x, v, c = rng.standard_normal((3, size))
    y = 0.5

    def f_np(x):
        return np.tanh(np.sin(x) * y) + np.exp(-x * x)

    def f(x):
        return ad.tanh(ad.sin(x) * y) + ad.exp(-x * x)

    expected = (f_np(x + EPS * v) - f_np(x - EPS * v)) / (2 * EPS)
    out, tangent = ad.jvp(f, (x,), (v,))
    close(tangent, expected)
    # (an absolute floor: the two terms of f cancel to near zero at some elements)
    np.testing.assert_allclose(arr(out), f_np(x), rtol=1e-13, atol=1e-15)
    (g,) = ad.vjp(f, x)[1](c)
    # Elementwise: the Jacobian is diagonal, J^T c = (J 1) c.
    diag = ad.jvp(f, (x,), (np.ones(size),))[1]
    np.testing.assert_allclose(arr(g), arr(diag) * c, rtol=1e-13, atol=1e-15)


# ----- against torch.func -----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:.*Output seems independent of input")
@pytest.mark.parametrize("case", CASES)
def test_transforms_match_torch_func(case):
    torch = pytest.importorskip("torch")
    tf = torch.func
    x, y, vx, vy, c = point(case)
    f, f_t = fn(case), fn(case, torch)
    xt, yt, vxt, vyt, ct = (torch.tensor(a) for a in (x, y, vx, vy, c))

    def agree(ours, theirs):
        np.testing.assert_allclose(arr(ours), theirs.detach().numpy(), rtol=TORCH_RTOL,
                                   atol=TORCH_ATOL)

    agree(ad.jvp(f, (x, y), (vx, vy))[1], tf.jvp(f_t, (xt, yt), (vxt, vyt))[1])
    for ours, theirs in zip(ad.vjp(f, x, y)[1](c), tf.vjp(f_t, xt, yt)[1](ct)):
        agree(ours, theirs)
    for mine, theirs in ((ad.jacfwd, tf.jacfwd), (ad.jacrev, tf.jacrev)):
        for ours, ref in zip(mine(f, argnums=(0, 1))(x, y), theirs(f_t, argnums=(0, 1))(xt, yt)):
            agree(ours, ref)

    w = np.random.default_rng(2).standard_normal(c.shape)
    wt = torch.tensor(w)

    def s(x, y):
        return ad.sum(f(x, y) * w)

    def s_t(x, y):
        return torch.sum(f_t(x, y) * wt)

    hv = ad.jvp(ad.grad(s, argnums=(0, 1)), (x, y), (vx, vy))[1]
    hv_t = tf.jvp(tf.grad(s_t, argnums=(0, 1)), (xt, yt), (vxt, vyt))[1]
    for ours, theirs in zip(hv, hv_t):
        agree(ours, theirs)
    for row, row_t in zip(ad.hessian(s, argnums=(0, 1))(x, y),
                          tf.hessian(s_t, argnums=(0, 1))(xt, yt)):
        for ours, theirs in zip(row, row_t):
            agree(ours, theirs)

    # Reverse over forward: the gradient of <w, J v> for x.
    def through_jvp(x):
        return ad.sum(ad.jvp(lambda x: f(x, y), (x,), (vx,))[1] * w)

    def through_jvp_t(x):
        return torch.sum(tf.jvp(lambda x: f_t(x, yt), (x,), (vxt,))[1] * wt)

    agree(ad.grad(through_jvp)(x), tf.grad(through_jvp_t)(xt))


# ----- nesting, history and the caller's tensors ------------------------------------------

def sum_cubed_tanh(x):
    return ad.sum(ad.tanh(x) ** 3)


def hessian_closed_form(x):
    # d/dx tanh^3 = 3 t^2 s, s = 1 - t^2; d2 = 6 t s^2 - 6 t^3 s (diagonal)
    t = np.tanh(x)
    s = 1 - t * t
    return np.diag(6 * t * s * s - 6 * t ** 3 * s)


def test_forward_and_reverse_nest_every_way():
    x = np.array([0.3, -0.7, 1.1])
    v = np.array([1.0, -2.0, 0.5])
    hess = hessian_closed_form(x)
    g = ad.grad(sum_cubed_tanh)
    close(ad.jvp(g, (x,), (v,))[1], hess @ v, rtol=1e-13, atol=1e-14)
    close(ad.grad(lambda x: ad.jvp(sum_cubed_tanh, (x,), (v,))[1])(x), hess @ v,
          rtol=1e-13, atol=1e-14)
    close(ad.jvp(lambda x: ad.jvp(sum_cubed_tanh, (x,), (v,))[1], (x,), (v,))[1], v @ hess @ v,
          rtol=1e-13, atol=1e-14)
    for h in (ad.jacfwd(ad.jacfwd(sum_cubed_tanh)), ad.jacrev(ad.jacfwd(sum_cubed_tanh)),
              ad.jacfwd(ad.jacrev(sum_cubed_tanh)), ad.jacfwd(g)):
        close(h(x), hess, rtol=1e-13, atol=1e-14)


def test_jvp_of_recorded_input_keeps_its_history_and_leaves_grad_alone():
    x = ad.tensor([0.3, -0.7, 1.1], requires_grad=True)
    v = np.array([1.0, -2.0, 0.5])
    out, tangent = ad.jvp(sum_cubed_tanh, (x,), (v,))
    assert out.requires_grad and tangent.requires_grad
    assert x.grad is None
    tangent.backward()
    close(x.grad, hessian_closed_form(x.numpy()) @ v, rtol=1e-13, atol=1e-14)


def test_closure_parameter_gets_history_but_its_grad_is_kept():
    rng = np.random.default_rng(4)
    w = ad.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    w.grad = ad.tensor(np.full((2, 3), 7.0))
    x, v = rng.standard_normal((2, 3))

    def f(x):
        return ad.tanh(w @ x)

    out, tangent = ad.jvp(f, (x,), (v,))
    jac = ad.jacfwd(f)(x)
    assert out.requires_grad and tangent.requires_grad and jac.requires_grad
    np.testing.assert_array_equal(arr(w.grad), np.full((2, 3), 7.0))
    # d/dW sum(J v) against central differences over W.
    w0 = w.numpy()

    def sum_jv(wa):
        t = np.tanh(wa @ x)
        return np.sum((1 - t * t) * (wa @ v))

    expected = numeric_jacobian(sum_jv, (w0,), 0)
    w.grad = None
    tangent.sum().backward()
    close(w.grad, expected)
    with ad.no_grad():
        out, tangent = ad.jvp(f, (x,), (v,))
        assert not out.requires_grad and not tangent.requires_grad
        assert not ad.jacfwd(f)(x).requires_grad


def test_vjp_fn_is_reusable_and_differentiable_in_the_cotangent():
    rng = np.random.default_rng(5)
    x, c, r = rng.standard_normal((3, 4))
    f = fn("elementwise")
    y = np.full(4, 0.8)
    jac = numeric_jacobian(lambda x: fn("elementwise", np)(x, y), (x,), 0)
    _, vjp_fn = ad.vjp(lambda x: f(x, y), x)
    first = arr(vjp_fn(c)[0])
    np.testing.assert_array_equal(arr(vjp_fn(c)[0]), first)
    close(vjp_fn(2 * c)[0], 2 * first, rtol=1e-14, atol=0)
    # grad of <vjp_fn(c), r> for c is J r.
    close(ad.grad(lambda c: ad.sum(vjp_fn(c)[0] * r))(c), jac @ r)


def test_several_outputs():
    x, v = np.array([0.5, -1.0]), np.array([2.0, 3.0])

    def f(x):
        return ad.sin(x), ad.sum(x * x)

    (s, q), (ts, tq) = ad.jvp(f, (x,), (v,))
    close(s, np.sin(x), rtol=1e-15, atol=0)
    close(ts, np.cos(x) * v, rtol=1e-15, atol=0)
    close(q, x @ x, rtol=1e-15, atol=0)
    close(tq, 2 * x @ v, rtol=1e-15, atol=0)
    _, vjp_fn = ad.vjp(f, x)
    (g,) = vjp_fn((np.array([1.0, -1.0]), 2.0))
    close(g, np.cos(x) * [1.0, -1.0] + 4 * x, rtol=1e-15, atol=0)
    for transform in (ad.jacfwd, ad.jacrev):
        js, jq = transform(f)(x)
        close(js, np.diag(np.cos(x)), rtol=1e-15, atol=0)
        close(jq, 2 * x, rtol=1e-15, atol=0)
    with pytest.raises(TypeError, match=r"vjp: the cotangent of 2 outputs must be a tuple"):
        vjp_fn(np.ones(2))
    with pytest.raises(ValueError, match=r"vjp: 1 cotangents for 2 outputs"):
        vjp_fn((np.ones(2),))


def test_identity_and_float32():
    x = np.array([1.0, 2.0], dtype=np.float32)
    v = np.array([0.5, -1.0], dtype=np.float32)
    out, tangent = ad.jvp(lambda x: x, (x,), (v,))
    assert tangent.dtype == np.float32 and out.dtype == np.float32
    np.testing.assert_array_equal(arr(tangent), v)
    np.testing.assert_array_equal(arr(ad.jacfwd(lambda x: x)(x)), np.eye(2, dtype=np.float32))
    tangent = ad.jvp(ad.exp, (x,), (v,))[1]
    assert tangent.dtype == np.float32
    np.testing.assert_allclose(arr(tangent), np.exp(x.astype(np.float64)) * v, rtol=1e-6)
    j = ad.jacfwd(ad.exp)(x)
    assert j.dtype == np.float32
    np.testing.assert_allclose(arr(j), np.diag(np.exp(x.astype(np.float64))), rtol=1e-6)


# ----- has_aux, warnings, errors ----------------------------------------------------------

def test_has_aux_returns_aux_untouched():
    aux = {"note": object()}
    x, v = np.array([1.0, 2.0]), np.array([1.0, 1.0])

    def f(x):
        return x * x, aux

    out, tangent, got = ad.jvp(f, (x,), (v,), has_aux=True)
    assert got is aux
    close(out, x * x, rtol=1e-15, atol=0)
    close(tangent, 2 * x * v, rtol=1e-15, atol=0)
    _, vjp_fn, got = ad.vjp(f, x, has_aux=True)
    assert got is aux
    close(vjp_fn(v)[0], 2 * x * v, rtol=1e-15, atol=0)
    for transform in (ad.jacfwd, ad.jacrev):
        jac, got = transform(f, has_aux=True)(x)
        assert got is aux
        close(jac, np.diag(2 * x), rtol=1e-15, atol=0)
    hess, got = ad.hessian(lambda x: (ad.sum(x ** 3), aux), has_aux=True)(x)
    assert got is aux
    close(hess, np.diag(6 * x), rtol=1e-15, atol=0)
    for call in (lambda: ad.jvp(lambda x: x, (x,), (v,), has_aux=True),
                 lambda: ad.vjp(lambda x: (x, 1, 2), x, has_aux=True),
                 lambda: ad.jacfwd(lambda x: x, has_aux=True)(x)):
        with pytest.raises(TypeError, match=r"with has_aux=True f must return a pair"):
            call()


def test_output_independent_of_an_input_warns():
    x, y = np.array([1.0, 2.0]), np.array([3.0])
    with pytest.warns(UserWarning, match=r"^jvp: Output seems independent of input\. "
                                         r"The tangent of primal 1 contributes nothing\.$"):
        _, tangent = ad.jvp(lambda x, y: x * 2, (x, y), (x, y))
    close(tangent, 2 * x, rtol=1e-15, atol=0)
    _, vjp_fn = ad.vjp(lambda x, y: x * 2, x, y)
    with pytest.warns(UserWarning, match=r"^vjp: .* The result for primal 1 is zeros\.$") as w:
        gx, gy = vjp_fn(np.ones(2))
    assert w[0].filename == __file__
    close(gx, np.full(2, 2.0), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(arr(gy), np.zeros(1))
    with pytest.warns(UserWarning, match=r"^jacfwd: .* The result for argnums=1 is zeros\.$"):
        jx, jy = ad.jacfwd(lambda x, y: x * 2, argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(arr(jy), np.zeros((2, 1)))
    close(jx, 2 * np.eye(2), rtol=1e-15, atol=0)
    with pytest.warns(UserWarning, match=r"^jacrev: .* The result for argnums=0 is zeros\.$"):
        ad.jacrev(lambda x: ad.tensor(3.0))(x)
    # A derivative that is zero at the point, with a path in the graph, does not warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        close(ad.jvp(lambda x: x * x, (np.zeros(2),), (x,))[1], np.zeros(2), atol=0)
        close(ad.jacfwd(lambda x: x * x)(np.zeros(2)), np.zeros((2, 2)), atol=0)


@pytest.mark.parametrize("call, error, message", [
    (lambda: ad.jvp(ad.sin, (np.ones(2),), (np.ones(3),)), ValueError,
     r"jvp: tangent 0 has shape \(3,\), expected primal 0's shape \(2,\)"),
    (lambda: ad.jvp(ad.sin, (np.ones(2),), (np.ones(2, dtype=np.float32),)), TypeError,
     r"jvp: tangent 0 has dtype float32, expected primal 0's dtype float64"),
    (lambda: ad.jvp(ad.sin, (np.ones(2),), (np.arange(2),)), TypeError,
     r"jvp: tangent 0 has dtype int64, expected primal 0's dtype float64"),
    (lambda: ad.jvp(ad.mul, (1.0, np.ones(2)), (1.0, "ab")), TypeError,
     r"jvp: tangent 1 must hold real numbers, got str"),
    (lambda: ad.jvp(ad.sin, np.ones(2), np.ones(2)), TypeError,
     r"jvp: primals must be a tuple or list, got ndarray"),
    (lambda: ad.jvp(ad.mul, (1.0, 2.0), (1.0,)), ValueError,
     r"jvp: 2 primals and 1 tangents; expected one tangent per primal"),
    (lambda: ad.jvp(ad.sin, (), ()), TypeError, r"jvp: needs at least one primal"),
    (lambda: ad.vjp(ad.sin, np.ones(2))[1](np.ones((2, 1))), ValueError,
     r"vjp: cotangent has shape \(2, 1\), expected the output's shape \(2,\)"),
    (lambda: ad.vjp(ad.sin, np.ones(2))[1](ad.ones(2, dtype=np.float32)), TypeError,
     r"vjp: cotangent has dtype float32, expected the output's dtype float64"),
    (lambda: ad.vjp(ad.sin), TypeError, r"vjp: needs at least one primal"),
    (lambda: ad.jacfwd(ad.sin, argnums=(0, 1))(1.0), TypeError,
     r"jacfwd: differentiating with respect to argnums=\(0, 1\) requires at least 2"),
    (lambda: ad.jacfwd(ad.sin, argnums=[0]), TypeError, r"jacfwd: argnums must be"),
    (lambda: ad.jvp(lambda x: "out", (1.0,), (1.0,)), TypeError,
     r"jvp: f must return a Tensor, an array or a number, got str"),
])
def test_bad_input_raises_naming_transform_shapes_and_dtypes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_tangents_as_numbers_and_lists_take_the_primal_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    tangent = ad.jvp(lambda x: x * x, (x,), ([1, -1],))[1]
    assert tangent.dtype == np.float32
    np.testing.assert_array_equal(arr(tangent), np.array([2.0, -4.0], dtype=np.float32))
    tangent = ad.jvp(lambda x, s: x * s, (x.astype(np.float64), 3), ([0, 0], 1))[1]
    assert tangent.dtype == np.float64
    np.testing.assert_array_equal(arr(tangent), [1.0, 2.0])

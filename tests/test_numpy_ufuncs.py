"""numpy's differentiable real ufuncs, as ``ad.<name>`` and through ``np.<name>`` on Tensors.

One row per ufunc (numpy's name, which is also pyautodiff's): values against numpy's
own function, gradients against central differences of numpy's function in float64 on
the shapes of HIPS autograd's systematic tests (scalars, (2,), (3, 2), (1, 2) and
broadcasting pairs), against HIPS autograd's own gradients (where it is installed),
and second derivatives against sympy's. Then the points where the gradient is a
choice (ties, NaN, kinks, steps), a size above the C thresholds, errors, and plain
ndarrays left alone.
"""

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import sympy as sp
from cases import above_minus_one, grid, halfgrid, nonzero, positive, real
from conftest import real_thresholds
from gradcheck_helper import check_gradients, weights_for

import pyautodiff as ad

# ----- input domains (where each function is smooth) ----------------------------------------


def unit(rng, shape):
    """Inside (-1, 1), away from the poles of arcsin', arccos', arctanh' and tan."""
    return np.asarray(rng.uniform(-0.9, 0.9, shape))


def above_one(rng, shape):
    return np.asarray(rng.uniform(1.2, 3.0, shape))


def off_integer(rng, shape):
    """At least 0.2 from every integer: away from the steps of floor, ceil and mod."""
    return np.asarray(rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape))


def divisor(rng, shape):
    """+-1, 2 or 4: an ``off_integer`` x divided by one is at least 0.05 from an integer."""
    return np.asarray(rng.choice([-4.0, -2.0, -1.0, 1.0, 2.0, 4.0], shape))


# ----- the table --------------------------------------------------------------------------

X, Y = sp.symbols("x y", real=True)


@dataclass(frozen=True)
class Ufunc:
    name: str  # numpy's, and pyautodiff's
    domains: tuple  # one per input
    expr: object  # the sympy expression in X (and Y), or None where sympy has no derivative

    @property
    def np(self):
        return getattr(np, self.name)

    @property
    def ad(self):
        return getattr(ad, self.name)

    def arrays(self, rng, shapes):
        return [d(rng, s) for d, s in zip(self.domains, shapes)]


UNARY = [Ufunc(*row) for row in [
    ("sin", (real,), sp.sin(X)),
    ("cos", (real,), sp.cos(X)),
    ("tan", (unit,), sp.tan(X)),
    ("arcsin", (unit,), sp.asin(X)),
    ("arccos", (unit,), sp.acos(X)),
    ("arctan", (real,), sp.atan(X)),
    ("sinh", (real,), sp.sinh(X)),
    ("cosh", (real,), sp.cosh(X)),
    ("tanh", (real,), sp.tanh(X)),
    ("arcsinh", (real,), sp.asinh(X)),
    ("arccosh", (above_one,), sp.acosh(X)),
    ("arctanh", (unit,), sp.atanh(X)),
    ("exp", (real,), sp.exp(X)),
    ("exp2", (real,), 2 ** X),
    ("expm1", (real,), sp.exp(X) - 1),
    ("log", (positive,), sp.log(X)),
    ("log2", (positive,), sp.log(X, 2)),
    ("log10", (positive,), sp.log(X, 10)),
    ("log1p", (above_minus_one,), sp.log(1 + X)),
    ("sqrt", (positive,), sp.sqrt(X)),
    ("cbrt", (nonzero,), sp.real_root(X, 3)),
    ("square", (real,), X ** 2),
    ("reciprocal", (nonzero,), 1 / X),
    ("abs", (nonzero,), sp.Abs(X)),
    ("absolute", (nonzero,), sp.Abs(X)),
    ("fabs", (nonzero,), sp.Abs(X)),
    ("negative", (real,), -X),
    ("positive", (real,), X),
    ("sign", (nonzero,), sp.sign(X)),
    ("floor", (off_integer,), None),  # piecewise constant: every derivative is 0
    ("ceil", (off_integer,), None),
    ("deg2rad", (real,), X * sp.pi / 180),
    ("radians", (real,), X * sp.pi / 180),
    ("rad2deg", (real,), X * 180 / sp.pi),
    ("degrees", (real,), X * 180 / sp.pi),
]]

BINARY = [Ufunc(*row) for row in [
    ("add", (real, real), X + Y),
    ("subtract", (real, real), X - Y),
    ("multiply", (real, real), X * Y),
    ("divide", (real, nonzero), X / Y),
    ("true_divide", (real, nonzero), X / Y),
    ("power", (positive, real), X ** Y),
    ("logaddexp", (real, real), sp.log(sp.exp(X) + sp.exp(Y))),
    ("logaddexp2", (real, real), sp.log(2 ** X + 2 ** Y, 2)),
    ("arctan2", (nonzero, nonzero), sp.atan2(X, Y)),
    ("hypot", (nonzero, nonzero), sp.sqrt(X ** 2 + Y ** 2)),
    # x on the grid, y on the half-grid: never a tie
    ("maximum", (grid, halfgrid), sp.Max(X, Y)),
    ("minimum", (grid, halfgrid), sp.Min(X, Y)),
    ("fmax", (grid, halfgrid), sp.Max(X, Y)),
    ("fmin", (grid, halfgrid), sp.Min(X, Y)),
    ("mod", (off_integer, divisor), None),  # x - floor(x/y) y: sympy's Mod has no derivative
    ("remainder", (off_integer, divisor), None),
]]

UNARY_SHAPES = [(), (2,), (3, 2), (1, 2)]
BINARY_SHAPES = [((), ()), ((2,), (2,)), ((3, 2), (3, 2)), ((1, 2), (1, 2)),
                 ((3, 2), (1, 2)), ((1, 2), (3, 2)), ((2,), ()), ((), (2,)), ((3, 1), (2,))]


def _ids(rows):
    return [r.name for r in rows]


def _call_forms(u):
    """``(form, function)`` for ``ad.<name>`` and for ``np.<name>`` (numpy's protocol)."""
    return [("ad", u.ad), ("np", u.np)]


def _check(u, arrays):
    """Value against numpy's, a recording Tensor, and the gradient against central
    differences of numpy's function, for both ways of calling."""
    expected = u.np(*arrays)
    for form, fn in _call_forms(u):
        out = fn(*[ad.tensor(a, requires_grad=True) for a in arrays])
        assert isinstance(out, ad.Tensor), form
        assert out.requires_grad, form
        assert out.shape == np.shape(expected) and out.dtype == np.float64, form
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14,
                                   err_msg=f"{form}.{u.name} on {arrays}")
        check_gradients(fn, arrays, ref=u.np)


@pytest.mark.parametrize("u", UNARY, ids=_ids(UNARY))
def test_unary_value_and_gradient(u, backend, rng):
    for shape in UNARY_SHAPES:
        _check(u, u.arrays(rng, [shape]))


@pytest.mark.parametrize("u", BINARY, ids=_ids(BINARY))
def test_binary_value_and_gradient(u, backend, rng):
    for shapes in BINARY_SHAPES:
        _check(u, u.arrays(rng, shapes))


@pytest.mark.parametrize("u", BINARY, ids=_ids(BINARY))
def test_binary_with_a_constant_operand(u, backend, rng):
    # An ndarray or a Python number on either side; only the Tensor gets a gradient.
    x, y = u.arrays(rng, [(3, 2), (2,)])
    c = float(y[0])
    for fn in (u.ad, u.np):
        check_gradients(lambda t, fn=fn: fn(x, t), [y], ref=lambda b: u.np(x, b))
        check_gradients(lambda t, fn=fn: fn(t, y), [x], ref=lambda a: u.np(a, y))
        check_gradients(lambda t, fn=fn: fn(t, c), [x], ref=lambda a: u.np(a, c))
        out = fn(ad.tensor(x), y)  # no input requires grad: nothing is recorded
        assert isinstance(out, ad.Tensor) and not out.requires_grad
        np.testing.assert_allclose(out.numpy(), u.np(x, y), rtol=1e-12, atol=1e-14)


def test_positive_of_a_tensor_is_the_tensor(backend):
    t = ad.tensor([1.0, -2.0], requires_grad=True)
    assert ad.positive(t) is t and np.positive(t) is t
    assert ad.positive([1, 2]).dtype == np.float64  # anything else becomes a Tensor


# ----- HIPS autograd: the same gradients, at smooth points and where a choice is made -----

def _autograd():
    return pytest.importorskip("autograd")


# The points where the gradient is a convention: ties, NaN, kinks, steps, zero.
EDGES = {
    "abs": [np.array([0.0, -0.0, 1.5, -2.0])],
    "fabs": [np.array([0.0, -1.5])],
    "sign": [np.array([0.0, -1.0, 2.0, np.inf])],
    "floor": [np.array([0.0, 1.0, -2.0, 2.5])],
    "ceil": [np.array([0.0, 1.0, -2.0, 2.5])],
    "sqrt": [np.array([0.25, 4.0])],
    "maximum": [np.array([1.0, 2.0, -1.0, 3.0]), np.array([1.0, 1.0, -1.0, 5.0])],
    "minimum": [np.array([1.0, 2.0, -1.0, 3.0]), np.array([1.0, 1.0, -1.0, 5.0])],
    "fmax": [np.array([1.0, np.nan, np.nan, 2.0, 3.0, -1.0]),
             np.array([np.nan, 0.5, np.nan, 2.0, 1.0, 4.0])],
    "fmin": [np.array([1.0, np.nan, np.nan, 2.0, 3.0, -1.0]),
             np.array([np.nan, 0.5, np.nan, 2.0, 1.0, 4.0])],
    "power": [np.array([0.0, 0.0, 2.0, 0.0]), np.array([2.0, 0.0, 0.0, 3.0])],
    "mod": [np.array([5.5, -5.5, 5.5, -5.5, 6.0]), np.array([2.0, 2.0, -2.0, -2.0, 4.0])],
    "remainder": [np.array([7.25, -0.5]), np.array([3.0, 3.0])],
    "hypot": [np.array([0.0, 3.0, -3.0]), np.array([2.0, 0.0, 4.0])],
    "arctan2": [np.array([0.0, 1.0, -1.0]), np.array([-1.0, 0.0, -1.0])],
    "logaddexp": [np.array([-np.inf, 0.0, 800.0]), np.array([0.0, 0.0, 0.0])],
    "logaddexp2": [np.array([-np.inf, 0.0, 1000.0]), np.array([0.0, 0.0, 0.0])],
}
NOT_IN_AUTOGRAD = {"cbrt", "positive"}  # autograd.numpy defines no VJP for them


def _grads(fn, arrays, w):
    xs = [ad.tensor(a, requires_grad=True) for a in arrays]
    (fn(*xs) * w).sum().backward()
    return [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("u", [u for u in UNARY + BINARY if u.name not in NOT_IN_AUTOGRAD],
                         ids=_ids([u for u in UNARY + BINARY if u.name not in NOT_IN_AUTOGRAD]))
def test_gradient_equals_hips_autograds(u, backend, rng):
    autograd = _autograd()
    import autograd.numpy as anp

    f = getattr(anp, u.name)
    points = [u.arrays(rng, [(3, 2)] * len(u.domains))]
    if u.name in EDGES:
        points.append(EDGES[u.name])
    for arrays in points:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # (autograd warns that the output of sign, floor and ceil ignores the input)
            warnings.simplefilter("ignore", UserWarning)
            w = weights_for(np.shape(u.np(*arrays)))
            want = [autograd.grad(lambda *a, w=w: anp.sum(f(*a) * w), i)(*arrays)
                    for i in range(len(arrays))]
        for form, fn in _call_forms(u):
            with np.errstate(all="ignore"):
                got = _grads(fn, arrays, w)
            for i, (g, e) in enumerate(zip(got, want)):
                np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15,
                                           err_msg=f"{form}.{u.name} input {i} at {arrays}")


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_nan_gradients_match_torch(name, backend):
    torch = pytest.importorskip("torch")
    # Neither ties nor two NaNs here, where torch gives x the whole gradient and autograd
    # (whose gradients these are, test above) half to each and none to either.
    x = np.array([1.0, np.nan, 3.0, -1.0])
    y = np.array([np.nan, 0.5, 1.0, 4.0])
    w = weights_for(x.shape)
    got = _grads(getattr(np, name), [x, y], w)
    tx, ty = (torch.tensor(a, requires_grad=True) for a in (x, y))
    (getattr(torch, name)(tx, ty) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(got[0], tx.grad.numpy())
    np.testing.assert_array_equal(got[1], ty.grad.numpy())
    np.testing.assert_array_equal(getattr(ad, name)(x, y).numpy(), getattr(np, name)(x, y))


@pytest.mark.parametrize("name", ["sign", "floor", "ceil"])
def test_step_functions_record_and_give_zero_gradients(name, backend):
    # As PyTorch: the result requires grad and the input's gradient is zeros, not missing,
    # at the steps too.
    torch = pytest.importorskip("torch")
    a = np.array([-1.5, -1.0, 0.0, 0.5, 2.0])
    x = ad.tensor(a, requires_grad=True)
    out = getattr(np, name)(x)
    assert out.requires_grad and out.grad_fn == name
    np.testing.assert_array_equal(out.numpy(), getattr(np, name)(a))
    (out * 3.0).sum().backward()
    tx = torch.tensor(a, requires_grad=True)
    (getattr(torch, name)(tx) * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(5))


# ----- second derivatives against sympy --------------------------------------------------

@functools.cache
def _derivative(expr, *wrt):
    return sp.diff(expr, *wrt)


def _at(expr, **values):
    """A sympy expression's value at a point (subs, not lambdify: it evaluates the
    DiracDelta of Abs'' and Max'' away from their kinks, to 0)."""
    return float(expr.subs({sp.Symbol(k, real=True): v for k, v in values.items()}).evalf())


def _grad_of_sum(fn, argnums):
    """x -> d/dx sum(fn(x...)): elementwise, the derivative of an elementwise fn."""
    return ad.grad(lambda *a: fn(*a).sum(), argnums=argnums)


@pytest.mark.filterwarnings("ignore:grad. Output seems independent of input")
@pytest.mark.parametrize("u", UNARY, ids=_ids(UNARY))
def test_unary_second_derivative_matches_sympy(u, backend, rng):
    (x,) = u.arrays(rng, [(3,)])
    want = np.zeros(3) if u.expr is None else [_at(_derivative(u.expr, X, 2), x=v) for v in x]
    for form, fn in _call_forms(u):
        got = _grad_of_sum(_grad_of_sum(fn, 0), 0)(x)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{form}.{u.name}")


def _mod_expr(x, y):
    # Near a point away from its steps, mod is x - k y with k = floor(x / y) held fixed.
    return X - int(np.floor(x / y)) * Y


@pytest.mark.filterwarnings("ignore:grad. Output seems independent of input")
@pytest.mark.parametrize("u", BINARY, ids=_ids(BINARY))
def test_binary_second_derivatives_match_sympy(u, backend, rng):
    x, y = u.arrays(rng, [(3,), (3,)])
    want = np.zeros((2, 2, 3))
    for k, (a, b) in enumerate(zip(x, y)):
        expr = _mod_expr(a, b) if u.expr is None else u.expr
        for i, s in enumerate((X, Y)):
            for j, t in enumerate((X, Y)):
                want[i, j, k] = _at(_derivative(expr, s, t), x=a, y=b)
    for form, fn in _call_forms(u):
        for i in (0, 1):
            rows = _grad_of_sum(_grad_of_sum(fn, i), (0, 1))(x, y)
            for j in (0, 1):
                np.testing.assert_allclose(rows[j].numpy(), want[i, j], rtol=1e-10,
                                           atol=1e-12, err_msg=f"{form}.{u.name} d{i}d{j}")


# ----- above the C thresholds ------------------------------------------------------------

# (name, domains, the derivatives in numpy): a few representative ones.
LARGE = [
    ("sinh", (real,), lambda x: [np.cosh(x)]),
    ("arcsin", (unit,), lambda x: [1 / np.sqrt(1 - x * x)]),
    ("exp2", (real,), lambda x: [np.exp2(x) * np.log(2)]),
    ("cbrt", (nonzero,), lambda x: [np.cbrt(x) ** -2 / 3]),
    ("reciprocal", (nonzero,), lambda x: [-1 / x ** 2]),
    ("floor", (off_integer,), lambda x: [np.zeros_like(x)]),
    ("logaddexp", (real, real), lambda x, y: [1 / (1 + np.exp(y - x)), 1 / (1 + np.exp(x - y))]),
    ("logaddexp2", (real, real), lambda x, y: [1 / (1 + np.exp2(y - x)),
                                              1 / (1 + np.exp2(x - y))]),
    ("arctan2", (nonzero, nonzero), lambda x, y: [y / (x * x + y * y), -x / (x * x + y * y)]),
    ("hypot", (nonzero, nonzero), lambda x, y: [x / np.hypot(x, y), y / np.hypot(x, y)]),
    ("fmax", (grid, halfgrid), lambda x, y: [(x > y) * 1.0, (y > x) * 1.0]),
    ("remainder", (off_integer, divisor), lambda x, y: [np.ones_like(x), -np.floor(x / y)]),
]


@pytest.mark.parametrize("name, domains, derivatives", LARGE, ids=[r[0] for r in LARGE])
def test_large_arrays_value_and_gradient(name, domains, derivatives, backend, rng):
    arrays = [d(rng, (70000,)) for d in domains]
    w = weights_for((70000,))
    for fn in (getattr(ad, name), getattr(np, name)):
        xs = [ad.tensor(a, requires_grad=True) for a in arrays]
        with real_thresholds():  # C kernels, and on the C backend a fused backward pass
            out = fn(*xs)
            (out * w).sum().backward()
        np.testing.assert_allclose(out.numpy(), getattr(np, name)(*arrays), rtol=1e-12)
        for x, d in zip(xs, derivatives(*arrays)):
            np.testing.assert_allclose(x.grad.numpy(), w * d, rtol=1e-11, atol=1e-14)


# ----- dtypes ----------------------------------------------------------------------------

@pytest.mark.parametrize("u", UNARY + BINARY, ids=_ids(UNARY + BINARY))
def test_float32_stays_float32(u, backend, rng):
    arrays = [a.astype(np.float32) for a in u.arrays(rng, [(3, 2)] * len(u.domains))]
    expected = u.np(*arrays)
    for fn in (u.ad, u.np):
        xs = [ad.tensor(a, requires_grad=True) for a in arrays]
        out = fn(*xs)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
        out.sum().backward()
        assert all(x.grad.dtype == np.float32 for x in xs)
        if len(xs) == 2:  # a Python number keeps float32 (a weak scalar, as numpy's)
            assert fn(xs[0], float(arrays[1][0, 0])).dtype == np.float32


@pytest.mark.parametrize("name", ["sinh", "floor", "sign", "reciprocal", "cbrt", "exp2"])
def test_integer_and_bool_arrays_become_float64(name, backend):
    # As the other ops: an integer or bool array is read as float64 (so reciprocal of 2
    # is 0.5, not numpy's integer 0).
    for a in (np.array([1, 2, -3]), np.array([True, False, True])):
        with np.errstate(divide="ignore"):  # (reciprocal of False)
            out, want = getattr(ad, name)(a), getattr(np, name)(a.astype(np.float64))
        assert isinstance(out, ad.Tensor) and out.dtype == np.float64
        np.testing.assert_array_equal(out.numpy(), want)


# ----- errors and refusals ---------------------------------------------------------------

@pytest.mark.parametrize("u", BINARY, ids=_ids(BINARY))
def test_binary_shape_mismatch_names_op_and_shapes(u, backend):
    x = ad.ones((3,), requires_grad=True)
    for fn in (u.ad, u.np):
        with pytest.raises(ValueError, match=rf"^{u.ad.op.name}: .*\(3,\) float64, \(4,\) float64"):
            fn(x, np.ones(4))


@pytest.mark.parametrize("call, error, pattern", [
    (lambda t: ad.arcsin("a"), TypeError, r"^arcsin: unsupported data of dtype <U1"),
    (lambda t: ad.hypot(t, np.ones(3, dtype=complex)), TypeError, r"^hypot: unsupported"),
    (lambda t: np.logaddexp(t, "a"), TypeError, r"^logaddexp: unsupported"),
    (lambda t: np.sinh(t, dtype=np.float32), TypeError, r"^numpy\.sinh: dtype="),
    (lambda t: np.fmax(t, t, where=t > 0), TypeError, r"^numpy\.fmax: where="),
    (lambda t: np.hypot(t, t, out=np.zeros(3)), TypeError, r"^numpy\.hypot: out= an ndarray"),
    (lambda t: np.floor(t, out=ad.zeros(3)), TypeError, r"^numpy\.floor: out= a Tensor"),
])
def test_bad_input_raises_naming_the_function(call, error, pattern, backend):
    t = ad.tensor([0.1, 0.2, 0.3], requires_grad=True)
    with pytest.raises(error, match=pattern):
        call(t)
    np.testing.assert_array_equal(t.numpy(), [0.1, 0.2, 0.3])


def test_plain_ndarrays_are_not_affected(backend, rng):
    for u in UNARY + BINARY:
        arrays = u.arrays(rng, [(3, 2)] * len(u.domains))
        out = u.np(*arrays)
        assert type(out) is np.ndarray, u.name
        a = arrays[0].copy()
        u.np(*arrays, out=a)  # out= an ndarray is numpy's own business here
        np.testing.assert_array_equal(a, out)


# ----- the list --------------------------------------------------------------------------

TESTED = {f"numpy.{u.np.__name__}" for u in UNARY + BINARY}


def test_every_ufunc_here_is_listed_and_exported():
    listed = set(ad.numpy_functions())
    assert TESTED <= listed, sorted(TESTED - listed)
    for u in UNARY + BINARY:
        assert u.name in ad.__all__, u.name
        assert u.ad.__doc__ and ">>>" in u.ad.__doc__, u.name

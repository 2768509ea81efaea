"""numpy functions on Tensors (``Tensor.__array_ufunc__``, ``__array_function__``).

Every function ``ad.numpy_functions()`` lists is tested here (a meta-test checks it):
the ones with an op on both backends at 3 and 70000 elements, their value against
numpy's own function on the plain arrays, their gradient against central finite
differences of numpy's function (3 elements) and against the same computation
written with pyautodiff's functions (both sizes). Then what must not happen: an
unimplemented function, ``out=`` or a non-default keyword silently computing on
the value, and any change for plain ndarrays.
"""

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from cases import above_minus_one, grid, halfgrid, nonzero, positive, real
from gradcheck_helper import check_gradients, weights_for
from test_numpy_arrays import TESTED as ARRAYS_TESTED
from test_numpy_linalg import NUMPY_FUNCTIONS as LINALG_FUNCTIONS
from test_numpy_ufuncs import TESTED as UFUNCS_TESTED

import pyautodiff as ad

SIZES = (3, 70000)
N = "n"  # stands for the size in the shapes below

# ----- the functions that run an op: one row each ------------------------------------------


@dataclass(frozen=True)
class Row:
    name: str  # as numpy_functions() lists it, without "numpy."
    desc: str
    fn: Callable  # numpy calls: on Tensors they dispatch, on arrays they are numpy itself
    ad_fn: Callable  # the same computation with pyautodiff's own functions
    inputs: tuple  # (domain, shape) per input; N in a shape is the size

    @property
    def id(self):
        return f"{self.name}-{self.desc}"

    def arrays(self, rng, n):
        return [dom(rng, tuple(n if s == N else s for s in shape)) for dom, shape in self.inputs]


ROWS = []


def row(name, desc, fn, ad_fn, *inputs):
    ROWS.append(Row(name, desc, fn, ad_fn, inputs))


for _name, _np, _ad, _dom in [
    ("exp", np.exp, ad.exp, real), ("log", np.log, ad.log, positive),
    ("sqrt", np.sqrt, ad.sqrt, positive), ("tanh", np.tanh, ad.tanh, real),
    ("sin", np.sin, ad.sin, real), ("cos", np.cos, ad.cos, real),
    ("absolute", np.abs, ad.abs, nonzero), ("negative", np.negative, ad.neg, real),
    ("positive", np.positive, lambda x: x * 1.0, real), ("square", np.square, ad.square, real),
    ("log1p", np.log1p, ad.log1p, above_minus_one), ("expm1", np.expm1, ad.expm1, real),
]:
    row(_name, "1d", _np, _ad, (_dom, (N,)))

for _name, _np, _ad, _dx, _dy in [
    ("add", np.add, ad.add, real, real), ("subtract", np.subtract, ad.sub, real, real),
    ("multiply", np.multiply, ad.mul, real, real), ("divide", np.divide, ad.div, real, nonzero),
    ("power", np.power, ad.pow, positive, real),
    ("maximum", np.maximum, ad.maximum, grid, halfgrid),
    ("minimum", np.minimum, ad.minimum, grid, halfgrid),
]:
    row(_name, "1d", _np, _ad, (_dx, (N,)), (_dy, (N,)))
    row(_name, "broadcast", _np, _ad, (_dx, (N, 1)), (_dy, (3,)))
row("divide", "true_divide", np.true_divide, ad.div, (real, (N,)), (nonzero, (N,)))
row("matmul", "2d-2d", np.matmul, ad.matmul, (real, (N, 2)), (real, (2, 3)))
row("matmul", "1d-1d", np.matmul, ad.matmul, (real, (N,)), (real, (N,)))

row("sum", "all", np.sum, ad.sum, (real, (N, 2)))
row("sum", "axis0", lambda x: np.sum(x, axis=0), lambda x: ad.sum(x, axis=0), (real, (N, 2)))
row("sum", "axis1-positional-keepdims", lambda x: np.sum(x, 1, keepdims=True),
    lambda x: ad.sum(x, axis=1, keepdims=True), (real, (N, 2)))
row("mean", "all", np.mean, ad.mean, (real, (N, 2)))
row("mean", "axis0", lambda x: np.mean(x, axis=0), lambda x: ad.mean(x, axis=0), (real, (N, 2)))
row("max", "axis1", lambda x: np.max(x, axis=1), lambda x: ad.max(x, axis=1), (grid, (N, 2)))
row("amax", "all", np.amax, ad.max, (grid, (N, 2)))
row("min", "axis0-keepdims", lambda x: np.min(x, axis=0, keepdims=True),
    lambda x: ad.min(x, axis=0, keepdims=True), (grid, (N, 2)))
row("amin", "all", np.amin, ad.min, (grid, (N, 2)))
row("var", "all", np.var, ad.var, (real, (N, 2)))
row("var", "axis0-ddof1", lambda x: np.var(x, axis=0, ddof=1),
    lambda x: ad.var(x, axis=0, ddof=1), (real, (N, 2)))
row("add.reduce", "default-axis0", np.add.reduce, lambda x: ad.sum(x, axis=0), (real, (N, 2)))
row("maximum.reduce", "axis1", lambda x: np.maximum.reduce(x, axis=1),
    lambda x: ad.max(x, axis=1), (grid, (N, 2)))
row("minimum.reduce", "default-axis0", np.minimum.reduce, lambda x: ad.min(x, axis=0),
    (grid, (N, 2)))

# dot's reference is matmul or mul directly, not ad.dot (which the dispatch calls).
for _desc, _sx, _sy in [("1d-1d", (N,), (N,)), ("2d-1d", (N, 2), (2,)), ("1d-2d", (N,), (N, 3)),
                        ("2d-2d", (2, N), (N, 3)), ("3d-2d", (N, 2, 2), (2, 3))]:
    row("dot", _desc, np.dot, ad.matmul, (real, _sx), (real, _sy))
row("dot", "0d-1d", np.dot, ad.mul, (real, ()), (real, (N,)))

row("concatenate", "axis0", lambda x, y: np.concatenate([x, y]),
    lambda x, y: ad.concatenate([x, y]), (real, (N,)), (real, (N,)))
row("concatenate", "axis1-tuple", lambda x, y: np.concatenate((x, y), axis=1),
    lambda x, y: ad.concatenate([x, y], axis=1), (real, (N, 2)), (real, (N, 1)))
row("concatenate", "axis-none-flattens", lambda x, y: np.concatenate([x, y], axis=None),
    lambda x, y: ad.concatenate([ad.flatten(x), y]), (real, (N, 2)), (real, (3,)))
row("stack", "axis1", lambda x, y: np.stack([x, y], axis=1), lambda x, y: ad.stack([x, y], 1),
    (real, (N,)), (real, (N,)))


def _every_other(x):
    return np.arange(len(x)) % 2 == 0


row("where", "mask-w-0", lambda x: np.where(_every_other(x), x, 0),
    lambda x: ad.where(_every_other(x), x, 0.0), (real, (N,)))
row("where", "tensor-condition", lambda x, y: np.where(y > 0, x, y),
    lambda x, y: ad.where(y > 0, x, y), (real, (N,)), (nonzero, (N,)))
row("clip", "both", lambda x: np.clip(x, -0.3, 0.5), lambda x: ad.clip(x, -0.3, 0.5),
    (grid, (N,)))
row("clip", "min-keyword", lambda x: np.clip(x, min=-0.3), lambda x: ad.clip(x, -0.3),
    (grid, (N, 2)))
row("reshape", "flat", lambda x: np.reshape(x, -1), lambda x: ad.reshape(x, -1), (real, (N, 2)))
row("reshape", "shape-keyword", lambda x: np.reshape(x, shape=(2, -1)),
    lambda x: ad.reshape(x, (2, -1)), (real, (N, 2)))
row("transpose", "default", np.transpose, ad.transpose, (real, (N, 2)))
row("transpose", "axes", lambda x: np.transpose(x, (1, 0, 2)),
    lambda x: ad.transpose(x, (1, 0, 2)), (real, (N, 2, 2)))
row("ravel", "2d", np.ravel, ad.flatten, (real, (N, 2)))
row("squeeze", "all", np.squeeze, ad.squeeze, (real, (N, 1)))
row("expand_dims", "axis0", lambda x: np.expand_dims(x, 0), lambda x: ad.expand_dims(x, 0),
    (real, (N,)))
row("swapaxes", "0-1", lambda x: np.swapaxes(x, 0, 1), lambda x: ad.swapaxes(x, 0, 1),
    (real, (N, 2)))
row("broadcast_to", "n1-to-n3", lambda x: np.broadcast_to(x, (len(x), 3)),
    lambda x: ad.broadcast_to(x, (len(x), 3)), (real, (N, 1)))
row("copy", "2d", np.copy, ad.copy, (real, (N, 2)))


# norm's reference is sqrt(sum(x * x)) written out.
def _norm_ref(axis=None, keepdims=False):
    return lambda x: ad.sqrt(ad.sum(x * x, axis=axis, keepdims=keepdims))


for _desc, _shape, _kw, _axis in [
    ("1d", (N,), {}, None), ("2d-frobenius", (N, 2), {}, None),
    ("axis1", (N, 2), {"axis": 1}, 1),
    ("axis0-keepdims", (N, 2), {"axis": 0, "keepdims": True}, 0),
    ("ord2-vector", (N,), {"ord": 2}, None), ("ord-fro", (N, 2), {"ord": "fro"}, None),
]:
    row("linalg.norm", _desc, lambda x, kw=_kw: np.linalg.norm(x, **kw),
        _norm_ref(_axis, _kw.get("keepdims", False)), (nonzero, _shape))

ROW_IDS = [r.id for r in ROWS]


def _tensors(arrays):
    return [ad.Tensor(a, requires_grad=True) for a in arrays]


def _grads(fn, arrays):
    """The gradients of sum(fn(*xs) * w), asserting that every input got one."""
    xs = _tensors(arrays)
    out = fn(*xs)
    (out * weights_for(out.shape)).sum().backward()
    for i, x in enumerate(xs):
        assert x.grad is not None, f"input {i} got no gradient"
    return [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_dispatch_value_matches_numpy_and_records(r, n, backend, rng):
    arrays = r.arrays(rng, n)
    out = r.fn(*_tensors(arrays))
    expected = np.asarray(r.fn(*arrays))  # numpy itself, on the plain arrays
    assert isinstance(out, ad.Tensor)
    assert out.requires_grad  # (np.positive(t) is t itself, as +t)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_dispatch_gradient_equals_pyautodiff_functions(r, n, backend, rng):
    arrays = r.arrays(rng, n)
    for got, want in zip(_grads(r.fn, arrays), _grads(r.ad_fn, arrays)):
        scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_dispatch_gradient_matches_finite_differences_of_numpy(r, backend, rng):
    # The reference is numpy's own function on arrays: it shares no code with pyautodiff.
    check_gradients(r.fn, r.arrays(rng, 3), ref=r.fn)


# ----- the issue's examples, exactly as written --------------------------------------------

@pytest.mark.parametrize("n", SIZES)
def test_issue_examples_keep_the_gradient(n, backend, rng):
    a = rng.uniform(-2.0, 2.0, n)
    m = _every_other(a)
    inside = (a >= 0) & (a <= 1)
    for make, expected in [
        (lambda w: np.linalg.norm(w), a / np.sqrt(np.sum(a * a))),
        (lambda w: np.dot(w, w), 2 * a),
        (lambda w: np.concatenate([w, w]).sum(), np.full(n, 2.0)),
        (lambda w: np.where(m, w, 0).sum(), m.astype(float)),
        (lambda w: np.clip(w, 0, 1).sum(), inside.astype(float)),
        (lambda w: np.exp(w).sum(), np.exp(a)),
        (lambda w: np.sum(w), np.ones(n)),
    ]:
        w = ad.tensor(a, requires_grad=True)
        make(w).backward()
        assert w.grad is not None
        np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12, atol=1e-14)


def test_dispatch_float32_stays_float32(backend, rng):
    a = rng.standard_normal(5).astype(np.float32)
    t = ad.tensor(a)
    for f in (np.exp, np.linalg.norm, np.sum, lambda x: np.dot(x, x)):
        out = f(t)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), f(a), rtol=1e-6)


def test_dispatch_under_create_graph_gives_second_derivatives(backend, rng):
    a = rng.standard_normal(4)
    h = ad.hessian(lambda w: np.sum(np.exp(w) * w))(a)
    np.testing.assert_allclose(h.numpy(), np.diag(np.exp(a) * (a + 2)), rtol=1e-12)
    h = ad.hessian(lambda w: np.dot(w, w))(a)
    np.testing.assert_allclose(h.numpy(), 2 * np.eye(4), rtol=1e-12)
    # d2|w|/dw2 = (I - u u^T) / |w| with u = w / |w|
    r = np.sqrt(a @ a)
    h = ad.hessian(lambda w: np.linalg.norm(w))(a)
    np.testing.assert_allclose(h.numpy(), (np.eye(4) - np.outer(a, a) / r**2) / r, rtol=1e-12)


# ----- operators with numpy operands on the left ---------------------------------------------

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("expr, ad_expr", [
    (lambda c, t: np.ones(len(c)) * t, lambda c, t: ad.mul(np.ones(len(c)), t)),
    (lambda c, t: 2.0 - t, lambda c, t: ad.sub(2.0, t)),
    (lambda c, t: np.float64(2) * t, lambda c, t: ad.mul(2.0, t)),
    (lambda c, t: np.float64(2) ** t, lambda c, t: ad.pow(2.0, t)),
    (lambda c, t: c + t, lambda c, t: ad.add(c, t)),
    (lambda c, t: c - t, lambda c, t: ad.sub(c, t)),
    (lambda c, t: c / t, lambda c, t: ad.div(c, t)),
    (lambda c, t: c ** t, lambda c, t: ad.pow(c, t)),
    (lambda c, t: c @ t, lambda c, t: ad.matmul(c, t)),
], ids=["ones-times", "float-minus", "npfloat64-times", "npfloat64-pow", "ndarray-plus",
        "ndarray-minus", "ndarray-div", "ndarray-pow", "ndarray-matmul"])
def test_numpy_left_operand_records(expr, ad_expr, n, backend, rng):
    c = rng.uniform(0.5, 2.0, n)
    a = rng.uniform(0.5, 2.0, n)
    t = ad.tensor(a, requires_grad=True)
    out = expr(c, t)
    assert isinstance(out, ad.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.numpy(), expr(c, a), rtol=1e-12)
    np.testing.assert_allclose(_grads(lambda t: expr(c, t), [a])[0],
                               _grads(lambda t: ad_expr(c, t), [a])[0], rtol=1e-12)


def test_numpy_float32_scalar_times_tensor_records(backend):
    t = ad.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    out = np.float32(3) * t
    assert out.dtype == np.float32 and out.grad_fn == "mul"
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [3.0, 3.0])


# ----- functions whose result carries no gradient --------------------------------------------

COMPARISONS = [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal]
LOGICAL = [np.logical_and, np.logical_or, np.logical_xor]


def _no_grad_bools(out, expected):
    assert isinstance(out, ad.Tensor) and not out.requires_grad
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out.numpy(), expected)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("f", COMPARISONS, ids=lambda f: f.__name__)
def test_comparison_gives_bool_tensor_without_gradient(f, n, backend, rng):
    x, y = grid(rng, (n,)), grid(rng, (n,))
    y[::3] = x[::3]  # some ties, for equal and friends
    tx, ty = _tensors([x, y])
    _no_grad_bools(f(tx, ty), f(x, y))
    _no_grad_bools(f(x, ty), f(x, y))  # an ndarray on the left
    _no_grad_bools(f(tx, 0.0), f(x, 0.0))


def test_comparison_operators_with_ndarray_on_the_left(backend):
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    t = ad.tensor(y, requires_grad=True)
    for op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
        _no_grad_bools(op(x, t), op(x, y))


@pytest.mark.parametrize("f", LOGICAL, ids=lambda f: f.__name__)
def test_logical_gives_bool_tensor_without_gradient(f, backend, rng):
    x, y = real(rng, (6,)), real(rng, (6,))
    tx, ty = _tensors([x, y])
    _no_grad_bools(f(tx > 0, ty > 0), f(x > 0, y > 0))
    _no_grad_bools(f(x > 0, ty > 0), f(x > 0, y > 0))
    _no_grad_bools(np.logical_not(tx > 0), np.logical_not(x > 0))


@pytest.mark.parametrize("f", [np.isfinite, np.isnan, np.isinf], ids=lambda f: f.__name__)
def test_float_tests_give_bool_tensor_without_gradient(f, backend):
    x = np.array([1.0, np.inf, -np.inf, np.nan, 0.0])
    _no_grad_bools(f(ad.tensor(x, requires_grad=True)), f(x))


# Functions that read no values, or give indices, bools or text: numpy's answer on the value.
VALUE_CALLS = [
    ("shape", lambda t: np.shape(t)),
    ("ndim", lambda t: np.ndim(t)),
    ("size", lambda t: np.size(t)),
    ("size", lambda t: np.size(t, 1)),
    ("result_type", lambda t: np.result_type(t, np.float32)),
    ("can_cast", lambda t: np.can_cast(t, np.float32)),
    ("iscomplexobj", lambda t: np.iscomplexobj(t)),
    ("isrealobj", lambda t: np.isrealobj(t)),
    ("argmax", lambda t: np.argmax(t)),
    ("argmax", lambda t: np.argmax(t, axis=1, keepdims=True)),
    ("argmin", lambda t: np.argmin(t, 0)),
    ("argsort", lambda t: np.argsort(t, axis=0)),
    ("nonzero", lambda t: np.nonzero(t > 0)),
    ("count_nonzero", lambda t: np.count_nonzero(t > 0, axis=0)),
    ("allclose", lambda t: np.allclose(t, np.round(np.asarray(t), 1), atol=0.05)),
    ("isclose", lambda t: np.isclose(t, np.round(np.asarray(t), 1), atol=0.03)),
    ("array_equal", lambda t: np.array_equal(t, t * 1.0)),
    ("where", lambda t: np.where(t > 0)),
    ("array2string", lambda t: np.array2string(t, precision=3)),
    ("array_str", lambda t: np.array_str(t)),
    ("array_repr", lambda t: np.array_repr(t)),
]


@pytest.mark.parametrize("call", [c for _, c in VALUE_CALLS],
                         ids=[f"{name}-{i}" for i, (name, _) in enumerate(VALUE_CALLS)])
def test_value_function_returns_numpys_answer_on_the_value(call, backend, rng):
    a = rng.standard_normal((4, 3))
    got = call(ad.tensor(a, requires_grad=True))
    want = call(a)
    assert not isinstance(got, ad.Tensor)
    assert type(got) is type(want)
    np.testing.assert_equal(got, want)


def test_metadata_of_a_tensor_is_numpys_for_its_value(backend):
    t = ad.tensor(np.zeros((2, 3), dtype=np.float32), requires_grad=True)
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2 and np.size(t) == 6
    assert np.result_type(t, 1.0) == np.float32
    assert np.result_type(t, np.float64) == np.float64


# ----- keyword arguments -------------------------------------------------------------------

@pytest.mark.parametrize("call, plain", [
    (lambda t: np.sum(t, axis=0, dtype=None, out=None, keepdims=False, where=True),
     lambda t: np.sum(t, axis=0)),
    (lambda t: np.exp(t, out=None, where=True, casting="same_kind", order="K", dtype=None,
                      subok=True), np.exp),
    (lambda t: np.mean(t, dtype=None, out=None, where=True), np.mean),
    (lambda t: np.max(t, axis=None, out=None, keepdims=False), np.max),
    (lambda t: np.var(t, ddof=0, dtype=None), np.var),
    (lambda t: np.concatenate([t, t], out=None, dtype=None, casting="same_kind"),
     lambda t: np.concatenate([t, t])),
    (lambda t: np.reshape(t, (6,), order="C", copy=None), lambda t: np.reshape(t, (6,))),
    (lambda t: np.clip(t, 0, 1, out=None), lambda t: np.clip(t, 0, 1)),
    (lambda t: np.dot(t, np.ones(3), out=None), lambda t: np.dot(t, np.ones(3))),
    (lambda t: np.copy(t, order="K", subok=False), np.copy),
    (lambda t: np.add.reduce(t, axis=0, dtype=None, out=None, keepdims=False, where=True),
     lambda t: np.add.reduce(t)),
], ids=["sum", "exp", "mean", "max", "var", "concatenate", "reshape", "clip", "dot", "copy",
        "add.reduce"])
def test_keywords_at_their_default_are_accepted(call, plain, backend, rng):
    a = rng.standard_normal((2, 3))
    out = call(ad.tensor(a, requires_grad=True))
    assert out.grad_fn is not None
    np.testing.assert_allclose(out.numpy(), plain(a), rtol=1e-12)


MASK = np.array([[True, False, True], [False, True, True]])


@pytest.mark.parametrize("call, name, arg", [
    (lambda t: np.sum(t, dtype=np.float32), "numpy.sum", "dtype"),
    (lambda t: np.sum(t, None, np.float32), "numpy.sum", "dtype"),  # positional
    (lambda t: np.sum(t, initial=1.0), "numpy.sum", "initial"),
    (lambda t: np.sum(t, where=MASK), "numpy.sum", "where"),
    (lambda t: np.mean(t, dtype=np.float32), "numpy.mean", "dtype"),
    (lambda t: np.max(t, initial=0.0), "numpy.max", "initial"),
    (lambda t: np.amin(t, where=MASK, initial=5.0), "numpy.amin", "where"),
    (lambda t: np.var(t, correction=1), "numpy.var", "correction"),
    (lambda t: np.exp(t, dtype=np.float32), "numpy.exp", "dtype"),
    (lambda t: np.add(t, t, where=MASK), "numpy.add", "where"),
    (lambda t: np.multiply(t, 2.0, casting="unsafe"), "numpy.multiply", "casting"),
    (lambda t: np.reshape(t, -1, order="F"), "numpy.reshape", "order"),
    (lambda t: np.concatenate([t, t], dtype=np.float32), "numpy.concatenate", "dtype"),
    (lambda t: np.clip(t, 0, 1, dtype=np.float32), "numpy.clip", "dtype"),
    (lambda t: np.copy(t, order="F"), "numpy.copy", "order"),
    (lambda t: np.add.reduce(t, initial=0.0), "numpy.add.reduce", "initial"),
    (lambda t: np.matmul(t, t.T, axes=[(0, 1), (0, 1), (0, 1)]), "numpy.matmul", "axes"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_keywords_not_at_their_default_raise_naming_function_and_argument(call, name, arg,
                                                                          backend, rng):
    t = ad.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    with pytest.raises(TypeError) as e:
        call(t)
    assert name in str(e.value) and f"{arg}=" in str(e.value)


# ----- what is refused -----------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda t: np.fft.fft(t), "numpy.fft.fft"),
    (lambda t: np.median(t), "numpy.median"),
    (lambda t: np.nancumsum(t), "numpy.nancumsum"),
    (lambda t: np.partition(t, 1), "numpy.partition"),
    (lambda t: np.percentile(t, 50), "numpy.percentile"),
    (lambda t: np.round(t), "numpy.round"),
    (lambda t: np.convolve(np.ones(3), t), "numpy.convolve"),
    (lambda t: np.nextafter(t, t), "numpy.nextafter"),
    (lambda t: np.nextafter(np.ones(3), t), "numpy.nextafter"),
    (lambda t: np.spacing(t), "numpy.spacing"),
    (lambda t: np.add.reduceat(t, [0, 2]), "numpy.add.reduceat"),
    (lambda t: np.multiply.outer(t, t), "numpy.multiply.outer"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_unimplemented_function_raises_naming_it(call, name, backend):
    t = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(TypeError) as e:
        call(t)
    assert str(e.value).startswith(f"{name} is not implemented")
    assert "ad.numpy_functions()" in str(e.value)


def test_unimplemented_linalg_function_names_its_module(backend):
    with pytest.raises(TypeError, match=r"^numpy\.linalg\.eigh is not implemented"):
        np.linalg.eigh(ad.tensor(np.eye(2), requires_grad=True))


@pytest.mark.parametrize("call", [
    lambda t, a: np.exp(t, out=a),
    lambda t, a: np.add(a, t, out=a),
    lambda t, a: np.sum(t, axis=0, out=a[0]),
    lambda t, a: np.concatenate([t[:1], t[1:]], out=a),
    lambda t, a: np.clip(t, 0, 1, out=a),
    lambda t, a: np.dot(t[0], t[0], out=a[0, 0, ...]),
    lambda t, a: np.maximum.reduce(t, out=a[0]),
    lambda t, a: np.cumsum(t, axis=1, out=a),
    lambda t, a: np.prod(t, axis=0, out=a[0]),
    lambda t, a: np.take(t, [0, 1], out=a[0, :2]),
    lambda t, a: np.multiply.accumulate(t, out=a),
], ids=["exp", "add", "sum", "concatenate", "clip", "dot", "maximum.reduce", "cumsum", "prod",
        "take", "multiply.accumulate"])
def test_out_ndarray_with_tensor_input_raises_and_writes_nothing(call, backend):
    t = ad.tensor(np.full((2, 3), 0.5), requires_grad=True)
    a = np.full((2, 3), 7.0)
    with pytest.raises(TypeError, match="out= an ndarray"):
        call(t, a)
    np.testing.assert_array_equal(a, 7.0)


@pytest.mark.parametrize("op", [operator.iadd, operator.isub, operator.imul, operator.itruediv])
def test_inplace_operator_on_ndarray_with_tensor_raises(op, backend):
    a = np.full(3, 7.0)
    t = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"array \+= tensor"):
        op(a, t)
    np.testing.assert_array_equal(a, 7.0)


@pytest.mark.parametrize("call", [
    lambda t, u: np.exp(t, out=u),
    lambda t, u: np.exp(np.ones(3), out=u),
    lambda t, u: np.add(t, 1.0, out=(u,)),
    lambda t, u: np.sum(np.ones((2, 3)), axis=0, out=u),
    lambda t, u: np.argmax(np.ones((3, 3)), axis=0, out=u),
], ids=["exp", "exp-plain-input", "add", "sum-plain-input", "argmax-plain-input"])
def test_out_tensor_raises_and_writes_nothing(call, backend):
    t = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    u = ad.tensor([7.0, 7.0, 7.0])
    with pytest.raises(TypeError, match="out= a Tensor"):
        call(t, u)
    np.testing.assert_array_equal(u.numpy(), 7.0)


# ----- plain ndarrays are not affected -------------------------------------------------------

def test_plain_ndarrays_are_not_affected(backend):
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    assert type(np.exp(a)) is np.ndarray
    assert type(np.sum(a)) is np.float64
    assert type(np.linalg.norm(a)) is np.float64
    assert type(np.concatenate([a, a])) is np.ndarray
    assert type(np.fft.fft(a)) is np.ndarray  # unimplemented for Tensors, fine for arrays
    b = a.copy()
    b += a
    np.testing.assert_array_equal(b, 2 * a)
    np.exp(a, out=b)
    np.testing.assert_array_equal(b, np.exp(a))


def test_asarray_and_array_still_return_the_value(backend):
    t = ad.tensor([[1.0, 2.0]], requires_grad=True)
    for arr in (np.asarray(t), np.array(t), np.asarray(t, dtype=np.float32)):
        assert type(arr) is np.ndarray
        np.testing.assert_array_equal(arr, [[1.0, 2.0]])
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


# ----- dot and norm: what they refuse, and norm's gradient at 0 -----------------------------
# (N-d dot and the other orders of norm: tests/test_numpy_linalg.py)

def test_dot_shape_mismatch_names_dot(backend):
    with pytest.raises(ValueError, match=r"^dot: shapes \(3,\) and \(4,\) are not aligned"):
        np.dot(ad.ones(3, requires_grad=True), ad.ones(4))


@pytest.mark.parametrize("shape, kw, error", [
    ((3,), {"ord": "fro"}, ValueError),
    ((2, 3), {"ord": 2}, TypeError),
    ((2, 3), {"ord": "nuc"}, TypeError),
    ((2, 3), {"ord": 3}, ValueError),
    ((2, 3, 4), {"ord": 2}, ValueError),
    ((2, 3), {"axis": 2}, ValueError),
])
def test_norm_unsupported_ord_raises(shape, kw, error, backend):
    for f in (np.linalg.norm, ad.norm):
        with pytest.raises(error, match=r"^norm: "):
            f(ad.ones(shape, requires_grad=True), **kw)


@pytest.mark.parametrize("n", SIZES)
def test_norm_gradient_at_zero_is_zero(n, backend):
    w = ad.zeros(n, requires_grad=True)
    np.linalg.norm(w).backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(n))
    # Along an axis, with one zero row among others.
    a = np.ones((n, 2))
    a[1] = 0.0
    x = ad.tensor(a, requires_grad=True)
    g = weights_for((n,))
    np.linalg.norm(x, axis=1).backward(g)
    expected = g[:, None] * a / np.sqrt(2.0)
    expected[1] = 0.0
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=0)


def test_norm_gradient_at_zero_under_create_graph_is_zero(backend):
    w = ad.zeros(3, requires_grad=True)
    np.linalg.norm(w).backward(create_graph=True)
    assert w.grad.requires_grad
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(3))


def test_norm_gradient_at_zero_matches_torch(backend):
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    g = np.array([0.7, -1.3])
    for axis in (None, 1):
        x = ad.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        if axis is None:
            np.linalg.norm(x[0]).backward()
            torch.linalg.norm(tx[0]).backward()
        else:
            np.linalg.norm(x, axis=axis).backward(g)
            torch.linalg.vector_norm(tx, dim=axis).backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=0)


# ----- the list ------------------------------------------------------------------------------

REQUIRED = {
    "exp", "log", "sqrt", "tanh", "sin", "cos", "absolute", "maximum", "minimum", "sum", "mean",
    "max", "amax", "min", "amin", "var", "dot", "matmul", "concatenate", "stack", "where",
    "clip", "reshape", "transpose", "linalg.norm", "add", "subtract", "multiply", "divide",
    "power", "negative", "positive", "square", "log1p", "expm1", "less", "less_equal",
    "greater", "greater_equal", "equal", "not_equal", "logical_and", "logical_or",
    "logical_xor", "logical_not", "shape", "ndim", "size",
}


def _resolve(name):
    obj = np
    for part in name.split(".")[1:]:
        obj = getattr(obj, part)
    return obj


def test_numpy_functions_lists_what_is_implemented():
    names = ad.numpy_functions()
    assert isinstance(names, tuple) and list(names) == sorted(set(names))
    assert "numpy_functions" in ad.__all__
    assert {f"numpy.{n}" for n in REQUIRED} <= set(names)
    for name in names:
        assert callable(_resolve(name)), name


def test_numpy_functions_are_all_tested_here():
    tested = {f"numpy.{r.name}" for r in ROWS}
    tested |= {f"numpy.{f.__name__}" for f in COMPARISONS + LOGICAL}
    tested |= {"numpy.logical_not", "numpy.isfinite", "numpy.isnan", "numpy.isinf"}
    tested |= {f"numpy.{name}" for name, _ in VALUE_CALLS}
    tested |= UFUNCS_TESTED  # (the other real ufuncs: tests/test_numpy_ufuncs.py)
    tested |= ARRAYS_TESTED  # reductions, shape and indexing functions: test_numpy_arrays.py
    tested |= {f"numpy.{name}" for name in LINALG_FUNCTIONS}
    assert tested == set(ad.numpy_functions())

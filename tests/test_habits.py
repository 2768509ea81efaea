"""Habits users bring from PyTorch and numpy: constructors that take ``*shape``, and
``dim=``/``keepdim=`` as PyTorch's names for ``axis=``/``keepdims=``.

References: numpy's own functions on the same arrays, closed forms, and PyTorch
where it is installed (those parts skip without it).
"""

import numpy as np
import pytest

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")

SIZES = [(1, 3), (350, 200)]  # 3 and 70000 elements: below and above the C thresholds


def _torch():
    return pytest.importorskip("torch")


# ----- zeros, ones, full: *shape -----------------------------------------------------------

SHAPE_FORMS = [  # (arguments, the shape numpy makes of them)
    ((2, 3), (2, 3)),
    (((2, 3),), (2, 3)),
    (([2, 3],), (2, 3)),
    ((5,), (5,)),
    ((np.int64(2), np.int32(3)), (2, 3)),
    ((4, 0, 2), (4, 0, 2)),
    (((),), ()),
    ((), ()),
]


@pytest.mark.parametrize("args, shape", SHAPE_FORMS, ids=lambda v: repr(v))
@pytest.mark.parametrize("name, value", [("zeros", 0.0), ("ones", 1.0)])
def test_zeros_ones_take_shape_as_numpy_and_torch(name, value, args, shape, dtype):
    t = getattr(ad, name)(*args, dtype=dtype, requires_grad=True)
    expected = np.full(shape, value, dtype=dtype)
    assert t.shape == shape and t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), expected)
    assert t.is_leaf and t.requires_grad


@pytest.mark.parametrize("args", [(2, 3), ((2, 3),), ([2, 3],), (5,), ((),)],
                         ids=lambda v: repr(v))
def test_zeros_ones_full_shapes_match_torch(args):
    torch = _torch()
    assert ad.zeros(*args).shape == tuple(torch.zeros(*args).shape)
    assert ad.ones(*args).shape == tuple(torch.ones(*args).shape)
    size = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    np.testing.assert_array_equal(ad.full(size, 7.5).numpy(),
                                  torch.full(size, 7.5, dtype=torch.float64).numpy())


@pytest.mark.parametrize("n", [3, 70000])
def test_constructed_leaves_take_gradients(n):
    x = ad.ones(n, requires_grad=True)
    c = ad.full(n, value=2.5)
    (x * x * c).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(n, 5.0))  # d/dx 2.5 x^2 at 1


def test_full_forms():
    # numpy's and PyTorch's full(shape, value), with shape an int, tuple or list
    np.testing.assert_array_equal(ad.full((2, 3), 7.0).numpy(), np.full((2, 3), 7.0))
    np.testing.assert_array_equal(ad.full([2, 3], -1.5).numpy(), np.full([2, 3], -1.5))
    np.testing.assert_array_equal(ad.full(5, 1).numpy(), np.full(5, 1.0))
    # exactly numpy's reading of two ints: shape (2,) filled with 3
    np.testing.assert_array_equal(ad.full(2, 3).numpy(), np.full(2, 3.0))
    # dims spread out, as zeros takes them, when the value comes by keyword
    np.testing.assert_array_equal(ad.full(2, 3, value=7.0).numpy(), np.full((2, 3), 7.0))
    np.testing.assert_array_equal(ad.full((2, 3), value=7.0).numpy(), np.full((2, 3), 7.0))
    np.testing.assert_array_equal(ad.full(value=4.0).numpy(), np.full((), 4.0))
    t = ad.full(2, 2, value=np.pi, dtype="float32", requires_grad=True)
    assert t.dtype == np.float32 and t.requires_grad
    np.testing.assert_array_equal(t.numpy(), np.full((2, 2), np.pi, dtype=np.float32))
    # an array value broadcasts, as in numpy
    row = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ad.full((2, 3), row).numpy(), np.full((2, 3), row))
    np.testing.assert_array_equal(ad.full(2, 3, value=ad.tensor(row)).numpy(),
                                  np.full((2, 3), row))


def test_zeros_like_and_ones_like_unchanged(rng):
    x = ad.tensor(rng.standard_normal((2, 3)), dtype="float32")
    assert ad.zeros_like(x).shape == (2, 3) and ad.zeros_like(x).dtype == np.float32
    np.testing.assert_array_equal(ad.ones_like(x, dtype="float64").numpy(), np.ones((2, 3)))


@pytest.mark.parametrize("name", ["zeros", "ones", "full", "randn", "rand"])
@pytest.mark.parametrize("args, error, pattern", [
    ((2.5,), TypeError, r"shape must be ints or one tuple or list of ints, got 2\.5$"),
    ((True,), TypeError, r"got True$"),
    (("ab",), TypeError, r"got 'ab'$"),
    ((None,), TypeError, r"got None$"),
    (((2, 3), 4), TypeError, r"got \(\(2, 3\), 4\); dtype= and requires_grad= are keyword-only"),
    ((2, [3]), TypeError, r"got \(2, \[3\]\)"),
    (((2, 2.0),), TypeError, r"got \(2, 2\.0\)$"),
    ((-1,), ValueError, r"negative dimension -1 in shape \(-1,\)$"),
    ((2, -3), ValueError, r"negative dimension -3 in shape \(2, -3\)$"),
])
def test_bad_shapes_raise_naming_the_function(name, args, error, pattern):
    fn = getattr(ad, name)
    call = (lambda: fn(*args, value=1.0)) if name == "full" else (lambda: fn(*args))
    with pytest.raises(error, match=rf"^{name}: .*{pattern}"):
        call()


def test_zeros_and_ones_take_api_md_forms_too():
    # API.md writes ad.zeros(shape, dtype=None, requires_grad=False): shape= by keyword
    # and a positional dtype after a shape tuple work as they do in numpy.
    for fn, value in ((ad.zeros, 0.0), (ad.ones, 1.0)):
        a, b = fn(shape=(2, 3)), fn((2, 3), np.float32)
        np.testing.assert_array_equal(a.numpy(), np.full((2, 3), value))
        assert (a.dtype, b.dtype, b.shape) == (np.float64, np.float32, (2, 3))
    for name in ("full", "randn", "rand"):
        fn = getattr(ad, name)
        call = (lambda fn=fn: fn((2, 3), np.float32, value=1.0)) if name == "full" else (
            lambda fn=fn: fn((2, 3), np.float32))
        with pytest.raises(TypeError, match=rf"^{name}: .*dtype= and requires_grad= are keyword"):
            call()


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: ad.full(2, 3, 7.0), TypeError,
     r"full: expected full\(shape, value\) or full\(\*shape, value=\.\.\.\), got 3 positional"),
    (lambda: ad.full((2, 3)), TypeError, r"full: expected .* got 1 positional"),
    (lambda: ad.full(), TypeError, r"full: expected .* got 0 positional"),
    (lambda: ad.full((2,), 1 + 2j), TypeError, r"full: unsupported data of dtype complex128"),
    (lambda: ad.full((2,), None), TypeError, r"full: unsupported data of dtype object"),
    (lambda: ad.full((2,), "x"), TypeError, r"full: unsupported data of dtype <U1"),
    (lambda: ad.full((2,), [1.0, 2.0, 3.0]), ValueError,
     r"full: value of shape \(3,\) does not broadcast to shape \(2,\)"),
    (lambda: ad.zeros(2, dtype="int32"), TypeError, r"zeros: unsupported dtype int32"),
    (lambda: ad.ones(2, dtype=np.complex128), TypeError, r"ones: unsupported dtype complex128"),
])
def test_bad_full_calls_and_dtypes(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_randn_and_rand_take_every_shape_form():
    for fn in (ad.randn, ad.rand):
        a, b, c = fn(2, 3, seed=4), fn((2, 3), seed=4), fn([2, 3], seed=4)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    # numpy's Generator, drawn as documented
    expected = np.random.default_rng(4).standard_normal((2, 3))
    np.testing.assert_array_equal(ad.randn(np.int64(2), 3, seed=4).numpy(), expected)


def test_randn_and_rand_without_seed_follow_manual_seed():
    # as torch.randn after torch.manual_seed: the default generator, drawn in order
    for fn, draw in ((ad.randn, "standard_normal"), (ad.rand, "random")):
        ad.manual_seed(7)
        a, b = fn(2, 3).numpy(), fn(2, 3).numpy()
        ad.manual_seed(7)
        np.testing.assert_array_equal(fn(2, 3).numpy(), a)
        ref = np.random.default_rng(7)
        np.testing.assert_array_equal(a, getattr(ref, draw)((2, 3)))
        np.testing.assert_array_equal(b, getattr(ref, draw)((2, 3)))


# ----- dim= and keepdim= --------------------------------------------------------------------

def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


REDUCTIONS = {  # name: numpy reference (x, axis, keepdims)
    "sum": lambda x, a, k: np.sum(x, axis=a, keepdims=k),
    "mean": lambda x, a, k: np.mean(x, axis=a, keepdims=k),
    "max": lambda x, a, k: np.max(x, axis=a, keepdims=k),
    "min": lambda x, a, k: np.min(x, axis=a, keepdims=k),
    "var": lambda x, a, k: np.var(x, axis=a, keepdims=k),
    "logsumexp": _np_logsumexp,
}


@pytest.mark.parametrize("shape", SIZES, ids=["small", "large"])
@pytest.mark.parametrize("dim", [0, 1, -1, (0, 1), None])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reductions_take_dim_and_keepdim(name, dim, keepdim, shape, rng):
    x = rng.standard_normal(shape)
    expected = REDUCTIONS[name](x, dim, keepdim)
    tol = {"rtol": 1e-12, "atol": 1e-12}
    results = {}
    for how, call in {
        "axis": lambda t: getattr(ad, name)(t, axis=dim, keepdims=keepdim),
        "function": lambda t: getattr(ad, name)(t, dim=dim, keepdim=keepdim),
        "method": lambda t: getattr(t, name)(dim=dim, keepdim=keepdim),
        "mixed": lambda t: getattr(t, name)(dim=dim, keepdims=keepdim),
    }.items():
        t = ad.tensor(x, requires_grad=True)
        out = call(t)
        assert out.shape == np.shape(expected)
        np.testing.assert_allclose(out.numpy(), expected, **tol)
        out.sum().backward()
        results[how] = t.grad.numpy()
    for how in ("function", "method", "mixed"):  # the same gradient as with axis=
        np.testing.assert_array_equal(results[how], results["axis"])
    if name == "sum":
        np.testing.assert_array_equal(results["axis"], np.ones(shape))
    if name == "mean":
        count = x.size if dim is None else np.prod([shape[a] for a in np.atleast_1d(dim)])
        np.testing.assert_allclose(results["axis"], np.full(shape, 1 / count), rtol=1e-15)


@pytest.mark.parametrize("shape", SIZES, ids=["small", "large"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax_take_dim(dim, shape, rng):
    x = rng.standard_normal(shape)
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    soft = e / e.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(ad.softmax(ad.tensor(x), dim=dim).numpy(), soft, rtol=1e-12)
    np.testing.assert_allclose(ad.tensor(x).softmax(dim=dim).numpy(), soft, rtol=1e-12)
    np.testing.assert_allclose(ad.tensor(x).log_softmax(dim=dim).numpy(), np.log(soft),
                               rtol=1e-12, atol=1e-12)
    t = ad.tensor(x, requires_grad=True)
    (ad.log_softmax(t, dim=dim) * x).sum().backward()  # d/dx sum(c * log_softmax(x)), c = x
    expected = x - soft * x.sum(axis=dim, keepdims=True)
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_var_with_dim_keeps_numpy_ddof(rng):
    # dim= is only a name: var stays numpy's (ddof=0) unless ddof is given, unlike torch.var.
    x = rng.standard_normal((4, 5))
    np.testing.assert_allclose(ad.var(ad.tensor(x), dim=1).numpy(), np.var(x, axis=1),
                               rtol=1e-13)
    np.testing.assert_allclose(ad.tensor(x).var(dim=0, ddof=1, keepdim=True).numpy(),
                               np.var(x, axis=0, ddof=1, keepdims=True), rtol=1e-13)


def test_shape_functions_take_dim(rng):
    x, y = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    tx, ty = ad.tensor(x, requires_grad=True), ad.tensor(y)
    np.testing.assert_array_equal(ad.concatenate([tx, ty], dim=1).numpy(),
                                  np.concatenate([x, y], axis=1))
    np.testing.assert_array_equal(ad.stack([tx, ty], dim=-1).numpy(), np.stack([x, y], axis=-1))
    np.testing.assert_array_equal(tx.expand_dims(dim=1).numpy(), np.expand_dims(x, axis=1))
    np.testing.assert_array_equal(ad.expand_dims(tx, dim=1).squeeze(dim=1).numpy(), x)
    out = ad.stack([tx, tx * 2.0], dim=0).sum()
    out.backward()
    np.testing.assert_array_equal(tx.grad.numpy(), np.full((2, 3), 3.0))


def test_dim_matches_torch(rng):
    torch = _torch()
    x = rng.standard_normal((3, 4))
    tx = torch.tensor(x)
    t = ad.tensor(x)
    pairs = [
        (t.sum(dim=1, keepdim=True), tx.sum(dim=1, keepdim=True)),
        (t.mean(dim=0), tx.mean(dim=0)),
        (t.max(dim=1), tx.max(dim=1).values),  # values only: see max's docstring
        (t.min(dim=0, keepdim=True), tx.min(dim=0, keepdim=True).values),
        (t.var(dim=1, ddof=1), tx.var(dim=1)),
        (t.logsumexp(dim=0), tx.logsumexp(dim=0)),
        (ad.softmax(t, dim=0), torch.softmax(tx, dim=0)),
        (ad.log_softmax(t, dim=1), torch.log_softmax(tx, dim=1)),
        (ad.concatenate([t, t], dim=1), torch.cat([tx, tx], dim=1)),
        (ad.stack([t, t], dim=1), torch.stack([tx, tx], dim=1)),
        (t.expand_dims(dim=0).squeeze(dim=0), tx.unsqueeze(dim=0).squeeze(dim=0)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-15)


AXIS_FUNCTIONS = ["sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax",
                  "squeeze", "expand_dims"]


@pytest.mark.parametrize("name", AXIS_FUNCTIONS)
def test_axis_and_dim_together_raise_type_error(name):
    t = ad.ones((1, 3))
    pattern = rf"^{name}: got both axis= and dim= \(PyTorch's name for axis\)"
    with pytest.raises(TypeError, match=pattern):
        getattr(ad, name)(t, axis=0, dim=0)
    with pytest.raises(TypeError, match=pattern):
        getattr(t, name)(axis=0, dim=0)


@pytest.mark.parametrize("name", ["concatenate", "stack"])
def test_axis_and_dim_together_raise_type_error_when_joining(name):
    with pytest.raises(TypeError, match=rf"^{name}: got both axis= and dim="):
        getattr(ad, name)([ad.ones(2), ad.ones(2)], axis=0, dim=0)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "logsumexp"])
def test_keepdims_and_keepdim_together_raise_type_error(name):
    with pytest.raises(TypeError, match=rf"^{name}: got both keepdims= and keepdim="):
        getattr(ad.ones((2, 2)), name)(dim=0, keepdims=True, keepdim=True)


@pytest.mark.parametrize("name", ["sum", "var", "softmax"])
def test_dim_and_a_positional_axis_raise_type_error(name):
    with pytest.raises(TypeError, match=rf"{name}.*multiple values for argument 'axis'"):
        getattr(ad, name)(ad.ones((2, 2)), 0, dim=1)


def test_dim_is_refused_where_there_is_no_axis():
    t = ad.ones(3)
    with pytest.raises(TypeError, match=r"exp\b.*unexpected keyword argument 'dim'"):
        ad.exp(t, dim=0)
    with pytest.raises(TypeError, match=r"softmax\(\) got an unexpected keyword argument "
                                        r"'keepdim'"):
        t.softmax(keepdim=True)
    with pytest.raises(TypeError, match=r"dim"):
        ad.reshape(t, 3, dim=0)


def test_keywords_are_not_changed_for_the_caller():
    kw = {"dim": 0, "keepdim": True}
    t = ad.ones((2, 2))
    t.sum(**kw)
    ad.var(t, **kw)
    assert kw == {"dim": 0, "keepdim": True}

"""The Tensor API surface of API.md: constructors, properties, conversions, repr,
operators (reflected too) and comparisons, on every backend."""

import numpy as np
import pytest

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")


# ----- constructors ---------------------------------------------------------------------------

@pytest.mark.parametrize("make", [ad.Tensor, ad.tensor], ids=["Tensor", "tensor"])
def test_tensor_constructor_accepts_scalars_lists_arrays_tensors(make):
    np.testing.assert_array_equal(make(2.5).numpy(), np.array(2.5))
    assert make(2.5).shape == ()
    np.testing.assert_array_equal(make([[1, 2], [3, 4]]).numpy(), [[1.0, 2.0], [3.0, 4.0]])
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(make(a).numpy(), a)
    t = make(a, requires_grad=True)
    u = make(t)
    np.testing.assert_array_equal(u.numpy(), a)
    assert u.is_leaf
    assert make(a, dtype=np.float32).dtype == np.float32
    assert make(np.float32(1.5)).dtype == np.float32
    assert make(a, dtype="float64").dtype == np.float64
    assert make(a, requires_grad=True).requires_grad
    assert not make(a).requires_grad


def test_tensor_constructor_keeps_float32():
    a = np.ones(3, dtype=np.float32)
    assert ad.Tensor(a).dtype == np.float32
    assert ad.Tensor(a, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("fn,np_fn", [(ad.zeros, np.zeros), (ad.ones, np.ones)])
def test_zeros_ones_constructors(fn, np_fn, dtype):
    t = fn((2, 3), dtype=dtype)
    assert t.dtype == dtype and t.shape == (2, 3)
    np.testing.assert_array_equal(t.numpy(), np_fn((2, 3)))
    assert fn(4).shape == (4,)
    assert fn(()).shape == ()
    assert fn((2,)).dtype == np.float64  # the default
    assert fn(2, requires_grad=True).requires_grad
    assert fn(2).is_leaf


def test_full_constructor(dtype):
    t = ad.full((2, 2), 3.5, dtype=dtype)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.full((2, 2), 3.5))
    assert ad.full(3, 7).dtype == np.float64
    np.testing.assert_array_equal(ad.full(3, 7).numpy(), [7.0, 7.0, 7.0])


def test_zeros_like_ones_like(dtype):
    base = ad.Tensor(np.arange(6.0).reshape(3, 2), dtype=dtype)
    z, o = ad.zeros_like(base), ad.ones_like(base)
    assert z.shape == o.shape == (3, 2)
    assert z.dtype == o.dtype == dtype
    np.testing.assert_array_equal(z.numpy(), np.zeros((3, 2)))
    np.testing.assert_array_equal(o.numpy(), np.ones((3, 2)))
    assert not z.requires_grad
    assert ad.zeros_like(base, requires_grad=True).requires_grad


@pytest.mark.parametrize("fn", [ad.randn, ad.rand], ids=["randn", "rand"])
def test_random_constructors_seed_shape_dtype(fn, dtype):
    a = fn(3, 4, seed=123, dtype=dtype)
    b = fn(3, 4, seed=123, dtype=dtype)
    c = fn(3, 4, seed=124, dtype=dtype)
    assert a.shape == (3, 4) and a.dtype == dtype
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert fn(5, seed=0).dtype == np.float64
    assert fn((2, 2), seed=0).shape == (2, 2)
    assert fn(2, seed=0, requires_grad=True).requires_grad


def test_randn_distribution():
    v = ad.randn(20000, seed=1).numpy()
    # mean 0 +- 4 standard errors, std 1 within 3%.
    assert abs(v.mean()) < 4 / np.sqrt(20000)
    assert abs(v.std() - 1) < 0.03


def test_rand_distribution():
    v = ad.rand(20000, seed=2).numpy()
    assert v.min() >= 0.0 and v.max() < 1.0
    assert abs(v.mean() - 0.5) < 4 * np.sqrt(1 / 12 / 20000)


# ----- properties ----------------------------------------------------------------------------

def test_tensor_properties_match_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = ad.Tensor(a)
    assert isinstance(t.data, np.ndarray)
    np.testing.assert_array_equal(t.data, a)
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), a)
    assert t.shape == a.shape and t.ndim == 3 and t.size == 24 and t.dtype == np.float64
    assert len(t) == 2
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    np.testing.assert_array_equal(ad.Tensor([[1.0, 2.0]]).T.numpy(), [[1.0], [2.0]])


def test_tensor_len_of_0d_raises():
    with pytest.raises(TypeError):
        len(ad.Tensor(1.0))


def test_tensor_item():
    assert ad.Tensor([[2.5]]).item() == 2.5
    assert isinstance(ad.Tensor(3).item(), float)
    assert ad.Tensor(np.float32(0.5)).item() == 0.5
    with pytest.raises(ValueError):
        ad.Tensor([1.0, 2.0]).item()


def test_tensor_T_is_differentiable():
    x = ad.Tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    (x.T * ad.Tensor([[1.0], [10.0], [100.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 10.0, 100.0]])


def test_requires_grad_settable_on_leaves_only():
    x = ad.Tensor([1.0, 2.0])
    assert x.requires_grad is False
    x.requires_grad = True
    assert x.requires_grad is True
    y = x * 2.0
    assert not y.is_leaf
    with pytest.raises(RuntimeError):
        y.requires_grad = False
    x.requires_grad = False
    assert not (x * 2.0).requires_grad


def test_is_leaf():
    x = ad.Tensor([1.0], requires_grad=True)
    c = ad.Tensor([1.0])
    assert x.is_leaf and c.is_leaf
    assert not (x + 1.0).is_leaf
    assert (c + 1.0).is_leaf  # nothing recorded: no history
    assert (x + 1.0).detach().is_leaf


def test_grad_none_until_backward_then_tensor_of_shape_and_dtype(dtype):
    x = ad.Tensor(np.ones((2, 3)), requires_grad=True, dtype=dtype)
    assert x.grad is None
    (x * 2.0).sum().backward()
    assert isinstance(x.grad, ad.Tensor)
    assert x.grad.shape == (2, 3) and x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
    x.grad = None
    assert x.grad is None


def test_grad_assignable():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    x.grad = ad.Tensor([5.0, 6.0])
    (x * 1.0).sum().backward()  # accumulates onto the assigned value
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 7.0])
    with pytest.raises(ValueError):
        x.grad = ad.Tensor([1.0, 2.0, 3.0])


def test_np_asarray_returns_the_values():
    t = ad.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    a = np.asarray(t)
    assert isinstance(a, np.ndarray)
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float32), a.astype(np.float32))
    assert np.array(t).dtype == np.float64


def test_float_int_bool_conversions():
    assert float(ad.Tensor([1.5])) == 1.5
    assert int(ad.Tensor(2.0)) == 2
    assert bool(ad.Tensor(1.0)) is True and bool(ad.Tensor(0.0)) is False


def test_iteration_yields_rows():
    rows = list(ad.Tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert len(rows) == 2 and all(isinstance(r, ad.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[1].numpy(), [3.0, 4.0])


# ----- repr ----------------------------------------------------------------------------------

def test_repr_shows_values_dtype_and_requires_grad():
    r = repr(ad.Tensor([1.5, -2.25], requires_grad=True))
    assert "1.5" in r and "-2.25" in r
    assert "float64" in r
    assert "requires_grad=True" in r
    r32 = repr(ad.Tensor([0.125], dtype=np.float32))
    assert "0.125" in r32 and "float32" in r32 and "requires_grad" not in r32


def test_repr_shows_creating_op():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    assert "mul" in repr(x * 3.0)
    assert "exp" in repr(ad.exp(x))
    assert "sum" in repr(x.sum())
    assert (x * 3.0).grad_fn == "mul"
    assert x.grad_fn is None


# ----- operators ------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fn,dx", [
    ("radd", lambda x: 2.0 + x, lambda v: np.ones_like(v)),
    ("rsub", lambda x: 2 - x, lambda v: -np.ones_like(v)),
    ("rmul", lambda x: 3 * x, lambda v: np.full_like(v, 3.0)),
    ("rtruediv", lambda x: 2.0 / x, lambda v: -2.0 / v ** 2),
    ("rpow", lambda x: 2.0 ** x, lambda v: np.log(2.0) * 2.0 ** v),
    ("pos", lambda x: +x, lambda v: np.ones_like(v)),
    ("neg", lambda x: -x, lambda v: -np.ones_like(v)),
    ("abs", lambda x: abs(x), lambda v: np.sign(v)),
])
def test_reflected_operators_with_numbers(name, fn, dx):
    v = np.array([0.5, 1.5, -2.0])
    x = ad.Tensor(v, requires_grad=True)
    y = fn(x)
    assert isinstance(y, ad.Tensor)
    np.testing.assert_allclose(y.numpy(), fn(v), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), dx(v), rtol=1e-14)


@pytest.mark.parametrize("name,fn", [
    ("mul", lambda a, x: a * x),
    ("add", lambda a, x: a + x),
    ("sub", lambda a, x: a - x),
    ("truediv", lambda a, x: a / x),
    ("pow", lambda a, x: a ** x),
    ("matmul", lambda a, x: a @ x),
])
def test_reflected_operators_with_numpy_arrays_return_tensors(name, fn):
    a = np.array([[1.0, 2.0, 3.0], [0.5, 0.25, 4.0], [2.0, 1.0, 0.5]])
    v = np.array([0.5, 1.5, 2.0])
    x = ad.Tensor(v, requires_grad=True)
    y = fn(a, x)
    assert isinstance(y, ad.Tensor), f"ndarray {name} Tensor gave {type(y).__name__}"
    np.testing.assert_allclose(y.numpy(), fn(a, v), rtol=1e-15)
    assert y.requires_grad


def test_numpy_ones_times_tensor_gradient():
    x = ad.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = np.ones(3) * 4.0 * x
    assert isinstance(y, ad.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])


@pytest.mark.parametrize("op", ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"])
def test_comparisons_return_bool_tensors_without_grad(op):
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([3.0, 2.0, 1.0])
    x = ad.Tensor(a, requires_grad=True)
    y = ad.Tensor(b, requires_grad=True)
    for other, other_np in ((y, b), (2.0, 2.0), (b, b)):
        r = getattr(x, op)(other)
        assert isinstance(r, ad.Tensor)
        assert r.dtype == np.bool_
        assert not r.requires_grad
        np.testing.assert_array_equal(r.numpy(), getattr(a, op)(other_np))


def test_comparisons_reflected_and_broadcast():
    x = ad.Tensor([[1.0], [3.0]])
    r = 2.0 < x
    assert isinstance(r, ad.Tensor)
    np.testing.assert_array_equal(r.numpy(), [[False], [True]])
    r = x >= np.array([1.0, 3.0])
    np.testing.assert_array_equal(r.numpy(), [[True, False], [True, True]])
    np.testing.assert_array_equal((np.array([0.0, 5.0]) < ad.Tensor([1.0, 1.0])).numpy(),
                                  [True, False])


def test_comparison_masks_combine_and_index():
    x = ad.Tensor([-2.0, -0.5, 0.5, 2.0], requires_grad=True)
    m = (x > -1.0) & (x < 1.0)
    np.testing.assert_array_equal(m.numpy(), [False, True, True, False])
    np.testing.assert_array_equal(((x < -1.0) | (x > 1.0)).numpy(), [True, False, False, True])
    np.testing.assert_array_equal((~m).numpy(), [True, False, False, True])
    x[m].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 0.0])


def test_comparison_with_none_is_not_equal():
    x = ad.Tensor([1.0])
    assert (x == None) is False
    assert (x != None) is True


def test_tensor_is_hashable_by_identity():
    a, b = ad.Tensor([1.0]), ad.Tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


def test_methods_equal_module_functions(rng):
    v = rng.uniform(0.5, 2.0, (3, 4))
    x = ad.Tensor(v)
    for name in ("exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tanh",
                 "sigmoid", "relu", "softplus", "abs", "sum", "mean", "max", "min", "var",
                 "logsumexp", "flatten", "squeeze"):
        np.testing.assert_array_equal(getattr(x, name)().numpy(), getattr(ad, name)(x).numpy(),
                                      err_msg=name)
    np.testing.assert_array_equal(x.sum(axis=0, keepdims=True).numpy(),
                                  v.sum(axis=0, keepdims=True))


# ----- everyday habits: format, tolist, round, pickle, data assignment ------------------------

def test_format_of_0d_tensor_formats_its_value():
    loss = (ad.tensor([1.0, 2.0], requires_grad=True) ** 2).sum() / 3.0
    assert f"{loss:.4f}" == f"{5.0 / 3.0:.4f}" == "1.6667"
    assert f"{ad.tensor(2.5):>8.2e}" == f"{2.5:>8.2e}"
    assert f"{ad.tensor([1.0, 2.0])}" == repr(ad.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"format: spec '\.2f' needs a 0-d tensor, got shape \(2,\)"):
        f"{ad.tensor([1.0, 2.0]):.2f}"


def test_tolist_matches_numpy():
    a = np.arange(6.0).reshape(2, 3) / 7
    assert ad.tensor(a).tolist() == a.tolist()
    assert ad.tensor(1.5).tolist() == 1.5


@pytest.mark.parametrize("ndigits", [None, 0, 2])
def test_round_gives_numpy_rounding_without_gradient(ndigits):
    a = np.array([0.5, 1.5, 2.675, -1.2345])
    w = ad.tensor(a, requires_grad=True)
    r = round(w) if ndigits is None else round(w, ndigits)
    assert isinstance(r, ad.Tensor) and not r.requires_grad
    np.testing.assert_array_equal(r.numpy(), np.round(a, ndigits or 0))


@pytest.mark.parametrize("kind", ["leaf", "leaf_requiring_grad", "result"])
def test_pickle_keeps_value_dtype_requires_grad_and_no_graph(kind, dtype):
    import pickle

    a = np.linspace(-1, 1, 5).astype(dtype)
    t = ad.tensor(a, requires_grad=kind != "leaf")
    if kind == "result":
        t = ad.tanh(t) * 2.0
    u = pickle.loads(pickle.dumps(t))
    np.testing.assert_array_equal(u.numpy(), t.detach().numpy())
    assert u.dtype == dtype and u.is_leaf and u.grad is None
    assert u.requires_grad == (kind != "leaf")
    assert not np.shares_memory(u.numpy(), t.detach().numpy())
    if u.requires_grad:  # a leaf of its own: gradients flow to it
        (u * u).sum().backward()
        np.testing.assert_allclose(u.grad.numpy(), 2 * u.numpy(), rtol=1e-6)


def test_data_setter_checks_type_and_dtype():
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"data: expected a numpy ndarray \(or a Tensor\), got list"):
        t.data = [2.0]
    with pytest.raises(TypeError, match=r"data: the array has dtype float32, the tensor float64"):
        t.data = np.ones(2, dtype=np.float32)
    assert repr(t) == "Tensor([1., 2.], dtype=float64, requires_grad=True)"
    new = np.array([3.0, 4.0, 5.0])
    t.data = new
    assert t.data is new and t.shape == (3,)
    t.data = ad.tensor([7.0])
    np.testing.assert_array_equal(t.numpy(), [7.0])


def test_requires_grad_in_place_returns_the_tensor():
    t = ad.zeros(3)
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad
    y = t * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        ad.tensor([1.0], requires_grad=True).__mul__(2.0).requires_grad_()
    assert not y.requires_grad


def test_reading_grad_of_a_non_leaf_warns_once(monkeypatch):
    import sys

    monkeypatch.setattr(sys.modules["pyautodiff.tensor"], "_warned", [])
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3.0
    y.sum().backward()
    with pytest.warns(UserWarning, match=r"\.grad of a tensor that is not a leaf"):
        assert y.grad is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert y.grad is None  # once: a loop reading it does not flood the output
        np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])  # leaves never warn


@pytest.mark.parametrize("order", [">", "<"])
def test_byte_swapped_input_becomes_a_native_float(order, dtype):
    a = np.linspace(-2, 2, 7).astype(dtype.newbyteorder(order))
    t = ad.tensor(a, requires_grad=True)
    assert t.dtype == dtype and t.dtype.isnative
    ad.exp(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.exp(a.astype(dtype)), rtol=1e-6)


NDARRAY_METHODS = [("prod", (1,)), ("cumsum", (0,)), ("cumprod", (1,)), ("std", ()),
                   ("ravel", ()), ("repeat", (2,)), ("take", ([0, 4, 4],)), ("trace", ()),
                   ("dot", (np.linspace(-1.0, 1.0, 6).reshape(3, 2),))]


@pytest.mark.parametrize("name, args", NDARRAY_METHODS, ids=[m for m, _ in NDARRAY_METHODS])
def test_methods_named_as_ndarrays_give_numpys_values_and_record(backend, name, args):
    a = np.array([[0.5, -1.5, 2.0], [1.25, 0.75, -0.5]])
    np.testing.assert_allclose(getattr(ad.tensor(a), name)(*args).numpy(),
                               getattr(a, name)(*args), rtol=1e-14)
    assert ad.gradcheck(lambda t: getattr(t, name)(*args), (a,))

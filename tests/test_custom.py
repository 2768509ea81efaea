"""User-defined ops: ``ad.primitive`` and ``ad.defvjp``.

Each row of PRIMS is a primitive written as a user would (a function on numpy
arrays and VJPs written with numpy or pyautodiff functions), with a numpy reference
that shares no code with it: values are checked against the reference, gradients
against central differences of the reference, second derivatives against closed
forms. Then what a primitive does with constants, keyword arguments, missing VJPs,
``no_grad`` and names.

Primitives are registry entries: every test makes its own (``PRIMS`` holds
factories) and the autouse fixture takes them out of the registry afterwards, so
the registry's meta-tests see the library's ops only.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from gradcheck_helper import check_gradients

import pyautodiff as ad
from pyautodiff.ops import REGISTRY, P

pytestmark = pytest.mark.usefixtures("backend", "restore_registry")


# ----- primitives as a user writes them -------------------------------------------------


def make_sinx(style):
    """sin(x) x, its VJP with numpy functions or with pyautodiff's (same result)."""
    @ad.primitive
    def sinx(x):
        return np.sin(x) * x

    if style == "np":
        ad.defvjp(sinx, lambda g, ans, x: g * (np.cos(x) * x + np.sin(x)))
    else:
        ad.defvjp(sinx, lambda g, ans, x: g * (ad.cos(x) * x + ad.sin(x)))
    return sinx


def make_logsumexp():
    """HIPS autograd's example, with axis and keepdims as keyword arguments."""
    @ad.primitive
    def logsumexp(x, axis=None, keepdims=False):
        m = np.max(x, axis=axis, keepdims=True)
        out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
        return out if keepdims else np.squeeze(out, axis=axis)

    def vjp(g, ans, x, axis=None, keepdims=False):
        if axis is not None and not keepdims:
            g, ans = np.expand_dims(g, axis), np.expand_dims(ans, axis)
        return g * np.exp(x - ans)

    ad.defvjp(logsumexp, vjp)
    return logsumexp


def make_xexpy():
    """x exp(y), broadcasting: the engine sums each gradient back to its input's shape."""
    @ad.primitive
    def xexpy(x, y):
        return x * np.exp(y)

    ad.defvjp(xexpy, lambda g, ans, x, y: g * np.exp(y), lambda g, ans, x, y: g * ans)
    return xexpy


def make_take():
    """x[index] * scale with the index array and the scale as constants; the VJP
    scatters with a one-hot matrix (repeated indices add up)."""
    @ad.primitive
    def take(x, index, scale):
        return x[index] * scale

    def vjp(g, ans, x, index, scale):
        onehot = np.zeros((len(index), x.shape[0]))
        onehot[np.arange(len(index)), index] = 1.0
        return (onehot.T @ g) * scale

    ad.defvjp(take, vjp)
    return take


def lse_with(axis, keepdims):
    lse = make_logsumexp()
    return lambda x: lse(x, axis=axis, keepdims=keepdims)


def take_with():
    take = make_take()
    return lambda x: take(x, INDEX, 3.0)


def _lse(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


INDEX = np.array([2, 0, 2])


@dataclass(frozen=True)
class Row:
    id: str
    make: Callable  # () -> the function of the differentiated inputs, built on a primitive
    ref: Callable  # numpy, on the same inputs
    shapes: tuple


PRIMS = [Row(f"sinx-{style}-{shape}", lambda style=style: make_sinx(style),
             lambda x: np.sin(x) * x, (shape,))
         for style in ("np", "ad") for shape in ((), (2,), (3, 2))]
PRIMS += [Row(f"logsumexp-axis{axis}-keepdims{keep}",
              lambda axis=axis, keep=keep: lse_with(axis, keep),
              lambda x, axis=axis, keep=keep: _lse(x, axis, keep), ((3, 2),))
          for axis in (None, 0, 1, -1, (0, 1)) for keep in (False, True)]
PRIMS += [Row(f"xexpy-{a}-{b}", make_xexpy, lambda x, y: x * np.exp(y), (a, b))
          for a, b in (((3, 2), (1, 2)), ((1, 2), (3, 2)), ((2,), ()), ((), (2,)), ((), ()))]
PRIMS += [Row("take-repeated-index", take_with,
              lambda x: x[INDEX] * 3.0, ((3,),))]


@pytest.mark.parametrize("row", PRIMS, ids=[r.id for r in PRIMS])
def test_primitive_value_and_gradient(row, rng):
    fn = row.make()
    arrays = [rng.uniform(-1.5, 1.5, shape) for shape in row.shapes]
    out = fn(*[ad.Tensor(a) for a in arrays])
    assert isinstance(out, ad.Tensor)
    np.testing.assert_allclose(out.numpy(), row.ref(*arrays), rtol=1e-12, atol=1e-14)
    check_gradients(fn, arrays, ref=row.ref)


@pytest.mark.parametrize("style", ["np", "ad"])
def test_primitive_second_derivative_closed_form(style, rng):
    # d2/dx2 sin(x) x = 2 cos(x) - x sin(x); the Hessian of a sum of it is diagonal.
    sinx = make_sinx(style)
    x = rng.uniform(-2, 2, 4)
    h = ad.hessian(lambda t: sinx(t).sum())(x)
    np.testing.assert_allclose(h.numpy(), np.diag(2 * np.cos(x) - x * np.sin(x)), rtol=1e-12,
                               atol=1e-14)
    # and through backward(create_graph=True): d/dx of w . f'(x)
    t = ad.Tensor(x, requires_grad=True)
    sinx(t).sum().backward(create_graph=True)
    first = t.grad
    np.testing.assert_allclose(first.numpy(), np.cos(x) * x + np.sin(x), rtol=1e-12)
    t.grad = None
    w = rng.standard_normal(4)
    (first * w).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), w * (2 * np.cos(x) - x * np.sin(x)), rtol=1e-12)


def test_primitive_hessian_of_logsumexp_closed_form(rng):
    # The Hessian of logsumexp is diag(p) - p p^T, p = softmax(x).
    lse = make_logsumexp()
    x = rng.standard_normal(4)
    p = np.exp(x) / np.exp(x).sum()
    np.testing.assert_allclose(ad.hessian(lse)(x).numpy(), np.diag(p) - np.outer(p, p),
                               rtol=1e-10, atol=1e-14)


def test_primitive_mixed_second_derivatives_closed_form(rng):
    # f = sum(x exp(y)): d2f/dx2 = 0, d2f/dxdy = exp(y), d2f/dy2 = x exp(y), all diagonal.
    xexpy = make_xexpy()
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    with pytest.warns(UserWarning, match="independent of input"):  # (f is linear in x)
        (hxx, hxy), (hyx, hyy) = ad.hessian(lambda a, b: xexpy(a, b).sum(), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(hxx.numpy(), np.zeros((3, 3)), atol=0)
    np.testing.assert_allclose(hxy.numpy(), np.diag(np.exp(y)), rtol=1e-12)
    np.testing.assert_allclose(hyx.numpy(), np.diag(np.exp(y)), rtol=1e-12)
    np.testing.assert_allclose(hyy.numpy(), np.diag(x * np.exp(y)), rtol=1e-12)


def test_primitive_above_the_c_threshold(rng):
    # 70000 elements: the engine's large-array paths (C kernels, fused backward) around it.
    sinx = make_sinx("np")
    x = rng.uniform(-2, 2, 70000)
    t = ad.Tensor(x, requires_grad=True)
    y = ad.tanh(sinx(t * 2.0))
    y.sum().backward()
    u = np.sin(2 * x) * 2 * x
    np.testing.assert_allclose(y.numpy(), np.tanh(u), rtol=1e-12)
    du = 2 * (np.cos(2 * x) * 2 * x + np.sin(2 * x))
    np.testing.assert_allclose(t.grad.numpy(), (1 - np.tanh(u) ** 2) * du, rtol=1e-10,
                               atol=1e-12)


def test_primitive_float32_keeps_dtypes(rng):
    sinx = make_sinx("np")
    x = rng.uniform(-2, 2, 5).astype(np.float32)
    t = ad.Tensor(x, requires_grad=True)
    y = sinx(t)
    assert y.dtype == np.float32
    y.sum().backward()
    assert t.grad.dtype == np.float32
    np.testing.assert_allclose(t.grad.numpy(), np.cos(x) * x + np.sin(x), rtol=1e-5)


# ----- arguments, constants, modes --------------------------------------------------------


def test_primitive_constants_and_kwargs_reach_fn_and_vjp_unchanged():
    seen = []

    @ad.primitive
    def pick(x, index, axes, label, *, scale):
        seen.append(("fn", type(x), index, axes, label, scale))
        return np.sum(x[index], axis=axes) * scale

    def vjp(g, ans, x, index, axes, label, *, scale):
        seen.append(("vjp", type(x), index, axes, label, scale))
        out = np.zeros(x.shape)
        np.add.at(out, index, 1.0)
        return g * out * scale

    ad.defvjp(pick, vjp)
    index = np.array([1, 1, 0])
    x = ad.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = pick(x, index, (0, 1), "label", scale=2.0)
    assert y.item() == 2.0 * (3 + 4 + 3 + 4 + 1 + 2)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0], [4.0, 4.0]])
    (_, fn_x, fn_index, *fn_rest), (_, vjp_x, vjp_index, *vjp_rest) = seen
    assert fn_x is np.ndarray and vjp_x is ad.Tensor  # values in fn, Tensors in the VJP
    assert fn_index is index and vjp_index is index  # the caller's int array, not converted
    assert fn_rest == vjp_rest == [(0, 1), "label", 2.0]


def test_primitive_only_requiring_inputs_need_a_vjp():
    @ad.primitive
    def times(a, b):
        return a * b

    ad.defvjp(times, None, lambda g, ans, a, b: g * a)
    a = ad.Tensor([1.0, 2.0], requires_grad=True)
    b = ad.Tensor([3.0, 4.0], requires_grad=True)
    times(a.detach(), b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0])
    y = times(a, b).sum()  # the call itself is fine: the VJP is needed at backward only
    with pytest.raises(NotImplementedError, match=r"times: argument 0 requires grad .*ad\.defvjp"):
        y.backward()


def test_primitive_without_any_vjp_raises_at_backward():
    @ad.primitive
    def double(x):
        return 2 * x

    x = ad.Tensor([1.0], requires_grad=True)
    y = double(x)
    np.testing.assert_array_equal(y.numpy(), [2.0])
    with pytest.raises(RuntimeError, match="double: argument 0 requires grad"):
        y.sum().backward()  # (NotImplementedError is a RuntimeError)


def test_primitive_under_no_grad_and_on_plain_arrays():
    sinx = make_sinx("np")
    x = ad.Tensor([0.5, 1.0], requires_grad=True)
    with ad.no_grad():
        y = sinx(x)
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), np.sin([0.5, 1.0]) * [0.5, 1.0], rtol=1e-15)
    z = sinx(np.array([0.5, 1.0]))  # no Tensor: a constant Tensor, as ad.sin(array) gives
    assert isinstance(z, ad.Tensor) and not z.requires_grad
    np.testing.assert_array_equal(z.numpy(), y.numpy())


def test_primitive_records_and_nests_with_library_ops(rng):
    sinx = make_sinx("ad")
    x = ad.Tensor(rng.standard_normal(3), requires_grad=True)
    y = sinx(x * 2.0)
    assert y.requires_grad and y.grad_fn == "sinx"
    assert ad.gradcheck(lambda t: ad.tanh(sinx(np.exp(t))).sum(), (x.numpy(),))


def test_primitive_result_never_shares_memory_with_an_input():
    @ad.primitive
    def same(x):
        return x

    ad.defvjp(same, lambda g, ans, x: g)
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    y = same(x)
    assert not np.shares_memory(y.numpy(), x.numpy())
    (y * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    with ad.no_grad():
        y += 1.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


def test_primitive_vjp_returning_a_held_array_is_never_written():
    # A VJP may return an array someone else holds: the engine must not add into it.
    held = np.zeros(2)

    @ad.primitive
    def flat(x):
        return x * 0.0

    ad.defvjp(flat, lambda g, ans, x: held)
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    (flat(x) + flat(x * 1.0) + x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(held, [0.0, 0.0])


def test_primitive_bad_uses_raise_clear_errors():
    @ad.primitive
    def pair(x):
        return x, x

    with pytest.raises(TypeError, match="pair: a primitive returns one array, got a tuple"):
        pair(ad.Tensor([1.0]))

    @ad.primitive
    def text(x):
        return np.array(["a"])

    with pytest.raises(TypeError, match="text: unsupported data"):
        text(ad.Tensor([1.0]))

    sinx = make_sinx("np")
    with pytest.raises(TypeError, match="sinx: keyword argument w= is a Tensor that requires"):
        sinx(ad.Tensor([1.0]), w=ad.Tensor([1.0], requires_grad=True))
    with pytest.raises(TypeError, match="defvjp: expected a function made by ad.primitive"):
        ad.defvjp(np.sin, lambda g, ans, x: g)
    with pytest.raises(TypeError, match="defvjp: the VJP for argument 0 of sinx is int"):
        ad.defvjp(sinx, 3)

    @ad.primitive
    def broken(x):
        return x * 2

    ad.defvjp(broken, lambda g, ans, x: None)
    with pytest.raises(TypeError, match="broken: the VJP for argument 0 returned None"):
        broken(ad.Tensor([1.0], requires_grad=True)).sum().backward()


def test_primitive_is_registered_under_its_name():
    sinx = make_sinx("np")
    assert REGISTRY["sinx"] is sinx.op
    assert sinx.__name__ == "sinx"
    # A library op's name is never taken over: the library's logsumexp stays what it is.
    library = REGISTRY["logsumexp"]
    lse = make_logsumexp()
    assert REGISTRY["logsumexp"] is library and P.logsumexp is library
    assert REGISTRY["custom_logsumexp"] is lse.op
    x = ad.Tensor([0.0, 1.0], requires_grad=True)
    assert lse(x).grad_fn == "custom_logsumexp" and ad.logsumexp(x).grad_fn == "logsumexp"
    np.testing.assert_allclose(lse(x).item(), ad.logsumexp(x).item(), rtol=1e-15)
    # Defining a primitive again (a notebook cell run twice) replaces its entry.
    again = make_sinx("ad")
    assert REGISTRY["sinx"] is again.op and again.op is not sinx.op

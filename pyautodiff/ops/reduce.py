"""Reductions over an ``axis`` (None, an int or a tuple), with numpy's ``keepdims``
(PyTorch's ``dim`` and ``keepdim`` are accepted for them: see ``ops.torch_names``),
and the cumulative sums and products along one axis.

Each VJP puts the reduced axes back (``_unreduce``) and broadcasts the
gradient over them. ``prod``, ``cumsum`` and ``cumprod`` have no kernel of their
own: their forwards are numpy's, on either backend.
"""

import math

import numpy as np

from ..tensor import Tensor
from . import P, defop


def axes(name, axis, ndim):
    """``axis`` as a sorted tuple of non-negative ints, or a ValueError naming ``name``."""
    return tuple(sorted(axes_in_order(name, axis, ndim)))


def axes_in_order(name, axis, ndim):
    """``axis`` (None, an int or a sequence) as a tuple of non-negative ints in the order
    given, as numpy's ``normalize_axis_tuple``; an error naming ``name`` if one is out of
    bounds or repeated."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    result = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{name}: axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of bounds for a tensor with {ndim} dims")
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return tuple(result)


def one_axis(name, axis, ndim):
    """``axis``, which must be a single int, as a non-negative int (numpy's cumsum, take,
    diff... take one axis)."""
    if axis is None or isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: axis must be an int, got {axis!r}")
    return axes_in_order(name, axis, ndim)[0]


def _kept_shape(shape, axis):
    ax = axes("reduce", axis, len(shape))
    return tuple(1 if i in ax else n for i, n in enumerate(shape))


def _unreduce(g, shape, axis, keepdims):
    """The gradient of a reduction broadcast back to the input's ``shape``."""
    if not keepdims:
        g = P.reshape(g, _kept_shape(shape, axis))
    return P.broadcast_to(g, shape)


@defop(vjp=lambda K, g, out, x, axis=None, keepdims=False: _unreduce(g, x.shape, axis, keepdims))
def sum(B, x, axis=None, keepdims=False):
    """Sum over ``axis`` (None: all elements).

    As every reduction, it also takes PyTorch's names: ``dim`` for ``axis`` and
    ``keepdim`` for ``keepdims`` (giving both names of one is a TypeError).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.sum(axis=0)
    Tensor([4., 6.], dtype=float64)
    >>> x.sum()
    Tensor(10., dtype=float64)
    >>> x.sum(dim=1, keepdim=True)
    Tensor([[3.],
            [7.]], dtype=float64)
    """
    return B.sum(x, axes("sum", axis, np.ndim(x)), keepdims=keepdims)


def _count(shape, axis):
    return int(np.prod([shape[a] for a in axes("mean", axis, len(shape))]))


@defop(vjp=lambda K, g, out, x, axis=None, keepdims=False:
       _unreduce(K.div(g, float(_count(x.shape, axis))), x.shape, axis, keepdims))
def mean(B, x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([[1.0, 2.0], [3.0, 4.0]]).mean(axis=1)
    Tensor([1.5, 3.5], dtype=float64)
    >>> ad.mean(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), dim=0)
    Tensor([2., 3.], dtype=float64)
    """
    ax = axes("mean", axis, np.ndim(x))
    return B.div(B.sum(x, ax, keepdims=keepdims), _count(np.shape(x), ax))


@defop(vjp=(lambda K, g, out, x, y: K.mul(g, y), lambda K, g, out, x, y: K.mul(g, x)), nin=2,
       public=False)
def vdot(B, x, y):
    # sum(x * y) over all elements of two same-shaped arrays, in one pass
    return B.vdot(x, y)


def _extreme_vjp(K, g, out, x, axis=None, keepdims=False):
    # The gradient is shared evenly among the elements that attain the extreme
    # (PyTorch's amax/amin rule), so it is the same whichever one numpy picked.
    hit = x == _unreduce(out, x.shape, axis, keepdims)
    share = hit / hit.sum(axis=axes("max", axis, x.ndim), keepdims=True)
    return K.mul(_unreduce(g, x.shape, axis, keepdims), share)


def _check_nonempty(name, x, axis):
    if np.size(x) == 0:
        raise ValueError(f"{name}: reduction over an empty tensor of shape {np.shape(x)}")
    return axes(name, axis, np.ndim(x))


@defop(vjp=_extreme_vjp)
def max(B, x, axis=None, keepdims=False):
    """Largest element over ``axis``; ties share the gradient evenly.

    The values only, as numpy's ``max``, also when called with PyTorch's ``dim=``:
    ``torch.max(x, dim)`` gives ``(values, indices)``, this gives ``values``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([[1.0, 5.0], [3.0, 2.0]]).max(axis=1)
    Tensor([5., 3.], dtype=float64)
    >>> ad.tensor([[1.0, 5.0], [3.0, 2.0]]).max(dim=0)
    Tensor([3., 5.], dtype=float64)
    """
    return B.max(x, _check_nonempty("max", x, axis), keepdims=keepdims)


@defop(vjp=_extreme_vjp)
def min(B, x, axis=None, keepdims=False):
    """Smallest element over ``axis``; ties share the gradient evenly.

    The values only, also with ``dim=`` (``torch.min(x, dim)`` adds the indices).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([[1.0, 5.0], [3.0, 2.0]]).min(axis=0)
    Tensor([1., 2.], dtype=float64)
    >>> ad.tensor([[1.0, 5.0], [3.0, 2.0]]).min(dim=1, keepdim=True)
    Tensor([[1.],
            [2.]], dtype=float64)
    """
    return B.min(x, _check_nonempty("min", x, axis), keepdims=keepdims)


def _finite(m):
    """The shift by the max ``m`` that keeps ``exp`` in range: ``m`` with its entries that
    are not finite 0 (an infinite max would give inf - inf). A pure function of arrays,
    which ``compile`` records as one step."""
    return np.where(np.isfinite(m), m, 0)


@defop(vjp=lambda K, g, out, x, axis=None, keepdims=False: K.mul(
    _unreduce(g, x.shape, axis, keepdims),
    K.exp(K.sub(x, _unreduce(out, x.shape, axis, keepdims)))))
def logsumexp(B, x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` over ``axis``, without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.logsumexp(ad.tensor([1000.0, 1000.0]))
    Tensor(1000.69314718, dtype=float64)
    >>> ad.logsumexp(ad.tensor([[0.0, 0.0], [1.0, 1.0]]), dim=1)
    Tensor([0.69314718, 1.69314718], dtype=float64)
    """
    ax = axes("logsumexp", axis, np.ndim(x))
    m = _finite(B.max(x, ax, keepdims=True))
    s = B.log(B.sum(B.exp(B.sub(x, m)), ax, keepdims=True))
    out = B.add(s, m)
    return out if keepdims else np.squeeze(out, axis=ax)


# ----- products and cumulative sums and products ------------------------------------------

def _value(x):
    """The array of a VJP's input (a Tensor under ``create_graph``)."""
    return x._data if isinstance(x, Tensor) else x


def _others(x, ax):
    """For each element of ``x``, the product of the other elements of its group (those
    ``prod`` over ``ax`` multiplies it with), without dividing by it: right at zeros.

    The group is moved to a last axis of its own; the product of the elements before
    each one times that of the elements after it are exclusive cumulative products,
    so the formula is differentiable again wherever ``cumprod`` is.
    """
    keep = tuple(a for a in range(x.ndim) if a not in ax)
    moved = P.transpose(x, keep + ax)
    lead = moved.shape[:len(keep)]
    flat = P.reshape(moved, lead + (math.prod(moved.shape[len(keep):]),))
    one = np.ones(lead + (1,), dtype=x.dtype)
    before = P.cumprod(P.concatenate(one, flat[..., :-1], axis=-1), axis=-1)
    after = P.cumprod(P.concatenate(one, flat[..., :0:-1], axis=-1), axis=-1)[..., ::-1]
    return P.transpose(P.reshape(before * after, moved.shape), tuple(np.argsort(keep + ax)))


def _prod_vjp(K, g, out, x, axis=None, keepdims=False):
    if np.all(_value(x)):
        # No zeros: the product of the others is out / x (exact as long as x != 0,
        # so also under create_graph).
        return K.div(_unreduce(K.mul(g, out), x.shape, axis, keepdims), x)
    return K.mul(_unreduce(g, x.shape, axis, keepdims), _others(x, axes("prod", axis, x.ndim)))


@defop(vjp=_prod_vjp)
def prod(B, x, axis=None, keepdims=False):
    """Product of the elements over ``axis`` (None: all of them).

    The gradient is the product of the other elements, also where some are zero
    (as PyTorch's, not ``out / x``), and is differentiable again there.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([[1.0, 2.0], [0.0, 4.0]], requires_grad=True)
    >>> ad.prod(x, axis=1)
    Tensor([2., 0.], dtype=float64, grad_fn=prod)
    >>> ad.prod(x).backward()
    >>> x.grad
    Tensor([[0., 0.],
            [8., 0.]], dtype=float64)
    """
    return np.prod(x, axis=axes("prod", axis, np.ndim(x)), keepdims=keepdims)


def _cum_axis(name, axis, ndim):
    return None if axis is None else one_axis(name, axis, ndim)


def _reversed(g, axis):
    return g[(slice(None),) * axis + (slice(None, None, -1),)]


def _revcumsum(g, axis):
    """``sum(g[k:])`` at each ``k`` along ``axis``: the adjoint of ``cumsum``."""
    return _reversed(P.cumsum(_reversed(g, axis), axis=axis), axis)


def _cumsum_vjp(K, g, out, x, axis=None):
    if axis is None:  # numpy flattened x
        return P.reshape(_revcumsum(g, 0), x.shape)
    return _revcumsum(g, one_axis("cumsum", axis, x.ndim))


@defop(vjp=_cumsum_vjp)
def cumsum(B, x, axis=None):
    """Cumulative sum along ``axis``; with ``axis=None`` (numpy's default), of the
    flattened elements.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> ad.cumsum(x)
    Tensor([ 1.,  3.,  6., 10.], dtype=float64)
    >>> ad.cumsum(x, axis=0)
    Tensor([[1., 2.],
            [4., 6.]], dtype=float64)
    """
    return np.cumsum(x, axis=_cum_axis("cumsum", axis, np.ndim(x)))


def _cumprod_grad(K, g, out, x, axis):
    """The gradient of ``cumprod`` along ``axis``: at ``k``, the sum over ``i >= k`` of
    ``g[i]`` times the product of ``x[:i + 1]`` but ``x[k]``."""
    xv = _value(x)
    if np.all(xv):
        return K.div(_revcumsum(K.mul(g, out), axis), x)
    pre = (slice(None),) * axis
    if K is P:
        # Recorded (create_graph): the sum written out for each k, a polynomial in x that
        # is right to every order, at O(n^2) (PyTorch does the same).
        terms = []
        for k in range(x.shape[axis]):
            rest = P.cumprod(x[pre + (slice(k + 1, None),)], axis=axis)
            h = g[pre + (slice(k, k + 1),)] + P.sum(g[pre + (slice(k + 1, None),)] * rest,
                                                     axis=axis, keepdims=True)
            terms.append(h * out[pre + (slice(k - 1, k),)] if k else h)
        return P.concatenate(*terms, axis=axis)
    # First derivative only, in O(n): before the first zero of a row, out / x is the
    # product of the others; at the first zero, the product skips that element (x
    # with a 1 there); after it, every product includes that zero.
    g = np.asarray(g)
    seen = np.cumsum(xv == 0, axis=axis)
    before = seen == 0
    first = (seen == 1) & (xv == 0)
    at_first = _revcumsum(g * np.cumprod(np.where(first, 1, xv), axis=axis), axis)
    earlier = _revcumsum(g * out, axis) / np.where(before, xv, 1)
    return np.where(before, earlier, np.where(first, at_first, 0))


def _cumprod_vjp(K, g, out, x, axis=None):
    if axis is None:  # numpy flattened x
        return P.reshape(_cumprod_grad(K, g, out, P.reshape(x, -1), 0), x.shape)
    return _cumprod_grad(K, g, out, x, one_axis("cumprod", axis, x.ndim))


@defop(vjp=_cumprod_vjp)
def cumprod(B, x, axis=None):
    """Cumulative product along ``axis``; with ``axis=None`` (numpy's default), of the
    flattened elements.

    The gradient is right where ``x`` has zeros (as PyTorch's); under ``create_graph``
    with zeros in ``x`` it costs O(n^2) for a length n along ``axis``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> y = ad.cumprod(x)
    >>> y
    Tensor([2., 0., 0.], dtype=float64, grad_fn=cumprod)
    >>> y.sum().backward()
    >>> x.grad
    Tensor([1., 8., 0.], dtype=float64)
    """
    return np.cumprod(x, axis=_cum_axis("cumprod", axis, np.ndim(x)))

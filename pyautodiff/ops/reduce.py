"""Reductions over an ``axis`` (None, an int or a tuple), with numpy's ``keepdims``
(PyTorch's ``dim`` and ``keepdim`` are accepted for them: see ``ops.torch_names``).

Each VJP puts the reduced axes back (``_unreduce``) and broadcasts the
gradient over them.
"""

import numpy as np

from . import P, defop


def axes(name, axis, ndim):
    """``axis`` as a sorted tuple of non-negative ints, or a ValueError naming ``name``."""
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
    return tuple(sorted(result))


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
    m = B.max(x, ax, keepdims=True)
    # Shifting by the max keeps exp in range; an infinite max would give inf - inf.
    m = np.where(np.isfinite(m), m, 0)
    s = B.log(B.sum(B.exp(B.sub(x, m)), ax, keepdims=True))
    out = B.add(s, m)
    return out if keepdims else np.squeeze(out, axis=ax)

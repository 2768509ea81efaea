"""Functions built from primitives: their gradients come from the primitives' VJPs.

Like the primitives, they take PyTorch's ``dim=``/``keepdim=`` (``torch_names``).
"""

import numpy as np

from ..tensor import Tensor
from . import torch_names
from .elementwise import exp, sqrt, where
from .reduce import _count, _finite, axes_in_order, logsumexp, mean, sum
from .shape import broadcast_to, copy, reshape, transpose


@torch_names
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis``, as numpy's (``ddof=0`` by default; ``ddof=1`` is unbiased).

    Unlike ``torch.var``, whose default is the unbiased estimate, the default is
    ``ddof=0`` also when called with PyTorch's ``dim=``: pass ``ddof=1`` for torch's.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([1.0, 2.0, 3.0, 4.0]).var()
    Tensor(1.25, dtype=float64)
    >>> ad.tensor([[1.0, 3.0], [2.0, 6.0]]).var(dim=1, ddof=1)
    Tensor([2., 8.], dtype=float64)
    """
    d = x - mean(x, axis=axis, keepdims=True)
    return sum(d * d, axis=axis, keepdims=keepdims) / (_count(d.shape, axis) - ddof)


@torch_names
def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``: log-probabilities, without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.log_softmax(ad.tensor([0.0, 0.0])).exp()
    Tensor([0.5, 0.5], dtype=float64)
    >>> ad.log_softmax(ad.tensor([[0.0], [0.0]]), dim=0).exp()
    Tensor([[0.5],
            [0.5]], dtype=float64)
    """
    # Shift by the max first, held constant (the result does not depend on it):
    # x - logsumexp(x) alone subtracts two numbers of size |max x| and loses
    # |max x| * eps, 2e-5 relative in float32 for logits of 1e4.
    s = x - _max_shift(x._data if isinstance(x, Tensor) else np.asarray(x), axis)
    return s - logsumexp(s, axis=axis, keepdims=True)


def _max_shift(x, axis):
    """``log_softmax``'s shift of array ``x``: the max along ``axis``, 0 where it is not
    finite. A pure function of arrays, which ``compile`` records as one step."""
    # (np.max without its Python wrapper; initial: an empty x is logsumexp's to refuse)
    m = np.maximum.reduce(x, axis=axis, keepdims=True, initial=-np.inf)
    return _finite(m).astype(x.dtype, copy=False)


@torch_names
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.softmax(ad.tensor([[1000.0, 1000.0]]))
    Tensor([[0.5, 0.5]], dtype=float64)
    >>> ad.tensor([[1000.0, 1000.0]]).softmax(dim=0)
    Tensor([[1., 1.]], dtype=float64)
    """
    return exp(log_softmax(x, axis))


@torch_names
def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``: ``sqrt(var(x, axis, keepdims, ddof))``, as numpy's
    (``ddof=0`` by default, also with PyTorch's ``dim=``).

    Where the elements of a group of two or more are all equal (a kink of std) its
    gradient is not finite (nan), as PyTorch's; for groups of one element it is 0.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.std(ad.tensor([1.0, 3.0]))
    Tensor(1., dtype=float64)
    >>> ad.std(ad.tensor([[1.0, 3.0], [2.0, 2.0]]), axis=1, ddof=1)
    Tensor([1.41421356, 0.        ], dtype=float64)
    """
    v = var(x, axis=axis, keepdims=keepdims, ddof=ddof)
    if _count(np.shape(x), axis) == 1:
        # Groups of one element: std is identically 0 and so is its gradient (HIPS
        # autograd's), where sqrt's would be 0 / 0. (var is that 0, exactly.)
        return v
    return sqrt(v)


@torch_names
def nansum(x, axis=None, keepdims=False):
    """Sum over ``axis`` counting NaNs as zero; they get a zero gradient.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> x = ad.tensor([1.0, np.nan, 2.0], requires_grad=True)
    >>> ad.nansum(x).backward()
    >>> x.grad
    Tensor([1., 0., 1.], dtype=float64)
    """
    return sum(where(_not_nan(x._data if isinstance(x, Tensor) else np.asarray(x)), x, 0.0),
               axis=axis, keepdims=keepdims)


def _not_nan(x):
    """``nansum``'s mask of array ``x`` (a pure function of arrays, as ``_max_shift``)."""
    return ~np.isnan(x)


@torch_names
def average(x, axis=None, weights=None, returned=False, keepdims=False):
    """The mean over ``axis``, weighted by ``weights`` as numpy's ``average``: of ``x``'s
    shape, or 1-d along one ``axis`` (of those axes' shape for a tuple). Both ``x`` and
    ``weights`` may be Tensors that get gradients. With ``returned=True``, also the sum
    of the weights (broadcast to the result's shape).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.average(ad.tensor([1.0, 2.0, 4.0]), weights=[1.0, 1.0, 2.0])
    Tensor(2.75, dtype=float64)
    >>> ad.average(ad.tensor([[1.0, 2.0], [3.0, 5.0]]), axis=1, weights=[3.0, 1.0])
    Tensor([1.25, 3.5 ], dtype=float64)
    """
    if weights is None:
        avg = mean(x, axis=axis, keepdims=keepdims)
        total = np.full(avg.shape, np.size(x) / max(avg.size, 1), dtype=avg.dtype)
        return (avg, Tensor._make(total)) if returned else avg
    shape, wshape = np.shape(x), np.shape(weights)
    if wshape != shape:
        if axis is None:
            raise TypeError(f"average: axis must be given when the shapes of x {shape} and "
                            f"weights {wshape} differ")
        order = axes_in_order("average", axis, len(shape))
        if wshape != tuple(shape[a] for a in order):
            raise ValueError(f"average: weights of shape {wshape} do not fit x of shape "
                             f"{shape} along axis {axis!r}")
        weights = reshape(transpose(weights, tuple(np.argsort(order))),
                          tuple(n if a in order else 1 for a, n in enumerate(shape)))
    total = sum(weights, axis=axis, keepdims=keepdims)
    if np.any(total._data == 0):
        raise ZeroDivisionError("average: the weights sum to zero, so they cannot be "
                                "normalized")
    avg = sum(x * weights, axis=axis, keepdims=keepdims) / total
    if not returned:
        return avg
    return avg, total if total.shape == avg.shape else copy(broadcast_to(total, avg.shape))

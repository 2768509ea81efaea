"""Functions built from primitives: their gradients come from the primitives' VJPs.

Like the primitives, they take PyTorch's ``dim=``/``keepdim=`` (``torch_names``).
"""

import numpy as np

from ..tensor import Tensor
from . import torch_names
from .elementwise import exp
from .reduce import _count, logsumexp, mean, sum


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
    xd = x._data if isinstance(x, Tensor) else np.asarray(x)
    m = np.max(xd, axis=axis, keepdims=True, initial=-np.inf)  # (empty: logsumexp says so)
    s = x - np.where(np.isfinite(m), m, 0).astype(xd.dtype)
    return s - logsumexp(s, axis=axis, keepdims=True)


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

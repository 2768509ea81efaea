"""``ad.linalg``: numpy.linalg's functions on Tensors, under numpy.linalg's names and
parameters (``ad.linalg.inv(t)`` as ``np.linalg.inv(a)``).

``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``, ``norm``, ``matmul`` and
``tensordot`` are the functions of the main namespace (``ad.inv``...). The rest follow
the array API's versions that numpy 2 put here: matrices on the last two axes
(``trace``, ``diagonal``, ``matrix_norm``), vectors on one axis (``vector_norm``,
``vecdot``, ``cross``), 1-d ``outer``.

Examples
--------
>>> import pyautodiff as ad
>>> a = ad.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> ad.linalg.det(a)
Tensor(5., dtype=float64, grad_fn=det)
>>> ad.linalg.trace(ad.linalg.inv(a))
Tensor(1., dtype=float64, grad_fn=sum)
"""

import numpy as np

from .ops import linalg as _linalg
from .ops import reduce
from .ops.linalg import (
    cholesky,
    det,
    inv,
    matmul,
    norm,
    slogdet,
    solve,
    tensordot,
)
from .ops.shape import transpose

LinAlgError = np.linalg.LinAlgError

__all__ = [
    "LinAlgError", "cholesky", "cross", "det", "diagonal", "inv", "matmul",
    "matrix_norm", "matrix_transpose", "norm", "outer", "slogdet", "solve", "tensordot",
    "trace", "vecdot", "vector_norm",
]


def outer(x1, x2, /):
    """The outer product of two 1-d tensors, as ``numpy.linalg.outer``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.outer(ad.tensor([1.0, 2.0]), ad.tensor([3.0, 4.0]))
    Tensor([[3., 4.],
            [6., 8.]], dtype=float64)
    """
    if np.ndim(x1) != 1 or np.ndim(x2) != 1:
        raise ValueError(f"linalg.outer: expected 1-d inputs, got shapes {np.shape(x1)} and "
                         f"{np.shape(x2)}")
    return _linalg.outer(x1, x2)


def cross(x1, x2, /, *, axis=-1):
    """Cross products of 3-d vectors along ``axis``, as ``numpy.linalg.cross``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.cross(ad.tensor([0.0, 1.0, 0.0]), ad.tensor([0.0, 0.0, 1.0]))
    Tensor([1., 0., 0.], dtype=float64)
    """
    n1, n2 = (np.shape(x)[axis] if np.ndim(x) else 0 for x in (x1, x2))
    if n1 != 3 or n2 != 3:
        raise ValueError(f"linalg.cross: expected 3-d vectors along axis {axis}, got shapes "
                         f"{np.shape(x1)} and {np.shape(x2)}")
    return _linalg.cross(x1, x2, axis=axis)


def diagonal(x, /, *, offset=0):
    """Diagonal ``offset`` of each matrix (the last two axes), as ``numpy.linalg.diagonal``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.diagonal(ad.tensor([[[1.0, 2.0], [3.0, 4.0]]]))
    Tensor([[1., 4.]], dtype=float64)
    """
    return _linalg._diagonal(x, offset, -2, -1)


def trace(x, /, *, offset=0):
    """The trace of each matrix (the last two axes), as ``numpy.linalg.trace``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.trace(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), offset=1)
    Tensor(2., dtype=float64)
    """
    return _linalg.trace(x, offset, -2, -1)


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """The ``ord``-norm of the vectors along ``axis`` (None: all elements; a tuple: the
    elements on those axes as one vector), as ``numpy.linalg.vector_norm``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.vector_norm(ad.tensor([[3.0, 0.0], [0.0, -4.0]]), ord=1)
    Tensor(7., dtype=float64)
    """
    ndim = np.ndim(x)
    ax = tuple(range(ndim)) if axis is None else _linalg._norm_axes("vector_norm", axis, ndim)
    return _linalg._vector_norm(x, ord, ax, keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """The ``ord``-norm of each matrix (the last two axes), as ``numpy.linalg.matrix_norm``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.matrix_norm(ad.tensor([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    Tensor(6., dtype=float64)
    """
    return norm(x, ord, (-2, -1), keepdims)


def vecdot(x1, x2, /, *, axis=-1):
    """Dot products of the vectors along ``axis`` of each input (the other axes
    broadcast), as ``numpy.linalg.vecdot``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.vecdot(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), ad.tensor([1.0, 1.0]))
    Tensor([3., 7.], dtype=float64)
    """
    s1, s2 = np.shape(x1), np.shape(x2)
    a1 = _linalg._norm_axes("vecdot", axis, len(s1))
    a2 = _linalg._norm_axes("vecdot", axis, len(s2))
    if s1[a1[0]] != s2[a2[0]]:
        raise ValueError(f"vecdot: vectors of {s1[a1[0]]} and {s2[a2[0]]} elements (shapes "
                         f"{s1} and {s2}, axis {axis})")
    product = _linalg.mul(_linalg._moved_last(x1, a1), _linalg._moved_last(x2, a2))
    return reduce.sum(product, axis=-1)


def matrix_transpose(x, /):
    """Each matrix (the last two axes) transposed, as ``numpy.linalg.matrix_transpose``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.linalg.matrix_transpose(ad.ones((4, 2, 3))).shape
    (4, 3, 2)
    """
    if np.ndim(x) < 2:
        raise ValueError(f"matrix_transpose: expected at least 2 dimensions, got shape "
                         f"{np.shape(x)}")
    return transpose(x, _linalg._swap_last(np.ndim(x)))

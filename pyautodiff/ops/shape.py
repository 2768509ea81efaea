"""Shape ops: views, indexing and joining. They move numbers, so they need no kernels.

``reshape``, ``transpose``, ``broadcast_to``, ``getitem`` (with its adjoint
``scatter``), ``concatenate``, ``stack`` and ``astype`` are primitives; the
rest (``swapaxes``, ``squeeze``, ``expand_dims``, ``flatten``) are built from them.
"""

import numpy as np

from ..engine import apply
from ..tensor import Tensor, _dtype_arg
from . import P, defop, torch_names
from .reduce import axes


def _shape_arg(shape):
    # reshape(x, 2, 3) and reshape(x, (2, 3)) both work, as numpy's method.
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return shape


@defop(vjp=lambda K, g, out, x, *shape: P.reshape(g, x.shape))
def reshape(B, x, *shape):
    """The same elements in a new shape (one dimension may be -1).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([1.0, 2.0, 3.0, 4.0]).reshape(2, 2)
    Tensor([[1., 2.],
            [3., 4.]], dtype=float64)
    """
    return np.reshape(x, _shape_arg(shape))


def _perm(name, axes_, ndim):
    axes_ = _shape_arg(axes_) if axes_ else tuple(reversed(range(ndim)))
    if sorted(a % ndim if -ndim <= a < ndim else a for a in axes_) != list(range(ndim)):
        raise ValueError(f"{name}: axes {axes_} are not a permutation of {ndim} dims")
    return tuple(a % ndim for a in axes_)


@defop(vjp=lambda K, g, out, x, *axes_: P.transpose(g, tuple(np.argsort(_perm("transpose", axes_,
                                                                              x.ndim)))))
def transpose(B, x, *axes):
    """Permute the dimensions (default: reverse them), as numpy's ``transpose``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones((2, 3, 4)).transpose(2, 0, 1).shape
    (4, 2, 3)
    """
    return np.transpose(x, _perm("transpose", axes, np.ndim(x)))


# The engine sums a gradient back over the dimensions its input was broadcast
# along, so broadcasting's own VJP passes the gradient through.
@defop(vjp=lambda K, g, out, x, shape: g)
def broadcast_to(B, x, shape):
    """``x`` broadcast to ``shape`` (a read-only view); the gradient is summed back.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.broadcast_to(ad.tensor([1.0, 2.0]), (2, 2))
    Tensor([[1., 2.],
            [1., 2.]], dtype=float64)
    """
    return np.broadcast_to(x, tuple(shape) if isinstance(shape, (tuple, list)) else (shape,))


def _index(index):
    """``index`` as a tuple numpy accepts, with tensors and lists turned into arrays."""
    items = index if isinstance(index, tuple) else (index,)
    result = []
    for item in items:
        if isinstance(item, Tensor):
            item = item._data
        elif isinstance(item, list):
            item = np.asarray(item) if item else np.zeros(0, dtype=np.intp)
        if isinstance(item, np.ndarray) and item.dtype.kind not in "biu":
            raise IndexError(
                f"getitem: index arrays must be of integer or bool dtype, got {item.dtype}"
            )
        result.append(item)
    return tuple(result)


@defop(vjp=lambda K, g, out, x, index: P.scatter(g, x.shape, index), name="getitem",
       public=False)
def _getitem(B, x, index):
    return x[index]


def getitem(x, index):
    """``x[index]``: ints, slices, None, ``...``, integer arrays and bool masks.

    The gradient scatters back to the selected places; repeated indices accumulate.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> x[[0, 0, 2]].sum().backward()
    >>> x.grad
    Tensor([2., 0., 1.], dtype=float64)
    """
    return apply(_getitem, (x, _index(index)), None)


def _fancy(index):
    return any(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in index)


@defop(vjp=lambda K, gg, out, g, shape, index: P.getitem(gg, index), public=False)
def scatter(B, g, shape, index):
    # The adjoint of getitem: zeros of ``shape`` with ``g`` added at ``index``.
    # Only integer arrays can repeat a place, and only they need unbuffered add.at.
    z = np.zeros(shape, dtype=np.result_type(g))
    if _fancy(index):
        np.add.at(z, index, g)
    else:
        z[index] = g
    return z


def _offsets(xs, axis):
    return np.cumsum([0] + [np.shape(x)[axis] for x in xs])


@defop(vjp=lambda i, K, g, out, *xs, axis=0: P.getitem(
    g, (slice(None),) * (axis % out.ndim) + (slice(*_offsets(xs, axis)[i:i + 2]),)),
    nin=None, name="concatenate", public=False)
def _concatenate(B, *xs, axis=0):
    return np.concatenate(xs, axis=axis)


@defop(vjp=lambda i, K, g, out, *xs, axis=0: P.getitem(g, (slice(None),) * (axis % out.ndim) + (i,)),
       nin=None, name="stack", public=False)
def _stack(B, *xs, axis=0):
    return np.stack(xs, axis=axis)


def _joined(op, name, seq, axis):
    seq = tuple(seq)
    if not seq:
        raise ValueError(f"{name}: need at least one tensor")
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name}: axis must be an int, got {axis!r}")
    return apply(op, seq, {"axis": int(axis)})


@torch_names
def concatenate(seq, axis=0):
    """Join tensors along an existing ``axis``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.concatenate([ad.ones(2), ad.zeros(1)])
    Tensor([1., 1., 0.], dtype=float64)
    """
    return _joined(_concatenate, "concatenate", seq, axis)


@torch_names
def stack(seq, axis=0):
    """Join same-shaped tensors along a new ``axis``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.stack([ad.ones(2), ad.zeros(2)], axis=1)
    Tensor([[1., 0.],
            [1., 0.]], dtype=float64)
    """
    return _joined(_stack, "stack", seq, axis)


@defop(vjp=lambda K, g, out, x, dtype: g.astype(x.dtype))
def astype(B, x, dtype):
    """The values converted to ``dtype`` (float32 or float64); gradients convert back.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([1.0]).astype("float32").dtype
    dtype('float32')
    """
    return np.asarray(x).astype(_dtype_arg(dtype, "astype"))


@defop(vjp=lambda K, g, out, x: g)
def copy(B, x):
    """A copy with storage of its own; the gradient passes through.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([1.0, 2.0])
    >>> y = x.copy()
    >>> y.data is x.data, y.numpy()
    (False, array([1., 2.]))
    """
    return np.array(x)


# ----- built from the primitives above --------------------------------------------

def swapaxes(x, axis1, axis2):
    """Exchange two dimensions.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones((2, 3, 4)).swapaxes(0, 2).shape
    (4, 3, 2)
    """
    ndim = np.ndim(x)
    a, b = axes("swapaxes", axis1, ndim)[0], axes("swapaxes", axis2, ndim)[0]
    perm = list(range(ndim))
    perm[a], perm[b] = b, a
    return transpose(x, tuple(perm))


@torch_names
def squeeze(x, axis=None):
    """Remove dimensions of length one (all of them, or those in ``axis``).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones((1, 3, 1)).squeeze().shape
    (3,)
    """
    shape = np.shape(x)
    drop = [a for a, n in enumerate(shape) if n == 1] if axis is None else \
        axes("squeeze", axis, len(shape))
    for a in drop:
        if shape[a] != 1:
            raise ValueError(f"squeeze: cannot squeeze axis {a} of length {shape[a]} "
                             f"in shape {shape}")
    return reshape(x, tuple(n for a, n in enumerate(shape) if a not in drop))


@torch_names
def expand_dims(x, axis):
    """Insert dimensions of length one at ``axis`` (an int or a tuple).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones(3).expand_dims(0).shape
    (1, 3)
    """
    shape = np.shape(x)
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    new = axes("expand_dims", axis, len(shape) + len(items))
    rest = iter(shape)
    return reshape(x, tuple(1 if a in new else next(rest) for a in range(len(shape) + len(new))))


def flatten(x):
    """The elements as a 1-d tensor, in row-major order.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones((2, 3)).flatten().shape
    (6,)
    """
    return reshape(x, -1)

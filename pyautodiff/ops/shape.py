"""Shape ops: views, indexing and joining. They move numbers, so they need no kernels.

``reshape``, ``transpose``, ``broadcast_to``, ``getitem`` (with its adjoint
``scatter``), ``concatenate``, ``stack``, ``pad`` (constant mode) and ``astype`` are
primitives; the rest (``swapaxes``, ``squeeze``, ``expand_dims``, ``flatten``, and
numpy's ``moveaxis``, ``repeat``, ``tile``, ``flip``, ``roll``, ``diff``, ``sort``,
``take``, ``take_along_axis``, the other ``pad`` modes, ``vstack`` and friends,
``split``, ``atleast_1d``...) are built from them, so their gradients are exact and
differentiable again.
"""

import itertools
import operator

import numpy as np

from ..engine import apply
from ..tensor import Tensor, _dtype_arg
from . import P, defop, torch_names
from .reduce import axes, axes_in_order, one_axis


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


def _gather(x, *index):
    """``x[index]``: a pure function of arrays, which ``compile`` records as one step (an
    index may hold arrays, which a replay must read anew)."""
    return x[index]


@defop(vjp=lambda K, g, out, x, index: P.scatter(g, x.shape, index), name="getitem",
       public=False)
def _getitem(B, x, index):
    return _gather(x, *index)


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


def _scatter(g, shape, *index):
    """The adjoint of ``_gather``: zeros of ``shape`` with ``g`` added at ``index`` (a pure
    function of arrays, as ``_gather``)."""
    z = np.zeros(shape, dtype=np.result_type(g))
    # Only integer arrays can repeat a place, and only they need unbuffered add.at.
    if _fancy(index):
        np.add.at(z, index, g)
    else:
        z[index] = g
    return z


@defop(vjp=lambda K, gg, out, g, shape, index: P.getitem(gg, index), public=False)
def scatter(B, g, shape, index):
    return _scatter(g, shape, *index)


def _offsets(xs, axis):
    return np.cumsum([0] + [np.shape(x)[axis] for x in xs])


@defop(vjp=lambda i, K, g, out, *xs, axis=0: P.getitem(
    g, (slice(None),) * (axis % out.ndim) + (slice(*_offsets(xs, axis)[i:i + 2]),)),
    nin=None, name="concatenate", public=False)
def _concatenate(B, *xs, axis=0):
    return _concatenated(axis, *xs)


def _concatenated(axis, *xs):
    """``np.concatenate(xs, axis)``: a pure function of arrays, as ``_gather``."""
    return np.concatenate(xs, axis=axis)


@defop(vjp=lambda i, K, g, out, *xs, axis=0: P.getitem(g, (slice(None),) * (axis % out.ndim) + (i,)),
       nin=None, name="stack", public=False)
def _stack(B, *xs, axis=0):
    return _stacked(axis, *xs)


def _stacked(axis, *xs):
    """``np.stack(xs, axis)``: a pure function of arrays, as ``_gather``."""
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
    """Join tensors along an existing ``axis`` (None: their flattened elements, as numpy).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.concatenate([ad.ones(2), ad.zeros(1)])
    Tensor([1., 1., 0.], dtype=float64)
    >>> ad.concatenate([ad.ones((1, 2)), ad.zeros(1)], axis=None)
    Tensor([1., 1., 0.], dtype=float64)
    """
    if axis is None:
        seq, axis = [flatten(x) for x in seq], 0
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


# (The gradient is the part of g that came from x: x itself is not kept.)
@defop(vjp=lambda K, g, out, x, pairs, value: g[tuple(
    slice(before, n - after) for (before, after), n in zip(pairs, g.shape))],
    name="pad", public=False)
def _pad(B, x, pairs, value):
    # (a 0-d x has no pairs, which np.pad does not take: it takes 0)
    return np.pad(x, pairs or 0, mode="constant", constant_values=value)


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


# Numpy's name for it.
ravel = flatten


def _along(axis, index):
    """The index that applies ``index`` to dimension ``axis`` and takes all of the others."""
    return (slice(None),) * axis + (index,)


def _value(x):
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _int_array(name, what, a):
    """``a`` as an array of integers (Tensors hold floats: an error, not a silent cast)."""
    arr = np.asarray(a._data if isinstance(a, Tensor) else a)
    if arr.size == 0 and arr.dtype.kind == "f":  # ([] is float64 to numpy)
        arr = arr.astype(np.intp)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{name}: {what} must be integers, got dtype {arr.dtype}")
    return arr.astype(np.intp) if arr.dtype.kind == "b" else arr


def moveaxis(x, source, destination):
    """Move the dimensions ``source`` (an int or a sequence) to the places ``destination``;
    the others keep their order.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.moveaxis(ad.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    >>> ad.moveaxis(ad.ones((2, 3, 4)), (0, 1), (2, 0)).shape
    (3, 4, 2)
    """
    ndim = np.ndim(x)
    src = axes_in_order("moveaxis", source, ndim)
    dst = axes_in_order("moveaxis", destination, ndim)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source!r} and destination {destination!r} must "
                         "have the same number of elements")
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


@torch_names
def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times (an int, or one count per element) along
    ``axis``; with ``axis=None`` (numpy's default), of the flattened elements.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.repeat(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), 2, axis=1)
    Tensor([[1., 1., 2., 2.],
            [3., 3., 4., 4.]], dtype=float64)
    >>> ad.repeat(ad.tensor([1.0, 2.0]), [1, 3])
    Tensor([1., 2., 2., 2.], dtype=float64)
    """
    if axis is None:
        x, axis = flatten(x), 0
    ax = one_axis("repeat", axis, np.ndim(x))
    n = np.shape(x)[ax]
    counts = _int_array("repeat", "repeats", repeats)
    try:
        index = np.repeat(np.arange(n), counts)
    except ValueError as e:
        raise ValueError(f"repeat: {e} (repeats of shape {counts.shape} for length {n} "
                         f"along axis {ax})") from None
    return getitem(x, _along(ax, index))


def tile(x, reps):
    """``x`` repeated ``reps`` times along each dimension, as numpy's ``tile``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tile(ad.tensor([1.0, 2.0]), (2, 2))
    Tensor([[1., 2., 1., 2.],
            [1., 2., 1., 2.]], dtype=float64)
    """
    reps = tuple(reps) if np.iterable(reps) else (reps,)
    try:
        reps = tuple(operator.index(r) for r in reps)
    except TypeError:
        raise TypeError(f"tile: reps must be integers, got {reps!r}") from None
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: negative repetitions in {reps!r}")
    shape = np.shape(x)
    d = max(len(shape), len(reps))
    shape = (1,) * (d - len(shape)) + shape
    reps = (1,) * (d - len(reps)) + reps
    # (1, n0, 1, n1...) broadcast to (r0, n0, r1, n1...): the gradient sums the copies.
    spread = broadcast_to(reshape(x, tuple(v for n in shape for v in (1, n))),
                          tuple(v for r, n in zip(reps, shape) for v in (r, n)))
    return reshape(spread, tuple(r * n for r, n in zip(reps, shape)))


@torch_names
def flip(x, axis=None):
    """Reverse the order of the elements along ``axis`` (None: every dimension).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.flip(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1)
    Tensor([[2., 1.],
            [4., 3.]], dtype=float64)
    """
    ax = axes("flip", axis, np.ndim(x))
    return getitem(x, tuple(slice(None, None, -1) if a in ax else slice(None)
                            for a in range(np.ndim(x))))


@torch_names
def roll(x, shift, axis=None):
    """Shift the elements by ``shift`` along ``axis``, those past the end coming back at
    the start; ``shift`` and ``axis`` may be sequences. With ``axis=None`` (numpy's
    default) the flattened elements are rolled and the shape kept.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.roll(ad.tensor([1.0, 2.0, 3.0, 4.0]), 1)
    Tensor([4., 1., 2., 3.], dtype=float64)
    >>> ad.roll(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), (1, -1), axis=(0, 1))
    Tensor([[4., 3.],
            [2., 1.]], dtype=float64)
    """
    if axis is None:
        return reshape(roll(flatten(x), shift, 0), np.shape(x))
    shape = np.shape(x)
    try:
        pairs = np.broadcast(shift, axis)
    except ValueError:
        raise ValueError(f"roll: shift {shift!r} and axis {axis!r} do not broadcast "
                         "together") from None
    total = {}
    for s, a in pairs:
        a = one_axis("roll", a, len(shape))
        try:
            total[a] = total.get(a, 0) + operator.index(s)
        except TypeError:
            raise TypeError(f"roll: shift must be integers, got {shift!r}") from None
    if not total:
        return copy(x)
    for a, s in total.items():
        n = shape[a]
        cut = n - s % n if n else 0
        x = concatenate([getitem(x, _along(a, slice(cut, None))),
                         getitem(x, _along(a, slice(None, cut)))], axis=a)
    return x


@torch_names
def diff(x, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th differences ``x[1:] - x[:-1]`` along ``axis``, after joining
    ``prepend`` and ``append`` (numbers or tensors) to ``x`` there.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.diff(ad.tensor([1.0, 4.0, 9.0, 16.0]))
    Tensor([3., 5., 7.], dtype=float64)
    >>> ad.diff(ad.tensor([1.0, 4.0, 9.0, 16.0]), n=2, prepend=0.0)
    Tensor([2., 2., 2.], dtype=float64)
    """
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    if n == 0:  # (x itself, as numpy, without prepend and append)
        return copy(x)
    shape = np.shape(x)
    if not shape:
        raise ValueError("diff: needs a tensor of at least one dimension, got shape ()")
    ax = one_axis("diff", axis, len(shape))
    if prepend is not None or append is not None:
        edge = shape[:ax] + (1,) + shape[ax + 1:]
        parts = [broadcast_to(p, edge) if p is not None and np.ndim(p) == 0 else p
                 for p in (prepend, append)]
        x = concatenate([p for p in (parts[0], x, parts[1]) if p is not None], axis=ax)
    for _ in range(n):
        x = getitem(x, _along(ax, slice(1, None))) - getitem(x, _along(ax, slice(None, -1)))
    return x


@torch_names
def take_along_axis(x, indices, axis=-1):
    """The elements of ``x`` at ``indices`` along ``axis`` (as ``np.argsort`` gives them);
    ``indices`` has ``x``'s number of dimensions and broadcasts with it on the others.
    Repeated indices accumulate their gradients.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([[3.0, 1.0], [2.0, 5.0]])
    >>> ad.take_along_axis(x, [[1], [0]], axis=1)
    Tensor([[1.],
            [2.]], dtype=float64)
    """
    index = _int_array("take_along_axis", "indices", indices)
    if axis is None:
        x, axis = flatten(x), 0
    shape = np.shape(x)
    if index.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices of shape {index.shape} and a tensor of "
                         f"shape {shape} must have the same number of dimensions")
    ax = one_axis("take_along_axis", axis, len(shape))
    grid = [np.arange(n).reshape((1,) * a + (-1,) + (1,) * (len(shape) - a - 1))
            for a, n in enumerate(shape)]
    grid[ax] = index
    return getitem(x, tuple(grid))


@torch_names
def sort(x, axis=-1):
    """The elements sorted along ``axis`` (None: flattened first); the gradient goes back
    to where each value came from (ties in numpy's stable order). The values only, also
    with PyTorch's ``dim=`` (``torch.sort`` adds the indices: ``np.argsort`` gives them).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.sort(ad.tensor([[3.0, 1.0, 2.0]]))
    Tensor([[1., 2., 3.]], dtype=float64)
    """
    if axis is None:
        x, axis = flatten(x), 0
    ax = one_axis("sort", axis, np.ndim(x))
    return take_along_axis(x, np.argsort(_value(x), axis=ax, kind="stable"), ax)


@torch_names
def take(x, indices, axis=None, mode="raise"):
    """The elements at ``indices`` along ``axis`` (None: of the flattened elements), as
    numpy's ``take``; ``mode`` 'raise' (negative indices count from the end), 'wrap' or
    'clip' says what an index out of range does. Repeated indices accumulate their
    gradients.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> ad.take(x, [3, 0])
    Tensor([4., 1.], dtype=float64)
    >>> ad.take(x, [[0, 0]], axis=1)
    Tensor([[[1., 1.]],
    <BLANKLINE>
            [[3., 3.]]], dtype=float64)
    """
    index = _int_array("take", "indices", indices)
    if axis is None:
        x, axis = flatten(x), 0
    ax = one_axis("take", axis, np.ndim(x))
    n = np.shape(x)[ax]
    if n == 0 and index.size:
        raise IndexError(f"take: cannot take from the empty axis {ax}")
    if mode == "wrap":
        index = index % n
    elif mode == "clip":
        index = np.clip(index, 0, n - 1)
    elif mode == "raise":
        bad = (index < -n) | (index >= n)
        if bad.any():
            raise IndexError(f"take: index {index[bad].flat[0]} is out of bounds for axis "
                             f"{ax} with size {n}")
    else:
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return getitem(x, _along(ax, index))


# np.pad's modes that pick elements of x: the same index, padded, says which one.
_PICKING_MODES = ("edge", "reflect", "symmetric", "wrap")


def _pad_pairs(pad_width, ndim):
    width = np.asarray(pad_width)
    if width.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    try:
        width = np.broadcast_to(width, (ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor with {ndim} "
                         "dims: expected n, (before, after) or one such pair per dim") from None
    if (width < 0).any():
        raise ValueError(f"pad: pad_width {pad_width!r} has negative values")
    return tuple((int(before), int(after)) for before, after in width)


def pad(x, pad_width, mode="constant", **kwargs):
    """``x`` padded with ``pad_width`` elements (``n``, ``(before, after)``, or one pair
    per dimension) as numpy's ``pad``: ``mode`` 'constant' (``constant_values``, default
    0), 'edge', 'reflect', 'symmetric' or 'wrap'.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.pad(ad.tensor([1.0, 2.0]), (1, 2))
    Tensor([0., 1., 2., 0., 0.], dtype=float64)
    >>> ad.pad(ad.tensor([1.0, 2.0, 3.0]), 2, mode="reflect")
    Tensor([3., 2., 1., 2., 3., 2., 1.], dtype=float64)
    """
    shape = np.shape(x)
    pairs = _pad_pairs(pad_width, len(shape))
    if mode == "constant":
        value = kwargs.pop("constant_values", 0)
        if isinstance(value, Tensor):
            raise TypeError("pad: constant_values must be numbers, not a Tensor (it would get "
                            "no gradient)")
    elif mode in _PICKING_MODES:
        if mode in ("reflect", "symmetric") and kwargs.pop("reflect_type", "even") != "even":
            raise TypeError(f"pad: mode {mode!r} with reflect_type='odd' is not supported for "
                            "Tensors")
    else:
        raise TypeError(f"pad: mode {mode!r} is not supported for Tensors; supported: "
                        f"'constant', {', '.join(map(repr, _PICKING_MODES))}")
    if kwargs:
        raise ValueError(f"pad: unsupported keyword arguments for mode {mode!r}: {kwargs}")
    if mode == "constant":
        return apply(_pad, (x, pairs, value), None)
    try:
        index = [np.pad(np.arange(n), p, mode=mode) for n, p in zip(shape, pairs)]
    except ValueError as e:
        raise ValueError(f"pad: {e} (shape {shape})") from None
    return getitem(x, np.ix_(*index))


def _atleast(arrays, ndim):
    """Each of ``arrays`` with at least ``ndim`` dimensions, new ones placed as numpy's
    ``atleast_1d``/``2d``/``3d`` place them; a Tensor that has enough is itself."""
    result = []
    for a in arrays:
        shape = np.shape(a)
        if len(shape) >= ndim and isinstance(a, Tensor):
            result.append(a)
            continue
        if len(shape) < ndim:
            shape = {0: (1, 1, 1), 1: (1, *shape, 1), 2: (*shape, 1)}[len(shape)] if ndim == 3 \
                else (1,) * (ndim - len(shape)) + shape
        result.append(reshape(a, shape))
    return result


def _one_or_all(name, arrays, ndim):
    if not arrays:
        raise TypeError(f"{name}: expected at least one tensor")
    result = _atleast(arrays, ndim)
    return result[0] if len(result) == 1 else tuple(result)


def atleast_1d(*arrays):
    """Each argument with at least one dimension (a tuple of them for several).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.atleast_1d(ad.tensor(2.0))
    Tensor([2.], dtype=float64)
    """
    return _one_or_all("atleast_1d", arrays, 1)


def atleast_2d(*arrays):
    """Each argument with at least two dimensions: ``(n,)`` becomes ``(1, n)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.atleast_2d(ad.ones(3)).shape
    (1, 3)
    """
    return _one_or_all("atleast_2d", arrays, 2)


def atleast_3d(*arrays):
    """Each argument with at least three dimensions: ``(n,)`` becomes ``(1, n, 1)`` and
    ``(m, n)`` becomes ``(m, n, 1)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> [t.shape for t in ad.atleast_3d(ad.ones(3), ad.ones((2, 3)))]
    [(1, 3, 1), (2, 3, 1)]
    """
    return _one_or_all("atleast_3d", arrays, 3)


def _joined_at_least(name, seq, ndim, axis):
    seq = list(seq)
    if not seq:
        raise ValueError(f"{name}: need at least one tensor")
    arrays = _atleast(seq, ndim)
    return concatenate(arrays, axis=axis(arrays) if callable(axis) else axis)


def vstack(seq):
    """Join tensors along the first dimension, 1-d ones as rows.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.vstack([ad.ones(2), ad.zeros(2)])
    Tensor([[1., 1.],
            [0., 0.]], dtype=float64)
    """
    return _joined_at_least("vstack", seq, 2, 0)


def hstack(seq):
    """Join tensors along the second dimension (the first for 1-d ones).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.hstack([ad.ones(2), ad.zeros(1)])
    Tensor([1., 1., 0.], dtype=float64)
    """
    return _joined_at_least("hstack", seq, 1, lambda arrays: 0 if arrays[0].ndim == 1 else 1)


def dstack(seq):
    """Join tensors along the third dimension (made as ``atleast_3d`` makes it).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.dstack([ad.ones(2), ad.zeros(2)]).shape
    (1, 2, 2)
    """
    return _joined_at_least("dstack", seq, 3, 2)


def column_stack(seq):
    """Join tensors as the columns of a 2-d tensor (1-d ones become columns).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.column_stack([ad.ones(2), ad.zeros(2)])
    Tensor([[1., 0.],
            [1., 0.]], dtype=float64)
    """
    seq = list(seq)
    if not seq:
        raise ValueError("column_stack: need at least one tensor")
    return concatenate([reshape(a, (-1, 1)) if np.ndim(a) < 2 else a for a in seq], axis=1)


def _split(name, x, sections, axis, equal):
    ax = one_axis(name, axis, np.ndim(x))
    n = np.shape(x)[ax]
    if np.ndim(sections) == 0:  # a number of pieces
        k = int(sections)
        if k <= 0:
            raise ValueError(f"{name}: the number of sections must be larger than 0, got {k}")
        if equal and n % k:
            raise ValueError(f"{name}: length {n} along axis {ax} does not split into {k} "
                             "equal sections (array_split allows unequal ones)")
        each, extra = divmod(n, k)
        bounds = np.cumsum([0] + [each + 1] * extra + [each] * (k - extra)).tolist()
    else:
        bounds = [0, *map(operator.index, sections), n]
    return [getitem(x, _along(ax, slice(a, b))) for a, b in itertools.pairwise(bounds)]


@torch_names
def split(x, indices_or_sections, axis=0):
    """``x`` cut along ``axis`` into a list of tensors: an int ``k`` gives ``k`` equal
    pieces (a ValueError when the length is not a multiple of it), a sequence of
    indices the pieces between them.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.split(ad.tensor([1.0, 2.0, 3.0, 4.0]), 2)
    [Tensor([1., 2.], dtype=float64), Tensor([3., 4.], dtype=float64)]
    >>> [t.shape for t in ad.split(ad.ones((2, 5)), [1, 3], axis=1)]
    [(2, 1), (2, 2), (2, 2)]
    """
    return _split("split", x, indices_or_sections, axis, True)


@torch_names
def array_split(x, indices_or_sections, axis=0):
    """As ``split``, but ``k`` pieces need not be equal: the first ones are one longer.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> [t.shape for t in ad.array_split(ad.ones(5), 3)]
    [(2,), (2,), (1,)]
    """
    return _split("array_split", x, indices_or_sections, axis, False)

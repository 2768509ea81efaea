"""Functions that make new leaf tensors."""

import numpy as np

from . import rng as _rng
from .tensor import DEFAULT_DTYPE, Tensor, _dtype_arg, as_array


def tensor(data, requires_grad=False, dtype=None):
    """Same as ``Tensor(data, requires_grad, dtype)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([1, 2])
    Tensor([1., 2.], dtype=float64)
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _leaf(data, requires_grad):
    t = Tensor._make(data)
    t.requires_grad = requires_grad
    return t


def _dt(dtype, where):
    return DEFAULT_DTYPE if dtype is None else _dtype_arg(dtype, where)


def _shape(shape, where):
    """The ``*shape`` a constructor was given (ints, or one tuple or list of ints) as a
    tuple of ints; a TypeError or ValueError naming ``where`` otherwise."""
    dims = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    for d in dims:
        # bool is an int to Python, but True as a length is surely a mistake.
        if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
            given = shape[0] if len(shape) == 1 else shape
            # np.zeros((2, 3), np.float32) passes the dtype positionally; here it is a keyword.
            hint = "; dtype= and requires_grad= are keyword-only" if len(shape) > 1 else ""
            raise TypeError(
                f"{where}: shape must be ints or one tuple or list of ints, got {given!r}{hint}"
            )
        if d < 0:
            raise ValueError(f"{where}: negative dimension {d} in shape {tuple(dims)}")
    return tuple(int(d) for d in dims)


def _filled(shape, value, dtype, requires_grad, where):
    dims = _shape(shape, where)
    fill = as_array(value, where)  # refuses strings, None, complex (numpy would drop .imag)
    try:
        data = np.full(dims, fill, dtype=_dt(dtype, where))
    except ValueError:
        raise ValueError(
            f"{where}: value of shape {fill.shape} does not broadcast to shape {dims}"
        ) from None
    return _leaf(data, requires_grad)


def full(*shape, value=None, dtype=None, requires_grad=False):
    """A tensor of ``shape`` filled with ``value``.

    Called as numpy's and PyTorch's, ``full(shape, value)``, where ``shape`` is an
    int or a tuple or list of ints; or with the dims spread out as in ``zeros``
    and the value by keyword, ``full(2, 3, value=7.0)``. Without ``value=`` there
    must be exactly two positional arguments: ``full(2, 3)`` is numpy's
    ``np.full(2, 3)``, shape ``(2,)`` filled with 3, and ``full(2, 3, 7.0)`` is a
    TypeError rather than a guess. ``value`` is a real number (or an array that
    broadcasts to ``shape``).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.full((2,), 7.0)
    Tensor([7., 7.], dtype=float64)
    >>> ad.full(2, 3, value=0.5, dtype="float32")
    Tensor([[0.5, 0.5, 0.5],
            [0.5, 0.5, 0.5]], dtype=float32)
    """
    if value is None:
        if len(shape) != 2:
            raise TypeError(
                f"full: expected full(shape, value) or full(*shape, value=...), "
                f"got {len(shape)} positional argument(s) and no value="
            )
        shape, value = shape[:1], shape[1]
    return _filled(shape, value, dtype, requires_grad, "full")


def _api_form(dims, shape, dtype):
    """``(dims, dtype)`` for a constructor called as API.md writes it, ``zeros(shape,
    dtype)`` or ``zeros(shape=...)``, as well as with the dims spread out."""
    if shape is not None:
        if dims:
            raise TypeError("got the shape both positionally and as shape=")
        return (shape,), dtype
    if (len(dims) == 2 and isinstance(dims[0], (tuple, list)) and dtype is None
            and isinstance(dims[1], (str, type, np.dtype))):
        return dims[:1], dims[1]
    return dims, dtype


def zeros(*dims, dtype=None, requires_grad=False, shape=None):
    """A tensor of zeros.

    The shape is given as in ``randn`` and PyTorch: ``zeros(2, 3)``,
    ``zeros((2, 3))`` and ``zeros([2, 3])`` are the same; ``zeros(5)`` is 1-d and
    ``zeros()`` or ``zeros(())`` 0-d. numpy's forms work too: ``zeros(shape=(2, 3))``
    and ``zeros((2, 3), "float32")``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.zeros((2, 1), dtype="float32")
    Tensor([[0.],
            [0.]], dtype=float32)
    >>> ad.zeros(1, 2)
    Tensor([[0., 0.]], dtype=float64)
    """
    dims, dtype = _api_form(dims, shape, dtype)
    return _filled(dims, 0.0, dtype, requires_grad, "zeros")


def ones(*dims, dtype=None, requires_grad=False, shape=None):
    """A tensor of ones; the shape is given as in ``zeros``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones(3)
    Tensor([1., 1., 1.], dtype=float64)
    >>> ad.ones([1, 2], requires_grad=True)
    Tensor([[1., 1.]], dtype=float64, requires_grad=True)
    """
    dims, dtype = _api_form(dims, shape, dtype)
    return _filled(dims, 1.0, dtype, requires_grad, "ones")


def zeros_like(t, dtype=None, requires_grad=False):
    """Zeros of ``t``'s shape and (unless given) dtype.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.zeros_like(ad.ones(2, dtype="float32"))
    Tensor([0., 0.], dtype=float32)
    """
    return zeros(np.shape(t), dtype=dtype or _like_dtype(t), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    """Ones of ``t``'s shape and (unless given) dtype.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones_like(ad.zeros((1, 2)))
    Tensor([[1., 1.]], dtype=float64)
    """
    return ones(np.shape(t), dtype=dtype or _like_dtype(t), requires_grad=requires_grad)


def _like_dtype(t):
    dt = np.asarray(t).dtype
    return dt if dt.kind == "f" and dt.itemsize >= 4 else DEFAULT_DTYPE


def _random(sample, shape, seed, dtype, requires_grad, where):
    shape, dt = _shape(shape, where), _dt(dtype, where)
    # (seed=None: the default generator, so ad.manual_seed makes the draws repeatable)
    return _leaf(sample(_rng.as_generator(seed, where), shape, dt), requires_grad)


def randn(*shape, seed=None, dtype=None, requires_grad=False):
    """Standard normal samples (numpy's ``Generator``; ``seed`` makes them repeatable;
    without it they come from the default generator, which ``ad.manual_seed`` seeds).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.randn(2, 3, seed=0).shape
    (2, 3)
    """
    return _random(lambda rng, s, dt: rng.standard_normal(s, dtype=dt), shape, seed, dtype,
                   requires_grad, "randn")


def rand(*shape, seed=None, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1) (numpy's ``Generator``; ``seed`` makes them repeatable;
    without it they come from the default generator, which ``ad.manual_seed`` seeds).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> u = ad.rand(100, seed=1)
    >>> bool(((u >= 0) & (u < 1)).numpy().all())
    True
    """
    return _random(lambda rng, s, dt: rng.random(s, dtype=dt), shape, seed, dtype,
                   requires_grad, "rand")

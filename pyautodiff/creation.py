"""Functions that make new leaf tensors."""

import numpy as np

from .tensor import DEFAULT_DTYPE, Tensor, _dtype_arg


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


def full(shape, value, dtype=None, requires_grad=False):
    """A tensor of ``shape`` filled with ``value``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.full((2,), 7.0)
    Tensor([7., 7.], dtype=float64)
    """
    return _leaf(np.full(shape, value, dtype=_dt(dtype, "full")), requires_grad)


def zeros(shape, dtype=None, requires_grad=False):
    """A tensor of zeros.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.zeros((2, 1), dtype="float32")
    Tensor([[0.],
            [0.]], dtype=float32)
    """
    return full(shape, 0.0, dtype, requires_grad)


def ones(shape, dtype=None, requires_grad=False):
    """A tensor of ones.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones(3)
    Tensor([1., 1., 1.], dtype=float64)
    """
    return full(shape, 1.0, dtype, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    """Zeros of ``t``'s shape and (unless given) dtype.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.zeros_like(ad.ones(2, dtype="float32"))
    Tensor([0., 0.], dtype=float32)
    """
    return zeros(np.shape(t), dtype or _like_dtype(t), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    """Ones of ``t``'s shape and (unless given) dtype.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ones_like(ad.zeros((1, 2)))
    Tensor([[1., 1.]], dtype=float64)
    """
    return ones(np.shape(t), dtype or _like_dtype(t), requires_grad)


def _like_dtype(t):
    dt = np.asarray(t).dtype
    return dt if dt.kind == "f" and dt.itemsize >= 4 else DEFAULT_DTYPE


def _random(sample, shape, seed, dtype, requires_grad, where):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dt = _dt(dtype, where)
    return _leaf(sample(np.random.default_rng(seed), shape, dt), requires_grad)


def randn(*shape, seed=None, dtype=None, requires_grad=False):
    """Standard normal samples (numpy's ``Generator``; ``seed`` makes them repeatable).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.randn(2, 3, seed=0).shape
    (2, 3)
    """
    return _random(lambda rng, s, dt: rng.standard_normal(s, dtype=dt), shape, seed, dtype,
                   requires_grad, "randn")


def rand(*shape, seed=None, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1) (numpy's ``Generator``; ``seed`` makes them repeatable).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> u = ad.rand(100, seed=1)
    >>> bool(((u >= 0) & (u < 1)).numpy().all())
    True
    """
    return _random(lambda rng, s, dt: rng.random(s, dtype=dt), shape, seed, dtype,
                   requires_grad, "rand")

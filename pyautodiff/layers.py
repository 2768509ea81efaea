"""More layers, with PyTorch's names, arguments, defaults and numbers.

Dropout, the normalisations (LayerNorm, BatchNorm1d), Embedding and the activations
GELU, LeakyReLU, Softplus, with Identity and Flatten. ``pyautodiff.nn`` re-exports them.
Every forward is built from pyautodiff ops, so gradients (and second derivatives) come
from the ops' VJPs, on every backend. Dropout and BatchNorm1d behave differently in
training and in evaluation: they read ``self.training``, which ``train()``/``eval()`` set.
"""

import math

import numpy as np

from . import memory
from .engine import no_grad
from .nn import DtypeMismatchError, Module, _size_arg
from .ops.elementwise import erf, sqrt, tanh, where
from .ops.elementwise import softplus as _softplus
from .ops.reduce import axes_in_order, mean
from .ops.reduce import sum as _sum
from .ops.shape import reshape
from .rng import as_generator, default_generator
from .tensor import DEFAULT_DTYPE, Tensor, _dtype_arg, as_array

__all__ = [
    "GELU",
    "BatchNorm1d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Softplus",
]


def _input(x, fn, dtype=None):
    """``x`` as a Tensor (Tensors pass through); a layer with parameters of ``dtype``
    converts other data to it and refuses a Tensor of the other float dtype, as Linear."""
    if not isinstance(x, Tensor):
        return Tensor._make(as_array(x, fn, dtype))
    if dtype is not None and x.dtype != dtype:
        raise DtypeMismatchError(
            f"{fn}: input of dtype {x.dtype} and parameters of dtype {dtype} differ "
            f"(PyTorch refuses this too); convert the input with x.astype('{dtype}'), or "
            f"build the layer with dtype='{x.dtype}'"
        )
    return x


def _real(value, name, fn):
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(
            value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a real number, got "
                        f"{type(value).__name__} {value!r}")
    return float(value)


def _parameter(fill, shape, dtype):
    return Tensor(np.full(shape, fill), requires_grad=True, dtype=dtype)


# ----- Dropout --------------------------------------------------------------------------

class Dropout(Module):
    """Zero each element with probability ``p`` in training, scale the rest by ``1/(1-p)``.

    The expected value of each element is unchanged (inverted dropout, as PyTorch's).
    In evaluation (``eval()``) the layer returns its input itself, as it does for
    ``p=0``; ``p=1`` gives zeros (``x * 0``). The masks come from ``generator`` (a numpy
    ``Generator``, or an int seeding a new one) or, when it is None, from the library's
    default generator at each call, which ``ad.manual_seed`` reseeds. A mask is a
    constant of the graph: the gradient is the upstream gradient times the same mask.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> drop = nn.Dropout(0.5, generator=0)
    >>> drop
    Dropout(p=0.5)
    >>> sorted(set(drop(ad.ones(1000)).tolist()))  # about half zeros, the rest 1 / (1 - p)
    [0.0, 2.0]
    >>> drop.training = False  # what drop.eval() does
    >>> drop(ad.ones(3))
    Tensor([1., 1., 1.], dtype=float64)
    """

    def __init__(self, p=0.5, generator=None):
        p = _real(p, "p", "Dropout")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: dropout probability has to be between 0 and 1, "
                             f"but got {p}")
        self.p = p
        self.generator = None if generator is None else as_generator(generator, "Dropout")

    def forward(self, x):
        """``x`` times a fresh mask of zeros and ``1/(1-p)`` in training; ``x`` in eval."""
        x = _input(x, "Dropout")
        if not self.training or self.p == 0.0 or x.size == 0:
            return x
        if self.p == 1.0:
            return x * 0.0
        return x * _dropout_scale(self, x.shape, x.dtype)

    def extra_repr(self):
        return f"p={self.p}"


def generator_of(layer):
    """The generator ``layer`` (a Dropout) draws its next mask from."""
    return default_generator() if layer.generator is None else layer.generator


def _dropout_scale(layer, shape, dtype):
    """A fresh mask of zeros and ``1/(1-p)``, of ``shape`` and ``dtype``, drawn from
    ``generator_of(layer)``: a draw ``compile`` records, so each replay draws anew.

    Examples
    --------
    >>> import numpy as np
    >>> from pyautodiff import layers, nn
    >>> layers._dropout_scale(nn.Dropout(0.75, generator=1), (6,), np.float64)
    array([0., 4., 0., 4., 0., 0.])
    """
    keep = generator_of(layer).random(shape) >= layer.p
    # (keep / (1 - p), as PyTorch divides its mask: the same scale, to the last bit)
    return (keep / (1.0 - layer.p)).astype(dtype, copy=False)


# ----- normalisation --------------------------------------------------------------------

def _normalized(d, var, eps):
    """The deviations ``d`` from the mean over the standard deviation ``sqrt(var + eps)``."""
    return d / sqrt(var + eps)


class LayerNorm(Module):
    """Normalize over the last dimensions (``normalized_shape``) of each sample.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, with the mean and the biased
    variance taken over the last ``len(normalized_shape)`` dimensions, which must equal
    ``normalized_shape``. ``weight`` starts at ones and ``bias`` at zeros, both of shape
    ``normalized_shape`` (none with ``elementwise_affine=False``; no bias with
    ``bias=False``), as in PyTorch.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
    eps : float
        Added to the variance, so a constant input gives zeros rather than NaN.
    elementwise_affine, bias : bool
    dtype : float32 or float64, optional
        The parameters' dtype (default float64); a Tensor input must have it (as in
        ``Linear``), other data is converted to it.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> norm = nn.LayerNorm(3)
    >>> norm
    LayerNorm((3,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> norm(ad.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]))
    Tensor([[-1.22473569,  0.        ,  1.22473569],
            [ 0.        ,  0.        ,  0.        ]], dtype=float64, grad_fn=add)
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 dtype=None):
        shape = (normalized_shape if isinstance(normalized_shape, (tuple, list))
                 else (normalized_shape,))
        self.normalized_shape = tuple(_size_arg(n, "normalized_shape", "LayerNorm")
                                      for n in shape)
        if not self.normalized_shape:
            raise ValueError("LayerNorm: normalized_shape is empty, expected at least one "
                             "dimension to normalize over")
        self.eps = _real(eps, "eps", "LayerNorm")
        self.elementwise_affine = bool(elementwise_affine)
        dt = DEFAULT_DTYPE if dtype is None else _dtype_arg(dtype, "LayerNorm")
        affine = self.elementwise_affine
        self.weight = _parameter(1.0, self.normalized_shape, dt) if affine else None
        self.bias = _parameter(0.0, self.normalized_shape, dt) if affine and bias else None
        self._dtype = dt

    def forward(self, x):
        """``x`` normalized over its last ``len(normalized_shape)`` dimensions."""
        # (without parameters, any float dtype will do)
        x = _input(x, "LayerNorm", None if self.weight is None else self._dtype)
        k = len(self.normalized_shape)
        if x.ndim < k or x.shape[x.ndim - k:] != self.normalized_shape:
            raise ValueError(
                f"LayerNorm: input of shape {x.shape} does not end in normalized_shape="
                f"{self.normalized_shape}, expected shape (..., "
                f"{', '.join(map(str, self.normalized_shape))})"
            )
        axes = tuple(range(x.ndim - k, x.ndim))
        d = x - mean(x, axis=axes, keepdims=True)
        y = _normalized(d, mean(d * d, axis=axes, keepdims=True), self.eps)
        if self.weight is not None:
            y = y * self.weight
        return y if self.bias is None else y + self.bias

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class BatchNorm1d(Module):
    """Normalize each channel over the batch: inputs ``(N, C)`` or ``(N, C, L)``.

    In training, each channel is normalized by the mean and the biased variance of
    the batch (over N, and L), and, with ``track_running_stats``, the buffers
    ``running_mean`` and ``running_var`` move towards the batch's mean and *unbiased*
    variance: ``running = (1 - momentum) * running + momentum * batch``, or, with
    ``momentum=None``, the plain average of all batches so far; ``num_batches_tracked``
    counts the batches (an int64 0-d Tensor, as PyTorch's). In evaluation the
    running statistics normalize instead (the batch's own when
    ``track_running_stats=False``). ``weight`` starts at ones, ``bias`` at zeros
    (``affine=False``: neither; ``bias=False``: no bias). All as PyTorch's ``BatchNorm1d``.

    The buffers are Tensors without ``requires_grad``, updated in place (so a reference
    to one sees the update), listed by name in ``_buffer_names``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> bn = nn.BatchNorm1d(2)
    >>> bn
    BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> bn(ad.tensor([[1.0, 10.0], [3.0, 30.0]]))
    Tensor([[-0.999995  , -0.99999995],
            [ 0.999995  ,  0.99999995]], dtype=float64, grad_fn=add)
    >>> bn.running_mean, bn.running_var
    (Tensor([0.2, 2. ], dtype=float64), Tensor([ 1.1, 20.9], dtype=float64))
    >>> bn.num_batches_tracked
    Tensor(1, dtype=int64)
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None, *, bias=True):
        self.num_features = _size_arg(num_features, "num_features", "BatchNorm1d")
        self.eps = _real(eps, "eps", "BatchNorm1d")
        self.momentum = None if momentum is None else _real(momentum, "momentum",
                                                            "BatchNorm1d")
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = DEFAULT_DTYPE if dtype is None else _dtype_arg(dtype, "BatchNorm1d")
        c = self.num_features
        self.weight = _parameter(1.0, c, dt) if self.affine else None
        self.bias = _parameter(0.0, c, dt) if self.affine and bias else None
        if self.track_running_stats:
            self.running_mean = Tensor(np.zeros(c), dtype=dt)
            self.running_var = Tensor(np.ones(c), dtype=dt)
            # (Tensor() makes floats only; PyTorch's counter is an int64 0-d tensor)
            self.num_batches_tracked = Tensor._make(np.zeros((), dtype=np.int64))
            self._buffer_names = ["running_mean", "running_var", "num_batches_tracked"]
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._dtype = dt

    def forward(self, x):
        """``x`` normalized per channel (axis 1), by batch or running statistics."""
        x = _input(x, "BatchNorm1d", self._dtype)
        c = self.num_features
        if x.ndim not in (2, 3) or x.shape[1] != c:
            raise ValueError(
                f"BatchNorm1d: input of shape {x.shape} does not fit num_features={c}, "
                f"expected shape (N, {c}) or (N, {c}, L)"
            )
        axes = (0,) if x.ndim == 2 else (0, 2)
        channels = (1, c) if x.ndim == 2 else (1, c, 1)
        if self.training or self.running_mean is None:
            n = x.size // c
            if self.training and n <= 1:
                raise ValueError(
                    f"BatchNorm1d: expected more than 1 value per channel when training, "
                    f"got input of shape {x.shape}"
                )
            batch_mean = mean(x, axis=axes, keepdims=True)
            d = x - batch_mean
            squares = _sum(d * d, axis=axes, keepdims=True)
            if self.training and self.running_mean is not None:
                self._track(batch_mean, squares, n)
            # (normalized by the biased variance; the running one gets the unbiased)
            y = _normalized(d, squares / n, self.eps)
        else:
            y = _normalized(x - reshape(self.running_mean, channels),
                            reshape(self.running_var, channels), self.eps)
        if self.weight is not None:
            y = y * reshape(self.weight, channels)
        return y if self.bias is None else y + reshape(self.bias, channels)

    def _track(self, batch_mean, squares, n):
        """Move the running statistics towards this batch's, in place."""
        with no_grad():
            unbiased = squares / (n - 1)
        _moved(self.running_mean._data, self.running_var._data,
               self.num_batches_tracked._data, batch_mean._data, unbiased._data, self.momentum)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


# ----- Embedding ------------------------------------------------------------------------

def _indices(indices, n):
    """``indices`` as an intp array of values in ``[0, n)``, or an error saying why not."""
    if isinstance(indices, Tensor):
        # Tensors hold floats only, so a Tensor of whole numbers counts as indices.
        arr = indices._data
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise TypeError(f"Embedding: indices must be integers, got a Tensor of dtype "
                            f"{arr.dtype} holding non-integer values")
    else:
        try:
            arr = np.asarray(indices)
        except (TypeError, ValueError):  # ragged lists, objects numpy cannot convert
            arr = None
        if arr is None or arr.dtype.kind not in "iu":
            what = "" if arr is None else f" of dtype {arr.dtype}"
            raise TypeError(f"Embedding: indices must be integers (an int array or list), "
                            f"got {type(indices).__name__}{what}")
    bad = (arr < 0) | (arr >= n)
    if np.any(bad):
        raise IndexError(f"Embedding: index {int(arr[bad].flat[0])} is out of range for "
                         f"num_embeddings={n}, expected 0 <= index < {n}")
    return arr.astype(np.intp)


class Embedding(Module):
    """A lookup table: row ``i`` of ``weight`` (``num_embeddings x embedding_dim``) for
    each integer index ``i``.

    Indices are a numpy int array, a list, an int, or a Tensor of whole numbers, of any
    shape ``S``; the result has shape ``S + (embedding_dim,)``. The gradient of
    ``weight`` sums the upstream gradients of every place an index appears. Row
    ``padding_idx`` (if given; negative counts from the end) starts at zeros and never
    gets a gradient, as in PyTorch. ``weight`` starts standard normal, drawn from
    ``seed`` (an int or a numpy Generator) or, when None, the library's default
    generator (``ad.manual_seed``).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> emb = nn.Embedding(5, 2, padding_idx=0, seed=0)
    >>> emb
    Embedding(5, 2, padding_idx=0)
    >>> emb([[1, 0], [1, 4]]).shape
    (2, 2, 2)
    >>> emb([1, 1, 0]).sum().backward()
    >>> emb.weight.grad
    Tensor([[0., 0.],
            [2., 2.],
            [0., 0.],
            [0., 0.],
            [0., 0.]], dtype=float64)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, seed=None,
                 dtype=None):
        n = self.num_embeddings = _size_arg(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _size_arg(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not isinstance(padding_idx, (int, np.integer)) or isinstance(
                    padding_idx, (bool, np.bool_)):
                raise TypeError(f"Embedding: padding_idx must be None or an int, got "
                                f"{type(padding_idx).__name__} {padding_idx!r}")
            if not -n <= padding_idx < n:
                raise ValueError(f"Embedding: padding_idx={padding_idx} must be within "
                                 f"num_embeddings={n}, expected {-n} <= padding_idx < {n}")
            padding_idx = int(padding_idx) % n
        self.padding_idx = padding_idx
        dt = DEFAULT_DTYPE if dtype is None else _dtype_arg(dtype, "Embedding")
        w = as_generator(seed, "Embedding").standard_normal((n, self.embedding_dim))
        if padding_idx is not None:
            w[padding_idx] = 0.0
        self.weight = Tensor(w, requires_grad=True, dtype=dt)

    def forward(self, indices):
        """The rows of ``weight`` at ``indices``: shape ``indices.shape + (embedding_dim,)``."""
        idx = _indices(indices, self.num_embeddings)
        rows = self.weight[idx]
        if self.padding_idx is None:
            return rows
        # The padding row's value, through a detached copy: no gradient reaches it.
        return where((idx == self.padding_idx)[..., None], rows.detach(), rows)

    def extra_repr(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


def _moved(running_mean, running_var, tracked, batch_mean, batch_var, momentum):
    """Count one more batch in ``tracked`` and move the running statistics towards the
    batch's by ``momentum`` (None: the plain average of all batches), in place: a step
    ``compile`` records and replays (each write counted as ``memory.writing`` counts it).

    Examples
    --------
    >>> import numpy as np
    >>> mean, var, n = np.zeros(2), np.ones(2), np.zeros((), np.int64)
    >>> _moved(mean, var, n, np.array([[1.0, 2.0]]), np.array([[3.0, 5.0]]), 0.5)
    >>> mean, var, int(n)
    (array([0.5, 1. ]), array([2., 3.]), 1)
    """
    with memory.writing(tracked, "BatchNorm1d"):
        tracked += 1
    f = 1.0 / float(tracked) if momentum is None else momentum
    # (1 - f) * running + f * batch, rounded as PyTorch rounds it
    for running, batch in ((running_mean, batch_mean), (running_var, batch_var)):
        with memory.writing(running, "BatchNorm1d"):
            running *= 1.0 - f
            running += batch.reshape(running.shape) * f


# ----- activations and reshaping --------------------------------------------------------

# PyTorch's constants for GELU: M_SQRT1_2, and M_SQRT2 * M_2_SQRTPI * 0.5 = sqrt(2 / pi).
_SQRT1_2 = 0.70710678118654752440
_TANH_BETA = 1.41421356237309504880 * 1.12837916709551257390 * 0.5
_TANH_KAPPA = 0.044715


class GELU(Module):
    """The Gaussian error linear unit ``x * Phi(x)``, Phi the standard normal CDF.

    ``approximate='none'``: ``x * 0.5 * (1 + erf(x / sqrt(2)))``; ``'tanh'``:
    ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``, PyTorch's two forms.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.GELU()(ad.tensor([-1.0, 0.0, 1.0]))
    Tensor([-0.15865525,  0.        ,  0.84134475], dtype=float64)
    >>> nn.GELU(approximate="tanh")(ad.tensor([1.0]))
    Tensor([0.84119199], dtype=float64)
    """

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        """``GELU(x)``, elementwise."""
        x = _input(x, "GELU")
        if self.approximate == "tanh":
            inner = (x + x * x * x * _TANH_KAPPA) * _TANH_BETA
            return x * 0.5 * (tanh(inner) + 1.0)
        return x * 0.5 * (erf(x * _SQRT1_2) + 1.0)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class LeakyReLU(Module):
    """``x`` where ``x > 0``, else ``negative_slope * x`` (the gradient at 0 is the slope,
    as PyTorch's).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.LeakyReLU(0.1)(ad.tensor([-2.0, 3.0]))
    Tensor([-0.2,  3. ], dtype=float64)
    """

    def __init__(self, negative_slope=0.01):
        self.negative_slope = _real(negative_slope, "negative_slope", "LeakyReLU")

    def forward(self, x):
        """``LeakyReLU(x)``, elementwise."""
        x = _input(x, "LeakyReLU")
        return where(x > 0, x, x * self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` itself where ``beta * x > threshold``
    (where the two agree to rounding), as PyTorch's.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.Softplus(beta=2.0)(ad.tensor([0.0, 30.0]))
    Tensor([ 0.34657359, 30.        ], dtype=float64)
    """

    def __init__(self, beta=1.0, threshold=20.0):
        self.beta = _real(beta, "beta", "Softplus")
        self.threshold = _real(threshold, "threshold", "Softplus")

    def forward(self, x):
        """``Softplus(x)``, elementwise."""
        x = _input(x, "Softplus")
        z = x * self.beta
        return where(z > self.threshold, x, _softplus(z) / self.beta)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Identity(Module):
    """Returns its input itself; any arguments are ignored, as PyTorch's.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> x = ad.ones(2)
    >>> nn.Identity(54, unused="argument")(x) is x
    True
    """

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        """``x``."""
        return x


class Flatten(Module):
    """Merge the dimensions ``start_dim`` to ``end_dim`` (both included) into one.

    The default keeps the batch dimension: ``(N, C, L) -> (N, C * L)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.Flatten()(ad.zeros((2, 3, 4))).shape
    (2, 12)
    >>> nn.Flatten(0, 1)(ad.zeros((2, 3, 4))).shape
    (6, 4)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
                raise TypeError(f"Flatten: {name} must be an int, got "
                                f"{type(value).__name__} {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        """``x`` with dimensions ``start_dim..end_dim`` merged."""
        x = _input(x, "Flatten")
        # (a 0-d tensor flattens as a 1-d one, as in PyTorch)
        shape = x.shape or (1,)
        start, end = (axes_in_order("Flatten", d, len(shape))[0]
                      for d in (self.start_dim, self.end_dim))
        if start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim} comes after end_dim="
                             f"{self.end_dim} for an input of shape {x.shape}")
        return reshape(x, shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

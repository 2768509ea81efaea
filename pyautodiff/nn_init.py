"""``nn.init``: PyTorch's weight initializations, in place on a Tensor.

Each function writes into the tensor's own array (a library write: it counts as a new
version of the memory, and a leaf that requires grad may be written without
``no_grad()``, as in PyTorch) and returns the tensor. Random ones draw from
``generator`` (a numpy ``Generator``), else from the library's default generator
(``ad.manual_seed`` seeds it). The distributions and their bounds are PyTorch's; the
numbers drawn are numpy's, not PyTorch's.
"""

import math
import numbers
import warnings

from . import memory
from .data import _generator
from .tensor import Tensor

__all__ = [
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The recommended scale of weights before ``nonlinearity`` (PyTorch's table).

    ``linear``, ``conv*`` and ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + slope**2)) with ``param`` the negative slope
    (default 0.01); ``selu``: 3/4.

    Examples
    --------
    >>> from pyautodiff import nn
    >>> nn.init.calculate_gain("tanh"), nn.init.calculate_gain("leaky_relu", 0.2)
    (1.6666666666666667, 1.3867504905630728)
    """
    if nonlinearity in _LINEAR:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}, expected one "
                     f"of {', '.join(_LINEAR + ('tanh', 'relu', 'leaky_relu', 'selu'))}")


def _target(tensor, where):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(tensor).__name__}")
    return tensor


def _fill(tensor, value, where):
    """Write ``value`` (broadcast) into ``tensor``'s array as a library write; ``tensor``."""
    a = tensor._data
    with memory.writing(a, f"{where}: the tensor"):
        a[...] = value
    return tensor


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fill ``tensor`` with samples of the uniform distribution on ``[a, b)``.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = nn.init.uniform_(ad.zeros(1000), -2.0, 2.0, generator=np.random.default_rng(0))
    >>> bool((w.numpy() >= -2).all() and (w.numpy() < 2).all())
    True
    """
    t = _target(tensor, "uniform_")
    return _fill(t, _generator(generator, "uniform_").uniform(a, b, t.shape), "uniform_")


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fill ``tensor`` with samples of the normal distribution ``N(mean, std**2)``.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = nn.init.normal_(ad.zeros(10000), 1.0, 0.5, generator=np.random.default_rng(0))
    >>> round(float(w.numpy().std()), 1)
    0.5
    """
    t = _target(tensor, "normal_")
    return _fill(t, _generator(generator, "normal_").normal(mean, std, t.shape), "normal_")


def constant_(tensor, val):
    """Fill ``tensor`` with ``val``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.init.constant_(ad.zeros(2), 0.5)
    Tensor([0.5, 0.5], dtype=float64)
    """
    return _fill(_target(tensor, "constant_"), val, "constant_")


def zeros_(tensor):
    """Fill ``tensor`` with zeros.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.init.zeros_(ad.ones(2))
    Tensor([0., 0.], dtype=float64)
    """
    return _fill(_target(tensor, "zeros_"), 0, "zeros_")


def ones_(tensor):
    """Fill ``tensor`` with ones.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.init.ones_(ad.zeros(2))
    Tensor([1., 1.], dtype=float64)
    """
    return _fill(_target(tensor, "ones_"), 1, "ones_")


def _fans(tensor, where):
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``, as in PyTorch."""
    if tensor.ndim < 2:
        raise ValueError(f"{where}: fan in and fan out can not be computed for a tensor of "
                         f"shape {tensor.shape}, expected at least 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _xavier_std(tensor, gain, where):
    fan_in, fan_out = _fans(_target(tensor, where), where)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot's uniform initialization: ``U(-a, a)`` with
    ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = nn.init.xavier_uniform_(ad.zeros((30, 20)), generator=np.random.default_rng(0))
    >>> bool(np.abs(w.numpy()).max() <= np.sqrt(6 / 50))
    True
    """
    a = math.sqrt(3.0) * _xavier_std(tensor, gain, "xavier_uniform_")
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot's normal initialization: ``N(0, std**2)`` with
    ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = nn.init.xavier_normal_(ad.zeros((300, 200)), generator=np.random.default_rng(0))
    >>> round(float(w.numpy().std() / np.sqrt(2 / 500)), 1)
    1.0
    """
    return normal_(tensor, 0.0, _xavier_std(tensor, gain, "xavier_normal_"), generator)


def _kaiming_std(tensor, a, mode, nonlinearity, where):
    """The standard deviation of He's initialization, or None for an empty tensor."""
    fan_in, fan_out = _fans(_target(tensor, where), where)
    if tensor.size == 0:  # (its fan may be 0)
        warnings.warn(f"{where}: initializing a zero-element tensor is a no-op", stacklevel=3)
        return None
    modes = {"fan_in": fan_in, "fan_out": fan_out}
    if not isinstance(mode, str) or mode.lower() not in modes:
        raise ValueError(f"{where}: mode {mode!r} not supported, expected 'fan_in' or "
                         "'fan_out'")
    return calculate_gain(nonlinearity, a) / math.sqrt(modes[mode.lower()])


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He's uniform initialization: ``U(-bound, bound)`` with
    ``bound = gain * sqrt(3 / fan)``, ``gain = calculate_gain(nonlinearity, a)`` and
    ``fan`` the fan-in or fan-out (``mode``).

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = nn.init.kaiming_uniform_(ad.zeros((30, 20)), nonlinearity="relu",
    ...                              generator=np.random.default_rng(0))
    >>> bool(np.abs(w.numpy()).max() <= np.sqrt(2) * np.sqrt(3 / 20))
    True
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He's normal initialization: ``N(0, std**2)`` with ``std = gain / sqrt(fan)`` (see
    ``kaiming_uniform_``).

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = nn.init.kaiming_normal_(ad.zeros((400, 300)), mode="fan_out",
    ...                             nonlinearity="relu", generator=np.random.default_rng(0))
    >>> round(float(w.numpy().std() / np.sqrt(2 / 400)), 1)
    1.0
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return tensor if std is None else normal_(tensor, 0.0, std, generator)

"""pyautodiff: vectorized reverse-mode automatic differentiation on numpy arrays.

The public names of API.md, re-exported from the modules that define them.
"""

import numpy as _np

from .backends import c_available, get_backend, set_backend, use_backend
from .creation import full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .engine import enable_grad, is_grad_enabled, no_grad
from .ops.composite import log_softmax, softmax, var
from .ops.elementwise import (
    abs, add, clip, cos, div, exp, expm1, log, log1p, maximum, minimum, mul, neg, pow,
    relu, sigmoid, sin, softplus, sqrt, square, sub, tanh, where,
)
from .ops.linalg import matmul
from .ops.reduce import logsumexp, max, mean, min, sum
from .ops.shape import (
    astype, broadcast_to, concatenate, expand_dims, flatten, getitem, reshape, squeeze,
    stack, swapaxes, transpose,
)
from .tensor import Tensor

float32 = _np.float32
float64 = _np.float64

__version__ = "0.1.0"

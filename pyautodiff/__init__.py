"""pyautodiff: vectorized reverse-mode automatic differentiation on numpy arrays.

The public names of API.md, re-exported from the modules that define them.
"""

import numpy as _np

from .backends import c_available, get_backend, set_backend, use_backend
from .creation import full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .engine import enable_grad, is_grad_enabled, no_grad
from .functional import grad, hessian, jacobian, value_and_grad
from .gradcheck import GradcheckError, gradcheck
from .numpy_dispatch import numpy_functions
from .ops.composite import log_softmax, softmax, var
# numpy's reductions and shape functions (issue 11)
from .ops.composite import average, nansum, std
from .ops.reduce import cumprod, cumsum, prod
from .ops.shape import (
    array_split,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    column_stack,
    diff,
    dstack,
    flip,
    hstack,
    moveaxis,
    pad,
    ravel,
    repeat,
    roll,
    sort,
    split,
    take,
    take_along_axis,
    tile,
    vstack,
)
from .ops.elementwise import (
    abs,
    add,
    clip,
    cos,
    div,
    exp,
    expm1,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sin,
    softplus,
    sqrt,
    square,
    sub,
    tanh,
    where,
)
from .ops.linalg import dot, matmul, norm
from .ops.reduce import logsumexp, max, mean, min, sum
from .ops.shape import (
    astype,
    broadcast_to,
    concatenate,
    copy,
    expand_dims,
    flatten,
    getitem,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
)
from .tensor import Tensor
from .viz import to_dot

float32 = _np.float32
float64 = _np.float64

__version__ = "0.1.0"

# Last: the training modules build on everything above.
from . import nn, optim

__all__ = [
    "GradcheckError",
    "Tensor",
    "abs",
    "add",
    "astype",
    "broadcast_to",
    "c_available",
    "clip",
    "concatenate",
    "copy",
    "cos",
    "div",
    "dot",
    "enable_grad",
    "exp",
    "expand_dims",
    "expm1",
    "flatten",
    "float32",
    "float64",
    "full",
    "get_backend",
    "getitem",
    "grad",
    "gradcheck",
    "hessian",
    "is_grad_enabled",
    "jacobian",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "nn",
    "no_grad",
    "norm",
    "numpy_functions",
    "ones",
    "ones_like",
    "optim",
    "pow",
    "rand",
    "randn",
    "relu",
    "reshape",
    "set_backend",
    "sigmoid",
    "sin",
    "softmax",
    "softplus",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "sub",
    "sum",
    "swapaxes",
    "tanh",
    "tensor",
    "to_dot",
    "transpose",
    "use_backend",
    "value_and_grad",
    "var",
    "where",
    "zeros",
    "zeros_like",
    # numpy's reductions and shape functions (issue 11)
    "array_split",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "average",
    "column_stack",
    "cumprod",
    "cumsum",
    "diff",
    "dstack",
    "flip",
    "hstack",
    "moveaxis",
    "nansum",
    "pad",
    "prod",
    "ravel",
    "repeat",
    "roll",
    "sort",
    "split",
    "std",
    "take",
    "take_along_axis",
    "tile",
    "vstack",
]

"""The pure-Python backend: every kernel written with numpy.

This is the reference path. The C backend starts from this table and overrides
what its compiled kernels cover, so both give the same numbers.
"""

import numpy as np

NAME = "numpy"
# The engine sends arrays smaller than a backend's THRESHOLD to this backend;
# here that is every size.
THRESHOLD = THRESHOLD_F32 = 0

neg = np.negative
abs = np.absolute
exp = np.exp
log = np.log
log1p = np.log1p
expm1 = np.expm1
sqrt = np.sqrt
square = np.square
sin = np.sin
cos = np.cos
tanh = np.tanh

add = np.add
sub = np.subtract
mul = np.multiply
div = np.true_divide
pow = np.power
maximum = np.maximum
minimum = np.minimum
logaddexp = np.logaddexp
logaddexp2 = np.logaddexp2
hypot = np.hypot

matmul = np.matmul
where = np.where
clip = np.clip


def sigmoid(x):
    # Never exponentiate a positive number, so nothing overflows: for x < 0 use
    # e**x / (1 + e**x), which is exact where 1 / (1 + e**-x) would give inf / 0.
    e = np.exp(-np.absolute(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def relu(x):
    return np.maximum(x, 0)


def softplus(x):
    # log(1 + e**x) without overflow for large x and without losing tiny values.
    return np.logaddexp(0, x)


def tanh_grad(g, out):
    return g * (1 - out * out)


def sigmoid_grad(g, out):
    return g * (out * (1 - out))


def square_grad(g, x):
    return g * (x + x)


def relu_grad(g, x):
    # Subgradient 0 at the kink, as PyTorch.
    return g * (x > 0)


def sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=axis, keepdims=keepdims)


def vdot(x, y):
    """sum(x * y) over all elements of two same-shaped arrays."""
    return np.vdot(x, y)


def max(x, axis=None, keepdims=False):
    return np.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return np.min(x, axis=axis, keepdims=keepdims)


def acc(dst, src):
    """dst += src in place; dst belongs to the engine. Returns dst."""
    dst += src
    return dst


def acc_op(kernel, dst, x, y):
    """dst += <kernel>(x, y) in place, if that sum has dst's shape and dtype.

    Returns whether it did: else the caller computes the term and adds it itself.
    Here the term is computed first, exactly as the caller would; a backend may
    fuse the two passes.
    """
    shape = dst.shape
    # (attribute reads: np.shape and np.ndim cost more than the kernel on small arrays)
    if getattr(x, "shape", None) != shape or getattr(y, "shape", ()) not in (shape, ()):
        return False
    term = globals()[kernel](x, y)
    if term.dtype != dst.dtype:
        return False
    dst += term
    return True

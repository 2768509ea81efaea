"""Ops with no gradient: comparisons and ``sign``.

They return bool (or, for ``sign``, float) tensors that do not require grad,
and plain arrays when called on plain arrays, so VJPs can use them either way.
"""

import numpy as np

from ..tensor import Tensor, operand


def _value(x, name):
    return x._data if isinstance(x, Tensor) else operand(x, name)


def _compared(fn, x, y):
    """``fn(x, y)`` as an array: a pure function of arrays, which ``compile`` records as a
    step of its program (a mask a layer computes, read anew at each replay)."""
    return np.asarray(fn(x, y))


def _comparison(fn):
    name = fn.__name__

    def compare(x, y):
        if not (isinstance(x, Tensor) or isinstance(y, Tensor)):
            return fn(x, y)
        xd, yd = _value(x, name), _value(y, name)
        try:
            return Tensor._make(_compared(fn, xd, yd))
        except ValueError as e:
            raise ValueError(f"{name}: {e} (shapes {np.shape(xd)} and {np.shape(yd)})") from None

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise ``np.{name}``: a bool tensor that carries no gradient."
    return compare


less = _comparison(np.less)
less_equal = _comparison(np.less_equal)
greater = _comparison(np.greater)
greater_equal = _comparison(np.greater_equal)
equal = _comparison(np.equal)
not_equal = _comparison(np.not_equal)
logical_and = _comparison(np.logical_and)
logical_or = _comparison(np.logical_or)
logical_xor = _comparison(np.logical_xor)


def sign(x):
    """-1, 0 or 1 by the sign of ``x``; piecewise constant, so it carries no gradient."""
    if isinstance(x, Tensor):
        return Tensor._make(np.sign(x._data))
    return np.sign(x)

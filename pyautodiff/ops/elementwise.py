"""Elementwise ops: arithmetic, unary math, and the fused backward kernels.

Each entry is a forward on arrays and its VJPs (``g`` the upstream gradient,
``out`` the forward result). Inputs broadcast as in numpy; the engine sums each
gradient back to its input's shape.
"""

import math

import numpy as np

from ..engine import apply
from ..tensor import Tensor
from . import P, compare, defop


def _first(K, g, out, x, y):
    return g


@defop(vjp=(_first, _first), nin=2)
def add(B, x, y):
    """``x + y``, elementwise with broadcasting.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.add(ad.tensor([1.0, 2.0]), 10)
    Tensor([11., 12.], dtype=float64)
    """
    return B.add(x, y)


@defop(vjp=(_first, lambda K, g, out, x, y: K.neg(g)), nin=2, fused=(None, ("mul", -1.0)))
def sub(B, x, y):
    """``x - y``, elementwise with broadcasting.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> 1 - ad.tensor([1.0, 2.0])
    Tensor([ 0., -1.], dtype=float64)
    """
    return B.sub(x, y)


def _scalar_times(K, g, other):
    # The gradient of a 0-d x in x * other. A scalar times an array (a learnable
    # scale) sums g * other back to a scalar: one pass, without the product array.
    if g.ndim and np.shape(other) == g.shape:
        return K.vdot(g, other)
    return K.mul(g, other)


@defop(vjp=(lambda K, g, out, x, y: K.mul(g, y) if x.ndim else _scalar_times(K, g, y),
            lambda K, g, out, x, y: K.mul(g, x) if y.ndim else _scalar_times(K, g, x)), nin=2,
       fused=(("mul", 1), ("mul", 0)))
def mul(B, x, y):
    """``x * y``, elementwise with broadcasting.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([[1.0], [2.0]]) * ad.tensor([1.0, 10.0])
    Tensor([[ 1., 10.],
            [ 2., 20.]], dtype=float64)
    """
    return B.mul(x, y)


@defop(vjp=(lambda K, g, out, x, y: K.div(g, y),
            lambda K, g, out, x, y: K.neg(K.div(K.mul(g, out), y))), nin=2,
       fused=(("div", 1), None))
def div(B, x, y):
    """``x / y``, elementwise with broadcasting.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([1.0, 3.0]) / 2
    Tensor([0.5, 1.5], dtype=float64)
    """
    return B.div(x, y)


def _pow_dx(K, g, out, x, y):
    # y * x**(y-1) is 0 * inf at x == 0 when y == 0; the true derivative there is 0.
    if isinstance(y, (int, float)):
        return K.mul(g, K.mul(K.pow(x, y - 1), y)) if y != 0 else K.mul(g, 0.0)
    return K.mul(g, _select(y == 0, 0.0, K.mul(K.pow(x, K.sub(y, 1.0)), y)))


def _pow_dy(K, g, out, x, y):
    # d/dy x**y = x**y log x; at x == 0 take log as 0 (the one-sided limit for y > 0).
    return K.mul(K.mul(g, out), K.log(_select(x == 0, 1.0, x)))


@defop(vjp=(_pow_dx, _pow_dy), nin=2)
def pow(B, x, y):
    """``x ** y``, elementwise; ``y`` may be a tensor or a number.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensor([2.0, 3.0]) ** 2
    Tensor([4., 9.], dtype=float64)
    """
    return B.pow(x, y)


def _share(x, y):
    # At a tie each side gets half the gradient, as PyTorch does.
    return (x > y) + 0.5 * (x == y)


@defop(vjp=(lambda K, g, out, x, y: K.mul(g, _share(x, y)),
            lambda K, g, out, x, y: K.mul(g, _share(y, x))), nin=2)
def maximum(B, x, y):
    """The elementwise maximum of ``x`` and ``y``; at ties the gradient is split evenly.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.maximum(ad.tensor([1.0, 5.0]), 3)
    Tensor([3., 5.], dtype=float64)
    """
    return B.maximum(x, y)


@defop(vjp=(lambda K, g, out, x, y: K.mul(g, _share(y, x)),
            lambda K, g, out, x, y: K.mul(g, _share(x, y))), nin=2)
def minimum(B, x, y):
    """The elementwise minimum of ``x`` and ``y``; at ties the gradient is split evenly.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.minimum(ad.tensor([1.0, 5.0]), 3)
    Tensor([1., 3.], dtype=float64)
    """
    return B.minimum(x, y)


@defop(vjp=lambda K, g, out, x: K.neg(g), fused=(("mul", -1.0),))
def neg(B, x):
    """``-x``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> -ad.tensor([1.0, -2.0])
    Tensor([-1.,  2.], dtype=float64)
    """
    return B.neg(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, compare.sign(x)))
def abs(B, x):
    """``|x|``; the gradient at 0 is 0.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.abs(ad.tensor([-1.5, 2.0]))
    Tensor([1.5, 2. ], dtype=float64)
    """
    return B.abs(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, out), fused=(("mul", None),))
def exp(B, x):
    """``e ** x``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.exp(ad.tensor([0.0, 1.0]))
    Tensor([1.        , 2.71828183], dtype=float64)
    """
    return B.exp(x)


@defop(vjp=lambda K, g, out, x: K.div(g, x), fused=(("div", 0),))
def log(B, x):
    """The natural logarithm.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.log(ad.tensor([1.0, 100.0]))
    Tensor([0.        , 4.60517019], dtype=float64)
    """
    return B.log(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.add(x, 1.0)))
def log1p(B, x):
    """``log(1 + x)``, accurate for small ``x``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.log1p(ad.tensor([1e-10])).item() == 1e-10 - 0.5e-20
    True
    """
    return B.log1p(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, K.add(out, 1.0)))
def expm1(B, x):
    """``e ** x - 1``, accurate for small ``x``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.expm1(ad.tensor([1e-10])).item() == 1e-10 + 0.5e-20
    True
    """
    return B.expm1(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.mul(out, 2.0)))
def sqrt(B, x):
    """The square root.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.sqrt(ad.tensor([4.0, 9.0]))
    Tensor([2., 3.], dtype=float64)
    """
    return B.sqrt(x)


@defop(vjp=lambda K, g, out, x: K.square_grad(g, x), fused=(("square_grad", 0),))
def square(B, x):
    """``x * x``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.square(ad.tensor([-3.0, 2.0]))
    Tensor([9., 4.], dtype=float64)
    """
    return B.square(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, K.cos(x)))
def sin(B, x):
    """The sine (radians).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.sin(ad.tensor([0.0])).item()
    0.0
    """
    return B.sin(x)


@defop(vjp=lambda K, g, out, x: K.neg(K.mul(g, K.sin(x))))
def cos(B, x):
    """The cosine (radians).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.cos(ad.tensor([0.0])).item()
    1.0
    """
    return B.cos(x)


@defop(vjp=lambda K, g, out, x: K.tanh_grad(g, out), fused=(("tanh_grad", None),))
def tanh(B, x):
    """The hyperbolic tangent.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tanh(ad.tensor([0.0, 100.0]))
    Tensor([0., 1.], dtype=float64)
    """
    return B.tanh(x)


@defop(vjp=lambda K, g, out, x: K.sigmoid_grad(g, out), fused=(("sigmoid_grad", None),))
def sigmoid(B, x):
    """The logistic function ``1 / (1 + e ** -x)``, computed without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.sigmoid(ad.tensor([0.0, -1000.0, 1000.0]))
    Tensor([0.5, 0. , 1. ], dtype=float64)
    """
    return B.sigmoid(x)


@defop(vjp=lambda K, g, out, x: K.relu_grad(g, x), fused=(("relu_grad", 0),))
def relu(B, x):
    """``max(x, 0)``; the gradient at 0 is 0.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.relu(ad.tensor([-1.0, 2.0]))
    Tensor([0., 2.], dtype=float64)
    """
    return B.relu(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, K.sigmoid(x)))
def softplus(B, x):
    """``log(1 + e ** x)``, computed without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.softplus(ad.tensor([0.0, 1000.0]))
    Tensor([6.93147181e-01, 1.00000000e+03], dtype=float64)
    """
    return B.softplus(x)


# The fused backward kernels. They are ops too, so second derivatives flow
# through them; nobody calls them but the VJPs above.

@defop(vjp=(lambda K, gg, out_, g, out: K.tanh_grad(gg, out),
            lambda K, gg, out_, g, out: K.mul(K.mul(K.mul(gg, g), out), -2.0)), nin=2,
       public=False)
def tanh_grad(B, g, out):
    # g * (1 - out**2), the VJP of tanh in one pass
    return B.tanh_grad(g, out)


@defop(vjp=(lambda K, gg, out_, g, out: K.sigmoid_grad(gg, out),
            lambda K, gg, out_, g, out: K.mul(K.mul(gg, g), K.sub(1.0, K.mul(out, 2.0)))),
       nin=2, public=False)
def sigmoid_grad(B, g, out):
    # g * out * (1 - out), the VJP of sigmoid in one pass
    return B.sigmoid_grad(g, out)


@defop(vjp=(lambda K, gg, out_, g, x: K.square_grad(gg, x),
            lambda K, gg, out_, g, x: K.mul(K.mul(gg, g), 2.0)), nin=2, public=False)
def square_grad(B, g, x):
    # g * 2x, the VJP of square in one pass
    return B.square_grad(g, x)


@defop(vjp=(lambda K, gg, out_, g, x: K.relu_grad(gg, x),
            lambda K, gg, out_, g, x: K.mul(gg, 0.0)), nin=2, public=False)
def relu_grad(B, g, x):
    # g where x > 0, else 0; piecewise constant in x, so its x-derivative is 0
    return B.relu_grad(g, x)


# ----- selection ----------------------------------------------------------------

def _select(cond, x, y):
    """``where`` on arrays or tensors, for VJPs."""
    return P.where(x, y, cond)


@defop(vjp=(lambda K, g, out, x, y, cond: _select(cond, g, 0.0),
            lambda K, g, out, x, y, cond: _select(cond, 0.0, g)), nin=2, name="where",
       public=False)
def _where(B, x, y, cond):
    # The condition is a parameter after the inputs: it carries no gradient.
    return B.where(cond, x, y)


def where(cond, x, y):
    """Elements of ``x`` where ``cond`` is true, else of ``y`` (broadcast together).

    ``cond`` is a bool array or tensor and gets no gradient; ``x`` and ``y`` get
    the upstream gradient where they were chosen and zero elsewhere.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor([-1.0, 2.0])
    >>> ad.where(x > 0, x, 0.0)
    Tensor([0., 2.], dtype=float64)
    """
    c = cond._data if isinstance(cond, Tensor) else np.asarray(cond)
    if c.dtype != np.bool_:
        raise TypeError(f"where: condition must be bool, got dtype {c.dtype}")
    return apply(_where, (x, y, c), None)


def _inside(x, lo, hi):
    return (x >= lo) * (x <= hi)


@defop(vjp=(lambda K, g, out, x, lo, hi: K.mul(g, _inside(x, lo, hi)),
            lambda K, g, out, x, lo, hi: K.mul(g, x < lo),
            lambda K, g, out, x, lo, hi: K.mul(g, x > hi)), nin=3, name="clip", public=False)
def _clip(B, x, lo, hi):
    return B.clip(x, lo, hi)


def clip(x, lo=None, hi=None):
    """Limit ``x`` to ``[lo, hi]``; either bound may be None (unbounded).

    The gradient goes to ``x`` where ``lo <= x <= hi`` (bounds included, as in
    PyTorch) and to a bound where it was the value taken.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.clip(ad.tensor([-2.0, 0.5, 3.0]), -1, 1)
    Tensor([-1. ,  0.5,  1. ], dtype=float64)
    """
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo and hi must be given")
    return apply(_clip, (x, -np.inf if lo is None else lo, np.inf if hi is None else hi), None)


# ----- numpy's other real ufuncs ----------------------------------------------------------
# Their forwards are numpy's own functions (no kernel of the closed list computes them);
# their VJPs are written with kernels wherever the formula allows, so that the C backend's
# backward pass fuses them, and give HIPS autograd's gradients.

_LN2 = float(np.log(2.0))
_LN10 = float(np.log(10.0))


def _one_minus_square(K, x):
    # 1 - x**2 as (1 - x)(1 + x): no cancellation as |x| nears 1.
    return K.mul(K.sub(1.0, x), K.add(x, 1.0))


@defop(vjp=lambda K, g, out, x: K.mul(g, K.add(K.square(out), 1.0)))
def tan(B, x):
    """The tangent (radians).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tan(ad.tensor([0.0, 0.5]))
    Tensor([0.        , 0.54630249], dtype=float64)
    """
    return np.tan(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.sqrt(_one_minus_square(K, x))))
def arcsin(B, x):
    """The inverse sine, in ``[-pi/2, pi/2]``; NaN outside ``[-1, 1]``, as numpy.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arcsin(ad.tensor([0.0, 1.0]))
    Tensor([0.        , 1.57079633], dtype=float64)
    """
    return np.arcsin(x)


@defop(vjp=lambda K, g, out, x: K.neg(K.div(g, K.sqrt(_one_minus_square(K, x)))))
def arccos(B, x):
    """The inverse cosine, in ``[0, pi]``; NaN outside ``[-1, 1]``, as numpy.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arccos(ad.tensor([1.0, 0.0]))
    Tensor([0.        , 1.57079633], dtype=float64)
    """
    return np.arccos(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.add(K.square(x), 1.0)))
def arctan(B, x):
    """The inverse tangent, in ``(-pi/2, pi/2)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arctan(ad.tensor([0.0, 1.0]))
    Tensor([0.        , 0.78539816], dtype=float64)
    """
    return np.arctan(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, P.cosh(x)))
def sinh(B, x):
    """The hyperbolic sine.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.sinh(ad.tensor([0.0, 1.0]))
    Tensor([0.        , 1.17520119], dtype=float64)
    """
    return np.sinh(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, P.sinh(x)))
def cosh(B, x):
    """The hyperbolic cosine.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.cosh(ad.tensor([0.0, 1.0]))
    Tensor([1.        , 1.54308063], dtype=float64)
    """
    return np.cosh(x)


# sqrt(x**2 + 1) as hypot(x, 1): x**2 would overflow for |x| > 1e154.
@defop(vjp=lambda K, g, out, x: K.div(g, P.hypot(x, 1.0)))
def arcsinh(B, x):
    """The inverse hyperbolic sine.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arcsinh(ad.tensor([0.0, 1.0]))
    Tensor([0.        , 0.88137359], dtype=float64)
    """
    return np.arcsinh(x)


# sqrt(x**2 - 1) as sqrt(x - 1) sqrt(x + 1): exact near 1, no overflow for large x.
@defop(vjp=lambda K, g, out, x: K.div(g, K.mul(K.sqrt(K.sub(x, 1.0)), K.sqrt(K.add(x, 1.0)))))
def arccosh(B, x):
    """The inverse hyperbolic cosine; NaN below 1, as numpy.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arccosh(ad.tensor([1.0, 2.0]))
    Tensor([0.       , 1.3169579], dtype=float64)
    """
    return np.arccosh(x)


@defop(vjp=lambda K, g, out, x: K.div(g, _one_minus_square(K, x)))
def arctanh(B, x):
    """The inverse hyperbolic tangent; infinite at -1 and 1, NaN beyond, as numpy.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arctanh(ad.tensor([0.0, 0.5]))
    Tensor([0.        , 0.54930614], dtype=float64)
    """
    return np.arctanh(x)


@defop(vjp=lambda K, g, out, x: K.mul(K.mul(g, out), _LN2))
def exp2(B, x):
    """``2 ** x``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.exp2(ad.tensor([3.0, -1.0]))
    Tensor([8. , 0.5], dtype=float64)
    """
    return np.exp2(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.mul(x, _LN2)))
def log2(B, x):
    """The base-2 logarithm.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.log2(ad.tensor([8.0, 0.5]))
    Tensor([ 3., -1.], dtype=float64)
    """
    return np.log2(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.mul(x, _LN10)))
def log10(B, x):
    """The base-10 logarithm.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.log10(ad.tensor([1000.0, 0.01]))
    Tensor([ 3., -2.], dtype=float64)
    """
    return np.log10(x)


@defop(vjp=lambda K, g, out, x: K.div(g, K.mul(K.square(out), 3.0)))
def cbrt(B, x):
    """The real cube root (negative for negative ``x``); the gradient at 0 is infinite.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.cbrt(ad.tensor([27.0, -8.0]))
    Tensor([ 3., -2.], dtype=float64)
    """
    return np.cbrt(x)


@defop(vjp=lambda K, g, out, x: K.neg(K.mul(g, K.square(out))))
def reciprocal(B, x):
    """``1 / x``; an integer ``x`` gives its true reciprocal (numpy's would truncate it to 0).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.reciprocal(ad.tensor([4.0, -0.5]))
    Tensor([ 0.25, -2.  ], dtype=float64)
    """
    return B.div(1.0, x)


def _zero(K, g, out, x):
    # Piecewise constant: the derivative is 0 wherever it exists, as autograd and PyTorch
    # take it everywhere (so x.grad is zeros rather than missing).
    return K.mul(g, 0.0)


@defop(vjp=_zero)
def sign(B, x):
    """-1, 0 or 1 by the sign of ``x`` (NaN for NaN); its gradient is 0.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.sign(ad.tensor([-2.5, 0.0, 3.0]))
    Tensor([-1.,  0.,  1.], dtype=float64)
    """
    return np.sign(x)


@defop(vjp=_zero)
def floor(B, x):
    """The largest integer not above ``x``, as a float; its gradient is 0.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.floor(ad.tensor([-1.5, 1.5]))
    Tensor([-2.,  1.], dtype=float64)
    """
    return np.floor(x)


@defop(vjp=_zero)
def ceil(B, x):
    """The smallest integer not below ``x``, as a float; its gradient is 0.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.ceil(ad.tensor([-1.5, 1.5]))
    Tensor([-1.,  2.], dtype=float64)
    """
    return np.ceil(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, np.pi / 180.0))
def deg2rad(B, x):
    """Degrees to radians.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.deg2rad(ad.tensor([180.0])).item() == np.pi
    True
    """
    # numpy's own function, not x * (pi / 180): in float32 numpy rounds its constant
    # differently, and the result would be one ulp off numpy's.
    return np.deg2rad(x)


@defop(vjp=lambda K, g, out, x: K.mul(g, 180.0 / np.pi))
def rad2deg(B, x):
    """Radians to degrees.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.rad2deg(ad.tensor([np.pi / 2]))
    Tensor([90.], dtype=float64)
    """
    return np.rad2deg(x)


def positive(x):
    """``+x``: a Tensor itself (as ``+t`` and ``torch.positive``), anything else as a Tensor.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> t = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> ad.positive(t) is t
    True
    """
    return x if isinstance(x, Tensor) else Tensor(x)


@defop(vjp=(lambda K, g, out, x, y: K.mul(g, K.exp(K.sub(x, out))),
            lambda K, g, out, x, y: K.mul(g, K.exp(K.sub(y, out)))), nin=2)
def logaddexp(B, x, y):
    """``log(exp(x) + exp(y))`` without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.logaddexp(ad.tensor([0.0, 1000.0]), 0.0)
    Tensor([6.93147181e-01, 1.00000000e+03], dtype=float64)
    """
    return B.logaddexp(x, y)


# 2 ** d as exp(d log 2): the exp kernel fuses into the C backward pass.
@defop(vjp=(lambda K, g, out, x, y: K.mul(g, K.exp(K.mul(K.sub(x, out), _LN2))),
            lambda K, g, out, x, y: K.mul(g, K.exp(K.mul(K.sub(y, out), _LN2)))), nin=2)
def logaddexp2(B, x, y):
    """``log2(2 ** x + 2 ** y)`` without overflow.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.logaddexp2(ad.tensor([1.0, 3.0]), 1.0)
    Tensor([2.        , 3.32192809], dtype=float64)
    """
    return B.logaddexp2(x, y)


def _norm2(K, x, y):
    return K.add(K.square(x), K.square(y))


@defop(vjp=(lambda K, g, out, x, y: K.div(K.mul(g, y), _norm2(K, x, y)),
            lambda K, g, out, x, y: K.neg(K.div(K.mul(g, x), _norm2(K, x, y)))), nin=2)
def arctan2(B, x, y):
    """The angle of the point ``(y, x)`` (numpy's ``arctan2(x1, x2)``: ``x`` is the
    ordinate), in ``[-pi, pi]``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.arctan2(ad.tensor([1.0, -1.0]), -1.0)
    Tensor([ 2.35619449, -2.35619449], dtype=float64)
    """
    return np.arctan2(x, y)


@defop(vjp=(lambda K, g, out, x, y: K.div(K.mul(g, x), out),
            lambda K, g, out, x, y: K.div(K.mul(g, y), out)), nin=2)
def hypot(B, x, y):
    """``sqrt(x**2 + y**2)`` without overflow; the gradient at ``(0, 0)`` is NaN, as in
    autograd and PyTorch.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.hypot(ad.tensor([3.0, 1e200]), ad.tensor([4.0, 1e200]))
    Tensor([5.00000000e+000, 1.41421356e+200], dtype=float64)
    """
    return B.hypot(x, y)


def _taken(x, out, y):
    # autograd's balanced_eq: 1 where x is the value taken, 1/2 at a tie, 0 elsewhere; a
    # NaN that fmax/fmin pass over is never the value taken, so it gets 0.
    return (x == out) / (1.0 + (x == y))


_FM_VJPS = (lambda K, g, out, x, y: K.mul(g, _taken(x, out, y)),
            lambda K, g, out, x, y: K.mul(g, _taken(y, out, x)))


@defop(vjp=_FM_VJPS, nin=2)
def fmax(B, x, y):
    """The elementwise maximum ignoring NaN (NaN only where both are); at ties the
    gradient is split evenly, and a NaN passed over gets none.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.fmax(ad.tensor([1.0, np.nan, np.nan]), ad.tensor([2.0, 0.5, np.nan]))
    Tensor([2. , 0.5, nan], dtype=float64)
    """
    return np.fmax(x, y)


@defop(vjp=_FM_VJPS, nin=2)
def fmin(B, x, y):
    """The elementwise minimum ignoring NaN (NaN only where both are); at ties the
    gradient is split evenly, and a NaN passed over gets none.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.fmin(ad.tensor([1.0, np.nan, np.nan]), ad.tensor([2.0, 0.5, np.nan]))
    Tensor([1. , 0.5, nan], dtype=float64)
    """
    return np.fmin(x, y)


@defop(vjp=(_first, lambda K, g, out, x, y: K.neg(K.mul(g, P.floor(x / y)))), nin=2)
def remainder(B, x, y):
    """``x - floor(x / y) * y``: the remainder with the sign of ``y``, as numpy's ``mod``
    (Python's ``%``); the gradient is autograd's, ``1`` and ``-floor(x / y)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.remainder(ad.tensor([5.5, -5.5]), 2.0)
    Tensor([1.5, 0.5], dtype=float64)
    """
    return np.remainder(x, y)



# ----- the error function (PyTorch's torch.erf; numpy has none) ------------------------------

# libm's erf, element by element: within an ulp everywhere, where a short polynomial or
# rational fit in numpy would not be; about 0.15 us an element.
_erf_elements = np.frompyfunc(math.erf, 1, 1)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@defop(vjp=lambda K, g, out, x: K.mul(g, K.mul(K.exp(K.neg(K.square(x))), _TWO_OVER_SQRT_PI)))
def erf(B, x):
    """The error function ``2 / sqrt(pi) * integral of exp(-t**2) dt from 0 to x``, as
    ``torch.erf`` (``math.erf`` on each element); the gradient is
    ``2 / sqrt(pi) * exp(-x**2)``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.erf(ad.tensor([0.0, 1.0, -30.0]))
    Tensor([ 0.        ,  0.84270079, -1.        ], dtype=float64)
    """
    return _erf(x)


def _erf(x):
    """libm's erf on each element of array ``x``, in its dtype (a pure function of arrays,
    which ``compile`` records as a step)."""
    return np.asarray(_erf_elements(x), dtype=x.dtype)

# numpy's names for the ops above (numpy's fabs is its absolute, minus complex numbers).
absolute = fabs = abs
negative = neg
subtract = sub
multiply = mul
divide = true_divide = div
power = pow
degrees = rad2deg
radians = deg2rad
mod = remainder

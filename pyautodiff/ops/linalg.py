"""Matrix products and norms: ``matmul`` (a primitive), ``dot`` (built on it) and ``norm``."""

import numpy as np

from ..engine import apply
from . import P, defop
from .elementwise import _select, mul
from .reduce import _unreduce, axes


def _matmul_check(x, y, name="matmul"):
    xs, ys = np.shape(x), np.shape(y)
    if not xs or not ys:
        raise ValueError(f"{name}: scalar operands are not allowed (shapes {xs} and {ys}); use *")
    k = ys[-2] if len(ys) > 1 else ys[0]
    if xs[-1] != k:
        raise ValueError(f"{name}: shapes {xs} and {ys} are not aligned: {xs[-1]} != {k}")


def _as_matrix(a, ndim, is_x):
    # A 1-d operand acts as a row (on the left) or a column (on the right).
    if ndim == 1:
        return P.reshape(a, (1, -1) if is_x else (-1, 1))
    return a


def _matmul_vjp(wrt_x):
    def vjp(K, g, out, x, y):
        xm = _as_matrix(x, x.ndim, True)
        ym = _as_matrix(y, y.ndim, False)
        # Put back the dimensions a 1-d operand dropped from the result.
        gm = P.reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]) if x.ndim == 1 else g
        gm = P.reshape(gm, gm.shape + (1,)) if y.ndim == 1 else gm
        if wrt_x:
            gx = P.matmul(gm, P.transpose(ym, _swap_last(ym.ndim)))
            return P.reshape(gx, gx.shape[:-2] + (gx.shape[-1],)) if x.ndim == 1 else gx
        gy = P.matmul(P.transpose(xm, _swap_last(xm.ndim)), gm)
        return P.reshape(gy, gy.shape[:-1]) if y.ndim == 1 else gy

    return vjp


def _swap_last(ndim):
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


@defop(vjp=(_matmul_vjp(True), _matmul_vjp(False)), nin=2)
def matmul(B, x, y):
    """Matrix product ``x @ y`` for 1-d, 2-d and batched (broadcast) operands, as numpy's.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> a = ad.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> a @ ad.tensor([1.0, 1.0])
    Tensor([3., 7.], dtype=float64)
    """
    _matmul_check(x, y)
    return B.matmul(x, y)


def dot(x, y):
    """numpy's ``dot``: a product by a scalar, the inner product of vectors, a matrix product.

    For a 0-d operand it is ``x * y``; for 1-d and 2-d operands, and an N-d ``x``
    with a 1-d or 2-d ``y``, it is ``x @ y``. An N-d ``y`` with an ``x`` of two or
    more dimensions is refused (TypeError): numpy's ``dot`` then pairs every
    matrix of ``x`` with every matrix of ``y``, which is not ``matmul``'s broadcasting.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> ad.dot(w, w)
    Tensor(5., dtype=float64, grad_fn=matmul)
    >>> ad.dot(2.0, w)
    Tensor([2., 4.], dtype=float64, grad_fn=mul)
    """
    xn, yn = np.ndim(x), np.ndim(y)
    if xn == 0 or yn == 0:
        return mul(x, y)
    if xn >= 2 and yn >= 3:
        raise TypeError(
            f"dot: shapes {np.shape(x)} and {np.shape(y)}: numpy's dot with an N-d y pairs "
            "every matrix of x with every matrix of y, which differs from matmul and is not "
            "implemented; use ad.matmul (batches broadcast) or reshape y to 2-d"
        )
    _matmul_check(x, y, "dot")
    return matmul(x, y)


def _norm_vjp(K, g, out, x, axis=None, keepdims=False):
    # x / |x|, and 0 where |x| = 0 (PyTorch's subgradient, not 0 / 0 = NaN): there x is 0,
    # so dividing by 1 instead gives it, and the chosen 1 carries no gradient.
    safe = _select(out == 0, 1.0, out)
    return K.mul(_unreduce(K.div(g, safe), x.shape, axis, keepdims), x)


@defop(vjp=_norm_vjp, name="norm", public=False)
def _norm(B, x, axis=None, keepdims=False):
    # The 2-norm over ``axis`` (None: all elements): sqrt(sum(x ** 2)), as numpy computes it.
    return B.sqrt(B.sum(B.square(x), axes("norm", axis, np.ndim(x)), keepdims=keepdims))


def norm(x, ord=None, axis=None, keepdims=False):
    """numpy's ``linalg.norm``: the 2-norm of vectors, the Frobenius norm of matrices.

    With ``ord=None`` it is ``sqrt(sum(x ** 2))`` over ``axis`` (None: all
    elements, whatever the shape; an int: vectors along it; two ints: matrices).
    ``ord=2`` is accepted for vectors and ``ord="fro"`` for matrices; other orders
    raise TypeError. The gradient is ``x / norm``, and 0 where the norm is 0 (the
    subgradient PyTorch takes), never NaN.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> w = ad.tensor([3.0, 4.0], requires_grad=True)
    >>> n = ad.norm(w)
    >>> n.backward()
    >>> n, w.grad
    (Tensor(5., dtype=float64, grad_fn=norm), Tensor([0.6, 0.8], dtype=float64))
    >>> ad.norm(ad.tensor([[1.0, 2.0], [2.0, 4.0]]), axis=1)
    Tensor([2.23606798, 4.47213595], dtype=float64)
    """
    shape = np.shape(x)
    ax = None if axis is None else axes("norm", axis, len(shape))
    kind = {1: "vector", 2: "matrix"}.get(len(shape) if ax is None else len(ax))
    if ord is not None:
        if kind is None:
            raise ValueError(f"norm: ord={ord!r} needs vectors or matrices, got shape {shape} "
                             f"with axis={axis!r}")
        if not (kind == "vector" and not isinstance(ord, str) and ord == 2
                or kind == "matrix" and ord in ("fro", "f")):
            raise TypeError(f"norm: ord={ord!r} for {kind}s is not implemented; "
                            "supported: None, 2 (vectors) and 'fro' (matrices)")
    return apply(_norm, (x, ax, bool(keepdims)), None)

"""Matrix products."""

import numpy as np

from . import P, defop


def _matmul_check(x, y):
    xs, ys = np.shape(x), np.shape(y)
    if not xs or not ys:
        raise ValueError(f"matmul: scalar operands are not allowed (shapes {xs} and {ys}); use *")
    k = ys[-2] if len(ys) > 1 else ys[0]
    if xs[-1] != k:
        raise ValueError(f"matmul: shapes {xs} and {ys} are not aligned: {xs[-1]} != {k}")


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

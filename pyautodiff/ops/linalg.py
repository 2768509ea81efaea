"""Products and linear algebra, on matrices and on stacks of them (the last two axes).

Primitives: ``matmul``, ``einsum``, ``inv``, ``det``, ``slogdet``, ``solve``, ``cholesky``,
``tril``, ``triu`` (and the private 2-norm ``norm``). Built from primitives: ``dot``,
``inner``, ``outer``, ``vdot``, ``tensordot``, ``kron``, ``cross``, ``diag``, ``trace``,
``norm``. The public functions take numpy's parameter names, so numpy's functions on
Tensors (numpy_dispatch.py) bind their arguments to them as numpy would.

The forwards call ``numpy.linalg`` (LAPACK) on either backend. The VJPs are written with
these ops, so they are differentiable again (``create_graph``); the gradients of ``inv``,
``det``, ``slogdet`` and ``solve`` need the matrix to be invertible there.
"""

import collections
import math
import string
import warnings

import numpy as np

from ..engine import apply
from ..tensor import Tensor, as_array
from . import P, defop, elementwise, reduce
from .elementwise import _select, mul
from .reduce import _unreduce, axes
from .shape import getitem, reshape, scatter, stack, transpose


def _swap_last(ndim):
    return tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)


def _mT(a):
    # The transpose of each matrix in a stack: the last two axes swapped.
    return P.transpose(a, _swap_last(a.ndim))


def _column(a):
    # A stack of vectors (..., M) as a stack of one-column matrices (..., M, 1).
    return P.reshape(a, a.shape + (1,))


def _row(a):
    return P.reshape(a, a.shape[:-1] + (1,) + a.shape[-1:])


def _norm_axes(name, axis, ndim):
    """``axis`` (an int or a sequence of them) as non-negative ints in the order given."""
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    result = tuple(axes(name, (a,), ndim)[0] for a in items)
    if len(set(result)) != len(result):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    return result


def _permuted(a, perm):
    return a if perm == tuple(range(len(perm))) else transpose(a, perm)


def _others(ndim, axes_):
    return tuple(i for i in range(ndim) if i not in axes_)


def _moved_last(a, axes_):
    """``a`` with the dimensions ``axes_`` moved, in that order, to the end."""
    return _permuted(a, _others(np.ndim(a), axes_) + tuple(axes_))


# ----- products ---------------------------------------------------------------------------------

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
        gm = _row(g) if x.ndim == 1 else g
        gm = _column(gm) if y.ndim == 1 else gm
        if wrt_x:
            gx = P.matmul(gm, _mT(ym))
            return P.reshape(gx, gx.shape[:-2] + (gx.shape[-1],)) if x.ndim == 1 else gx
        gy = P.matmul(_mT(xm), gm)
        return P.reshape(gy, gy.shape[:-1]) if y.ndim == 1 else gy

    return vjp


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


def dot(a, b):
    """numpy's ``dot``: a product by a scalar, the inner product of vectors, a matrix product.

    For a 0-d operand it is ``a * b``; for 1-d and 2-d operands, and an N-d ``a``
    with a 1-d or 2-d ``b``, it is ``a @ b``; for an N-d ``b`` it sums the last axis
    of ``a`` against the second-to-last of ``b``, pairing every matrix of ``a`` with
    every matrix of ``b`` (``tensordot``), as numpy does.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> ad.dot(w, w)
    Tensor(5., dtype=float64, grad_fn=matmul)
    >>> ad.dot(2.0, w)
    Tensor([2., 4.], dtype=float64, grad_fn=mul)
    >>> ad.dot(ad.ones((2, 3, 4)), ad.ones((5, 4, 6))).shape
    (2, 3, 5, 6)
    """
    an, bn = np.ndim(a), np.ndim(b)
    if an == 0 or bn == 0:
        return mul(a, b)
    _matmul_check(a, b, "dot")
    if an >= 2 and bn >= 3:
        return tensordot(a, b, ((an - 1,), (bn - 2,)))
    return matmul(a, b)


def inner(a, b):
    """numpy's ``inner``: sums over the last axes of ``a`` and ``b`` (a product by a scalar
    when one of them is 0-d); the result has shape ``a.shape[:-1] + b.shape[:-1]``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.inner(ad.tensor([1.0, 2.0]), ad.tensor([[1.0, 1.0], [0.0, 3.0]]))
    Tensor([3., 6.], dtype=float64)
    """
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        return mul(a, b)
    if sa[-1] != sb[-1]:
        raise ValueError(f"inner: shapes {sa} and {sb} are not aligned: {sa[-1]} != {sb[-1]}")
    return tensordot(a, b, ((len(sa) - 1,), (len(sb) - 1,)))


def outer(a, b):
    """numpy's ``outer``: ``result[i, j] = a.flat[i] * b.flat[j]`` (inputs are flattened).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.outer(ad.tensor([1.0, 2.0]), ad.tensor([1.0, 10.0, 100.0]))
    Tensor([[  1.,  10., 100.],
            [  2.,  20., 200.]], dtype=float64)
    """
    return mul(reshape(a, (np.size(a), 1)), reshape(b, (1, np.size(b))))


def vdot(a, b):
    """numpy's ``vdot`` for real numbers: ``sum(a.flat * b.flat)``, for inputs of one size.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.vdot(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), ad.tensor([1.0, 1.0, 1.0, 1.0]))
    Tensor(10., dtype=float64)
    """
    if np.size(a) != np.size(b):
        raise ValueError(f"vdot: inputs of shapes {np.shape(a)} and {np.shape(b)} differ in "
                         "size; expected the same number of elements")
    return apply(reduce.vdot, (reshape(a, -1), reshape(b, -1)), None)


def _tensordot_axes(axes_, sa, sb):
    """numpy's ``axes`` argument of ``tensordot`` as two tuples of non-negative ints."""
    if isinstance(axes_, (int, np.integer)) and not isinstance(axes_, bool):
        # As numpy reads it (so a negative count sums over nothing).
        pair = (tuple(range(-axes_, 0)), tuple(range(axes_)))
        if axes_ > min(len(sa), len(sb)):
            raise ValueError(f"tensordot: axes={axes_} exceeds the dimensions of shapes "
                             f"{sa} and {sb}")
    else:
        try:
            pair = tuple(axes_)
        except TypeError:
            pair = ()
        if len(pair) != 2:
            raise TypeError(f"tensordot: axes must be an int or a pair of sequences of ints, "
                            f"got {axes_!r}")
    ax_a, ax_b = (_norm_axes("tensordot", p, len(s)) for p, s in zip(pair, (sa, sb)))
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(f"tensordot: shape mismatch for sum: axes {ax_a} of shape {sa} and "
                         f"{ax_b} of shape {sb}")
    return ax_a, ax_b


def tensordot(a, b, axes=2):
    """numpy's ``tensordot``: sums products over ``axes`` of ``a`` and ``b``.

    ``axes`` is an int ``N`` (the last ``N`` axes of ``a`` with the first ``N`` of
    ``b``) or a pair of sequences (or of ints) naming the axes of each. The result
    has the remaining axes of ``a``, then those of ``b``. Computed as numpy does it:
    both operands moved and reshaped to matrices, and one ``matmul``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tensordot(ad.ones((2, 3, 4)), ad.ones((4, 3, 5)), axes=([1, 2], [1, 0])).shape
    (2, 5)
    >>> ad.tensordot(ad.tensor([1.0, 2.0]), ad.tensor([3.0, 4.0]), axes=0)
    Tensor([[3., 4.],
            [6., 8.]], dtype=float64)
    """
    sa, sb = np.shape(a), np.shape(b)
    ax_a, ax_b = _tensordot_axes(axes, sa, sb)
    free_a, free_b = _others(len(sa), ax_a), _others(len(sb), ax_b)
    m, k, n = (math.prod(s[i] for i in ax) for s, ax in ((sa, free_a), (sa, ax_a), (sb, free_b)))
    am = reshape(_permuted(a, free_a + ax_a), (m, k))
    bm = reshape(_permuted(b, ax_b + free_b), (k, n))
    return reshape(matmul(am, bm), tuple(sa[i] for i in free_a) + tuple(sb[i] for i in free_b))


def kron(a, b):
    """numpy's ``kron``: the Kronecker product, blocks ``a[i, j] * b`` (any equal or
    unequal numbers of dimensions; the shorter shape is padded with ones in front).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.kron(ad.tensor([[1.0, 2.0]]), ad.tensor([[1.0], [10.0]]))
    Tensor([[ 1.,  2.],
            [10., 20.]], dtype=float64)
    """
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        return mul(a, b)
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    # a[i, j] * b[k, l] at [i, k, j, l], then the pairs of axes merged.
    wide_a = reshape(a, tuple(n for m in sa for n in (m, 1)))
    wide_b = reshape(b, tuple(n for m in sb for n in (1, m)))
    return reshape(mul(wide_a, wide_b), tuple(m * n for m, n in zip(sa, sb)))


def _product(u, v):
    # None stands for the zero z component of a 2-d vector.
    return None if u is None or v is None else u * v


def _difference(p, q):
    if q is None:
        return p
    return -q if p is None else p - q


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """numpy's ``cross``: cross products of 3-d vectors (2-d ones have a zero z; two 2-d
    vectors give the z component only) along ``axisa`` of ``a`` and ``axisb`` of ``b``,
    broadcast over the other axes, placed along ``axisc`` (``axis`` sets all three).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.cross(ad.tensor([1.0, 0.0, 0.0]), ad.tensor([0.0, 1.0, 0.0]))
    Tensor([0., 0., 1.], dtype=float64)
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    sa, sb = np.shape(a), np.shape(b)
    if not sa or not sb:
        raise ValueError(f"cross: shapes {sa} and {sb}: vectors need at least one dimension")
    axa, axb = _norm_axes("cross", axisa, len(sa)), _norm_axes("cross", axisb, len(sb))
    na, nb = sa[axa[0]], sb[axb[0]]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: vectors of {na} and {nb} components (shapes {sa} and {sb}); "
                         "expected 2 or 3")
    try:
        batch = np.broadcast_shapes(*(tuple(n for i, n in enumerate(s) if i != ax[0])
                                      for s, ax in ((sa, axa), (sb, axb))))
    except ValueError:
        raise ValueError(f"cross: shapes {sa} and {sb} do not broadcast (with the vectors on "
                         f"axes {axisa} and {axisb})") from None
    if na == 2 or nb == 2:
        warnings.warn("Arrays of 2-dimensional vectors are deprecated. Use arrays of "
                      "3-dimensional vectors instead. (deprecated in NumPy 2.0)",
                      DeprecationWarning, stacklevel=2)
    a, b = _moved_last(a, axa), _moved_last(b, axb)
    x = [getitem(a, (Ellipsis, i)) for i in range(na)] + [None] * (3 - na)
    y = [getitem(b, (Ellipsis, i)) for i in range(nb)] + [None] * (3 - nb)
    z = _difference(_product(x[0], y[1]), _product(x[1], y[0]))
    if na == nb == 2:
        return z
    out = stack([_difference(_product(x[1], y[2]), _product(x[2], y[1])),
                 _difference(_product(x[2], y[0]), _product(x[0], y[2])), z], axis=-1)
    c = _norm_axes("cross", axisc, len(batch) + 1)[0]
    return _permuted(out, tuple(range(c)) + (len(batch),) + tuple(range(c, len(batch))))


# ----- einsum -----------------------------------------------------------------------------------

# numpy's labels: the letters; in the sublist form, 0-25 are A-Z and 26-51 are a-z.
_LETTERS = string.ascii_uppercase + string.ascii_lowercase


def _sublist(items):
    text = []
    for item in items:
        if item is Ellipsis:
            text.append("...")
        elif isinstance(item, (int, np.integer)) and 0 <= item < len(_LETTERS):
            text.append(_LETTERS[item])
        else:
            raise ValueError(f"einsum: subscript {item!r} in a sublist is not Ellipsis or an "
                             f"int in [0, {len(_LETTERS)})")
    return "".join(text)


def _einsum_operands(operands):
    """``(subscripts, arrays)`` from numpy's two forms, ``einsum("ij,jk", a, b)`` and
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``."""
    if not operands:
        raise ValueError("einsum: no operands given")
    if isinstance(operands[0], str):
        return operands[0], operands[1:]
    body, out = (operands[:-1], operands[-1]) if len(operands) % 2 else (operands, None)
    subscripts = ",".join(_sublist(s) for s in body[1::2])
    return subscripts + ("" if out is None else "->" + _sublist(out)), body[0::2]


def _term(subscripts, term):
    """A term's letters before and after its ``...`` and whether it has one."""
    head, dots, tail = term.partition("...")
    bad = set(head + tail) - set(_LETTERS)
    if bad:
        raise ValueError(f"einsum: invalid subscript {min(bad)!r} in {subscripts!r}; "
                         "subscripts are letters, and '...' at most once per operand")
    return head, bool(dots), tail


def _einsum_spec(subscripts, shapes):
    """numpy's subscripts for operands of ``shapes``, made explicit: one string of letters
    per operand (their ``...`` spelled with unused letters, aligned on the right as
    broadcasting aligns) and the output's (written out when implicit: the ``...``
    dimensions, then the letters that occur once, in alphabetical order)."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand(s) in subscripts {subscripts!r}, "
                         f"{len(shapes)} given")
    free = [c for c in _LETTERS if c not in text]
    parsed, ell = [], 0
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        head, dots, tail = _term(subscripts, term)
        extra = len(shape) - len(head) - len(tail)
        if extra < 0 or extra and not dots:
            raise ValueError(f"einsum: operand {i} has shape {shape}, which does not fit its "
                             f"subscripts {term!r}")
        parsed.append((head, extra, tail))
        ell = max(ell, extra)
    if ell > len(free):
        raise ValueError(f"einsum: subscripts {subscripts!r} leave too few letters for '...'")
    ell_letters = "".join(free[:ell])
    spec = tuple(h + ell_letters[ell - n:] + t for h, n, t in parsed)
    if not arrow:
        counts = collections.Counter("".join(h + t for h, _, t in parsed))
        return spec, ell_letters + "".join(sorted(c for c, n in counts.items() if n == 1))
    head, dots, tail = _term(subscripts, output)
    if ell and not dots:
        raise ValueError(f"einsum: the operands of {subscripts!r} have '...' dimensions but "
                         "the output has no '...' to put them in")
    out = head + ell_letters + tail
    for c in out:
        if out.count(c) > 1 or c not in "".join(spec):
            raise ValueError(f"einsum: output subscript {c!r} of {subscripts!r} is repeated or "
                             "in no operand")
    return spec, out


def _einsum_vjp(i, K, g, out, *xs, spec, optimize=False):
    # The gradient of operand i is einsum again: the upstream gradient times the other
    # operands, summed to operand i's subscripts. numpy cannot write a repeated output
    # subscript (a diagonal, "ii"): each repeat is a fresh letter, tied to the first by
    # an identity matrix. A letter of operand i that nothing else has at its size (it
    # was summed, or broadcast from 1) gets a vector of ones, so the result has i's shape.
    terms, output = spec
    shape = np.shape(xs[i])
    fresh = iter([c for c in _LETTERS if c not in output + "".join(terms)])
    operands = [g] + [x for j, x in enumerate(xs) if j != i]
    subs = [output] + [t for j, t in enumerate(terms) if j != i]
    sizes = {}
    for s, x in zip(subs, operands):
        for c, n in zip(s, np.shape(x)):
            sizes[c] = max(n, sizes.get(c, 1))
    target = ""
    for c, n in zip(terms[i], shape):
        if c in target:
            d = next(fresh, None)
            if d is None:
                raise ValueError(f"einsum: no letter left for the gradient of {terms[i]!r}")
            operands.append(np.eye(n, dtype=g.dtype))
            subs.append(c + d)
            c = d
        elif sizes.get(c, 1) < n or c not in sizes:
            operands.append(np.ones(n, dtype=g.dtype))
            subs.append(c)
            sizes[c] = n
        target += c
    return P.einsum(*operands, spec=(tuple(subs), target), optimize=bool(optimize))


@defop(vjp=_einsum_vjp, nin=None, name="einsum", public=False)
def _einsum(B, *xs, spec, optimize=False):
    terms, output = spec
    return np.einsum(",".join(terms) + "->" + output, *xs, optimize=optimize)


def einsum(*operands, optimize=False):
    """numpy's ``einsum``: sums of products named by subscripts, for real operands.

    Both of numpy's forms: ``einsum("ij,jk->ik", a, b)`` and the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``; an implicit output (no ``->``), ``...``
    for broadcast dimensions, and repeated subscripts (``"ii"``: the trace,
    ``"ii->i"``: the diagonal). ``optimize`` is numpy's, for the forward and the
    gradients (which are einsums too, so they are differentiable again).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> a = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> ad.einsum("ii", a)
    Tensor(5., dtype=float64, grad_fn=einsum)
    >>> ad.einsum("ij,j->i", a, ad.tensor([1.0, 1.0]))
    Tensor([3., 7.], dtype=float64, grad_fn=einsum)
    >>> ad.einsum("ii", a).backward()
    >>> a.grad
    Tensor([[1., 0.],
            [0., 1.]], dtype=float64)
    """
    subscripts, arrays = _einsum_operands(operands)
    spec = _einsum_spec(subscripts, [np.shape(a) for a in arrays])
    return apply(_einsum, tuple(arrays), {"spec": spec, "optimize": optimize})


# ----- matrix functions -----------------------------------------------------------------------

def _check_square(name, a):
    s = np.shape(a)
    if len(s) < 2 or s[-1] != s[-2]:
        raise np.linalg.LinAlgError(f"{name}: expected square matrices (..., M, M), got shape "
                                    f"{s}")


def _inv_vjp(K, g, out, a):
    # d(A^-1) = -A^-1 dA A^-1, so the gradient is -A^-T g A^-T.
    t = _mT(out)
    return K.neg(K.matmul(K.matmul(t, g), t))


@defop(vjp=_inv_vjp)
def inv(B, a):
    """The inverse of a matrix, or of each in a stack ``(..., M, M)``: numpy's ``linalg.inv``.

    A singular matrix raises ``numpy.linalg.LinAlgError`` (a ValueError).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.inv(ad.tensor([[2.0, 0.0], [0.0, 4.0]]))
    Tensor([[0.5 , 0.  ],
            [0.  , 0.25]], dtype=float64)
    """
    _check_square("inv", a)
    return np.linalg.inv(a)


def _scaled_inv_t(c, a):
    # c[..., None, None] * A^-T: the gradient of det (c = g det A) and of log|det|
    # (c = g), since d det A = det A tr(A^-1 dA).
    return P.reshape(c, c.shape + (1, 1)) * _mT(P.inv(a))


@defop(vjp=lambda K, g, out, a: _scaled_inv_t(K.mul(g, out), a))
def det(B, a):
    """The determinant of a matrix, or of each in a stack: numpy's ``linalg.det``.

    Its gradient ``det(A) A^-T`` needs ``A`` invertible.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.det(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor(-2., dtype=float64)
    """
    _check_square("det", a)
    return np.linalg.det(a)


# Row 1 of the result is log|det A|; row 0, the sign, is piecewise constant: no gradient.
@defop(vjp=lambda K, g, out, a: _scaled_inv_t(g[1], a), name="slogdet", public=False)
def _slogdet(B, a):
    # sign and log|det| stacked, so one factorization gives both.
    _check_square("slogdet", a)
    return np.stack(np.linalg.slogdet(a))


SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])


def slogdet(a):
    """The sign and the log of the absolute value of the determinant: numpy's
    ``linalg.slogdet``, as a named tuple ``(sign, logabsdet)`` of Tensors.

    ``sign`` (-1, 0 or 1) carries no gradient; ``logabsdet`` has gradient ``A^-T``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> a = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> sign, logabsdet = ad.slogdet(a)
    >>> sign, logabsdet
    (Tensor(-1., dtype=float64), Tensor(0.69314718, dtype=float64, grad_fn=getitem))
    >>> logabsdet.backward()
    >>> a.grad
    Tensor([[-2. ,  1.5],
            [ 1. , -0.5]], dtype=float64)
    """
    both = apply(_slogdet, (a,), None)
    return SlogdetResult(Tensor._make(np.array(both._data[0])), getitem(both, 1))


def _solve_adjoint(g, a):
    # A^-T g: the gradient for b. A 1-d b gives a stack of vectors, one fewer
    # dimension than a (numpy 2's rule for b), solved as one-column matrices.
    if g.ndim < a.ndim:
        return P.reshape(P.solve(_mT(a), _column(g)), g.shape)
    return P.solve(_mT(a), g)


def _solve_vjp_a(K, g, out, a, b):
    # A x = b: dA x = -A dx, so the gradient for A is -(A^-T g) x^T.
    gb = _solve_adjoint(g, a)
    if g.ndim < a.ndim:
        return K.neg(K.mul(_column(gb), _row(out)))
    return K.neg(K.matmul(gb, _mT(out)))


@defop(vjp=(_solve_vjp_a, lambda K, g, out, a, b: _solve_adjoint(g, a)), nin=2)
def solve(B, a, b):
    """The solution ``x`` of ``a @ x = b``: numpy's ``linalg.solve``, with numpy 2's rule
    for ``b``: a vector ``(M,)`` when 1-d, else a stack of matrices ``(..., M, K)``; the
    stacks of ``a`` and ``b`` broadcast.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.solve(ad.tensor([[2.0, 0.0], [0.0, 4.0]]), ad.tensor([1.0, 1.0]))
    Tensor([0.5 , 0.25], dtype=float64)
    """
    _check_square("solve", a)
    m, sb = np.shape(a)[-1], np.shape(b)
    if not sb or sb[0 if len(sb) == 1 else -2] != m:
        raise ValueError(f"solve: b of shape {sb} does not fit matrices of shape "
                         f"{np.shape(a)}; expected ({m},) or (..., {m}, K)")
    return np.linalg.solve(a, b)


def _cholesky_vjp(K, g, out, a):
    # Murray (2016), "Differentiation of the Cholesky decomposition", as HIPS autograd:
    # S = L^-T phi(L^T g) L^-1, with phi the lower triangle and half the diagonal; the
    # gradient is S symmetrized, for the symmetric input the factorization assumes.
    lt = _mT(out)
    half = 1.0 - 0.5 * np.eye(out.shape[-1], dtype=out.dtype)
    phi = K.mul(P.tril(K.matmul(lt, g)), half)
    s = P.solve(lt, _mT(P.solve(lt, _mT(phi))))
    return K.mul(K.add(s, _mT(s)), 0.5)


@defop(vjp=_cholesky_vjp, name="cholesky", public=False)
def _cholesky(B, a):
    _check_square("cholesky", a)
    return np.linalg.cholesky(a)


def cholesky(a, upper=False):
    """The Cholesky factor of a symmetric positive-definite matrix (or stack): numpy's
    ``linalg.cholesky``, lower triangular ``L`` with ``L @ L.T == a`` read from the lower
    triangle of ``a``; with ``upper=True``, ``U = L.T`` read from the upper triangle.

    The gradient is symmetric (Murray 2016): that of ``a`` as a symmetric matrix.
    A matrix that is not positive definite raises ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.cholesky(ad.tensor([[4.0, 2.0], [2.0, 2.0]]))
    Tensor([[2., 0.],
            [1., 1.]], dtype=float64)
    """
    if upper:
        _check_square("cholesky", a)
        return transpose(apply(_cholesky, (transpose(a, _swap_last(np.ndim(a))),), None),
                         _swap_last(np.ndim(a)))
    return apply(_cholesky, (a,), None)


# ----- triangles and diagonals ----------------------------------------------------------------

def _check_triangle(name, m):
    if not np.ndim(m):
        raise ValueError(f"{name}: expected at least 1 dimension, got shape ()")


@defop(vjp=lambda K, g, out, m, k=0: P.tril(g, k))
def tril(B, m, k=0):
    """The lower triangle (on and below diagonal ``k``) of each matrix, zeros above:
    numpy's ``tril`` (a 1-d input gives the triangle of rows of copies of it).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.tril(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor([[1., 0.],
            [3., 4.]], dtype=float64)
    """
    _check_triangle("tril", m)
    return np.tril(m, k)


@defop(vjp=lambda K, g, out, m, k=0: P.triu(g, k))
def triu(B, m, k=0):
    """The upper triangle (on and above diagonal ``k``) of each matrix, zeros below:
    numpy's ``triu``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.triu(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
    Tensor([[0., 2.],
            [0., 0.]], dtype=float64)
    """
    _check_triangle("triu", m)
    return np.triu(m, k)


def _diagonal_index(n, m, k):
    # The places (rows, columns) of diagonal k of an n x m matrix.
    size = max(0, min(n, m - k) if k >= 0 else min(n + k, m))
    i = np.arange(size)
    return i + max(0, -k), i + max(0, k)


def _diagonal(a, offset=0, axis1=0, axis2=1, name="diagonal"):
    # numpy's diagonal: the axes axis1 and axis2 are removed and the diagonal put last.
    shape = np.shape(a)
    if len(shape) < 2:
        raise ValueError(f"{name}: expected at least 2 dimensions, got shape {shape}")
    ax = _norm_axes(name, (axis1, axis2), len(shape))
    index = _diagonal_index(shape[ax[0]], shape[ax[1]], offset)
    return getitem(_moved_last(a, ax), (Ellipsis,) + index)


def diag(v, k=0):
    """numpy's ``diag``: a 1-d ``v`` placed on diagonal ``k`` of a square matrix, or
    diagonal ``k`` of a 2-d ``v``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.diag(ad.tensor([1.0, 2.0]))
    Tensor([[1., 0.],
            [0., 2.]], dtype=float64)
    >>> ad.diag(ad.tensor([[1.0, 2.0], [3.0, 4.0]]), 1)
    Tensor([2.], dtype=float64)
    """
    shape = np.shape(v)
    if len(shape) == 2:
        return _diagonal(v, k, name="diag")
    if len(shape) != 1:
        raise ValueError(f"diag: expected a 1-d or 2-d input, got shape {shape}")
    n = shape[0] + abs(k)
    return apply(scatter, (v, (n, n), _diagonal_index(n, n, k)), None)


def trace(a, offset=0, axis1=0, axis2=1):
    """numpy's ``trace``: the sum of diagonal ``offset`` of the matrices on ``axis1`` and
    ``axis2``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.trace(ad.tensor([[1.0, 2.0], [3.0, 4.0]]))
    Tensor(5., dtype=float64)
    """
    return reduce.sum(_diagonal(a, offset, axis1, axis2, "trace"), axis=-1)


# ----- norms ------------------------------------------------------------------------------------

def _norm_vjp(K, g, out, x, axis=None, keepdims=False):
    # x / |x|, and 0 where |x| = 0 (PyTorch's subgradient, not 0 / 0 = NaN): there x is 0,
    # so dividing by 1 instead gives it, and the chosen 1 carries no gradient.
    safe = _select(out == 0, 1.0, out)
    return K.mul(_unreduce(K.div(g, safe), x.shape, axis, keepdims), x)


@defop(vjp=_norm_vjp, name="norm", public=False)
def _norm(B, x, axis=None, keepdims=False):
    # The 2-norm over ``axis`` (None: all elements): sqrt(sum(x ** 2)), as numpy computes it.
    return B.sqrt(B.sum(B.square(x), axes("norm", axis, np.ndim(x)), keepdims=keepdims))


def _vector_norm(x, ord, ax, keepdims):
    """The ``ord``-norm of the vectors along the axes ``ax`` (a tuple)."""
    if ord is None or ord == 2 and not isinstance(ord, str):
        return apply(_norm, (x, ax, bool(keepdims)), None)
    if isinstance(ord, str):  # a wrong value of ord: ValueError, as numpy's
        raise ValueError(f"norm: invalid order {ord!r} for vectors")  # noqa: TRY004
    if ord == 0:  # the number of nonzero elements: piecewise constant, no gradient
        v = x._data if isinstance(x, Tensor) else as_array(x, "norm")
        return Tensor._make(np.asarray(np.sum(v != 0, axis=ax, keepdims=keepdims), v.dtype))
    size = elementwise.abs(x)
    if ord == np.inf or ord == -np.inf:
        return (reduce.max if ord > 0 else reduce.min)(size, axis=ax, keepdims=keepdims)
    if ord == 1:
        return reduce.sum(size, axis=ax, keepdims=keepdims)
    s = reduce.sum(size ** ord, axis=ax, keepdims=keepdims)
    # At the zero vector take the gradient 0, as for ord=2, not 0 * inf = NaN.
    zero = s == 0
    return elementwise.where(zero, 0.0, elementwise.where(zero, 1.0, s) ** (1.0 / ord))


def _matrix_norm(x, ord, ax, keepdims):
    """The ``ord``-norm of the matrices on the axes ``ax = (rows, columns)``."""
    if ord is None or isinstance(ord, str) and ord in ("fro", "f"):
        return apply(_norm, (x, tuple(sorted(ax)), bool(keepdims)), None)
    if ord in (2, -2, "nuc"):
        raise TypeError(f"norm: ord={ord!r} for matrices (from singular values) is not "
                        "implemented; supported: None, 'fro', 1, -1, inf, -inf")
    if ord not in (1, -1, np.inf, -np.inf):
        raise ValueError(f"norm: invalid order {ord!r} for matrices")
    # 1: the largest column sum of |x|; inf: the largest row sum (negative: the smallest).
    summed, over = (ax[0], ax[1]) if ord in (1, -1) else (ax[1], ax[0])
    sums = reduce.sum(elementwise.abs(x), axis=summed, keepdims=True)
    out = (reduce.max if ord > 0 else reduce.min)(sums, axis=over, keepdims=True)
    return out if keepdims else reshape(out, tuple(
        n for i, n in enumerate(np.shape(x)) if i not in ax))


def norm(x, ord=None, axis=None, keepdims=False):
    """numpy's ``linalg.norm``: vector norms along one axis, matrix norms on two.

    ``axis=None`` takes all elements for ``ord=None`` (the 2-norm of the flattened
    ``x``), else the vector (1-d) or the matrix (2-d) ``x``. Vectors: ``ord`` None or 2,
    1, ``inf``, ``-inf``, 0 (the count of nonzeros, no gradient) and any other number
    ``p`` (``sum(|x| ** p) ** (1 / p)``). Matrices: None or ``"fro"`` (Frobenius), 1,
    -1, ``inf``, ``-inf``; the orders of singular values (2, -2, ``"nuc"``) raise
    TypeError. At the zero vector the gradient is 0 (PyTorch's subgradient), never NaN.

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
    >>> ad.norm(ad.tensor([3.0, -4.0]), 1)
    Tensor(7., dtype=float64)
    """
    shape = np.shape(x)
    if axis is None:
        if ord is None:
            return apply(_norm, (x, None, bool(keepdims)), None)
        if len(shape) not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} needs vectors or matrices, got shape {shape} "
                             "with axis=None")
        axis = tuple(range(len(shape)))
    ax = _norm_axes("norm", axis, len(shape))
    if len(ax) == 1:
        return _vector_norm(x, ord, ax, keepdims)
    if len(ax) == 2:
        return _matrix_norm(x, ord, ax, keepdims)
    raise ValueError(f"norm: axis={axis!r} names {len(ax)} axes; expected 1 (vectors) or 2 "
                     "(matrices)")

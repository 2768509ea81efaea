"""numpy functions on Tensors: the handlers of ``Tensor.__array_ufunc__`` and
``Tensor.__array_function__`` (NEP 13 and NEP 18).

A numpy function or ufunc called with a Tensor argument comes here instead of
converting the Tensor to its value, which would silently drop its gradient:

- one that has a pyautodiff op runs that op and returns a Tensor that records
  (``np.exp(t)``, ``np.sum(t, axis=0)``, ``np.ones(3) * t``, ``np.linalg.norm(t)``);
  numpy's other parameters (``dtype``, ``out``, ``where``...) are accepted at
  their defaults only;
- one whose result carries no gradient gives what it gives on the values:
  comparisons and other bool tests as bool Tensors (as the Tensor operators),
  metadata (``np.shape``), indices, bools and text (``np.argmax``,
  ``np.allclose``, ``np.array2string``) as numpy returns them;
- any other raises TypeError naming it. ``numpy_functions()`` lists the ones above.

Nothing changes for plain ndarrays: numpy calls these only when a Tensor is involved.
numpy looks for Tensors only where its dispatcher does: in the sequence of
``np.concatenate([t, u])``, but not inside a list given as one array
(``np.sum([t, u])``, ``np.array([t, u])``), which numpy converts with ``__array__``.
"""

import inspect

import numpy as np

from . import linalg as _ad_linalg
from .ops import compare, composite, elementwise, linalg, reduce
from .ops import shape as shapes
from .tensor import Tensor

_NO = np._NoValue  # numpy's default for "not given" (keepdims, initial, where...)

# The parameters of numpy's functions that the ops do not implement. A call may pass
# them at their default (that of the handler's signature, which is numpy's), nothing else.
_KNOBS = frozenset({"dtype", "out", "where", "initial", "casting", "order", "subok", "copy",
                    "signature", "mean", "correction"})
# The same for ufuncs, which take them as keywords (``axes``, ``axis`` and ``keepdims``
# are matmul's, as a generalized ufunc).
_UFUNC_DEFAULTS = {"out": None, "where": True, "casting": "same_kind", "order": "K",
                   "dtype": None, "subok": True, "signature": None, "axes": None, "axis": None,
                   "keepdims": False}

_FUNCTIONS = {}  # numpy function, or (ufunc, method) -> handler(func, args, kwargs)
_UFUNCS = {}  # ufunc -> the pyautodiff function that ufunc(*inputs) calls


def _name(func):
    """numpy's name for a function, a ufunc or a ``(ufunc, method)`` pair."""
    if isinstance(func, tuple):
        return f"numpy.{func[0].__name__}.{func[1]}"
    if isinstance(func, np.ufunc):
        return f"numpy.{func.__name__}"
    return f"{func.__module__}.{func.__name__}"


def numpy_functions():
    """The numpy functions and ufuncs that take Tensors, as a sorted tuple of names.

    Any other numpy function called with a Tensor raises TypeError naming it: it
    would compute on the value and silently drop the gradient. Use
    ``np.asarray(t)`` (or ``t.numpy()``) to compute on the value on purpose.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> "numpy.linalg.norm" in ad.numpy_functions()
    True
    >>> w = ad.tensor([3.0, 4.0], requires_grad=True)
    >>> np.linalg.norm(w)
    Tensor(5., dtype=float64, grad_fn=norm)
    >>> np.fft.fft(w)
    Traceback (most recent call last):
    ...
    TypeError: numpy.fft.fft is not implemented for pyautodiff Tensors ...
    """
    return tuple(sorted(_name(f) for f in (*_UFUNCS, *_FUNCTIONS)))


# ----- the two handlers ----------------------------------------------------------------

def array_ufunc(ufunc, method, inputs, kwargs):
    """``Tensor.__array_ufunc__``: ``ufunc.method(*inputs, **kwargs)`` with a Tensor among
    the inputs or in ``out``."""
    if method == "__call__":
        fn = _UFUNCS.get(ufunc)
        if fn is None:
            raise _missing(_name(ufunc))
        if kwargs:
            _ufunc_defaults(_name(ufunc), inputs, kwargs)
        return fn(*inputs)
    handler = _FUNCTIONS.get((ufunc, method))
    if handler is None:
        raise _missing(_name((ufunc, method)))
    return handler((ufunc, method), inputs, kwargs)


def array_function(func, types, args, kwargs):
    """``Tensor.__array_function__``: ``func(*args, **kwargs)`` with a Tensor among the
    arguments numpy's dispatcher looks at."""
    handler = _FUNCTIONS.get(func)
    if handler is None:
        raise _missing(_name(func))
    return handler(func, args, kwargs)


def _missing(name):
    return TypeError(
        f"{name} is not implemented for pyautodiff Tensors (computing it on the value would "
        "drop the gradient); ad.numpy_functions() lists the numpy functions that are. "
        "Use np.asarray(t) to compute on the value without gradient"
    )


def _refuse_out(name, out, args):
    outs = out if isinstance(out, tuple) else (out,)
    if any(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"{name}: out= a Tensor is not supported (Tensors are not written in "
                        "place); use the returned Tensor")
    if any(isinstance(a, Tensor) for a in _flat(args)):
        raise TypeError(
            f"{name}: out= an ndarray would hold the value of a Tensor input and drop its "
            "gradient (in-place operators such as `array += tensor` do this too); write "
            "`array = array + tensor`, which gives a Tensor, or pass np.asarray(tensor)")


def _flat(args):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from a
        else:
            yield a


def _refuse(name, arg, value, default):
    allowed = "leave it out" if default is _NO else f"only {arg}={default!r} is"
    raise TypeError(f"{name}: {arg}={value!r} is not supported for Tensors ({allowed})")


def _at_default(value, default):
    return value is default or (
        type(value) in (str, bool, np.bool_) and type(default) in (str, bool)
        and value == default)


def _ufunc_defaults(name, inputs, kwargs):
    for arg, value in kwargs.items():
        if arg == "out":
            _refuse_out(name, value, inputs)
        default = _UFUNC_DEFAULTS.get(arg, _NO)
        if not _at_default(value, default):
            _refuse(name, arg, value, default)


# ----- registering handlers ----------------------------------------------------------------

def implements(*funcs):
    """Register the decorated function as the handler of numpy's ``funcs`` (functions, or
    ``(ufunc, method)`` pairs).

    Its signature is numpy's, so arguments bind as they would there; those named in
    ``_KNOBS`` are checked to be at their default before it runs, and its body
    ignores them.
    """

    def register(fn):
        params = inspect.signature(fn).parameters.values()
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        knobs = {p.name: p.default for p in params if p.name in _KNOBS}

        def handler(func, args, kwargs):
            if knobs:
                given = dict(zip(positional, args))
                given.update(kwargs)
                for arg, value in given.items():
                    if arg in knobs and not _at_default(value, knobs[arg]):
                        if arg == "out":
                            _refuse_out(_name(func), value, args)
                        _refuse(_name(func), arg, value, knobs[arg])
            return fn(*args, **kwargs)

        for f in funcs:
            _FUNCTIONS[f] = handler
        return fn

    return register


def _value(a):
    if isinstance(a, Tensor):
        return a._data
    if type(a) in (list, tuple):
        return type(a)(map(_value, a))
    return a


def _values(func, args, kwargs):
    """``func`` on the values of the Tensors among its arguments: for results that carry
    no gradient (metadata, indices, bools, text)."""
    return func(*map(_value, args), **{k: _value(v) for k, v in kwargs.items()})


def _attributes(func, args, kwargs):
    # numpy's own np.shape, np.ndim and np.size read ``a.shape``, ``a.ndim``, ``a.size``,
    # which a Tensor has: the library calls them on Tensors, so this path is kept short.
    return func._implementation(*args, **kwargs)


_FUNCTIONS.update(dict.fromkeys((np.shape, np.ndim, np.size), _attributes))
_FUNCTIONS.update(dict.fromkeys((
    np.result_type, np.can_cast, np.iscomplexobj, np.isrealobj,  # read no values
    np.argsort, np.nonzero, np.count_nonzero,  # integer results
    np.allclose, np.isclose, np.array_equal,  # bool results
    np.array2string, np.array_str, np.array_repr,  # text
), _values))


def _arg_extreme(func):
    # Bound like the ops' handlers for their out=, refused as everywhere: given a Tensor,
    # plain _values would hand numpy its storage to write into.
    def arg_extreme(a, axis=None, out=None, *, keepdims=False):
        return func(_value(a), axis, keepdims=keepdims)
    return arg_extreme


implements(np.argmax)(_arg_extreme(np.argmax))
implements(np.argmin)(_arg_extreme(np.argmin))


# ----- ufuncs ------------------------------------------------------------------------------

def _bools(ufunc):
    """A bool test as a Tensor with no gradient, as the comparison operators give."""
    def test(x):
        return Tensor._make(np.asarray(ufunc(x._data)))
    return test


_UFUNCS.update({
    np.exp: elementwise.exp, np.log: elementwise.log, np.sqrt: elementwise.sqrt,
    np.tanh: elementwise.tanh, np.sin: elementwise.sin, np.cos: elementwise.cos,
    np.absolute: elementwise.abs, np.negative: elementwise.neg, np.positive: Tensor.__pos__,
    np.square: elementwise.square, np.log1p: elementwise.log1p, np.expm1: elementwise.expm1,
    np.add: elementwise.add, np.subtract: elementwise.sub, np.multiply: elementwise.mul,
    np.true_divide: elementwise.div, np.power: elementwise.pow,
    np.maximum: elementwise.maximum, np.minimum: elementwise.minimum, np.matmul: linalg.matmul,
    np.less: compare.less, np.less_equal: compare.less_equal, np.greater: compare.greater,
    np.greater_equal: compare.greater_equal, np.equal: compare.equal,
    np.not_equal: compare.not_equal, np.logical_and: compare.logical_and,
    np.logical_or: compare.logical_or, np.logical_xor: compare.logical_xor,
    np.logical_not: Tensor.__invert__,
    np.isfinite: _bools(np.isfinite), np.isnan: _bools(np.isnan), np.isinf: _bools(np.isinf),
})


def _ufunc_reduce(op):
    def reduce_(array, axis=0, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
        return op(array, axis=axis, keepdims=keepdims)
    return reduce_


for _ufunc, _op in ((np.add, reduce.sum), (np.maximum, reduce.max), (np.minimum, reduce.min)):
    implements((_ufunc, "reduce"))(_ufunc_reduce(_op))


# ----- functions ---------------------------------------------------------------------------
# Each signature is numpy's (2.x), so positional arguments bind as there.

@implements(np.sum)
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    return reduce.sum(a, axis=axis, keepdims=keepdims)


@implements(np.mean)
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    return reduce.mean(a, axis=axis, keepdims=keepdims)


def _extreme(op):
    def extreme(a, axis=None, out=None, keepdims=False, initial=_NO, where=True):
        return op(a, axis=axis, keepdims=keepdims)
    return extreme


implements(np.max, np.amax)(_extreme(reduce.max))
implements(np.min, np.amin)(_extreme(reduce.min))


@implements(np.var)
def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO,
         correction=_NO):
    return composite.var(a, axis=axis, keepdims=keepdims, ddof=ddof)


@implements(np.dot)
def _dot(a, b, out=None):
    return linalg.dot(a, b)


@implements(np.linalg.norm)
def _norm(x, ord=None, axis=None, keepdims=False):
    return linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


@implements(np.concatenate)
def _concatenate(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    if axis is None:  # numpy flattens the arrays first
        return shapes.concatenate([shapes.flatten(a) for a in arrays])
    return shapes.concatenate(arrays, axis=axis)


@implements(np.stack)
def _stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return shapes.stack(arrays, axis=axis)


@implements(np.where)
def _where(condition, x=_NO, y=_NO):
    if x is _NO and y is _NO:  # np.where(cond) is np.nonzero(cond): indices, no gradient
        return np.nonzero(np.asarray(condition))
    if x is _NO or y is _NO:
        raise ValueError("numpy.where: either both or neither of x and y should be given")
    cond = np.asarray(condition)
    return elementwise.where(cond if cond.dtype == np.bool_ else cond.astype(bool), x, y)


@implements(np.clip)
def _clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None, dtype=None,
          where=True, casting="same_kind", order="K", subok=True, signature=None):
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    # (numpy clips at neither bound when both are None; ad.clip wants one)
    return elementwise.clip(a, -np.inf if lo is None else lo, np.inf if hi is None else hi)


@implements(np.reshape)
def _reshape(a, shape, order="C", *, copy=None):
    return shapes.reshape(a, shape)


@implements(np.transpose)
def _transpose(a, axes=None):
    return shapes.transpose(a) if axes is None else shapes.transpose(a, axes)


@implements(np.swapaxes)
def _swapaxes(a, axis1, axis2):
    return shapes.swapaxes(a, axis1, axis2)


@implements(np.squeeze)
def _squeeze(a, axis=None):
    return shapes.squeeze(a, axis)


@implements(np.expand_dims)
def _expand_dims(a, axis):
    return shapes.expand_dims(a, axis)


@implements(np.broadcast_to)
def _broadcast_to(array, shape, subok=False):
    return shapes.broadcast_to(array, shape)


@implements(np.ravel)
def _ravel(a, order="C"):
    return shapes.flatten(a)


@implements(np.copy)
def _copy(a, order="K", subok=False):
    return shapes.copy(a)


# ----- ufuncs ---------------------------------------------------------------------------
# numpy's other differentiable real ufuncs (np.mod is np.remainder, np.divide np.true_divide,
# np.abs np.absolute: one entry each).

_UFUNCS.update({
    np.tan: elementwise.tan, np.arcsin: elementwise.arcsin, np.arccos: elementwise.arccos,
    np.arctan: elementwise.arctan, np.sinh: elementwise.sinh, np.cosh: elementwise.cosh,
    np.arcsinh: elementwise.arcsinh, np.arccosh: elementwise.arccosh,
    np.arctanh: elementwise.arctanh, np.exp2: elementwise.exp2, np.log2: elementwise.log2,
    np.log10: elementwise.log10, np.cbrt: elementwise.cbrt,
    np.reciprocal: elementwise.reciprocal, np.fabs: elementwise.fabs,
    np.sign: elementwise.sign, np.floor: elementwise.floor, np.ceil: elementwise.ceil,
    np.deg2rad: elementwise.deg2rad, np.radians: elementwise.radians,
    np.rad2deg: elementwise.rad2deg, np.degrees: elementwise.degrees,
    np.logaddexp: elementwise.logaddexp, np.logaddexp2: elementwise.logaddexp2,
    np.arctan2: elementwise.arctan2, np.hypot: elementwise.hypot,
    np.fmax: elementwise.fmax, np.fmin: elementwise.fmin,
    np.remainder: elementwise.remainder,
})
# ----- arrays: reductions, shape and indexing functions ---------------------------------------
# Each signature is numpy's (2.x), so positional arguments bind as there.

@implements(np.prod)
def _prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    return reduce.prod(a, axis=axis, keepdims=keepdims)


implements((np.multiply, "reduce"))(_ufunc_reduce(reduce.prod))


@implements(np.std)
def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO,
         correction=_NO):
    return composite.std(a, axis=axis, keepdims=keepdims, ddof=ddof)


@implements(np.nansum)
def _nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    return composite.nansum(a, axis=axis, keepdims=keepdims)


@implements(np.average)
def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    return composite.average(a, axis=axis, weights=weights, returned=returned,
                             keepdims=keepdims)


def _cumulative(op, axis_default):
    def cumulative(a, axis=axis_default, dtype=None, out=None):
        return op(a, axis=axis)
    return cumulative


implements(np.cumsum)(_cumulative(reduce.cumsum, None))
implements(np.cumprod)(_cumulative(reduce.cumprod, None))
implements((np.add, "accumulate"))(_cumulative(reduce.cumsum, 0))
implements((np.multiply, "accumulate"))(_cumulative(reduce.cumprod, 0))


@implements(np.moveaxis)
def _moveaxis(a, source, destination):
    return shapes.moveaxis(a, source, destination)


@implements(np.repeat)
def _repeat(a, repeats, axis=None):
    return shapes.repeat(a, repeats, axis=axis)


@implements(np.tile)
def _tile(A, reps):
    return shapes.tile(A, reps)


@implements(np.flip)
def _flip(m, axis=None):
    return shapes.flip(m, axis=axis)


@implements(np.roll)
def _roll(a, shift, axis=None):
    return shapes.roll(a, shift, axis=axis)


@implements(np.diff)
def _diff(a, n=1, axis=-1, prepend=_NO, append=_NO):
    return shapes.diff(a, n, axis, None if prepend is _NO else prepend,
                       None if append is _NO else append)


@implements(np.sort)
def _sort(a, axis=-1, kind=None, order=None, *, stable=None):
    # (kind and stable change no value; the gradient follows numpy's stable order)
    return shapes.sort(a, axis=axis)


@implements(np.take)
def _take(a, indices, axis=None, out=None, mode="raise"):
    return shapes.take(a, indices, axis=axis, mode=mode)


@implements(np.take_along_axis)
def _take_along_axis(arr, indices, axis=-1):
    return shapes.take_along_axis(arr, indices, axis=axis)


@implements(np.pad)
def _pad(array, pad_width, mode="constant", **kwargs):
    return shapes.pad(array, pad_width, mode, **kwargs)


def _joining(fn):
    def joining(tup, *, dtype=None, casting="same_kind"):
        return fn(tup)
    return joining


implements(np.vstack)(_joining(shapes.vstack))
implements(np.hstack)(_joining(shapes.hstack))
implements(np.dstack)(_joining(shapes.dstack))
implements(np.column_stack)(_joining(shapes.column_stack))


@implements(np.split)
def _split(ary, indices_or_sections, axis=0):
    return shapes.split(ary, indices_or_sections, axis=axis)


@implements(np.array_split)
def _array_split(ary, indices_or_sections, axis=0):
    return shapes.array_split(ary, indices_or_sections, axis=axis)


implements(np.atleast_1d)(shapes.atleast_1d)
implements(np.atleast_2d)(shapes.atleast_2d)
implements(np.atleast_3d)(shapes.atleast_3d)
# ----- linalg: products and linear algebra ---------------------------------------------------
# The pyautodiff functions take numpy's parameters under numpy's names: most are the handlers
# themselves; those below them add numpy's knobs, accepted at their defaults.

for _func, _fn in (
    (np.inner, linalg.inner), (np.tensordot, linalg.tensordot), (np.kron, linalg.kron),
    (np.vdot, linalg.vdot), (np.cross, linalg.cross), (np.tril, linalg.tril),
    (np.triu, linalg.triu), (np.diag, linalg.diag),
    (np.linalg.inv, linalg.inv), (np.linalg.det, linalg.det),
    (np.linalg.slogdet, linalg.slogdet), (np.linalg.solve, linalg.solve),
    (np.linalg.cholesky, linalg.cholesky), (np.linalg.matmul, linalg.matmul),
    (np.linalg.tensordot, linalg.tensordot), (np.linalg.outer, _ad_linalg.outer),
    (np.linalg.cross, _ad_linalg.cross), (np.linalg.diagonal, _ad_linalg.diagonal),
    (np.linalg.vector_norm, _ad_linalg.vector_norm),
    (np.linalg.matrix_norm, _ad_linalg.matrix_norm), (np.linalg.vecdot, _ad_linalg.vecdot),
    (np.linalg.matrix_transpose, _ad_linalg.matrix_transpose),
):
    implements(_func)(_fn)
del _func, _fn

_FUNCTIONS[np.einsum_path] = _values  # a contraction order, no values


@implements(np.outer)
def _outer(a, b, out=None):
    return linalg.outer(a, b)


@implements(np.einsum)
def _einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    return linalg.einsum(*operands, optimize=optimize)


@implements(np.trace)
def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return linalg.trace(a, offset, axis1, axis2)


@implements(np.linalg.trace)
def _linalg_trace(x, /, *, offset=0, dtype=None):
    return _ad_linalg.trace(x, offset=offset)

"""The C backend: the numpy backend with the kernels the compiled core covers overridden.

Every call into C goes through the checks here first, because the kernels check
nothing: both operands must be C-contiguous, aligned ndarrays of the same native
float dtype (``ffi.from_buffer`` does not look at dtypes: three float32 values would
pass as one and a half doubles; nor at alignment: see ``_in_place``), shapes must be
one of the patterns a kernel handles, and a kernel's output is always a fresh array
(``acc`` and ``acc_op`` write into an engine-owned one, never aliasing an input).
Anything else, and arrays smaller than ``THRESHOLD`` elements, goes to the numpy
kernel of the same name.
"""

import functools
import threading

import numpy as np

from .. import _pyad_c
from . import numpy_backend
from .numpy_backend import (  # noqa: F401  (the kernels C does not override)
    clip,
    matmul,
    max,
    min,
    pow,
    where,
)

NAME = "c"
ffi, lib = _pyad_c.ffi, _pyad_c.lib

# Below this many elements our kernels run on one thread, where numpy's AVX-512
# loops are as fast or faster (measured on 10**6 float64, one thread: tanh 1.78 ms
# against numpy's 1.26, exp 0.69 against 0.63), and a result is too small for the
# buffer pool (POOL_MIN): C would only add its per-call checks (a 10000 x 100 linear
# regression step ran 4% slower with THRESHOLD = 4096, 0% with this).
THRESHOLD = 1 << 15
# float32 arrays below this many elements go to numpy too: numpy's float32 tanh, exp
# and friends are AVX-512 loops as fast as ours, so what C adds (threads, buffers, the
# fused backward's compiling) only costs there (measured: 10% slower at 10**5).
THRESHOLD_F32 = 1 << 18
# Loops that only move memory (add, mul, neg...) run as fast in numpy's AVX-512
# loops as in ours on one thread; C wins only once its second thread joins in,
# from 8 * THRESHOLD = 2**18 elements (measured: 0.85x numpy at 10**5, 1.2-1.8x
# at 10**6).
CHEAP = 8
ROWS_MAX = 1 << 21
# Row-broadcast kernels loop once per row: for narrow rows numpy's broadcasting loop
# is faster (a (N, 1) + (1,) bias ran 40x slower row by row).
ROW_MIN = 16

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_SUFFIX = {_F32: "f32", _F64: "f64"}
_CTYPE = {_F32: "float[]", _F64: "double[]"}
_ndarray = np.ndarray


def _buf(a):
    return ffi.from_buffer(_CTYPE[a.dtype], a)


# Outputs of at least POOL_MIN bytes come from a pool of recycled buffers: a
# fresh one would be page-faulted in on first touch, at about a quarter of the
# time the arithmetic takes. (glibc returns freed memory at the top of its heap
# to the system once a few hundred kB pile up, so even 10**5-element arrays
# fault again every step; smaller ones stay in malloc's free lists.) A buffer
# goes back to the pool when the last array viewing it dies; the pool keeps at
# most POOL_MAX_BYTES of idle buffers and frees the rest.
POOL_MIN = 1 << 18
POOL_MAX_BYTES = 1 << 31
_pool = {}  # nbytes -> [raw pointer, ...]
_pooled = [0]  # idle bytes held
# Reentrant: a buffer can come back (garbage collection runs _recycle) while the
# same thread is taking one out.
_pool_lock = threading.RLock()


def _recycle(nbytes, raw, _pool_lock=_pool_lock, _pool=_pool, _pooled=_pooled, lib=lib,
             most=POOL_MAX_BYTES):
    # (the defaults keep the module's objects: at interpreter exit arrays can die
    # after the module's globals were cleared)
    with _pool_lock:
        if _pooled[0] + nbytes <= most:
            _pool.setdefault(nbytes, []).append(raw)
            _pooled[0] += nbytes
            return
    lib.pyad_free(raw, nbytes)


def _empty(x):
    """An uninitialized array of ``x``'s shape and dtype, from the pool when large."""
    nbytes = x.nbytes
    if nbytes < POOL_MIN:
        return np.empty_like(x)
    with _pool_lock:
        free = _pool.get(nbytes)
        raw = free.pop() if free else None
        if raw is not None:
            _pooled[0] -= nbytes
    if raw is None:
        raw = lib.pyad_alloc(nbytes)
        if raw == ffi.NULL:
            raise MemoryError(f"cannot allocate {nbytes} bytes for a {x.shape} {x.dtype} result")
    owner = ffi.gc(raw, functools.partial(_recycle, nbytes))
    # The array's base is the buffer itself, not another array: the engine takes
    # an array whose base is no ndarray for one that nobody else can see.
    return np.ndarray(x.shape, x.dtype, buffer=ffi.buffer(owner, nbytes))


def _kernels(name):
    """{dtype: the C function} for pyad_<name>_f32 / _f64."""
    return {dt: getattr(lib, f"pyad_{name}_{sfx}") for dt, sfx in _SUFFIX.items()}


def _in_place(a):
    """Whether ndarray ``a``'s buffer can cross into C as it is: C-contiguous and aligned.
    (A misaligned array, as ``np.frombuffer`` makes at an odd offset, is undefined
    behaviour to load from C. A byte-swapped one never gets here: its dtype is not
    equal to the native one every caller compares with.)"""
    f = a.flags
    return f.c_contiguous and f.aligned


def _ok(a, scale=1):
    """Whether ``a`` can be handed to a kernel as it is."""
    return (type(a) is _ndarray and a.size >= scale * THRESHOLD and a.dtype in _SUFFIX
            and _in_place(a))


def _poolable(a):
    """Whether a result shaped like ``a`` is large enough to take a pooled buffer."""
    return type(a) is _ndarray and a.nbytes >= POOL_MIN and a.dtype in _SUFFIX


def _unary(name, scale=1, dtypes=(_F32, _F64)):
    fallback = getattr(numpy_backend, name)
    # Where numpy's loop is used for a mid-sized array, it still writes into a
    # recycled buffer, which saves the page faults of a fresh one.
    ufunc = fallback if isinstance(fallback, np.ufunc) else None
    ks = {dt: k for dt, k in _kernels(name).items() if dt in dtypes}

    def kernel(x):
        if not _ok(x, scale) or x.dtype not in ks:
            if ufunc is not None and _poolable(x):
                return ufunc(x, out=_empty(x))
            return fallback(x)
        out = _empty(x)
        ks[x.dtype](x.size, _buf(out), _buf(x))
        return out

    kernel.__name__ = name
    kernel.__doc__ = f"``{name}`` in C for large contiguous float arrays, else numpy's."
    return kernel


def _scalar_of(s, like):
    """``s`` as a C scalar if ``s op like`` is ``like``'s shape and dtype, else None.

    Python numbers are weak (they keep the array's dtype, as in numpy); a numpy
    value must have the same dtype and be 0-d, or be one value broadcast to
    ``like``'s shape (all strides 0, as the gradient of a sum is).
    """
    if type(s) is float or type(s) is int:
        return s
    if isinstance(s, (np.generic, _ndarray)) and s.dtype == like.dtype and (
            s.shape == () or (s.shape == like.shape and not any(s.strides))
            or (s.size == 1 and s.ndim <= like.ndim)):  # (1,) against (N, 1): a bias
        return s.flat[0].item() if s.shape else s.item()
    return None


def _binary(name, scale=1, with_rscalar=True):
    fallback = getattr(numpy_backend, name)
    ufunc = fallback if isinstance(fallback, np.ufunc) else None  # see _unary
    same, scal, rscal = _kernels(name), _kernels(name + "_scalar"), _kernels(name + "_rscalar")
    row, rrow = _kernels(name + "_row"), _kernels(name + "_rrow")

    def kernel(x, y):
        if _ok(x, scale):
            dt = x.dtype
            if type(y) is _ndarray and y.dtype == dt and _in_place(y):
                if y.shape == x.shape:
                    out = _empty(x)
                    same[dt](x.size, _buf(out), _buf(x), _buf(y))
                    return out
                if y.ndim == 1 and x.ndim >= 2 and x.shape[-1] == y.shape[0] and y.size >= ROW_MIN:
                    out = _empty(x)
                    row[dt](x.size // y.size, y.size, _buf(out), _buf(x), _buf(y))
                    return out
            s = _scalar_of(y, x)
            if s is not None:
                out = _empty(x)
                scal[dt](x.size, _buf(out), _buf(x), s)
                return out
        elif _ok(y, scale):
            dt = y.dtype
            if (type(x) is _ndarray and x.dtype == dt and _in_place(x) and x.ndim == 1
                    and y.ndim >= 2 and y.shape[-1] == x.shape[0]
                    and x.size >= ROW_MIN):
                out = _empty(y)
                rrow[dt](y.size // x.size, x.size, _buf(out), _buf(x), _buf(y))
                return out
            s = _scalar_of(x, y) if with_rscalar else None
            if s is not None:
                out = _empty(y)
                rscal[dt](y.size, _buf(out), s, _buf(y))
                return out
        if ufunc is not None:
            # numpy's loop into a recycled buffer, when the result is one operand's
            # shape and dtype: same-shaped arrays, or an array and a Python number or
            # a 0-d array of its dtype
            for a, b in ((x, y), (y, x)):
                if _poolable(a) and (type(b) is float or type(b) is int or (
                        type(b) is _ndarray and b.shape in (a.shape, ()) and b.dtype == a.dtype)):
                    return ufunc(x, y, out=_empty(a))
        return fallback(x, y)

    kernel.__name__ = name
    kernel.__doc__ = f"``{name}`` in C for large contiguous float operands, else numpy's."
    return kernel


for _name in ("exp", "sqrt", "sigmoid", "relu", "softplus"):
    globals()[_name] = _unary(_name)
# numpy's log, log1p and expm1 are nearly as fast as ours on one thread (ours
# win 1.1-1.6x at 10**6 with two threads, lose at 10**5), so they count as cheap.
for _name in ("neg", "abs", "square", "log", "log1p", "expm1"):
    globals()[_name] = _unary(_name, CHEAP)
# numpy's float32 sin, cos and tanh (AVX-512, in single precision) beat ours,
# which evaluate in double to stay within 2 ulp: 0.5-0.8x at 10**6.
for _name in ("sin", "cos", "tanh"):
    globals()[_name] = _unary(_name, dtypes=(_F64,))
_BINARY_KERNELS = ("add", "sub", "mul", "div", "maximum", "minimum", "tanh_grad",
                   "sigmoid_grad", "square_grad", "relu_grad")
for _name in ("add", "sub", "div", "maximum", "minimum"):
    globals()[_name] = _binary(_name, CHEAP)
mul = _binary("mul", CHEAP)
for _name in ("tanh_grad", "sigmoid_grad", "square_grad"):
    globals()[_name] = _binary(_name)
# numpy's loops for these call libm element by element (10-20x slower than ours at 10**6).
for _name in ("logaddexp", "logaddexp2", "hypot"):
    globals()[_name] = _binary(_name)
del _name
# relu_grad(g, x) takes its dtype from g alone (x only gives a mask), so a Python
# number g makes float64 whatever x is: not the form its C kernel computes.
relu_grad = _binary("relu_grad", with_rscalar=False)

_acc, _acc_rows, _sum = _kernels("acc"), _kernels("acc_rows"), _kernels("sum")


def _reads_into(a, dst):
    """Whether a kernel writing ``dst`` in place can read array ``a``: same shape and
    dtype, contiguous and aligned, and no memory shared with ``dst``."""
    return (type(a) is _ndarray and a.shape == dst.shape and a.dtype == dst.dtype
            and _in_place(a) and not np.may_share_memory(dst, a))


def acc(dst, src):
    """dst += src in place (dst belongs to the engine); returns dst."""
    if _ok(dst, CHEAP) and _reads_into(src, dst):
        _acc[dst.dtype](dst.size, _buf(dst), _buf(src))
        return dst
    return numpy_backend.acc(dst, src)


_acc_same = {k: _kernels(k + "_acc") for k in _BINARY_KERNELS}
_acc_scalar = {k: _kernels(k + "_acc_scalar") for k in _BINARY_KERNELS}


def acc_op(kernel, dst, x, y):
    """dst += <kernel>(x, y) in one pass, for an engine-owned dst (see numpy's acc_op)."""
    if _ok(dst, CHEAP) and _reads_into(x, dst):
        if _reads_into(y, dst):
            _acc_same[kernel][dst.dtype](dst.size, _buf(dst), _buf(x), _buf(y))
            return True
        s = _scalar_of(y, x)
        if s is not None:
            _acc_scalar[kernel][dst.dtype](dst.size, _buf(dst), _buf(x), s)
            return True
    return numpy_backend.acc_op(kernel, dst, x, y)


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (a normalized tuple): all axes, or leading axes, in C."""
    if _ok(x, CHEAP) and axis is not None:
        nd, k = x.ndim, len(axis)
        kept = x.shape[k:]
        if axis == tuple(range(k)) and all(n == 1 for n in kept):
            # (every element in one contiguous run, (N, 1) included: the pairwise sum,
            # as numpy sums it, not rows added one after the other)
            s = x.dtype.type(_sum[x.dtype](x.size, _buf(x)))
            return np.full((1,) * nd if keepdims else kept, s) if keepdims or kept else s
        # Summing rows in C wins while the array fits in cache (2x at 10**6
        # elements) and loses beyond it (0.6x at 10**7, where numpy streams faster).
        if 0 < k < nd and axis == tuple(range(k)) and 0 < x.size <= ROWS_MAX:
            # (rows, cols) with the reduced axes as rows: numpy's own row order.
            out = np.zeros(kept, x.dtype)
            _acc_rows[x.dtype](x.size // out.size, out.size, _buf(out), _buf(x))
            return out.reshape((1,) * k + kept) if keepdims else out
    return numpy_backend.sum(x, axis, keepdims)


_vdot = _kernels("vdot")


def vdot(x, y):
    """sum(x * y) over two same-shaped arrays, in C when large. (numpy's vdot is
    BLAS's, slightly faster alone, but its threads spin on the cores ours use.)"""
    if (_ok(x, CHEAP) and type(y) is _ndarray and y.shape == x.shape and y.dtype == x.dtype
            and _in_place(y)):
        return x.dtype.type(_vdot[x.dtype](x.size, _buf(x), _buf(y)))
    return numpy_backend.vdot(x, y)


def triad(a, b, c, s):
    """a = b + s * c over float64 arrays: the memory-bandwidth probe of the benchmarks.

    Examples
    --------
    >>> import numpy as np
    >>> from pyautodiff.backends import c_backend
    >>> c_backend.triad(np.empty(3), np.ones(3), np.arange(3.0), 2.0)
    array([1., 3., 5.])
    """
    for name, v in (("a", a), ("b", b), ("c", c)):
        if type(v) is not _ndarray or v.dtype != _F64 or not _in_place(v):
            raise TypeError(f"triad: {name} must be a C-contiguous, aligned float64 array, "
                            f"got {type(v).__name__} {getattr(v, 'dtype', '')}")
    if not (a.shape == b.shape == c.shape):
        raise ValueError(f"triad: shapes {a.shape}, {b.shape}, {c.shape} differ")
    if not a.flags.writeable or np.may_share_memory(a, b) or np.may_share_memory(a, c):
        raise ValueError("triad: a must be writable and share no memory with b or c")
    lib.pyad_triad_f64(a.size, _buf(a), _buf(b), _buf(c), float(s))
    return a

# The kernels of the backward pass (engine._sweep): these, with elementwise formulas fused.
from . import fused as BACKWARD  # noqa: F401  (last: it builds on the kernels above)

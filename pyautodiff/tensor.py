"""Tensor: a numpy array that remembers how it was made.

The class holds storage and properties; every operator and method is one line
that calls an op, so the math lives in ``pyautodiff/ops`` only.
"""

import numbers
import warnings

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float64)


def _dtype_arg(dtype, where):
    """The numpy dtype for a user's ``dtype=`` argument, which must be a supported float."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: unsupported dtype {dtype!r}, expected float32 or float64")
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{where}: unsupported dtype {dt}, expected float32 or float64")
    return dt


def as_array(data, where, dtype=None, copy=False):
    """Convert user data to a float ndarray following the API's dtype rules.

    Integers and bools become float64, float16 becomes float32 (the nearest
    supported precision), float32 and float64 stay as they are; strings,
    objects and complex numbers are refused with a TypeError naming ``where``.
    """
    if isinstance(data, Tensor):
        data = data._data
    arr = np.asarray(data)
    kind = arr.dtype.kind
    if dtype is not None:
        target = _dtype_arg(dtype, where)
    elif kind == "f":
        # (a byte-swapped array becomes its native twin: the kernels read native floats)
        target = np.dtype(np.float32) if arr.dtype.itemsize < 4 else arr.dtype.newbyteorder("=")
        if target not in FLOAT_DTYPES:
            raise TypeError(f"{where}: unsupported dtype {arr.dtype}, expected float32 or float64")
    elif kind in "biu":
        target = DEFAULT_DTYPE
    else:
        raise TypeError(
            f"{where}: unsupported data of dtype {arr.dtype} ({type(data).__name__}), "
            "expected real numbers"
        )
    if kind not in "biuf":
        raise TypeError(f"{where}: cannot convert data of dtype {arr.dtype} to {target}")
    if copy or arr.dtype != target:
        return np.array(arr, dtype=target)
    return arr


def operand(value, where):
    """A non-Tensor operand of an op, as the kernels take it.

    Python numbers stay Python numbers, so they combine with float32 arrays
    without promoting them (numpy's weak scalars); arrays follow ``as_array``.
    """
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, np.generic):
        return float(value)
    return as_array(value, where)


class Tensor:
    """An n-dimensional array of float32 or float64 that records operations for autodiff.

    Parameters
    ----------
    data : scalar, nested list, numpy array or Tensor
        The value. It is copied, so later changes to ``data`` do not reach the
        tensor. Integer and bool data become float64 unless ``dtype`` is given.
    requires_grad : bool
        Whether ``backward()`` should compute a gradient for this tensor.
    dtype : float32 or float64, optional

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    Tensor([2., 4., 6.], dtype=float64)
    """

    # A result of a recorded op points to its graph node ``_node`` (engine.Node),
    # which keeps only what the backward pass needs: when the last Tensor of an
    # intermediate result goes, its array goes too unless a VJP saved it.
    __slots__ = ("__weakref__", "_data", "_grad", "_node", "_rg")

    # numpy functions on Tensors run the ops, or refuse (numpy_dispatch.py).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return numpy_dispatch.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return numpy_dispatch.array_function(func, types, args, kwargs)

    def __init__(self, data, requires_grad=False, dtype=None):
        self._data = as_array(data, "Tensor", dtype, copy=True)
        self._node = None
        self._grad = None
        self._rg = False
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data):
        # A tensor with no history around an array we own: no conversion, no copy.
        t = cls.__new__(cls)
        t._data = data
        t._rg = False
        t._node = None
        t._grad = None
        return t

    # ----- properties -------------------------------------------------------
    @property
    def requires_grad(self):
        """Whether gradients flow to this tensor. Settable on leaves only."""
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self._node is not None:
            raise RuntimeError(
                "requires_grad: can only be set on leaf tensors; use detach() to get a leaf"
            )
        if value and self._data.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"requires_grad: only float32 and float64 tensors can require gradients, "
                f"got {self._data.dtype}"
            )
        self._rg = value

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place (leaves only) and return this tensor.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> ad.zeros(2).requires_grad_().requires_grad
        True
        """
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        """True for tensors not produced by a recorded operation."""
        return self._node is None

    @property
    def grad(self):
        """The accumulated gradient (a Tensor of this shape and dtype), or None.

        Only leaves get one from ``backward()``; reading it on a result of a recorded
        op warns (once per process), as PyTorch does.
        """
        if self._grad is None and self._node is not None:
            _warn_non_leaf_grad()
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                value = Tensor(value, dtype=self._data.dtype)
            if value.shape != self.shape:
                raise ValueError(
                    f"grad: assigned gradient has shape {value.shape}, expected {self.shape}"
                )
        self._grad = value

    @property
    def grad_fn(self):
        """The name of the op that made this tensor, or None for a leaf."""
        return None if self._node is None else self._node._op.name

    @property
    def data(self):
        """The numpy ndarray that holds the value (not a copy).

        While a live graph needs this array (the tensor is the result of a recorded
        op whose graph was not yet freed by ``backward()``, or a graph node saved
        the array for its gradient), it is read-only: see ``pyautodiff.memory``.
        """
        n = self._node
        if n is not None and n._vals is not None:
            hold_result(self)
        elif type(self._data.base) is np.ndarray:
            memory.follow(self._data)
        return self._data

    @data.setter
    def data(self, value):
        if isinstance(value, Tensor):
            value = value._data
        if type(value) is not np.ndarray:
            raise TypeError(
                f"data: expected a numpy ndarray (or a Tensor), got {type(value).__name__}; "
                "wrap the value with np.asarray(...)"
            )
        if value.dtype != self._data.dtype:
            raise TypeError(
                f"data: the array has dtype {value.dtype}, the tensor {self._data.dtype}; "
                f"convert it first (value.astype(np.{self._data.dtype}))"
            )
        self._data = value

    @property
    def _version(self):
        """How many in-place writes the memory of this tensor has seen (PyTorch's name)."""
        return memory.version(self._data)

    shape = property(lambda self: self._data.shape, doc="The shape, as numpy's.")
    ndim = property(lambda self: self._data.ndim, doc="The number of dimensions.")
    size = property(lambda self: self._data.size, doc="The number of elements.")
    dtype = property(lambda self: self._data.dtype, doc="The numpy dtype.")
    T = property(lambda self: transpose(self), doc="The transpose (axes reversed).")

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # ----- conversion -------------------------------------------------------
    def numpy(self):
        """The value as a numpy array: ``data`` itself (shares its memory, and is
        read-only while a live graph needs it).

        Examples
        --------
        >>> import pyautodiff as ad
        >>> ad.tensor([1, 2]).numpy()
        array([1., 2.])
        """
        return self.data

    def tolist(self):
        """The value as (nested) Python floats.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> ad.tensor([[1, 2]]).tolist()
        [[1.0, 2.0]]
        """
        return self._data.tolist()

    def item(self):
        """The value of a one-element tensor as a Python float.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> ad.tensor([[2.5]]).item()
        2.5
        """
        if self._data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted, got shape {self.shape}"
            )
        return self._data.item()

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self.data

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self._data)

    def __format__(self, spec):
        # f"{loss:.4f}" formats a 0-d tensor's value, as PyTorch; a larger one only
        # with an empty spec (its repr), since numpy has no format for arrays.
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        if spec:
            raise TypeError(
                f"format: spec {spec!r} needs a 0-d tensor, got shape {self.shape}; "
                "format t.item() or t.tolist()"
            )
        return repr(self)

    def __round__(self, ndigits=None):
        # As PyTorch's round(t): a tensor of rounded values (half to even, as numpy),
        # with no gradient (the derivative of rounding is zero almost everywhere).
        return Tensor._make(np.round(self._data, 0 if ndigits is None else ndigits))

    def __reduce__(self):
        # The value, dtype and requires_grad; never the graph or the gradient.
        return _unpickle, (self._data.copy(), self._rg)

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", prefix="Tensor(")
        extra = f"dtype={self._data.dtype}"
        if self._node is not None:
            extra += f", grad_fn={self._node._op.name}"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"Tensor({body}, {extra})"

    # ----- autograd ---------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False, create_graph=False):
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on.

        Parameters
        ----------
        gradient : array-like, optional
            The gradient of some scalar with respect to this tensor; may be
            omitted only for a one-element tensor (then it is 1).
        retain_graph : bool
            Keep the graph so ``backward`` can run through it again.
        create_graph : bool
            Record the backward pass, so the gradients can be differentiated.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> x = ad.tensor(3.0, requires_grad=True)
        >>> (x ** 3).backward(create_graph=True)
        >>> x.grad
        Tensor(27., dtype=float64, grad_fn=mul)
        >>> g = x.grad
        >>> x.grad = None
        >>> g.backward()
        >>> x.grad
        Tensor(18., dtype=float64)
        """
        backward(self, gradient, retain_graph, create_graph)

    def detach(self):
        """The same value as a new leaf with no history (shares the data, which is
        read-only while this tensor's graph needs it).

        Examples
        --------
        >>> import pyautodiff as ad
        >>> x = ad.tensor([1.0], requires_grad=True)
        >>> (x * 2).detach().requires_grad
        False
        """
        return Tensor._make(self.data)

    # ----- in-place updates (PyTorch's rules: see inplace.py) ---------------
    def __iadd__(self, other):
        return inplace(add, self, other)

    def __isub__(self, other):
        return inplace(sub, self, other)

    def __imul__(self, other):
        return inplace(mul, self, other)

    def __itruediv__(self, other):
        return inplace(div, self, other)

    def __ipow__(self, other):
        return inplace(pow, self, other)

    def __setitem__(self, index, value):
        setitem(self, index, value)

    def zero_(self):
        """Fill with zeros in place and return this tensor.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> ad.ones(2).zero_()
        Tensor([0., 0.], dtype=float64)
        """
        return fill_(self, 0.0)

    # ----- operators --------------------------------------------------------
    def __add__(self, other):
        return apply2(add, self, other)

    def __radd__(self, other):
        return apply2(add, other, self)

    def __sub__(self, other):
        return apply2(sub, self, other)

    def __rsub__(self, other):
        return apply2(sub, other, self)

    def __mul__(self, other):
        if other is self:
            # x * x is square: the same values, and its gradient in one pass
            # instead of two products and their sum.
            return apply1(square, self)
        return apply2(mul, self, other)

    def __rmul__(self, other):
        return apply2(mul, other, self)

    def __truediv__(self, other):
        return apply2(div, self, other)

    def __rtruediv__(self, other):
        return apply2(div, other, self)

    def __pow__(self, other):
        return apply2(pow, self, other)

    def __rpow__(self, other):
        return apply2(pow, other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return apply1(neg, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return apply1(abs_, self)

    def __getitem__(self, index):
        return getitem(self, index)

    def __lt__(self, other):
        return _compare(less, self, other)

    def __le__(self, other):
        return _compare(less_equal, self, other)

    def __gt__(self, other):
        return _compare(greater, self, other)

    def __ge__(self, other):
        return _compare(greater_equal, self, other)

    def __eq__(self, other):
        return _compare(equal, self, other)

    def __ne__(self, other):
        return _compare(not_equal, self, other)

    # Logical operators, for combining masks.
    def __and__(self, other):
        return _compare(logical_and, self, other)

    __rand__ = __and__

    def __or__(self, other):
        return _compare(logical_or, self, other)

    __ror__ = __or__

    def __xor__(self, other):
        return _compare(logical_xor, self, other)

    __rxor__ = __xor__

    def __invert__(self):
        return Tensor._make(np.logical_not(self._data))


def _unpickle(data, requires_grad):
    t = Tensor._make(data)
    if requires_grad:
        t.requires_grad = True
    return t


_warned = []


def _warn_non_leaf_grad():
    if not _warned:
        _warned.append(True)
        warnings.warn(
            "grad: the .grad of a tensor that is not a leaf is being read; backward() "
            "fills in .grad of leaves only. Make the tensor a leaf (detach() and "
            "requires_grad_()) to get its gradient",
            UserWarning, stacklevel=3,
        )


def _compare(fn, x, y):
    # Unsupported operands (None, strings) give NotImplemented, so Python's own
    # rules apply: ``t == None`` is False and ``t < "a"`` raises TypeError.
    try:
        return fn(x, y)
    except TypeError:
        return NotImplemented


# Methods that are the module functions of the same name: one definition each,
# documented there. Bound here because the ops build Tensors, so they load after.
from . import memory
from .engine import apply1, apply2, backward, hold_result
from .inplace import fill_, inplace, setitem
from .ops import composite, elementwise, linalg, reduce, shape
from .ops.compare import (
    equal,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_or,
    logical_xor,
    not_equal,
)
from .ops.linalg import matmul
from .ops.shape import getitem, transpose

add, sub, mul, div, pow, neg = (getattr(elementwise, n).op for n in
                                ("add", "sub", "mul", "div", "pow", "neg"))
abs_ = elementwise.abs.op
square = elementwise.square.op

for _module, _names in (
    (elementwise, ("exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tanh",
                   "sigmoid", "relu", "softplus", "abs", "clip", "maximum", "minimum")),
    (reduce, ("sum", "mean", "max", "min", "logsumexp", "prod", "cumsum", "cumprod")),
    (composite, ("var", "std", "softmax", "log_softmax")),
    (shape, ("reshape", "transpose", "swapaxes", "squeeze", "expand_dims", "broadcast_to",
             "flatten", "ravel", "repeat", "take", "astype", "copy")),
    (linalg, ("matmul", "dot", "trace")),
):
    for _name in _names:
        setattr(Tensor, _name, getattr(_module, _name))
del _module, _names, _name

# Last: its tables hold the ops and the methods bound above.
from . import numpy_dispatch

"""Deferred elementwise expressions (``Lazy``), and the guard on the arrays they read.

The C backend computes chains of elementwise kernels in one pass (backends/fused.py,
csrc/fuse.c): its kernels return a ``Lazy`` value, an expression over arrays and
scalars, which is computed when an array is needed. This module is pure Python, so
the engine can tell pending values apart whether or not the C core is built.

A pending forward expression reads its arrays later than the user wrote the code
that made it. So that it still reads the values they held then, the arrays it
reads are made read-only while it is pending (``hold``, as MyGrad guards the arrays
of a live graph): an in-place write to one raises numpy's ValueError instead of
silently changing a result. The guard comes off when the expression is computed
or dropped. Reading any pending tensor's value (``t.data``, ``t.numpy()``,
``repr``...) computes it.
"""

import math
import threading

import numpy as np

_ndarray = np.ndarray

# id(array) -> [array, number of pending expressions reading it, whether we made it
# read-only]; one lock, since an expression may be dropped on any thread.
_held = {}
_held_lock = threading.Lock()


def _release(arrays, _held=_held, _held_lock=_held_lock):
    # (the defaults, as __del__'s: an expression may die at interpreter exit, after
    # this module's globals were cleared)
    with _held_lock:
        for a in arrays:
            entry = _held[id(a)]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[id(a)]
                if entry[2]:
                    try:
                        a.flags.writeable = True
                    except ValueError:  # its base was made read-only meanwhile: so is it
                        pass


class Lazy:
    """An elementwise expression ``op(*args)`` of ``shape`` and ``dtype``, computed
    on demand (``force``). ``args`` are Lazy values, contiguous arrays of the same
    shape and dtype, or Python floats; ``op`` is a fusable kernel's name, or
    ``"sum"`` (the sum of one Lazy argument, a size-1 result). ``into`` is an
    engine-owned array the result may be written into (for ``acc``).

    A forward expression also has ``held`` (the arrays it guards, see ``hold``),
    ``keep`` (a graph node saved it for the backward pass) and ``owner`` (a weak
    reference to its tensor): a pass that computes it as part of a larger
    expression stores it too when it is kept or its tensor is alive, so it is
    never computed twice nor read after its inputs could change."""

    __slots__ = ("args", "dtype", "held", "into", "keep", "nodes", "op", "owner", "shape",
                 "size", "value")
    base = None  # what engine._fresh reads: a result of its own

    def __init__(self, op, args, shape, dtype, into=None):
        self.op = op
        self.args = args
        self.shape = shape
        self.dtype = dtype
        self.size = 1 if op == "sum" else math.prod(shape)
        self.into = into
        self.value = None
        self.held = self.owner = None
        self.keep = False
        nodes = 1  # (this module's sum is the kernel's)
        for a in args:
            if type(a) is Lazy and a.value is None:
                nodes += a.nodes
        self.nodes = nodes

    ndim = property(lambda self: len(self.shape))
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    def force(self):
        """The value as an array (computed now if it was not)."""
        if self.value is None:
            from . import fused  # only the C backend makes Lazy values

            fused._evaluate([self])
        return self.value

    def hold(self):
        """Make the arrays this expression reads read-only until it is computed or dropped."""
        arrays = tuple(a for a in self.args if type(a) is _ndarray)
        with _held_lock:
            for a in arrays:
                entry = _held.get(id(a))
                if entry is None:
                    _held[id(a)] = [a, 1, a.flags.writeable]
                    a.flags.writeable = False
                else:
                    entry[1] += 1
        self.held = arrays

    def done(self, value):
        """Record the computed ``value``; the expression and its guard are let go."""
        self.value = value
        self.args = self.into = None
        if self.held:
            _release(self.held)
        self.held = None

    def __del__(self, _release=_release):
        if self.held:
            _release(self.held)

    def __array__(self, dtype=None, copy=None):
        a = self.force()
        return a if dtype is None else a.astype(dtype)

    def __getattr__(self, name):  # anything else an array has, on the value
        return getattr(self.force(), name)

    def reshape(self, *shape):
        """A sum stays deferred under a reshape (``_fit`` reshapes it to the leaf's shape)."""
        if self.op == "sum" and self.value is None:
            shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) else shape
            if math.prod(shape) == 1:
                return Lazy("sum", self.args, tuple(shape), self.dtype)
        return self.force().reshape(*shape)

    def __repr__(self):
        return f"<lazy {self.op} {self.shape} {self.dtype}>"


def _on_value(name):
    def method(self, *args):
        return getattr(self.force(), name)(*args)

    method.__name__ = name
    return method


# What a VJP may do to its gradient besides calling kernels (``z[index] = g``,
# ``g.T @ x``...) it does to the value. (Not __eq__: Lazy values are dict keys.)
for _name in ("__float__", "__int__", "__len__", "__iter__", "__getitem__", "__neg__",
              "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__pow__", "__rpow__", "__matmul__",
              "__rmatmul__"):
    setattr(Lazy, _name, _on_value(_name))
del _name

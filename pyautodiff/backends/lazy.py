"""Deferred elementwise expressions (``Lazy``) of the C backend's backward pass.

The fused backward kernels (backends/fused.py, csrc/fuse.c) return a ``Lazy`` value,
an expression over arrays and scalars, which is computed when an array is needed.
Every array such an expression reads belongs to the engine or to a graph node that
the backward pass is still running through, so nothing the user holds can change
it before it is computed. This module is pure Python, so the engine can tell
pending gradients apart whether or not the C core is built.
"""

import math


class Lazy:
    """An elementwise expression ``op(*args)`` of ``shape`` and ``dtype``, computed
    on demand (``force``). ``args`` are Lazy values, contiguous arrays of the same
    shape and dtype, or Python floats; ``op`` is a fusable kernel's name, or
    ``"sum"`` (the sum of one Lazy argument, a size-1 result). ``into`` is an
    engine-owned array the result may be written into (for ``acc``)."""

    __slots__ = ("args", "dtype", "into", "nodes", "op", "shape", "size", "value")
    base = None  # what engine._fresh reads: a result of its own

    def __init__(self, op, args, shape, dtype, into=None):
        self.op = op
        self.args = args
        self.shape = shape
        self.dtype = dtype
        self.size = 1 if op == "sum" else math.prod(shape)
        self.into = into
        self.value = None
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

    def done(self, value):
        """Record the computed ``value``; the expression is let go."""
        self.value = value
        self.args = self.into = None

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

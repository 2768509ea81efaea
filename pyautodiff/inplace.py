"""In-place updates of tensors, with PyTorch's rules.

``t += v`` (and ``-= *= /= **=``), ``t[index] = v`` and ``t.zero_()`` write into
the tensor's own array: the tensor stays the same object (and the same leaf).
They are not recorded. So, as in PyTorch:

- while recording (outside ``no_grad()``), an in-place update of a leaf that
  requires grad raises PyTorch's RuntimeError; so does one of a recorded result,
  or one whose value requires grad (it would have to be recorded): write
  ``t = t + v`` instead, or update under ``no_grad()``;
- every write counts as a new version of the tensor's memory (``memory.bump``):
  a backward pass through a node that saved the old value raises instead of
  using the new one;
- a write is allowed into an array a live graph locked (``memory.lock``), for the
  update itself and nothing else.
"""

import numpy as np

from . import backends, memory
from .backends import numpy_backend
from .engine import _mode, no_grad
from .tensor import Tensor, operand


def _check(name, t, value):
    """Refuse an update that would have to be recorded (see the module docstring)."""
    if not _mode.enabled:
        return
    if t._rg and t._node is None:
        raise RuntimeError(
            f"{name}: a leaf tensor that requires grad is being used in an in-place "
            "operation (PyTorch: 'a leaf Variable that requires grad is being used in an "
            "in-place operation'); update it inside `with ad.no_grad():`"
        )
    if t._rg or isinstance(value, Tensor) and value._rg:
        what = (f"a result of '{t._node._op.name}' (part of a graph)" if t._rg
                else "a tensor with a value that requires grad")
        raise RuntimeError(
            f"{name}: in-place updates are not recorded, and this one writes {what}; "
            "write it out of place (t = t + v), or inside `with ad.no_grad():` if no "
            "gradient should flow through it"
        )


def _value(name, value):
    """The array (or number) to write: a tensor's value, or an operand as ops take it."""
    return value._data if isinstance(value, Tensor) else operand(value, name)


def _write(name, t, index, value):
    """``t._data[index] = value`` as a library write (see ``memory.writing``)."""
    a = t._data
    with memory.writing(a, f"{name}: the tensor"):
        try:
            a[index] = value
        except (ValueError, IndexError, TypeError) as e:
            raise type(e)(
                f"{name}: cannot write a value of shape {np.shape(value)} into "
                f"{'the tensor' if index is Ellipsis else f'[{index!r}] of the tensor'} of "
                f"shape {a.shape} {a.dtype}: {e}"
            ) from None


def inplace(op, t, other):
    """``t op= other``: compute ``t op other`` as the op would, write it into ``t``."""
    name = f"{op.name}_"
    _check(name, t, other)
    value = _value(name, other)
    with no_grad():
        B = backends.current()
        x = t._data
        if x.size < B.THRESHOLD:
            B = numpy_backend
        try:
            out = op.forward(B, x, value)
        except (ValueError, TypeError) as e:
            raise type(e)(f"{name}: {e} (tensor {x.shape} {x.dtype}, "
                          f"operand {np.shape(value)})") from None
    out = np.asarray(out)
    if out.shape != x.shape:
        raise ValueError(
            f"{name}: the result has shape {out.shape}, which does not fit the tensor's "
            f"shape {x.shape} (an in-place update cannot broadcast the tensor itself)"
        )
    _write(name, t, Ellipsis, out)
    return t


def setitem(t, index, value):
    """``t[index] = value``: the elements at ``index`` are overwritten in place."""
    _check("setitem", t, value)
    if isinstance(index, Tensor):
        index = index._data
    elif isinstance(index, tuple):
        index = tuple(i._data if isinstance(i, Tensor) else i for i in index)
    _write("setitem", t, index, _value("setitem", value))


def fill_(t, value):
    """Fill ``t`` with ``value`` in place; returns ``t``."""
    _check("fill_", t, value)
    _write("fill_", t, Ellipsis, value)
    return t

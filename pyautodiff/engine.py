"""Recording the tape and running it backwards.

Every op result that needs a gradient carries a ``Node``: the op, its inputs,
its output array and a sequence number. Inputs are always recorded before the
ops that use them, so descending sequence numbers are a topological order of
the graph: ``backward`` pops nodes from a heap in that order, with no recursion
and no separate sorting pass, and each node is visited once all its consumers
have sent it their gradient.
"""

import contextlib
import heapq
import itertools
import threading

import numpy as np

from . import backends
from .tensor import Tensor, operand

_ndarray = np.ndarray
_make = Tensor._make
_next_seq = itertools.count().__next__


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()


class Node:
    """One recorded op application.

    ``args`` are the inputs as passed (Tensors and constants), ``vals`` the
    same as arrays, ``needs`` which inputs want a gradient. ``args``, ``vals``
    and ``out`` are dropped once the node's VJPs ran, unless the graph is retained.
    """

    __slots__ = ("op", "args", "vals", "out", "kw", "needs", "seq")

    def __init__(self, op, args, vals, out, kw, needs):
        self.op = op
        self.args = args
        self.vals = vals
        self.out = out
        self.kw = kw
        self.needs = needs
        self.seq = _next_seq()


# ----- recording --------------------------------------------------------------

def _fail(op, vals, err):
    """Re-raise a kernel's ValueError/TypeError with the op, shapes and dtypes named."""
    desc = ", ".join(
        f"{np.shape(v)} {getattr(v, 'dtype', type(v).__name__)}" for v in vals[: op.nin]
    )
    raise type(err)(f"{op.name}: {err} (inputs: {desc})") from None


def apply1(op, x):
    """Apply a one-input op with no parameters: the fast path of unary operators."""
    if type(x) is Tensor:
        xd = x.data
        rg = x._rg
    else:
        return apply(op, (x,), None)
    try:
        out = op.forward(backends.active, xd)
    except (ValueError, TypeError) as e:
        _fail(op, (xd,), e)
    if type(out) is not _ndarray:
        out = np.asarray(out)
    if rg and _mode.enabled:
        return _make(out, True, Node(op, (x,), (xd,), out, None, (True,)))
    return _make(out, False, None)


def apply2(op, x, y):
    """Apply a two-input op with no parameters: the fast path of binary operators."""
    if type(x) is Tensor:
        xd = x.data
        xr = x._rg
    else:
        xd = operand(x, op.name)
        xr = False
    if type(y) is Tensor:
        yd = y.data
        yr = y._rg
    else:
        yd = operand(y, op.name)
        yr = False
    try:
        out = op.forward(backends.active, xd, yd)
    except (ValueError, TypeError) as e:
        _fail(op, (xd, yd), e)
    if type(out) is not _ndarray:
        out = np.asarray(out)
    if (xr or yr) and _mode.enabled:
        return _make(out, True, Node(op, (x, y), (xd, yd), out, None, (xr, yr)))
    return _make(out, False, None)


def apply(op, args, kw):
    """Apply ``op``: the first ``op.nin`` args are inputs, the rest are parameters."""
    nin = len(args) if op.nin is None else op.nin
    vals = list(args)
    needs = [False] * nin
    for i in range(nin):
        a = args[i]
        if isinstance(a, Tensor):
            vals[i] = a.data
            needs[i] = a._rg
        else:
            vals[i] = operand(a, op.name)
    B = backends.active
    try:
        out = op.forward(B, *vals, **kw) if kw else op.forward(B, *vals)
    except (ValueError, TypeError) as e:
        _fail(op, vals, e)
    if type(out) is not _ndarray:
        out = np.asarray(out)
    if True in needs and _mode.enabled:
        return _make(out, True, Node(op, args, tuple(vals), out, kw, tuple(needs)))
    return _make(out, False, None)


# ----- grad mode --------------------------------------------------------------

@contextlib.contextmanager
def no_grad():
    """Record nothing inside the block (for this thread): results do not require grad.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> with ad.no_grad():
    ...     v = w * 2
    >>> v.requires_grad
    False
    """
    previous = _mode.enabled
    _mode.enabled = False
    try:
        yield
    finally:
        _mode.enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Record inside the block even within ``no_grad()``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> w = ad.tensor(1.0, requires_grad=True)
    >>> with ad.no_grad(), ad.enable_grad():
    ...     (w * 2).requires_grad
    True
    """
    previous = _mode.enabled
    _mode.enabled = True
    try:
        yield
    finally:
        _mode.enabled = previous


def is_grad_enabled():
    """Whether operations are being recorded in this thread.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.is_grad_enabled()
    True
    """
    return _mode.enabled


# ----- backward ---------------------------------------------------------------

def _fit(gi, shape, dtype, op, i):
    """Reduce a VJP result over the dimensions its input was broadcast along.

    Works on arrays and, under ``create_graph``, on Tensors (same method names).
    """
    gshape = gi.shape
    if gshape != shape:
        lead = len(gshape) - len(shape)
        if lead < 0 or any(n not in (1, m) for n, m in zip(shape, gshape[lead:])):
            raise ValueError(
                f"{op.name}: gradient for input {i} has shape {gshape}, "
                f"which does not reduce to the input's shape {shape}"
            )
        axes = tuple(range(lead)) + tuple(
            lead + k for k, (n, m) in enumerate(zip(shape, gshape[lead:])) if n != m
        )
        gi = gi.sum(axis=axes, keepdims=True).reshape(shape)
    if gi.dtype != dtype:
        gi = gi.astype(dtype)
    return gi


def _root_gradient(t, gradient, create_graph):
    if gradient is None:
        if t.data.size != 1:
            raise ValueError(
                f"backward: gradient can be omitted only for one-element tensors, "
                f"got shape {t.shape}; pass gradient= of that shape"
            )
        g = np.ones_like(t.data)
    else:
        g = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if g.shape != t.shape:
            raise ValueError(
                f"backward: gradient has shape {g.shape}, expected the tensor's shape {t.shape}"
            )
        if g.dtype.kind not in "biuf":
            raise TypeError(f"backward: gradient of dtype {g.dtype}, expected real numbers")
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
    if create_graph:
        return gradient if isinstance(gradient, Tensor) and gradient.dtype == t.dtype \
            else _make(g, False, None)
    return g


def backward(t, gradient=None, retain_graph=False, create_graph=False):
    """Reverse-mode pass from ``t``: see ``Tensor.backward``."""
    if not t._rg:
        raise RuntimeError(
            "backward: the tensor does not require grad and has no recorded history; "
            "set requires_grad=True on an input"
        )
    retain = retain_graph or create_graph
    g = _root_gradient(t, gradient, create_graph)
    root = t._node
    leaves = {}
    if root is None:
        _to_leaf(leaves, t, g, False)
    elif create_graph:
        with enable_grad():
            _sweep(root, g, leaves, retain, True)
    else:
        _sweep(root, g, leaves, retain, False)
    for leaf, (gi, owned) in leaves.items():
        if create_graph:
            gt = gi if isinstance(gi, Tensor) else _make(gi, False, None)
        else:
            gt = _make(gi if owned else np.array(gi), False, None)
        old = leaf._grad
        leaf._grad = gt if old is None else old + gt


def _to_leaf(leaves, leaf, gi, owned):
    entry = leaves.get(leaf)
    if entry is None:
        leaves[leaf] = (gi, owned)
    elif entry[1]:
        leaves[leaf] = (backends.active.acc(entry[0], gi), True)
    else:
        leaves[leaf] = (entry[0] + gi, not isinstance(gi, Tensor))


def _sweep(root, g, leaves, retain, create_graph):
    pending = {root: g}
    owned = set()  # nodes whose pending gradient is a buffer we may add into
    heap = [(-root.seq, root)]
    pop, push = heapq.heappop, heapq.heappush
    B = backends.active
    while heap:
        node = pop(heap)[1]
        g = pending.pop(node)
        vals = node.vals
        if vals is None:
            raise RuntimeError(
                f"backward: the graph through '{node.op.name}' was already freed by an "
                "earlier backward; pass retain_graph=True to the first backward to run "
                "it twice"
            )
        op, kw, args = node.op, node.kw, node.args
        if create_graph:
            out = _make(node.out, True, node)
            vals = args
        else:
            out = node.out
        vjps = op.vjps
        for i, need in enumerate(node.needs):
            if not need:
                continue
            gi = vjps[i](g, out, *vals, **kw) if kw else vjps[i](g, out, *vals)
            parent = args[i]
            if not create_graph and type(gi) is not _ndarray:
                gi = np.asarray(gi)
            gi = _fit(gi, parent.data.shape, parent.data.dtype, op, i)
            pnode = parent._node
            if pnode is None:
                # A leaf keeps the array only if nothing else can see it: not the
                # upstream gradient itself and not a view of another array.
                _to_leaf(leaves, parent, gi, not create_graph and gi is not g
                         and gi.base is None)
            elif pnode in pending:
                if create_graph:
                    pending[pnode] = pending[pnode] + gi
                elif pnode in owned:
                    pending[pnode] = B.acc(pending[pnode], gi)
                else:
                    pending[pnode] = pending[pnode] + gi
                    owned.add(pnode)
            else:
                pending[pnode] = gi
                push(heap, (-pnode.seq, pnode))
        if not retain:
            node.args = node.vals = node.out = None

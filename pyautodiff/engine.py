"""Recording the tape and running it backwards.

A tensor made by a recorded op points to its graph ``Node``: the op, the nodes
(or leaf tensors) of its inputs, the arrays its VJPs read and a sequence number.
Inputs are always recorded before the ops that use them, so descending sequence
numbers are a topological order: ``backward`` pops nodes from a heap in that
order, with no recursion and no sorting pass, and reaches each node only after
every consumer has sent it its gradient.
"""

import contextlib
import heapq
import threading

import numpy as np

from . import backends, memory
from .backends import numpy_backend as _small
from .tensor import Tensor, operand

_ndarray = np.ndarray
_F32 = np.dtype(np.float32)
_new = Tensor.__new__
_make = Tensor._make
_next_seq = memory.next_seq  # (node numbers and write stamps share one counter)
_lock, _lock1 = memory.lock, memory.lock1


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()
_accumulating = threading.Lock()


# ----- recording --------------------------------------------------------------

# The indices of the inputs that want a gradient, for the one- and two-input fast paths.
_ONLY_FIRST, _ONLY_SECOND, _BOTH = (0,), (1,), (0, 1)
_NO_INPUT = (None,)  # what a one-input node keeps of an input its VJP does not read


class Node:
    """One recorded call: ``op`` applied to ``args`` (the inputs' nodes, leaf
    tensors and constants) with parameters ``kw``. ``vals`` holds the input
    arrays and ``out`` the result, each only if a VJP reads it (else None);
    ``needs`` lists the inputs that want a gradient; ``shape`` and ``dtype`` are
    the result's, for fitting the gradients sent to it."""

    __slots__ = ("_args", "_kw", "_locks", "_needs", "_op", "_out", "_seq", "_vals", "dtype",
                 "shape")

    def __repr__(self):
        return f"<node {self._op.name} {self.shape} {self.dtype}>"


class _Held(list):
    """The locks (``memory.lock``'s entries) a node holds on arrays the user can reach:
    released when the backward pass frees the node (``_sweep``), or when the node, and
    with it this list, is dropped. (A list beside the node, not a node class of its own,
    so that every node is one type and the attribute stores that make one stay fast.)"""

    __slots__ = ()

    def __del__(self, release=memory.release):
        # (the default, as for c_backend._recycle: a node may die at interpreter exit)
        if self:
            release(self)


_new_node = Node.__new__


def _lockable(a, v):
    """Whether saved array ``v`` of input ``a`` is one the user can reach, and so is
    locked while its node lives: a leaf's or a constant's. (A recorded result's array
    is its own, unless it is a view: then its own node locks it, see ``_record``.)"""
    return type(v) is _ndarray and not isinstance(a, Node)


def _viewed(x, out):
    """``out`` (not recorded) is a view of ``x``'s array: when ``x`` is a result whose
    graph is live, the view is a way to its array, so that array is held."""
    n = x._node
    if n is not None and n._vals is not None:
        hold_result(x)
        memory.follow(out)


def hold_result(t):
    """Lock the array of ``t``, a result of a recorded op whose graph is live, because
    the user asked for it (``t.data``): until the node is freed or dropped."""
    n, a = t._node, t._data
    held = n._locks
    if held is None:
        n._locks = _Held(memory.lock((a,), weak=True))
    elif not any(e[3] == id(a) for e in held):
        held.extend(memory.lock((a,), weak=True))


def _record(t, out, op, args, vals, kw, needs):
    """Make ``t`` (holding ``out``) the result of a recorded call of ``op``."""
    n = _new_node(Node)
    n._op = op
    n._args = args
    keep = op.save_in
    if keep is not None:  # (parameters after the inputs are always kept)
        vals = tuple(v if k else None for v, k in zip(vals, keep)) + vals[len(keep):]
    n._vals = vals
    n._out = out if op.save_out else None
    n._kw = kw
    n._needs = needs
    n._seq = _next_seq()
    n.shape = out.shape
    n.dtype = out.dtype
    reach = [v for a, v in zip(args, vals) if _lockable(a, v)]
    if type(out.base) is _ndarray:
        reach.append(out)  # a view (of a leaf's array, say): held while the view's graph lives
    n._locks = _Held(memory.lock(reach)) if reach else None
    t._rg = True
    t._node = n
    return t


def _arg(a):
    """What a node keeps of an input: a recorded result's node, else the object itself."""
    if isinstance(a, Tensor):
        return a._node or a
    return a


def _fail(op, vals, err):
    """Re-raise a kernel's ValueError/TypeError with the op, shapes and dtypes named."""
    if str(err).startswith(op.name + ":"):
        raise err  # our own check: it already reads "op: problem ..."
    desc = ", ".join(
        f"{np.shape(v)} {getattr(v, 'dtype', type(v).__name__)}" for v in vals[: op.nin]
    )
    raise type(err)(f"{op.name}: {err} (inputs: {desc})") from None


def _wrap(out):
    """``(tensor, value)`` for a kernel's result that is not an ndarray: a numpy scalar,
    made a 0-d array."""
    out = np.asarray(out)
    t = _new(Tensor)
    t._data = out
    return t, out


def apply1(op, x):
    """Apply a one-input op with no parameters: the fast path of unary operators."""
    B = backends.common or backends.state.active
    if type(x) is Tensor or isinstance(x, Tensor):
        xd = x._data
    else:
        return apply(op, (x,), None)
    if xd.size < B.THRESHOLD or xd.dtype is _F32 and xd.size < B.THRESHOLD_F32:
        B = _small
    try:
        out = op.forward(B, xd)
    except (ValueError, TypeError) as e:
        _fail(op, (xd,), e)
    if type(out) is _ndarray:
        t = _new(Tensor)
        t._data = out
    else:
        t, out = _wrap(out)
    t._grad = None
    t._node = None
    if x._rg and _mode.enabled:
        # Recording inline, not through _record(): this is the hottest path.
        saves = op.save_in is None
        held = _lock1(xd) if saves and x._node is None else ()  # (see _lockable)
        if type(out.base) is _ndarray:  # a view (x.T): held while its graph lives
            held = (*held, *_lock1(out))
        n = _new_node(Node)
        n._locks = _Held(held) if held else None
        n._vals = (xd,) if saves else _NO_INPUT
        n._op = op
        n._args = (x._node or x,)
        n._out = out if op.save_out else None
        n._kw = None
        n._needs = _ONLY_FIRST
        n._seq = _next_seq()
        n.shape = out.shape
        n.dtype = out.dtype
        t._rg = True
        t._node = n
    else:
        t._rg = False
        if type(out.base) is _ndarray:  # (a view: x.T)
            if not out.flags.writeable:
                memory.adopt(out)
            if x._node is not None:
                _viewed(x, out)
    return t


def apply2(op, x, y):
    """Apply a two-input op with no parameters: the fast path of binary operators."""
    B = backends.common or backends.state.active
    xr = yr = False
    xa, ya = x, y  # what a node keeps: an input's node, a leaf tensor or a constant
    xl = yl = True  # whether it is a leaf or a constant (see _lockable)
    if type(x) is Tensor or isinstance(x, Tensor):
        xd = x._data
        xr = x._rg
        if x._node is not None:
            xa, xl = x._node, False
    else:
        xd = x if type(x) is float else operand(x, op.name)
    if type(y) is Tensor or isinstance(y, Tensor):
        yd = y._data
        yr = y._rg
        if y._node is not None:
            ya, yl = y._node, False
    else:
        yd = y if type(y) is float else operand(y, op.name)
    nx = xd.size if type(xd) is _ndarray else 0
    ny = yd.size if type(yd) is _ndarray else 0
    if nx < B.THRESHOLD and ny < B.THRESHOLD or (
            max(nx, ny) < B.THRESHOLD_F32 and (xd if nx >= ny else yd).dtype is _F32):
        B = _small
    try:
        out = op.forward(B, xd, yd)
    except (ValueError, TypeError) as e:
        _fail(op, (xd, yd), e)
    if type(out) is _ndarray:
        t = _new(Tensor)
        t._data = out
    else:
        t, out = _wrap(out)
    t._grad = None
    t._node = None
    if (xr or yr) and _mode.enabled:
        # Inline, as in apply1: binary operators are as hot.
        keep = op.save_in
        vals = (xd, yd) if keep is None else (xd if keep[0] else None, yd if keep[1] else None)
        lx = xl and type(vals[0]) is _ndarray  # (see _lockable)
        ly = yl and type(vals[1]) is _ndarray
        n = _new_node(Node)
        n._locks = (_Held(_lock((xd, yd)) if lx and ly else _lock1(xd if lx else yd))
                    if lx or ly else None)
        n._vals = vals
        n._op = op
        n._args = (xa, ya)
        n._out = out if op.save_out else None
        n._kw = None
        n._needs = _BOTH if xr and yr else _ONLY_FIRST if xr else _ONLY_SECOND
        n._seq = _next_seq()
        n.shape = out.shape
        n.dtype = out.dtype
        t._rg = True
        t._node = n
    else:
        t._rg = False
    return t


def apply(op, args, kw):
    """Apply ``op``: the first ``op.nin`` args are inputs, the rest are parameters."""
    nin = len(args) if op.nin is None else op.nin
    vals = list(args)
    needs = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            # A tensor parameter (a mask) is a constant: the VJPs see its array.
            vals[i] = a._data
            if a._rg and i < nin:
                needs.append(i)
        elif i < nin:
            vals[i] = operand(a, op.name)
    B = backends.common or backends.state.active
    if max((np.size(v) for v in vals[:nin]), default=0) < B.THRESHOLD:
        B = _small
    try:
        out = op.forward(B, *vals, **kw) if kw else op.forward(B, *vals)
    except (ValueError, TypeError) as e:
        _fail(op, vals, e)
    if type(out) is not _ndarray:
        out = np.asarray(out)
    elif type(out.base) is _ndarray:
        if any(type(a) is _ndarray for a in args[:nin]):
            # A view of the caller's own array (ad.reshape(a, ...)): a Tensor's in-place
            # update must not write into it, so the result gets memory of its own.
            out = out.copy()
        elif not out.flags.writeable:
            memory.adopt(out)  # a view of a locked array: writable again when it is
        if not (needs and _mode.enabled):
            for a in args[:nin]:
                if isinstance(a, Tensor) and a._node is not None:
                    _viewed(a, out)
    if needs and _mode.enabled:
        t = _make(out)
        return _record(t, out, op, tuple(_arg(a) for a in args), tuple(vals), kw, tuple(needs))
    return _make(out)


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

def _fit(K, gi, shape, dtype, op, i):
    """Sum a VJP result over the dimensions its input was broadcast along; cast its dtype.

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
        gi = K.sum(gi, axes, True).reshape(shape)
    if gi.dtype != dtype:
        gi = gi.astype(dtype)
    return gi


def _root_gradient(t, gradient, create_graph):
    if gradient is None:
        if t._data.size != 1:
            raise ValueError(
                f"backward: gradient can be omitted only for one-element tensors, "
                f"got shape {t.shape}; pass gradient= of that shape"
            )
        g = np.ones_like(t._data)
    else:
        g = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
        if g.shape != t.shape:
            raise ValueError(
                f"backward: gradient has shape {g.shape}, expected the tensor's shape {t.shape}"
            )
        if g.dtype.kind not in "biuf":
            raise TypeError(f"backward: gradient of dtype {g.dtype}, expected real numbers")
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
    if create_graph:
        if isinstance(gradient, Tensor) and gradient.dtype == t.dtype:
            return gradient
        return _make(g)
    return g


def backward(t, gradient=None, retain_graph=False, create_graph=False, inputs=None):
    """Reverse-mode pass from ``t``: see ``Tensor.backward``. ``inputs`` (leaf tensors):
    only those get gradients, and only the part of the graph that leads to them is run
    (the function transforms, which want the gradients of their own leaves only)."""
    if not t._rg:
        raise RuntimeError(
            "backward: the tensor does not require grad and has no recorded history; "
            "set requires_grad=True on an input"
        )
    g = _root_gradient(t, gradient, create_graph)
    keep = None if inputs is None or t._node is None else _toward(t._node, inputs)
    if t._node is None:
        leaves = {t: (g, False)}
    elif create_graph:
        with enable_grad():
            leaves = _sweep(t._node, g, True, True, keep)
    else:
        leaves = _sweep(t._node, g, retain_graph, False, keep)
    for leaf, (gi, owned) in leaves.items():
        # Every .grad gets storage of its own, as PyTorch's: a gradient shared
        # with another leaf or with the caller's array must be copied first.
        if create_graph:
            gi = gi if owned else gi.copy()
        else:
            gi = _make(gi if owned and type(gi) is _ndarray else np.array(gi))
        with _accumulating:  # (threads running backward into the same leaves add up)
            old = leaf._grad
            leaf._grad = gi if old is None else old + gi


def _recorded(a, value):
    """Under ``create_graph``, what a VJP gets for a node's input or output: a tensor
    of the saved ``value`` whose history is node ``a`` (or ``a`` itself, a leaf
    tensor or constant; None if nothing was saved)."""
    if not isinstance(a, Node):
        return a
    if value is None:
        return None
    t = _make(value)
    t._rg = True
    t._node = a
    return t


def _fresh(a):
    """Whether array ``a`` was made by a kernel just now: its own memory (base None),
    or a buffer from the C backend's pool (a base that is not another array)."""
    base = a.base
    return base is None or type(base) is not _ndarray


def _fused_into(K, spec, leaf, held, parent, g, out, vals, shared):
    """Add a fused VJP term into the gradient ``held`` for ``parent``, if the engine
    owns it; returns whether it did."""
    if leaf:
        dst = held[0] if held[1] else None
    else:
        dst = held if parent not in shared else None
    if type(dst) is not _ndarray:
        return False
    kernel, at = spec
    other = out if at is None else at if type(at) is float else vals[at]
    return K.acc_op(kernel, dst, g, other)


def _check_versions(node):
    """Raise if an array ``node`` saved was written in place after it was recorded."""
    for a in node._vals + (node._out,):
        if type(a) is not _ndarray:
            continue
        changed = memory.written_since(a, node._seq)
        if changed is not None:
            now, then = changed
            raise RuntimeError(
                f"backward: an array that '{node._op.name}' saved to compute its gradient "
                f"({a.shape} {a.dtype}) was modified by an in-place operation: it is at "
                f"version {now}; expected version "
                f"{then if then is not None else 'older than ' + str(now - 64)} instead. "
                "Do the in-place update (+=, t[...] = v, zero_(), an optimizer step) after "
                "backward, or compute out of place (t = t + v)"
            )


def _toward(root, inputs):
    """For a backward pass from ``root`` that wants the gradients of the leaf tensors
    ``inputs`` only: {node: the inputs of it that lead to one of them}, for every node
    that leads to one (the others are not run). A freed node is kept, so that the pass
    reaches it and says so."""
    targets = {id(a) for a in inputs}
    keep, seen = {}, set()
    stack = [(root, False)]
    while stack:  # depth first, a node after its parents (no recursion limit)
        node, parents_done = stack.pop()
        args = node._args
        if parents_done:
            needs = tuple(i for i in node._needs if (
                args[i] in keep if type(args[i]) is Node else id(args[i]) in targets))
            if needs:
                keep[node] = needs
        elif node not in seen:
            seen.add(node)
            if args is None:  # (freed by an earlier backward)
                keep[node] = node._needs
                continue
            stack.append((node, True))
            stack.extend((args[i], False) for i in node._needs
                         if type(args[i]) is Node and args[i] not in seen)
    return keep


def _sweep(root, g, retain, create_graph, keep=None):
    """Run every VJP from ``root`` down; return {leaf: (gradient, owned)}. With ``keep``
    (``_toward``), only the inputs it lists of the nodes it lists.

    A gradient is "owned" when no one else holds the array (it came fresh from a
    kernel, see _fresh), so later contributions may be added into it in place.
    Pending gradients are owned unless listed in ``shared``.
    """
    pending = {}
    shared = set()
    leaves = {}
    heap = []
    # Writes stamped after a node was recorded changed what it saved (memory.py).
    last_write = memory.last_write[0]
    # The locks of freed nodes, released together at the end (or on an error).
    unlocking = []
    try:
        pop, push = heapq.heappop, heapq.heappush
        B = backends.common or backends.state.active
        big, big32 = B.THRESHOLD, B.THRESHOLD_F32
        # The backend's kernels for a backward pass (the C backend's fuse elementwise formulas).
        KB = getattr(B, "BACKWARD", B)
        K = P
        node = root
        while True:
            vals = node._vals
            if vals is None:
                raise RuntimeError(
                    f"backward: the graph through '{node._op.name}' was already freed by an "
                    "earlier backward; pass retain_graph=True to the first backward to run "
                    "it twice"
                )
            if last_write > node._seq:
                _check_versions(node)
            op = node._op
            args, kw, vjps = node._args, node._kw, op.vjps
            if create_graph:
                vals = tuple(_recorded(a, v) for a, v in zip(args, vals))
                out = _recorded(node, node._out)
                fused = None
            else:
                out = node._out
                fused = op.fused
                # Kernels for this node's arrays: large ones go to the active backend.
                K = KB if g.size >= big and (g.dtype is not _F32 or g.size >= big32) else _small
            # In a chain each node reaches one new parent while nothing else waits:
            # that parent is next, and the heap is skipped.
            fresh = None
            for i in node._needs if keep is None else keep.get(node, ()):
                parent = args[i]
                leaf = type(parent) is not Node
                held = leaves.get(parent) if leaf else pending.get(parent)
                if held is not None and fused is not None and fused[i] is not None and _fused_into(
                        K, fused[i], leaf, held, parent, g, out, vals, shared):
                    continue
                gi = vjps[i](K, g, out, *vals, **kw) if kw else vjps[i](K, g, out, *vals)
                # The parent's shape and dtype: a node has them, a leaf's array too (as do
                # numpy scalars from 0-d results, which gi may be).
                meta = parent._data if leaf else parent
                if create_graph or gi.shape != meta.shape or gi.dtype is not meta.dtype:
                    gi = _fit(K, gi, meta.shape, meta.dtype, op, i)
                if leaf:
                    # A leaf keeps an array only if no one else can see it: not the
                    # upstream gradient itself and not a view of another array.
                    if held is None:
                        leaves[parent] = (gi, gi is not g and _fresh(gi._data if create_graph else gi))
                    elif held[1] and not create_graph:
                        leaves[parent] = (K.acc(held[0], gi), True)
                    else:
                        leaves[parent] = (K.add(held[0], gi), True)
                elif held is not None:
                    if create_graph or parent in shared:
                        pending[parent] = K.add(held, gi)
                        shared.discard(parent)
                    else:
                        pending[parent] = K.acc(held, gi)
                else:
                    pending[parent] = gi
                    if gi is g or not create_graph and type(gi.base) is _ndarray:
                        shared.add(parent)
                    if fresh is None and not heap:
                        fresh = parent
                    else:
                        push(heap, (-parent._seq, parent))
            if not retain:
                node._args = node._vals = node._out = None
                held = node._locks
                if held is not None:
                    node._locks = None
                    unlocking.extend(held)
                    held.clear()  # (nothing left to release when it dies)
            if fresh is not None:
                if heap:
                    push(heap, (-fresh._seq, fresh))
                    node = pop(heap)[1]
                else:
                    node = fresh
            elif heap:
                node = pop(heap)[1]
            else:
                if KB is not B:
                    KB.settle(leaves)
                return leaves
            g = pending.pop(node)

    finally:
        if unlocking:
            memory.release_all((unlocking,))

# Last: the ops are built on this module, and the backward pass records through them.
from .ops import P

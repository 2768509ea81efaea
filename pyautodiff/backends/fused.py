"""The C backend's fused kernels: chains of elementwise ops run as one pass.

Most VJPs are elementwise products (``g * y``, ``g * (1 - y*y)``, ``-g``...), and
eager kernels write each product to memory only for the next VJP to read it back.
Here those kernels return a ``Lazy`` value instead, an expression over arrays and
scalars. When an array is needed (by a kernel that is not elementwise, or at the
end of the pass for the leaves' gradients), the pending expressions are compiled
into one program for ``pyad_fuse_<dt>`` (csrc/fuse.c), which runs it block by
block in L1: one pass over memory for the whole backward formula, sums of
gradients over broadcast scalars included. The instructions are the binary
kernels' own expressions, so every element rounds exactly as the eager kernels
would round it; only sums differ in the order they add.

The engine uses this module as ``c_backend.BACKWARD`` (see ``engine._sweep``) and
calls ``settle`` on the leaves' gradients before it hands them out. The forward
pass is not deferred: an op's result is computed when the op is called, so it
always reads the values its inputs held then.
"""

import functools

import numpy as np

from . import c_backend as C
from . import kernels
from .c_backend import ffi, lib
from .lazy import Lazy

# Below this many elements the Python work of building and compiling expressions
# (a few microseconds per formula) costs more than the memory passes it saves.
MIN_SIZE = 1 << 16
# A larger expression is computed at once, so programs stay small and never run
# out of registers in the common case.
MAX_NODES = 32
REGS, SUMS = lib.PYAD_FUSE_REGS, lib.PYAD_FUSE_SUMS
# Whether ``mul`` hands back its other operand for a scalar 1.0. ``compile`` clears it
# while recording: that 1.0 may be read from an array (a 0-d tensor's value), which a
# replay reads again, so the product must be a step of the program.
SKIP_ONES = True
# The unary kernels the programs run (sin and cos are not among them: beyond their fast
# range they call libm, element by element).
_UNARY = ("neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "square", "tanh", "sigmoid",
          "relu", "softplus")
_OPCODE = {name: getattr(lib, f"PYAD_FUSE_{name}") for name in C._BINARY_KERNELS + _UNARY}
_OPS = frozenset(_OPCODE.values())
_LOAD, _FILL, _STORE, _SUM = (lib.PYAD_FUSE_LOAD, lib.PYAD_FUSE_FILL, lib.PYAD_FUSE_STORE,
                              lib.PYAD_FUSE_SUM)
_RUN = {C._F32: lib.pyad_fuse_f32, C._F64: lib.pyad_fuse_f64}
_ndarray = np.ndarray


def _real(a):
    return a.force() if type(a) is Lazy else a


def _big(a):
    """Whether ``a`` gives an expression its shape: a Lazy value or a large array."""
    return type(a) is Lazy or (type(a) is _ndarray and a.size >= MIN_SIZE and a.dtype in _RUN)


def _operand(a, shape, dtype):
    """``a`` as an argument of an expression of ``shape`` and ``dtype``: a Lazy value,
    a contiguous array or a float (a scalar, or one value broadcast to ``shape``);
    None when it cannot be one."""
    if type(a) is Lazy:
        if a.op == "sum":  # a finished sum is a scalar of the next pass
            return a.force().item() if a.dtype == dtype else None
        return a if a.shape == shape and a.dtype == dtype else None
    if type(a) is float or type(a) is int:  # (weak: it takes the expression's dtype)
        return float(a)
    if isinstance(a, np.generic):
        return a.item() if a.dtype == dtype else None
    if type(a) is not _ndarray or a.dtype != dtype:
        return None
    if a.shape == shape:
        if C._in_place(a):
            return a
        if a.size and not any(a.strides):  # one value broadcast: a sum's gradient
            return a.flat[0].item()
    elif a.size == 1 and a.ndim <= len(shape):  # 0-d, or (1,) against (N, 1)
        return a.item()
    return None


def _lazy(op, args, like):
    """The Lazy ``op(*args)`` shaped like ``like``, or its value if it grew too big."""
    out = Lazy(op, args, like.shape, like.dtype)
    if out.nodes > MAX_NODES:
        return out.force()
    return out


# (The eager kernels are looked up in ``C`` at each call: ``compile`` records the kernels
# run here through a stand-in for ``C``.)
def _binary(name):
    def kernel(x, y):
        like = x if _big(x) else y if _big(y) else None
        if like is not None:
            a, b = _operand(x, like.shape, like.dtype), _operand(y, like.shape, like.dtype)
            if a is not None and b is not None and not (name == "relu_grad" and type(a) is float):
                if name == "mul" and SKIP_ONES and (a == 1.0 if type(a) is float
                                                    else type(b) is float and b == 1.0):
                    # 1.0 * y is y to the bit (NaN, inf and -0.0 included): no work. An
                    # array comes back as a read-only view, which the engine never hands
                    # out as a gradient without copying it (engine._fresh).
                    other = b if type(a) is float else a
                    if type(other) is Lazy:
                        return other
                    if type(other) is _ndarray:
                        view = other.view()
                        view.flags.writeable = False
                        return view
                    return getattr(C, name)(x, y)
                return _lazy(name, (a, b), like)
        return getattr(C, name)(_real(x), _real(y))

    kernel.__name__ = name
    kernel.__doc__ = f"``{name}``, deferred into a fused program for large operands."
    return kernel


add, sub, mul, div = _binary("add"), _binary("sub"), _binary("mul"), _binary("div")
maximum, minimum = _binary("maximum"), _binary("minimum")
tanh_grad, sigmoid_grad = _binary("tanh_grad"), _binary("sigmoid_grad")
square_grad, relu_grad = _binary("square_grad"), _binary("relu_grad")


def _unary(name):
    def kernel(x):
        if _big(x):
            a = _operand(x, x.shape, x.dtype)
            if a is not None and type(a) is not float:
                return _lazy(name, (a,), x)
        return getattr(C, name)(_real(x))

    kernel.__name__ = name
    kernel.__doc__ = f"``{name}``, deferred into a fused program for large operands."
    return kernel


for _name in _UNARY:
    globals()[_name] = _unary(_name)


def acc(dst, src):
    """dst + src, where ``dst`` belongs to the engine: the sum is deferred and, when
    ``dst`` is an array, later written into it."""
    if type(dst) is not Lazy and type(src) is not Lazy:
        return C.acc(dst, src)
    like = dst if type(dst) is Lazy else src
    a, b = _operand(dst, like.shape, like.dtype), _operand(src, like.shape, like.dtype)
    if a is None or b is None or type(a) is float:
        return C.acc(_real(dst), _real(src)) if type(dst) is _ndarray else add(dst, src)
    out = _lazy("add", (a, b), like)
    if type(out) is Lazy and type(a) is _ndarray:
        out.into = a
    return out


def acc_op(kernel, dst, x, y):
    """dst += <kernel>(x, y) in place when nothing is deferred (else the engine
    computes the term and calls ``acc``)."""
    if type(x) is Lazy or type(y) is Lazy:
        return False
    return C.acc_op(kernel, dst, x, y)


def sum(x, axis=None, keepdims=False):
    """The sum over all axes stays deferred (it joins the pass that computes ``x``)."""
    if type(x) is Lazy and (axis is None or len(axis) == x.ndim):
        return Lazy("sum", (x,), (1,) * x.ndim if keepdims else (), x.dtype)
    return C.sum(_real(x), axis, keepdims)


def vdot(x, y):
    """The sum of ``x * y``, deferred like ``sum``."""
    term = mul(x, y)
    if type(term) is Lazy:
        return Lazy("sum", (term,), (), term.dtype)
    return C.vdot(_real(x), _real(y))


def _computing(name):
    @functools.wraps(getattr(C, name))
    def kernel(*args, **kw):
        return getattr(C, name)(*[_real(a) for a in args],
                                **{k: _real(v) for k, v in kw.items()})

    return kernel


for _name in kernels.KERNELS:
    if _name not in globals():
        globals()[_name] = _computing(_name)


def settle(leaves):
    """Compute every deferred gradient in ``leaves`` ({leaf: (gradient, owned)}), in
    as few passes as their sizes allow; a computed gradient is the engine's own."""
    pending = [g for g, _ in leaves.values() if type(g) is Lazy and g.value is None]
    if pending:
        _evaluate(pending)
    for leaf, (g, owned) in leaves.items():
        if type(g) is Lazy:
            leaves[leaf] = (g.value, True)


# ----- compiling and running programs -------------------------------------------------------

class _OutOfRegisters(Exception):
    pass


class Registers:
    """The register file of one program being compiled: ``reg`` maps a live value (by a
    key of the caller's) to its register; ``uses`` counts the reads left of each key,
    and a register comes free when they reach 0. ``alloc(at)`` raises
    ``_OutOfRegisters(at)`` when none is free (``at``: where, for the caller)."""

    def __init__(self, uses):
        self.uses = uses
        self.reg = {}
        self.free = list(range(REGS - 1, -1, -1))

    def alloc(self, at=None):
        if not self.free:
            raise _OutOfRegisters(at)
        return self.free.pop()

    def release(self, r, key):
        """One read of register ``r`` done: ``key`` None for a scalar's own register."""
        if key is None:
            self.free.append(r)
            return
        self.uses[key] -= 1
        if self.uses[key] == 0:
            self.free.append(self.reg.pop(key))


def _evaluate(sinks):
    """Compute the Lazy ``sinks``: one program per element count and dtype."""
    groups = {}
    for s in {id(s): s for s in sinks}.values():  # (two leaves may hold one gradient)
        if s.value is None:
            n = s.args[0].size if s.op == "sum" else s.size
            groups.setdefault((n, s.dtype), []).append(s)
    for (n, dtype), group in groups.items():
        _run(group, n, dtype)


def _run(sinks, n, dtype):
    sums = [s for s in sinks if s.op == "sum"]
    if len(sums) > SUMS:
        _run(sinks[: len(sinks) // 2], n, dtype)
        _run(sinks[len(sinks) // 2:], n, dtype)
        return
    try:
        prog, arrays, scalars, outs = _compile(sinks, dtype)
    except _OutOfRegisters:
        if len(sinks) > 1:
            half = len(sinks) // 2
            _run(sinks[:half], n, dtype)
            _run(sinks[half:], n, dtype)
        else:
            for a in sinks[0].args:  # compute the arguments first, then this one
                if type(a) is Lazy:
                    a.force()
            _run(sinks, n, dtype)
        return
    for s, total in zip(sums, _launch(n, dtype, prog, arrays, scalars, len(sums))):
        s.done(total.reshape(s.shape))
    for s, out in outs.items():
        s.done(out)


def _launch(n, dtype, prog, arrays, scalars, nsums):
    """Run the checked program ``prog`` (``_compile``) over ``n`` elements of ``arrays``
    (its STOREs write into some of them) with ``scalars``; returns its ``nsums`` sums,
    as 0-d arrays of ``dtype``. (``compile`` wraps it while recording: each launch a
    step of its program.)"""
    totals = ffi.new("double[]", SUMS)
    _RUN[dtype](n, ffi.new("pyad_ins[]", prog), len(prog),
                ffi.new("void *[]", [C._buf(a) for a in arrays]),
                ffi.new("double[]", scalars or [0.0]), totals)
    return [np.array(totals[j], dtype=dtype) for j in range(nsums)]


def _compile(sinks, dtype):
    """The program computing ``sinks``: (instructions, arrays, scalars, {expression:
    output}), the outputs of the sinks."""
    # Post-order of the expressions to compute (an explicit stack: a recursive
    # closure would be a reference cycle keeping every array alive until gc runs).
    order, uses, seen = [], {}, set()
    for s in sinks:
        stack = [(s, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for a in node.args:
                if type(a) is float:
                    continue
                if type(a) is Lazy and a.value is None:
                    stack.append((a, False))
                    key = id(a)
                else:
                    key = id(a.value if type(a) is Lazy else a)
                uses[key] = uses.get(key, 0) + 1
        uses[id(s)] = uses.get(id(s), 0) + 1  # kept to the end, for its STORE
    regs = Registers(uses)
    reg, alloc, release = regs.reg, regs.alloc, regs.release
    index = {}
    prog, arrays, scalars = [], [], []

    def operand(a):
        if type(a) is float:
            r = alloc()
            prog.append((_FILL, r, len(scalars), 0))
            scalars.append(a)
            return r, None
        if type(a) is Lazy and a.value is None:
            return reg[id(a)], id(a)
        arr = a.value if type(a) is Lazy else a
        if type(arr) is not _ndarray or arr.dtype != dtype or not C._in_place(arr):
            raise TypeError(f"fused: operand {type(arr).__name__} cannot be read in place")
        key = id(arr)
        if key not in reg:
            reg[key] = alloc()
            index[key] = len(arrays)
            arrays.append(arr)
            prog.append((_LOAD, reg[key], index[key], 0))
        return reg[key], key

    def store(node, out):
        if out is None:  # (c_backend._empty reads only shape, dtype and nbytes)
            out = C._empty(node) if node.nbytes >= C.POOL_MIN else np.empty(node.shape, dtype)
        outs[node] = out
        prog.append((_STORE, len(arrays), reg[id(node)], 0))
        arrays.append(out)

    nsum = 0
    outs = {}
    for node in order:
        ops = [operand(a) for a in node.args]
        if node.op == "sum":
            prog.append((_SUM, nsum, ops[0][0], 0))
            nsum += 1
        else:
            # the result's register is taken before the operands' are freed: dst
            # never aliases an operand (the kernel's loops are restrict)
            d = alloc()
            prog.append((_OPCODE[node.op], d, ops[0][0], ops[-1][0]))
            reg[id(node)] = d
        for r, key in ops:
            release(r, key)
    for s in sinks:
        if s.op != "sum":
            store(s, s.into)
    _check(prog, len(arrays), len(scalars))
    return prog, arrays, scalars, outs


def _check(prog, narrays, nscalars):
    """Raise unless every field of every instruction is an index of the kind its op
    names, within the C kernel's own limits (the contract of pyad_fuse_<dt> in
    csrc/pyad.h): C trusts them, so a compiler bug must stop here, not index past an
    array."""
    regs, sums = lib.PYAD_FUSE_REGS, lib.PYAD_FUSE_SUMS
    for ins in prog:
        op, dst, a, b = ins
        if op == _LOAD:
            ok = 0 <= dst < regs and 0 <= a < narrays
        elif op == _FILL:
            ok = 0 <= dst < regs and 0 <= a < nscalars
        elif op == _STORE:
            ok = 0 <= dst < narrays and 0 <= a < regs
        elif op == _SUM:
            ok = 0 <= dst < sums and 0 <= a < regs
        else:
            ok = (op in _OPS and 0 <= dst < regs and 0 <= a < regs and 0 <= b < regs
                  and dst != a and dst != b)
        if not ok:
            raise RuntimeError(
                f"fused: instruction {ins} is outside the limits of pyad_fuse ({regs} "
                f"registers, {sums} sums, {narrays} arrays, {nscalars} scalars)")

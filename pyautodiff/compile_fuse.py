"""Fused C calls in ``compile``: runs of recorded elementwise kernels lowered to one
call each, and the fused backward pass's own programs recorded and replayed.

``compile``'s lowering (``_lower``) turns each recorded kernel call into one call of
the generated function. On the C backend, a run of consecutive elementwise calls of
one shape and dtype can instead be one call of ``pyad_fuse_<dt>`` (csrc/fuse.c), the
register machine of the fused backward pass: it runs the whole run block by block in
cache, writing to memory only the results something after the run reads (or returns).
At small sizes that turns many calls into one; at large ones, many passes over memory
into one.

A replay must equal the eager run bit for bit, so a call joins a run only where
fuse.c's instruction computes each element with the very operations the recorded
kernel did:

- IEEE arithmetic, ``sqrt``, ``abs``, ``neg``, ``square``, ``maximum``/``minimum``/``relu``
  and the backward formulas ``*_grad`` are the same expressions in numpy and in C
  (``PYAD_BINARY_OPS``, written in numpy's order), whichever of the two ran them;
- ``exp``, ``tanh``, ``log``... are vmath.h's polynomials in C and libm's or numpy's
  loops in numpy: they join a run only where the C backend's kernel ran its C loop
  (the same loop fuse.c runs on each block), never numpy's;
- sums are left alone: fuse.c's ``SUM`` adds in another order than the sum kernels.

Operands: arrays of the run's shape and dtype, contiguous and aligned, whose buffer is
the same at every call (arguments, captured arrays, results of the lowering's own
buffers: ``fixed``), results of earlier calls of the run, and scalars: numbers, and
arrays of one element (or one value broadcast) of the run's dtype, read at each call.

The backward pass of the C backend (``backends/fused.py``) runs its elementwise formulas
as fused programs whose sums add in fuse.c's order. While ``compile`` records, that pass
runs as it does eagerly (``_recording``), and each program it launches becomes one step
of the recording (``Launch``), replayed with the same instructions on the same buffers:
so a replay's gradients, sums over broadcast scalars included, are eager's bits.
"""

import contextlib
import functools
import threading
import types

import numpy as np

from .backends import c_backend as C
from .backends import fused, numpy_backend
from .backends.c_backend import ffi
from .backends.lazy import Lazy
from .compile_passes import _defines, _reads, _spec_slots

_ndarray = np.ndarray
# Kernels computed alike by every path (see the module's docstring), by fuse.c's names.
_EXACT = ("add", "sub", "mul", "div", "maximum", "minimum", "neg", "abs", "sqrt", "square",
          "relu", "tanh_grad", "sigmoid_grad", "square_grad", "relu_grad")
# Kernels fused only where c_backend ran C: {name: (its THRESHOLD scale, dtypes)}, as
# c_backend sets them up (a test runs each one on both sides of its threshold).
_C_ONLY = {"exp": (1, (C._F32, C._F64)), "sigmoid": (1, (C._F32, C._F64)),
           "softplus": (1, (C._F32, C._F64)), "log": (C.CHEAP, (C._F32, C._F64)),
           "log1p": (C.CHEAP, (C._F32, C._F64)), "expm1": (C.CHEAP, (C._F32, C._F64)),
           "tanh": (1, (C._F64,))}
_UNARY = frozenset(fused._UNARY)
_NUMPY = {getattr(numpy_backend, n): n for n in _EXACT}
_C = {getattr(C, n): n for n in _EXACT + tuple(_C_ONLY)}


def _name_of(f, n, dtype):
    """fuse.c's name for recorded kernel ``f`` on ``n``-element contiguous operands of
    ``dtype``, or None if it cannot join a run."""
    name = _NUMPY.get(f)
    if name is not None:
        return name
    name = _C.get(f)
    if name in _C_ONLY:
        scale, dtypes = _C_ONLY[name]
        if n < scale * C.THRESHOLD or dtype not in dtypes:
            return None  # (c_backend handed it to numpy's loop)
    return name


class Fuser:
    """Finds and lowers the runs of ``prog`` (a ``compile._Program``), as ``_lower``
    walks its instructions (``at``).

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> x0 = np.linspace(0.0, 1.0, 5)
    >>> step = ad.compile(lambda x: (x * 2.0 + 1.0) * x - 0.5)  # (one run of 3 calls)
    >>> with ad.use_backend("c"):
    ...     outs = [step(ad.tensor(x0)) for _ in range(3)]  # record, check, replay
    >>> outs[2].numpy().tolist() == ((x0 * 2.0 + 1.0) * x0 - 0.5).tolist()
    True
    """

    def __init__(self, prog, slot_type):
        self.prog = prog
        self.Slot = slot_type
        end = len(prog.prog)
        # slot -> index of the last instruction reading it (the outputs: end)
        self.last = dict.fromkeys(_spec_slots(prog.out_spec), end)
        # slot -> index of the instruction making it (the inputs: -1)
        self.first = dict.fromkeys([k for k, _ in prog.arg_slots + prog.entry_grads
                                    + prog.live], -1)
        # slot -> the instructions reading it (an output: read by None too)
        self.readers = {k: [None] for k in self.last}
        for i, ins in enumerate(prog.prog):
            for k in _reads(ins):
                self.last[k] = max(self.last.get(k, -1), i)
                self.readers.setdefault(k, []).append(i)
            made = _defines(ins)
            if made is not None:
                self.first.setdefault(made, i)

    def at(self, i, fixed, ns, const, lines):
        """Lower the longest run starting at instruction ``i``: returns how many
        instructions it took (0: none, ``_lower`` goes on with instruction ``i``)."""
        prog = self.prog.prog
        ins = prog[i]
        if ins[0] != "call" or type(ins[4]) is not self.Slot:
            return 0
        shape, dtype = self.prog.meta[ins[4]][:2]
        run, temps = [], set()
        while i + len(run) < len(prog):
            op = self._op(i + len(run), fixed, temps, shape, dtype)
            if op is None:
                break
            run.append(op)
            temps.add(op[2])
        # (one call of the C backend's, into a buffer of its own, still saves the
        # allocation; one of numpy's the lowering already writes into one)
        shortest = 1 if ins[1] in _C else 2
        while len(run) >= shortest:
            try:
                self._emit(run, i + len(run), shape, dtype, fixed, ns, const, lines)
            except fused._OutOfRegisters as e:
                run = run[: e.args[0]]
                continue
            return len(run)
        return self._numpy(i, fixed, ns, const, lines)

    def launch(self, i, fixed, ns, const, moved):
        """The lines of instruction ``i``, a program of the fused backward pass
        (``Launch``). A new array of it that only a ``copy`` reads (a leaf's gradient,
        copied into its ``.grad``) is made at each call instead of once, and put in
        ``moved``: the copy may take it as it is."""
        _, step, refs, _, o = self.prog.prog[i]
        prog = self.prog.prog
        once = {k for k in (o if type(o) is tuple else (o,))
                if [prog[j][0] for j in self.readers.get(k, ())] == ["copy"]}
        return step.lower(refs, o, fixed, ns, const, self.Slot, once, moved)

    def _numpy(self, i, fixed, ns, const, lines):
        """A kernel of the C backend that handed its operand to numpy's ufunc (below its
        threshold), lowered into a buffer of its own as ``_lower`` does numpy's: so
        that a run after it reads a fixed buffer. Returns 1, or 0: not such a call."""
        _, f, refs, krefs, o = self.prog.prog[i]
        name = _C.get(f)
        u = getattr(numpy_backend, name, None) if name in _C_ONLY else None
        x = fixed.get(refs[0]) if len(refs) == 1 and type(refs[0]) is self.Slot else None
        if (type(u) is not np.ufunc or x is None or krefs or o in fixed
                or self.first.get(o) != i or self.prog.meta[o][:2] != (x.shape, x.dtype)
                or not self.prog.meta[o][3] or _name_of(f, x.size, x.dtype) is not None):
            return 0
        fixed[o] = ns[f"s{o}"] = np.empty(x.shape, x.dtype)
        lines.append(f"{const(u)}(s{refs[0]}, s{o})")  # (out positional: faster)
        return 1

    def _op(self, i, fixed, temps, shape, dtype):
        """``(name, operands, output slot)`` of instruction ``i`` if it can join a run of
        ``shape`` and ``dtype``, else None."""
        ins = self.prog.prog[i]
        if ins[0] != "call":
            return None
        _, f, refs, krefs, o = ins
        if (krefs or type(o) is not self.Slot or self.first.get(o) != i or o in fixed
                or len(refs) not in (1, 2)):
            return None
        meta = self.prog.meta[o]
        if meta[:2] != (shape, dtype) or not meta[3] or dtype not in fused._RUN:
            return None
        name = _name_of(f, int(np.prod(shape)), dtype)
        if name is None or (name in _UNARY) != (len(refs) == 1):
            return None
        ops = [self._operand(r, fixed, temps, shape, dtype) for r in refs]
        if any(a is None for a in ops) or ops[0][0] not in ("reg", "arr") and (
                len(ops) == 1 or ops[1][0] not in ("reg", "arr")):
            return None  # (an array of the run's shape gives the result its shape)
        if name.endswith("_grad") and any(a[0] not in ("reg", "arr") for a in ops):
            return None  # (relu_grad takes its dtype from g: keep to arrays)
        return name, ops, o

    def _operand(self, r, fixed, temps, shape, dtype):
        """("reg", slot) a result of the run, ("arr", array) an array read in place,
        ("const", float), ("rt", slot) a scalar read at each call; None: cannot."""
        if type(r) is self.Slot:
            if r in temps:
                return "reg", r
            a = fixed.get(r)
            if a is not None and a.shape == shape and a.dtype == dtype and C._in_place(a):
                return "arr", a
            s, dt, strides, _ = self.prog.meta[r]
            if dt == dtype and _scalar_shape(s, strides, shape):
                return "rt", r
            return None
        if type(r) is float or (type(r) is int and abs(r) <= 2**53):
            return "const", float(r)
        if isinstance(r, (np.generic, _ndarray)) and r.dtype == dtype:
            if _scalar_shape(r.shape, r.strides, shape):
                return "const", r.flat[0].item()
            if type(r) is _ndarray and r.shape == shape and C._in_place(r):
                return "arr", r
        return None

    def _emit(self, run, end, shape, dtype, fixed, ns, const, lines):
        """The fused program of ``run`` (ending before instruction ``end``), its buffers
        and the lines calling it; raises ``_OutOfRegisters(j)`` if its call ``j`` finds
        no free register."""
        uses = {}
        for _, ops, _ in run:
            for kind, v in ops:
                if kind in ("reg", "arr"):
                    key = v if kind == "reg" else id(v)
                    uses[key] = uses.get(key, 0) + 1
        registers = fused.Registers(uses)
        reg, alloc, release = registers.reg, registers.alloc, registers.release
        code, arrays, scalars, runtime, outs = [], [], [], [], {}

        for j, (name, ops, o) in enumerate(run):
            regs = []
            for kind, v in ops:
                if kind == "reg":
                    regs.append((reg[v], v))
                elif kind == "arr":
                    if id(v) not in reg:
                        reg[id(v)] = alloc(j)
                        code.append((fused._LOAD, reg[id(v)], len(arrays), 0))
                        arrays.append(v)
                    regs.append((reg[id(v)], id(v)))
                else:  # a scalar: filled into a register of its own
                    if kind == "rt":
                        runtime.append((len(scalars), v))
                    r = alloc(j)
                    code.append((fused._FILL, r, len(scalars), 0))
                    scalars.append(v if kind == "const" else 0.0)
                    regs.append((r, None))
            d = alloc(j)  # (before the operands are freed: dst never aliases them)
            code.append((fused._OPCODE[name], d, regs[0][0], regs[-1][0]))
            reg[o] = d
            for r, key in regs:
                release(r, key)
            if self.last.get(o, -1) >= end:  # read after the run: written to memory
                outs[o] = np.empty(shape, dtype)
                code.append((fused._STORE, len(arrays), d, 0))
                arrays.append(outs[o])
            if uses.get(o, 0) == 0:
                registers.free.append(reg.pop(o))
        fused._check(code, len(arrays), len(scalars))
        bufs = [C._buf(a) for a in arrays]  # (each keeps its array alive)
        sc = ffi.new("double[]", scalars or [0.0])
        args = (ffi.new("pyad_ins[]", code), len(code), ffi.new("void *[]", bufs), sc,
                ffi.new("double[]", fused.SUMS))
        const(bufs)
        s = const(sc)
        lines += [f"{s}[{j}] = s{k}.item(0)" for j, k in runtime]
        lines.append(f"{const(fused._RUN[dtype])}({int(np.prod(shape))}, "
                     + ", ".join(map(const, args)) + ")")
        for o, buf in outs.items():
            fixed[o] = ns[f"s{o}"] = buf


def _scalar_shape(s, strides, shape):
    """Whether an array of shape ``s`` and ``strides`` is one value against ``shape``."""
    n = int(np.prod(s))
    return (n == 1 and len(s) <= len(shape)) or (s == shape and n > 0 and not any(strides))


# ----- the fused backward pass, recorded ------------------------------------------------------

_launch = fused._launch  # (the real one: a replay inside another recording is not recorded)
_STORE = fused._STORE


class Launch:
    """A program the fused backward pass ran while ``compile`` recorded, as the callable
    of a step ``("call", launch, refs, None, o)``: ``refs`` are the slots of the arrays it
    reads or writes in place, then those of the arrays its runtime scalars are read from;
    ``o`` the slots of the arrays it writes anew, then of its sums (a tuple; one slot
    when it makes one array). Called with the operands' arrays, it returns those of ``o``
    (``_interpret``); ``lower`` gives the lines of a lowered replay. ``pure``: it writes
    into no operand (``compile_passes`` may fold it or drop it).

    ``plan``: for each array of the program, operand ``j >= 0`` or new array ``-1 - j``
    (of ``shapes[j]``); ``scalars``: for each scalar, ``(value, None)`` a constant, or
    ``(value, j)`` read from operand ``j`` at each call.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> x = ad.tensor(np.linspace(-1.0, 1.0, 2**16), requires_grad=True)
    >>> a = ad.tensor(0.5, requires_grad=True)  # (its gradient: a sum of the program)
    >>> @ad.compile
    ... def step():
    ...     x.grad = a.grad = None
    ...     (ad.tanh(a * x) * x).sum().backward()
    >>> with ad.use_backend("c"):
    ...     _ = [step() for _ in range(3)]  # record, check, replay
    >>> prog = next(iter(step._cache.values())).prog
    >>> [type(ins[1]).__name__ for ins in prog].count("Launch"), step.cache_info().eager
    (1, 0)
    """

    def __init__(self, n, dtype, code, plan, scalars, shapes, nsums):
        self.n, self.dtype, self.code, self.nsums = n, dtype, code, nsums
        self.plan, self.scalars, self.shapes = plan, scalars, shapes
        stored = {ins[1] for ins in code if ins[0] == _STORE}
        self.written = {j for i, j in enumerate(plan) if i in stored and j >= 0}
        self.pure = not self.written
        self.single = len(shapes) + nsums == 1

    def step(self, refs, outs):
        """The program step running this launch."""
        return ("call", self, tuple(refs), None, outs[0] if self.single else tuple(outs))

    def _check(self, a, j):
        """Raise unless operand ``j`` can be an array of the program (C checks nothing)."""
        if not (type(a) is _ndarray and a.dtype == self.dtype and a.size == self.n
                and C._in_place(a) and (j not in self.written or a.flags.writeable)):
            raise RuntimeError(f"compile: replay diverged at a fused backward program "
                               f"(operand {j}: {getattr(a, 'shape', a)})")
        return a

    def __call__(self, *ops):
        arrays, new = [], []
        for j in self.plan:
            if j < 0:
                new.append(np.empty(self.shapes[-1 - j], self.dtype))
                arrays.append(new[-1])
            else:
                arrays.append(self._check(ops[j], j))
        scalars = [v if j is None else ops[j].item(0) for v, j in self.scalars]
        out = (*new, *_launch(self.n, self.dtype, self.code, arrays, scalars, self.nsums))
        return out[0] if self.single else out

    def lower(self, refs, o, fixed, ns, const, slot_type, copied=(), moved=None):
        """The lines running this step in ``compile._lower``: the instructions, the
        pointers of fixed arrays and the new arrays (fixed buffers) made here, once; at
        each call, the pointers of other operands (checked) and the runtime scalars
        filled in, one C call, and the sums written into 0-d buffers. A new array
        whose slot is in ``copied`` is made at each call instead (from the C backend's
        pool), and ``moved`` maps its slot to an array laid out as it is."""
        outs = (o,) if self.single else o
        lines = []
        ptrs = ffi.new("void *[]", len(self.plan))
        keep = []  # (the cdata of each pointer's buffer, alive with the program)
        p = const(ptrs)
        for i, j in enumerate(self.plan):
            if j < 0:
                k, shape = outs[-1 - j], self.shapes[-1 - j]
                a = np.empty(shape, self.dtype)
                if k in copied:
                    moved[k] = a
                    like = types.SimpleNamespace(shape=shape, dtype=self.dtype, nbytes=a.nbytes)
                    make = (functools.partial(C._empty, like) if a.nbytes >= C.POOL_MIN
                            else functools.partial(np.empty, shape, self.dtype))
                    lines.append(f"s{k} = {const(make)}()")
                    lines.append(f"{p}[{i}] = _b{i} = {const(C._buf)}(s{k})")
                    continue
                fixed[k] = ns[f"s{k}"] = a
            else:
                r = refs[j]
                a = fixed.get(r) if type(r) is slot_type else r  # (else: folded)
                if a is None:
                    lines.append(f"{p}[{i}] = _b{i} = {const(C._buf)}("
                                 f"{const(self._check)}(s{r}, {j}))")
                    continue
                self._check(a, j)
            keep.append(C._buf(a))
            ptrs[i] = keep[-1]
        const(keep)
        runtime = {i for i, (_, j) in enumerate(self.scalars)
                   if j is not None and type(refs[j]) is slot_type}
        values = [v if j is None or i in runtime else refs[j].item(0)
                  for i, (v, j) in enumerate(self.scalars)]
        sc = ffi.new("double[]", values or [0.0])
        c = const(sc)
        lines += [f"{c}[{i}] = s{refs[self.scalars[i][1]]}.item(0)" for i in sorted(runtime)]
        code = _without_ones(self.code, {i for i, v in enumerate(values)
                                         if i not in runtime and v == 1.0})
        fused._check(code, len(self.plan), len(values))
        totals = ffi.new("double[]", fused.SUMS)
        args = (ffi.new("pyad_ins[]", code), len(code), ptrs, sc, totals)
        lines.append(f"{const(fused._RUN[self.dtype])}({self.n}, "
                     + ", ".join(map(const, args)) + ")")
        t = const(totals)
        for m, k in enumerate(outs[len(self.shapes):]):
            fixed[k] = ns[f"s{k}"] = np.empty((), self.dtype)
            lines.append(f"s{k}[()] = {t}[{m}]")  # (rounded to dtype as np.array rounds)
        return lines


def _without_ones(code, ones):
    """Program ``code`` without its products by a register filled with scalar 1.0 (``ones``:
    those scalars' indices), as the eager pass skips them (a recording keeps them, see
    ``fused.SKIP_ONES``): a later read of the product reads the other operand instead,
    where that register holds it until the product's last read. 1.0 * y is y to the bit.

    Examples
    --------
    >>> from pyautodiff.backends import fused
    >>> LOAD, FILL, MUL, STORE = fused._LOAD, fused._FILL, fused._OPCODE["mul"], fused._STORE
    >>> code = [(LOAD, 0, 0, 0), (FILL, 1, 0, 0), (MUL, 2, 1, 0), (STORE, 1, 2, 0)]
    >>> _without_ones(code, {0}) == [(LOAD, 0, 0, 0), (STORE, 1, 0, 0)]
    True
    """
    code, filled, k = list(code), {}, 0  # filled: register -> the scalar it holds
    while k < len(code):
        op, d, a, b = code[k]
        if op == _MUL and (filled.get(a) in ones or filled.get(b) in ones):
            x = a if filled.get(b) in ones else b
            if _keeps(code, k, d, x):
                code[k + 1:] = _renamed(code[k + 1:], d, x)
                del code[k]
                filled.pop(d, None)
                continue
        if op == fused._FILL:
            filled[d] = a
        elif _sets(code[k]) is not None:
            filled.pop(d, None)
        k += 1
    return [ins for k, ins in enumerate(code)  # (and the fills no one reads any more)
            if ins[0] != fused._FILL or _live(code, k + 1, ins[1])]


_MUL = fused._OPCODE["mul"]


def _uses(ins):
    """The registers instruction ``ins`` reads (a STORE's and a SUM's ``a``, an op's
    ``a`` and ``b``)."""
    op = ins[0]
    if op in (fused._LOAD, fused._FILL):
        return ()
    if op in (_STORE, fused._SUM):
        return (ins[2],)
    return (ins[2], ins[3])


def _sets(ins):
    """The register instruction ``ins`` writes, or None (a STORE, a SUM)."""
    return None if ins[0] in (_STORE, fused._SUM) else ins[1]


def _live(code, start, r):
    """Whether the value register ``r`` holds at ``code[start]`` is read (before ``r`` is
    written anew: an instruction reads its operands before it writes)."""
    for ins in code[start:]:
        if r in _uses(ins):
            return True
        if _sets(ins) == r:
            return False
    return False


def _keeps(code, k, d, x):
    """Whether register ``x`` keeps its value through every read of the value that
    ``code[k]`` writes into register ``d``."""
    for i in range(k + 1, len(code)):
        w = _sets(code[i])
        if w == x:
            return not _live(code, i, d)
        if w == d:
            return True
    return True


def _renamed(code, d, x):
    """``code`` reading register ``x`` where it reads ``d``, up to ``d``'s next write."""
    out = []
    for i, ins in enumerate(code):
        if _sets(ins) == d:
            return out + code[i:]
        op, dst, a, b = ins
        if op in (_STORE, fused._SUM):
            ins = (op, dst, x if a == d else a, b)
        elif op not in (fused._LOAD, fused._FILL):
            ins = (op, dst, x if a == d else a, x if b == d else b)
        out.append(ins)
    return out


@contextlib.contextmanager
def _recording(rec, c):
    """While ``compile``'s recorder ``rec`` records in this thread: the fused backward
    pass runs its eager kernels through ``c`` (a recording stand-in for the C backend),
    each program it launches becomes a ``Launch`` step, and a scalar it reads from an
    array (a 0-d gradient, a sum) is read from that array's slot at each replay. A
    scalar 1.0 no longer skips its product (``fused.SKIP_ONES``): it may be such a value."""
    real_c, real_launch, real_operand = fused.C, fused._launch, fused._operand
    thread = rec.thread
    sources = {}  # id(a scalar read from an array) -> (the scalar, that array's slot)

    def operand(a, shape, dtype):
        v = real_operand(a, shape, dtype)
        if type(v) is float and threading.get_ident() == thread:
            arr = a.value if type(a) is Lazy else a
            if type(arr) is _ndarray:
                sources[id(v)] = v, rec.ref(arr, "the fused backward pass")
        return v

    def launch(n, dtype, code, arrays, scalars, nsums):
        if threading.get_ident() != thread:
            return real_launch(n, dtype, code, arrays, scalars, nsums)
        stored = {ins[1] for ins in code if ins[0] == _STORE}
        refs, plan, new = [], [], []
        for i, a in enumerate(arrays):
            if i in stored and id(a) not in rec.slot and type(a.base) is not _ndarray:
                plan.append(-1 - len(new))  # (a result of its own, not a slot's memory)
                new.append(a)
            else:
                plan.append(len(refs))
                refs.append(rec.ref(a, "the fused backward pass"))
        plan_scalars = []
        for v in scalars:
            k = sources.get(id(v), (None, None))[1]
            plan_scalars.append((v, None if k is None else len(refs)))
            if k is not None:
                refs.append(k)
        sums = real_launch(n, dtype, code, arrays, scalars, nsums)
        step = Launch(n, dtype, code, plan, plan_scalars, [a.shape for a in new], nsums)
        rec.prog.append(step.step(refs, [rec.new(a) for a in new + sums]))
        return sums

    skip = fused.SKIP_ONES
    fused.C, fused._launch, fused._operand, fused.SKIP_ONES = c, launch, operand, False
    try:
        yield
    finally:
        fused.C, fused._launch, fused._operand = real_c, real_launch, real_operand
        fused.SKIP_ONES = skip

"""The seed's optimizations, as passes over a program ``compile`` recorded.

A program is ``compile``'s list of instructions (``("call", f, refs, krefs, o)``,
``("view", v, b, off, shape, strides, dtype)``, ``("ones", k, shape, dtype)``,
``("copy", k, src)``, ``("grad", t, k)``, ``("grad_arg", i, k)``, ``("none", t)``,
``("update", opt, i, g)``), where an operand that is a ``_Slot`` names a value slot
and anything else is a constant. Each pass is a pure function
``pass(prog, spec, arrays) -> (prog, spec)``: ``spec`` is the outputs' spec (whose slots
are read after the program), ``arrays[k]`` the array slot ``k`` held while recording
(read for shapes and dtypes only: they are part of the signature). The returned
program is never longer, and replays bit for bit as the original did: no kernel is
reordered, in-place kernels (``acc``, ``acc_op``, any function not known to be pure)
and optimizer updates are never merged, moved or dropped unless they are exact no-ops.

- ``fold``: calls whose operands are all constants (or slots computed from constants
  only) run once, now; their results become constants of the calls that read them.
  Arguments, captured arrays, entry ``.grad`` and anything written in place are not
  constant: the user may change them between calls.
- ``cse``: the same pure kernel (or view) on the same operands runs once.
- ``dce``: results nothing reads (no later instruction, no output, no ``.grad``,
  no update) are not computed.
- ``zero_skip``: adding a known zero is dropped where that is exact in IEEE
  arithmetic: ``x - (+0)``, ``x + (-0)``, ``acc(dst, -0)``. (``x + (+0)`` turns a
  ``-0.0`` into ``+0.0`` and ``x * 0`` is ``-0.0`` or NaN for some ``x``: those stay.)

Examples
--------
>>> import numpy as np
>>> from pyautodiff.compile import _Slot
>>> from pyautodiff.compile_passes import optimize
>>> prog = [("ones", _Slot(1), (2,), np.float64),
...         ("call", np.multiply, (_Slot(1), 3.0), None, _Slot(2)),
...         ("call", np.add, (_Slot(0), _Slot(2)), None, _Slot(3)),
...         ("call", np.add, (_Slot(0), _Slot(2)), None, _Slot(4))]
>>> arrays = [np.zeros(2)] * 5
>>> new, spec = optimize(prog, ("tensor", _Slot(4)), arrays)
>>> len(new), new[0][2][1], spec[1]
(1, array([3., 3.]), 3)
"""

import functools
import sys

import numpy as np

from .backends import numpy_backend
from .backends.kernels import KERNELS
from .compile import STEPS, _Slot, _view

# In-place kernels, and the position of the operand each one writes.
_WRITES = {"acc": 0, "acc_op": 1}


def _backend_modules():
    return [m for m in (numpy_backend, sys.modules.get("pyautodiff.backends.c_backend"))
            if m is not None]


def _kinds():
    """``(pure, writes)``: the pure kernel functions, and {in-place kernel: operand}."""
    return _kinds_of(tuple(_backend_modules()))


@functools.lru_cache(maxsize=2)  # (one per set of loaded backends: the C one may load late)
def _kinds_of(modules):
    pure, writes = {f for _, _, f in STEPS} | {np.ndarray.astype}, {}
    for m in modules:
        for name in KERNELS:
            f = getattr(m, name, None)
            if f is None:
                continue
            if name in _WRITES:
                writes[f] = _WRITES[name]
            else:
                pure.add(f)
    return pure, writes


def _is_slot(r):
    return type(r) is _Slot


def _reads(ins):
    """The slots instruction ``ins`` reads."""
    kind = ins[0]
    if kind == "call":
        _, _, refs, krefs, _ = ins
        ops = list(refs) + (list(krefs.values()) if krefs else [])
        return [r for r in ops if _is_slot(r)]
    if kind == "view":
        return [ins[2]]
    if kind == "copy":
        return [ins[2]]
    if kind in ("grad", "grad_arg"):
        return [ins[2]]
    if kind == "update":
        return [ins[3]]
    return []


def _defines(ins):
    """The slot ``ins`` defines, or None."""
    kind = ins[0]
    if kind == "call":
        return ins[4] if _is_slot(ins[4]) else None
    if kind in ("view", "ones", "copy"):
        return ins[1]
    return None


def _rename(ins, new):
    """``ins`` with every slot it reads mapped through ``new`` (a dict)."""
    if not new:
        return ins
    m = lambda r: new.get(r, r) if _is_slot(r) else r
    kind = ins[0]
    if kind == "call":
        _, f, refs, krefs, o = ins
        return ("call", f, tuple(m(r) for r in refs),
                {k: m(r) for k, r in krefs.items()} if krefs else krefs, o)
    if kind in ("view", "copy", "grad", "grad_arg"):
        return ins[:2] + (m(ins[2]),) + ins[3:]
    if kind == "update":
        return ins[:3] + (m(ins[3]),)
    return ins


def _spec_slots(spec):
    kind = spec[0]
    if kind in ("tensor", "array"):
        return [spec[1]]
    if kind == "seq":
        return [k for s in spec[2] for k in _spec_slots(s)]
    if kind == "dict":
        return [k for _, s in spec[1] for k in _spec_slots(s)]
    return []


def _rename_spec(spec, new):
    kind = spec[0]
    if kind in ("tensor", "array"):
        return (kind, new.get(spec[1], spec[1]))
    if kind == "seq":
        return ("seq", spec[1], [_rename_spec(s, new) for s in spec[2]])
    if kind == "dict":
        return ("dict", [(k, _rename_spec(s, new)) for k, s in spec[1]])
    return spec


class _Facts:
    """What the passes need to know of a program: slots defined more than once or never
    (inputs), and slots whose memory something writes in place (with their views)."""

    def __init__(self, prog):
        self.pure, self.writes = _kinds()
        # (and the steps that say so: a fused backward program writing nothing it reads)
        self.pure |= {ins[1] for ins in prog
                      if ins[0] == "call" and getattr(ins[1], "pure", False)}
        ndef, defined, written, parent = {}, set(), set(), {}
        for ins in prog:
            for r in _reads(ins):
                if r not in defined:
                    ndef.setdefault(r, 2)  # (read before defined: an input)
            d = _defines(ins)
            if d is not None:
                ndef[d] = ndef.get(d, 0) + 1
                defined.add(d)
            if ins[0] == "view":
                parent[ins[1]] = ins[2]
            elif ins[0] == "call" and ins[1] not in self.pure:
                at = self.writes.get(ins[1])
                ops = [ins[2][at]] if at is not None else _reads(ins)  # (unknown: all)
                written.update(r for r in ops if _is_slot(r))

        def root(k):
            while k in parent:
                k = parent[k]
            return k

        dirty = {root(k) for k in written}
        self.once = {k for k, n in ndef.items() if n == 1}
        self.stable = {k for k in self.once if root(k) not in dirty}

    def pure_call(self, ins):
        return ins[0] == "call" and ins[1] in self.pure and ins[4] in self.stable


def _value(ins, consts):
    """Run instruction ``ins`` whose slot operands are all in ``consts`` (as a replay
    does), or None."""
    kind = ins[0]
    if kind == "ones":
        return np.ones(ins[2], ins[3])
    if kind == "view":
        _, _, b, off, shape, strides, dtype = ins
        return _view(consts[b], off, shape, strides, dtype)
    _, f, refs, krefs, _ = ins
    args = [consts[r] if _is_slot(r) else r for r in refs]
    kw = {n: consts[r] if _is_slot(r) else r for n, r in krefs.items()} if krefs else {}
    out = f(*args, **kw)
    return np.asarray(out) if isinstance(out, np.generic) else out


def fold(prog, spec, arrays):
    """Constant folding: run now what depends on constants only."""
    facts = _Facts(prog)
    consts = {}
    for ins in prog:
        k = _defines(ins)
        if k is None or k not in facts.stable or ins[0] == "copy":
            continue  # (a copy is a fresh array every call: a .grad the user may keep)
        if ins[0] == "call" and not facts.pure_call(ins):
            continue
        if all(r in consts for r in _reads(ins)):
            v = _value(ins, consts)
            if type(v) is np.ndarray:
                v.flags.writeable = False  # (shared by every replay: never written)
                consts[k] = v
    if not consts:
        return prog, spec
    # Constants go into the calls that read them; other readers keep the slot.
    out, kept = [], set(_spec_slots(spec))
    for ins in prog:
        if ins[0] == "call" and (ins[1] in facts.pure or ins[1] in facts.writes):
            _, f, refs, krefs, o = ins
            at = facts.writes.get(f)  # (the operand an in-place kernel writes stays)
            m = lambda r: consts.get(r, r) if _is_slot(r) else r
            ins = ("call", f, tuple(r if i == at else m(r) for i, r in enumerate(refs)),
                   {n: m(r) for n, r in krefs.items()} if krefs else krefs, o)
        out.append(ins)
    new = []
    for ins in reversed(out):  # (a constant nothing reads any more is dropped)
        k = _defines(ins)
        if k not in consts or k in kept:
            kept.update(_reads(ins))
            new.append(ins)
    new.reverse()
    return new, spec


def _key(v):
    """A hashable key for constant operand ``v`` (arrays by identity), or None."""
    if _is_slot(v):
        return ("slot", int(v))
    if isinstance(v, np.ndarray):
        return ("array", id(v))
    if isinstance(v, (tuple, list)):
        keys = [_key(x) for x in v]
        return None if None in keys else (type(v), tuple(keys))
    if v is None or isinstance(v, (bool, int, float, str, np.generic, np.dtype, type)):
        try:
            hash(v)
        except TypeError:
            return None
        return (type(v), v)
    return None


def cse(prog, spec, arrays):
    """Common subexpressions: a pure kernel (or a view) on operands it already ran on
    since the last in-place write or update runs once."""
    facts = _Facts(prog)
    seen, new, out = {}, {}, []
    for ins in prog:
        ins = _rename(ins, new)
        kind = ins[0]
        if kind == "call" and ins[1] not in facts.pure or kind == "update":
            seen.clear()  # (something may have been written in place)
        key = None
        if facts.pure_call(ins):
            _, f, refs, krefs, _ = ins
            key = (f, _key(refs), _key(tuple(sorted(krefs.items()))) if krefs else ())
        elif kind == "view" and ins[1] in facts.stable:
            key = ("view",) + ins[2:]
        if key is not None and None not in key[1:]:
            k = _defines(ins)
            if key in seen:
                new[k] = seen[key]
                continue
            seen[key] = k
        out.append(ins)
    return out, _rename_spec(spec, new)


def dce(prog, spec, arrays):
    """Dead code: drop what defines a slot nothing reads later (nor the outputs)."""
    facts = _Facts(prog)
    needed, out = set(_spec_slots(spec)), []
    for ins in reversed(prog):
        k = _defines(ins)
        effect = (k is None or k not in facts.once
                  or ins[0] == "call" and ins[1] not in facts.pure)
        if effect or k in needed:
            needed.update(_reads(ins))
            out.append(ins)
    out.reverse()
    return out, spec


def _zero(v, sign):
    """Whether constant ``v`` is all zeros of the given sign bit (0: +0.0, 1: -0.0)."""
    if _is_slot(v) or not isinstance(v, (float, np.floating, np.ndarray)):
        return False
    a = np.asarray(v)
    return a.dtype.kind == "f" and a.size > 0 and bool(
        np.all(a == 0) and np.all(np.signbit(a) == bool(sign)))


def zero_skip(prog, spec, arrays):
    """Zero-skipping: ``x - (+0)`` and ``x + (-0)`` are ``x`` (bit for bit, NaNs too),
    ``acc(dst, -0)`` changes nothing: such calls are dropped."""
    facts = _Facts(prog)
    add_f = {m.add for m in _backend_modules()}
    sub_f = {m.sub for m in _backend_modules()}
    acc_f = {m.acc for m in _backend_modules()}
    new, out = {}, []
    for ins in prog:
        ins = _rename(ins, new)
        if ins[0] == "call" and not ins[3] and len(ins[2]) == 2:
            _, f, (x, y), _, o = ins
            same = None
            if f in acc_f and _zero(y, 1) and _is_slot(x) and o == x:
                continue
            if facts.pure_call(ins):
                if f in add_f and _zero(x, 1):
                    same = y
                elif f in add_f and _zero(y, 1) or f in sub_f and _zero(y, 0):
                    same = x
            if (same is not None and _is_slot(same) and same in facts.stable
                    and arrays[o].shape == arrays[same].shape
                    and arrays[o].dtype == arrays[same].dtype):
                new[o] = same
                continue
        out.append(ins)
    return out, _rename_spec(spec, new)


PASSES = (fold, zero_skip, cse, dce)


def optimize(prog, spec, arrays, passes=PASSES):
    """``prog`` and ``spec`` after ``passes`` (in order); see the module's docstring."""
    for p in passes:
        prog, spec = p(prog, spec, arrays)
    return prog, spec

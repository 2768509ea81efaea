"""``compile(fn)``: record a training step once, replay its kernels on later calls.

The first call for a signature runs ``fn`` eagerly with a recording proxy in place of
the backend the engine reads (``backends.common or backends.state.active``, and the
engine's ``_small``): every kernel call is kept with its operands mapped to *slots*
(the arguments, the arrays of captured tensors, kernel results and views of them).
``backward`` and the optimizers' ``_update`` are recorded as steps of their own (the
leaves' gradients, the update of a parameter), so the program also writes the
parameters, their ``.grad`` and the optimizer state, in order. Under
``backward(create_graph=True)`` (and in the function transforms, ``ad.grad`` of
``ad.grad``, ``hessian``, ``jvp``...) the backward pass's own ops are recorded as any op
is. Library code that computes on arrays outside the backend (a shift by the max,
indexing with integer arrays and its adjoint, the transforms' constants) does so through
pure functions listed in ``STEPS``, each call of which is a step; their array operands,
such as the label arrays of an index, are slots too, so a replay reads their contents
anew. A later call with the same signature runs that flat program: no Tensor, Node or
dispatch.

Never a stale answer:

- an array the recording cannot trace to a slot (made by numpy outside the backend,
  random numbers, a constant built inside ``fn``), an in-place write outside an
  optimizer step, ``.data`` replaced inside ``fn``, a bool-mask index (the result's
  shape depends on values), a ``.grad`` still holding a graph when ``fn`` returns, an
  argument's ``.grad`` assigned inside ``fn``: the signature runs eagerly from then
  on, with a warning naming the cause;
- reading a value into Python while recording (``.item()``, ``float(t)``, ``bool(t)``,
  ``if loss < tol:``, ``.numpy()``/``.data`` of a recorded op's result) raises a
  ``RuntimeError`` naming the line, as ``jax.jit`` does;
- the first replay of a signature also runs ``fn`` eagerly from the same state and
  compares every output, parameter, ``.grad`` and optimizer state array bit for bit;
  a mismatch (raw numpy writes on captured arrays, random numbers drawn inside ``fn``,
  a Python number computed from data) falls back to eager with a warning.
"""

import builtins
import contextlib
import dis
import functools
import inspect
import math
import operator
import os
import sys
import threading
import warnings
from itertools import chain

import numpy as np

from . import backends, engine, functional, layers, losses, memory, nn, optim
from .backends import numpy_backend
from .backends.kernels import KERNELS
from .backends.lazy import Lazy
from .engine import is_grad_enabled
from .ops import compare, composite, elementwise, reduce, shape
from .tensor import Tensor

_ndarray = np.ndarray
_make = Tensor._make
_HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep
# (``pyautodiff.tensor`` the attribute is the function ``ad.tensor``)
_tensor_module = sys.modules[Tensor.__module__]
CACHE_SIZE = 8  # signatures kept per compiled function
# Pure array functions that library code calls outside the backend (a VJP's mask, a
# loss converting a numpy target, ``Tensor(array)``'s copy, a shift by the max, indexing
# with arrays and its adjoint, the constants of the function transforms): (module, name,
# function), recorded as program steps. (Operands may be arrays: an index's arrays are
# slots, read anew by every replay.)
STEPS = tuple((m, n, getattr(m, n)) for m, names in (
    (elementwise, ("_share", "_erf")), (compare, ("sign", "_compared")), (nn, ("as_array",)),
    (layers, ("_indices",)),
    (losses, ("as_array", "_labels", "_kept", "_count", "_grid", "_probabilities")),
    (_tensor_module, ("as_array",)), (reduce, ("_finite",)),
    (composite, ("_max_shift", "_not_nan")),
    (shape, ("_gather", "_scatter", "_concatenated", "_stacked")),
    (functional, ("_zeros", "_one_hot", "_stacked"))) for n in names)
# Steps that are not pure: draws of random numbers, ``f(layer, ...)`` (each replay draws
# anew from ``layers.generator_of(layer)``, read at that call, as eager does; the check
# run compares the generators' states too), and in-place updates of running statistics
# (they write their array operands: the passes neither fold nor merge them).
DRAWS = ((layers, "_dropout_scale", layers._dropout_scale),)
IMPURE = DRAWS + ((layers, "_moved", layers._moved),)


def _where():
    """``file:line`` of the innermost frame outside pyautodiff (the user's line)."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_HERE):
        f = f.f_back
    return "<unknown>" if f is None else f"{f.f_code.co_filename}:{f.f_lineno}"


def _define(src, what, ns):
    """The function that generated source ``src`` defines, its names looked up in ``ns``.
    Sources repeat (the same step compiled again for a new model, a new signature of the
    same shape): their code is compiled once."""
    code = _code(src, f"<ad.compile {what}>")
    exec(code, ns)  # noqa: S102  (our own source)
    return ns[code.co_names[0]]


@functools.lru_cache(maxsize=64)
def _code(src, name):
    return builtins.compile(src, name, "exec")  # (this module's ``compile`` is ``ad.compile``)


class _Slot(int):
    """An operand of a recorded call that is a slot of the program (else a constant)."""

    __slots__ = ()


# ----- what fn captures ------------------------------------------------------------------

def _roots(fn, names):
    """The objects ``fn`` starts from: its code and defaults, the globals its code names,
    its closure's contents and its bound ``self``."""
    g = getattr(fn, "__globals__", None) or {}
    roots = [getattr(fn, "__code__", None), getattr(fn, "__defaults__", None)]
    roots += map(g.get, names)
    roots += [c.cell_contents if _filled(c) else _EMPTY for c in (
        getattr(fn, "__closure__", None) or ())]
    roots += list(getattr(fn, "__defaults__", None) or ())
    roots.append(getattr(fn, "__self__", None))
    return roots


_EMPTY = object()


def _names(fn):
    """The global names ``fn``'s code (and the code nested in it) reads or writes."""
    names, code = set(), getattr(fn, "__code__", None)
    stack = [code] if code is not None else []
    while stack:
        c = stack.pop()
        names.update(i.argval for i in dis.get_instructions(c) if i.opname in _GLOBAL_OPS)
        stack.extend(k for k in c.co_consts if inspect.iscode(k))
    return sorted(names)


_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"})


_SETTINGS = (bool, int, float, str, type(None))


def _captured(fn, names):
    """The tensors, optimizers and arrays ``fn`` reaches from ``_roots`` (into modules,
    optimizers, lists, tuples and dicts), the modules' settings (each module's attributes
    that are Python numbers, strings or None: ``training``, Dropout's ``p``, a norm's
    ``eps``..., which a recording bakes in), and what the walk depended on: the containers
    it looked into, as live views of their contents (see ``_Captures``)."""
    from .nn import Module
    tensors, opts, arrays, seen = {}, {}, {}, set()
    mods, views, settings = [], [], []
    stack = [(r, 0) for r in _roots(fn, names)]
    while stack:
        v, depth = stack.pop()
        if id(v) in seen or depth > 6:
            continue
        seen.add(id(v))
        if isinstance(v, Tensor):
            tensors[id(v)] = v
        elif isinstance(v, optim.Optimizer):
            opts[id(v)] = v
            views.append(v.params)
            stack += [(p, depth + 1) for p in v.params]
        elif isinstance(v, Module):
            mods.append(v)
            views.append(vars(v).values())
            settings.append(tuple([(k, x) for k, x in vars(v).items() if type(x) in _SETTINGS]))
            stack += [(x, depth + 1) for x in vars(v).values()]
        elif type(v) is _ndarray:
            arrays[id(v)] = v
        elif isinstance(v, (list, tuple)):
            views.append(v)
            stack += [(x, depth + 1) for x in v]
        elif isinstance(v, dict):
            views.append(v.values())
            stack += [(x, depth + 1) for x in v.values()]
    return (list(tensors.values()), list(opts.values()), list(arrays.values()),
            tuple(settings)), (mods, views)


class _Captures:
    """``_captured(fn)``, walked again only when what the last walk looked at changed.

    The walk's result is a function of the identities of its roots and of the contents
    of every container it looked into (a module's attributes, an optimizer's ``params``,
    lists, tuples, dicts): after each walk, ``_watch`` generates the check that each is
    still the object the walk saw (the objects are kept alive, so an identity cannot be
    reused), run on every call; any change walks again."""

    def __init__(self, fn):
        self.fn = fn
        self.names = None
        self.result = None
        self.same = None

    def get(self):
        """The walk's result: the same object for as long as its contents are the same
        (a compiled function's guard compares it by identity)."""
        if self.same is not None and self.same():
            return self.result
        code = getattr(self.fn, "__code__", None)
        if self.names is None or self.code is not code:
            self.names, self.code = _names(self.fn), code
        result, deps = _captured(self.fn, self.names)
        if self.result is None or [list(map(id, r)) for r in result[:3]] != [
                list(map(id, r)) for r in self.result[:3]] or result[3] != self.result[3]:
            self.result = result
        self.same = self._watch(deps)
        return self.result

    def _watch(self, deps):
        """The generated function ``same()``: whether every root of ``fn`` and every
        container the walk looked into (``deps``) holds what it held at the walk."""
        fn, (mods, views) = self.fn, deps
        ns = {"F": fn, "G": getattr(fn, "__globals__", None) or {}, "_filled": _filled,
              "_id": id}
        n = [0]

        def const(v):
            n[0] += 1
            ns[f"k{n[0]}"] = v
            return f"k{n[0]}"

        tests = [f"getattr(F, {a!r}, None) is {const(getattr(fn, a, None))}"
                 for a in ("__code__", "__defaults__", "__self__")]
        tests += [f"G.get({name!r}) is {const(ns['G'].get(name))}" for name in self.names]
        for c in getattr(fn, "__closure__", None) or ():
            tests.append(f"{const(c)}.cell_contents is {const(c.cell_contents)}"
                         if _filled(c) else f"not _filled({const(c)})")
        tests += [f"{const(m)}.__dict__ is {const(vars(m))}" for m in mods]
        tests += [f"{const(o)}.params is {const(o.params)}" for o in self.result[1]]
        tests += [f"list(map(_id, {const(v)})) == {const(list(map(id, v)))}" for v in views]
        ns["kept"] = [list(v) for v in views]  # (ids stay unique while kept)
        src = ("def same():\n    try:\n        return (" + "\n                and ".join(tests)
               + ")\n    except ValueError:\n        return False\n")
        return _define(src, "captures", ns)


_params_of = operator.attrgetter("params")


def _filled(cell):
    try:
        _ = cell.cell_contents
    except ValueError:  # (an empty cell: a closure variable not assigned yet)
        return False
    return True


# ----- recording --------------------------------------------------------------------------

class _Recorder:
    """Maps arrays to slots and collects the program while ``fn`` runs eagerly."""

    def __init__(self):
        # The patches that record are seen by every thread: only this one records.
        self.thread = threading.get_ident()
        self.slot = {}  # id(array) -> slot number
        self.roots = {}  # id(the array owning the memory) -> a slot's array on it
        self.keep = []  # every array seen, kept alive so that ids stay unique
        self.prog = []  # (kind, ...) instructions, see _Program.run
        self.draws = {}  # id(layer) -> a layer a draw step (DRAWS) drew a mask for
        self.nslots = 0
        self.failure = None  # why the recording cannot be replayed, or None

    def new(self, a):
        # (a view of an array that is not a slot, say C's sum reshaped, is found by root)
        self.roots.setdefault(id(memory.root(a)), a)
        k = self.slot[id(a)] = self.nslots
        self.nslots += 1
        self.keep.append(a)
        return _Slot(k)

    def fail(self, why):
        """Mark the recording unreplayable (``fn`` goes on eagerly); returns None."""
        if self.failure is None:
            self.failure = why

    def ref(self, a, what):
        """The slot of array ``a`` (a view of a slot becomes a slot of its own)."""
        k = self.slot.get(id(a))
        if k is not None:
            return _Slot(k)
        b, chain = a, []
        while True:
            base = b.base
            if type(base) is tuple and base and type(base[0]) is Lazy:
                base = base[0].value  # (numpy's view of a fused pass's value, `np.asarray(lazy)`)
            if type(base) is not _ndarray:
                break
            b = base
            chain.append(b)
        on = self.roots.get(id(b))
        if on is not None:
            chain.append(on)
        for b in chain:
            k = self.slot.get(id(b))
            if k is not None:
                off = a.__array_interface__["data"][0] - b.__array_interface__["data"][0]
                try:
                    if _view(b, off, a.shape, a.strides, a.dtype) is None:
                        break
                except (ValueError, TypeError):
                    break
                v = self.new(a)
                self.prog.append(("view", v, _Slot(k), off, a.shape, a.strides, a.dtype))
                return v
        return self.fail(f"{what} reads a {a.shape} {a.dtype} array made outside the recorded "
                  f"kernels (numpy code, random numbers or a constant built inside the "
                  f"function) at {_where()}")

    def operand(self, v, what):
        if type(v) is Lazy:
            # (a value of the fused backward pass handed to a step, which computed it:
            # its array, made by a recorded launch; the Lazy itself would be a constant)
            v = v.force()
        if type(v) is _ndarray:
            return self.ref(v, what)
        if isinstance(v, (tuple, list)) and any(type(x) is _ndarray for x in v):
            self.fail(f"{what}: a sequence of arrays at {_where()}")
        return v

    def kernel(self, name, f, args, kw):
        # (a value of the fused backward pass, which numpy would read: its array)
        args = [a.force() if type(a) is Lazy else a for a in args]
        return self.call(f"kernel '{name}'", f, args, kw, f(*args, **kw))

    def call(self, what, f, args, kw, out):
        """Record that ``f(*args, **kw)`` gave ``out``; returns ``out`` (numpy scalars
        made 0-d arrays)."""
        refs = tuple(self.operand(a, what) for a in args)
        krefs = {k: self.operand(v, what) for k, v in kw.items()} if kw else None
        if isinstance(out, np.generic):
            out = np.asarray(out)  # (a 0-d array: a slot, where a numpy scalar is not)
        if type(out) is _ndarray:
            k = self.slot.get(id(out))
            o = _Slot(k) if k is not None else self.new(out)
        else:
            o = out  # (acc_op's bool: decided by shapes and dtypes alone, checked on replay)
        self.prog.append(("call", f, refs, krefs, o))
        return out


def _view(b, off, shape, strides, dtype):
    """The view of array ``b`` ``off`` bytes from its start, or None if none can be made."""
    if b.flags.c_contiguous:  # (its data starts its buffer: no need to find the root)
        try:
            return np.ndarray(shape, dtype, buffer=b, offset=off, strides=strides)
        except (TypeError, ValueError):
            pass  # (the view reaches outside b, into the memory b views)
    r = memory.root(b)
    if not r.flags.c_contiguous:
        return None
    start = b.__array_interface__["data"][0] - r.__array_interface__["data"][0]
    return np.ndarray(shape, dtype, buffer=r, offset=start + off, strides=strides)


class _Proxy:
    """A backend module whose kernels (``kernels.KERNELS``) record through ``rec``; other
    names (thresholds, the C library the optimizers call) pass through."""

    def __init__(self, module, rec):
        self._module = module
        self._rec = rec
        # The backward pass runs on the backend's own kernels for it, as it does eagerly
        # (the C backend's fused programs: their sums add in their own order), recorded
        # by ``_fused_recording``.
        self.BACKWARD = getattr(module, "BACKWARD", self)

    def __getattr__(self, name):
        v = getattr(self._module, name)
        if name in KERNELS:
            rec, f = self._rec, v

            def call(*args, **kw):
                if threading.get_ident() != rec.thread:  # (engine._small is process-wide)
                    return f(*args, **kw)
                return rec.kernel(name, f, args, kw)

            v = call
        setattr(self, name, v)
        return v


def _fused_recording(rec):
    """The C backend's fused backward pass recorded into ``rec`` (``compile_fuse``), if
    that backend is loaded."""
    if sys.modules.get(__package__ + ".backends.fused") is None:
        return contextlib.nullcontext()
    from . import compile_fuse
    from .backends import c_backend
    return compile_fuse._recording(rec, _Proxy(c_backend, rec))


def _backward(rec, real):
    """``engine.backward`` while recording (``Tensor.backward``'s and the function
    transforms'): the gradients of the leaves ``fn`` can reach (captured tensors and
    arguments) become program steps. Under ``create_graph`` the sweep's ops are recorded
    as any op is, and a ``.grad`` is their result, with its graph."""

    def backward(t, gradient=None, retain_graph=False, create_graph=False, inputs=None):
        if threading.get_ident() != rec.thread or not t._rg:
            return real(t, gradient, retain_graph, create_graph, inputs)
        g = engine._root_gradient(t, gradient, create_graph)
        ga = g._data if create_graph else g
        if gradient is None:
            gk = rec.new(ga)
            rec.prog.append(("ones", gk, ga.shape, ga.dtype))
        else:
            gk = rec.ref(ga, "backward's gradient")
        keep = None if inputs is None or t._node is None else engine._toward(t._node, inputs)
        if t._node is None:
            leaves = {t: (g, False)}
        elif create_graph:
            with engine.enable_grad():
                leaves = engine._sweep(t._node, g, True, True, keep)
        else:
            leaves = engine._sweep(t._node, g, retain_graph, False, keep)
        for leaf, (gi, owned) in leaves.items():
            if create_graph:
                if not owned:  # (the copy op copies with numpy: a step of its own)
                    src = rec.ref(gi._data, "backward")
                    gi = gi.copy()
                    rec.prog.append(("copy", rec.new(gi._data), src))
            else:
                src = gk if gi is g else rec.ref(np.asarray(gi), "backward")
                gi = gi if owned and type(gi) is _ndarray else np.array(gi)
                rec.prog.append(("copy", rec.new(gi), src))
                gi = _make(gi)
            with engine._accumulating:
                old = leaf._grad
                leaf._grad = gi if old is None else old + gi
            k = rec.ref(leaf._grad._data, "backward")
            i = rec.args.get(id(leaf))
            if i is not None:
                rec.prog.append(("grad_arg", i, k))
                rec.arg_grads[i] = leaf._grad._data
            elif id(leaf) in rec.captured:
                rec.prog.append(("grad", leaf, k))
                rec.grads[id(leaf)] = leaf._grad._data
            else:
                continue  # (a leaf made inside fn, as the transforms make: none after it)
            if leaf._grad._node is not None:
                rec.graph_grads.append(leaf)

    return backward


def _recording_update(rec, opt, real):
    """An optimizer's ``_update`` while recording: one program step per parameter."""

    def update(i, x, g, state, c):
        if threading.get_ident() != rec.thread:
            return real(i, x, g, state, c)
        if x is not opt.params[i]._data:
            rec.fail(f"{type(opt).__name__}.step: parameter {i}'s array is not its tensor's")
        rec.prog.append(("update", opt, i, rec.ref(g, f"{type(opt).__name__}.step")))
        return real(i, x, g, state, c)

    return update


_GATHER = shape._gather


def _recording_step(rec, name, real):
    """Function ``real`` of ``STEPS`` while recording: a call on arrays is a program step."""

    def step(*args, **kw):
        if threading.get_ident() != rec.thread or any(isinstance(a, Tensor) for a in args):
            return real(*args, **kw)
        out = real(*args, **kw)
        if type(out) is _ndarray and any(
                type(a) is _ndarray and memory.root(a) is memory.root(out) for a in args):
            return out  # (an input or a view of one, x[1:] say: rec.ref traces it)
        if real is _GATHER and any(type(a) is _ndarray and a.dtype == bool for a in args):
            rec.fail(f"indexing with a bool mask at {_where()} (the result's shape depends "
                     "on values)")
        if real in _DRAWN:
            rec.draws[id(args[0])] = args[0]
        return rec.call(f"'{name}'", real, args, kw, out)

    return step


_DRAWN = {f for _, _, f in DRAWS}


def _generators(prog):
    """The generators the draws of ``prog`` read now, each once."""
    gens = {}
    for layer in prog.draws:
        g = layers.generator_of(layer)
        gens[id(g)] = g
    return list(gens.values())


def _recording_fit(rec, real):
    """``engine._fit`` while recording: its cast of a gradient to its input's dtype (a
    float64 mask times a float32 gradient) becomes a program step."""

    def fit(K, gi, shape, dtype, op, i):
        if (threading.get_ident() != rec.thread or type(gi) not in (_ndarray, Lazy)
                or gi.dtype == dtype):
            return real(K, gi, shape, dtype, op, i)
        gi = real(K, gi, shape, gi.dtype, op, i)  # (a Lazy value is computed for the cast)
        return rec.kernel("astype", _ndarray.astype, (gi, dtype), {})

    return fit


def _reading(name, real, rec, known):
    """Tensor method ``name`` while recording: reading an intermediate's value raises."""

    def method(self, *args, **kw):
        if threading.get_ident() != rec.thread:
            return real(self, *args, **kw)
        # (an array of a leaf, such as a .grad, may be read: numpy writes into it are
        # caught by the check run; a recorded result's array may not)
        if name in ("numpy", "data", "__array__") and (
                id(self._data) in known or self._node is None) or (
                name == "data" and sys._getframe(1).f_code is _DETACH):
            return real(self, *args, **kw)  # (detach(): a tensor, not a value in Python)
        raise RuntimeError(
            f"compile: {fn_name(rec)} reads a tensor's value into Python ({name}) at "
            f"{_where()}: a replay would not see a new value. Compute with tensors, or "
            "run that part outside the compiled function")

    return method


def fn_name(rec):
    return getattr(rec, "fn_name", "the function")


_DETACH = Tensor.detach.__code__
_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "__format__",
          "numpy", "__array__")


# ----- the program --------------------------------------------------------------------------

class _Program:
    """A recorded call: run ``prog`` over the slots; returns the outputs.

    The first run lowers ``prog`` (after any pass rewrote it) into one generated Python
    function (``_lower``); an instruction it cannot lower keeps the whole program on the
    interpreter, ``_interpret``."""

    def __init__(self, rec, arg_slots, entry_grads, out_spec, tensors):
        self.prog = rec.prog
        self.nslots = rec.nslots
        self.arg_slots = arg_slots  # [(slot, index of the argument in flat)]
        self.entry_grads = entry_grads  # [(slot, tensor)]: .grad at entry, read live
        self.live = [(k, a) for k, a in rec.live]  # captured arrays, read live
        self.draws = list(rec.draws.values())  # the layers whose masks it draws
        self.out_spec = out_spec
        self.tensors = tensors
        self.verified = False
        self.inputs = None
        # each slot's recorded array, as a template for the buffers of the lowering
        self.meta = ([(a.shape, a.dtype, a.strides, a.flags.c_contiguous) for a in rec.keep]
                     if len(rec.keep) == rec.nslots else None)
        self.fast = None  # the lowered program, or False: interpret
        self.guard = self.guard_for = None  # Compiled._guard, and the captures it was made for

    def run(self, flat):
        if self.fast is None:
            self.fast = _lower(self, flat) or False
        if self.fast:
            return self.fast(flat)
        return self._interpret(flat)

    def _interpret(self, flat):
        vals = [None] * self.nslots
        arrays = [_array_of(flat[i]) for _, i in self.arg_slots]
        if self.inputs is None:  # the arguments' buffers: allocated once, copied into
            self.inputs = [np.empty_like(a, order="C") for a in arrays]
        for (k, _), buf, a in zip(self.arg_slots, self.inputs, arrays):
            np.copyto(buf, a)
            vals[k] = buf
        for k, t in self.entry_grads:
            vals[k] = t._grad._data
        for k, a in self.live:
            vals[k] = a
        for ins in self.prog:
            kind = ins[0]
            if kind == "call":
                _, f, refs, krefs, o = ins
                args = [vals[r] if type(r) is _Slot else r for r in refs]
                if krefs:
                    out = f(*args, **{n: vals[r] if type(r) is _Slot else r
                                      for n, r in krefs.items()})
                else:
                    out = f(*args)
                if type(o) is _Slot:
                    vals[o] = np.asarray(out) if isinstance(out, np.generic) else out
                elif type(o) is tuple:  # (a fused program's new arrays and sums)
                    for k, v in zip(o, out):
                        vals[k] = v
                elif out != o:
                    raise RuntimeError(f"compile: replay diverged at {f.__name__}")
            elif kind == "view":
                _, v, b, off, shape, strides, dtype = ins
                vals[v] = _view(vals[b], off, shape, strides, dtype)
            elif kind == "ones":
                vals[ins[1]] = np.ones(ins[2], ins[3])
            elif kind == "copy":
                vals[ins[1]] = np.array(vals[ins[2]])
            elif kind == "grad":
                ins[1]._grad = _make(vals[ins[2]])
            elif kind == "grad_arg":
                flat[ins[1]]._grad = _make(vals[ins[2]])
            elif kind == "none":
                ins[1]._grad = None
            elif kind == "update":
                _, opt, i, g = ins
                x = opt.params[i]._data
                with memory.writing(x, f"{type(opt).__name__}.step: parameter {i}"):
                    opt._update(i, x, vals[g], opt.state[i], optim._c_backend())
        return _build(self.out_spec, vals)


# ----- lowering: the program as one generated function -----------------------------------------

def _ufunc_of(f, args, kw):
    """The numpy ufunc a kernel call amounts to, given its recorded operands, or None.

    A backend's kernel is the ufunc itself (the numpy backend), or a C kernel that hands
    operands too small for C (and for its buffer pool) to the numpy kernel of its name."""
    if kw:
        return None
    if type(f) is np.ufunc:
        return f if f.nout == 1 else None
    name = getattr(f, "__name__", None)
    c = sys.modules.get(__package__ + ".backends.c_backend")
    if c is None or getattr(c, name, None) is not f or name not in c._BINARY_KERNELS + (
            "exp", "sqrt", "neg", "abs", "square", "log", "log1p", "expm1", "sin", "cos",
            "tanh"):
        return None
    small = all(a.size < c.THRESHOLD and a.nbytes < c.POOL_MIN
                for a in args if type(a) is _ndarray)
    u = getattr(numpy_backend, name)
    return u if small and type(u) is np.ufunc and u.nout == 1 else None


# numpy_backend's fused backward formulas as steps into a buffer ``t`` shaped like their
# second operand, the last one into the result: the same operations in the same order.
_GRAD_STEPS = {
    "square_grad": ((np.add, "x", "x"), (np.multiply, "g", "t")),  # g * (x + x)
    "tanh_grad": ((np.multiply, "x", "x"), (np.subtract, 1, "t"),
                  (np.multiply, "g", "t")),  # g * (1 - out * out)
    "sigmoid_grad": ((np.subtract, 1, "x"), (np.multiply, "x", "t"),
                     (np.multiply, "g", "t")),  # g * (out * (1 - out))
    "relu_grad": ((np.greater, "x", 0), (np.multiply, "g", "t")),  # g * (x > 0)
}


def _grad_of(f, args, kw):
    """The steps of ``_GRAD_STEPS`` a kernel call amounts to, or None."""
    name = getattr(f, "__name__", None)
    if kw or name not in _GRAD_STEPS or len(args) != 2 or not all(
            type(a) is _ndarray and a.dtype in _FLOATS for a in args):
        return None
    c = sys.modules.get(__package__ + ".backends.c_backend")
    if f is not getattr(numpy_backend, name) and not (
            c is not None and f is getattr(c, name) and all(
                a.size < c.THRESHOLD and a.nbytes < c.POOL_MIN for a in args)):
        return None
    return _GRAD_STEPS[name]


def _reduce_of(f, args, kw):
    """``(x, axis, keepdims)`` if a kernel call is numpy's float sum, else None."""
    c = sys.modules.get(__package__ + ".backends.c_backend")
    if f is not numpy_backend.sum and not (c is not None and f is c.sum):
        return None
    try:
        b = _SUM_SIG.bind(*args, **(kw or {}))
    except TypeError:
        return None
    x, axis, keepdims = (b.arguments.get(n, d) for n, d in (("x", None), ("axis", None),
                                                           ("keepdims", False)))
    if (type(x) is not _ndarray or x.dtype not in _FLOATS or not isinstance(keepdims, bool)
            or (f is not numpy_backend.sum and x.size >= c.CHEAP * c.THRESHOLD)):
        return None
    return x, axis, keepdims


_SUM_SIG = inspect.signature(numpy_backend.sum)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _lower(prog, flat):
    """``prog`` as one generated function ``run(flat)``, or None if an instruction is not
    one this knows.

    Arguments are copied into buffers allocated here; a kernel that is a numpy ufunc (or
    numpy's sum) on operands whose buffers are fixed (arguments, captured arrays, other
    such results and views of them) writes into a buffer of its own allocated here, and
    views of fixed buffers are made here, once. Everything that leaves the program is a
    copy: returned values, each ``.grad`` (``copy`` instructions, or a copy made here).
    On the C backend, runs of elementwise calls are one fused C call each (``compile_fuse``).
    """
    if prog.meta is None:
        return None
    ns = {"_copyto": np.copyto, "_array": np.array, "_asarray": np.asarray, "_make": _make,
          "_laid_out": _laid_out,
          "_ndarray": _ndarray, "_view": _view, "_bump": memory.bump, "_step": _step,
          "_Diverged": RuntimeError}
    lines = []
    fixed = {}  # slot -> its array, the same at every call
    fresh = {}  # slot -> the fixed array it is a new copy of at every call
    moved = {}  # slot -> an array like the new one it holds at each call, read by one copy
    consts = [0]

    def const(v):
        name = f"c{consts[0]}"
        consts[0] += 1
        ns[name] = v
        return name

    def operand(r):
        if type(r) is _Slot:
            return f"s{r}"
        return const(r)

    for k, i in prog.arg_slots:
        shape, dtype, _, _ = prog.meta[k]
        fixed[k] = ns[f"s{k}"] = np.empty(shape, dtype)
        src = f"flat[{i}]._data" if isinstance(flat[i], Tensor) else f"flat[{i}]"
        lines.append(f"_copyto(s{k}, {src})")
    for k, t in prog.entry_grads:
        lines.append(f"s{k} = {const(t)}._grad._data")
    for k, a in prog.live:
        fixed[k] = ns[f"s{k}"] = a
    group = None  # a run of one optimizer's updates: [opt, [(i, gradient slot), ...]]
    fuser, skip, launch = None, 0, None
    if backends.current().NAME == "c":  # (runs of elementwise calls as one C call)
        from .compile_fuse import Fuser
        from .compile_fuse import Launch as launch  # (a program of the fused backward)
        fuser = Fuser(prog, _Slot)
    for i, ins in enumerate(prog.prog):
        if i < skip:
            continue
        kind = ins[0]
        if kind == "update":
            if group is not None and group[0] is ins[1]:
                group[1].append(ins[2:])
            else:
                lines += _updates(group, fixed, fresh, const, prog.meta)
                group = [ins[1], [ins[2:]]]
            continue
        lines += _updates(group, fixed, fresh, const, prog.meta)
        group = None
        if kind == "call" and type(ins[1]) is launch:
            lines += fuser.launch(i, fixed, ns, const, moved)
            continue
        if fuser is not None and kind == "call":
            skip = i + fuser.at(i, fixed, ns, const, lines)
            if skip > i:
                continue
        if kind == "call":
            _, f, refs, krefs, o = ins
            ready = all(type(r) is not _Slot or r in fixed
                        for r in refs + tuple((krefs or {}).values()))
            if ready and type(o) is _Slot and o not in fixed and prog.meta[o][3]:
                args = [fixed[r] if type(r) is _Slot else r for r in refs]
                kw = {n: fixed[r] if type(r) is _Slot else r for n, r in (krefs or {}).items()}
                shape, dtype, strides, _ = prog.meta[o]
                buf = np.empty(shape, dtype)
                u, red = _ufunc_of(f, args, kw), None
                if u is None:
                    red = _reduce_of(f, args, kw)
                same = all(a.dtype == dtype for a in args if type(a) is _ndarray) and all(
                    type(a) in (_ndarray, float, int) for a in args)
                if buf.strides == strides and u is not None and same:
                    fixed[o] = ns[f"s{o}"] = buf
                    # (out positional and a number as a 0-d array of the dtype: the same
                    # loop on the same values, which numpy dispatches in half the time)
                    ops = [operand(r) if type(r) is _Slot else _number(r, dtype, const)
                           for r in refs]
                    out = f"out=s{o}" if u in _OUT_KEYWORD else f"s{o}"
                    lines.append(f"{const(u)}({', '.join(ops)}, {out})")
                    continue
                steps = _grad_of(f, args, kw) if u is None and red is None else None
                if buf.strides == strides and steps is not None and args[0].dtype == dtype:
                    x = args[1]
                    t = f"s{o}" if steps[0][0] is not np.greater and x.shape == shape else (
                        const(np.empty(x.shape, bool if steps[0][0] is np.greater else x.dtype)))
                    # (operand(): the passes may have folded an operand into a constant)
                    names = {"g": operand(refs[0]), "x": operand(refs[1]), "t": t,
                             1: _number(1, dtype, const)}
                    for j, (u, a, b) in enumerate(steps):
                        dst = f"s{o}" if j == len(steps) - 1 else t
                        lines.append(f"{const(u)}({names.get(a, a)}, {names.get(b, b)}, {dst})")
                    fixed[o] = ns[f"s{o}"] = buf
                    continue
                if buf.strides == strides and red is not None and red[0].dtype == dtype:
                    x, axis, keepdims = red
                    fixed[o] = ns[f"s{o}"] = buf
                    lines.append(f"{const(np.add.reduce)}({operand(refs[0])}, {const(axis)}, None, "
                                 f"s{o}, {keepdims})")
                    continue
            call = f"{const(f)}({', '.join(map(operand, refs))}"
            if krefs:
                call += "".join(f", {n}={operand(r)}" for n, r in krefs.items())
            call += ")"
            if type(o) is _Slot and o in fixed:  # (in place into a buffer, as acc does)
                lines.append(f"if {call} is not s{o}: raise _Diverged("
                             f"'compile: replay diverged at {getattr(f, '__name__', f)}')")
            elif type(o) is _Slot:
                lines.append(f"s{o} = {call}")
                lines.append(f"if type(s{o}) is not _ndarray: s{o} = _asarray(s{o})")
                fresh.pop(o, None)
            else:
                lines.append(f"if {call} != {const(o)}: raise _Diverged("
                             f"'compile: replay diverged at {getattr(f, '__name__', f)}')")
        elif kind == "view":
            _, v, b, off, shape, strides, dtype = ins
            if b in fixed:
                view = _view(fixed[b], off, shape, strides, dtype)
                if view is None:
                    return None
                fixed[v] = ns[f"s{v}"] = view
            else:
                lines.append(f"s{v} = _view(s{b}, {off}, {const(shape)}, {const(strides)}, "
                             f"{const(dtype)})")
                fresh.pop(v, None)
        elif kind == "ones":
            fixed[ins[1]] = ns[f"s{ins[1]}"] = np.empty(ins[2], ins[3])
            lines.append(f"s{ins[1]}.fill(1)")  # (an acc may write into it: filled each call)
        elif kind == "copy":
            fixed.pop(ins[1], None)
            if ins[2] in moved:  # (a new array at each call that nothing else reads)
                lines.append(f"s{ins[1]} = s{ins[2]}")
                fresh[ins[1]] = moved[ins[2]]
                continue
            lines.append(f"s{ins[1]} = _array(s{ins[2]})")
            if ins[2] in fixed:
                fresh[ins[1]] = fixed[ins[2]]
            else:
                fresh.pop(ins[1], None)
        elif kind in ("grad", "grad_arg"):
            who = const(ins[1]) if kind == "grad" else f"flat[{ins[1]}]"
            g = f"_array(s{ins[2]})" if ins[2] in fixed else f"s{ins[2]}"  # never a buffer
            lines.append(f"{who}._grad = _make({g})")
        elif kind == "none":
            lines.append(f"{const(ins[1])}._grad = None")
        else:
            return None
    lines += _updates(group, fixed, fresh, const, prog.meta)
    lines.append(f"return {_build_source(prog.out_spec, const)}")
    src = "def run(flat):\n" + "".join(f"    {line}\n" for line in lines)
    return _define(src, "program", ns)


_OUT_KEYWORD = (np.maximum, np.minimum)  # (numpy 2.4 deprecates their positional out)


def _number(r, dtype, const):
    """The name of Python number ``r`` as an operand of a float ufunc of ``dtype``: a 0-d
    array of that dtype, which numpy casts a number to (NEP 50's weak scalars) when the
    cast is exact or rounds to a finite value; else the number itself."""
    if type(r) in (float, int) and dtype in _FLOATS:
        with np.errstate(all="ignore"):
            a = np.array(r, dtype)
        if np.isfinite(a) or not math.isfinite(r):
            return const(a)
    return const(r)


def _updates(group, fixed, fresh, const, meta):
    """The source lines of a run of one optimizer's updates ``[opt, [(i, g), ...]]``: when
    every parameter is writable (no graph holds it), each update as the optimizer planned
    it (``Optimizer._replayer``: no per-step checks) then its version bump, as
    ``memory.writing`` counts it; else what ``Optimizer.step`` does (``_step``).

    A plan takes as fixed the parameters' arrays and the backend, which the signature
    fixes, and the optimizer's state arrays and hyperparameters but ``lr``
    (``Optimizer._replay_key``), which the lines check at each call (the first step
    creates the state: that changes the plan, not the program). A gradient that is a
    buffer of the program (``fixed``) or a new copy of one at every call (``fresh``) is
    laid out as planned; any other (a ``.grad`` found at entry: ``meta`` gives its
    recorded layout) is checked at each call (``_laid_out``), and updated as ``step()``
    does when it is not."""
    if group is None:
        return []
    opt, todo = group
    c = optim._c_backend()
    o, body = const(opt), []
    checks = [f"{o}._replay_key() == {const(opt._replay_key())}"]
    for i, g in todo:
        x = opt.params[i]._data
        xc, like, laid = const(x), fixed.get(g), None
        if like is None and g in fresh:
            like = np.array(fresh[g])
        elif like is None and meta is not None and meta[g][3]:
            like = np.empty(meta[g][0], meta[g][1])
            roots = frozenset(id(memory.root(a)) for a in chain(
                (x,), opt.state[i].values()) if type(a) is _ndarray)
            laid = f"_laid_out(s{g}, {const(like.shape)}, {const(like.dtype)}, {const(roots)})"
        plan = None if like is None else opt._replayer(i, x, like, c)
        checks.append(f"{xc}.flags.writeable")
        generic = f"{o}._update({i}, {xc}, s{g}, {o}.state[{i}], {const(c)})"
        if plan is None:
            body.append(generic)
        elif laid is None:
            body.append(f"{const(plan)}(s{g})")
        else:
            body += [f"if {laid}: {const(plan)}(s{g})", f"else: {generic}"]
        body.append(f"_bump({xc})")
    return [f"if {' and '.join(checks)}:", *("    " + b for b in body), "else:",
            f"    _step({o}, ({''.join(f'({i}, s{g}), ' for i, g in todo)}))"]


def _laid_out(g, shape, dtype, roots):
    """Whether gradient ``g`` is laid out as an update's plan needs: an aligned
    C-contiguous array of ``shape`` and ``dtype`` on memory none of ``roots`` (the ids of
    the parameter's and its state's memory owners) holds."""
    return (type(g) is _ndarray and g.shape == shape and g.dtype == dtype
            and g.flags.c_contiguous and g.flags.aligned
            and id(memory.root(g)) not in roots)


def _step(opt, todo):
    """``opt.step()``'s checks and writes for ``todo``, ``[(i, gradient array), ...]``: a
    parameter read-only for a reason of the user's raises before any is written; locks
    of a graph are lifted for the write, which counts as a new version."""
    name, c = type(opt).__name__, optim._c_backend()
    for i, _ in todo:
        memory.check_writable(opt.params[i]._data, f"{name}.step: parameter {i}")
    for i, g in todo:
        x = opt.params[i]._data
        with memory.writing(x, f"{name}.step: parameter {i}"):
            opt._update(i, x, g, opt.state[i], c)


def _build_source(spec, const):
    """An expression building the outputs from ``spec`` (as ``_build`` does)."""
    kind = spec[0]
    if kind == "tensor":
        return f"_make(_array(s{spec[1]}))"
    if kind == "array":
        return f"_array(s{spec[1]})"
    if kind == "const":
        return const(spec[1])
    if kind == "seq":
        return f"{const(spec[1])}(({''.join(_build_source(s, const) + ', ' for s in spec[2])}))"
    return "{" + ", ".join(f"{const(k)}: {_build_source(s, const)}" for k, s in spec[1]) + "}"


def _build(spec, vals):
    kind = spec[0]
    if kind == "tensor":
        return _make(np.array(vals[spec[1]]))
    if kind == "array":
        return np.array(vals[spec[1]])
    if kind == "const":
        return spec[1]
    if kind == "seq":
        return spec[1](_build(s, vals) for s in spec[2])
    return {k: _build(s, vals) for k, s in spec[1]}


def _out_spec(rec, out):
    if isinstance(out, Tensor):
        return ("tensor", rec.ref(out._data, "the result"))
    if type(out) is _ndarray:
        return ("array", rec.ref(out, "the result"))
    if isinstance(out, (tuple, list)):
        return ("seq", type(out), [_out_spec(rec, o) for o in out])
    if isinstance(out, dict):
        return ("dict", [(k, _out_spec(rec, v)) for k, v in out.items()])
    if out is None or isinstance(out, (bool, int, float, complex, str, np.generic)):
        return ("const", out)
    return rec.fail(f"returns a {type(out).__name__}, which a replay cannot rebuild")


# ----- the compiled function ----------------------------------------------------------------

def _state(tensors, opts):
    """A snapshot of everything a step may change: values, .grad, optimizer state."""
    snap = []
    for t in tensors:
        snap.append((t, t._data, t._data.copy(), t._grad,
                     None if t._grad is None else t._grad._data.copy()))
    # (each state array with its value: a restore writes into it, so that the arrays
    # keep the identity the signature holds)
    ostate = [(o, [{k: _Saved(v) if type(v) is _ndarray else v for k, v in s.items()}
                   for s in o.state]) for o in opts]
    # (the hyperparameters: a scheduler stepped inside fn changes lr, which a replay,
    # running no Python, would not)
    groups = [(o, [{k: v for k, v in g.items() if k != "params"} for g in o.param_groups])
              for o in opts]
    return snap, ostate, groups


class _Saved:
    """An optimizer's state array and a copy of its value."""

    __slots__ = ("array", "value")

    def __init__(self, a):
        self.array, self.value = a, a.copy()


def _value(v):
    return v.value if type(v) is _Saved else v


def _restore(snapshot):
    snap, ostate, groups = snapshot
    for o, saved in groups:
        for g, h in zip(o.param_groups, saved):
            g.update(h)
    for t, data, value, grad, gvalue in snap:
        t._data = data
        if not _same(data, value):  # (a write bumps the version: only where eager would)
            with memory.writing(data, "compile"):
                np.copyto(data, value)
        t._grad = grad  # (a replay never writes into a .grad it found)
    for o, states in ostate:
        for s, saved in zip(o.state, states):
            s.clear()
            for k, v in saved.items():
                if type(v) is _Saved:
                    np.copyto(v.array, v.value)
                    v = v.array
                s[k] = v


def _same(a, b):
    """Bit for bit (NaNs with the same payload are equal)."""
    if isinstance(a, Tensor):
        a = a._data
    if isinstance(b, Tensor):
        b = b._data
    if type(a) is _ndarray or type(b) is _ndarray:
        a, b = np.asarray(a), np.asarray(b)
        return (a.shape == b.shape and a.dtype == b.dtype
                and a.tobytes() == b.tobytes())
    if isinstance(a, (tuple, list)):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return (type(b) is dict and a.keys() == b.keys()
                and all(_same(a[k], b[k]) for k in a))
    if type(a) is float:  # bit for bit, as the arrays: NaN is NaN, -0.0 is not 0.0
        return type(b) is float and np.float64(a).tobytes() == np.float64(b).tobytes()
    return type(a) is type(b) and a == b


def _difference(tensors, opts, snap_replay):
    """What differs between the state now and ``snap_replay``, or None."""
    snap, ostate, groups = snap_replay
    for o, saved in groups:
        if [{k: v for k, v in g.items() if k != "params"} for g in o.param_groups] != saved:
            return f"the hyperparameters of {type(o).__name__} (a scheduler stepped inside?)"
    for t, _, value, grad, gvalue in snap:
        if not _same(t._data, value):
            return f"a parameter {t.shape} {t.dtype}"
        if (t._grad is None) != (grad is None) or (
                grad is not None and not _same(t._grad._data, gvalue)):
            return f"the .grad of a tensor {t.shape} {t.dtype}"
    for o, states in ostate:
        for s, saved in zip(o.state, states):
            if s.keys() != saved.keys() or not all(_same(s[k], _value(saved[k])) for k in s):
                return f"the state of {type(o).__name__}"
    return None


def compile(fn):
    """Record ``fn`` once per signature, then replay its kernels on later calls.

    ``fn`` takes Tensors, numpy arrays and Python numbers, and may run modules, a loss
    (``log_softmax``, ``cross_entropy``, indexing with integer arrays: arrays it
    captures are read anew at every call), ``backward()`` (also with
    ``create_graph=True``), the function transforms (``ad.grad``, ``hessian``, ``jvp``,
    ``vjp``...), ``optimizer.step()``, ``zero_grad()``, and return Tensors (or tuples,
    lists, dicts of them) and numbers. The first call for a signature runs
    ``fn`` eagerly and records the kernels it ran; the second runs the recording *and*
    ``fn`` from the same state and compares them bit for bit (a difference: eager from
    then on, with a warning); later calls replay. Results, every ``.grad``, parameters
    and optimizer state equal the eager run's bit for bit.

    The signature: each argument's shape, dtype, ``requires_grad`` and whether it has a
    ``.grad``; the *values* of Python-number arguments (a new value records again); the
    backend; grad mode; the identity of every captured tensor's array (a parameter whose
    ``.data`` was replaced records again), which captured tensors have a ``.grad`` at
    entry (unless the recording wrote it before any read, as ``zero_grad()`` first
    does), the captured objects themselves, and the captured modules' settings (their
    attributes that are Python numbers, strings or None: ``training``, Dropout's ``p``,
    an ``eps``...). A captured optimizer's state arrays and
    hyperparameters other than ``lr`` are checked by the replayed update, which runs as
    ``step()`` does when they changed (``lr``, as a scheduler sets it, and Adam's step
    count are read at each call). Up to ``CACHE_SIZE`` signatures are kept. A call like
    the last one replayed is checked by a generated guard instead of the whole signature.
    Dropout's masks are steps that draw anew at each replay from the layer's generator
    (read at that call), as eager draws them; the check run compares the generators.

    Reading a value into Python inside ``fn`` while it records (``.item()``,
    ``float(t)``, ``if loss < tol:``, ``.numpy()`` of an intermediate) raises a
    ``RuntimeError`` naming the line. Returned Tensors own their values (detached:
    no graph) and never change on a later call. ``step.cache_info()`` tells how many
    signatures were recorded, how many replays ran and which signatures run eagerly.

    Recording swaps the backend the engine reads for a recording proxy: record in one
    thread at a time.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> w = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = ad.optim.SGD([w], lr=0.1)
    >>> @ad.compile
    ... def step(x):
    ...     opt.zero_grad()
    ...     loss = ((w * x) ** 2).sum()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> [round(float(step(np.ones(2))), 6) for _ in range(4)]
    [5.0, 3.2, 2.048, 1.31072]
    >>> step.cache_info()  # (call 2 runs the check, calls 3 and 4 replay)
    CacheInfo(records=1, replays=3, eager=0, size=1)
    """
    return Compiled(fn)


class CacheInfo(tuple):
    """``(records, replays, eager, size)`` of a compiled function."""

    __slots__ = ()
    _fields = ("records", "replays", "eager", "size")

    def __new__(cls, *values):
        return tuple.__new__(cls, values)

    records = property(lambda self: self[0])
    replays = property(lambda self: self[1])
    eager = property(lambda self: self[2])
    size = property(lambda self: self[3])

    def __repr__(self):
        return "CacheInfo(" + ", ".join(f"{n}={v}" for n, v in zip(self._fields, self)) + ")"


class Compiled:
    """The callable ``compile(fn)`` returns (see ``compile``)."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)
        self._sig = inspect.signature(fn)
        self._captures = _Captures(fn)
        # how many positional arguments a call can pass as they are (no binding needed)
        ps = list(self._sig.parameters.values())
        self._var = any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ps)
        self._plain = len(ps) if all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                                     for p in ps) else -1
        self._cache = {}  # key -> _Program, or a str: why that signature runs eagerly
        self._records = self._replays = self._eager = 0
        # A program's buffers are its own: two threads replaying it at once take turns.
        self._running = threading.Lock()
        self._owners = (None, frozenset(), None)  # (caps, their _owners, arrays): _key
        self._last = None  # (guard, program): the last program replayed, see _guard
        # key[:-1] -> for each captured tensor, whether its .grad at entry is free: the
        # recordings of that signature wrote it before any read, so a replay need not
        # match its presence (a step that starts with zero_grad() records once, not twice)
        self._free = {}

    def cache_info(self):
        """``CacheInfo(records, replays, eager, size)``: signatures recorded, replays run,
        calls that ran eagerly (after a fallback), and entries kept."""
        return CacheInfo(self._records, self._replays, self._eager, len(self._cache))

    def cache_clear(self):
        """Forget every recorded signature."""
        self._cache.clear()
        self._last = None

    def _key(self, bound):
        tensors, opts, arrays, settings = self._captures.get()
        parts = []
        for a in bound:
            if isinstance(a, Tensor):
                parts.append(("T", a.shape, a.dtype, a._rg,
                              a._grad is None or a._grad._data.dtype))
            elif type(a) is _ndarray:
                parts.append(("A", a.shape, a.dtype))
            elif isinstance(a, (bool, int, float)):
                parts.append(("N", type(a), a))
            else:
                parts.append(("O", id(a)))
        caps = tuple([(id(t), id(t._data), t._rg) for t in tensors])
        caps += tuple([id(o) for o in opts]) + tuple([id(a) for a in arrays]) + (settings,)
        # (the memory owners of the captured arrays: a function of their identities, which
        # caps holds, so computed again only when caps changes; the arrays are kept alive,
        # so that an id in caps cannot come back as another array's)
        if caps != self._owners[0]:
            self._owners = caps, _owners(tensors, arrays), [t._data for t in tensors]
        base = (tuple(parts), _sharing(bound, self._owners[1]), backends.current().NAME,
                is_grad_enabled(), caps)
        return base + (_grads(tensors, self._free.get(base)),), self._captures.result

    def _guard(self, key, flat, captured):
        """A function ``guard(flat)``, true only when ``_key`` of the call would be ``key``:
        the same checks in straight-line generated code, comparing with the objects this
        call sees (``captured``, the captures' walk, by identity), so that a call like the
        last one skips building the key (several microseconds at small sizes)."""
        parts, sharing, backend, grad, _, grads = key
        tensors = captured[0]
        ns = {"_ndarray": _ndarray, "_get": self._captures.get, "_id": id, "_root": memory.root,
              "_current": backends.current, "_grad": is_grad_enabled,
              "_owners": self._owners[1], "_captured": captured}
        n = [0]

        def const(v):
            n[0] += 1
            ns[f"k{n[0]}"] = v
            return f"k{n[0]}"

        tests = [f"len(flat) == {len(parts)}"]
        for i, (part, a) in enumerate(zip(parts, flat)):
            if part[0] == "T":
                tests += [f"type(flat[{i}]) is {const(type(a))}",
                          f"flat[{i}]._data.shape == {const(part[1])}",
                          f"flat[{i}]._data.dtype == {const(part[2])}",
                          f"flat[{i}]._rg is {part[3]}", _grad_test(f"flat[{i}]", part[4], const)]
            elif part[0] == "A":
                tests += [f"type(flat[{i}]) is _ndarray", f"flat[{i}].shape == {const(part[1])}",
                          f"flat[{i}].dtype == {const(part[2])}"]
            elif part[0] == "N":
                tests += [f"type(flat[{i}]) is {const(part[1])}", f"flat[{i}] == {const(part[2])}"]
            else:
                tests.append(f"flat[{i}] is {const(a)}")
        tests.append("_get() is _captured")
        for t, g in zip(tensors, grads):
            c = const(t)
            tests += [f"{c}._data is {const(t._data)}", f"{c}._rg is {t._rg}"]
            if g is not None:
                tests.append(_grad_test(c, g, const))
        tests += [f"_current().NAME == {backend!r}", f"_grad() is {grad}"]
        # (``_sharing`` is None: no argument's memory is another's or a captured array's)
        assert sharing is None
        roots = []
        for i, a in enumerate(flat):
            if _array_of(a) is not None:
                data = f"flat[{i}]._data" if isinstance(a, Tensor) else f"flat[{i}]"
                tests.append(f"(r{i} := _id(_root({data}))) not in _owners")
                roots.append(f"r{i}")
        if len(roots) > 1:
            tests.append(f"len({{{', '.join(roots)}}}) == {len(roots)}")
        src = "def guard(flat):\n    return (" + "\n            and ".join(tests) + ")\n"
        return _define(src, "guard", ns)

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != self._plain:
            bound = self._sig.bind(*args, **kwargs)
            bound.apply_defaults()
            flat = list(bound.arguments.values())
            if self._var:
                flat = _flatten(flat)
        else:  # (every parameter given by position: bind would give args as they are)
            flat = args
        last = self._last
        if last is not None and last[0](flat):
            self._replays += 1
            with self._running:
                return last[1](flat)
        key, captured = self._key(flat)
        prog = self._cache.get(key)
        if prog is None:
            return self._record(key, captured, flat, args, kwargs)
        if type(prog) is str:
            self._eager += 1
            return self.fn(*args, **kwargs)
        if not prog.verified:
            return self._verify(key, prog, captured, flat, args, kwargs)
        if prog.guard is None or prog.guard_for is not captured:
            prog.guard, prog.guard_for = self._guard(key, flat, captured), captured
        self._last = prog.guard, prog.fast or prog.run
        self._replays += 1
        with self._running:
            return prog.run(flat)

    def _verify(self, key, prog, captured, flat, args, kwargs):
        tensors, opts, _, _ = captured
        tensors = tensors + _arg_tensors(flat, tensors)  # (a replay sets their .grad too)
        before = _state(tensors, opts)
        gens = _generators(prog)
        drawn = [g.bit_generator.state for g in gens]
        try:
            replayed = prog.run(flat)
        except Exception as e:  # noqa: BLE001  (any failure of a replay means: eager)
            replayed, why = None, f"the replay failed ({type(e).__name__}: {e})"
        else:
            why = None
        after_replay = _state(tensors, opts)
        _restore(before)
        drawn, after_draws = [g.bit_generator.state for g in gens], drawn
        for g, state in zip(gens, after_draws):
            g.bit_generator.state = state  # (the eager run draws what the replay drew)
        out = self.fn(*args, **kwargs)
        if why is None:
            if not _same(replayed, out):
                why = "a result differs"
            elif [g.bit_generator.state for g in gens] != drawn:
                why = "the random numbers drawn differ"
            else:
                why = _difference(tensors, opts, after_replay)
                why = why and f"{why} differs"
        if why is not None:
            self._fallback(key, f"{why} from an eager run (work outside the recorded "
                                f"kernels: raw numpy writes, random numbers, Python numbers "
                                f"computed from values?)")
        else:
            prog.verified = True
            self._replays += 1
        return out

    def _fallback(self, key, why):
        self._cache[key] = why
        warnings.warn(f"compile: {getattr(self.fn, '__qualname__', self.fn)} runs eagerly "
                      f"for this signature: {why}", RuntimeWarning, stacklevel=4)

    def _record(self, key, captured, flat, args, kwargs):
        tensors, opts, arrays, _ = captured
        sharing = key[1]
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._records += 1
        rec = _Recorder()
        rec.fn_name = getattr(self.fn, "__qualname__", "the function")
        arg_slots = []
        if sharing is not None:
            rec.fail(f"argument {sharing} shares memory with another argument or a captured "
                     "tensor (a replay copies each argument in on its own)")
        for i, a in enumerate(flat):
            arr = _array_of(a)
            if arr is not None and id(arr) not in rec.slot:
                if not arr.flags.c_contiguous:
                    rec.fail(f"argument {i} is not C-contiguous (not replayed yet)")
                arg_slots.append((rec.new(arr), i))
        rec.live = []
        rec.grads = {}  # id(tensor) -> the array backward gave its .grad
        rec.args = {id(a): i for i, a in enumerate(flat) if isinstance(a, Tensor)}
        rec.captured = {id(t) for t in tensors}
        rec.arg_grads = {}  # argument index -> the array backward last gave its .grad
        rec.graph_grads = []  # leaves of those two kinds given a .grad with a graph
        entry_grads = []
        for t in tensors:
            if id(t._data) not in rec.slot:
                rec.live.append((rec.new(t._data), t._data))
            if t._grad is not None and id(t._grad._data) not in rec.slot:
                entry_grads.append((rec.new(t._grad._data), t))
        for a in arrays:
            if id(a) not in rec.slot:
                rec.live.append((rec.new(a), a))
        known = set(rec.slot)
        entry = [(t, t._data, t._grad) for t in tensors]
        entry_args = [(i, a, a._grad) for i, a in enumerate(flat) if isinstance(a, Tensor)]
        out, failure = self._run_recording(rec, opts, known, args, kwargs)
        # (a .grad written before any read: its state at entry changes nothing)
        free = tuple([rec.first_grad.get(id(t)) != "read" for t in tensors])
        old = self._free.get(key[:-1])
        if old is not None:
            free = tuple([a and b for a, b in zip(free, old)])
        if failure is None:
            for (t, data, grad), f in zip(entry, free):
                if t._data is not data:
                    rec.fail("a captured tensor's .data was replaced inside the function")
                elif t._grad is None and (grad is not None or id(t) in rec.first_grad):
                    rec.prog.append(("none", t))  # (cleared, or set then cleared)
                elif f and t._grad is grad and grad is not None:
                    rec.fail("a .grad was written and then set back inside the function")
                elif t._grad is not grad and t._grad._data is not rec.grads.get(id(t)):
                    rec.fail(f"a .grad was assigned inside the function ({t.shape} {t.dtype})")
            for i, a, grad in entry_args:
                want = rec.arg_grads.get(i)  # (the array backward last gave its .grad)
                if not (a._grad is grad if want is None else
                        a._grad is not None and a._grad._data is want):
                    rec.fail(f"the .grad of argument {i} was assigned inside the function")
            if any(t._grad is not None and t._grad._node is not None for t in rec.graph_grads):
                rec.fail("a .grad keeps the graph of backward(create_graph=True) after the "
                         "function returns (a replay's .grad has none)")
            spec = _out_spec(rec, out)
            failure = rec.failure
        if failure is not None:
            self._fallback(key, failure)
            return out
        from .compile_passes import optimize  # (it imports this module)
        rec.prog, spec = optimize(rec.prog, spec, rec.keep)
        free_of = {id(t): f for t, f in zip(tensors, free)}
        entry_grads = [(k, t) for k, t in entry_grads if not free_of[id(t)]]
        prog = _Program(rec, arg_slots, entry_grads, spec, tensors)
        self._free[key[:-1]] = free
        state = tuple([g is None or g._data.dtype for _, _, g in entry])
        self._cache[key[:-1] + (tuple([None if f else g for g, f in zip(state, free)]),)] = prog
        return out

    def _run_recording(self, rec, opts, known, args, kwargs):
        with _recording, _fused_recording(rec):
            return self._patched(rec, opts, known, args, kwargs)

    def _patched(self, rec, opts, known, args, kwargs):
        real = backends.current()
        own = backends.state.__dict__
        saved_own = own.get("active", _MISSING)
        saved_common, saved_small = backends.common, engine._small
        saved_backward = _tensor_module.backward
        saved_fit = engine._fit
        saved_writing = memory.writing
        saved_reads = {n: Tensor.__dict__[n] for n in _READS + ("data",) if n in Tensor.__dict__}
        patched = []

        def writing(a, what):
            if threading.get_ident() != rec.thread:
                return saved_writing(a, what)
            f = sys._getframe(1).f_code
            if f not in _WRITERS:
                rec.fail(f"an in-place write ({what}) at {_where()} is not recorded yet")
            return saved_writing(a, what)

        slot = Tensor.__dict__["_grad"]
        first = rec.first_grad = {}  # id(tensor) -> its first .grad access: "read"/"write"

        def get_grad(t):
            if threading.get_ident() == rec.thread and id(t) not in first:
                first[id(t)] = "read"
            return slot.__get__(t, Tensor)

        def set_grad(t, v):
            if threading.get_ident() == rec.thread and id(t) not in first:
                first[id(t)] = "write"
            slot.__set__(t, v)

        try:
            Tensor._grad = property(get_grad, set_grad)
            own["active"] = _Proxy(real, rec)
            backends.common = None
            engine._small = _Proxy(numpy_backend, rec)
            _tensor_module.backward = functional.backward = _backward(rec, saved_backward)
            engine._fit = _recording_fit(rec, saved_fit)
            memory.writing = writing
            for n in _READS:
                if n in saved_reads:
                    setattr(Tensor, n, _reading(n, saved_reads[n], rec, known))
            Tensor.data = property(_reading("data", saved_reads["data"].fget, rec, known), saved_reads["data"].fset)
            for mod, name, f in STEPS + IMPURE:
                setattr(mod, name, _recording_step(rec, name, f))
            for o in opts:
                o._update = _recording_update(rec, o, type(o)._update.__get__(o))
                patched.append(o)
            out = self.fn(*args, **kwargs)
            return out, rec.failure
        finally:
            Tensor._grad = slot
            for o in patched:
                o.__dict__.pop("_update", None)
            for mod, name, f in STEPS + IMPURE:
                setattr(mod, name, f)
            for n, v in saved_reads.items():
                setattr(Tensor, n, v)
            memory.writing = saved_writing
            _tensor_module.backward = functional.backward = saved_backward
            engine._fit = saved_fit
            engine._small = saved_small
            if saved_own is _MISSING:
                own.pop("active", None)
            else:
                own["active"] = saved_own
            backends.common = saved_common


_MISSING = object()
# The code that may write in place while recording: each write of theirs is a step.
_WRITERS = (optim.Optimizer.step.__code__, _restore.__code__, layers._moved.__code__)


def _owners(tensors, arrays):
    """The arrays owning the memory of the captured tensors and arrays, by id."""
    owners = {id(memory.root(t._data)) for t in tensors}
    owners.update(id(memory.root(a)) for a in arrays)
    return frozenset(owners)


def _sharing(flat, captured):
    """The first argument whose memory is another argument's or a captured array's (the
    same buffer, or views of one; ``captured``: ``_owners``), or None. A replay copies
    each argument into a buffer of its own, so a call where this differs is another
    signature, and one where it is not None runs eagerly."""
    owners = set(captured)
    for i, a in enumerate(flat):
        arr = _array_of(a)
        if arr is not None:
            r = id(memory.root(arr))
            if r in owners:
                return i
            owners.add(r)
    return None
def _grads(tensors, free):
    """The key's part for the captured tensors' ``.grad``: None where ``free`` says its
    state at entry does not matter, else True (no .grad) or its dtype."""
    if free is None:
        return tuple([t._grad is None or t._grad._data.dtype for t in tensors])
    return tuple([None if f else t._grad is None or t._grad._data.dtype
                  for t, f in zip(tensors, free)])


def _grad_test(who, g, const):
    """The guard's test that tensor ``who``'s .grad is as the key's ``g`` says."""
    if g is True:
        return f"{who}._grad is None"
    return f"{who}._grad is not None and {who}._grad._data.dtype == {const(g)}"


# One recording at a time (they patch module attributes); reentrant, for a compiled
# function that calls another while it records.
_recording = threading.RLock()


def _arg_tensors(flat, tensors):
    """The tensors among the arguments that are not in ``tensors``."""
    known = {id(t) for t in tensors}
    return [a for a in flat if isinstance(a, Tensor) and id(a) not in known]


def _array_of(a):
    if isinstance(a, Tensor):
        return a._data
    if type(a) is _ndarray:
        return a
    return None


def _flatten(values):
    flat = []
    for v in values:
        if isinstance(v, tuple):
            flat.extend(v)
        elif isinstance(v, dict):
            flat.extend(v.values())
        else:
            flat.append(v)
    return flat

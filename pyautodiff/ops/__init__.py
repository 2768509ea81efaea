"""The op record, ``defop`` and the registry.

An op is a forward on arrays (through the active backend ``B``) and one VJP
per input, written with pyautodiff ops. VJPs compute with ``K.<kernel>``: the
engine passes the backend itself when nothing is recorded (the backward pass
then runs on bare arrays) and ``P`` under ``create_graph``, so the same rule,
recorded, gives higher-order derivatives. ``P.<name>`` calls an op *dually*:
on plain arrays it runs the forward and returns an array, on Tensors it
records; VJPs use it (and operators and numpy-named methods, dual by nature)
for what is not a kernel, such as reshaping.

Every public function that takes numpy's ``axis=`` or ``keepdims=`` also takes
PyTorch's names for them, ``dim=`` and ``keepdim=`` (``torch_names``): one
renaming, here, for the ops ``defop`` makes public and the functions built from
them, so the Tensor methods, which are those functions, take them too.
"""

import dis
import functools
import inspect
import types

from .. import backends
from ..engine import apply, apply1, apply2
from ..tensor import Tensor

REGISTRY = {}
P = types.SimpleNamespace()

# PyTorch's keyword names for numpy's, accepted wherever numpy's are.
TORCH_NAMES = {"dim": "axis", "keepdim": "keepdims"}


class Op:
    """A differentiable primitive: ``forward(B, *inputs, *params, **kw)`` and its VJPs.

    ``vjps[i](K, g, out, *inputs, *params, **kw)`` returns the gradient for
    input ``i`` given the upstream gradient ``g`` and the forward result ``out``.
    ``K`` holds the kernels to compute it with: the backend itself when nothing
    is recorded (arrays in, arrays out, no dispatch), or ``P`` under
    ``create_graph`` (so the backward pass is recorded).
    """

    __slots__ = ("forward", "fused", "name", "nin", "save_in", "save_out", "vjps")

    def __init__(self, name, forward, vjps, nin, fused=None):
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.nin = nin
        self.fused = fused
        self.save_out, self.save_in = _saves(vjps, nin, fused)

    def __call__(self, *args, **kw):
        # Parameters are checked too: harmless, and cheaper than slicing them off.
        for a in args:
            if isinstance(a, Tensor):
                return apply(self, args, kw)
        return self.forward(backends.current(), *args, **kw)

    def __repr__(self):
        return f"<op {self.name}>"


def _reads(fn):
    """The positional parameters ``fn`` reads (its body loads them), or None when
    that cannot be told from its code (then every argument counts as read)."""
    code = getattr(fn, "__code__", None)
    if code is None or code.co_flags & inspect.CO_VARARGS:
        return None
    params = code.co_varnames[: code.co_argcount]
    loaded = set()
    for ins in dis.get_instructions(code):
        # Only pure stores are skipped: fused forms such as 3.13's STORE_FAST_LOAD_FAST
        # also load, and counting a name too many is safe (it is kept, not dropped).
        if ins.opname in ("STORE_FAST", "DELETE_FAST", "STORE_DEREF", "DELETE_DEREF"):
            continue
        loaded.update(ins.argval if type(ins.argval) is tuple else (ins.argval,))
    return [p in loaded for p in params]


def _saves(vjps, nin, fused):
    """What the backward pass must keep of a call: ``(the output?, [input i?])``.

    Read from the VJPs themselves (``vjp(K, g, out, *inputs)``): an input no VJP
    reads, such as ``x`` for ``tanh`` (whose gradient uses the output), is not
    kept, so an intermediate result is freed as soon as no one else holds it.
    """
    if nin is None:
        return True, None
    out, inputs = False, [False] * nin
    for i, vjp in enumerate(vjps):
        reads = _reads(vjp)
        if reads is None or len(reads) < 3 + nin:
            return True, None
        out = out or reads[2]
        inputs = [a or b for a, b in zip(inputs, reads[3:3 + nin])]
        spec = fused and fused[i]
        if spec:
            if spec[1] is None:
                out = True
            elif type(spec[1]) is int:
                inputs[spec[1]] = True
    return out, None if all(inputs) else tuple(inputs)


class _PerIndex:
    """VJPs of an op with any number of inputs: ``vjp(i, K, g, out, *inputs)``."""

    __slots__ = ("vjp",)

    def __init__(self, vjp):
        self.vjp = vjp

    def __getitem__(self, i):
        return functools.partial(self.vjp, i)


def _aliases(fn):
    """The ``(torch_name, numpy_name)`` pairs of ``TORCH_NAMES`` that fit ``fn``'s parameters."""
    params = inspect.signature(fn).parameters
    return tuple((t, n) for t, n in TORCH_NAMES.items() if n in params)


def _renamed(where, aliases, kw):
    """``kw`` (a call's own dict) with PyTorch's names in ``aliases`` turned into numpy's."""
    for torch_name, name in aliases:
        if torch_name in kw:
            if name in kw:
                raise TypeError(f"{where}: got both {name}= and {torch_name}= (PyTorch's name "
                                f"for {name}), expected one of them")
            kw[name] = kw.pop(torch_name)
    return kw


def torch_names(fn):
    """Decorator: ``fn`` also takes ``dim=`` for its ``axis=`` and ``keepdim=`` for its
    ``keepdims=`` (those of the two it has), as PyTorch names them; both at once is a
    TypeError. Public ops get this from ``defop``; this is for the functions built
    from them.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff.ops import torch_names
    >>> @torch_names
    ... def total(x, axis=None, keepdims=False):
    ...     return ad.sum(x, axis=axis, keepdims=keepdims)
    >>> total(ad.ones((2, 3)), dim=1, keepdim=True).shape
    (2, 1)
    """
    aliases = _aliases(fn)

    @functools.wraps(fn)
    def function(*args, **kw):
        return fn(*args, **_renamed(fn.__name__, aliases, kw)) if kw else fn(*args)

    return function


def defop(vjp, nin=1, name=None, public=True, fused=None):
    """Register the decorated forward ``f(B, *inputs, ...)`` as an op.

    ``vjp`` is one function per input (a tuple, or a single function for a
    one-input op); with ``nin=None`` the op takes any number of inputs and
    ``vjp(i, K, g, out, *inputs)`` serves them all. ``fused`` may say, per
    input, that its VJP is the binary kernel ``(name, at)`` of ``g`` and the
    forward result (``at=None``), input ``at`` (an int) or the constant ``at`` (a
    float: ``("mul", -1.0)`` for ``-g``): then, when the engine already holds a
    gradient for that input, it adds the term in with ``B.acc_op`` in one pass
    (tests check both ways agree). Returns the public function (the forward's
    signature without ``B``, always returning a Tensor, taking ``dim=``/``keepdim=``
    as ``torch_names`` says), with the op as its ``op`` attribute.
    """

    def register(forward):
        op_name = name or forward.__name__
        vjps = _PerIndex(vjp) if nin is None else (vjp if isinstance(vjp, tuple) else (vjp,))
        if nin is not None and len(vjps) != nin:
            raise TypeError(f"defop {op_name}: {len(vjps)} VJPs for {nin} inputs")
        op = Op(op_name, forward, vjps, nin, fused)
        REGISTRY[op_name] = op
        setattr(P, op_name, op)
        if not public:
            return op
        aliases = _aliases(forward)

        @functools.wraps(forward)
        def function(*args, **kw):
            if len(args) == 1 and not kw:
                return apply1(op, args[0])  # t.exp(), t.sum(): the common, cheap case
            if len(args) == 2 and not kw and op.nin == 2:
                return apply2(op, *args)  # ad.add(x, y), as x + y
            if kw and aliases:
                kw = _renamed(op_name, aliases, kw)
            return apply(op, args, kw)

        sig = inspect.signature(forward)
        function.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
        del function.__wrapped__
        function.op = op
        return function

    return register

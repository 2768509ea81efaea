"""User-defined ops: ``primitive`` and ``defvjp``, in the shape of HIPS autograd's.

``primitive(fn)`` makes ``fn``, a function on numpy arrays, an op of its own: a
registry entry (``defop``) whose forward calls ``fn`` on the arrays of its Tensor
arguments and whose VJPs are the user's, given later by ``defvjp``. The engine
sees only the Tensor arguments as inputs; every other argument is a constant,
handed to ``fn`` and to the VJPs exactly as passed (numbers, index arrays, axes,
strings), so it is kept in the node's keyword parameters under ``_LAYOUT``.

The VJPs always get Tensors, as HIPS autograd's get boxes: under
``create_graph`` the engine's recorded ones, so the backward pass records; else
Tensors without history around the engine's arrays, run under ``no_grad()``, of
whose result the value is taken. A VJP thus behaves the same in both passes
whichever pyautodiff or numpy functions it uses.
"""

import functools

import numpy as np

from .engine import apply, no_grad
from .ops import REGISTRY, defop
from .tensor import Tensor, as_array

__all__ = ["defvjp", "primitive"]

# The keyword holding where the constants go among the arguments: not an identifier, so
# no keyword argument of a user's function can be mistaken for it.
_LAYOUT = "(constants)"


class _Layout:
    """A call's positional arguments with the Tensors left out (``args``, None at
    ``positions``): the constants, in place."""

    __slots__ = ("args", "positions")

    def __init__(self, args, positions):
        self.args = args
        self.positions = positions

    def fill(self, values):
        """The arguments with ``values`` (one per Tensor, in order) put back in place."""
        args = list(self.args)
        for p, v in zip(self.positions, values):
            args[p] = v
        return args

    def __repr__(self):
        # (as to_dot shows it: "_" stands for a Tensor argument)
        return "(" + ", ".join("_" if p in self.positions else repr(a)
                               for p, a in enumerate(self.args)) + ")"


class _Rule:
    """The forward and VJPs of one primitive, as ``defop`` takes them."""

    __slots__ = ("fn", "name", "vjps")

    def __init__(self, fn, name):
        self.fn = fn
        self.name = name
        self.vjps = ()

    def forward(self, B, *values, **kw):
        layout = kw.pop(_LAYOUT, None)
        args = values if layout is None else layout.fill(values)
        out = self.fn(*args, **kw)
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{self.name}: a primitive returns one array, got a "
                            f"{type(out).__name__}")
        out = as_array(out, self.name)
        for v in values:
            if out is v:  # fn returned its input: the result must not share its memory
                return out.copy()
        return out

    def vjp(self, i, K, g, out, *values, **kw):
        layout = kw.pop(_LAYOUT, None)
        p = i if layout is None else layout.positions[i]
        vjp = self.vjps[p] if p < len(self.vjps) else None
        if vjp is None:
            raise NotImplementedError(
                f"{self.name}: argument {p} requires grad but the primitive has no VJP for "
                "it; give one with ad.defvjp"
            )
        if isinstance(g, Tensor):  # create_graph: the backward pass records
            args = values if layout is None else layout.fill(values)
            gi = vjp(g, out, *args, **kw)
            return gi if isinstance(gi, Tensor) else Tensor(self._checked(gi, p))
        wrap = Tensor._make
        values = [wrap(np.asarray(v)) for v in values]
        args = values if layout is None else layout.fill(values)
        with no_grad():
            gi = vjp(wrap(np.asarray(g)), wrap(out), *args, **kw)
        gi = gi._data if isinstance(gi, Tensor) else np.asarray(self._checked(gi, p))
        # A view, so the engine never adds into it in place: the VJP may have returned
        # an array someone else holds (a constant it closed over, an input of ours).
        return gi.view()

    def _checked(self, gi, p):
        if gi is None:
            raise TypeError(f"{self.name}: the VJP for argument {p} returned None, expected "
                            "an array, a number or a Tensor")
        return gi


def _register(rule, name):
    """The op for ``rule``, registered as ``name`` or, when a library op has that name,
    as ``custom_<name>`` (a later primitive of the same name replaces the entry)."""
    held = REGISTRY.get(name)
    if held is not None and not isinstance(getattr(held.forward, "__self__", None), _Rule):
        name = f"custom_{name}"
    rule.name = name
    return defop(vjp=rule.vjp, nin=None, name=name, public=False)(rule.forward)


def primitive(fn):
    """Make ``fn``, a function on numpy arrays, an op of its own (HIPS autograd's
    ``primitive``); give its gradients with ``defvjp``.

    Parameters
    ----------
    fn : callable
        Computes on numpy arrays and returns one array or number.

    Returns
    -------
    callable
        With ``fn``'s signature. Tensor arguments reach ``fn`` as their arrays and
        are the op's inputs; every other argument (numbers, arrays, axes, keyword
        arguments) is a constant, passed to ``fn`` and the VJPs as given. Returns
        a Tensor (float32 or float64, as for ``Tensor``) that records when an
        input requires grad (not inside ``no_grad()``). The op is registered under
        ``fn``'s name (``custom_<name>`` when a library op has it), which shows in
        ``grad_fn``, errors and ``gradcheck`` reports.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> @ad.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> ad.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
    >>> x = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> y = cube(x)
    >>> y
    Tensor([1., 8.], dtype=float64, grad_fn=cube)
    >>> y.sum().backward()
    >>> x.grad
    Tensor([ 3., 12.], dtype=float64)
    """
    rule = _Rule(fn, getattr(fn, "__name__", type(fn).__name__))
    op = _register(rule, rule.name)

    @functools.wraps(fn)
    def function(*args, **kw):
        positions = tuple(p for p, a in enumerate(args) if isinstance(a, Tensor))
        for k, v in kw.items():
            if isinstance(v, Tensor):
                if v.requires_grad:
                    raise TypeError(f"{rule.name}: keyword argument {k}= is a Tensor that "
                                    "requires grad; pass it positionally to differentiate it")
                kw[k] = v._data
        if len(positions) < len(args):
            constants = tuple(None if isinstance(a, Tensor) else a for a in args)
            kw[_LAYOUT] = _Layout(constants, positions)
            args = tuple(args[p] for p in positions)
        return apply(op, args, kw)

    function.op = op
    function._rule = rule
    return function


def defvjp(prim, *vjps):
    """Give the VJPs of a ``primitive``, one per positional argument (HIPS autograd's
    ``defvjp``).

    Parameters
    ----------
    prim : a function made by ``primitive``
    *vjps : callable or None
        ``vjps[i](g, ans, *args, **kwargs)`` returns the gradient for argument
        ``i``: ``g`` is the gradient of the output, ``ans`` the output, ``args``
        and ``kwargs`` the call's arguments. ``g``, ``ans`` and the Tensor
        arguments are Tensors: write the VJP with pyautodiff functions, Tensor
        operators or numpy functions (which dispatch to pyautodiff), so that it is
        differentiable again under ``create_graph``. The result may be broadcast
        (it is summed back to the argument's shape). ``None``, or leaving
        arguments out at the end, means no gradient: a backward pass that needs
        one raises NotImplementedError naming the primitive. A later call
        replaces the VJPs.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> @ad.primitive
    ... def scaled_sin(x, scale):
    ...     return np.sin(x) * scale
    >>> ad.defvjp(scaled_sin, lambda g, ans, x, scale: g * np.cos(x) * scale,
    ...           lambda g, ans, x, scale: g * np.sin(x))
    >>> ad.grad(lambda x: scaled_sin(x, 2.0))(0.0)
    Tensor(2., dtype=float64)
    >>> ad.grad(ad.grad(lambda x: scaled_sin(x, 2.0)))(np.pi / 2)  # -2 sin(pi / 2)
    Tensor(-2., dtype=float64)
    """
    rule = getattr(prim, "_rule", None)
    if not isinstance(rule, _Rule):
        raise TypeError(f"defvjp: expected a function made by ad.primitive, got {prim!r}")
    for i, v in enumerate(vjps):
        if v is not None and not callable(v):
            raise TypeError(f"defvjp: the VJP for argument {i} of {rule.name} is "
                            f"{type(v).__name__}, expected a function or None")
    rule.vjps = vjps

"""Function transforms, as JAX and HIPS autograd have them: ``grad``, ``value_and_grad``,
``vjp``, ``jvp``, ``jacrev`` (``jacobian``), ``jacfwd`` and ``hessian``.

A transform calls ``f`` on fresh leaf tensors made from the chosen arguments and
runs ``backward`` from the result. Three things make that a pure function:

- Nothing the caller holds is touched: arguments are never written to, and the
  ``.grad`` of every tensor the backward pass reaches (closure-held parameters,
  passed tensors) is put back as it was.
- An argument that is itself recorded (it requires grad, as inside another
  transform or for a tensor the user is tracking) is fed to ``f`` as
  ``x + d`` with ``d`` a zero leaf of our own: the gradient reaching ``d`` is the
  gradient with respect to ``x``, and it keeps ``x``'s history, so
  ``grad(grad(f))`` and ``backward()`` through a returned gradient work.
- The backward pass is recorded (``create_graph=True``) only when the result
  depends on some tensor that requires grad other than our own leaves, and
  grad mode is on where the transform is called: then the returned gradient
  carries history to those tensors (as every op result does in pyautodiff);
  otherwise it is a plain tensor and the cheaper unrecorded pass runs. Inside
  ``no_grad()`` the result never carries history; ``f`` itself is always
  recorded (a transform's result does not depend on the context it is called
  from, as in ``torch.func``).

When the output has no recorded path to a differentiated argument (``f``
ignores it, or uses it only through ``detach``, comparisons or ``.item()``), the
result for it is zeros and a ``UserWarning`` says so, in HIPS autograd's words
("Output seems independent of input."). The graph decides, not the values: a
gradient that happens to be zero at a point does not warn.

Forward mode (``jvp``, ``jacfwd``) is reverse mode transposed, with no rule of
its own per op: for a fresh leaf ``u`` of the output's shape, the VJP
``g(u) = J^T u``, recorded (``create_graph``), is a graph linear in ``u``, and a
reverse pass through it from ``g`` with seed ``v`` gives ``J v`` in ``u.grad``.
That is exact, covers every op that has a VJP (users' primitives too), and
keeps everything a reverse-mode graph, so forward and reverse transforms nest
either way. It costs a recorded backward pass and a backward pass through that
(run only toward ``u``: ``engine.backward``'s ``inputs``): a ``jvp`` took about
2.9x the time of a ``vjp`` (forward and one reverse pass), and ``jacfwd`` 1.4x
``jacrev``, on a (100,) -> (100,) function (``benchmarks/test_transforms.py``).
"""

import functools
import numbers
import warnings

import numpy as np

from .engine import Node, backward, enable_grad, is_grad_enabled
from .ops.shape import copy, stack
from .tensor import Tensor

__all__ = ["grad", "hessian", "jacfwd", "jacobian", "jacrev", "jvp", "value_and_grad", "vjp"]


# ----- argument handling --------------------------------------------------------------

# The arrays the transforms make, as pure functions of shapes and arrays: ``compile``
# records a call of each as one step of a program.
def _zeros(shape, dtype):
    return np.zeros(shape, dtype=dtype)


def _one_hot(shape, dtype, k):
    """Zeros of ``shape`` but a 1 at flat index ``k``: a seed of ``_jacobian_rows``."""
    seed = np.zeros(shape, dtype=dtype)
    seed.flat[k] = 1
    return seed


def _stacked(shape, *arrays):
    return np.stack(arrays).reshape(shape)


def _check_argnums(argnums, where):
    """``argnums`` as given (int or tuple of ints) after checking its type."""
    ok = (isinstance(argnums, numbers.Integral) and not isinstance(argnums, bool)) or (
        isinstance(argnums, tuple) and argnums and all(
            isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in argnums))
    if not ok:
        raise TypeError(
            f"{where}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}"
        )
    return argnums


def _positions(argnums, nargs, where):
    """The argument positions ``argnums`` names (negative ones counted from the end)."""
    many = isinstance(argnums, tuple)
    positions = []
    for i in argnums if many else (argnums,):
        j = i + nargs if i < 0 else i
        if not 0 <= j < nargs:
            # JAX's wording and exception type for the same mistake.
            raise TypeError(
                f"{where}: differentiating with respect to argnums={argnums} requires at "
                f"least {i + 1 if i >= 0 else -i} positional arguments, got {nargs}"
            )
        positions.append(j)
    return positions, many


def _input(value, where, pos):
    """The tensor ``f`` gets for the differentiated argument ``value``, and its leaf.

    A recorded tensor becomes ``value + d`` (``d`` the leaf, zero) so that the
    gradient keeps ``value``'s history; anything else becomes a fresh leaf
    holding the value, so the caller's tensor or array is never touched.
    """
    if isinstance(value, Tensor):
        if value.requires_grad and is_grad_enabled():
            d = Tensor(_zeros(value.shape, value.dtype), requires_grad=True)
            return value + d, d
        leaf = value.detach()  # shares the array; the engine never writes into a leaf's
    else:
        try:
            leaf = Tensor(value)  # copies: later changes to the caller's array do not matter
        except TypeError as e:
            raise TypeError(f"{where}: argument {pos}: {e}") from None
    try:
        leaf.requires_grad = True
    except TypeError as e:
        raise TypeError(f"{where}: argument {pos}: {e}") from None
    return leaf, leaf


def _call(f, args, kwargs, argnums, where):
    """Run ``f`` with fresh inputs at ``argnums``.

    Returns ``(output, inputs, leaves, many, recording)``: ``inputs`` and ``leaves``
    are per argnum (inputs are what ``f`` saw), ``recording`` whether grad mode
    was on at the call.
    """
    positions, many = _positions(argnums, len(args), where)
    recording = is_grad_enabled()
    args = list(args)
    made = {}
    with enable_grad():
        for j in positions:
            if j not in made:  # a position named twice gets one input and one gradient
                made[j] = _input(args[j], where, j)
                args[j] = made[j][0]
        out = f(*args, **kwargs)
    inputs = [made[j][0] for j in positions]
    leaves = [made[j][1] for j in positions]
    return out, inputs, leaves, many, recording


def _as_output(value, where):
    """An output of ``f`` as a Tensor (numbers and arrays are constants)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        try:
            return Tensor(value)
        except TypeError:
            pass
    raise TypeError(
        f"{where}: f must return a Tensor, an array or a number, got {type(value).__name__}"
    )


def _outputs(out, where):
    """``f``'s result as a list of Tensors, and whether it returned several (a tuple or
    list of outputs, as JAX's transforms take them)."""
    several = isinstance(out, (tuple, list))
    return [_as_output(o, where) for o in (out if several else (out,))], several


def _split_aux(out, has_aux, where):
    """``(output, aux)`` from what ``f`` returned: with ``has_aux`` it must be a pair."""
    if not has_aux:
        return out, None
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        got = (f"a {type(out).__name__} of length {len(out)}" if isinstance(out, (tuple, list))
               else type(out).__name__)
        raise TypeError(f"{where}: with has_aux=True f must return a pair (output, aux), "
                        f"got {got}")
    return out[0], out[1]


def _sequence(value, where, name):
    """``value`` (``jvp``'s primals or tangents, several outputs' cotangents) as a tuple."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: {name} must be a tuple or list, got {type(value).__name__}")
    return tuple(value)


def _matching(value, like, where, what, of):
    """A tangent or cotangent ``value`` for the Tensor ``like`` (``what`` and ``of`` name
    both in errors): its shape must be ``like``'s, and so must its dtype when it is an
    array or Tensor (as JAX requires); numbers and lists take ``like``'s dtype."""
    if isinstance(value, Tensor):
        a = value._data
    elif isinstance(value, (np.ndarray, np.generic)):
        a = np.asarray(value)
    else:
        try:
            a = np.asarray(value, dtype=like.dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{where}: {what} must hold real numbers, got "
                            f"{type(value).__name__} ({e})") from None
    if a.shape != like.shape:
        raise ValueError(f"{where}: {what} has shape {a.shape}, expected {of}'s shape "
                         f"{like.shape}")
    if a.dtype != like.dtype:
        raise TypeError(f"{where}: {what} has dtype {a.dtype}, expected {of}'s dtype "
                        f"{like.dtype}")
    return value if isinstance(value, Tensor) else a


def _warn_independent(where, detail, stacklevel):
    """HIPS autograd's warning; ``stacklevel`` counts from the caller of this function."""
    warnings.warn(f"{where}: Output seems independent of input. {detail}", UserWarning,
                  stacklevel=stacklevel + 1)


# ----- the backward passes ------------------------------------------------------------

def _reached_leaves(root):
    """The leaf tensors requiring grad that a backward pass from ``root`` reaches, by id.

    Follows the inputs each node records as wanting a gradient, as the backward pass
    does. Walks the graph with a stack: a chain of 10**5 ops must not hit the
    recursion limit.
    """
    if root._node is None:
        return {id(root): root} if root.requires_grad else {}
    found = {}
    seen = {id(root._node)}
    stack_ = [root._node]
    while stack_:
        node = stack_.pop()
        args = node._args
        if args is None:
            continue  # freed by an earlier backward (which then says so, if it runs)
        for i in node._needs:
            a = args[i]
            if isinstance(a, Node):
                if id(a) not in seen:
                    seen.add(id(a))
                    stack_.append(a)
            elif a.requires_grad:
                found[id(a)] = a
    return found


class _Pass:
    """Backward passes from the outputs of one call of ``f`` to our leaves.

    Works out once whether to record them (see the module docstring), keeps the
    ``.grad`` of every other leaf they reach and puts it back in ``close()``, and
    knows which of our leaves each output reaches (``unreached``).
    """

    def __init__(self, outputs, leaves, recording):
        self.leaves = leaves
        self.reached = [_reached_leaves(o) for o in outputs]
        mine = {id(leaf) for leaf in leaves}
        outside = {k: t for r in self.reached for k, t in r.items() if k not in mine}
        self.outside = list(outside.values())
        self.create = recording and bool(outside)
        self.hold()

    def hold(self):
        """Note the ``.grad`` of the other leaves, for ``close()`` to put back."""
        self.saved = [(t, t.grad) for t in self.outside]

    def unreached(self, given, k=None):
        """The entries of ``given`` (one per leaf: argnums as given, or primal indices)
        whose leaf output ``k`` (None: every output) has no path to."""
        reached = self.reached[k] if k is not None else {i for r in self.reached for i in r}
        missing = []
        for a, leaf in zip(given, self.leaves):
            if id(leaf) not in reached and a not in missing:
                missing.append(a)
        return missing

    def warn_unreached(self, k, where, argnums, stacklevel, output=None):
        """Warn, as HIPS autograd does, if output ``k`` has no path to the leaf of some
        argnum (``argnums`` as given): its gradient or Jacobian is then zeros."""
        missing = self.unreached(argnums if isinstance(argnums, tuple) else (argnums,), k)
        if missing:
            which = missing[0] if len(missing) == 1 else tuple(missing)
            of = "" if output is None else f"output {output}, "
            _warn_independent(where, f"The result for {of}argnums={which} is zeros.",
                              stacklevel + 1)

    def run(self, out, seed=None, create=None):
        """The gradients of ``out`` (times ``seed``) for each leaf; zeros where none arrive.
        The pass is recorded if ``create`` (default: as worked out for this call)."""
        create = self.create if create is None else create
        for leaf in self.leaves:
            leaf.grad = None
        if out.requires_grad:
            # retain_graph: the graph may be the caller's too (closure-held results), and
            # a Jacobian runs through it once per output element.
            # (only toward our leaves: the rest of the graph, the caller's or an
            # enclosing transform's, is not run)
            backward(out, seed, True, create, inputs=self.leaves)
        grads = []
        for leaf in self.leaves:
            g = leaf.grad
            if g is None:
                g = Tensor(_zeros(leaf.shape, leaf.dtype))
            elif not create:
                g = g.detach()
            grads.append(g)
        for leaf in self.leaves:
            leaf.grad = None
        return grads

    def close(self):
        for t, g in self.saved:
            t.grad = g
        # Our leaves are private: once done they must not count as "requiring grad" for
        # an enclosing transform that meets them in the graph of what we return.
        for leaf in self.leaves:
            leaf.requires_grad = False


def _value_and_grads(f, argnums, where, args, kwargs, warn=True, has_aux=False):
    """``(value, gradient(s), aux)`` of scalar ``f`` (``aux`` None without ``has_aux``)."""
    out, _, leaves, many, recording = _call(f, args, kwargs, argnums, where)
    out, aux = _split_aux(out, has_aux, where)
    out = _as_output(out, where)
    if out.size != 1:
        raise ValueError(
            f"{where}: f must return a one-element (scalar) output, got shape {out.shape}; "
            "use jacobian for a non-scalar output"
        )
    p = _Pass([out], leaves, recording)
    try:
        grads = p.run(out)
    finally:
        p.close()
    if warn:
        p.warn_unreached(0, where, argnums, stacklevel=3)  # the caller of the transformed f
    value = out if p.create else out.detach()
    return value, tuple(grads) if many else grads[0], aux


class _Linearized:
    """``f`` called once at ``args``; ``pull(cotangent)`` is then ``J^T cotangent`` for
    the arguments at ``argnums``, as many times as wanted (the graph is retained).

    Attributes: ``outs`` (the outputs, recorded), ``values`` (the outputs to hand back:
    with history only as ``grad``'s value has it), ``several`` (``f`` returned a tuple
    or list), ``leaves`` and ``many`` (per argnum, as ``_call``), ``aux``, ``p``.
    """

    def __init__(self, f, args, kwargs, argnums, where, has_aux=False):
        self.where = where
        out, _, self.leaves, self.many, recording = _call(f, args, kwargs, argnums, where)
        out, self.aux = _split_aux(out, has_aux, where)
        outs, self.several = _outputs(out, where)
        # A backward pass must start from a recorded result; our leaves stop requiring
        # grad below, so an output that is one of them (f returns an input) is copied.
        with enable_grad():
            self.outs = [copy(o) if o._node is None and o.requires_grad else o for o in outs]
        self.p = _Pass(self.outs, self.leaves, recording)
        self.p.close()
        self.values = [o if self.p.create else o.detach() for o in outs]

    def pull(self, cotangent):
        """``J^T cotangent``: a list, one gradient per argnum. Recorded (differentiable)
        when the result depends on tensors requiring grad: the cotangent's, or others
        than our leaves; never inside ``no_grad()``."""
        where, outs = self.where, self.outs
        if self.several:
            cts = _sequence(cotangent, where, f"the cotangent of {len(outs)} outputs")
            if len(cts) != len(outs):
                raise ValueError(f"{where}: {len(cts)} cotangents for {len(outs)} outputs")
            names = [(f"cotangent {k}", f"output {k}") for k in range(len(outs))]
        else:
            cts, names = (cotangent,), [("cotangent", "the output")]
        cts = [_matching(c, o, where, *name) for c, o, name in zip(cts, outs, names)]
        p = self.p
        create = is_grad_enabled() and (
            bool(p.outside) or any(isinstance(c, Tensor) and c.requires_grad for c in cts))
        p.hold()
        try:
            total = None
            for o, c in zip(outs, cts):
                grads = p.run(o, c, create)
                total = grads if total is None else [a + b for a, b in zip(total, grads)]
        finally:
            p.close()
        return total

    def push(self, tangents):
        """``J tangents`` (one tangent per argnum), a list with one entry per output: the
        reverse pass transposed (module docstring). ``g(u) = pull(u)`` is recorded for
        fresh leaves ``u``; the gradient of ``<g(u), tangents>`` for ``u`` is the result."""
        us = [_zeros(o.shape, o.dtype) for o in self.outs]
        linear = _Linearized(self._g, us, {}, tuple(range(len(us))), self.where)
        return linear.pull(tuple(tangents))

    def _g(self, *u):
        return self.pull(u if self.several else u[0])


def _transform_doc(fn, f, what, argnums):
    name = getattr(f, "__name__", type(f).__name__)
    fn.__doc__ = f"{what} of {name} with respect to positional argument(s) {argnums}."
    return fn


def _which(noun, missing):
    """``"primal 1"`` or ``"primals 0, 2"``."""
    return f"{noun}{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"


# ----- public transforms --------------------------------------------------------------

def grad(f, argnums=0, has_aux=False):
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    Parameters
    ----------
    f : callable
        Takes Tensors at the positions ``argnums`` and returns a one-element
        Tensor (any shape of size 1), array or number; with ``has_aux``, a pair
        ``(that, aux)``.
    argnums : int or tuple of int
        Which positional arguments to differentiate with respect to.
    has_aux : bool
        ``f`` returns ``(output, aux)``; the function then returns
        ``(gradient, aux)``, ``aux`` as ``f`` returned it (as JAX's ``grad``).

    Returns
    -------
    callable
        A function with ``f``'s signature returning the gradient: a Tensor of the
        argument's shape and dtype, or a tuple of them when ``argnums`` is a tuple.
        Arguments may be Tensors, numpy arrays, nested lists or numbers (integers
        and bools become float64, as in ``Tensor``; a list is one array, not a
        pytree as in JAX). An argument ``f`` does not depend on gets zeros, with a
        ``UserWarning`` ("Output seems independent of input.", as HIPS autograd).
        ``f`` must return one element, else ``ValueError``.

    Notes
    -----
    Composable: ``grad(grad(f))`` gives the second derivative. The returned
    gradient carries history (can be differentiated again or backpropagated) when
    it depends on a tensor that requires grad, such as an argument passed with
    ``requires_grad=True`` or the input of an enclosing transform; inside
    ``no_grad()`` it never does. No argument and no ``.grad`` of the caller's
    tensors is modified.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.grad(lambda x: (x ** 3).sum())([1.0, 2.0])
    Tensor([ 3., 12.], dtype=float64)
    >>> ad.grad(ad.grad(lambda x: x ** 3))(2.0)
    Tensor(12., dtype=float64)
    >>> ad.grad(lambda x, y: x * y, argnums=(0, 1))(3.0, 4.0)
    (Tensor(4., dtype=float64), Tensor(3., dtype=float64))
    >>> ad.grad(lambda x: (x * x, "aux"), has_aux=True)(3.0)
    (Tensor(6., dtype=float64), 'aux')
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ad.grad(lambda x, y: 2 * x, argnums=1)(3.0, 4.0)
    Tensor(0., dtype=float64)
    >>> print(caught[0].message)
    grad: Output seems independent of input. The result for argnums=1 is zeros.
    """
    _check_argnums(argnums, "grad")

    @functools.wraps(f)
    def gradient(*args, **kwargs):
        _, g, aux = _value_and_grads(f, argnums, "grad", args, kwargs, has_aux=has_aux)
        return (g, aux) if has_aux else g

    return _transform_doc(gradient, f, "Gradient", argnums)


def value_and_grad(f, argnums=0, has_aux=False):
    """Like ``grad``, but the function returns ``(f(*args), gradient)`` from one pass.

    The value is ``f``'s output as a Tensor (of ``f``'s output shape); it carries
    history exactly when the gradient does. An argument ``f`` does not depend on
    gets zeros and a ``UserWarning``, as in ``grad``. With ``has_aux=True``, ``f``
    returns ``(output, aux)`` and the function ``((value, aux), gradient)``, as JAX's;
    ``aux`` is what ``f`` returned, untouched (Tensors in it keep their history).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> value, g = ad.value_and_grad(lambda x: (x * x).sum())([1.0, 2.0])
    >>> value
    Tensor(5., dtype=float64)
    >>> g
    Tensor([2., 4.], dtype=float64)
    >>> f = lambda x: (x * x, {"x": x.item()})
    >>> (value, aux), g = ad.value_and_grad(f, has_aux=True)(3.0)
    >>> value, aux, g
    (Tensor(9., dtype=float64), {'x': 3.0}, Tensor(6., dtype=float64))
    """
    _check_argnums(argnums, "value_and_grad")

    @functools.wraps(f)
    def value_and_gradient(*args, **kwargs):
        value, g, aux = _value_and_grads(f, argnums, "value_and_grad", args, kwargs,
                                         has_aux=has_aux)
        return ((value, aux), g) if has_aux else (value, g)

    return _transform_doc(value_and_gradient, f, "Value and gradient", argnums)


def vjp(f, *primals, has_aux=False):
    """``f(*primals)`` and the function that pulls a cotangent back through it (reverse mode).

    Returns ``(out, vjp_fn)`` (``(out, vjp_fn, aux)`` with ``has_aux``, ``f`` then
    returning ``(output, aux)``), as JAX's ``vjp``. ``out`` is ``f``'s output as a
    Tensor (a tuple of them if ``f`` returns a tuple or list). ``vjp_fn(cotangent)``,
    for a cotangent of ``out``'s shape and dtype (a tuple of them for several
    outputs; numbers and lists take the dtype), returns a tuple with one gradient per
    primal, ``cotangent`` times the Jacobian; it may be called any number of times.
    A cotangent of another shape or dtype raises ``ValueError`` / ``TypeError``.

    Primals are handled as ``grad``'s arguments: never modified, and a primal
    that is a recorded tensor keeps its history through the result. The gradients
    are recorded (differentiable again) when they depend on tensors requiring
    grad: such a primal, a parameter ``f`` reads, or the cotangent itself (so
    ``vjp_fn`` composes with the other transforms). A primal the output does not
    depend on gets zeros, with a ``UserWarning`` from ``vjp_fn``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> out, vjp_fn = ad.vjp(lambda x, y: x * y, [1.0, 2.0], [3.0, 4.0])
    >>> out
    Tensor([3., 8.], dtype=float64)
    >>> vjp_fn([1.0, 10.0])
    (Tensor([ 3., 40.], dtype=float64), Tensor([ 1., 20.], dtype=float64))
    """
    if not primals:
        raise TypeError("vjp: needs at least one primal (f's positional arguments)")
    lin = _Linearized(f, primals, {}, tuple(range(len(primals))), "vjp", has_aux)

    def vjp_fn(cotangent):
        """The gradients for each primal of ``<out, cotangent>``, a tuple."""
        grads = lin.pull(cotangent)
        missing = lin.p.unreached(range(len(primals)))
        if missing:
            _warn_independent("vjp", f"The result for {_which('primal', missing)} is zeros.",
                              stacklevel=2)
        return tuple(grads)

    out = tuple(lin.values) if lin.several else lin.values[0]
    return (out, vjp_fn, lin.aux) if has_aux else (out, vjp_fn)


def jvp(f, primals, tangents, has_aux=False):
    """Forward mode: ``(f(*primals), J @ tangents)``, as JAX's ``jvp``.

    ``primals`` and ``tangents`` are tuples (or lists) of the same length; each
    tangent has its primal's shape, and its dtype if it is an array or Tensor
    (numbers and lists take it), else ``ValueError`` / ``TypeError`` naming both.
    Returns ``(out, tangent_out)``, each a Tensor of ``f``'s output shape (tuples
    if ``f`` returns several outputs), and ``aux`` third with ``has_aux``.

    The tangent is computed by transposing the reverse pass (see the module
    docstring): exact, and available for every op with a VJP, at the cost of
    about one recorded backward pass and one backward pass through it, beyond
    the forward pass. It composes with the reverse transforms: ``jvp`` of
    ``grad(f)`` gives Hessian-vector products, and ``grad`` of a function that
    calls ``jvp`` works. A primal the output does not depend on contributes
    nothing, and a ``UserWarning`` says so.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.jvp(lambda x: x ** 3, ([1.0, 2.0],), ([1.0, 0.5],))
    (Tensor([1., 8.], dtype=float64), Tensor([3., 6.], dtype=float64))
    >>> f = lambda x: (x ** 3).sum()
    >>> ad.jvp(ad.grad(f), ([1.0, 2.0],), ([1.0, 1.0],))[1]  # Hessian-vector product
    Tensor([ 6., 12.], dtype=float64)
    """
    primals = _sequence(primals, "jvp", "primals")
    tangents = _sequence(tangents, "jvp", "tangents")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals and {len(tangents)} tangents; "
                         "expected one tangent per primal")
    if not primals:
        raise TypeError("jvp: needs at least one primal (f's positional arguments)")
    lin = _Linearized(f, primals, {}, tuple(range(len(primals))), "jvp", has_aux)
    tangents = [_matching(t, leaf, "jvp", f"tangent {i}", f"primal {i}")
                for i, (t, leaf) in enumerate(zip(tangents, lin.leaves))]
    out_tangents = lin.push(tangents)
    missing = lin.p.unreached(range(len(primals)))
    if missing:
        verb = "contributes" if len(missing) == 1 else "contribute"
        _warn_independent("jvp", f"The tangent of {_which('primal', missing)} {verb} nothing.",
                          stacklevel=2)
    if lin.several:
        out, t = tuple(lin.values), tuple(out_tangents)
    else:
        out, t = lin.values[0], out_tangents[0]
    return (out, t, lin.aux) if has_aux else (out, t)


def _jacobian_rows(p, out, leaves):
    """The Jacobian of ``out`` for each leaf, shape ``out.shape + leaf.shape``: one
    backward pass per output element (a row each)."""
    rows = [[] for _ in leaves]
    if out.requires_grad:
        for k in range(out.size):
            for row, g in zip(rows, p.run(out, _one_hot(out.shape, out.dtype, k))):
                row.append(g)
    jacs = []
    for row, leaf in zip(rows, leaves):
        shape = out.shape + leaf.shape
        if not row:
            jacs.append(Tensor(_zeros(shape, leaf.dtype)))
        elif p.create:
            jacs.append(stack(row).reshape(shape))
        else:
            jacs.append(Tensor(_stacked(shape, *[g._data for g in row])))
    return jacs


def jacrev(f, argnums=0, has_aux=False):
    """The Jacobian of ``f`` with respect to argument(s) ``argnums``, by reverse mode.

    Returns a function with ``f``'s signature. For an output of shape ``S`` and
    an argument of shape ``A`` the Jacobian is a Tensor of shape ``S + A`` with
    ``J[s + a] = d out[s] / d x[a]``; with a tuple ``argnums``, a tuple of them.
    If ``f`` returns a tuple or list of outputs, the result is a tuple with one
    entry per output (each as above), as JAX's ``jacrev`` nests them. With
    ``has_aux``, ``f`` returns ``(output, aux)`` and the function ``(jacobian, aux)``.

    It runs one backward pass per output element (``retain_graph=True``), so it
    suits outputs with fewer elements than the arguments (``jacfwd`` the other
    way round). Arguments, history and ``.grad`` are handled as in ``grad``, so
    ``jacrev`` nests with the other transforms. An output with no path to an
    argument gives zeros for it, with a ``UserWarning``. ``ad.jacobian`` is this
    function (its messages say ``jacobian``).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.jacrev(lambda x: x * x)([1.0, 2.0])
    Tensor([[2., 0.],
            [0., 4.]], dtype=float64)
    >>> ad.jacobian(lambda x, w: w @ x, argnums=1)([1.0, 2.0], [[0.0, 0.0]])
    Tensor([[[1., 2.]]], dtype=float64)
    """
    _check_argnums(argnums, "jacrev")
    return _transform_doc(_jacobian(f, argnums, "jacrev", has_aux=has_aux), f, "Jacobian",
                          argnums)


def jacobian(f, argnums=0, has_aux=False):
    """``jacrev``: the Jacobian by reverse mode (see there; messages name ``jacobian``).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.jacobian(lambda x: 3 * x)([1.0, 2.0])
    Tensor([[3., 0.],
            [0., 3.]], dtype=float64)
    """
    _check_argnums(argnums, "jacobian")
    return _transform_doc(_jacobian(f, argnums, "jacobian", has_aux=has_aux), f, "Jacobian",
                          argnums)


def _jacobian(f, argnums, where, warn=True, has_aux=False):
    """``jacrev(f, argnums)``, naming ``where`` in its errors and warnings (none with
    ``warn=False``, for callers such as ``gradcheck`` that judge the zeros themselves)."""

    @functools.wraps(f)
    def jac(*args, **kwargs):
        out, _, leaves, many, recording = _call(f, args, kwargs, argnums, where)
        out, aux = _split_aux(out, has_aux, where)
        outs, several = _outputs(out, where)
        p = _Pass(outs, leaves, recording)
        try:
            result = [_jacobian_rows(p, o, leaves) for o in outs]
        finally:
            p.close()
        for k in range(len(outs) if warn else 0):
            p.warn_unreached(k, where, argnums, stacklevel=2, output=k if several else None)
        result = [tuple(r) if many else r[0] for r in result]
        result = tuple(result) if several else result[0]
        return (result, aux) if has_aux else result

    return jac


def _untranspose(jt, n):
    """``jt`` of shape ``A + S`` (``A`` of ``n`` dims) as ``S + A``."""
    axes = tuple(range(n, jt.ndim)) + tuple(range(n))
    if jt.requires_grad:
        return jt.transpose(*axes)
    return Tensor._make(np.ascontiguousarray(jt._data.transpose(axes)))


def jacfwd(f, argnums=0, has_aux=False):
    """The Jacobian of ``f`` with respect to argument(s) ``argnums``, by forward mode.

    Same arguments and result as ``jacrev``: shape ``out.shape + arg.shape``, tuples
    for a tuple ``argnums`` or several outputs, ``(jacobian, aux)`` with ``has_aux``.

    Forward mode as ``jvp`` computes it: ``f`` runs once, its VJP ``g(u) = J^T u``
    is recorded once, and one backward pass through that graph per *input*
    element gives a column of ``J`` (``jacrev`` runs one per output element).
    Each pass costs about twice a reverse pass through ``f`` (it goes through the
    recorded VJPs and back through ``f``'s graph: a square (100, 100) Jacobian took
    about 2x ``jacrev``'s time), so ``jacfwd`` pays off only when the arguments have
    a few times fewer elements than the output (``benchmarks/test_transforms.py``).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.jacfwd(lambda x: x * x)([1.0, 2.0])
    Tensor([[2., 0.],
            [0., 4.]], dtype=float64)
    >>> ad.jacfwd(lambda x: x.sum() * x)([1.0, 2.0])
    Tensor([[4., 1.],
            [2., 5.]], dtype=float64)
    """
    _check_argnums(argnums, "jacfwd")

    @functools.wraps(f)
    def jac(*args, **kwargs):
        lin = _Linearized(f, args, kwargs, argnums, "jacfwd", has_aux)
        us = [_zeros(o.shape, o.dtype) for o in lin.outs]
        # transposed[i][k] = J_ik^T, the Jacobian of the linear g_i(u) for u_k: one
        # backward pass through its graph per element of argument i.
        transposed = _jacobian(lin._g, tuple(range(len(us))), "jacfwd", warn=False)(*us)
        result = []
        for k in range(len(us)):
            lin.p.warn_unreached(k, "jacfwd", argnums, stacklevel=2,
                                 output=k if lin.several else None)
            jk = [_untranspose(transposed[i][k], leaf.ndim) for i, leaf in enumerate(lin.leaves)]
            result.append(tuple(jk) if lin.many else jk[0])
        result = tuple(result) if lin.several else result[0]
        return (result, lin.aux) if has_aux else result

    return _transform_doc(jac, f, "Jacobian (forward mode)", argnums)


def hessian(f, argnums=0, has_aux=False):
    """The Hessian of scalar-valued ``f``: ``jacrev(grad(f, argnums), argnums)``.

    For an argument of shape ``A`` it is a Tensor of shape ``A + A``; with a
    tuple ``argnums`` a tuple of tuples, ``H[i][j]`` of shape ``A_i + A_j`` holding
    ``d^2 f / dx_i dx_j`` (as JAX's ``hessian``). With ``has_aux``, ``f`` returns
    ``(output, aux)`` and the function ``(hessian, aux)``.

    Reverse over reverse: the gradient is recorded once and one backward pass
    through it per argument element gives a row. Forward over reverse
    (``jacfwd(grad(f))``, JAX's choice) is slower here, as forward mode is itself
    derived from reverse passes: it took about 1.3x the time on a (100,) input,
    on both backends (``benchmarks/test_transforms.py``).

    When the gradient of ``f`` has no path to an argument (``f`` is at most
    linear in it, or ignores it) its Hessian is zeros and one ``UserWarning``
    ("hessian: Output seems independent of input. ...") says so, as HIPS
    autograd warns for the gradient it differentiates.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.hessian(lambda x: (x ** 3).sum())([1.0, 2.0])
    Tensor([[ 6.,  0.],
            [ 0., 12.]], dtype=float64)
    """
    _check_argnums(argnums, "hessian")

    @functools.wraps(f)
    def gradient(*args, **kwargs):
        # No warning of its own: an f independent of x has a gradient independent of
        # x too, and the Jacobian of it warns, once.
        _, g, aux = _value_and_grads(f, argnums, "hessian", args, kwargs, warn=False,
                                     has_aux=has_aux)
        return (g, aux) if has_aux else g

    return _transform_doc(_jacobian(gradient, argnums, "hessian", has_aux=has_aux), f,
                          "Hessian", argnums)

"""Function transforms, as JAX and HIPS autograd have them: ``grad``, ``value_and_grad``,
``jacobian`` and ``hessian``.

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
"""

import functools
import numbers
import warnings

import numpy as np

from .engine import Node, enable_grad, is_grad_enabled
from .ops.shape import stack
from .tensor import Tensor

__all__ = ["grad", "hessian", "jacobian", "value_and_grad"]


# ----- argument handling --------------------------------------------------------------

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
            d = Tensor(np.zeros(value.shape, dtype=value.dtype), requires_grad=True)
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
    knows which of our leaves each output reaches (``warn_unreached``).
    """

    def __init__(self, outputs, leaves, recording):
        self.leaves = leaves
        self.reached = [_reached_leaves(o) for o in outputs]
        mine = {id(leaf) for leaf in leaves}
        outside = {k: t for r in self.reached for k, t in r.items() if k not in mine}
        self.create = recording and bool(outside)
        self.saved = [(t, t.grad) for t in outside.values()]

    def warn_unreached(self, k, where, argnums, stacklevel, output=None):
        """Warn, as HIPS autograd does, if output ``k`` has no path to the leaf of some
        argnum (``argnums`` as given): its gradient or Jacobian is then zeros."""
        given = argnums if isinstance(argnums, tuple) else (argnums,)
        missing = []
        for a, leaf in zip(given, self.leaves):
            if id(leaf) not in self.reached[k] and a not in missing:
                missing.append(a)
        if missing:
            which = missing[0] if len(missing) == 1 else tuple(missing)
            of = "" if output is None else f"output {output}, "
            warnings.warn(f"{where}: Output seems independent of input. The result for "
                          f"{of}argnums={which} is zeros.", UserWarning, stacklevel=stacklevel + 1)

    def run(self, out, seed=None):
        """The gradients of ``out`` (times ``seed``) for each leaf; zeros where none arrive."""
        for leaf in self.leaves:
            leaf.grad = None
        if out.requires_grad:
            # retain_graph: the graph may be the caller's too (closure-held results), and
            # a Jacobian runs through it once per output element.
            out.backward(seed, retain_graph=True, create_graph=self.create)
        grads = []
        for leaf in self.leaves:
            g = leaf.grad
            if g is None:
                g = Tensor(np.zeros(leaf.shape, dtype=leaf.dtype))
            elif not self.create:
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


def _value_and_grads(f, argnums, where, args, kwargs, warn=True):
    out, _, leaves, many, recording = _call(f, args, kwargs, argnums, where)
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
    return value, tuple(grads) if many else grads[0]


def _transform_doc(fn, f, what, argnums):
    name = getattr(f, "__name__", type(f).__name__)
    fn.__doc__ = f"{what} of {name} with respect to positional argument(s) {argnums}."
    return fn


# ----- public transforms --------------------------------------------------------------

def grad(f, argnums=0):
    """The gradient of scalar-valued ``f`` with respect to argument(s) ``argnums``.

    Parameters
    ----------
    f : callable
        Takes Tensors at the positions ``argnums`` and returns a one-element
        Tensor (any shape of size 1), array or number.
    argnums : int or tuple of int
        Which positional arguments to differentiate with respect to.

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
        return _value_and_grads(f, argnums, "grad", args, kwargs)[1]

    return _transform_doc(gradient, f, "Gradient", argnums)


def value_and_grad(f, argnums=0):
    """Like ``grad``, but the function returns ``(f(*args), gradient)`` from one pass.

    The value is ``f``'s output as a Tensor (of ``f``'s output shape); it carries
    history exactly when the gradient does. An argument ``f`` does not depend on
    gets zeros and a ``UserWarning``, as in ``grad``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> value, g = ad.value_and_grad(lambda x: (x * x).sum())([1.0, 2.0])
    >>> value
    Tensor(5., dtype=float64)
    >>> g
    Tensor([2., 4.], dtype=float64)
    """
    _check_argnums(argnums, "value_and_grad")

    @functools.wraps(f)
    def value_and_gradient(*args, **kwargs):
        return _value_and_grads(f, argnums, "value_and_grad", args, kwargs)

    return _transform_doc(value_and_gradient, f, "Value and gradient", argnums)


def _jacobian_rows(p, out, leaves):
    """The Jacobian of ``out`` for each leaf, shape ``out.shape + leaf.shape``: one
    backward pass per output element (a row each)."""
    rows = [[] for _ in leaves]
    if out.requires_grad:
        for k in range(out.size):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed.flat[k] = 1
            for row, g in zip(rows, p.run(out, seed)):
                row.append(g)
    jacs = []
    for row, leaf in zip(rows, leaves):
        shape = out.shape + leaf.shape
        if not row:
            jacs.append(Tensor(np.zeros(shape, dtype=leaf.dtype)))
        elif p.create:
            jacs.append(stack(row).reshape(shape))
        else:
            jacs.append(Tensor(np.stack([g._data for g in row]).reshape(shape)))
    return jacs


def jacobian(f, argnums=0):
    """The Jacobian of ``f`` with respect to argument(s) ``argnums`` (reverse mode).

    Returns a function with ``f``'s signature. For an output of shape ``S`` and
    an argument of shape ``A`` the Jacobian is a Tensor of shape ``S + A`` with
    ``J[s + a] = d out[s] / d x[a]``; with a tuple ``argnums``, a tuple of them.
    If ``f`` returns a tuple or list of outputs, the result is a tuple with one
    entry per output (each as above), as JAX's ``jacrev`` nests them.

    It runs one backward pass per output element (``retain_graph=True``), so it
    suits outputs with few elements. Arguments, history and ``.grad`` are
    handled as in ``grad``, so ``jacobian`` nests with the other transforms. An
    output with no path to an argument gives zeros for it, with a ``UserWarning``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.jacobian(lambda x: x * x)([1.0, 2.0])
    Tensor([[2., 0.],
            [0., 4.]], dtype=float64)
    >>> ad.jacobian(lambda x, w: w @ x, argnums=1)([1.0, 2.0], [[0.0, 0.0]])
    Tensor([[[1., 2.]]], dtype=float64)
    """
    _check_argnums(argnums, "jacobian")
    return _transform_doc(_jacobian(f, argnums, "jacobian"), f, "Jacobian", argnums)


def _jacobian(f, argnums, where, warn=True):
    """``jacobian(f, argnums)``, naming ``where`` in its errors and warnings (none with
    ``warn=False``, for callers such as ``gradcheck`` that judge the zeros themselves)."""

    @functools.wraps(f)
    def jac(*args, **kwargs):
        out, _, leaves, many, recording = _call(f, args, kwargs, argnums, where)
        several = isinstance(out, (tuple, list))
        outs = [_as_output(o, where) for o in (out if several else (out,))]
        p = _Pass(outs, leaves, recording)
        try:
            result = [_jacobian_rows(p, o, leaves) for o in outs]
        finally:
            p.close()
        for k in range(len(outs) if warn else 0):
            p.warn_unreached(k, where, argnums, stacklevel=2, output=k if several else None)
        result = [tuple(r) if many else r[0] for r in result]
        return tuple(result) if several else result[0]

    return jac


def hessian(f, argnums=0):
    """The Hessian of scalar-valued ``f``: ``jacobian(grad(f, argnums), argnums)``.

    For an argument of shape ``A`` it is a Tensor of shape ``A + A``; with a
    tuple ``argnums`` a tuple of tuples, ``H[i][j]`` of shape ``A_i + A_j`` holding
    ``d^2 f / dx_i dx_j`` (as JAX's ``hessian``).

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
        return _value_and_grads(f, argnums, "hessian", args, kwargs, warn=False)[1]

    return _transform_doc(_jacobian(gradient, argnums, "hessian"), f, "Hessian", argnums)

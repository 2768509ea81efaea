"""Check analytic gradients against central finite differences, in float64.

The analytic side is the full Jacobian from ``jacobian`` (one backward pass per
output element); the numeric side perturbs one input element at a time by
``+-eps`` and evaluates ``f`` without recording. Checking every entry of the
Jacobian, as ``torch.autograd.gradcheck`` does by default, rather than a random
projection of it, means errors that would cancel in a weighted sum cannot hide,
and the report can name the exact output and input elements that disagree.

That costs a backward pass per output element and two evaluations per input
element, so for large inputs or outputs (more than ``FAST_ABOVE`` elements, or
``fast_mode=True``) the check is torch's fast mode instead: for unit random
vectors ``u`` over the output and ``v`` over an input it compares ``u . J v`` from
one backward pass with the central difference of ``u . f`` along ``v``. A wrong
gradient fails it with probability one, but the report names only the input.

``gradgradcheck`` checks second derivatives as ``torch.autograd.gradgradcheck``
does: it runs the same check on ``(x, u) -> grad <f(x), u>`` for a fixed random
cotangent ``u``, whose gradient is recorded (``create_graph``), so both the
Hessian-vector products (in ``x``) and the VJPs' own differentiability (in ``u``)
are checked.

When a check fails, the report also names the culprit: the first recorded op
whose own VJP disagrees with central differences of its own forward at the
values it saw, and the line of user code that created it. ``f`` runs once more,
recorded, under a profile hook (``sys.setprofile``: the calling thread only,
that run only) that notes, for each node the engine returns, its result and the
first frame outside pyautodiff and numpy; each node that depends on the checked
inputs is then replayed alone, in recording order. Nothing of this runs unless
a check has failed, and the engine knows nothing of it.
"""

import linecache
import numbers
import os
import sys

import numpy as np

from . import backends, engine
from .engine import Node, enable_grad, no_grad
from .functional import _jacobian
from .ops.elementwise import mul
from .ops.reduce import sum as _sum
from .ops.shape import concatenate, reshape
from .tensor import Tensor, operand

__all__ = ["FAST_ABOVE", "GradcheckError", "gradcheck", "gradgradcheck"]

# With fast_mode=None, inputs (all checked ones together) or an output with more
# elements than this are checked in fast mode: the full check would run thousands of
# passes and hold a Jacobian of over a million entries.
FAST_ABOVE = 1000
# A node's VJP is checked element by element for inputs up to this size, else along a
# random direction (two evaluations of its forward instead of two per element).
_LOCAL_ELEMENTS = 64
_SEED = 0  # the random vectors: a failure must be reproducible


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytic and numeric gradients disagree.

    An ``AssertionError``, not a ``ValueError``: the arguments were fine, it is the
    code under test (a VJP, a custom function) that failed a check, so test
    runners report it as a failed assertion and ``pytest.raises(AssertionError)``
    catches it, as for ``numpy.testing``. It is raised explicitly, so ``python -O``
    (which strips ``assert`` statements) does not silence it.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> issubclass(ad.GradcheckError, AssertionError)
    True
    """


def _inputs(inputs, where):
    """The inputs as a list, and which of them are checked (converted to float64).

    Float data (float arrays, float Tensors, Python numbers, nested lists) is
    checked; integer and bool numpy arrays, and bool Tensors, pass through
    unchanged as constants (labels, masks).
    """
    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    values, checked = [], []
    for i, x in enumerate(inputs):
        data = x._data if isinstance(x, Tensor) else x
        if isinstance(data, np.ndarray) and data.dtype.kind in "biu":
            values.append(x)
            continue
        if isinstance(data, (bool, np.bool_)) or not isinstance(
                data, (np.ndarray, numbers.Real, list, tuple, np.generic)):
            raise TypeError(
                f"{where}: input {i} is {type(x).__name__}, expected an array, a Tensor "
                "or a number"
            )
        try:
            values.append(np.array(data, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise TypeError(f"{where}: input {i}: {e}") from None
        checked.append(i)
    return values, checked


def _arguments(values):
    return [Tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
            for v in values]


def _evaluate(f, values, where):
    """``f`` at the float64 arrays ``values``, unrecorded, as a float64 array."""
    with no_grad():
        out = f(*_arguments(values))
    if isinstance(out, Tensor):
        out = out._data
    elif isinstance(out, (tuple, list)):
        raise TypeError(f"{where}: f must return one Tensor, got a {type(out).__name__}")
    return np.asarray(out, dtype=np.float64)


def _numeric_jacobian(f, values, i, out_shape, eps, where):
    """d f / d values[i] by central differences, shape ``out_shape + values[i].shape``."""
    x = values[i]
    jac = np.zeros(out_shape + x.shape)
    for idx in np.ndindex(x.shape):
        point = list(values)
        shifted = x.copy()
        point[i] = shifted
        shifted[idx] = x[idx] + eps
        plus = _evaluate(f, point, where)
        shifted[idx] = x[idx] - eps
        minus = _evaluate(f, point, where)
        jac[(Ellipsis,) + idx] = (plus - minus) / (2 * eps)
    return jac


def _unit(rng, shape):
    v = rng.standard_normal(shape)
    norm = np.linalg.norm(v)
    return v / norm if norm else v


def _score(a, n, atol, rtol):
    """How far outside its tolerance each entry is (> 1 fails; NaN counts as worst)."""
    with np.errstate(invalid="ignore"):
        score = np.abs(a - n) / (atol + rtol * np.abs(n))
    return np.where(np.isnan(score), np.inf, score)


def _analytic(f, values, checked, where):
    """The Jacobians of ``f`` for the checked inputs, from backward passes."""
    with no_grad():  # the analytic Jacobian is a plain value: nothing records it
        # warn=False: a path backward() misses is this function's to report, as an error.
        jacs = _jacobian(f, tuple(checked), where, warn=False)(
            *[Tensor(v) if i in checked else v for i, v in enumerate(values)])
    return [j._data.astype(np.float64) for j in jacs]


def _full_check(f, values, checked, out_shape, eps, atol, rtol, where):
    """The worst failing Jacobian entry, as ``(score, input, element, output element,
    analytic, numeric)``, or None."""
    worst = None
    for i, a in zip(checked, _analytic(f, values, checked, where)):
        n = _numeric_jacobian(f, values, i, out_shape, eps, where)
        if a.shape != n.shape:
            raise GradcheckError(
                f"{where}: input {i}: analytic Jacobian of shape {a.shape}, numeric {n.shape}"
            )
        score = _score(a, n, atol, rtol)
        if score.size == 0:
            continue
        k = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[k] > 1 and (worst is None or score[k] > worst[0]):
            nout = len(out_shape)
            worst = (score[k], i, k[nout:], k[:nout], a[k], n[k])
    return worst


def _fast_check(f, values, checked, out_shape, eps, atol, rtol, where):
    """Fast mode: ``u . J v`` for unit random ``u``, ``v``; the worst failing input as
    ``(score, input, None, None, analytic, numeric)``, or None."""
    rng = np.random.default_rng(_SEED)
    u = _unit(rng, out_shape)
    grads = _analytic(lambda *xs: _sum(mul(f(*xs), u)), values, checked, where)
    worst = None
    for i, g in zip(checked, grads):
        v = _unit(rng, values[i].shape)
        point = list(values)
        point[i] = values[i] + eps * v
        plus = _evaluate(f, point, where)
        point[i] = values[i] - eps * v
        minus = _evaluate(f, point, where)
        n = float(np.vdot(u, plus - minus)) / (2 * eps)
        a = float(np.vdot(g, v))
        score = float(_score(a, n, atol, rtol))
        if score > 1 and (worst is None or score > worst[0]):
            worst = (score, i, None, None, a, n)
    return worst


def _fmt(index):
    return str(tuple(int(k) for k in index))


def _compare(a, n, atol, rtol):
    return (f"analytic {float(a)!r} vs numeric {float(n)!r} (|difference| {abs(a - n):.3g} > "
            f"atol + rtol * |numeric| = {atol + rtol * abs(n):.3g})")


def _check(f, values, checked, eps, atol, rtol, fast_mode, where, labels=None):
    """Raise ``GradcheckError`` unless ``f``'s gradients for the checked inputs pass.

    ``labels`` may be ``(input_label, output_label)``: functions giving text that
    explains an input number or an output element in the message."""
    out_shape = _evaluate(f, values, where).shape
    if fast_mode is None:
        size = sum(values[i].size for i in checked)
        fast_mode = size > FAST_ABOVE or int(np.prod(out_shape)) > FAST_ABOVE
    check = _fast_check if fast_mode else _full_check
    worst = check(f, values, checked, out_shape, eps, atol, rtol, where)
    if worst is None:
        return True
    _, i, elem, out, a, n = worst
    in_label, out_label = labels or (lambda i: "", lambda k: "")
    if elem is None:
        message = (f"{where}: input {i}{in_label(i)}, along a random direction (fast mode): "
                   f"{_compare(a, n, atol, rtol)}; fast_mode=False names the element")
    else:
        message = (f"{where}: input {i}{in_label(i)}, element {_fmt(elem)}, output element "
                   f"{_fmt(out)}{out_label(out)}: {_compare(a, n, atol, rtol)}")
    raise GradcheckError(message + _culprit(f, values, checked, eps, atol, rtol))


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=None):
    """Compare the analytic Jacobian of ``f`` with central finite differences.

    Parameters
    ----------
    f : callable
        Takes one Tensor per input and returns a Tensor (any shape).
    inputs : array, Tensor, number, or a tuple/list of them
        The point to check at. A tuple or list is a sequence of inputs (wrap a
        nested list that is one input in a tuple). Every input with float data is
        converted to float64 and checked; integer and bool arrays are passed to
        ``f`` unchanged and not differentiated. Nothing passed is modified.
    eps : float
        The step of the central difference ``(f(x + eps) - f(x - eps)) / (2 eps)``.
    atol, rtol : float
        Entry ``(a, n)`` (analytic, numeric) passes when
        ``|a - n| <= atol + rtol * |numeric|``, as ``numpy.allclose``.
    fast_mode : bool or None
        True: compare ``u . J v`` for unit random vectors ``u`` (over the output)
        and ``v`` (over each input), as ``torch.autograd.gradcheck(fast_mode=True)``:
        two evaluations of ``f`` and one backward pass per input, whatever the
        sizes. False: every entry of the Jacobian. None (default): fast mode when
        the checked inputs together, or the output, have more than ``FAST_ABOVE``
        (1000) elements.

    Returns
    -------
    True
        When every entry of every input's Jacobian passes.

    Raises
    ------
    GradcheckError
        Naming the input, the input element, the output element and both values
        of the worst entry (the largest ``|a - n| / (atol + rtol * |n|)``; a NaN
        on either side counts as worst); in fast mode, the input and both
        projections. Then, on the next line, the first recorded op whose own VJP
        disagrees with central differences of its own forward at the values it
        saw, and the file and line of user code that created it (or that every
        op's VJP agrees: the fault is outside the recorded graph, such as a
        ``detach()`` or a kink).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.gradcheck(lambda x: ad.sin(x) * x, [[0.5, 1.0, 2.0]])
    True
    >>> try:  # detach() hides half of the product rule from backward()
    ...     ad.gradcheck(lambda x: x * x.detach(), (2.0,))
    ... except ad.GradcheckError as e:
    ...     print(str(e).partition(" vs ")[0])
    gradcheck: input 0, element (), output element (): analytic 2.0
    """
    values, checked = _inputs(inputs, "gradcheck")
    if not checked:
        return True
    return _check(f, values, checked, eps, atol, rtol, fast_mode, "gradcheck")


def gradgradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=None):
    """Compare the second derivatives of ``f`` with central finite differences of its
    first derivatives, as ``torch.autograd.gradgradcheck``.

    It runs ``gradcheck`` on ``g(x..., u) = the gradients of sum(f(x...) * u)`` for
    the checked inputs ``x`` (concatenated, flattened), with ``u`` a fixed random
    cotangent of ``f``'s output shape, passed as one more input: its Jacobian in
    ``x`` is the Hessian of ``<f, u>``, and in ``u`` the first derivatives, which
    checks that the backward pass stays differentiable in its upstream gradient.

    Parameters and errors are those of ``gradcheck``; a failure names the input
    (input ``len(inputs)`` is ``u``), its element, and the output element of ``g``
    with the input and element whose gradient it is, then the first recorded op
    (of ``f`` or of its recorded backward pass) whose VJP disagrees, with its line.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.gradgradcheck(lambda x: ad.tanh(x) * x, [[0.5, -1.0, 2.0]])
    True
    >>> @ad.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> ad.defvjp(cube, lambda g, ans, x: g * 3 * x.detach() ** 2)  # no second derivative
    >>> try:
    ...     ad.gradgradcheck(cube, [[0.5, -1.0]])
    ... except ad.GradcheckError as e:
    ...     print(str(e).partition(" (the")[0])
    gradgradcheck: input 0, element (1,), output element (1,)
    """
    values, checked = _inputs(inputs, "gradgradcheck")
    if not checked:
        return True
    n = len(values)
    u = np.random.default_rng(_SEED).standard_normal(_evaluate(f, values, "gradgradcheck").shape)

    def gradient(*args):
        cotangent = args[n]
        grads = _jacobian(lambda *xs: _sum(mul(f(*xs), cotangent)), tuple(checked),
                          "gradgradcheck", warn=False)(*args[:n])
        return concatenate([reshape(g, -1) for g in grads])

    # Where each element of the concatenated gradient comes from, for the message.
    sizes = np.cumsum([0] + [values[i].size for i in checked])

    def output_label(k):
        j = int(np.searchsorted(sizes, k[0], side="right")) - 1
        element = np.unravel_index(k[0] - sizes[j], values[checked[j]].shape)
        return f" (the gradient for input {checked[j]}, element {_fmt(element)})"

    def input_label(i):
        return " (the cotangent of f's output)" if i == n else ""

    return _check(gradient, [*values, u], [*checked, n], eps, atol, rtol, fast_mode,
                  "gradgradcheck", (input_label, output_label))


# ----- naming the culprit ----------------------------------------------------------------

_LIBRARY = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                 for m in (sys.modules[__package__], np))
_APPLY = frozenset(fn.__code__ for fn in (engine.apply, engine.apply1, engine.apply2))
_SWEEP = engine._sweep.__code__


class _Seen:
    """What the observed run noted of a node: its result, the user's file and line
    that made it, and the node whose VJP was running (if a backward pass made it)."""

    __slots__ = ("during", "line", "out")

    def __init__(self, out, frame):
        self.out = out
        self.line = self.during = None
        while frame is not None:
            code = frame.f_code
            if self.line is None and not code.co_filename.startswith(_LIBRARY):
                self.line = (code.co_filename, frame.f_lineno)
            if code is _SWEEP:  # ("node" is the sweep's name for the node whose VJPs run)
                self.during = frame.f_locals.get("node")
                break
            frame = frame.f_back
        if self.line is None:  # made by the library's own code: the line that called it
            while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY):
                frame = frame.f_back
            if frame is not None:
                self.line = (frame.f_code.co_filename, frame.f_lineno)


def _observe(f, args):
    """Run ``f(*args)`` recorded; return its output and ``{node: _Seen}`` for every
    node the engine made meanwhile in this thread."""
    seen = {}

    def hook(frame, event, result):
        if event == "return" and frame.f_code in _APPLY and isinstance(result, Tensor):
            node = result._node
            if node is not None and node not in seen:
                seen[node] = _Seen(result._data, frame.f_back)

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        with enable_grad():
            out = f(*args)
    finally:
        sys.setprofile(previous)
    return out, seen


def _graph(root):
    """The nodes a backward pass from ``root`` runs, in recording order."""
    nodes, stack = {id(root): root}, [root]
    while stack:
        node = stack.pop()
        for i in node._needs:
            a = node._args[i]
            if isinstance(a, Node) and id(a) not in nodes:
                nodes[id(a)] = a
                stack.append(a)
    return sorted(nodes.values(), key=lambda n: n._seq)


def _replayed_inputs(node, seen):
    """The arguments ``node``'s op got, as the observed run saw them (inputs with float
    data in float64), or None when one was made before that run."""
    op, args = node._op, node._args
    nin = len(args) if op.nin is None else op.nin
    values = []
    for j, a in enumerate(args):
        if isinstance(a, Node):
            if a not in seen:
                return None
            a = seen[a].out
        elif isinstance(a, Tensor):
            a = a._data
        elif j < nin:
            a = operand(a, op.name)  # (as the engine converts constant inputs)
        if j < nin and isinstance(a, np.ndarray) and a.dtype.kind == "f":
            a = a.astype(np.float64)
        values.append(a)
    return values


def _local(node, wanted, seen, eps, atol, rtol, rng):
    """Check ``node``'s VJPs for inputs ``wanted`` against central differences of its
    forward at the values it saw (in float64, for a random cotangent); return the
    worst failure as ``(input, element or None, vjp, numeric)``, or None."""
    op = node._op
    values = _replayed_inputs(node, seen)
    if values is None:
        return None
    kw = node._kw or {}
    B = backends.current()

    def forward(vals):
        return np.asarray(op.forward(B, *vals, **kw))

    out = forward(values)
    if out.dtype != np.float64:
        return None  # (a cast to float32: too coarse for differences)
    u = np.asarray(rng.standard_normal(out.shape))
    worst = None
    for i in wanted:
        x = values[i]
        if not (isinstance(x, np.ndarray) and x.dtype == np.float64):
            continue
        g = np.asarray(op.vjps[i](B, u, out, *values, **kw))
        g = np.asarray(engine._fit(B, g, x.shape, x.dtype, op, i), dtype=np.float64)

        def derivative(d, i=i, x=x):
            """The central difference of u . forward along ``d`` in input ``i``."""
            ends = []
            for xi in (x + eps * d, x - eps * d):
                vals = list(values)
                vals[i] = xi
                ends.append(float(np.vdot(u, forward(vals))))
            return (ends[0] - ends[1]) / (2 * eps)

        if x.size <= _LOCAL_ELEMENTS:
            n = np.zeros(x.shape)
            for idx in np.ndindex(x.shape):
                d = np.zeros(x.shape)
                d[idx] = 1.0
                n[idx] = derivative(d)
            score = _score(g, n, atol, rtol)
            if score.size == 0:
                continue
            k = np.unravel_index(int(np.argmax(score)), score.shape)
            failure = (score[k], i, k, g[k], n[k])
        else:
            v = _unit(rng, x.shape)
            a, n = float(np.vdot(g, v)), derivative(v)
            failure = (float(_score(a, n, atol, rtol)), i, None, a, n)
        if failure[0] > 1 and (worst is None or failure[0] > worst[0]):
            worst = failure
    return None if worst is None else worst[1:]


def _line(seen):
    if seen.line is None:
        return "an unknown line"
    file, line = seen.line
    code = linecache.getline(file, line).strip()
    return f"{file}:{line}" + (f" `{code}`" if code else "")


def _culprit(f, values, checked, eps, atol, rtol):
    """The line of a GradcheckError naming the first recorded op of ``f`` whose own
    VJP disagrees with central differences (see the module docstring)."""
    leaves = {i: Tensor(values[i], requires_grad=True) for i in checked}
    try:
        out, seen = _observe(f, [leaves.get(i, v) for i, v in enumerate(values)])
    except Exception as e:  # noqa: BLE001 (the check's own report must not be lost)
        return f"\n  (running f again to find the op to blame raised {type(e).__name__}: {e})"
    if not isinstance(out, Tensor) or out._node is None:
        return ""
    rng = np.random.default_rng(_SEED)
    dependent = {id(t) for t in leaves.values()}  # our leaves, then the nodes they reach
    for node in _graph(out._node):
        # (the inputs through which the checked inputs reach this node)
        wanted = [i for i in node._needs if id(node._args[i]) in dependent]
        if not wanted:
            continue
        dependent.add(id(node))
        try:
            failure = _local(node, wanted, seen, eps, atol, rtol, rng)
        except Exception:  # noqa: BLE001 (a replay the op refuses proves nothing either way)
            failure = None
        if failure is None:
            continue
        i, element, a, n = failure
        where = seen[node]  # (it depends on our leaves, so the observed run made it)
        made = f"created at {_line(where)}"
        if where.during in seen:
            made += (f" by the VJP of '{where.during._op.name}' (itself created at "
                     f"{_line(seen[where.during])})")
        at = "along a random direction" if element is None else f"element {_fmt(element)}"
        return (f"\n  first recorded op whose VJP disagrees with finite differences at the values "
                f"it saw: '{node._op.name}', {made}; its gradient for input {i}, {at}: "
                f"VJP {float(a)!r} vs numeric {float(n)!r}")
    return ("\n  every recorded op's VJP agrees with finite differences at the values it saw: "
            "the gradient is lost outside the recorded graph (detach(), .item(), computing on "
            "arrays, in f or in a VJP run by create_graph) or f is not differentiable there")

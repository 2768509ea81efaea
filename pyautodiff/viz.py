"""Graph pictures: the recorded graph of a tensor as Graphviz DOT text.

Values are ellipses and operations boxes. Values are named ``v0, v1, ...`` in
the order they were made, so the derivative labels of ``backward=True`` can
refer to them: the edge from the box of ``v3 = mul(v1, v2)`` to ``v1`` reads
``dv3/dv1 = v2``. Elementwise ops get their local derivative as a formula in
those names; other ops (reductions, shape ops, ``matmul``) are not a number per
element but a vector-Jacobian product, so their label says what the VJP does
to the incoming gradient ``g`` (``dv3/dv1: g @ v2^T``). Intermediate values are
not shown, only names, shapes and dtypes: the engine keeps just the arrays its
VJPs read, so they are not all there to show; leaves, constants and the output
show their value when it has at most ``MAX_SHOWN`` elements.

No graphviz package is needed to make the text; render it with ``dot -Tsvg``.
"""

import numpy as np

from .engine import Node
from .tensor import Tensor

__all__ = ["to_dot"]

# Leaves, constants and the result with up to this many elements show their values.
MAX_SHOWN = 6

# The local derivative of an elementwise op for each input, in terms of the names
# {x}, {y}, {z} of its inputs and {out} of its result.
_ELEMENTWISE = {
    "add": ("1", "1"),
    "sub": ("1", "-1"),
    "mul": ("{y}", "{x}"),
    "div": ("1/{y}", "-{x}/{y}^2 = -{out}/{y}"),
    "pow": ("{y} {x}^({y} - 1)", "{x}^{y} log({x}) = {out} log({x})"),
    "maximum": ("1 where {x} > {y}, 1/2 at ties, else 0",
                "1 where {y} > {x}, 1/2 at ties, else 0"),
    "minimum": ("1 where {x} < {y}, 1/2 at ties, else 0",
                "1 where {y} < {x}, 1/2 at ties, else 0"),
    "neg": ("-1",),
    "abs": ("sign({x})",),
    "exp": ("exp({x}) = {out}",),
    "log": ("1/{x}",),
    "log1p": ("1/(1 + {x})",),
    "expm1": ("exp({x}) = {out} + 1",),
    "sqrt": ("1/(2 sqrt({x})) = 1/(2 {out})",),
    "square": ("2 {x}",),
    "sin": ("cos({x})",),
    "cos": ("-sin({x})",),
    "tanh": ("1 - tanh({x})^2 = 1 - {out}^2",),
    "sigmoid": ("sigmoid({x}) (1 - sigmoid({x})) = {out} (1 - {out})",),
    "relu": ("1 where {x} > 0, else 0",),
    "softplus": ("sigmoid({x})",),
    "where": ("1 where the condition holds, else 0", "0 where the condition holds, else 1"),
    "clip": ("1 where {y} <= {x} <= {z}, else 0", "1 where {x} < {y}, else 0",
             "1 where {x} > {z}, else 0"),
    "astype": ("1 (cast back)",),
    "copy": ("1",),
    "tan": ("1 + tan({x})^2 = 1 + {out}^2",),
    "arcsin": ("1/sqrt(1 - {x}^2)",),
    "arccos": ("-1/sqrt(1 - {x}^2)",),
    "arctan": ("1/(1 + {x}^2)",),
    "sinh": ("cosh({x})",),
    "cosh": ("sinh({x})",),
    "arcsinh": ("1/sqrt({x}^2 + 1)",),
    "arccosh": ("1/sqrt({x}^2 - 1)",),
    "arctanh": ("1/(1 - {x}^2)",),
    "exp2": ("2^{x} log 2 = {out} log 2",),
    "log2": ("1/({x} log 2)",),
    "log10": ("1/({x} log 10)",),
    "cbrt": ("1/(3 cbrt({x})^2) = 1/(3 {out}^2)",),
    "reciprocal": ("-1/{x}^2 = -{out}^2",),
    "sign": ("0",),
    "floor": ("0",),
    "ceil": ("0",),
    "deg2rad": ("pi/180",),
    "rad2deg": ("180/pi",),
    "logaddexp": ("exp({x} - {out})", "exp({y} - {out})"),
    "logaddexp2": ("2^({x} - {out})", "2^({y} - {out})"),
    "arctan2": ("{y}/({x}^2 + {y}^2)", "-{x}/({x}^2 + {y}^2)"),
    "hypot": ("{x}/{out}", "{y}/{out}"),
    "fmax": ("1 where {x} > {y} or {y} is NaN, 1/2 at ties, else 0",
             "1 where {y} > {x} or {x} is NaN, 1/2 at ties, else 0"),
    "fmin": ("1 where {x} < {y} or {y} is NaN, 1/2 at ties, else 0",
             "1 where {y} < {x} or {x} is NaN, 1/2 at ties, else 0"),
    "remainder": ("1", "-floor({x}/{y})"),
    "erf": ("2/sqrt(pi) exp(-{x}^2)",),
}

# Vector-Jacobian products of the other ops: what each input receives from ``g``.
_VJP = {
    "matmul": ("g @ {y}^T", "{x}^T @ g"),
    "vdot": ("g {y}", "g {x}"),
    "sum": ("g broadcast back to the shape of {x}",),
    "mean": ("g / n broadcast back to the shape of {x}",),
    "max": ("g at the maxima of {x} (shared at ties), 0 elsewhere",),
    "min": ("g at the minima of {x} (shared at ties), 0 elsewhere",),
    "logsumexp": ("g softmax({x})",),
    "reshape": ("g reshaped to the shape of {x}",),
    "transpose": ("g transposed back",),
    "broadcast_to": ("g summed back to the shape of {x}",),
    "getitem": ("g scattered back into zeros of the shape of {x}",),
    "scatter": ("gg at the scattered index",),
    "concatenate": ("the slice of g that came from {x}",),
    "stack": ("the slice of g that came from {x}",),
}


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _kind(shape, dtype):
    return f"{tuple(shape)} {dtype}" if len(shape) else f"{dtype}"


def _describe(data):
    """Shape and dtype of an array, under its values when it is small."""
    arr = np.asarray(data)
    text = _kind(arr.shape, arr.dtype)
    if arr.size <= MAX_SHOWN:
        values = np.array2string(arr, precision=4, separator=", ") if arr.ndim else (
            f"{arr.item():.4g}" if arr.dtype.kind in "iuf" else str(arr.item()))
        text = f"{values}\n{text}"
    return text


def _short(p, limit=30):
    text = repr(p.tolist() if isinstance(p, np.ndarray) else p)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _inputs_and_params(node):
    """Split a node's ``_args`` into inputs (values with edges) and parameters (shown
    in the box). The op's input count says where parameters start; an op record
    without one falls back on types: only tensors, nodes and arrays are inputs."""
    args = node._args
    nin = getattr(node._op, "nin", -1)
    if nin is None:  # a variadic op (concatenate, stack): every argument is an input
        nin = len(args)
    elif nin == -1:
        nin = 0
        while nin < len(args) and isinstance(args[nin], (Node, Tensor, np.ndarray, float)):
            nin += 1
    return args[:nin], args[nin:]


def _label(op, i, names, out, backward_op):
    """The local derivative of ``op``'s result ``out`` with respect to its input ``i``."""
    fmt = dict(zip("xyz", names + ["?"] * 3), out=out)
    head = f"d{out}/d{names[i]}"
    if op in _ELEMENTWISE and i < len(_ELEMENTWISE[op]):
        return f"{head} = {_ELEMENTWISE[op][i].format(**fmt)}"
    if op in _VJP and i < len(_VJP[op]):
        return f"{head}: {_VJP[op][i].format(**fmt)}"
    if op in _VJP:  # variadic ops (concatenate, stack): one rule for every input
        return f"{head}: {_VJP[op][0].format(**dict(fmt, x=names[i]))}"
    return head if not backward_op else f"{head} (a recorded backward op)"


def to_dot(t, backward=False):
    """The graph that produced ``t``, as Graphviz DOT text.

    Values are ellipses (leaves that require grad in light blue, constants
    dashed, the result bold), operations boxes with their parameters (axis,
    shape, index) under the op's name. Arrows point the way data flows: input
    value -> op -> result.

    Parameters
    ----------
    t : Tensor
    backward : bool
        Flip every arrow (gradients flow from the result to the inputs) and
        label each op -> input arrow with the local derivative of the op's result
        with respect to that input, as in chain-rule diagrams. Values are named
        ``v0, v1, ...`` in the order they were made and the labels use those
        names: ``dv2/dv0 = cos(v0)`` for ``v2 = sin(v0)``; for ops that are not
        elementwise, ``dv2/dv0: g @ v1^T`` says what the op's vector-Jacobian
        product does to the gradient ``g`` arriving at its result. Inputs that
        get no gradient (constants) have dashed, unlabelled arrows. Leaves
        show their ``.grad`` when it is set and small.

    Returns
    -------
    str
        DOT text (``digraph``), with no dependency on the graphviz package.

    Notes
    -----
    The graph is walked with an explicit stack, so chains of 10**5 ops work.
    Call it before ``backward()``: a backward pass without ``retain_graph=True``
    frees the graph it ran through. An op whose inputs were freed is drawn with a
    dashed "freed by backward()" note in their place, so the graph of ``y`` drawn
    after ``y.backward()`` shows only its last op. With ``retain_graph=True`` the
    whole graph stays, and ``backward=True`` then shows the leaves' gradients.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> x = ad.tensor(2.0, requires_grad=True)
    >>> print(ad.to_dot(ad.sin(x), backward=True))  # doctest: +NORMALIZE_WHITESPACE
    digraph {
      rankdir=BT;
      node [fontname="Helvetica", fontsize=10];
      edge [fontname="Helvetica", fontsize=9];
      v0 [shape=ellipse, label="v0 (leaf)\\n2\\nfloat64", style=filled, fillcolor=lightblue];
      op0 [shape=box, label="sin"];
      v1 [shape=ellipse, label="v1 = sin(v0)\\n0.9093\\nfloat64", style=bold];
      op0 -> v0 [label="dv1/dv0 = cos(v0)"];
      v1 -> op0;
    }
    """
    if not isinstance(t, Tensor):
        raise TypeError(f"to_dot: expected a Tensor, got {type(t).__name__}")
    root = t._node
    # Collect the nodes with an explicit stack (no recursion), then number them
    # in recording order, which puts every input before the ops that use it.
    nodes = {}
    if root is not None:
        nodes[id(root)] = root
        stack_ = [root]
        while stack_:
            for a in stack_.pop()._args or ():
                if isinstance(a, Node) and id(a) not in nodes:
                    nodes[id(a)] = a
                    stack_.append(a)
    order = sorted(nodes.values(), key=lambda n: n._seq)

    lines = ["digraph {", "  rankdir=BT;" if backward else "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    names = {}  # id of a node or leaf tensor -> value name
    keep = []  # the keys of ``names`` are ids: hold their objects so no id is reused
    counter = [0]

    def new_value():
        name = f"v{counter[0]}"
        counter[0] += 1
        return name

    def leaf_value(a):
        """The name of a leaf tensor or constant, emitting its ellipse the first time."""
        key = id(a)
        if key in names:
            return names[key]
        name = names[key] = new_value()
        keep.append(a)
        if isinstance(a, Tensor):
            grad = a.requires_grad
            label = f"{name} (leaf)\n{_describe(a._data)}"
            if backward and a.grad is not None and a.grad.size <= MAX_SHOWN:
                label += f"\ngrad = {_describe(a.grad._data).splitlines()[0]}"
            style = ", style=filled, fillcolor=lightblue" if grad else ""
        else:
            value = f"{a:.4g}" if isinstance(a, (int, float)) else _describe(a)
            label = f"{name} (constant)\n{value}"
            style = ", style=dashed"
        if a is t:
            style += ", penwidth=2"
        lines.append(f"  {name} [shape=ellipse, label={_quote(label)}{style}];")
        return name

    if root is None:
        leaf_value(t)
        lines.append("}")
        return "\n".join(lines)

    for k, node in enumerate(order):
        op = node._op.name
        box = f"op{k}"
        if node._args is None:
            inputs, params = None, ()
        else:
            inputs, params = _inputs_and_params(node)
        in_names = [] if inputs is None else [
            names[id(a)] if isinstance(a, Node) else leaf_value(a) for a in inputs]
        out = names[id(node)] = new_value()
        # Keyword parameters (axis=, keepdims=) live in the node's _kw where it has one.
        kw = getattr(node, "_kw", None) or {}
        shown_params = [_short(p) for p in params] + [f"{k}={_short(v)}" for k, v in kw.items()]
        box_label = f"{op}\n" + ", ".join(shown_params) if shown_params else op
        lines.append(f"  {box} [shape=box, label={_quote(box_label)}];")
        shown = node is root
        desc = _describe(t._data) if shown else _kind(
            getattr(node, "shape", ()), getattr(node, "dtype", ""))
        label = f"{out} = {op}({', '.join(in_names)})\n{desc}" if inputs is not None else (
            f"{out} = {op}(...)\n{desc}")
        style = ", style=bold" if shown else ""
        lines.append(f"  {out} [shape=ellipse, label={_quote(label)}{style}];")
        if inputs is None:
            note = f"freed{k}"
            lines.append(f"  {note} [shape=note, style=dashed, "
                         f"label=\"inputs freed by backward()\\n(use retain_graph=True)\"];")
            lines.append(f"  {box} -> {note} [style=dashed];" if backward
                         else f"  {note} -> {box} [style=dashed];")
        else:
            fused = op.endswith("_grad")
            for i, (a, name) in enumerate(zip(inputs, in_names)):
                gets_grad = isinstance(a, Node) or isinstance(a, Tensor) and a.requires_grad
                if not backward:
                    attrs = "" if gets_grad else " [style=dashed]"
                    lines.append(f"  {name} -> {box}{attrs};")
                elif gets_grad:
                    label = _label(op, i, in_names, out, fused)
                    lines.append(f"  {box} -> {name} [label={_quote(label)}];")
                else:
                    lines.append(f"  {box} -> {name} [style=dashed];")
        lines.append(f"  {out} -> {box};" if backward else f"  {box} -> {out};")
    lines.append("}")
    return "\n".join(lines)

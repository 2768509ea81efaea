"""``to_dot``: the DOT text is parsed back into nodes and edges and checked against
the graph that was built; the derivative labels of ``backward=True`` are parsed
with sympy and compared with sympy's own derivatives of the op.
"""

import re
import sys

import numpy as np
import pytest
import sympy as sp
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication,
    parse_expr,
    standard_transformations,
)

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("backend")

NODE = re.compile(r"^\s*(\w+) \[(.*)\];$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?;$")
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\]]+)')


def parse_dot(text):
    """{name: attrs} for nodes and [(tail, head, attrs)] for edges of our DOT output.

    Fails on any line it does not understand, so malformed output cannot slip through.
    """
    lines = text.strip().splitlines()
    assert lines[0] == "digraph {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if re.match(r"^\s*(rankdir=\w+|node \[.*\]|edge \[.*\]);$", line):
            continue
        m = EDGE.match(line)
        if m:
            edges.append((m[1], m[2], attrs(m[3] or "")))
            continue
        m = NODE.match(line)
        assert m, f"unparsed DOT line: {line!r}"
        assert m[1] not in nodes, f"node {m[1]} declared twice"
        nodes[m[1]] = attrs(m[2])
    for tail, head, _ in edges:
        assert tail in nodes and head in nodes, f"edge {tail} -> {head} to an undeclared node"
    return nodes, edges


def attrs(text):
    out = {}
    for key, value in ATTR.findall(text):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        out[key] = value.strip()
    return out


def by_shape(nodes, shape):
    return {n for n, a in nodes.items() if a["shape"] == shape}


def op_names(nodes):
    return sorted(a["label"].split("\n")[0] for a in nodes.values() if a["shape"] == "box")


def value_named(nodes, prefix):
    """The node whose label starts with ``prefix`` (``v0 ``, ``v2 = ``)."""
    found = [n for n, a in nodes.items() if a["label"].startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def small_graph():
    x = ad.Tensor([1.0, 2.0], requires_grad=True)
    w = ad.Tensor(3.0, requires_grad=True)
    y = (ad.sin(x * w) + 1.0).sum()
    return x, w, y


def test_to_dot_small_graph_nodes_and_forward_edges():
    _x, _w, y = small_graph()
    nodes, edges = parse_dot(ad.to_dot(y))
    # values: x, w, x*w, sin, the constant 1.0, the sum of +, the sum; ops: mul sin add sum
    assert op_names(nodes) == ["add", "mul", "sin", "sum"]
    assert len(by_shape(nodes, "ellipse")) == 7
    assert len(by_shape(nodes, "box")) == 4
    assert len(edges) == 4 + 6  # one edge out of each op, one into it per input
    # Data flows forward: every edge goes value -> op or op -> value.
    for tail, head, _ in edges:
        assert {nodes[tail]["shape"], nodes[head]["shape"]} == {"ellipse", "box"}
    vx, vw = value_named(nodes, "v0 (leaf)"), value_named(nodes, "v1 (leaf)")
    mul = next(n for n in by_shape(nodes, "box") if nodes[n]["label"] == "mul")
    prod = value_named(nodes, "v2 = mul(v0, v1)")
    assert {(vx, mul), (vw, mul), (mul, prod)} <= {(t, h) for t, h, _ in edges}
    # The leaves show their values; the result shows its value: sum(sin(3x) + 1).
    assert "[1., 2.]" in nodes[vx]["label"] and "(2,) float64" in nodes[vx]["label"]
    root = value_named(nodes, "v6 = sum(v5)")
    expected = np.sum(np.sin(3 * np.array([1.0, 2.0])) + 1)
    assert f"{expected:.4g}" in nodes[root]["label"]
    # Nothing points into a leaf, nothing leaves the result.
    assert all(h not in (vx, vw) for _, h, _ in edges)
    assert all(t != root for t, _, _ in edges)


def test_to_dot_backward_flips_every_edge_and_labels_derivatives():
    _x, _w, y = small_graph()
    fwd_nodes, fwd = parse_dot(ad.to_dot(y))
    nodes, bwd = parse_dot(ad.to_dot(y, backward=True))
    assert nodes.keys() == fwd_nodes.keys()
    assert sorted((h, t) for t, h, _ in bwd) == sorted((t, h) for t, h, _ in fwd)
    labels = {(nodes[t]["label"].split("\n")[0], nodes[h]["label"].split(" ")[0]): a.get("label")
              for t, h, a in bwd if nodes[t]["shape"] == "box"}
    assert labels[("mul", "v0")] == "dv2/dv0 = v1"
    assert labels[("mul", "v1")] == "dv2/dv1 = v0"
    assert labels[("sin", "v2")] == "dv3/dv2 = cos(v2)"
    assert labels[("add", "v3")] == "dv5/dv3 = 1"
    assert labels[("add", "v4")] is None  # the constant gets no gradient: no label
    assert labels[("sum", "v5")].startswith("dv6/dv5: g broadcast back")
    # value -> op edges (the gradient arriving at an op) carry no label
    assert all("label" not in a for t, h, a in bwd if nodes[t]["shape"] == "ellipse")


def test_to_dot_values_named_in_creation_order():
    a = ad.Tensor(1.5, requires_grad=True)
    b = ad.exp(a)
    c = b * a
    nodes, _ = parse_dot(ad.to_dot(c))
    value_named(nodes, "v0 (leaf)")
    value_named(nodes, "v1 = exp(v0)")
    value_named(nodes, "v2 = mul(v1, v0)")


def test_to_dot_shared_subexpression_drawn_once():
    x = ad.Tensor([0.5, 1.0], requires_grad=True)
    s = ad.tanh(x)
    y = (s * 2.0 + s * s).sum()  # s feeds two ops (s * s is one op: square)
    nodes, edges = parse_dot(ad.to_dot(y))
    assert op_names(nodes).count("tanh") == 1
    tanh_value = value_named(nodes, "v1 = tanh(v0)")
    assert sum(t == tanh_value for t, _, _ in edges) == 2


def test_to_dot_same_input_twice_in_one_op():
    x = ad.Tensor(2.0, requires_grad=True)
    nodes, edges = parse_dot(ad.to_dot(ad.mul(x, x), backward=True))
    mul_edges = [a["label"] for t, h, a in edges if nodes[t]["shape"] == "box"]
    assert mul_edges == ["dv1/dv0 = v0", "dv1/dv0 = v0"]


def test_to_dot_clip_labels_name_the_bounds():
    x = ad.Tensor([-2.0, 0.5], requires_grad=True)
    lo = ad.Tensor(-1.0, requires_grad=True)
    nodes, edges = parse_dot(ad.to_dot(ad.clip(x, lo, 1.0), backward=True))
    labels = [a.get("label") for t, h, a in edges if nodes[t]["shape"] == "box"]
    assert labels == ["dv3/dv0 = 1 where v1 <= v0 <= v2, else 0",
                      "dv3/dv1 = 1 where v0 < v1, else 0", None]
    assert "(constant)\n1" in nodes[value_named(nodes, "v2 (constant)")]["label"]


def test_to_dot_of_leaf_is_one_ellipse():
    nodes, edges = parse_dot(ad.to_dot(ad.Tensor([1.0, 2.0, 3.0])))
    assert len(nodes) == 1 and not edges
    (attrs_,) = nodes.values()
    assert attrs_["shape"] == "ellipse" and "[1., 2., 3.]" in attrs_["label"]


def test_to_dot_large_values_show_shape_only(rng):
    x = ad.Tensor(rng.standard_normal((10, 10)), requires_grad=True)
    nodes, _ = parse_dot(ad.to_dot(ad.exp(x)))
    leaf = value_named(nodes, "v0 (leaf)")
    assert nodes[leaf]["label"] == "v0 (leaf)\n(10, 10) float64"


def test_to_dot_shows_parameters_in_the_box():
    x = ad.Tensor(np.ones((2, 3)), requires_grad=True)
    nodes, _ = parse_dot(ad.to_dot(x.sum(axis=0).reshape(3, 1)))
    labels = {a["label"] for a in nodes.values() if a["shape"] == "box"}
    assert "sum\naxis=0" in labels
    assert "reshape\n3, 1" in labels or "reshape\n(3, 1)" in labels


def test_to_dot_after_backward_without_retain_shows_freed_graph():
    _x, _w, y = small_graph()
    y.backward()
    nodes, edges = parse_dot(ad.to_dot(y))
    assert op_names(nodes) == ["sum"]
    notes = [n for n, a in nodes.items() if a["shape"] == "note"]
    assert len(notes) == 1 and "freed by backward()" in nodes[notes[0]]["label"]
    assert (notes[0], next(iter(by_shape(nodes, "box")))) in {(t, h) for t, h, _ in edges}


def test_to_dot_after_backward_with_retain_keeps_graph_and_shows_grads():
    _x, _w, y = small_graph()
    y.backward(retain_graph=True)
    nodes, _ = parse_dot(ad.to_dot(y, backward=True))
    assert op_names(nodes) == ["add", "mul", "sin", "sum"]
    # dy/dw = sum(cos(3x) x)
    expected = np.sum(np.cos(3 * np.array([1.0, 2.0])) * np.array([1.0, 2.0]))
    leaf_w = value_named(nodes, "v1 (leaf)")
    assert f"grad = {expected:.4g}" in nodes[leaf_w]["label"]


def test_to_dot_of_create_graph_gradient_shows_backward_ops():
    x = ad.Tensor([0.5, -1.0], requires_grad=True)
    ad.tanh(x).sum().backward(create_graph=True)
    nodes, edges = parse_dot(ad.to_dot(x.grad, backward=True))
    assert "tanh_grad" in op_names(nodes)
    assert any("recorded backward op" in a.get("label", "") for _, _, a in edges)


def test_to_dot_long_chain_is_iterative():
    x = ad.Tensor([0.1, 0.2], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = ad.sin(y)
    limit = sys.getrecursionlimit()
    text = ad.to_dot(y)
    assert sys.getrecursionlimit() == limit
    assert text.count("[shape=box") == 100_000
    assert text.count(" -> ") == 200_000
    text = ad.to_dot(y, backward=True)
    assert text.count("= cos(") == 100_000


def test_to_dot_rejects_non_tensors():
    with pytest.raises(TypeError, match="to_dot: expected a Tensor"):
        ad.to_dot(np.ones(3))


def test_to_dot_quotes_labels():
    # Index parameters contain commas and brackets: the text must still parse.
    x = ad.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    nodes, _ = parse_dot(ad.to_dot(x[np.array([1, 0]), 1:], backward=True))
    assert "getitem" in op_names(nodes)


# ----- the derivative labels are right --------------------------------------------------

_T = standard_transformations + (implicit_multiplication, convert_xor)
V0, V1, V2 = sp.symbols("v0 v1 v2", real=True)
_SIGMOID = sp.Lambda(V0, 1 / (1 + sp.exp(-V0)))

UNARY = {  # op: (sympy expression of the input s, a point in its domain)
    "neg": (lambda s: -s, 0.7), "exp": (sp.exp, 0.7), "log": (sp.log, 1.3),
    "log1p": (lambda s: sp.log(1 + s), 0.4), "expm1": (lambda s: sp.exp(s) - 1, 0.7),
    "sqrt": (sp.sqrt, 1.7), "square": (lambda s: s ** 2, -0.6), "sin": (sp.sin, 0.7),
    "cos": (sp.cos, 0.7), "tanh": (sp.tanh, -0.4), "sigmoid": (lambda s: _SIGMOID(s), 0.3),
    "softplus": (lambda s: sp.log(1 + sp.exp(s)), -0.5), "abs": (sp.Abs, -0.8),
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b,
}


def formulas(label):
    """The expressions after ``dvK/dvJ = ``, each side of a further ``=`` separately."""
    head, _, rest = label.partition(" = ")
    assert re.fullmatch(r"dv\d+/dv\d+", head), label
    return [parse_expr(part, transformations=_T,
                       local_dict={"v0": V0, "v1": V1, "v2": V2, "sigmoid": _SIGMOID,
                                   "sign": sp.sign})
            for part in rest.split(" = ")]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_to_dot_unary_labels_are_the_derivative(name):
    fn, point = UNARY[name]
    x = ad.Tensor(point, requires_grad=True)
    y = getattr(ad, name)(x)
    nodes, edges = parse_dot(ad.to_dot(y, backward=True))
    (label,) = [a["label"] for t, h, a in edges if nodes[t]["shape"] == "box"]
    expected = float(sp.diff(fn(V0), V0).subs(V0, point))
    for expr in formulas(label):
        value = float(expr.subs({V1: fn(V0)}).subs(V0, point))
        assert value == pytest.approx(expected, rel=1e-12), (label, str(expr))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_to_dot_binary_labels_are_the_partial_derivatives(name):
    fn = BINARY[name]
    a, b = 1.3, 0.6
    y = getattr(ad, name)(ad.Tensor(a, requires_grad=True), ad.Tensor(b, requires_grad=True))
    nodes, edges = parse_dot(ad.to_dot(y, backward=True))
    labels = [e["label"] for t, h, e in edges if nodes[t]["shape"] == "box"]
    assert len(labels) == 2
    for wrt, label in zip((V0, V1), labels):
        expected = float(sp.diff(fn(V0, V1), wrt).subs({V0: a, V1: b}))
        for expr in formulas(label):
            value = float(expr.subs({V2: fn(V0, V1)}).subs({V0: a, V1: b}))
            assert value == pytest.approx(expected, rel=1e-12), (label, str(expr))


def test_every_elementwise_op_has_a_derivative_label():
    # The labels of the backward graph's edges: an elementwise op without one would show a
    # bare "dv/dx". (The *_grad ops are the recorded backward's own, labelled by _VJP.)
    from pyautodiff import viz
    from pyautodiff.ops import REGISTRY

    missing = [name for name, op in REGISTRY.items()
               if op.forward.__module__ == "pyautodiff.ops.elementwise"
               and not name.endswith("_grad") and name not in viz._ELEMENTWISE]
    assert missing == []

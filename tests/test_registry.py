"""Meta-tests: no op goes untested.

Coverage is measured, not declared: every case of OP_CASES is run with
``create_graph=True`` and the names of the ops recorded in its forward graph
and in the graph of its gradients are collected from the tensors themselves
(``grad_fn``). The fused backward kernels (``tanh_grad``...) and ``scatter``
show up there because the VJPs of ``tanh``, ``getitem``... call them. A
registered op that no case reaches fails the test by name.
"""

import numpy as np
import pytest
from cases import CASE_IDS, OP_CASES

import pyautodiff as ad
from pyautodiff.backends import kernels
from pyautodiff.engine import Node
from pyautodiff.ops import REGISTRY

# The primitives the issue names (fused backward kernels and scatter are internal).
PRIMITIVES = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "neg", "abs", "exp", "log",
    "log1p", "expm1", "sqrt", "square", "sin", "cos", "tanh", "sigmoid", "relu", "softplus",
    "tanh_grad", "sigmoid_grad", "square_grad", "relu_grad", "where", "clip", "sum", "mean", "max", "min",
    "logsumexp", "reshape", "transpose", "broadcast_to", "getitem", "scatter", "concatenate",
    "stack", "astype", "matmul",
}

# Every function of API.md's "Operations" list (module functions; operators map onto them).
API_OPS = {
    "add", "sub", "mul", "div", "pow", "neg", "abs", "matmul", "dot", "norm",
    "exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tanh", "sigmoid", "relu",
    "softplus", "maximum", "minimum", "where", "clip",
    "sum", "mean", "max", "min", "var", "logsumexp", "softmax", "log_softmax",
    "reshape", "transpose", "swapaxes", "squeeze", "expand_dims", "broadcast_to", "flatten",
    "getitem", "concatenate", "stack", "astype",
}

# API.md: "Every operation exists as a Tensor method where numpy has one (t.exp(), t.sum())".
TENSOR_METHODS = {
    "exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tanh", "sigmoid", "relu",
    "softplus", "abs", "clip", "sum", "mean", "max", "min", "var", "logsumexp", "reshape",
    "transpose", "swapaxes", "squeeze", "expand_dims", "broadcast_to", "flatten", "astype",
}


def _node(t):
    """The engine's record of how ``t`` was made (None for a leaf).

    Reads the engine's layout; if it changes this returns None for every tensor
    and the coverage test below fails loudly rather than passing.
    """
    return getattr(t, "_node", None)


def graph_op_names(roots):
    """The names of all ops recorded in the graphs that produced ``roots``."""
    names, seen = set(), set()
    stack = [_node(r) for r in roots if isinstance(r, ad.Tensor)]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        names.add(n._op.name)
        stack.extend(a for a in n._args or () if isinstance(a, Node))
    return names


def ops_exercised(case, rng):
    """Op names in the forward graph and in the (create_graph) gradient graph of ``case``."""
    xs = [ad.Tensor(a, requires_grad=True) for a in case.inputs(rng)]
    out = case.fn(*xs)
    names = graph_op_names([out])
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * w).sum().backward(create_graph=True)
    names |= graph_op_names([x.grad for x in xs])
    return names


def test_registry_graph_walker_sees_forward_and_backward_ops():
    # The walker itself must work, or the coverage test could pass vacuously.
    x = ad.Tensor([0.5, -1.0], requires_grad=True)
    y = ad.tanh(x * 2.0).sum()
    assert graph_op_names([y]) == {"sum", "tanh", "mul"}
    y.backward(create_graph=True)
    assert "tanh_grad" in graph_op_names([x.grad])


def test_registry_has_every_documented_primitive():
    missing = PRIMITIVES - set(REGISTRY)
    assert not missing, f"primitives missing from the registry: {sorted(missing)}"


def test_registry_op_names_are_public_names():
    # Op names show in repr (grad_fn=...), in error messages and in graph pictures.
    private = sorted(n for n in REGISTRY if n.startswith("_"))
    assert not private, f"ops registered under private names: {private}"
    x = ad.Tensor([1.0], requires_grad=True)
    assert ad.concatenate([x, x]).grad_fn == "concatenate"
    assert ad.stack([x, x]).grad_fn == "stack"


def test_registry_ops_are_well_formed():
    for name, op in REGISTRY.items():
        assert op.name == name
        assert callable(op.forward)
        if op.nin is not None:
            assert len(op.vjps) == op.nin, name
            assert all(callable(v) for v in op.vjps), name


def test_registry_every_op_is_exercised_by_a_case(rng):
    exercised = set()
    for case in OP_CASES:
        exercised |= ops_exercised(case, rng)
    missing = set(REGISTRY) - exercised
    assert not missing, f"registered ops that no case in OP_CASES exercises: {sorted(missing)}"


@pytest.mark.parametrize("case", [c for c in OP_CASES if c.op in REGISTRY],
                         ids=[c.id for c in OP_CASES if c.op in REGISTRY])
def test_registry_case_exercises_its_op(case, rng):
    # A row labelled "max" must really record max: mislabelled rows would fake coverage.
    assert case.op in ops_exercised(case, rng)


def test_registry_every_public_op_has_a_case():
    covered = {c.op for c in OP_CASES}
    for name in sorted(API_OPS):
        assert callable(getattr(ad, name, None)), f"ad.{name} is missing"
    missing = API_OPS - covered
    assert not missing, f"public ops without a case in OP_CASES: {sorted(missing)}"
    assert "getitem" in covered and "scatter" in covered


def test_registry_tensor_methods_exist():
    for name in sorted(TENSOR_METHODS):
        assert callable(getattr(ad.Tensor, name, None)), f"Tensor.{name} is missing"


def test_registry_case_ids_are_unique():
    assert len(CASE_IDS) == len(set(CASE_IDS))


def test_registry_backend_has_every_kernel(backend):
    module = ad.backends.current()
    missing = [k for k in kernels.KERNELS if not callable(getattr(module, k, None))]
    assert not missing, f"backend {backend} lacks kernels {missing}"

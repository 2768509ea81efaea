"""Engine semantics: accumulation, retain_graph, no_grad, detach, long chains, path sums,
freeing the graph, never mutating user arrays, no aliasing between gradients,
requires_grad propagation, the errors of API.md and the dtype rules.

References are closed forms written out by hand or numpy evaluations.
"""

import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff.ops import REGISTRY

pytestmark = pytest.mark.usefixtures("backend")


def leaf(values, dtype=None):
    return ad.Tensor(np.asarray(values, dtype=np.float64), requires_grad=True, dtype=dtype)


# ----- accumulation and retain_graph -------------------------------------------------------

def test_backward_accumulates_over_two_calls(rng):
    v = rng.standard_normal(5)
    x = leaf(v)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * v, rtol=1e-15)
    ad.sin(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * v + np.cos(v), rtol=1e-14)


def test_backward_grad_none_clears_accumulation(rng):
    v = rng.standard_normal(4)
    x = leaf(v)
    (x * 3.0).sum().backward()
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * v, rtol=1e-15)


def test_backward_twice_without_retain_graph_raises():
    x = leaf([0.5, 1.5])
    y = (ad.exp(x) * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_twice_through_shared_subgraph_raises():
    # The second loss reuses a freed part of the first graph.
    x = leaf([0.5, 1.5])
    h = ad.exp(x)
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2.0).sum().backward()


def test_backward_retain_graph_allows_second_pass_and_accumulates(rng):
    v = rng.standard_normal(3)
    x = leaf(v)
    y = (ad.exp(x) * x).sum()
    y.backward(retain_graph=True)
    expected = np.exp(v) * (1 + v)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-14)
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 2 * expected, rtol=1e-14)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * expected, rtol=1e-14)
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_backward_of_leaf_itself():
    x = leaf([[1.0, 2.0]])
    x.backward(gradient=np.array([[3.0, 4.0]]))
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 4.0]])
    s = leaf(2.0)
    s.backward()
    assert s.grad.item() == 1.0


# ----- no_grad and detach ---------------------------------------------------------------------

def test_no_grad_results_do_not_require_grad():
    x = leaf([1.0, 2.0])
    with ad.no_grad():
        y = x * 2.0 + ad.exp(x)
        assert not ad.is_grad_enabled()
    assert ad.is_grad_enabled()
    assert not y.requires_grad
    assert y.is_leaf
    assert y.grad_fn is None
    np.testing.assert_allclose(y.numpy(), [2 + np.e, 4 + np.e ** 2], rtol=1e-15)
    with pytest.raises(RuntimeError):
        y.sum().backward()
    # Outside the block recording resumes.
    z = x * 2.0
    assert z.requires_grad


def test_no_grad_restores_after_exception():
    with pytest.raises(ZeroDivisionError), ad.no_grad():
        raise ZeroDivisionError("inside no_grad")
    assert ad.is_grad_enabled()
    assert (leaf([1.0]) * 2.0).requires_grad


def test_no_grad_nested_and_enable_grad():
    x = leaf([1.0])
    with ad.no_grad():
        with ad.no_grad():
            pass
        assert not (x * 2.0).requires_grad
        with ad.enable_grad():
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad


def test_no_grad_is_thread_local():
    x = leaf([1.0, 2.0])
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        with ad.no_grad():
            seen["other"] = (x * 2.0).requires_grad
            inside.set()
            release.wait(5)

    t = threading.Thread(target=other_thread)
    t.start()
    assert inside.wait(5)
    # While the other thread sits inside no_grad(), this one still records...
    y = x * 3.0
    release.set()
    t.join(5)
    assert seen["other"] is False
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])

    # ...and a new thread started from inside no_grad() records too.
    result = {}
    with ad.no_grad():
        th = threading.Thread(target=lambda: result.update(rg=(x * 2.0).requires_grad))
        th.start()
        th.join(5)
    assert result["rg"] is True


def test_detach_stops_gradient(rng):
    v = rng.standard_normal(4)
    x = leaf(v)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    np.testing.assert_array_equal(d.numpy(), 2 * v)
    (x * d).sum().backward()  # d is a constant: the gradient is d, not 4x
    np.testing.assert_allclose(x.grad.numpy(), 2 * v, rtol=1e-15)


def test_detach_of_leaf_keeps_value_without_grad():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad
    np.testing.assert_array_equal(d.numpy(), [1.0, 2.0])


# ----- long chains, path sums -----------------------------------------------------------------

def test_long_chain_100k_ops_forward_and_backward():
    n = 50_000  # two ops per step: 100,000 recorded ops
    c = 1.0 + 1e-5
    v = np.array([0.5, -1.0, 2.0])
    x = leaf(v)
    y = x
    for _ in range(n):
        y = y * c + 1e-6
    limit = sys.getrecursionlimit()
    y.sum().backward()
    assert sys.getrecursionlimit() == limit
    # y = c^n x + 1e-6 (c^n - 1)/(c - 1); dy/dx = c^n
    cn = np.exp(n * np.log1p(1e-5))
    np.testing.assert_allclose(y.numpy(), cn * v + 1e-6 * (cn - 1) / (c - 1), rtol=1e-9)
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, cn), rtol=1e-9)


def test_long_chain_of_unary_ops_gradient_matches_product_of_derivatives():
    # 100,000 sin applications: dy/dx = prod cos(y_k), computed independently in numpy.
    v = np.array([0.3, 1.2])
    x = leaf(v)
    y = x
    for _ in range(100_000):
        y = ad.sin(y)
    y.sum().backward()
    cur, deriv = v.copy(), np.ones(2)
    for _ in range(100_000):
        deriv *= np.cos(cur)
        cur = np.sin(cur)
    np.testing.assert_allclose(y.numpy(), cur, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), deriv, rtol=1e-9)


def test_path_sums_variable_used_many_times(rng):
    v = rng.standard_normal(4)
    x = leaf(v)
    y = x * x * x + x + x * x - x / 2.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * v ** 2 + 1 + 2 * v - 0.5, rtol=1e-14)


def test_path_sums_thousand_uses(rng):
    v = rng.standard_normal(3)
    x = leaf(v)
    y = x * 0.0
    for k in range(1, 1001):
        y = y + x * float(k)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 500500.0), rtol=1e-15)


def test_path_sums_diamond(rng):
    v = rng.uniform(-1, 1, 5)
    x = leaf(v)
    a = x * 2.0
    d = ad.exp(a) * ad.sin(a)
    d.sum().backward()
    np.testing.assert_allclose(
        x.grad.numpy(), 2 * np.exp(2 * v) * (np.sin(2 * v) + np.cos(2 * v)), rtol=1e-13)


def test_path_sums_nested_diamonds(rng):
    # f = (a + b) * (a - b) with a = x^2, b = sin x: f = x^4 - sin^2 x.
    v = rng.standard_normal(4)
    x = leaf(v)
    a, b = x * x, ad.sin(x)
    ((a + b) * (a - b)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * v ** 3 - 2 * np.sin(v) * np.cos(v),
                               rtol=1e-13)


def test_path_sums_with_broadcasting(rng):
    # x (3, 1) meets y (4,) twice: the gradient sums over both paths and the broadcast axis.
    xv, yv = rng.standard_normal((3, 1)), rng.standard_normal(4)
    x, y = leaf(xv), leaf(yv)
    ((x * y) + (x - y) * 2.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 1), yv.sum() + 8.0), rtol=1e-14)
    np.testing.assert_allclose(y.grad.numpy(), np.full(4, xv.sum() - 6.0), rtol=1e-14)


def test_path_sums_same_leaf_in_many_ops_of_one_node():
    x = leaf([1.0, 2.0, 3.0])
    ad.stack([x, x * 2.0, x]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])


# ----- the graph is freed ------------------------------------------------------------------------

def _big_intermediate_is_freed(retain_graph):
    x = leaf(np.linspace(0.0, 1.0, 200_000))
    h = ad.exp(x)
    ref = weakref.ref(h.data)
    y = (h * 2.0).sum()
    del h
    gc.collect()
    assert ref() is not None  # the graph holds it until backward
    y.backward(retain_graph=retain_graph)
    gc.collect()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(np.linspace(0.0, 1.0, 200_000)),
                               rtol=1e-15)
    return ref() is None


def test_graph_freed_after_backward():
    freed = _big_intermediate_is_freed(retain_graph=False)
    assert freed, "an intermediate array is still alive after backward(): the graph leaked"


def test_graph_kept_with_retain_graph():
    # The control for the test above: the weakref does see the array when it must live.
    freed = _big_intermediate_is_freed(retain_graph=True)
    assert not freed


def test_graph_tensors_collected_after_backward():
    x = leaf(np.ones(1000))
    h1 = ad.sin(x)
    h2 = ad.exp(h1)
    refs = [weakref.ref(h1), weakref.ref(h2)]
    y = (h2 * h1).sum()
    del h1, h2
    y.backward()
    gc.collect()
    assert all(r() is None for r in refs)


def test_intermediate_array_freed_before_backward_when_no_vjp_reads_it():
    # tanh's gradient reads its output, add's reads nothing: once the user drops
    # ``u = 3x + 1`` its array can go as soon as ``tanh(u)`` is computed (on the C
    # backend it may be pending until read, and then it reads u), and the gradient
    # is unchanged.
    v = np.linspace(-1.0, 1.0, 7)
    x = leaf(v)
    u = x * 3.0 + 1.0
    ref = weakref.ref(u.data)
    y = ad.tanh(u)
    y.numpy()
    del u
    gc.collect()
    assert ref() is None, "an intermediate no VJP reads is kept alive by the graph"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3.0 / np.cosh(3.0 * v + 1.0) ** 2, rtol=1e-13)


def test_intermediate_array_kept_while_a_vjp_reads_it():
    # The control: mul's gradient reads both inputs, so ``u``'s array must stay.
    v = np.linspace(-1.0, 1.0, 7)
    x = leaf(v)
    u = ad.sin(x)
    ref = weakref.ref(u.data)
    y = u * x
    del u
    gc.collect()
    assert ref() is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos(v) * v + np.sin(v), rtol=1e-13)


@pytest.mark.parametrize("name,out,inputs", [
    ("tanh", True, (False,)), ("exp", True, (False,)), ("log", False, None),
    ("add", False, (False, False)), ("mul", False, None), ("div", True, (False, True)),
    ("neg", False, (False,)),
])
def test_ops_keep_only_what_their_vjps_read(name, out, inputs):
    # Read from the VJPs' code (ops/__init__.py: _saves); None means every input.
    op = REGISTRY[name]
    assert (op.save_out, op.save_in) == (out, inputs)


# ----- user arrays are never mutated, gradients never alias ----------------------------------

def test_input_arrays_never_mutated(rng):
    a = rng.standard_normal((3, 4))
    c = rng.standard_normal((3, 4))
    c1 = rng.standard_normal(4)
    gout = rng.standard_normal((3, 4))
    copies = [arr.copy() for arr in (a, c, c1, gout)]
    x = ad.Tensor(a, requires_grad=True)
    y = ((x * c + c1) * x + c - x / (c1 * c1 + 1.0)) + x.reshape(4, 3).T.T.reshape(3, 4)
    y = y + ad.where(c > 0, x, c) + ad.maximum(x, c) + ad.concatenate([x, c])[:3]
    y.backward(gradient=gout)
    y2 = (x + c).sum()
    y2.backward()
    for arr, copy in zip((a, c, c1, gout), copies):
        np.testing.assert_array_equal(arr, copy)


def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    x = ad.Tensor(a, requires_grad=True)
    a[0] = 100.0
    assert x.numpy()[0] == 1.0


ALIAS_CASES = [
    ("add", lambda x, y: x + y),
    ("add-broadcast", lambda x, y: x + y[0]),
    ("sub", lambda x, y: x - y),
    ("same-leaf-twice", lambda x, y: x + x + y),
    ("reshape", lambda x, y: x.reshape(6).reshape(2, 3) + y),
    ("transpose", lambda x, y: x.T.T + y),
    ("getitem", lambda x, y: x[:, :] + y[...]),
    ("broadcast_to", lambda x, y: ad.broadcast_to(x, (2, 3)) + y),
    ("concatenate", lambda x, y: ad.concatenate([x, y])[:2] + ad.concatenate([x, y])[2:]),
    ("stack", lambda x, y: ad.stack([x, y]).sum(axis=0)),
    ("where", lambda x, y: ad.where(np.ones((2, 3), dtype=bool), x, y) + y),
    ("astype", lambda x, y: x.astype(np.float64) + y),
]


@pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])
@pytest.mark.parametrize("name,fn", ALIAS_CASES, ids=[n for n, _ in ALIAS_CASES])
def test_grad_arrays_do_not_alias(name, fn, create_graph, rng):
    x = leaf(rng.standard_normal((2, 3)))
    y = leaf(rng.standard_normal((2, 3)))
    out = fn(x, y)
    gout = rng.standard_normal(out.shape)
    gcopy = gout.copy()
    out.backward(gradient=gout, create_graph=create_graph)
    assert x.grad is not y.grad
    gx, gy = x.grad.numpy(), y.grad.numpy()
    assert not np.shares_memory(gx, gout) and not np.shares_memory(gy, gout)
    assert not np.shares_memory(gx, gy)
    assert not np.shares_memory(gx, x.numpy()) and not np.shares_memory(gy, y.numpy())
    first_x, first_y = gx.copy(), gy.copy()
    gx += 1000.0  # mutate x.grad in place: y.grad and the user's gradient must not change
    np.testing.assert_array_equal(y.grad.numpy(), first_y)
    np.testing.assert_array_equal(gout, gcopy)
    # A second pass accumulates onto what .grad holds now and leaves gout alone.
    fn(x, y).backward(gradient=gout)
    np.testing.assert_array_equal(gout, gcopy)
    np.testing.assert_allclose(x.grad.numpy(), 2 * first_x + 1000.0, rtol=1e-15)
    np.testing.assert_allclose(y.grad.numpy(), 2 * first_y, rtol=1e-15)


def test_grad_does_not_alias_user_gradient_tensor_with_create_graph():
    x = leaf([1.0, 2.0])
    g = ad.Tensor([1.0, 1.0])
    (x + 0.0).backward(gradient=g, create_graph=True)
    assert x.grad is not g
    assert not np.shares_memory(x.grad.numpy(), g.numpy())


def test_grad_does_not_alias_user_gradient_for_identity_paths():
    x = leaf([1.0, 2.0, 3.0])
    g = np.array([1.0, 1.0, 1.0])
    (x + 0.0).backward(gradient=g)
    x.grad.numpy()[:] = 7.0
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0])
    x.grad = None
    x.backward(gradient=g)  # the leaf itself: its gradient is the user's array, copied
    assert not np.shares_memory(x.grad.numpy(), g)


def test_previous_grad_object_not_mutated_by_accumulation():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    first = x.grad
    kept = first.numpy().copy()
    (x * 5.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 8.0])
    # Whether accumulation is in place or not, the values seen through x.grad are right;
    # the old object is either the same (updated) or unchanged.
    assert x.grad is first or np.array_equal(first.numpy(), kept)


# ----- requires_grad propagation -------------------------------------------------------------

def test_requires_grad_propagates():
    x = leaf([1.0])
    c = ad.Tensor([2.0])
    assert not c.requires_grad
    assert (x * c).requires_grad
    assert (c * x).requires_grad
    assert not (c * c + 1.0).requires_grad
    assert not ad.exp(c).requires_grad
    assert (x * c).grad_fn == "mul" and not (x * c).is_leaf


def test_constant_inputs_get_no_grad(rng):
    x = leaf(rng.standard_normal(3))
    c = ad.Tensor(rng.standard_normal(3))
    (x * c + ad.exp(c)).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), c.numpy())


def _counting(monkeypatch, name):
    op = REGISTRY[name]
    calls = [0] * len(op.vjps)

    def wrap(i, f):
        def counted(*a, **k):
            calls[i] += 1
            return f(*a, **k)
        return counted

    monkeypatch.setattr(op, "vjps", tuple(wrap(i, f) for i, f in enumerate(op.vjps)))
    return calls


def test_no_vjp_computed_for_inputs_without_grad(monkeypatch, rng):
    mul_calls = _counting(monkeypatch, "mul")
    exp_calls = _counting(monkeypatch, "exp")
    x = leaf(rng.standard_normal(3))
    c = ad.Tensor(rng.standard_normal(3))
    k = ad.exp(c) * c  # a constant subgraph: nothing in it is differentiated
    (x * k).sum().backward()
    assert mul_calls == [1, 0]  # only d/dx of x * k
    assert exp_calls == [0]
    np.testing.assert_allclose(x.grad.numpy(), np.exp(c.numpy()) * c.numpy(), rtol=1e-15)


def test_no_vjp_computed_for_second_input_without_grad(monkeypatch, rng):
    calls = _counting(monkeypatch, "mul")
    x = leaf(rng.standard_normal(3))
    (ad.Tensor([1.0, 2.0, 3.0]) * x).sum().backward()
    assert calls == [0, 1]
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])


def test_no_vjp_computed_for_unused_leaf_in_multi_input_op(monkeypatch, rng):
    x = leaf(rng.standard_normal(2))
    c = ad.Tensor(rng.standard_normal(2))
    op = REGISTRY["stack"] if "stack" in REGISTRY else REGISTRY["_stack"]
    called = []
    original = op.vjps
    monkeypatch.setattr(op, "vjps", type("V", (), {
        "__getitem__": lambda self, i: (called.append(i), original[i])[1]})())
    ad.stack([c, x, c]).sum().backward()
    assert called == [1]
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert c.grad is None


# ----- errors ------------------------------------------------------------------------------------

def test_matmul_shape_mismatch_raises_value_error():
    with pytest.raises(ValueError) as e:
        ad.ones((3, 4)) @ ad.ones((5, 2))
    msg = str(e.value)
    assert "matmul" in msg and "(3, 4)" in msg and "(5, 2)" in msg


def test_matmul_error_message_reads_as_api_md():
    # API.md quotes the message: "matmul: shapes (3, 4) and (5, 2) are not aligned: 4 != 5",
    # and DESIGN.md the form "op: problem": the op named once, first.
    with pytest.raises(ValueError) as e:
        ad.ones((3, 4), requires_grad=True) @ ad.ones((5, 2))
    assert str(e.value).startswith("matmul: shapes (3, 4) and (5, 2) are not aligned: 4 != 5")


def test_error_messages_name_the_op_once():
    for call, name in ((lambda: ad.max(ad.Tensor([])), "max"),
                       (lambda: ad.sum(ad.ones((2, 3)), axis=3), "sum"),
                       (lambda: ad.ones(3) + ad.ones(4), "add")):
        with pytest.raises(ValueError) as e:
            call()
        msg = str(e.value)
        assert msg.startswith(f"{name}: ") and not msg.startswith(f"{name}: {name}:"), msg


@pytest.mark.parametrize("sx,sy", [((3,), (4,)), ((2, 3), (2,)), ((2, 2, 3), (4, 2)),
                                   ((2, 3, 4), (3, 4, 2))])
def test_matmul_shape_mismatch_variants_raise_value_error(sx, sy):
    with pytest.raises(ValueError, match="matmul"):
        ad.matmul(ad.ones(sx, requires_grad=True), np.ones(sy))


def test_matmul_scalar_operand_raises_value_error():
    with pytest.raises(ValueError, match="matmul"):
        ad.matmul(ad.ones(()), ad.ones(3))


def test_broadcast_mismatch_raises_value_error_naming_op():
    with pytest.raises(ValueError) as e:
        ad.ones(3) + ad.ones(4)
    assert "add" in str(e.value) and "(3,)" in str(e.value) and "(4,)" in str(e.value)
    with pytest.raises(ValueError, match="mul"):
        ad.ones((2, 3), requires_grad=True) * np.ones((3, 2))


@pytest.mark.parametrize("call", [
    lambda x: ad.sum(x, axis=3),
    lambda x: ad.sum(x, axis=-4),
    lambda x: ad.mean(x, axis=(0, 5)),
    lambda x: ad.max(x, axis=3),
    lambda x: ad.min(x, axis=-4),
    lambda x: ad.var(x, axis=7),
    lambda x: ad.logsumexp(x, axis=3),
    lambda x: ad.softmax(x, axis=3),
    lambda x: ad.log_softmax(x, axis=-4),
    lambda x: ad.sum(x, axis=(0, 0)),
    lambda x: ad.squeeze(x, axis=0),
    lambda x: ad.squeeze(x, axis=5),
    lambda x: ad.expand_dims(x, 5),
    lambda x: ad.swapaxes(x, 0, 3),
    lambda x: x.transpose(0, 1),
    lambda x: x.transpose(0, 1, 1),
    lambda x: ad.concatenate([x, x], axis=3),
    lambda x: ad.stack([x, x], axis=4),
], ids=["sum3", "sum-4", "mean-tuple", "max", "min", "var", "logsumexp", "softmax",
        "log_softmax", "repeated", "squeeze-len2", "squeeze-out", "expand_dims", "swapaxes",
        "transpose-short", "transpose-repeat", "concatenate", "stack"])
def test_bad_axis_raises_value_error(call):
    x = ad.ones((2, 3, 4), requires_grad=True)
    with pytest.raises(ValueError):
        call(x)


@pytest.mark.parametrize("call", [
    lambda x: ad.concatenate([x, ad.ones((2, 4))], axis=0),
    lambda x: ad.stack([x, ad.ones((3, 2))]),
    lambda x: ad.concatenate([ad.ones(()), ad.ones(())]),
    lambda x: x.reshape(4, 2),
    lambda x: ad.broadcast_to(x, (3, 3)),
    lambda x: ad.where(np.ones((4, 4), dtype=bool), x, 0.0),
    lambda x: ad.maximum(x, np.ones(4)),
], ids=["concatenate", "stack", "concatenate-0d", "reshape", "broadcast_to", "where",
        "maximum"])
def test_shape_mismatch_raises_value_error(call):
    x = ad.ones((2, 3), requires_grad=True)
    with pytest.raises(ValueError):
        call(x)


def test_bool_mask_of_wrong_shape_raises_index_error():
    # numpy's error for indexing, kept as numpy raises it.
    with pytest.raises(IndexError):
        ad.ones((2, 3), requires_grad=True)[np.ones(5, dtype=bool)]


def test_backward_gradient_wrong_shape_raises_value_error():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2.0
    with pytest.raises(ValueError) as e:
        y.backward(gradient=np.ones(4))
    assert "(4,)" in str(e.value) and "(3,)" in str(e.value)
    with pytest.raises(ValueError):
        y.backward(gradient=np.ones((3, 1)))  # broadcastable is not the same shape
    with pytest.raises(ValueError):
        y.sum().backward(gradient=np.ones(3))


def test_backward_non_scalar_without_gradient_raises_value_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match="gradient"):
        (x * 2.0).backward()
    # A one-element tensor of any shape is fine.
    y = leaf([[3.0]])
    (y * y).backward()
    assert y.grad.numpy().tolist() == [[6.0]]


def test_backward_without_requires_grad_raises_runtime_error():
    with pytest.raises(RuntimeError):
        ad.Tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError):
        ad.Tensor(2.0).backward()
    c = ad.Tensor([1.0, 2.0])
    with pytest.raises(RuntimeError):
        (ad.exp(c) * c).sum().backward()


@pytest.mark.parametrize("bad", ["a", b"a", object(), 1j, np.array([1j]), np.array(["a"]),
                                 np.array([object()]), [1, "a"], None],
                         ids=["str", "bytes", "object", "complex", "complex-array",
                              "str-array", "object-array", "mixed-list", "None"])
def test_unsupported_operands_raise_type_error(bad):
    x = leaf([1.0])
    for op in (lambda: x + bad, lambda: bad + x, lambda: x * bad, lambda: bad - x,
               lambda: x / bad, lambda: x ** bad, lambda: ad.maximum(x, bad)):
        with pytest.raises(TypeError):
            op()


@pytest.mark.parametrize("bad", ["abc", [1 + 2j], np.array([1j]), np.array(["a"]),
                                 np.array([object()]), object(), None, {"a": 1}],
                         ids=["str", "complex-list", "complex-array", "str-array",
                              "object-array", "object", "None", "dict"])
def test_unsupported_data_raises_type_error(bad):
    with pytest.raises(TypeError):
        ad.Tensor(bad)


@pytest.mark.parametrize("bad", [np.int32, np.int64, bool, np.complex128, np.float16, "U3",
                                 object, "not-a-dtype"])
def test_unsupported_dtype_raises_type_error(bad):
    with pytest.raises(TypeError):
        ad.Tensor([1.0], dtype=bad)
    with pytest.raises(TypeError):
        ad.zeros(2, dtype=bad)


def test_unary_op_on_string_raises_type_error():
    with pytest.raises(TypeError):
        ad.exp("a")
    with pytest.raises(TypeError):
        ad.sum(np.array(["a"]))


# ----- dtype rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("data", [[1, 2], np.array([1, 2], dtype=np.int32), [True, False],
                                  np.array([1, 2], dtype=np.uint8), 3, True],
                         ids=["int-list", "int32", "bool-list", "uint8", "int", "bool"])
def test_int_and_bool_data_become_float64(data):
    t = ad.Tensor(data)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), np.asarray(data, dtype=np.float64))
    assert ad.Tensor(data, dtype=np.float32).dtype == np.float32


def test_int_operands_give_float64():
    x = leaf([1.0, 2.0])
    assert (x + np.array([1, 2])).dtype == np.float64
    assert (x * 2).dtype == np.float64


def test_float32_stays_float32_with_python_numbers():
    x = leaf([1.0, 2.0], dtype=np.float32)
    y = ((x * 2 + 1.5) ** 2 / 3.0 - 1) @ ad.ones(2, dtype=np.float32)
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * (2 * np.array([1.0, 2.0]) + 1.5) * 2 / 3,
                               rtol=1e-6)


def test_mixed_float32_float64_promotes_and_grads_keep_their_dtype(rng):
    a = rng.standard_normal(3).astype(np.float32)
    b = rng.standard_normal(3)
    x32 = ad.Tensor(a, requires_grad=True)
    x64 = ad.Tensor(b, requires_grad=True)
    y = x32 * x64
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y.numpy(), a.astype(np.float64) * b)
    y.sum().backward()
    assert x32.grad.dtype == np.float32 and x64.grad.dtype == np.float64
    np.testing.assert_array_equal(x32.grad.numpy(), b.astype(np.float32))
    np.testing.assert_array_equal(x64.grad.numpy(), a.astype(np.float64))


def test_mixed_dtypes_follow_numpy_promotion():
    x32 = leaf([1.0, 2.0], dtype=np.float32)
    f32 = np.ones(2, dtype=np.float32)
    for other in (np.ones(2), np.float64(2.0), np.float32(2.0), 2.0, 2, np.ones(2, np.float32)):
        assert (x32 * other).dtype == (f32 * other).dtype, repr(other)
        assert (other - x32).dtype == (other - f32).dtype, repr(other)


def test_backward_gradient_dtype_converted_to_tensor_dtype():
    x = leaf([1.0, 2.0], dtype=np.float32)
    (x * 3.0).backward(gradient=np.array([1.0, 0.5]))  # float64 gradient
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 1.5])
    y = leaf([1.0, 2.0])
    (y * 3.0).backward(gradient=[1, 2])  # int list
    assert y.grad.dtype == np.float64
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 6.0])


@pytest.mark.parametrize("name,fn", [
    ("add", lambda a, b: a + b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("pow", lambda a, b: a ** b),
    ("maximum", lambda a, b: ad.maximum(a, b * 0.5)),
    ("matmul", lambda a, b: a @ b),
    ("concatenate", lambda a, b: ad.concatenate([a, b])),
    ("stack", lambda a, b: ad.stack([a, b], axis=1)),
    ("where", lambda a, b: ad.where(np.array([True, False, True]), a, b)),
    ("clip-tensor-bound", lambda a, b: ad.clip(b, a, 10.0)),
])
def test_mixed_dtype_ops_grads_keep_input_dtypes(name, fn):
    av = np.array([0.5, 1.25, 2.0], dtype=np.float32)
    bv = np.array([1.5, 0.75, 3.0])
    a = ad.Tensor(av, requires_grad=True)
    b = ad.Tensor(bv, requires_grad=True)
    out = fn(a, b)
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    # The same function all in float64 gives the same gradients, rounded to each dtype.
    a64 = ad.Tensor(av.astype(np.float64), requires_grad=True)
    b64 = ad.Tensor(bv, requires_grad=True)
    fn(a64, b64).sum().backward()
    # (Up to float32 rounding: a VJP may use the float32 input as is, e.g. log(a) in pow.)
    np.testing.assert_allclose(a.grad.numpy(), a64.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), b64.grad.numpy(), rtol=1e-6)


def test_backward_create_graph_retains_the_graph():
    x = leaf([1.0, 2.0])
    y = (x * x * x).sum()
    y.backward(create_graph=True)
    y.backward()  # the graph was kept by create_graph
    np.testing.assert_array_equal(x.grad.numpy(), 2 * 3 * np.array([1.0, 4.0]))


def test_backward_accepts_tensor_and_number_gradients():
    x = leaf([1.0, 2.0])
    (x * 3.0).backward(gradient=ad.Tensor([1.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -3.0])
    s = leaf(2.0)
    (s * s).backward(gradient=0.5)
    assert s.grad.item() == 2.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_number_and_empty_tensor(dtype):
    # A Python number against an empty array: the backend choice must not look for the
    # number's dtype (it once did, on the numpy backend, and raised AttributeError).
    x = ad.Tensor(np.empty(0, dtype), requires_grad=True)
    for y in (2.0 * x, x * 2.0, 1.0 - x):
        assert y.shape == (0,) and y.dtype == dtype
    (2.0 * x).sum().backward()
    assert x.grad.shape == (0,) and x.grad.dtype == dtype


def test_backward_toward_some_inputs_runs_only_the_graph_that_leads_to_them(
        backend, restore_registry):
    # engine.backward(inputs=...), what the function transforms use: the gradients of
    # those leaves equal a full pass's, other leaves get none, and VJPs on paths that
    # lead only elsewhere are not run (a diamond checks the order of the pruned pass).
    from pyautodiff import engine

    calls = []

    @ad.primitive
    def scaled(x):
        return 3.0 * x

    ad.defvjp(scaled, lambda g, ans, x: (calls.append(1), 3.0 * g)[1])
    rng = np.random.default_rng(5)
    a = ad.tensor(rng.standard_normal(4), requires_grad=True)
    b = ad.tensor(rng.standard_normal(4), requires_grad=True)

    def f():
        h = ad.tanh(a) * 2.0
        return (ad.sin(h) * ad.exp(h) + scaled(b) * h).sum()

    f().backward()
    full_a = a.grad.numpy().copy()
    a.grad = b.grad = None
    del calls[:]
    engine.backward(f(), inputs=[a])
    np.testing.assert_array_equal(a.grad.numpy(), full_a)
    assert b.grad is None and calls == []
    engine.backward(f(), inputs=[b])
    np.testing.assert_allclose(b.grad.numpy(), 3.0 * 2.0 * np.tanh(a.numpy()), rtol=1e-14)
    assert len(calls) == 1

"""Who owns which memory: results, gradients and the user's arrays never alias silently.

- every result of an op (other than a view op, which shares memory as PyTorch's views
  do) owns its buffer: writing an input after the op never changes its result;
- every ``.grad`` owns its buffer: writing it never changes a forward value, another
  gradient or a user's array, and the reverse;
- no array the user handed in or got out is left read-only once its graph is gone;
- random programs of ops, views, in-place updates, writes, reads, ``del`` and
  backward passes agree between the numpy backend and the C backend (thresholds at
  0 and at their real values), exceptions included.

The references are numpy (values computed before the writes) and the numpy backend.
"""

import gc
import math

import hypothesis.strategies as st
import numpy as np
import pytest
from conftest import c_threshold, real_thresholds
from hypothesis import HealthCheck, given, settings

import pyautodiff as ad


def _values(n, lo=0.5, hi=1.5):
    return np.linspace(lo, hi, n)


def _shares(a, b):
    return np.shares_memory(a, b)


# ----- results own their memory ----------------------------------------------------------

# (name, f(x, user)) with x a Tensor and user a numpy array of x's shape: ops whose
# result is not a view. A few compute the identity, where an alias would be tempting.
FORWARD = {
    "add": lambda x, u: x + u,
    "radd": lambda x, u: u + x,
    "sub": lambda x, u: x - u,
    "mul": lambda x, u: x * u,
    "div": lambda x, u: x / u,
    "pow": lambda x, u: x**u,
    "add 0": lambda x, u: x + 0.0,
    "mul 1": lambda x, u: x * 1.0,
    "div 1": lambda x, u: x / 1.0,
    "pow 1": lambda x, u: x**1.0,
    "mul broadcast 1": lambda x, u: x * np.broadcast_to(1.0, x.shape),
    "mul broadcast tensor 1": lambda x, u: x * ad.broadcast_to(ad.Tensor(1.0), x.shape),
    "neg": lambda x, u: -x,
    "abs": lambda x, u: abs(x),
    "exp": lambda x, u: ad.exp(x),
    "log": lambda x, u: ad.log(x),
    "sqrt": lambda x, u: ad.sqrt(x),
    "square": lambda x, u: x * x,
    "tanh": lambda x, u: ad.tanh(x),
    "sigmoid": lambda x, u: ad.sigmoid(x),
    "relu": lambda x, u: ad.relu(x),
    "softplus": lambda x, u: ad.softplus(x),
    "maximum": lambda x, u: ad.maximum(x, u),
    "maximum self": lambda x, u: ad.maximum(x, x),
    "minimum": lambda x, u: ad.minimum(u, x),
    "clip wide": lambda x, u: ad.clip(x, -1e9, 1e9),
    "where all": lambda x, u: ad.where(x > -1.0, x, u),
    "sum axis ()": lambda x, u: x.sum(axis=()),
    "mean axis ()": lambda x, u: x.mean(axis=()),
    "max axis ()": lambda x, u: x.max(axis=()),
    "astype same": lambda x, u: x.astype(x.dtype),
    "copy": lambda x, u: x.copy(),
    "concatenate one": lambda x, u: ad.concatenate([x]),
    "stack one": lambda x, u: ad.stack([x]),
    "matmul": lambda x, u: x.reshape(1, -1) @ np.ones((x.size, 1)),
    "softmax": lambda x, u: ad.softmax(x),
    "log_softmax": lambda x, u: ad.log_softmax(x),
    "logsumexp keepdims": lambda x, u: x.logsumexp(keepdims=True),
}


@pytest.mark.parametrize("requires_grad", [False, True], ids=["constant", "requires_grad"])
@pytest.mark.parametrize("name", FORWARD)
def test_writing_inputs_after_an_op_never_changes_its_result(backend, size, name,
                                                              requires_grad):
    x0, u0 = _values(size), _values(size, 2.0, 3.0)
    x, user = ad.Tensor(x0, requires_grad=requires_grad), u0.copy()
    with np.errstate(all="ignore"):
        r = FORWARD[name](x, user)
    want = np.array(r.tolist())  # (tolist locks nothing)
    assert not _shares(r.data, x.data) and not _shares(r.data, user)
    # Write both inputs the ways the user can: x by the library (allowed into a locked
    # array), the user's array through numpy when no node saved it.
    with ad.no_grad():
        x[...] = -7.0
    if user.flags.writeable:
        user[...] = -7.0
    np.testing.assert_array_equal(r.numpy(), want)
    del r, x  # (no graph, or dropped now: the user's array is writable)
    assert user.flags.writeable


def test_results_of_view_ops_share_memory_as_pytorchs_views(backend, size):
    # The exception to the rule above, as in PyTorch: views (slices, reshape, transpose)
    # share their input's memory and version count; they see a later write.
    x = ad.Tensor(_values(size))
    views = [x[1:], x.reshape(1, size), x.reshape(size, 1).T, x[::2]]
    x += 1.0
    for v, ref in zip(views, [_values(size)[1:], _values(size).reshape(1, size),
                              _values(size).reshape(size, 1).T, _values(size)[::2]]):
        np.testing.assert_allclose(v.numpy(), ref + 1.0, rtol=1e-15, atol=0)
        assert v._version == 1



VIEWS_OF_ARRAYS = {
    "reshape": lambda a: ad.reshape(a, (1, -1)), "transpose": ad.transpose,
    "getitem": lambda a: ad.getitem(a, slice(1, None)), "flatten": ad.flatten,
    "ravel": ad.ravel, "flip": ad.flip, "broadcast_to": lambda a: ad.broadcast_to(a, (2,) + a.shape),
    "expand_dims": lambda a: ad.expand_dims(a, 0), "np.reshape": lambda a: np.reshape(
        ad.Tensor(a), (1, -1)),
}


@pytest.mark.parametrize("name", VIEWS_OF_ARRAYS)
def test_view_ops_on_a_users_array_never_write_into_it(backend, size, name):
    # Unlike a Tensor's views, a view op on a plain ndarray gives a Tensor that owns its
    # memory: an in-place update of that Tensor must leave the caller's array alone.
    a = _values(size)
    t = VIEWS_OF_ARRAYS[name](a)
    with ad.no_grad():
        t += 1.0
        t[...] = 5.0
    np.testing.assert_array_equal(a, _values(size))
    assert (t.numpy() == 5.0).all()

# ----- the C backend's aliasing cases (bugs of the old deferred forward pass) ------------

@pytest.mark.parametrize("requires_grad", [False, True], ids=["constant", "requires_grad"])
def test_writing_the_base_of_an_operand_view_leaves_the_result(backend, size, requires_grad):
    x = ad.Tensor(np.ones(size), requires_grad=requires_grad)
    base = np.ones(2 * size)
    y = ad.exp(x) * base[size:]
    if requires_grad:  # mul saved the view: its owner is locked while the graph lives
        with pytest.raises(ValueError, match="read-only"):
            base[:] = 0
    else:
        base[:] = 0
    np.testing.assert_allclose(y.numpy(), np.full(size, math.e), rtol=1e-15, atol=0)
    if requires_grad:
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.full(size, math.e), rtol=1e-15, atol=0)
        assert base.flags.writeable
        base[:] = 0
        np.testing.assert_allclose(y.numpy(), np.full(size, math.e), rtol=1e-15, atol=0)


def test_writing_a_result_after_it_was_used_leaves_later_results(backend, size):
    x = ad.Tensor(np.ones(size))
    y = ad.exp(x)
    z = y * 2.0
    y.numpy()[:] = 0  # allowed: nothing requires grad
    np.testing.assert_allclose(z.numpy(), np.full(size, 2 * math.e), rtol=1e-15, atol=0)
    # With a graph the write is refused, and z is the same.
    x = ad.Tensor(np.ones(size), requires_grad=True)
    y = ad.exp(x)
    z = y * 2.0
    with pytest.raises(ValueError, match="read-only"):
        y.numpy()[:] = 0
    np.testing.assert_allclose(z.numpy(), np.full(size, 2 * math.e), rtol=1e-15, atol=0)


@pytest.mark.parametrize("ones", ["numpy broadcast", "tensor broadcast"])
@pytest.mark.parametrize("requires_grad", [False, True], ids=["constant", "requires_grad"])
def test_mul_by_broadcast_one_does_not_alias_its_input(backend, size, ones, requires_grad):
    x0 = _values(size)
    x = ad.Tensor(x0, requires_grad=requires_grad)
    one = (np.broadcast_to(1.0, (size,)) if ones == "numpy broadcast"
           else ad.broadcast_to(ad.Tensor(1.0), (size,)))
    r = x * one
    assert not _shares(r.data, x.data)
    if requires_grad:
        r.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.ones(size))
    x.data[:] = 0.0
    np.testing.assert_array_equal(r.numpy(), x0)


def test_grad_and_forward_value_never_alias(backend, size):
    v0 = _values(size)
    v = ad.Tensor(v0, requires_grad=True)
    e = ad.exp(v)
    e.sum().backward()
    want = np.exp(v0)
    np.testing.assert_allclose(v.grad.numpy(), want, rtol=1e-15, atol=0)
    assert not _shares(v.grad.data, e.data)
    v.grad.data[:] = 0
    np.testing.assert_allclose(e.numpy(), want, rtol=1e-15, atol=0)
    # ...and the reverse: the graph is freed, e is writable, the gradient stays.
    v.grad = None
    e = ad.exp(v)
    e.sum().backward()
    e.data[:] = 0
    np.testing.assert_allclose(v.grad.numpy(), want, rtol=1e-15, atol=0)


# ----- gradients own their memory --------------------------------------------------------

def _graph(size, root):
    """Leaves a, b, c, d, a user array X and a backward pass whose gradients are tempting
    to share: a and b get the upstream gradient itself, c gets X times it (the C
    backend's fused mul by a broadcast 1 returns X itself), d views of it (the VJPs of
    reshape). ``root``: "sum" (the upstream gradient is a broadcast 1) or "gradient="
    (it is the caller's array G). Returns the leaves, the arrays a gradient must not
    share memory with, and the expected gradients."""
    a = ad.Tensor(_values(size), requires_grad=True)
    b = ad.Tensor(_values(size, -1.0, 1.0), requires_grad=True)
    c = ad.Tensor(_values(size, 2.0, 3.0), requires_grad=True)
    d = ad.Tensor(_values(size, 0.0, 2.0), requires_grad=True)
    X = _values(size, -2.0, 2.0)
    h = a + b
    y = h + c * X + d.reshape(size, 1).reshape(size) + ad.tanh(a)
    arrays = {"X": X, "h": h.numpy(), "y": y.numpy()}  # (locked until the backward pass)
    if root == "sum":
        y.sum().backward()
    else:
        arrays["G"] = G = np.ones(size)
        y.backward(gradient=G)
    leaves = {"a": a, "b": b, "c": c, "d": d}
    arrays.update({k: t.numpy() for k, t in leaves.items()})
    expected = {
        "a": 1.0 + (1 - np.tanh(_values(size)) ** 2),
        "b": np.ones(size),
        "c": X.copy(),
        "d": np.ones(size),
    }
    return leaves, arrays, expected


ROOTS = ["sum", "gradient="]


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("how", ["data", "numpy", "no_grad *=", "zero_"])
def test_writing_one_grad_changes_only_that_grad(backend, size, how, root):
    leaves, arrays, expected = _graph(size, root)
    grads = {k: t.grad for k, t in leaves.items()}
    for k, g in grads.items():
        np.testing.assert_allclose(g.numpy(), expected[k], rtol=1e-14, atol=0)
        assert g.numpy().flags.writeable
        for other in list(arrays.values()) + [o.data for j, o in grads.items() if j != k]:
            assert not _shares(g.data, other)
    before = {name: a.copy() for name, a in arrays.items()}
    for k, g in grads.items():  # clip one gradient in place, then check everything else
        if how == "data":
            g.data *= 0.5
        elif how == "numpy":
            g.numpy()[...] *= 0.5
        elif how == "no_grad *=":
            with ad.no_grad():
                g *= 0.5
        else:
            g.zero_()
        expected[k] = (0.0 if how == "zero_" else 0.5) * expected[k]
        assert leaves[k].grad is g
        for j, other in grads.items():
            np.testing.assert_allclose(other.numpy(), expected[j], rtol=1e-14, atol=0)
        for name, a in arrays.items():
            np.testing.assert_array_equal(a, before[name])


@pytest.mark.parametrize("root", ROOTS)
def test_writing_forward_arrays_after_backward_leaves_the_grads(backend, size, root):
    leaves, arrays, expected = _graph(size, root)
    for a in arrays.values():
        assert a.flags.writeable  # the graph is freed: every array is the user's again
        a[...] = -3.0
    for k, t in leaves.items():
        np.testing.assert_allclose(t.grad.numpy(), expected[k], rtol=1e-14, atol=0)


def test_accumulated_grad_does_not_change_an_earlier_grad_held_by_the_user(backend, size):
    a0 = _values(size)
    a = ad.Tensor(a0, requires_grad=True)
    (a * a).sum().backward()
    first = a.grad
    held = first.numpy().copy()
    (a * 3.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 * a0 + 3.0, rtol=1e-15, atol=0)
    # (PyTorch accumulates into the same storage; here the sum is a new array. Either
    # way the held tensor must hold a correct gradient: the old one or the new one.)
    assert (np.array_equal(first.numpy(), held)
            or np.allclose(first.numpy(), 2 * a0 + 3.0, rtol=1e-15, atol=0))
    if first is not a.grad:
        first.numpy()[...] = 0.0
    np.testing.assert_allclose(a.grad.numpy(), 2 * a0 + 3.0, rtol=1e-15, atol=0)


# ----- nothing is left read-only ---------------------------------------------------------

@pytest.mark.parametrize("how", ["backward", "backward retain_graph, drop", "drop"])
def test_no_user_array_is_left_read_only(backend, size, how):
    user = [_values(size, 2.0, 3.0), _values(size, -1.0, 1.0), np.ones(2 * size)]
    x = ad.Tensor(_values(size), requires_grad=True)
    w = ad.Tensor(_values(size, 1.0, 2.0), requires_grad=True)
    p = x * user[0]
    q = ad.tanh(p) * user[1] + ad.exp(w) * user[2][size:]
    r = (q.reshape(size, 1) * x.reshape(size, 1)).T[0]
    s = (r[1:] * r[1:]).sum() + (w * user[2][:size]).sum()
    got = [t.numpy() for t in (x, w, p, q, r, s)] + [x.data, np.asarray(q), p.detach().numpy()]
    handed = user + got
    assert not any(a.flags.writeable for a in handed[:2] + got)
    if how.startswith("backward"):
        s.backward(retain_graph=how != "backward")
        handed += [x.grad.numpy(), w.grad.numpy()]
    if how != "backward":
        del p, q, r, s
        gc.collect()
    assert [a.flags.writeable for a in handed] == [True] * len(handed)
    for a in handed:
        a[...] = 0.0
    np.testing.assert_array_equal(x.numpy(), np.zeros(size))


# ----- random programs, numpy backend against C backend ----------------------------------

REF = st.integers(0, 15)  # an index into a pool, taken modulo the pool's size when run
STEP = st.one_of(
    st.tuples(st.just("binary"), st.sampled_from(["add", "sub", "mul", "div"]), REF, REF,
              st.booleans()),
    st.tuples(st.just("unary"), st.sampled_from(["exp", "tanh", "sin", "square", "neg"]), REF),
    st.tuples(st.just("reduce"), st.sampled_from(["sum", "mean"]), REF),
    st.tuples(st.just("view"), st.sampled_from(["tail", "stride", "reshape", "flat", "T"]),
              REF),
    st.tuples(st.just("update"), st.sampled_from(["add", "mul", "setitem", "zero"]), REF, REF,
              st.booleans()),
    st.tuples(st.just("write"), REF),
    st.tuples(st.just("write array"), REF),
    st.tuples(st.just("read"), REF),
    st.tuples(st.just("del"), REF),
    st.tuples(st.just("backward"), REF, st.booleans()),
    st.tuples(st.just("grad"), st.sampled_from(["clip", "clip numpy", "none", "sgd"]), REF),
)
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b}
REDUCE = {"sum": lambda t: t.sum(), "mean": lambda t: t.mean()}
UNARY = {"exp": ad.exp, "tanh": ad.tanh, "sin": ad.sin, "square": lambda t: t * t,
         "neg": lambda t: -t}
# ("T" with its axes given: t.T, without them, leaves a view of a locked array read-only
# for good; test_inplace.py has the xfail for that.)
VIEW = {"tail": lambda t: t[1:], "stride": lambda t: t[::2], "reshape": lambda t: t.reshape(2, -1),
        "flat": lambda t: t.reshape(-1), "T": lambda t: t.transpose(tuple(range(t.ndim))[::-1])}
UPDATE = {"add": lambda t, v: t.__iadd__(v), "mul": lambda t, v: t.__imul__(v),
          "setitem": lambda t, v: t.__setitem__(Ellipsis, v), "zero": lambda t, v: t.zero_()}
# The exceptions a step may raise: the same type must come on every backend.
EXPECTED = (ValueError, RuntimeError, TypeError, IndexError)


def _snap(t):
    """A tensor's value, read without locking anything."""
    return np.array(t.tolist())


def run_program(program, n, seed):
    """Run ``program`` on the active backend; returns (trace, arrays): what each step
    gave (values, or the type of the exception it raised), and every array the program
    handed in or got out, for the writability check once everything is dropped."""
    rng = np.random.default_rng(seed)
    leaves = [ad.Tensor(rng.uniform(0.5, 1.5, n), requires_grad=True) for _ in range(2)]
    consts = [ad.Tensor(rng.uniform(0.5, 1.5, n))]
    arrays = [rng.uniform(0.5, 1.5, n) for _ in range(2)]
    # A graph to start from, so that the steps meet locks and saved arrays: it saved
    # leaf 0, array 0 and the constant.
    temps = [leaves[0] * arrays[0], ad.tanh(leaves[1]) * consts[0]]
    handed = list(arrays)
    trace = []

    def tensor(i):
        pool = leaves + consts + temps
        return pool[i % len(pool)]

    def operand(i):
        pool = arrays + [2.0, 0.5] + leaves + consts + temps
        return pool[i % len(pool)]

    def grads():
        return [None if t.grad is None else _snap(t.grad) for t in leaves]

    for step in program:
        kind, args = step[0], step[1:]
        try:
            if kind == "binary":
                name, i, j, swap = args
                a, b = tensor(i), operand(j)
                t = BINARY[name](b, a) if swap else BINARY[name](a, b)
                temps.append(t)
                out = [_snap(t)]
            elif kind in ("unary", "reduce", "view"):
                name, i = args
                t = {"unary": UNARY, "reduce": REDUCE, "view": VIEW}[kind][name](tensor(i))
                temps.append(t)
                out = [_snap(t)]
            elif kind == "update":
                name, i, j, recording = args
                t = tensor(i)
                if recording:
                    UPDATE[name](t, operand(j))
                else:
                    with ad.no_grad():
                        UPDATE[name](t, operand(j))
                out = [_snap(t)]
            elif kind == "write":
                a = tensor(args[0]).numpy()
                handed.append(a)
                a[...] = a * 0.5 + 0.25
                out = [a.copy()]
            elif kind == "write array":
                a = arrays[args[0] % len(arrays)]
                a[...] = a * 0.5 + 0.25
                out = [a.copy()]
            elif kind == "read":
                a = tensor(args[0]).numpy()
                handed.append(a)
                out = [a.copy()]
            elif kind == "del":
                if temps:
                    del temps[args[0] % len(temps)]
                out = []
            elif kind == "backward":
                i, retain = args
                pool = temps[::-1] + leaves  # (the latest results first: most have a graph)
                t = pool[i % len(pool)]
                g = np.ones(t.shape)
                handed.append(g)
                t.backward(gradient=g, retain_graph=retain)
                out = grads()
            else:  # "grad": clip one in place, clear it, or a manual SGD step
                name, i = args
                leaf = leaves[i % len(leaves)]
                if name == "none":
                    leaf.grad = None
                elif leaf.grad is None:
                    pass
                elif name == "clip":
                    with ad.no_grad():
                        leaf.grad *= 0.5
                elif name == "clip numpy":
                    a = leaf.grad.numpy()
                    handed.append(a)
                    a *= 0.5
                else:
                    with ad.no_grad():
                        leaf -= 0.125 * leaf.grad
                out = grads() + [_snap(leaf)]
            trace.append(("ok", out))
        except EXPECTED as e:
            trace.append(("raise", type(e)))
    trace.append(("end", [_snap(t) for t in leaves + consts + temps] + grads()
                  + [a.copy() for a in arrays]))
    handed += [t.grad.numpy() for t in leaves if t.grad is not None]
    return trace, handed


def _assert_same_trace(got, want, program, where):
    assert len(got) == len(want)
    for k, ((status, g), (wstatus, w)) in enumerate(zip(got, want)):
        step = program[k] if k < len(program) else "end"
        assert status == wstatus, f"{where}, step {k} {step}: {g} against {w}"
        if status == "raise":
            assert g is w, f"{where}, step {k} {step}: raised {g.__name__}, numpy {w.__name__}"
            continue
        assert len(g) == len(w)
        for a, b in zip(g, w):
            assert (a is None) == (b is None), f"{where}, step {k} {step}"
            if a is not None:
                # Relative to the array's largest magnitude: an op that cancels (a - b
                # with a close to b) turns a one-ulp difference of exp or of a sum's
                # order into a larger relative one.
                finite = np.abs(b[np.isfinite(b)])
                scale = max(1.0, finite.max()) if finite.size else 1.0
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * scale,
                                           equal_nan=True, err_msg=f"{where}, step {k} {step}")


def _run_dropped(program, n, seed):
    """Run the program, drop everything it made, and check no array it handed in or got
    out is left read-only."""
    trace, handed = run_program(program, n, seed)
    if not all(a.flags.writeable for a in handed):
        gc.collect()  # (slow in a big process: only when something is still locked)
    stuck = [k for k, a in enumerate(handed) if not a.flags.writeable]
    assert not stuck, f"arrays left read-only: {stuck} of {len(handed)}"
    return trace


@pytest.mark.parametrize("n", [6, 70000])
def test_random_programs_agree_between_backends(require_c, n):
    @settings(max_examples=1000 if n < 100 else 50, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(program=st.lists(STEP, min_size=1, max_size=20), seed=st.integers(0, 2**16))
    def check(program, seed):
        with np.errstate(all="ignore"):
            with ad.use_backend("numpy"):
                want = _run_dropped(program, n, seed)
            for where, thresholds in (("c, thresholds 0", c_threshold(0)),
                                      ("c, real thresholds", real_thresholds())):
                with ad.use_backend("c"), thresholds:
                    got = _run_dropped(program, n, seed)
                _assert_same_trace(got, want, program, where)

    check()

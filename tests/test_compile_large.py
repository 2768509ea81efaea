"""ad.compile at sizes where the C backend's backward pass runs fused programs (>= 2**16
elements): a replay equals the eager run bit for bit, gradients of 0-d tensors broadcast
over the arrays included (their sums add in fuse.c's order), on both backends."""

import contextlib
import sys
import warnings

import numpy as np
import pytest
from conftest import real_thresholds

import pyautodiff as ad
from pyautodiff import optim

N = 2**17


def _bits(a):
    a = a._data if isinstance(a, ad.Tensor) else np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


# Elementwise ops of a random DAG: (arity, f), every value kept in a moderate range.
OPS = {
    "add": (2, lambda u, v: u + v),
    "sub": (2, lambda u, v: u - v),
    "mul": (2, lambda u, v: u * v),
    "div": (2, lambda u, v: u / (v * v + 1.0)),
    "maximum": (2, ad.maximum),
    "minimum": (2, ad.minimum),
    "tanh": (1, ad.tanh),
    "gauss": (1, lambda u: ad.exp(-u * u)),
    "sigmoid": (1, ad.sigmoid),
    "relu": (1, ad.relu),
    "square": (1, lambda u: ad.square(ad.tanh(u))),
    "sqrt": (1, lambda u: ad.sqrt(ad.abs(u) + 1.0)),
    "neg": (1, lambda u: -u),
    "sin": (1, ad.sin),  # (its C kernel's result and its gradient's cos: no fixed buffer)
}


def _dag(seed, nodes=10):
    """A random elementwise DAG over leaves (x, w, a, b), a and b 0-d: [(op, operand
    indices)], operands among the leaves and the earlier nodes."""
    rng = np.random.default_rng(seed)
    names = sorted(OPS)
    dag = []
    for k in range(nodes):
        name = names[rng.integers(len(names))]
        arity = OPS[name][0]
        # (the first operand among the latest values, so the DAG stays connected)
        ops = [4 + k - 1 - int(rng.integers(min(k, 3))) if k else int(rng.integers(2))]
        ops += [int(rng.integers(4 + k)) for _ in range(arity - 1)]
        dag.append((name, ops))
    return dag


def _setup(dag, dtype, opt_name, rng_seed):
    """(fn, params, opt): fn(x) runs the DAG from x, backward, an optimizer step."""
    rng = np.random.default_rng(rng_seed)
    w = ad.tensor(rng.uniform(-1.0, 1.0, N).astype(dtype), requires_grad=True)
    a = ad.tensor(np.array(0.7, dtype), requires_grad=True)
    b = ad.tensor(np.array(-0.3, dtype), requires_grad=True)
    params = [w, a, b]
    opt = (optim.SGD(params, lr=0.01, momentum=0.9) if opt_name == "momentum"
           else optim.Adam(params, lr=0.01))

    def fn(x):
        opt.zero_grad()
        vals = [x, w, a, b]
        for name, ops in dag:
            vals.append(OPS[name][1](*[vals[i] for i in ops]))
        # every node in the loss (0-d ones too), and every leaf (each gets a .grad)
        loss = sum(v.sum() if v.ndim else v for v in vals[4:]) * 0.5
        loss = loss + ((x - w) * a).sum() * b
        loss.backward()
        opt.step()
        return loss, vals[-1], x.grad

    return fn, params, opt


def _run(fn, params, opt, xs):
    """Per call: the bits of the results, every parameter, .grad and optimizer state;
    then writes into everything the call handed back (which must change nothing).
    Also the first call's results and gradients, as arrays."""
    seen, first = [], None
    for x0 in xs:
        x = ad.tensor(x0, requires_grad=True)
        loss, y, gx = fn(x)
        state = [_bits(v) for s in opt.state for v in s.values() if isinstance(v, np.ndarray)]
        seen.append(([_bits(loss), _bits(y), _bits(gx)], [_bits(p) for p in params],
                     [_bits(p.grad) for p in params], state))
        handed = (loss, y, gx, *[p.grad for p in params])
        first = first or [t.numpy().copy() for t in handed]
        for t in handed:
            t.numpy()[...] = 7.0
    return seen, first


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("thresholds", ["real", "zero"])
def test_random_dag_replays_eager_bits_at_large_sizes(backend, dtype, seed, thresholds):
    if backend == "numpy" and thresholds == "zero":
        pytest.skip("the thresholds are the C backend's")
    dag = _dag(seed)
    opt_name = ("momentum", "adam")[seed % 2]
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal(N).astype(dtype) for _ in range(4)]
    with real_thresholds() if thresholds == "real" else contextlib.nullcontext():
        fn, params, opt = _setup(dag, dtype, opt_name, seed)
        step = ad.compile(fn)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (a fallback to eager warns)
            got, first = _run(step, params, opt, xs)
        want, _ = _run(*_setup(dag, dtype, opt_name, seed), xs)
    assert got == want
    info = step.cache_info()
    assert (info.records, info.replays, info.eager) == (1, 3, 0)
    prog = next(iter(step._cache.values()))
    launches = [ins for ins in prog.prog if type(ins[1]).__name__ == "Launch"]
    # (the fused backward pass was recorded: the C backend runs it from 2**16 elements,
    # from 2**18 in float32, or from 0 as the backend fixture sets the thresholds)
    fused = backend == "c" and (thresholds == "zero" or dtype == np.float64)
    assert bool(launches) == fused
    if dtype == np.float64:  # the numpy backend's eager run: an independent reference
        with ad.use_backend("numpy"):
            fn, params, opt = _setup(dag, dtype, opt_name, seed)
            ref = [t.numpy() for t in fn(ad.tensor(xs[0], requires_grad=True))]
            ref += [p.grad.numpy() for p in params]
        for u, v in zip(first, ref):
            np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("lowered", [True, False], ids=["lowered", "interpreted"])
def test_elementwise_benchmark_step_replays_with_scalar_gradients(backend, dtype, lowered,
                                                                   monkeypatch):
    # benchmarks/test_elementwise.py's step: the gradients of the 0-d a and b are sums of
    # the fused backward pass (they fell back to eager before it was recorded)
    if not lowered:  # (the replay runs on compile's interpreter)
        monkeypatch.setattr(sys.modules["pyautodiff.compile"], "_lower", lambda prog, flat: None)
    rng = np.random.default_rng(5)
    n = N if dtype == np.float64 else 2 * N  # (float32 is fused from 2**18 elements)

    def leaves():
        return (ad.tensor(rng.standard_normal(n).astype(dtype), requires_grad=True),
                ad.tensor(np.array(0.7, dtype), requires_grad=True),
                ad.tensor(np.array(-0.3, dtype), requires_grad=True))

    def make(x, a, b):
        def step():
            x.grad = a.grad = b.grad = None
            y = ad.sum(ad.tanh(a * x + b) * ad.exp(-x * x))
            y.backward()
            return y

        return step

    with real_thresholds():
        lc, le = leaves(), leaves()
        for t, u in zip(lc, le):
            u.data[...] = t.data
        step, eager = ad.compile(make(*lc)), make(*le)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(4):
                y, ye = step(), eager()
                assert _bits(y) == _bits(ye)
                assert [_bits(t.grad) for t in lc] == [_bits(t.grad) for t in le]
                for t, u in zip(lc, le):  # new values for the next call
                    t.data[...] += 0.125
                    u.data[...] += 0.125
    assert step.cache_info().eager == 0 and step.cache_info().replays == 3
    prog = next(iter(step._cache.values()))
    assert [type(ins[1]).__name__ for ins in prog.prog].count("Launch") == (backend == "c")
    assert bool(prog.fast) == lowered
    if backend == "c" and dtype == np.float64 and lowered:
        from test_compile_fuse import _calls
        assert _calls(step)[0] == 2  # the forward's one fused call, the backward's
    # the closed form of dy/da, dy/db: sums of sech^2(a x + b) e^(-x^2) (x, 1)
    x, a, b = (t.numpy().astype(np.float64) - 0.125 for t in lc)
    s = np.exp(-x * x) / np.cosh(a * x + b) ** 2
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(lc[1].grad.numpy(), (s * x).sum(), rtol=tol,
                               atol=tol * np.abs(s * x).sum())
    np.testing.assert_allclose(lc[2].grad.numpy(), s.sum(), rtol=tol, atol=tol * s.sum())


@pytest.mark.parametrize("thresholds", ["real", "zero"])
def test_scalars_read_from_arrays_follow_their_values(backend, thresholds):
    # Scalars the fused backward pass reads from arrays (the 0-d gradient passed to
    # backward, a captured 0-d factor): recorded while they are 1.0 (where a product
    # with 1.0 could be skipped), then other values; every call as eager, bit for bit.
    rng = np.random.default_rng(9)
    x0 = rng.standard_normal(N)

    def make():
        w = ad.tensor(rng.uniform(0.5, 1.5, N), requires_grad=True)
        c = ad.tensor(1.0)

        def fn(x, s):
            w.grad = None
            v = ad.tanh(x * w) * c
            loss = (v * v).sum()
            loss.backward(gradient=s)
            return loss

        return w, c, fn

    with real_thresholds() if thresholds == "real" else contextlib.nullcontext():
        (w1, c1, fn1), (w2, c2, fn2) = make(), make()
        w2.data[...] = w1.data
        step = ad.compile(fn1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for s, c in ((1.0, 1.0), (1.0, 1.0), (2.5, 1.0), (1.0, -0.75), (0.5, 3.0)):
                c1.data[...] = c2.data[...] = c
                got = step(ad.tensor(x0), ad.tensor(s))
                want = fn2(ad.tensor(x0), ad.tensor(s))
                assert _bits(got) == _bits(want) and _bits(w1.grad) == _bits(w2.grad)
                # d/dw of sum(c^2 tanh(x w)^2), times s: the closed form
                t = np.tanh(x0 * w1.numpy())
                ref = s * 2 * c * c * t * (1 - t * t) * x0
                np.testing.assert_allclose(w1.grad.numpy(), ref, rtol=1e-9, atol=1e-12)
    assert step.cache_info().eager == 0 and step.cache_info().replays == 4


@pytest.mark.parametrize("thresholds", ["real", "zero"])
def test_float32_leaf_under_float64_factor_replays_its_cast_gradient(backend, thresholds):
    # float32 * float64 is float64: the gradient of the float32 leaf is a float64 value
    # of the fused backward pass, cast (engine._fit) before it flows on
    rng = np.random.default_rng(13)
    m = ad.tensor(rng.uniform(0.5, 1.5, N))

    def make():
        w = ad.tensor(rng.standard_normal(N).astype(np.float32), requires_grad=True)

        def fn(x):
            w.grad = None
            y = ad.tanh(x * w * m)
            y.sum().backward()
            return y

        return w, fn

    with real_thresholds() if thresholds == "real" else contextlib.nullcontext():
        (w1, fn1), (w2, fn2) = make(), make()
        w2.data[...] = w1.data
        step = ad.compile(fn1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(4):
                x = ad.tensor(rng.standard_normal(N).astype(np.float32))
                assert _bits(step(x)) == _bits(fn2(x)) and _bits(w1.grad) == _bits(w2.grad)
    # the closed form, in float64 then rounded: (1 - tanh^2) x m
    x64, w64 = x.numpy().astype(np.float64), w1.numpy().astype(np.float64)
    ref = (1 - np.tanh(x64 * w64 * m.numpy()) ** 2) * x64 * m.numpy()
    np.testing.assert_allclose(w1.grad.numpy(), ref, rtol=1e-6, atol=1e-6)
    assert step.cache_info().eager == 0 and step.cache_info().replays == 3

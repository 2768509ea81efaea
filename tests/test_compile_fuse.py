"""ad.compile on the C backend: runs of elementwise calls replayed as one fused C call,
bit for bit equal to eager (values, intermediates returned, gradients)."""

import warnings

import numpy as np
import pytest
from conftest import real_thresholds, require_backend

import pyautodiff as ad


def _bits(a):
    a = a._data if isinstance(a, ad.Tensor) else np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


def _calls(step):
    """(fused C calls, all calls of kernels) the last lowered program of ``step`` makes."""
    from pyautodiff.backends import fused

    prog = [p for p in step._cache.values() if not isinstance(p, str) and p.fast][-1].fast
    # (the generated function names each call's callable once, as a constant c<i>)
    called = [prog.__globals__[n] for n in prog.__code__.co_names
              if n[0] == "c" and n[1:].isdigit() and callable(prog.__globals__[n])
              and not isinstance(prog.__globals__[n], (fused.ffi.CData, type))]
    return sum(any(f is r for r in fused._RUN.values()) for f in called), len(called)


def _check_against_eager(fn, args, calls=4):
    """Replays of ``ad.compile(fn)`` equal eager calls bit for bit; no fallback."""
    step = ad.compile(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (a fallback to eager warns)
        for i in range(calls):
            a = args(i)
            got = step(*a)
            want = fn(*a)
            assert [_bits(g) for g in got] == [_bits(w) for w in want], f"call {i}"
    info = step.cache_info()
    assert info.eager == 0 and info.replays >= 2
    return step


@pytest.mark.parametrize("n", [10, 1000, 2**17])
def test_long_chain_with_outputs_and_reduction(backend, dtype, n, rng):
    w = ad.tensor(rng.uniform(0.5, 1.5, n).astype(dtype), requires_grad=True)
    v = rng.uniform(0.5, 1.5, n).astype(dtype)

    def chain(x):
        w.grad = None
        h = x * w
        kept = []
        for k in range(6):
            h = ad.maximum(h * 0.75 + v, -h) - ad.minimum(w, 1.0)
            h = ad.sqrt(ad.abs(h) + 1.0) / (w * w + 2.0)
            h = ad.tanh(ad.exp(-ad.square(h)) * h) + ad.sigmoid(h) * ad.relu(h - 0.5)
            h = ad.log1p(ad.softplus(h)) - ad.expm1(h * 0.125) + ad.log(h + 2.0)
            kept.append(h)
        loss = (h * h).sum()
        loss.backward()
        return (loss, *kept[1::2], w.grad)

    with real_thresholds():
        step = _check_against_eager(chain, lambda i: (
            ad.tensor(rng.standard_normal(n).astype(dtype)),))
    if backend == "c":
        assert _calls(step)[0] > 0


@pytest.mark.parametrize("n", [10, 2**17])
def test_run_longer_than_the_registers_splits(n, dtype, rng):
    require_backend("c")
    arrays = [rng.uniform(0.5, 1.5, n).astype(dtype) for _ in range(24)]

    def chain(x):
        h = x
        for a in arrays:  # every array stays live until its second use below
            h = h * a
        for a in arrays:
            h = h - a
        return (h,)

    with ad.use_backend("c"), real_thresholds():
        step = _check_against_eager(chain, lambda i: (
            ad.tensor(rng.standard_normal(n).astype(dtype)),))
    assert _calls(step)[0] >= 2


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "expm1", "tanh", "sigmoid",
                                  "softplus"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transcendental_joins_a_run_only_where_c_computed_it(name, dtype, rng):
    """Below its kernel's threshold numpy computes it (other bits than fuse.c's): the run
    stops there; above, C does and the run takes it in. Either way: eager's bits."""
    require_backend("c")
    from pyautodiff.backends import c_backend

    f = getattr(ad, name)
    scale = 8 if name in ("log", "log1p", "expm1") else 1  # (c_backend: CHEAP)
    with ad.use_backend("c"), real_thresholds():
        # (lower thresholds, restored by real_thresholds: both sides stay small)
        c_backend.THRESHOLD = c_backend.THRESHOLD_F32 = 256
        for n in (255, 256, 8 * 256 - 1, 8 * 256):
            x0 = rng.uniform(0.1, 2.0, n).astype(dtype)
            step = _check_against_eager(lambda x: (f(x * 0.5 + 0.25) * 2.0 - x,),
                                        lambda i, x0=x0: (ad.tensor(x0 + i),))
            in_c = n >= scale * 256 and not (name == "tanh" and dtype == np.float32)
            # one fused call through f where C computed it; else f is a call of its own
            assert (_calls(step) == (1, 1)) == in_c


def test_products_by_one_dropped_from_backward_programs_keep_the_bits(rng):
    """compile_fuse._without_ones on random register programs: run by fuse.c before and
    after, every stored array and sum is the same to the bit, and products by a register
    filled with 1.0 are gone where the other operand's register lives on (and stay where
    it is written over before the product's last read)."""
    require_backend("c")
    from pyautodiff.backends import fused
    from pyautodiff.compile_fuse import _without_ones

    LOAD, FILL, STORE, SUM = fused._LOAD, fused._FILL, fused._STORE, fused._SUM
    MUL, ADD = fused._OPCODE["mul"], fused._OPCODE["add"]
    n, dropped, kept = 100, 0, 0
    ins_ = [rng.standard_normal(n) for _ in range(2)]
    for _ in range(60):
        code, live = [(LOAD, 0, 0, 0), (LOAD, 1, 1, 0)], [0, 1]
        for _ in range(12):
            d = int(rng.integers(6))
            if rng.random() < 0.3:
                code.append((FILL, d, int(rng.integers(2)), 0))  # scalar 0 is 1.0
            else:
                a, b = (int(v) for v in rng.choice(live, 2))
                if d in (a, b):
                    continue
                code.append((MUL if rng.random() < 0.7 else ADD, d, a, b))
            live = sorted(set(live) | {d})
        code += [(STORE, 2, live[-1], 0), (STORE, 3, live[0], 0), (SUM, 0, live[-2], 0)]
        new = _without_ones(code, {0})
        fused._check(new, 4, 2)
        muls = [sum(i[0] == MUL for i in c) for c in (code, new)]
        dropped += muls[0] > muls[1]
        kept += any(i[0] == MUL and i in new for i in code)
        results = []
        for c in (code, new):
            outs = [np.full(n, np.nan), np.full(n, np.nan)]
            sums = fused._launch(n, np.dtype(np.float64), c, ins_ + outs, [1.0, 2.5], 1)
            results.append([o.tobytes() for o in outs + sums])
        assert results[0] == results[1], code
    assert dropped > 10 and kept > 10

"""The C kernels against their numpy twins, called directly through the backend tables.

Hypothesis draws shapes (empty, one element, below and above the size
threshold), dtypes, memory layouts (non-contiguous and read-only views) and
values (NaN, inf, -0.0, denormals, huge and tiny). Whatever the C backend does
with an input, C kernel or numpy fallback, the result must be numpy's: float64
within 1e-12 relative, float32 within 1e-5, and special values in the same places.
"""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import REQUIRE_C, c_threshold
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyautodiff as ad
from pyautodiff.backends import kernels, numpy_backend

if not ad.c_available():
    if REQUIRE_C:
        raise ImportError("the C core did not load; set PYAUTODIFF_SKIP_C=1 to skip its tests")
    pytest.skip("the C core is not built and PYAUTODIFF_SKIP_C=1", allow_module_level=True)
from pyautodiff.backends import c_backend

# An exception in a buffer's release callback (run by the garbage collector) is
# only printed by Python; here it fails the test.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")

# The transcendentals are within 2 ulp of the true value on each side, so the
# two backends may differ by a few ulp: these are API.md's parity tolerances.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

UNARY_DOMAIN = {"log": "positive", "sqrt": "positive", "log1p": "above_minus_one"}


def _special(dtype):
    info = np.finfo(dtype)
    return [0.0, -0.0, np.nan, np.inf, -np.inf, info.tiny, info.tiny / 4, -info.tiny / 8,
            info.max, -info.max, info.eps, 1.0, -1.0, 0.5]


def _values(dtype):
    # Mostly ordinary numbers, with the special values mixed in often enough
    # that every kernel sees them.
    normal = st.floats(-50, 50, width=np.dtype(dtype).itemsize * 8)
    return st.one_of(normal, normal, normal, st.sampled_from(_special(dtype)))


@st.composite
def arrays(draw, dtype=None, shape=None):
    dtype = dtype or draw(st.sampled_from([np.float32, np.float64]))
    if shape is None:
        size = draw(st.sampled_from([0, 1, 7, 100, 5000]))
        shape = draw(st.sampled_from([(size,), (1, size), (size, 1)] if size else [(0,), (3, 0)]))
    a = draw(hnp.arrays(dtype, shape, elements=_values(dtype)))
    layout = draw(st.sampled_from(["plain", "plain", "readonly", "strided"]))
    if layout == "readonly":
        a.flags.writeable = False
    elif layout == "strided":
        a = np.repeat(a, 2, axis=-1)[..., ::2]  # same values, a non-contiguous view
    return a


def assert_same(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL[want.dtype],
                               atol=np.finfo(want.dtype).tiny)
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


def _domain(name, a):
    kind = UNARY_DOMAIN.get(name)
    if kind == "positive":
        return np.abs(a)
    if kind == "above_minus_one":
        return np.abs(a) - 0.5
    return a


SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("name", kernels.UNARY)
@SETTINGS
@given(x=arrays())
def test_c_unary_kernel_matches_numpy(name, x):
    x = _domain(name, x)
    before = x.copy()
    with c_threshold(0), np.errstate(all="ignore"):
        got = getattr(c_backend, name)(x)
        want = getattr(numpy_backend, name)(x)
    assert_same(np.asarray(got), np.asarray(want))
    np.testing.assert_array_equal(x, before)  # inputs are never written


C_BINARY = [k for k in kernels.BINARY + kernels.GRAD if k != "pow"]  # pow stays numpy's


@pytest.mark.parametrize("name", C_BINARY)
@SETTINGS
@given(data=st.data())
def test_c_binary_kernel_matches_numpy(name, data):
    x = data.draw(arrays())
    form = data.draw(st.sampled_from(["same", "scalar", "rscalar", "row", "rrow"]))
    if form == "same":
        y = data.draw(arrays(dtype=x.dtype, shape=x.shape))
    elif form in ("scalar", "rscalar"):
        y = data.draw(_values(x.dtype))
        if form == "rscalar":
            x, y = y, x
    else:
        cols = x.shape[-1]
        y = data.draw(arrays(dtype=x.dtype, shape=(cols,)))
        x = x.reshape(-1, cols) if x.size else x.reshape(0, cols)
        if form == "rrow":
            x, y = y, x
    with c_threshold(0), np.errstate(all="ignore"):
        got = getattr(c_backend, name)(x, y)
        want = getattr(numpy_backend, name)(x, y)
    assert_same(np.asarray(got), np.asarray(want))


@SETTINGS
@given(data=st.data())
def test_c_acc_matches_numpy_and_handles_aliasing(data):
    src = data.draw(arrays())
    dst = np.array(data.draw(arrays(dtype=src.dtype, shape=src.shape)))
    with c_threshold(0), np.errstate(all="ignore"):
        want = dst + src
        got = c_backend.acc(dst, src)
        assert_same(got, want)
        # dst aliasing its source: x += x, which the C loop must not see.
        alias = np.array(src)
        want2 = alias + alias
        assert_same(c_backend.acc(alias, alias), want2)


@pytest.mark.parametrize("shape, axis", [((5000, 1), (0,)), ((1, 5000, 1), (0, 1)),
                                         ((5000, 1), (0, 1))])
def test_c_sum_of_one_contiguous_run_is_pairwise_as_numpy(shape, axis):
    # hypothesis's find: (N, 1) summed over rows one after the other drifted 1e-4 in
    # float32; one contiguous run is the pairwise sum, bit for bit numpy's
    x = np.full(shape, 1.2998706e-07, np.float32)
    x.flat[0] = 0.5
    for keepdims in (False, True):
        with c_threshold(0):
            got = c_backend.sum(x, axis, keepdims)
        want = numpy_backend.sum(x, axis, keepdims)
        assert np.shape(got) == np.shape(want) and np.asarray(got).tobytes() == np.asarray(
            want).tobytes()


@SETTINGS
@given(x=arrays(), lead=st.integers(1, 2))
def test_c_sum_matches_numpy(x, lead):
    x = x.reshape((1,) * (lead - 1) + x.shape)
    for axis in [tuple(range(x.ndim)), tuple(range(lead))]:
        for keepdims in (False, True):
            with c_threshold(0), np.errstate(all="ignore"):
                got = np.asarray(c_backend.sum(x, axis, keepdims))
                want = np.asarray(numpy_backend.sum(x, axis, keepdims))
            with np.errstate(over="ignore"):
                scale = np.asarray(numpy_backend.sum(np.abs(x), axis, keepdims))
            if x.size and np.all(np.isfinite(scale)):
                # Blocked pairwise vs numpy's pairwise: equal up to rounding of
                # the partial sums, relative to the sum of magnitudes.
                np.testing.assert_allclose(got, want, rtol=0,
                                           atol=RTOL[x.dtype] * 10 * (scale.max() + 1e-300))
                assert got.shape == want.shape and got.dtype == want.dtype
            else:
                # Once partial sums overflow, the result depends on the order of the
                # additions (numpy: (-M + -M) + inf is NaN; lanes: (inf + -M) + -M is
                # inf): what must come out is decided by the inputs' own NaNs and
                # infinities.
                red = {"axis": axis, "keepdims": keepdims}
                nan, pos, neg = (np.any(c, **red) for c in (np.isnan(x), x == np.inf,
                                                             x == -np.inf))
                assert np.all(np.isnan(got)[nan | (pos & neg)])
                assert np.all(((got == np.inf) | np.isnan(got))[pos & ~neg & ~nan])
                assert np.all(((got == -np.inf) | np.isnan(got))[neg & ~pos & ~nan])
                # and from finite inputs a NaN needs overflows of both signs
                both = np.any(x > 0, **red) & np.any(x < 0, **red)
                assert not np.any(np.isnan(got) & ~nan & ~(pos & neg) & ~both)


def test_c_kernels_exist_for_every_binary_form():
    names = [f"pyad_{k}{form}_{dt}" for k in C_BINARY
             for form in ("", "_scalar", "_rscalar", "_row", "_rrow") for dt in ("f32", "f64")]
    names += [f"pyad_{k}_{dt}" for k in kernels.UNARY for dt in ("f32", "f64")]
    missing = [n for n in names if not hasattr(c_backend.lib, n)]
    assert not missing


def test_c_threads_computing_at_once_are_both_correct():
    # Two Python threads each run large C kernels; cffi releases the GIL, so
    # both make progress at the same time and neither sees the other's data.
    rng = np.random.default_rng(7)
    inputs = [rng.standard_normal(2_000_000) for _ in range(2)]
    want = [np.tanh(x) * np.exp(-x * x) for x in inputs]
    results = [None, None]

    def work(i):
        x = inputs[i]
        for _ in range(5):
            results[i] = c_backend.mul(c_backend.tanh(x), c_backend.exp(c_backend.neg(
                c_backend.mul(x, x))))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, ref in zip(results, want):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-300)


def test_c_pool_buffers_are_reused_and_never_shared():
    # A result's buffer returns to the pool only when every view of it is gone.
    x = np.random.default_rng(3).standard_normal(300_000)
    a = c_backend.exp(x)
    view = a[10:20]
    expected = np.exp(x)[10:20]
    del a
    b = c_backend.neg(x)  # may reuse a's buffer only if nothing still sees it
    np.testing.assert_allclose(view, expected, rtol=1e-12)
    np.testing.assert_allclose(b, -x)
    del view
    assert any(c_backend._pool.values())  # a's buffer is back in the pool
    c = c_backend.sin(x)
    np.testing.assert_allclose(c, np.sin(x), rtol=1e-12, atol=1e-300)
    assert np.all(b == -x)


def test_backend_switch_gives_same_gradients_on_large_arrays():
    # Above the threshold the C kernels run for real: same gradients as numpy's.
    rng = np.random.default_rng(5)
    xv = rng.standard_normal(50_000)

    def grads(name):
        with ad.use_backend(name):
            x = ad.tensor(xv, requires_grad=True)
            a = ad.tensor(0.7, requires_grad=True)
            y = ((a * x + 0.1).tanh() * (-(x * x)).exp()).sum()
            y.backward()
            return x.grad.numpy(), a.grad.item()

    (gx_c, ga_c), (gx_n, ga_n) = grads("c"), grads("numpy")
    # Relative to the gradient's scale: where its terms cancel, a one-ulp
    # difference in tanh or exp is a larger relative difference in the sum.
    np.testing.assert_allclose(gx_c, gx_n, rtol=1e-12, atol=1e-12 * np.abs(gx_n).max())
    assert ga_c == pytest.approx(ga_n, rel=1e-12)


def test_c_mul_by_broadcast_one_is_a_read_only_view_and_grads_stay_private():
    # The gradient of a sum is 1.0 broadcast; in the backward pass multiplying by it
    # returns the other operand as a read-only view, which must never become
    # someone's .grad storage. A forward result owns its memory.
    from pyautodiff.backends import fused

    x = np.random.default_rng(11).standard_normal((3, 5))
    ones = np.broadcast_to(np.float64(1.0), x.shape)
    with c_threshold(0):
        got = fused.mul(ones, x)
        forward = c_backend.mul(ones, x)
    np.testing.assert_array_equal(got, x)
    assert not got.flags.writeable and np.shares_memory(got, x)
    np.testing.assert_array_equal(forward, x)
    assert forward.flags.writeable and not np.shares_memory(forward, x)
    with ad.use_backend("c"), c_threshold(0):
        xt = ad.tensor(x)
        w = ad.tensor(np.ones((3, 5)), requires_grad=True)
        (xt * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), x)
    assert not np.shares_memory(w.grad.numpy(), xt.numpy())
    w.grad.numpy()[0, 0] = 42.0  # the gradient is the user's to change
    assert xt.numpy()[0, 0] == x[0, 0]


@SETTINGS
@given(data=st.data())
def test_c_vdot_matches_numpy(data):
    x = data.draw(arrays())
    y = data.draw(arrays(dtype=x.dtype, shape=x.shape))
    with c_threshold(0), np.errstate(all="ignore"):
        got = np.asarray(c_backend.vdot(x, y))
        want = np.asarray(numpy_backend.vdot(x, y))
        scale = np.asarray(numpy_backend.vdot(np.abs(x), np.abs(y)))
    assert got.dtype == want.dtype and got.shape == want.shape == ()
    if np.isfinite(scale):
        # Both sum the products in blocks, in different orders: equal up to the
        # rounding of partial sums, relative to the sum of magnitudes.
        np.testing.assert_allclose(got, want, rtol=0, atol=RTOL[x.dtype] * 10 * (scale + 1e-300))
    else:
        # Overflowing products: the kernel sums the IEEE products, as np.sum(x * y)
        # does (BLAS's dot, behind np.vdot, may not: it gives inf for 2M - 2M, and with
        # FMA -inf for -inf + 2M). Strided operands are the fallback's: np.vdot's.
        if c_backend._in_place(x) and c_backend._in_place(y):
            with np.errstate(all="ignore"):
                want = np.sum(x * y)
        with np.errstate(all="ignore"):
            products = x.astype(np.float64) * y  # (float32's products do not overflow here)
            both = (np.isinf(np.sum(np.maximum(products, 0)).astype(x.dtype))
                    and np.isinf(np.sum(np.minimum(products, 0)).astype(x.dtype)))
        if not both:
            # NaN only from a NaN product or from inf - inf; when the positive and the
            # negative products both overflow, whether a partial sum meets the other
            # sign's infinity depends on the order of summation, which differs.
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


FUSED_OPS = {  # f(x, c): the op's node comes first, so its gradient for x arrives last,
    # when the gradient from ``x * c`` is already the engine's own buffer.
    "mul": lambda x, c: x * (c + 2.0) + x * c,
    "div": lambda x, c: x / (c.abs() + 3.0) + x * c,
    "exp": lambda x, c: (x * 0.1).exp() + x * c,
    "log": lambda x, c: x.log() + x * c,  # on positive x
    "tanh": lambda x, c: x.tanh() + x * c,
    "sigmoid": lambda x, c: x.sigmoid() + x * c,
    "relu": lambda x, c: x.relu() + x * c,
    "square": lambda x, c: x.square() + x * c,
    "neg": lambda x, c: -x + x * c,
    "sub": lambda x, c: (c - x) + x * c,  # its second input's gradient, -g
}


@pytest.mark.parametrize("backend_name", ["numpy", "c"])
@pytest.mark.parametrize("name", sorted(FUSED_OPS))
def test_fused_accumulation_equals_the_vjp_then_add(name, backend_name, monkeypatch):
    # A leaf used twice: the first gradient is the engine's own buffer, so the
    # second is added into it by acc_op; turning the fused specs off must give
    # the same numbers (the C accumulate kernels round exactly like op-then-add).
    from pyautodiff.ops import REGISTRY

    module = c_backend if backend_name == "c" else numpy_backend
    fused_calls = []
    real = module.acc_op

    def counting(*args):
        done = real(*args)
        fused_calls.append(done)
        return done

    monkeypatch.setattr(module, "acc_op", counting)
    rng = np.random.default_rng(9)
    xv, cv, wv = (rng.standard_normal(3000) for _ in range(3))
    if name == "log":
        xv = np.abs(xv) + 0.5

    def grad():
        # (the eager backward pass: in a fused one, deferred terms are summed in the program)
        with ad.use_backend(backend_name), c_threshold(0, fuse=False):
            x = ad.tensor(xv, requires_grad=True)
            # weighted, so no gradient is the 1.0 broadcast of a plain sum
            (FUSED_OPS[name](x, ad.tensor(cv)) * wv).sum().backward()
            return x.grad.numpy()

    fused = grad()
    assert True in fused_calls  # the fused path really ran
    saved = {k: op.fused for k, op in REGISTRY.items()}
    try:
        for op in REGISTRY.values():
            op.fused = None
        plain = grad()
    finally:
        for k, op in REGISTRY.items():
            op.fused = saved[k]
    np.testing.assert_array_equal(fused, plain)
    # and both are the closed-form derivative's numbers, up to rounding
    with np.errstate(all="ignore"):
        h = 1e-6
        f = FUSED_OPS[name]
        num = wv * (f(ad.tensor(xv + h), ad.tensor(cv)).numpy()
                    - f(ad.tensor(xv - h), ad.tensor(cv)).numpy()) / (2 * h)
    ok = np.abs(xv) > 1e-3  # away from the kinks of abs and relu
    np.testing.assert_allclose(fused[ok], num[ok], rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_kernels_run_when_the_process_may_use_one_cpu():
    # The pool sizes itself from the CPUs the process may use (here one: no helper
    # thread); large kernels and the fused backward pass still compute correctly.
    code = """
import os
os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
import numpy as np, pyautodiff as ad
x0 = np.random.default_rng(0).standard_normal(10**6)
x = ad.tensor(x0, requires_grad=True)
y = ad.sum(ad.tanh(x * 0.7 - 0.3) * ad.exp(-x * x))
y.backward()
u = 0.7 * x0 - 0.3
want = 0.7 * np.exp(-x0 ** 2) / np.cosh(u) ** 2 - 2 * x0 * np.tanh(u) * np.exp(-x0 ** 2)
assert ad.get_backend() == "c"
assert np.allclose(x.grad.numpy(), want, rtol=1e-12, atol=1e-14), "gradient"
assert np.isclose(y.item(), np.sum(np.tanh(u) * np.exp(-x0 ** 2)), rtol=1e-12), "value"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


# ----- operands that must not cross into C as they are ------------------------------------

def _misaligned(a):
    """A copy of ``a`` at an odd address (as ``np.frombuffer`` at offset 1 gives):
    C-contiguous, but loading it from C is undefined behaviour."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = np.frombuffer(raw, a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def _byteswapped(a):
    """A copy of ``a`` in the other byte order: its bytes read as native floats are garbage."""
    out = a.astype(a.dtype.newbyteorder())
    assert not out.dtype.isnative
    return out


def _fused(kernel):
    from pyautodiff.backends import fused

    def call(*args):
        return np.asarray(getattr(fused, kernel)(*args))
    return call


def _fused_acc(dst, src):
    from pyautodiff.backends import fused
    return np.asarray(fused.acc(fused.neg(dst), src))  # a pending dst, an array src


def _acc_op(dst, x, y):
    dst = np.array(dst)
    if not c_backend.acc_op("mul", dst, x, y):  # (declined: the engine adds the term)
        dst = c_backend.acc(dst, c_backend.mul(x, y))
    return dst


def _acc_op_ref(dst, x, y):
    return dst + x * y


ROWS = (16,)
ENTRY_POINTS = {  # name: (C backend call, numpy reference, operand shapes; S: the large one)
    "unary": (c_backend.exp, np.exp, ["S"]),
    "binary": (c_backend.mul, np.multiply, ["S", "S"]),
    "row": (c_backend.add, np.add, ["S", ROWS]),
    "rrow": (c_backend.sub, np.subtract, [ROWS, "S"]),
    "scalar": (c_backend.div, np.divide, ["S", ()]),
    "rscalar": (c_backend.sub, np.subtract, [(), "S"]),
    "acc": (lambda d, s: c_backend.acc(np.array(d), s), np.add, ["S", "S"]),
    "acc_op": (_acc_op, _acc_op_ref, ["S", "S", "S"]),
    "acc_op_scalar": (_acc_op, _acc_op_ref, ["S", "S", ()]),
    "sum": (lambda x: c_backend.sum(x, (0, 1)), np.sum, ["S"]),
    "sum_rows": (lambda x: c_backend.sum(x, (0,)), lambda x: np.sum(x, 0), ["S"]),
    "vdot": (c_backend.vdot, lambda x, y: np.sum(x * y), ["S", "S"]),
    "fused": (_fused("mul"), np.multiply, ["S", "S"]),
    "fused_unary": (_fused("exp"), np.exp, ["S"]),
    "fused_acc": (_fused_acc, lambda d, s: -d + s, ["S", "S"]),
    "fused_vdot": (lambda x, y: _fused("vdot")(x, y).item(), lambda x, y: np.sum(x * y),
                   ["S", "S"]),
}


@pytest.mark.parametrize("odd", [_misaligned, _byteswapped], ids=["misaligned", "byteswapped"])
@pytest.mark.parametrize("rows", [9, 4375], ids=["144", "70000"])
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_c_never_reads_a_misaligned_or_byteswapped_operand(entry, rows, odd, dtype, monkeypatch):
    # Each operand in turn is made odd: the C backend must copy it or leave it to numpy
    # (every buffer that reaches C is checked), and the numbers must be numpy's.
    call, ref, shapes = ENTRY_POINTS[entry]
    crossed = []

    def checked_buf(a):
        crossed.append((a.flags.aligned, a.dtype.isnative, a.flags.c_contiguous))
        return ffi_buf(a)

    ffi_buf = c_backend._buf
    monkeypatch.setattr(c_backend, "_buf", checked_buf)
    rng = np.random.default_rng(rows)
    plain = [rng.uniform(0.5, 2.0, (rows, 16) if s == "S" else s).astype(dtype) for s in shapes]
    # (a threshold above the row's 16 elements, so rrow's row is not a kernel's input,
    # and at most 144 / CHEAP)
    with c_threshold(17), np.errstate(all="ignore"):
        want = np.asarray(ref(*plain))
        call(*plain)
        assert crossed, f"{entry} never reached C: the test checks nothing"
        for k in range(len(plain)):
            args = list(plain)
            args[k] = odd(plain[k])
            crossed.clear()
            got = np.asarray(call(*args))
            assert all(c == (True, True, True) for c in crossed), (entry, k, crossed)
            np.testing.assert_allclose(got.astype(dtype), want, rtol=RTOL[dtype] * 10)
            np.testing.assert_array_equal(args[k], plain[k])  # and the input is untouched


def test_c_triad_refuses_a_misaligned_array():
    b = np.ones(100)
    with pytest.raises(TypeError, match="triad: b must be a C-contiguous, aligned float64"):
        c_backend.triad(np.empty(100), _misaligned(b), b, 2.0)


@pytest.mark.parametrize("n", [3, 70000])
def test_ops_on_misaligned_arrays_give_the_closed_form(backend, n, dtype):
    # A Tensor copies its data, but numpy operands are read as they are.
    rng = np.random.default_rng(n)
    xv, yv = (rng.uniform(0.5, 2.0, n).astype(dtype) for _ in range(2))
    x = ad.tensor(_misaligned(xv), requires_grad=True)
    y = _misaligned(yv)
    loss = (x.exp() * y + x * x + y).sum()
    loss.backward()
    x64, y64 = xv.astype(np.float64), yv.astype(np.float64)
    rtol = RTOL[np.dtype(dtype)] * 10
    np.testing.assert_allclose(loss.item(), np.sum(np.exp(x64) * y64 + x64 * x64 + y64),
                               rtol=rtol)
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x64) * y64 + 2 * x64, rtol=rtol)

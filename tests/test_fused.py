"""The fused backward pass of the C backend (backends/fused.py, csrc/fuse.c).

References: the eager C kernels (each formula computed on its own, every element
rounded as the fused program must round it: compared bit for bit, NaN with NaN
and -0.0 with -0.0) and, for whole backward passes, the same pass with fusion
turned off. Sums are compared within the rounding of their partial sums.
"""

import gc

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from cases import OP_CASES
from conftest import c_threshold, in_threads, require_backend
from gradcheck_helper import analytic_gradients, weights_for
from hypothesis import HealthCheck, given, settings

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("require_c")

if ad.c_available():
    from pyautodiff.backends import c_backend as C
    from pyautodiff.backends import fused

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "tanh_grad", "sigmoid_grad",
          "square_grad", "relu_grad")


def assert_same_bits(got, want):
    """Equal element by element, NaN where NaN, and the sign of zero too."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    np.testing.assert_array_equal(got[~nan], want[~nan])
    np.testing.assert_array_equal(np.signbit(got[~nan]), np.signbit(want[~nan]))


def assert_sum_close(got, terms):
    """A sum of ``terms`` (an array), up to the rounding of partial sums."""
    with np.errstate(all="ignore"):
        want = C.sum(terms, tuple(range(terms.ndim)))
        scale = np.sum(np.abs(terms.astype(np.float64)))
    if np.isfinite(scale):
        tol = RTOL[terms.dtype] * 10 * (scale + 1e-300)
        np.testing.assert_allclose(np.float64(got), np.float64(want), rtol=0, atol=tol)
    else:
        assert np.isnan(got) == np.isnan(want) or not np.isfinite(got)


# ----- programs against the eager kernels, on random expressions --------------------------

def values(dtype):
    """Ordinary values, and signed zeros, infinities, NaN, denormals and huge ones."""
    info = np.finfo(dtype)
    width = 32 if dtype == np.float32 else 64
    special = [dtype(v) for v in (0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0)]
    special += [info.smallest_subnormal, -info.smallest_subnormal, info.max, -info.max]
    return st.one_of(st.floats(-10, 10, width=width), st.sampled_from(special))


@st.composite
def expressions(draw):
    """(sinks as Lazy or arrays, the same computed eagerly, sums) on arrays of one shape."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    # one and two blocks, odd tails, and enough for several threads' parts
    n = draw(st.sampled_from([1, 7, 63, 64, 65, 200, 20000]))
    arrays = [draw(hnp.arrays(dtype, n, elements=values(dtype))) for _ in range(3)]
    pool = [(a, a) for a in arrays]  # (operand for the fused kernels, eager value)
    for _ in range(draw(st.integers(1, 12))):
        name = draw(st.sampled_from(BINARY + ("neg",)))
        x = draw(st.sampled_from(pool))
        if name == "neg":
            pool.append((fused.neg(x[0]), C.neg(x[1])))  # (no floating-point exceptions)
            continue
        kind = draw(st.sampled_from(["array", "scalar", "broadcast one"]))
        if kind == "array":
            y = draw(st.sampled_from(pool))
        elif kind == "scalar":
            s = draw(st.sampled_from([2.0, -0.5, 0.0, -0.0, 1.0]))
            y = (s, s)
        else:  # a sum's gradient: 1.0 broadcast, strides 0
            one = np.broadcast_to(np.ones((), dtype), (n,))
            y = (one, one)
        if draw(st.booleans()):
            x, y = y, x
        if type(x[1]) is float and type(y[1]) is float:
            continue
        if name == "relu_grad" and not isinstance(x[1], np.ndarray):
            continue  # (a scalar g is not a form the kernel computes: see c_backend)
        with np.errstate(all="ignore"):
            pool.append((getattr(fused, name)(x[0], y[0]), getattr(C, name)(x[1], y[1])))
    picked = draw(st.lists(st.sampled_from(pool[3:] or pool), min_size=1, max_size=4))
    sums = [(fused.sum(f, (0,), False), e) for f, e in picked if type(f) is fused.Lazy]
    return picked, sums


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions())
def test_programs_equal_the_eager_kernels(expr):
    with c_threshold(0), np.errstate(all="ignore"):
        picked, sums = expr
        lazies = [f for f, _ in picked if type(f) is fused.Lazy]
        fused._evaluate(lazies + [s for s, _ in sums])
        for f, e in picked:
            assert_same_bits(np.asarray(f), e)
        for s, e in sums:
            assert_sum_close(s.force(), e)


def test_a_program_wider_than_the_registers_is_split():
    rng = np.random.default_rng(1)
    pairs = [(rng.standard_normal(100), rng.standard_normal(100)) for _ in range(3 * fused.REGS)]
    with c_threshold(0):
        lazies = [fused.mul(a, b) for a, b in pairs]
        sums = [fused.vdot(a, b) for a, b in pairs[: 3 * fused.SUMS]]
        fused._evaluate(lazies + sums)
    for (a, b), lz in zip(pairs, lazies):
        assert_same_bits(lz.value, a * b)
    for (a, b), s in zip(pairs, sums):
        assert_sum_close(s.value, a * b)


def test_a_long_chain_is_computed_in_pieces():
    rng = np.random.default_rng(2)
    a = rng.uniform(0.9, 1.1, 1000)
    with c_threshold(0):
        x, want = a, a
        for _ in range(5 * fused.MAX_NODES):
            x, want = fused.mul(x, a), want * a
        assert type(x) is fused.Lazy and x.nodes <= fused.MAX_NODES
        assert_same_bits(np.asarray(x), want)


def _refuse_to_run(monkeypatch):
    """Make any call into pyad_fuse fail the test (a program must be refused before)."""
    def run(*args):
        raise AssertionError("a program outside pyad_fuse's limits reached C")
    for dt in list(fused._RUN):
        monkeypatch.setitem(fused._RUN, dt, run)


def test_a_program_using_more_registers_than_c_has_is_refused(monkeypatch):
    # A compiler that believed in more registers than csrc/fuse.c has: its program
    # must stop in Python with a clear error, not index past C's register file.
    rng = np.random.default_rng(12)
    pairs = [(rng.standard_normal(100), rng.standard_normal(100)) for _ in range(fused.REGS)]
    monkeypatch.setattr(fused, "REGS", 4 * fused.REGS)
    _refuse_to_run(monkeypatch)
    with c_threshold(0):
        lazies = [fused.mul(a, b) for a, b in pairs]
        with pytest.raises(RuntimeError, match="fused: instruction .* outside the limits"):
            fused._evaluate(lazies)


def test_a_program_using_more_sums_than_c_has_is_refused(monkeypatch):
    rng = np.random.default_rng(13)
    pairs = [(rng.standard_normal(100), rng.standard_normal(100)) for _ in range(fused.SUMS)]
    monkeypatch.setattr(fused, "SUMS", 2 * fused.SUMS)
    _refuse_to_run(monkeypatch)
    with c_threshold(0):
        sums = [fused.vdot(a, b) for a, b in pairs + pairs[:1]]
        with pytest.raises(RuntimeError, match="fused: instruction .* outside the limits"):
            fused._evaluate(sums)


@pytest.mark.parametrize("n", [3, 70000])
def test_backward_program_with_more_constants_than_registers(n, monkeypatch):
    # Each scalar factor's gradient is one FILL: a program with more constants than
    # registers (the FILL's constant index once read as a register in C: past the end
    # of its register file, which the sanitizer job caught).
    factors = [1.0 + k / 64 for k in range(2 * fused.REGS + 3)]
    constants = []
    for dt, run in list(fused._RUN.items()):
        monkeypatch.setitem(fused._RUN, dt,
                            lambda *a, run=run: constants.append(len(a[4])) or run(*a))
    xv = np.random.default_rng(14).standard_normal(n)
    with ad.use_backend("c"), c_threshold(0):
        x = ad.tensor(xv, requires_grad=True)
        y = x
        for f in factors:
            y = y * f
        y.sum().backward()
    assert max(constants) > fused.REGS  # one program held them all
    want = 1.0
    for f in reversed(factors):  # the backward pass multiplies from the last factor
        want *= f
    np.testing.assert_allclose(x.grad.numpy(), np.full(n, want), rtol=1e-15)


# ----- whole backward passes -------------------------------------------------------------

GRAD_CASES = [c for c in OP_CASES if c.gradcheck]


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_fused_backward_equals_the_eager_one(case, rng):
    arrays = case.inputs(rng)
    w = weights_for(np.shape(case.ref(*arrays)))
    with ad.use_backend("c"):
        with c_threshold(0, fuse=False):
            _, eager = analytic_gradients(case.fn, arrays, w)
        with c_threshold(0):
            _, fusedg = analytic_gradients(case.fn, arrays, w)
    for e, f in zip(eager, fusedg):
        scale = float(np.max(np.abs(e), initial=0.0)) + 1e-300
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-13 * scale)


@pytest.mark.parametrize("n", [3, 70000])
def test_two_leaves_sharing_one_deferred_gradient_both_get_it(require_c, n):
    # d(w + d) passes the same deferred sum to both leaves; it was computed once and then
    # overwritten by an empty sum slot, so both gradients came out 0.
    x = np.linspace(0.9, 1.3, n)
    with ad.use_backend("c"), c_threshold(min(n, 1 << 16)):
        w, d = ad.tensor(0.7, requires_grad=True), ad.tensor(0.0, requires_grad=True)
        ad.tanh((w + d) * x).sum().backward()
    want = np.sum(x * (1 - np.tanh(0.7 * x) ** 2))  # closed form
    for leaf in (w, d):
        np.testing.assert_allclose(leaf.grad.numpy(), want, rtol=1e-12)


def workload(x, a, b):
    return ad.sum(ad.tanh(a * x + b) * ad.exp(-x * x))


def workload_grads(xv, a0=0.7, b0=-0.3):
    """Closed form of the gradients of ``workload``."""
    u = a0 * xv + b0
    t, e, sech2 = np.tanh(u), np.exp(-xv * xv), 1.0 / np.cosh(u) ** 2
    return sech2 * a0 * e - 2.0 * xv * t * e, np.sum(sech2 * xv * e), np.sum(sech2 * e)


def test_elementwise_workload_backward_is_one_program(monkeypatch):
    # At the default sizes the forward pass runs op by op (eager: every result is
    # computed when its op is called) and the backward pass is one pass over memory
    # (the three gradients, two of them sums).
    runs = []
    for dt, run in list(fused._RUN.items()):
        monkeypatch.setitem(fused._RUN, dt, lambda *a, run=run: runs.append(a[2]) or run(*a))
    xv = np.random.default_rng(3).standard_normal(fused.MIN_SIZE + 100)
    with ad.use_backend("c"):
        x = ad.tensor(xv, requires_grad=True)
        a, b = ad.tensor(0.7, requires_grad=True), ad.tensor(-0.3, requires_grad=True)
        y = workload(x, a, b)
        assert runs == []
        u = 0.7 * xv - 0.3
        np.testing.assert_allclose(y.item(), np.sum(np.tanh(u) * np.exp(-xv * xv)), rtol=1e-12)
        y.backward()
    assert len(runs) == 1
    gx, ga, gb = workload_grads(xv)
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [ga, gb], rtol=1e-11)


def test_fused_backward_leaves_no_reference_cycles():
    # Arrays held in cycles wait for the garbage collector: the buffer pool would
    # run dry and every step would fault in fresh pages.
    xv = np.random.default_rng(4).standard_normal(1000)
    with ad.use_backend("c"), c_threshold(0):
        gc.collect()
        gc.disable()
        try:
            gc.set_debug(gc.DEBUG_SAVEALL)
            x = ad.tensor(xv, requires_grad=True)
            a, b = ad.tensor(0.7, requires_grad=True), ad.tensor(-0.3, requires_grad=True)
            workload(x, a, b).backward()
            gc.collect()
            found = [type(o).__name__ for o in gc.garbage]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
    assert found == []


def in_two_threads(work):
    """Run ``work(0)`` and ``work(1)`` at once on the C backend (a block in each thread:
    ``use_backend`` chooses the backend of its own thread)."""
    def run(i):
        with ad.use_backend("c"):
            work(i)

    in_threads(run, 2)


def test_two_threads_run_fused_backward_passes_at_once():
    require_backend("c")
    n = 200_000
    data = [np.random.default_rng(10 + i).standard_normal(n) for i in range(2)]
    results = [None, None]

    def work(i):
        for _ in range(5):
            x = ad.tensor(data[i], requires_grad=True)
            a, b = ad.tensor(0.7, requires_grad=True), ad.tensor(-0.3, requires_grad=True)
            workload(x, a, b).backward()
        results[i] = (x.grad.numpy(), a.grad.item(), b.grad.item())

    in_two_threads(work)
    for i in range(2):
        gx, ga, gb = workload_grads(data[i])
        np.testing.assert_allclose(results[i][0], gx, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(results[i][1:], [ga, gb], rtol=1e-11)

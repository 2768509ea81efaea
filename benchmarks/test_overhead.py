"""Per-op overhead: a chain of 100 elementwise ops on 10-element float64 tensors.

On arrays this small the arithmetic is nearly free, so the time per op is what the library
itself adds: building graph nodes, dispatching kernels, running VJPs and accumulating. One
timed call is forward through the chain, ``.sum()``, and the backward pass to the leaf ``x``;
``extra_info["us_per_op"]`` is the median time of a call divided by the number of chain ops
(the median, so a few rounds slowed by the garbage collector or the OS do not move it).

All variants are one table row, pytest-benchmark group ``"overhead (10,) chain of 100 ops"``,
each labelled with its column and ``ops=N_OPS`` (the report shows time per op):

- ``c``, ``numpy`` (``test_overhead_pyautodiff``): pyautodiff on its C backend and on its
  pure-Python path;
- ``compiled`` (``test_overhead_compiled``): the same step under ``ad.compile`` (default
  backend), recorded before timing and replayed;
- ``torch``, ``autograd``, ``mygrad`` (``test_overhead_peer``): PyTorch and MyGrad on their
  own tensors, ``.backward()``; HIPS autograd, ``grad`` of the chain on ``autograd.numpy``
  (it traces the function afresh on every call, as the others build their graph afresh);
- ``floor`` (``test_overhead_numpy_floor``): the same forward and backward written by hand on
  numpy arrays: the floor no autodiff library on numpy can go under.

A peer that is not importable is skipped, never failed. Every variant's gradient is checked
once against central finite differences (``finite_difference_grad``) before timing.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_overhead.py --benchmark-only
"""

import numpy as np
import pytest
from benchutil import label, median, peer

import pyautodiff as ad

SIZE = 10
CYCLES = 20
OPS_PER_CYCLE = 5  # h * c, + d, tanh, * SCALE, exp
N_OPS = CYCLES * OPS_PER_CYCLE
SCALE = 0.5
GROUP = f"overhead ({SIZE},) chain of {N_OPS} ops"

# c = 1 / SCALE and d = -c make h = 1 a fixed point of one cycle with derivative 1, so after
# 100 ops the values stay O(1) and the gradient is neither vanishing nor exploding; that keeps
# the finite-difference check meaningful.
X0 = np.linspace(0.5, 1.5, SIZE)
C0 = np.linspace(1.0 / SCALE - 0.05, 1.0 / SCALE + 0.05, SIZE)
D0 = -C0


def chain(m, x, c, d):
    """Forward pass of the chain with the module ``m`` (numpy, pyautodiff, torch, ...), whose
    tanh and exp take that library's arrays; return the output and the number of ops run."""
    h = x
    n_ops = 0
    for _ in range(CYCLES):
        h = h * c
        h = h + d
        h = m.tanh(h)
        h = m.exp(h * SCALE)
        n_ops += OPS_PER_CYCLE
    return h, n_ops


def chain_numpy(x):
    """Forward pass of the chain on plain numpy arrays."""
    return chain(np, x, C0, D0)[0]


def numpy_forward_backward(x):
    """Hand-written forward and backward of ``chain_numpy(x).sum()``: returns d/dx."""
    saved = []
    h = x
    for _ in range(CYCLES):
        a = h * C0
        b = a + D0
        t = np.tanh(b)
        s = t * SCALE
        e = np.exp(s)
        saved.append((t, e))
        h = e
    h.sum()
    g = np.ones_like(h)
    for t, e in reversed(saved):
        g = g * e  # exp
        g = g * SCALE  # * SCALE
        g = g * (1.0 - t * t)  # tanh
        # + d passes g through unchanged
        g = g * C0  # * c
    return g


def finite_difference_grad(x, eps=1e-6):
    """Central differences of ``chain_numpy(x).sum()``, one input component at a time."""
    grad = np.empty_like(x)
    for i in range(x.size):
        xp = x.copy()
        xm = x.copy()
        xp[i] += eps
        xm[i] -= eps
        grad[i] = (chain_numpy(xp).sum() - chain_numpy(xm).sum()) / (2 * eps)
    return grad


def check(grad):
    """The gradient a variant returned, against finite differences (float64 throughout)."""
    grad = np.asarray(grad)
    assert grad.dtype == np.float64 and grad.shape == X0.shape
    np.testing.assert_allclose(grad, finite_difference_grad(X0), rtol=1e-6, atol=1e-9)


def record_us_per_op(benchmark):
    t = median(benchmark)  # None under --benchmark-disable: ran once, no statistics
    if t is not None:
        benchmark.extra_info["us_per_op"] = t * 1e6 / N_OPS


# --- the variants --------------------------------------------------------------------------


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_overhead_pyautodiff(benchmark, backend):
    label(benchmark, backend, ops=N_OPS)
    if backend == "c" and not ad.c_available():
        pytest.skip("pyautodiff's C core is not built")
    assert chain(np, X0, C0, D0)[1] == N_OPS  # the chain and N_OPS describe the same ops
    # The backend is chosen once around the whole test, so a timed call holds no switch.
    with ad.use_backend(backend):
        x = ad.tensor(X0.copy(), requires_grad=True)
        c = ad.tensor(C0)
        d = ad.tensor(D0)

        def step():
            x.grad = None
            out, _ = chain(ad, x, c, d)
            out.sum().backward()
            return x.grad

        check(step().numpy())  # once, before timing: a fast wrong answer cannot win

        grad = benchmark(step)
    assert grad.shape == X0.shape
    record_us_per_op(benchmark)


@pytest.mark.benchmark(group=GROUP)
def test_overhead_compiled(benchmark):
    label(benchmark, "compiled", ops=N_OPS)
    x = ad.tensor(X0.copy(), requires_grad=True)
    c = ad.tensor(C0)
    d = ad.tensor(D0)

    @ad.compile
    def step():
        x.grad = None
        out, _ = chain(ad, x, c, d)
        out.sum().backward()
        return x.grad

    check(step().numpy())  # recorded; then checked against eager, then replayed
    check(step().numpy())
    grad = benchmark(step)
    assert grad.shape == X0.shape and step.cache_info().eager == 0
    record_us_per_op(benchmark)


# make_<peer>() -> step() -> d(sum(chain(x)))/dx as a numpy array


def make_torch():
    torch = peer("torch")
    x = torch.tensor(X0, requires_grad=True)
    c = torch.tensor(C0)
    d = torch.tensor(D0)

    def step():
        x.grad = None
        out, _ = chain(torch, x, c, d)
        out.sum().backward()
        return x.grad.numpy()

    return step


def make_autograd():
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    # The constants stay numpy arrays, as autograd's users write them; no .grad to clear:
    # autograd traces the function afresh on every call.
    grad = autograd.grad(lambda x: anp.sum(chain(anp, x, C0, D0)[0]))
    x = X0.copy()

    def step():
        return grad(x)

    return step


def make_mygrad():
    mygrad = peer("mygrad")
    # MyGrad's default memory guarding (arrays in a live graph made read-only) stays on: the
    # peer is timed as its users get it.
    x = mygrad.tensor(X0)
    c = mygrad.tensor(C0, constant=True)
    d = mygrad.tensor(D0, constant=True)

    def step():
        # MyGrad clears x.grad itself when x enters a new operation.
        out, _ = chain(mygrad, x, c, d)
        out.sum().backward()
        return x.grad

    return step


PEERS = {"torch": make_torch, "autograd": make_autograd, "mygrad": make_mygrad}


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("variant", list(PEERS))
def test_overhead_peer(benchmark, variant):
    label(benchmark, variant, ops=N_OPS)
    step = PEERS[variant]()
    check(step())  # once, before timing

    grad = benchmark(step)
    assert grad.shape == X0.shape
    record_us_per_op(benchmark)


@pytest.mark.benchmark(group=GROUP)
def test_overhead_numpy_floor(benchmark):
    label(benchmark, "floor", ops=N_OPS)
    check(numpy_forward_backward(X0))

    benchmark(numpy_forward_backward, X0)
    record_us_per_op(benchmark)

"""Per-op overhead: a chain of 100 elementwise ops on 10-element float64 tensors.

On arrays this small the arithmetic is nearly free, so the time per op is what the library
itself adds: building graph nodes, dispatching kernels, running VJPs and accumulating. One
timed call is forward through the chain, ``.sum()``, and ``.backward()`` to the leaf ``x``;
``extra_info["us_per_op"]`` is that time divided by the number of chain ops.

``test_overhead_numpy_floor`` runs the same forward and backward written by hand on numpy
arrays: the floor no autodiff library can go under.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_overhead.py --benchmark-only
"""

import numpy as np
import pytest

import pyautodiff as ad

SIZE = 10
CYCLES = 20
OPS_PER_CYCLE = 5  # h * c, + d, tanh, * SCALE, exp
N_OPS = CYCLES * OPS_PER_CYCLE
SCALE = 0.5

# c = 1 / SCALE and d = -c make h = 1 a fixed point of one cycle with derivative 1, so after
# 100 ops the values stay O(1) and the gradient is neither vanishing nor exploding; that keeps
# the finite-difference check meaningful.
X0 = np.linspace(0.5, 1.5, SIZE)
C0 = np.linspace(1.0 / SCALE - 0.05, 1.0 / SCALE + 0.05, SIZE)
D0 = -C0


def chain_numpy(x):
    """Forward pass of the chain on plain numpy arrays."""
    h = x
    for _ in range(CYCLES):
        h = np.exp(np.tanh(h * C0 + D0) * SCALE)
    return h


def chain_ad(x, c, d):
    """Forward pass of the chain on tensors; return the output and the number of ops run."""
    h = x
    n_ops = 0
    for _ in range(CYCLES):
        h = h * c
        h = h + d
        h = h.tanh()
        h = (h * SCALE).exp()
        n_ops += OPS_PER_CYCLE
    return h, n_ops


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


def record_us_per_op(benchmark):
    # With --benchmark-disable the function runs once and no stats are collected.
    if benchmark.stats is not None:
        benchmark.extra_info["us_per_op"] = benchmark.stats.stats.mean * 1e6 / N_OPS


@pytest.mark.benchmark(group="overhead")
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_overhead_pyautodiff(benchmark, backend):
    if backend == "c" and not ad.c_available():
        pytest.skip("C core not built")
    with ad.use_backend(backend):
        x = ad.tensor(X0.copy(), requires_grad=True)
        c = ad.tensor(C0)
        d = ad.tensor(D0)

        def step():
            x.grad = None
            out, _ = chain_ad(x, c, d)
            out.sum().backward()
            return x.grad

        _, n_ops = chain_ad(x, c, d)
        assert n_ops == N_OPS
        grad = step()
        np.testing.assert_allclose(grad.numpy(), finite_difference_grad(X0), rtol=1e-6, atol=1e-9)

        grad = benchmark(step)
    assert grad.shape == X0.shape
    record_us_per_op(benchmark)


@pytest.mark.benchmark(group="overhead")
def test_overhead_numpy_floor(benchmark):
    grad = numpy_forward_backward(X0)
    np.testing.assert_allclose(grad, finite_difference_grad(X0), rtol=1e-6, atol=1e-9)

    benchmark(numpy_forward_backward, X0)
    record_us_per_op(benchmark)

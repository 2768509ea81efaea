"""Threads: results that do not depend on scheduling, and per-thread backend blocks.

The C kernels split large reductions into parts that may run on the pool's helper
threads; the parts (and so every partial sum and the order they are added in) must
depend only on the number of elements, never on how many helpers there are, whether
another Python thread holds the pool, or a fork. The reference is always the same
computation run alone.
"""


import numpy as np
import pytest
from conftest import in_threads, require_backend

import pyautodiff as ad

N = 1_000_000
THREADS, ROUNDS = 4, 6


def graph(xv, wv):
    """Forward and backward of a graph with every kind of reduction the C core has: the
    forward sum, vdot (a scalar's gradient), fused sums (the gradients of a and b) and
    sums over leading axes (the gradient of a broadcast row)."""
    with ad.use_backend("c"):
        x = ad.tensor(xv, requires_grad=True)
        a, b = ad.tensor(0.7, requires_grad=True), ad.tensor(-0.3, requires_grad=True)
        row = ad.tensor(wv, requires_grad=True)
        u = ad.tanh(a * x + b) * ad.exp(-x * x)
        loss = ad.sum(u) + ad.sum(x.reshape(-1, wv.size) * row) + ad.sum(x * x) * 1e-3
        loss.backward()
    return [loss.numpy(), x.grad.numpy(), a.grad.numpy(), b.grad.numpy(), row.grad.numpy()]


def assert_bitwise(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g.view(np.uint64 if g.itemsize == 8 else np.uint32),
                                      w.view(np.uint64 if w.itemsize == 8 else np.uint32))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_threads_computing_the_same_graph_get_the_serial_bits(dtype):
    require_backend("c")
    rng = np.random.default_rng(21)
    xv, wv = rng.standard_normal(N).astype(dtype), rng.standard_normal(1000).astype(dtype)
    want = graph(xv, wv)
    # and the closed form, so the reference itself is right
    x64, w64 = xv.astype(np.float64), wv.astype(np.float64)
    u = 0.7 * x64 - 0.3
    sech2, e = 1 / np.cosh(u) ** 2, np.exp(-x64 * x64)
    gx = (0.7 * sech2 * e - 2 * x64 * np.tanh(u) * e + np.tile(w64, N // wv.size)
          + 2e-3 * x64)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(want[1], gx, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(want[2], np.sum(sech2 * x64 * e), rtol=rtol)
    np.testing.assert_allclose(want[4], x64.reshape(-1, wv.size).sum(0), rtol=rtol, atol=rtol)
    results = [[] for _ in range(THREADS)]

    def work(i):
        for _ in range(ROUNDS):
            results[i].append(graph(xv, wv))

    in_threads(work, THREADS)
    for got in (r for rs in results for r in rs):
        assert_bitwise(got, want)


CHILD = """
import os, sys
import numpy as np
sys.path.insert(0, {tests!r})
if {one_cpu}:
    os.sched_setaffinity(0, {{sorted(os.sched_getaffinity(0))[0]}})  # a pool with no helper
from test_threads import graph
rng = np.random.default_rng(21)
xv, wv = rng.standard_normal({n}), rng.standard_normal(1000)
if {fork}:
    graph(xv, wv)  # the pool starts its helpers here; the child has none
    pid = os.fork()
    if pid:
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
np.savez({out!r}, *graph(xv, wv))
"""


@pytest.mark.parametrize("how", ["one_cpu", "fork"])
def test_a_process_without_helpers_gets_the_same_bits(how, tmp_path):
    # The same graph in a process pinned to one CPU (no helper threads) and in a
    # forked child (whose pool has lost its helpers): the bits of a run with helpers.
    require_backend("c")
    import os
    import subprocess
    import sys

    if how == "one_cpu" and not hasattr(os, "sched_setaffinity"):
        pytest.skip("needs sched_setaffinity")
    rng = np.random.default_rng(21)
    want = graph(rng.standard_normal(N), rng.standard_normal(1000))
    out = tmp_path / "child.npz"
    code = CHILD.format(tests=os.path.dirname(__file__), one_cpu=how == "one_cpu",
                        fork=how == "fork", n=N, out=str(out))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    with np.load(out) as got:
        assert_bitwise([got[f"arr_{k}"] for k in range(len(want))], want)

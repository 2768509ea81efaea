"""Shared subexpressions: ``h = h*h*0.5 + h*0.25`` applied 60 times, then ``sum(h)``, backward.

Every level uses its input ``h`` three times (twice in ``h*h``, once in ``h*0.25``), so the
expression, written out as a tree, has 3^60 paths from the output back to ``x``. The naive
recursion of the seed article (``/work/shared/seeds/003_...``: ``grad(wrt)`` calls itself on
both children of every product and sum, with no cache of repeated subcomputations) walks
every one of those paths: exponential in the depth, it never finishes here. Reverse mode
visits each node of the graph once, sums the gradients arriving at a shared node before
passing them on, and so is linear in the depth: 4 ops per level, 240 in all, and as many
vector-Jacobian products. The row measures how cheaply each library does that bookkeeping on
small (10-element float64) arrays, where the arithmetic is nearly free.

``x = linspace(0.1, 1.4, 10)``: under the repelling fixed point 1.5 of the map, so every ``h``
decreases toward the attracting fixed point 0 and nothing overflows. pyautodiff records
``h*h`` as ``square`` (both operands are the same tensor); the math is the same.

Variants (``VARIANTS``; a peer that is not importable is skipped, never failed):

- ``c``, ``numpy``: pyautodiff on its C backend and on its pure-Python path;
- ``compiled``: the step under ``ad.compile`` (default backend), recorded before timing
  and replayed;
- ``torch``: PyTorch; ``autograd``: HIPS autograd (``value_and_grad``); ``mygrad``: MyGrad;
- ``floor``: the forward written by hand in numpy, storing each ``h_k``, and the backward
  multiplying the chain rule's factors ``dh_{k+1}/dh_k = h_k + 0.25`` in reverse.

Before timing, every variant's value and gradient are checked once against the closed form
``d sum(h_60) / dx = prod_k (h_k + 0.25)`` (elementwise), with the ``h_k`` computed in extended
precision (``np.longdouble``): rtol 1e-10 relative to each element of the gradient (they span
more than four orders of magnitude, and each is a product, whose relative error stays small),
and for the value relative to the sum of its (positive) terms.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_shared.py --benchmark-only
"""

import numpy as np
import pytest
from benchutil import assert_close, label, peer, variants

import pyautodiff as ad

DEPTH = 60
RTOL = 1e-10
X0 = np.linspace(0.1, 1.4, 10)
GROUP = f"shared subexpressions depth {DEPTH}"


def chain(x):
    """The workload, written once for every library: operators only."""
    h = x
    for _ in range(DEPTH):
        h = h * h * 0.5 + h * 0.25
    return h


def reference(x0):
    """sum(h_60) and its gradient prod_k (h_k + 0.25), in longdouble."""
    h = x0.astype(np.longdouble)
    grad = np.ones_like(h)
    for _ in range(DEPTH):
        grad *= h + 0.25
        h = 0.5 * h * h + 0.25 * h
    return np.float64(h.sum()), grad.astype(np.float64)


def check(result, ref):
    y, gx = result
    y_ref, g_ref = ref
    for name, value in (("y", y), ("dy/dx", gx)):
        assert np.asarray(value).dtype == np.float64, f"{name}: dtype {np.asarray(value).dtype}"
    assert_close(y, y_ref, RTOL, name="y")  # the terms are positive: |sum| is their size
    assert_close(gx, g_ref, RTOL, scale=0.0, name="dy/dx")


# --- the variants: make_<name>(x0) -> step() -> (y, dy/dx) -------------------------------------


def make_pyautodiff(backend):
    def make(x0):
        if backend == "c" and not ad.c_available():
            pytest.skip("pyautodiff's C core is not built")
        x = ad.tensor(x0, requires_grad=True)

        def step():
            with ad.use_backend(backend):
                x.grad = None
                y = chain(x).sum()
                y.backward()
            return y.numpy(), x.grad.numpy()

        return step

    return make


def make_compiled(x0):
    """The pyautodiff step under ``ad.compile``, on the default backend."""
    x = ad.tensor(x0, requires_grad=True)

    @ad.compile
    def compiled():
        x.grad = None
        y = chain(x).sum()
        y.backward()
        return y

    def step():
        y = compiled()
        return y.numpy(), x.grad.numpy()

    for _ in range(2):  # record, check: the timed calls replay
        step()
    return step


def make_torch(x0):
    torch = peer("torch")
    x = torch.tensor(x0, requires_grad=True)

    def step():
        x.grad = None
        y = chain(x).sum()
        y.backward()
        return y.detach().numpy(), x.grad.numpy()

    return step


def make_autograd(x0):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    value_and_grad = autograd.value_and_grad(lambda x: anp.sum(chain(x)))

    def step():
        return value_and_grad(x0)

    return step


def make_mygrad(x0):
    mg = peer("mygrad")
    x = mg.tensor(x0)

    def step():
        # Cleared explicitly like the other variants' (MyGrad would also clear it when the
        # tensor enters the next operation).
        x.null_grad()
        y = chain(x).sum()
        y.backward()
        return y.data, x.grad

    return step


def make_floor(x0):
    def step():
        hs = []
        h = x0
        for _ in range(DEPTH):
            hs.append(h)
            h = h * h * 0.5 + h * 0.25
        y = h.sum()
        g = np.ones_like(x0)
        for h in reversed(hs):
            g = g * (h + 0.25)
        return y, g

    return step


VARIANTS = variants(make_pyautodiff, make_compiled, make_torch, make_autograd, make_mygrad,
                    make_floor)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_shared(benchmark, variant):
    label(benchmark, variant)
    step = VARIANTS[variant](X0)
    check(step(), reference(X0))  # once, before timing: a fast wrong answer cannot win

    y, gx = benchmark(step)
    assert gx.shape == X0.shape and np.isfinite(y)

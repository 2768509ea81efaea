"""Elementwise workload: ``y = sum(tanh(a*x + b) * exp(-x*x))``, forward and backward.

Gradients w.r.t. ``x`` (a vector of ``n`` elements) and the scalars ``a`` and ``b`` (0-d
tensors with ``requires_grad``), eager, op by op. One timed call builds the graph afresh from
the same leaves (their ``.grad`` cleared first, inside the call, as a training step's
``zero_grad`` would), runs forward, ``.sum()`` and ``.backward()``.

Sizes (issue 4): ``x`` of 10^5, 10^6 and 10^7 elements, float64 and float32; each (size,
dtype) is one table row, pytest-benchmark group ``"elementwise 1e6 float64"``.

Variants, the row's columns (``VARIANTS``; a peer that is not importable is skipped, never
failed):

- ``c``, ``numpy``: pyautodiff on its C backend and on its pure-Python path;
- ``compiled``: the pyautodiff step under ``ad.compile`` (recorded before timing, replayed);
- ``torch``: PyTorch (default threads), the same formula on ``torch.tensor`` leaves;
- ``autograd``: HIPS autograd, ``value_and_grad`` of the formula on ``autograd.numpy``
  w.r.t. ``x``, ``a`` and ``b`` (it traces afresh on every call, as the others build afresh);
- ``mygrad``: MyGrad, the formula on ``mygrad.tensor`` leaves, ``.backward()``;
- ``floor``: the forward and backward written by hand on numpy arrays, no autodiff: the
  lower bound for the pure-Python path.

Every variant returns numpy values of the input's dtype (the three peers all keep float32).
Before timing, every variant's value and three gradients are checked once against the
closed-form derivatives evaluated in float64 (``reference``): rtol 1e-10 for float64 inputs,
1e-4 for float32, with an absolute floor of rtol times the reference's magnitude (the largest
|element| for ``dy/dx``; the sum of |terms| for the sums ``y``, ``dy/da``, ``dy/db``).

To add a peer: write ``make_<peer>(x0, a0, b0)`` returning a ``step()`` that returns
``(y, dy/dx, dy/da, dy/db)`` as numpy values, and add it to ``VARIANTS`` under its column
name (one of ``benchutil.VARIANTS``); ``formula`` takes the library's module, so the math
stays the same text.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_elementwise.py --benchmark-only
"""

import functools

import numpy as np
import pytest
from benchutil import assert_close, label, peer, run, skip_large_when_disabled, variants

import pyautodiff as ad

A0, B0 = 0.7, -0.3
SEED = 20240601
RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

# (n, dtype): issue 4's elementwise rows, "x of 10^5, 10^6 and 10^7 elements, float64 and
# float32".
SIZES = [(n, dtype) for dtype in (np.float64, np.float32) for n in (10**5, 10**6, 10**7)]


def formula(m, x, a, b):
    """The workload, written once for every library whose module has sum, tanh and exp."""
    return m.sum(m.tanh(a * x + b) * m.exp(-x * x))


@functools.lru_cache(maxsize=1)  # the variants of one size run one after another
def inputs(n, dtype):
    """x0 (n,), a0 and b0 (0-d arrays) of ``dtype``, and the float64 reference."""
    rng = np.random.default_rng(SEED)
    x0 = rng.standard_normal(n).astype(dtype)
    a0 = np.array(A0, dtype=dtype)
    b0 = np.array(B0, dtype=dtype)
    return x0, a0, b0, reference(x0, a0, b0)


def reference(x0, a0, b0):
    """Closed-form value and gradients in float64, with the magnitudes for the tolerances.

    With u = a x + b, t = tanh(u), e = exp(-x^2), y = sum(t e):
    dy/dx = sech^2(u) a e - 2 x t e,  dy/da = sum(sech^2(u) x e),  dy/db = sum(sech^2(u) e).
    """
    x = x0.astype(np.float64)
    a, b = float(a0), float(b0)
    u = a * x + b
    t = np.tanh(u)
    e = np.exp(-(x**2))
    sech2 = 1.0 / np.cosh(u) ** 2
    y_terms, ga_terms, gb_terms = t * e, sech2 * x * e, sech2 * e
    gx = sech2 * a * e - 2.0 * x * t * e
    return {
        "y": (y_terms.sum(), np.abs(y_terms).sum()),
        "dy/dx": (gx, None),
        "dy/da": (ga_terms.sum(), np.abs(ga_terms).sum()),
        "dy/db": (gb_terms.sum(), np.abs(gb_terms).sum()),
    }


def check(result, ref, dtype, x_shape):
    y, gx, ga, gb = result
    rtol = RTOL[np.dtype(dtype)]
    for name, value in zip(("y", "dy/dx", "dy/da", "dy/db"), (y, gx, ga, gb)):
        assert np.asarray(value).dtype == dtype, f"{name}: dtype {np.asarray(value).dtype}"
        desired, scale = ref[name]
        assert_close(value, desired, rtol, scale=scale, name=name)
    assert np.shape(gx) == x_shape and np.shape(ga) == () and np.shape(gb) == ()


# --- the variants: make_<name>(x0, a0, b0) -> step() -> (y, dy/dx, dy/da, dy/db) -------------


def make_pyautodiff(backend):
    def make(x0, a0, b0):
        if backend == "c" and not ad.c_available():
            pytest.skip("pyautodiff's C core is not built")
        x = ad.tensor(x0, requires_grad=True)
        a = ad.tensor(a0, requires_grad=True)
        b = ad.tensor(b0, requires_grad=True)

        def step():
            with ad.use_backend(backend):
                x.grad = a.grad = b.grad = None
                y = formula(ad, x, a, b)
                y.backward()
            return y.numpy(), x.grad.numpy(), a.grad.numpy(), b.grad.numpy()

        return step

    return make


def make_compiled(x0, a0, b0):
    """The pyautodiff step under ``ad.compile``, on the default backend."""
    x = ad.tensor(x0, requires_grad=True)
    a = ad.tensor(a0, requires_grad=True)
    b = ad.tensor(b0, requires_grad=True)

    @ad.compile
    def compiled():
        x.grad = a.grad = b.grad = None
        y = formula(ad, x, a, b)
        y.backward()
        return y

    def step():
        y = compiled()
        return y.numpy(), x.grad.numpy(), a.grad.numpy(), b.grad.numpy()

    for _ in range(2):  # record, check: the timed calls replay
        step()
    return step


def make_torch(x0, a0, b0):
    torch = peer("torch")
    x = torch.tensor(x0, requires_grad=True)
    a = torch.tensor(a0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)

    def step():
        x.grad = a.grad = b.grad = None
        y = formula(torch, x, a, b)
        y.backward()
        return y.detach().numpy(), x.grad.numpy(), a.grad.numpy(), b.grad.numpy()

    return step


def make_autograd(x0, a0, b0):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    x, a, b = x0.copy(), a0.copy(), b0.copy()
    # No leaves and no .grad to clear: autograd traces the function afresh on every call.
    value_and_grad = autograd.value_and_grad(
        lambda x, a, b: formula(anp, x, a, b), argnum=(0, 1, 2)
    )

    def step():
        y, (gx, ga, gb) = value_and_grad(x, a, b)
        return y, gx, ga, gb

    return step


def make_mygrad(x0, a0, b0):
    mygrad = peer("mygrad")
    # MyGrad's default memory guarding (arrays in a live graph made read-only) stays on: the
    # peer is timed as its users get it.
    x = mygrad.tensor(x0)
    a = mygrad.tensor(a0)
    b = mygrad.tensor(b0)

    def step():
        # MyGrad clears a tensor's .grad itself when the tensor enters a new operation.
        y = formula(mygrad, x, a, b)
        y.backward()
        return y.data, x.grad, a.grad, b.grad

    return step


def make_floor(x0, a0, b0):
    x, a, b = x0.copy(), a0.copy(), b0.copy()

    def step():
        # forward
        u = a * x + b
        t = np.tanh(u)
        e = np.exp(-x * x)
        y = np.sum(t * e)
        # backward: d(sum(t e)) = e dt + t de; dt = (1 - t^2) du; de = -2 x e dx
        gu = e * (1 - t * t)
        ga = np.sum(gu * x)
        gb = np.sum(gu)
        gx = gu * a
        gx += t * e * (-2 * x)
        return y, gx, ga, gb

    return step


VARIANTS = variants(make_pyautodiff, make_compiled, make_torch, make_autograd, make_mygrad,
                    make_floor)


def _size(n, dtype):
    return f"1e{len(str(n)) - 1} {np.dtype(dtype).name}"


# One group per (size, dtype): the report's row, and pytest-benchmark's table compares the
# variants side by side.
CASES = [
    pytest.param(
        n,
        dtype,
        variant,
        id=f"{_size(n, dtype).replace(' ', '-')}-{variant}",
        marks=pytest.mark.benchmark(group=f"elementwise {_size(n, dtype)}"),
    )
    for n, dtype in SIZES
    for variant in VARIANTS
]


@pytest.mark.parametrize("n, dtype, variant", CASES)
def test_elementwise(benchmark, n, dtype, variant):
    label(benchmark, variant)
    skip_large_when_disabled(benchmark, n)
    x0, a0, b0, ref = inputs(n, dtype)
    step = VARIANTS[variant](x0, a0, b0)
    check(step(), ref, dtype, x0.shape)  # once, before timing: a fast wrong answer cannot win

    y, gx, _, _ = run(benchmark, step, n)
    assert gx.shape == x0.shape and np.isfinite(y)

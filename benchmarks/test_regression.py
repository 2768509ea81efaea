"""Linear regression: one full-batch gradient-descent step, forward, backward and update.

Data ``X`` (N, D) float64 and ``y = X @ w_true + b_true + noise``, seeded; parameters ``w``
(D,) and ``b`` (a 0-d scalar) with ``requires_grad``. One timed call clears the gradients,
computes ``loss = mean((X @ w + b - y)**2)``, runs backward, and updates both parameters in
place outside the graph (``w.data -= lr * w.grad.data`` for pyautodiff, under
``torch.no_grad()`` for torch, on the arrays for autograd, mygrad and the floor). The step
leaves the parameters one step further down the loss each round; with ``LR`` well under
2 / (largest eigenvalue of the Hessian 2/N X^T X, about 2.4 here) that converges instead of
diverging, so every round does the same work.

Two sizes: (10000, 100), where the two matrix-vector products dominate, and (1000, 10), where
the per-op overhead of the library shows.

Variants (``VARIANTS``; a peer that is not importable is skipped, never failed):

- ``c``, ``numpy``: pyautodiff on its C backend and on its pure-Python path;
- ``torch``: PyTorch (default threads); ``autograd``: HIPS autograd (``value_and_grad`` of a
  function of ``w`` and ``b``); ``mygrad``: MyGrad tensors, ``backward()`` and ``.data``;
- ``floor``: the same step written by hand in numpy, no autodiff:
  ``r = X w + b - y``, ``gw = 2/N X^T r``, ``gb = 2/N sum(r)``.

Before timing, one step of every variant from the same initial parameters is checked against
that closed form evaluated in extended precision (``np.longdouble``): the loss, and the
updated ``w`` and ``b``, to rtol 1e-10 (the loss with the sum of its terms as absolute floor,
``w`` with its largest element, ``b`` with the size of ``lr * sum|r| * 2/N``, the rounding any
correct order of summation of ``gb`` may make).

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_regression.py --benchmark-only
"""

import functools

import numpy as np
import pytest
from benchutil import assert_close, label, peer, variants

import pyautodiff as ad

SEED = 20240603
LR = 0.1
RTOL = 1e-10
SIZES = [(10000, 100), (1000, 10)]


def formula(m, X, w, b, y):
    """The loss, written once for every library whose module has ``mean``."""
    return m.mean((X @ w + b - y) ** 2)


@functools.lru_cache(maxsize=1)  # the variants of one size run one after another
def inputs(n, d):
    """X (n, d), y (n,), the initial w0 (d,) and b0 (0-d), all float64, and the reference."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    b_true = 0.5
    y = X @ w_true + b_true + 0.1 * rng.standard_normal(n)
    # Start away from zero (and from the solution) so every gradient component is non-trivial.
    w0 = 0.1 * rng.standard_normal(d)
    b0 = np.array(-0.2)
    return X, y, w0, b0, reference(X, y, w0, b0)


def reference(X, y, w0, b0):
    """Loss before the step and w, b after it, from the closed-form gradients in longdouble."""
    n = X.shape[0]
    Xl, yl, wl, bl = (np.asarray(a, dtype=np.longdouble) for a in (X, y, w0, b0))
    r = Xl @ wl + bl - yl
    gw = 2 / np.longdouble(n) * (Xl.T @ r)
    gb = 2 / np.longdouble(n) * r.sum()
    w1 = (wl - LR * gw).astype(np.float64)
    b1 = np.float64(bl - LR * gb)
    loss = np.float64(np.mean(r * r))
    return {
        "loss": (loss, loss),  # the terms are all positive: their sum is the mean itself
        "w": (w1, None),
        "b": (b1, float(LR * 2 / n * np.abs(r).sum())),
    }


def check(result, ref, d):
    loss, w, b = result
    for name, value in zip(("loss", "w", "b"), (loss, w, b)):
        assert np.asarray(value).dtype == np.float64, f"{name}: dtype {np.asarray(value).dtype}"
        desired, scale = ref[name]
        assert_close(value, desired, RTOL, scale=scale, name=name)
    assert np.shape(w) == (d,) and np.shape(b) == ()


# --- the variants: make_<name>(X, y, w0, b0) -> step() -> (loss, w, b) -------------------------
# The step returns the loss before the update and the parameters after it, as numpy values
# (views of the library's storage: no copies inside the timed call).


def make_pyautodiff(backend):
    def make(X0, y0, w0, b0):
        if backend == "c" and not ad.c_available():
            pytest.skip("pyautodiff's C core is not built")
        X, y = ad.tensor(X0), ad.tensor(y0)
        w = ad.tensor(w0.copy(), requires_grad=True)
        b = ad.tensor(b0.copy(), requires_grad=True)

        def step():
            with ad.use_backend(backend):
                w.grad = b.grad = None
                loss = formula(ad, X, w, b, y)
                loss.backward()
                w.data -= LR * w.grad.data
                b.data -= LR * b.grad.data
            return loss.numpy(), w.data, b.data

        return step

    return make


def make_torch(X0, y0, w0, b0):
    torch = peer("torch")
    X, y = torch.from_numpy(X0), torch.from_numpy(y0)
    w = torch.tensor(w0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)

    def step():
        w.grad = b.grad = None
        loss = formula(torch, X, w, b, y)
        loss.backward()
        with torch.no_grad():
            w.sub_(LR * w.grad)  # w -= LR * w.grad, without rebinding the closure's w
            b.sub_(LR * b.grad)
        return loss.detach().numpy(), w.detach().numpy(), b.detach().numpy()

    return step


def make_autograd(X, y, w0, b0):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    value_and_grad = autograd.value_and_grad(lambda w, b: formula(anp, X, w, b, y), argnum=(0, 1))
    w, b = w0.copy(), b0.copy()

    def step():
        loss, (gw, gb) = value_and_grad(w, b)
        w[...] -= LR * gw
        b[...] -= LR * gb
        return loss, w, b

    return step


def make_mygrad(X, y, w0, b0):
    mg = peer("mygrad")
    w = mg.tensor(w0.copy())
    b = mg.tensor(b0.copy())

    def step():
        # Cleared explicitly like the other variants' (MyGrad would also clear it when the
        # tensor enters the next operation).
        w.null_grad()
        b.null_grad()
        loss = formula(mg, X, w, b, y)
        loss.backward()
        w.data -= LR * w.grad
        b.data -= LR * b.grad
        return loss.data, w.data, b.data

    return step


def make_floor(X, y, w0, b0):
    w, b = w0.copy(), b0.copy()
    two_over_n = 2.0 / X.shape[0]

    def step():
        r = X @ w
        r += b
        r -= y
        loss = np.mean(r * r)
        gw = (r @ X) * two_over_n  # r @ X is X^T r without materializing X^T
        gb = r.sum() * two_over_n
        w[...] -= LR * gw
        b[...] -= LR * gb
        return loss, w, b

    return step


def make_compiled(X0, y0, w0, b0):
    """The pyautodiff step under ``ad.compile``, on the default backend. The update goes
    through ``optim.SGD`` (the same ``p - lr * g``): a raw ``w.data -= ...`` inside a
    compiled function is outside the recorded kernels and would run eagerly."""
    X, y = ad.tensor(X0), ad.tensor(y0)
    w = ad.tensor(w0.copy(), requires_grad=True)
    b = ad.tensor(b0.copy(), requires_grad=True)
    opt = ad.optim.SGD([w, b], lr=LR)

    @ad.compile
    def compiled():
        opt.zero_grad()
        loss = formula(ad, X, w, b, y)
        loss.backward()
        opt.step()
        return loss

    def step():
        loss = compiled()
        return loss.numpy(), w.data, b.data

    state = (w.data.copy(), b.data.copy())
    for _ in range(3):  # record, check, replay: then start the timed steps from w0, b0
        step()
    np.copyto(w.data, state[0])
    np.copyto(b.data, state[1])
    return step


VARIANTS = variants(make_pyautodiff, make_compiled, make_torch, make_autograd, make_mygrad,
                    make_floor)

# One group per size: the table's row, every variant a column.
CASES = [
    pytest.param(
        n,
        d,
        variant,
        id=f"{n}x{d}-{variant}",
        marks=pytest.mark.benchmark(group=f"linear regression ({n}, {d}) float64"),
    )
    for n, d in SIZES
    for variant in VARIANTS
]


@pytest.mark.parametrize("n, d, variant", CASES)
def test_regression(benchmark, n, d, variant):
    label(benchmark, variant)
    X, y, w0, b0, ref = inputs(n, d)
    step = VARIANTS[variant](X, y, w0, b0)
    check(step(), ref, d)  # once, before timing: a fast wrong answer cannot win

    loss, w, b = benchmark(step)
    assert np.isfinite(loss) and np.all(np.isfinite(w)) and np.isfinite(b)

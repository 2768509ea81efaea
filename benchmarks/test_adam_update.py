"""Optimizer workloads: one Adam step on a float64 parameter of 10^6 elements.

The step is ``opt.step()`` of ``pyautodiff.optim.Adam`` (lr 1e-3, default betas and eps)
with the gradient already in ``.grad``:

- ``c``: on the C backend, one fused pass (``pyad_adam_f64``: both moments and the
  parameter in one loop, split across threads): reads p, g, exp_avg, exp_avg_sq and
  writes p, exp_avg, exp_avg_sq, 7 * 8 * n bytes;
- ``numpy``: the numpy formula that the numpy backend runs, ten ufunc passes with ``out=``
  into the optimizer's state and scratch (no allocation per step);
- ``torch``: ``torch.optim.Adam`` on a float64 tensor (PyTorch's default CPU path, its
  single-tensor formula), where importable.

Group ``"adam step 1e6 float64"``. Before timing, each variant's step from a common start
is checked against the other pyautodiff variant (``c`` against ``numpy`` and back): equal to
the bit, since both compute the same IEEE operations in the same order; torch's against C
to 1e-9 relative (PyTorch fuses some multiply-adds, so it differs by rounding).
``extra_info["GB_per_s"]`` is the 7 * 8 * n nominal bytes over the median.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_adam_update.py --benchmark-only
"""

import numpy as np
import pytest
from benchutil import label, peer, record_bandwidth

import pyautodiff as ad
from pyautodiff import optim

SEED = 20240610
N = 10**6
LR = 1e-3


def _start():
    rng = np.random.default_rng(SEED)
    return rng.standard_normal(N), rng.standard_normal(N)


def _adam(backend, steps=0):
    """A parameter with its gradient and an Adam optimizer on it, after ``steps`` steps
    on ``backend``."""
    x0, g = _start()
    p = ad.Tensor(x0, requires_grad=True)
    p.grad = ad.Tensor(g)
    opt = optim.Adam([p], lr=LR)
    with ad.use_backend(backend):
        for _ in range(steps):
            opt.step()
    return p, opt


def _snapshot(p, opt):
    s = opt.state[0]
    return [p.data.copy(), s["exp_avg"].copy(), s["exp_avg_sq"].copy()]


@pytest.mark.benchmark(group="adam step 1e6 float64")
@pytest.mark.parametrize("variant", ["c", "numpy"])
def test_adam_step(benchmark, variant):
    if variant == "c" and not ad.c_available():
        pytest.skip("pyautodiff's C core is not built")
    if not ad.c_available():
        pytest.skip("no C backend to check the numpy formula against")
    other = "numpy" if variant == "c" else "c"
    # Two steps of each from the same start (the first creates the state): same bits.
    mine, theirs = _snapshot(*_adam(variant, 2)), _snapshot(*_adam(other, 2))
    for name, a, b in zip(("p", "exp_avg", "exp_avg_sq"), mine, theirs):
        np.testing.assert_array_equal(a, b, err_msg=f"{variant} vs {other}: {name}")

    _, opt = _adam(variant, 1)
    with ad.use_backend(variant):
        benchmark(opt.step)
    label(benchmark, variant)
    record_bandwidth(benchmark, 7 * 8 * N)


@pytest.mark.benchmark(group="adam step 1e6 float64")
def test_adam_step_torch(benchmark):
    torch = peer("torch")
    if not ad.c_available():
        pytest.skip("no C backend to check PyTorch against")
    x0, g = _start()
    tp = torch.tensor(x0, requires_grad=True)
    tp.grad = torch.from_numpy(g)
    topt = torch.optim.Adam([tp], lr=LR)
    for _ in range(2):
        topt.step()
    want = _snapshot(*_adam("c", 2))[0]
    np.testing.assert_allclose(tp.detach().numpy(), want, rtol=1e-9, atol=0)

    benchmark(topt.step)
    label(benchmark, "torch")
    record_bandwidth(benchmark, 7 * 8 * N)

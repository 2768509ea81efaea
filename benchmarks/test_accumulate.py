"""Accumulation workloads: the memory-bound kernels of a backward pass, and the bandwidth floor.

- ``acc``: ``dst += src`` in place on float64 (gradient accumulation into ``.grad``), by
  pyautodiff's C kernel (``c_backend.acc``) and by numpy's ``np.add(dst, src, out=dst)``.
  Bytes moved per call: 3 * 8 * n (read dst, read src, write dst).
- ``bias_grad``: the bias-gradient reduction ``(N, D) -> (D,)`` (D = 100), by the C backend's
  ``sum(x, (0,))`` and by numpy's ``x.sum(axis=0)``. Bytes: 8 * n (read x; the output is tiny).
- ``triad``: ``a = b + s*c`` on float64, the memory-bandwidth probe, by the C library's
  multi-threaded ``triad`` and by numpy (``np.add(b, s*c, out=a)``: numpy needs a temporary
  for ``s*c``, so it moves more than the nominal bytes; it is reported, not a floor).
  Nominal bytes: 3 * 8 * n (read b, read c, write a).

Each workload and size is one table row, its pytest-benchmark group (``"accumulate dst += src
1e6 float64"``, ``"bias gradient (N, 100) -> (100,) 1e7 float64"``, ``"triad 1e7 float64"``).
The columns: ``c`` for the C kernels and ``numpy`` for numpy's own versions, which are exactly
what pyautodiff's numpy backend runs. The C triad is labelled the bandwidth probe.

``extra_info["GB_per_s"]`` is the nominal bytes over the median time (when timed). The
fraction of the machine's bandwidth that ``acc`` reaches is acc's GB/s over the C triad's
GB/s at the same n, from one run.

Every variant checks its result once against an independent reference before timing. These
kernels take milliseconds, so pytest-benchmark's own calibration (about a second of rounds)
times them at every size.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_accumulate.py --benchmark-only
"""

import numpy as np
import pytest
from benchutil import assert_close, label, record_bandwidth

import pyautodiff as ad

SEED = 20240602
SIZES = (10**6, 10**7)
D = 100
S = 0.5


def c_backend():
    if not ad.c_available():
        pytest.skip("pyautodiff's C core is not built")
    from pyautodiff.backends import c_backend

    return c_backend


def _exp(n):
    return f"1e{len(str(n)) - 1}"


def _cases(workload, variants, sizes=SIZES):
    """One group per workload and size: the report's row, every variant in it."""
    return [
        pytest.param(
            n,
            v,
            id=f"{_exp(n)}-{v}",
            marks=pytest.mark.benchmark(group=f"{workload} {_exp(n)} float64"),
        )
        for n in sizes
        for v in variants
    ]


def _arrays(n, k):
    rng = np.random.default_rng(SEED)
    return [rng.standard_normal(n) for _ in range(k)]


# --- dst += src ------------------------------------------------------------------------------


def acc_kernel(variant):
    if variant == "c":
        return c_backend().acc
    return lambda dst, src: np.add(dst, src, out=dst)


@pytest.mark.parametrize("n, variant", _cases("accumulate dst += src", ["c", "numpy"]))
def test_acc(benchmark, n, variant):
    label(benchmark, variant)
    kernel = acc_kernel(variant)
    dst0, src = _arrays(n, 2)

    dst = dst0.copy()
    out = kernel(dst, src)
    assert out is dst  # in place
    np.testing.assert_array_equal(dst, dst0 + src)  # one IEEE addition per element: exact

    benchmark(kernel, dst, src)
    record_bandwidth(benchmark, 3 * 8 * n)


# --- bias gradient: (N, D) -> (D,) -------------------------------------------------------------


def bias_kernel(variant):
    if variant == "c":
        c_sum = c_backend().sum
        return lambda x: c_sum(x, (0,))
    return lambda x: x.sum(axis=0)


@pytest.mark.parametrize("n, variant", _cases(f"bias gradient (N, {D}) -> ({D},)", ["c", "numpy"]))
def test_bias_grad(benchmark, n, variant):
    label(benchmark, variant)
    kernel = bias_kernel(variant)
    (flat,) = _arrays(n, 1)
    x = flat.reshape(n // D, D)

    out = kernel(x)
    ref = x.astype(np.longdouble).sum(axis=0).astype(np.float64)  # extended-precision sum
    assert out.shape == (D,) and out.dtype == x.dtype
    assert_close(out, ref, rtol=1e-12, scale=np.abs(x).sum(axis=0), name="sum over rows")

    benchmark(kernel, x)
    record_bandwidth(benchmark, 8 * n)


# --- triad: a = b + s*c (the bandwidth floor) --------------------------------------------------


def triad_kernel(variant):
    if variant == "c":
        return c_backend().triad
    return lambda a, b, c, s: np.add(b, s * c, out=a)


@pytest.mark.parametrize("n, variant", _cases("triad", ["c", "numpy"], sizes=(10**7,)))
def test_triad(benchmark, n, variant):
    label(benchmark, variant, probe=variant == "c")
    kernel = triad_kernel(variant)
    b, c = _arrays(n, 2)
    a = np.zeros(n)

    kernel(a, b, c, S)
    # s*c is exact for s = 0.5, so b + s*c is one rounding whether or not the C compiler
    # contracts it to a fused multiply-add.
    np.testing.assert_array_equal(a, b + S * c)

    benchmark(kernel, a, b, c, S)
    record_bandwidth(benchmark, 3 * 8 * n)

"""logaddexp, logaddexp2 and hypot: the C kernels (csrc/vmath.h) and the ops on both backends.

The reference is the function evaluated in more precision (numpy's longdouble, x87 80-bit,
for float64 inputs; float64 for float32), from x - y as rounded in float64 (see
``reference``), never with the kernels' exp and log1p. Errors are in
ulp of the larger of the terms summed, max(x, y) and log1p(...) (and the result): where
max(x, y) < 0 nearly cancels log1p(...), numpy's formula and ours lose the same absolute
accuracy, and there the kernels give numpy's own bits (checked here).
"""

import numpy as np
import pytest
from conftest import REQUIRE_C, c_threshold, real_thresholds

import pyautodiff as ad

if not ad.c_available():
    if REQUIRE_C:
        raise ImportError("the C core did not load; set PYAUTODIFF_SKIP_C=1 to skip its tests")
    pytest.skip("the C core is not built and PYAUTODIFF_SKIP_C=1", allow_module_level=True)
from pyautodiff.backends import c_backend

NAMES = ("logaddexp", "logaddexp2", "hypot")
F64, F32 = np.dtype(np.float64), np.dtype(np.float32)
# Bounds, in ulp of the terms. float64 logaddexp(2): exp (1.06), log1p (0.83) and the
# rounding of x - y move log1p(...) by up to ~3 ulp, the final sum adds 1/2 (measured 3.2).
# float32 is evaluated in double and rounded once (1/2 ulp, plus double's error, below
# 2^-20 ulp), except where it cancels, where it is numpy's float32 formula (measured 3.3).
# hypot float64: the sum of squares and the square root, 1 + 1/2 ulp at most (measured 1.13).
MAX_ULP = {("logaddexp", F64): 4.0, ("logaddexp2", F64): 4.0, ("hypot", F64): 1.5,
           ("logaddexp", F32): 4.0, ("logaddexp2", F32): 4.0, ("hypot", F32): 0.5 + 2**-20}


def reference(name, x, y):
    wide = np.longdouble if x.dtype == F64 else np.float64
    a, b = x.astype(wide), y.astype(wide)
    with np.errstate(all="ignore"):
        if name == "hypot":
            return np.hypot(a, b), np.abs(np.hypot(a, b))
        m = np.maximum(a, b)
        # float64 kernels round x - y as numpy's formula does: e^-|x - y| then carries
        # up to |x - y|/2 ulp, which only shows where max(x, y) is as small as that
        # term, and is numpy's error as well. The float32 kernels subtract in double.
        d = (x - y).astype(wide) if x.dtype == F64 else a - b
        e = np.exp(-np.abs(d)) if name == "logaddexp" else np.exp2(-np.abs(d))
        term = np.log1p(e) / (1 if name == "logaddexp" else np.log(wide(2)))
        ref = m + term
        return ref, np.maximum(np.maximum(np.abs(ref), np.abs(m)), np.abs(term))


def ulps(got, ref, scale, dtype):
    """|got - ref| in ulp (of dtype) of ``scale``; subnormal ulp below the normal range."""
    info = np.finfo(dtype)
    _, e = np.frexp(scale)
    e = np.maximum(e.astype(np.int64) - info.nmant - 1, int(np.log2(info.smallest_subnormal)))
    with np.errstate(invalid="ignore"):
        return np.abs(got.astype(ref.dtype) - ref) / np.ldexp(np.ones_like(ref), e)


def sweep(name, dtype, rng, n=100000):
    """Pairs over the whole finite range: near each other (where log1p(...) matters and
    the sums cancel), independent and log-spaced in magnitude, and far apart."""
    f = np.finfo(dtype)
    lo, hi = np.log2(float(f.smallest_subnormal)), np.log2(float(f.max))
    mag = np.exp2(rng.uniform(lo, hi - 1, n)) * rng.choice([-1.0, 1.0], n)
    xs = [rng.uniform(-1, 1, n), rng.uniform(-40, 40, n), rng.uniform(-2000, 2000, n), mag]
    with np.errstate(over="ignore"):  # (beyond the range: dropped below)
        ys = [xs[0] + rng.uniform(-3, 3, n), rng.uniform(-40, 40, n),
              xs[2] + rng.normal(0, 30, n), mag * np.exp2(rng.uniform(-70, 70, n))]
        x, y = (np.concatenate(v).astype(dtype) for v in (xs, ys))
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_kernel_within_ulp_bound_of_precise_reference(name, dtype, rng):
    x, y = sweep(name, dtype, rng)
    with c_threshold(0), np.errstate(all="ignore"):
        got = getattr(c_backend, name)(x, y)
        want = getattr(np, name)(x, y)
    ref, scale = reference(name, x, y)
    with np.errstate(over="ignore"):
        finite = np.isfinite(ref.astype(dtype))
    np.testing.assert_array_equal(got[~finite], want[~finite])  # overflow as numpy's
    err = ulps(got[finite], ref[finite], scale[finite], dtype)
    assert err.max() <= MAX_ULP[name, dtype], (name, dtype, err.max(), x[finite][err.argmax()],
                                               y[finite][err.argmax()])
    if name != "hypot":
        # where the sum cancels (well inside the band the kernels redo), numpy's bits
        m = np.maximum(x, y)
        cancels = np.abs(want) < -0.2 * m
        assert cancels.sum() > 100
        np.testing.assert_array_equal(got[cancels], want[cancels])


def special(dtype):
    f = np.finfo(dtype)
    return np.array([0.0, -0.0, 1.0, -1.0, 0.5, np.inf, -np.inf, np.nan, f.max, -f.max,
                     f.smallest_normal, f.smallest_subnormal, -f.smallest_subnormal * 3,
                     f.eps, 1e30, -1e30, 700.0, -750.0], dtype=dtype)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_special_values_as_numpy(name, dtype, backend):
    s = special(dtype)
    x, y = (a.ravel() for a in np.meshgrid(s, s))
    with np.errstate(all="ignore"):
        got = getattr(ad, name)(x, y).numpy()
        want = getattr(np, name)(x, y)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    exact = ~np.isfinite(want) | (want == 0)  # infinities, and zeros with their sign
    np.testing.assert_array_equal(got[exact], want[exact])
    np.testing.assert_array_equal(np.signbit(got[exact]), np.signbit(want[exact]))
    ref, scale = reference(name, x, y)
    rest = ~exact & ~np.isnan(want)
    assert ulps(got[rest], ref[rest], scale[rest], dtype).max() <= MAX_ULP[name, dtype]


def test_numpy_special_cases_named():
    inf, nan = np.inf, np.nan
    with c_threshold(0), np.errstate(all="ignore"):
        for dt in (np.float32, np.float64):
            a = np.array([inf, -inf, nan, inf, 1.0], dt)
            b = np.array([inf, -inf, 1.0, -inf, nan], dt)
            np.testing.assert_array_equal(c_backend.logaddexp(a, b), [inf, -inf, nan, inf, nan])
            np.testing.assert_array_equal(c_backend.logaddexp2(a, b), [inf, -inf, nan, inf, nan])
            np.testing.assert_array_equal(c_backend.hypot(np.array([inf, nan, -inf, nan], dt),
                                                          np.array([nan, -inf, 1.0, 1.0], dt)),
                                          [inf, inf, inf, nan])
            # overflow to inf, and a subnormal with 0 exactly
            a = np.array([np.finfo(dt).max, np.finfo(dt).smallest_subnormal * 5], dt)
            np.testing.assert_array_equal(c_backend.hypot(a, np.array([a[0], 0.0], dt)),
                                          [inf, a[1]])


# Operand forms the C backend sends to its kernels (same shape, scalar either side, a row
# broadcast either side) or to numpy (outer broadcasts, strided, mixed dtypes, misaligned).
def _forms(rng, n, dtype):
    a = rng.normal(0, 5, n).astype(dtype)
    b = rng.normal(0, 5, n).astype(dtype)
    cols = min(16, n)
    rows = (a[: n - n % cols].reshape(-1, cols), b[:cols])
    raw = np.empty(n * a.itemsize + 1, np.uint8)[1:].view(dtype)  # misaligned by one byte
    raw[...] = b
    return {
        "same": (a, b),
        "python scalar": (a, 0.75),
        "rscalar": (-1.5, b),
        "0-d": (a, np.array(2.0, dtype)),
        "row": rows,
        "rrow": rows[::-1],
        "outer": (a[:, None][:40], b[None, :40]),
        "strided": (np.repeat(a, 2)[::2], b),
        "mixed dtypes": (a, b.astype(np.float64 if dtype == F32 else np.float32)),
        "misaligned": (a, raw),
    }


FORMS = list(_forms(np.random.default_rng(0), 3, F64))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_op_matches_numpy_in_every_operand_form(name, dtype, form, backend, size, rng):
    x, y = _forms(rng, size, dtype)[form]
    want = getattr(np, name)(x, y)
    before = [np.array(v, copy=True) for v in (x, y)]
    got = getattr(ad, name)(x, y).numpy()
    assert got.shape == want.shape and got.dtype == want.dtype
    dt = want.dtype
    xb, yb = (np.broadcast_to(np.asarray(v, dtype=dt), want.shape) for v in (x, y))
    ref, scale = reference(name, xb.ravel(), yb.ravel())
    # within the kernel's bound plus numpy's own error (its float32 logaddexp is up to ~4
    # ulp of the terms off the reference)
    err = ulps(got.ravel(), ref, scale, dt)
    np_err = ulps(want.ravel(), ref, scale, dt)
    assert np.all(err <= np.maximum(MAX_ULP[name, dt], np_err)), (form, err.max())
    for v, b in zip((x, y), before):
        np.testing.assert_array_equal(v, b)  # inputs untouched


@pytest.mark.parametrize("name", NAMES)
def test_row_and_scalar_kernels_agree_with_same_shape_kernel(name, rng):
    # The broadcast forms run the same loop as the same-shape kernel: bit for bit (and
    # numpy's results differ from it in some bits: see the last line).
    x = rng.normal(0, 5, (2048, 32))
    y = rng.normal(0, 5, 32)
    f = getattr(c_backend, name)
    with real_thresholds():  # (a small operand on the left takes the rrow form only so)
        full = f(x, np.broadcast_to(y, x.shape).copy())
        np.testing.assert_array_equal(f(x, y), full)
        np.testing.assert_array_equal(f(y, x), f(np.broadcast_to(y, x.shape).copy(), x))
        np.testing.assert_array_equal(f(x, 0.5), f(x, np.full(x.shape, 0.5)))
        np.testing.assert_array_equal(f(0.5, x), f(np.full(x.shape, 0.5), x))
    if name != "hypot":  # (hypot's results are numpy's to the bit more often than not)
        assert np.any(full != getattr(np, name)(x, y))


@pytest.mark.parametrize("name", NAMES)
def test_gradient_above_threshold_matches_closed_form(name, backend, rng):
    # 70000 elements with the real thresholds: C forward, fused backward on the C backend.
    a, b = rng.normal(0, 3, 70000), rng.normal(0, 3, 70000)
    x, y = ad.tensor(a, requires_grad=True), ad.tensor(b, requires_grad=True)
    w = rng.uniform(0.5, 1.5, 70000)
    with real_thresholds():
        (getattr(ad, name)(x, y) * w).sum().backward()
    if name == "hypot":
        h = np.hypot(a, b)
        dx, dy = a / h, b / h
    else:
        base = np.e if name == "logaddexp" else 2.0
        dx, dy = 1 / (1 + base ** (b - a)), 1 / (1 + base ** (a - b))
    np.testing.assert_allclose(x.grad.numpy(), w * dx, rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), w * dy, rtol=1e-12)

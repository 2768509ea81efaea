"""Maximum error in ulp of the C core's polynomial transcendentals (csrc/vmath.h).

Each kernel ``pyad_<f>_<dt>`` of the cffi module is swept densely over its
finite domain (log-spaced in magnitude, both signs, the edges) and compared
with a more precise reference: numpy's longdouble functions (x86 80-bit, about
2^-64) for float64, numpy's float64 functions for float32. The error of a
result is |got - ref| / ulp(ref) in the kernel's dtype (subnormal ulp below
the normal range) and must not exceed 2. Special values (NaN, +-inf, +-0,
overflow, underflow) must come out as numpy gives them.

sin/cos are checked on |x| <= PYAD_VM_SINCOS_MAX_F64 = 2^23 (float64) and
PYAD_VM_SINCOS_MAX_F32 = 2^20 (float32), the range vmath.h guarantees; the C
backend sends larger inputs to numpy.
"""

import numpy as np
import pytest
from conftest import REQUIRE_C

try:
    from pyautodiff import _pyad_c
except ImportError as exc:  # pragma: no cover - depends on the build
    if REQUIRE_C:  # as everywhere in the suite: see conftest.py, PYAUTODIFF_SKIP_C
        raise AssertionError(f"the C core did not load ({exc}); set PYAUTODIFF_SKIP_C=1 "
                             "to skip the C tests on such a machine") from exc
    pytest.skip(f"the C core is not built ({exc})", allow_module_level=True)

ffi, lib = _pyad_c.ffi, _pyad_c.lib

MAX_ULP = 2.0
SINCOS_MAX = {np.float64: 2.0**23, np.float32: 2.0**20}
FUNCS = ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "sin", "cos")
DTYPES = (np.float64, np.float32)
RNG_SEED = 20240601


def c_call(name, x):
    """Run lib.pyad_<name>_<dt> on the contiguous array x; returns a fresh array."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    if x.dtype == np.float64:
        fn, ctype = getattr(lib, f"pyad_{name}_f64"), "double *"
    elif x.dtype == np.float32:
        fn, ctype = getattr(lib, f"pyad_{name}_f32"), "float *"
    else:
        raise TypeError(x.dtype)
    if x.size:
        fn(x.size, ffi.cast(ctype, out.ctypes.data), ffi.cast(ctype, x.ctypes.data))
    return out


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


REF = {
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "sin": np.sin,
    "cos": np.cos,
}


def reference(name, x):
    """Reference in more precision: longdouble for float64 inputs, float64 for float32."""
    wide = np.longdouble if x.dtype == np.float64 else np.float64
    with np.errstate(all="ignore"):
        return REF[name](x.astype(wide))


def ulp_errors(got, ref, dtype):
    """|got - ref| in ulps of dtype at ref; non-finite results must match exactly (inf for a mismatch)."""
    info = np.finfo(dtype)
    with np.errstate(all="ignore"):
        ref_r = ref.astype(dtype)  # the correctly rounded result (ref is far more precise)
        finite = np.isfinite(ref_r) & np.isfinite(got)
        _, e = np.frexp(ref)
        e = np.maximum(e.astype(np.int64) - info.nmant - 1, int(np.log2(info.smallest_subnormal)))
        ulp = np.ldexp(np.ones_like(ref), e)
        err = np.abs(got.astype(ref.dtype) - ref) / ulp
    same_nonfinite = (np.isnan(got) & np.isnan(ref_r)) | (got == ref_r)
    err = np.where(finite, err, np.where(same_nonfinite, 0.0, np.inf))
    return err.astype(np.float64)


def bit_sweep(lo, hi, n, dtype, rng):
    """n values between lo and hi (same sign, |lo| < |hi| or reversed), uniform in the bit
    pattern, i.e. log-spaced in magnitude, with random jitter."""
    itype = np.int64 if dtype == np.float64 else np.int32
    a, b = sorted((abs(lo), abs(hi)))
    ia, ib = np.array([a, b], dtype=dtype).view(itype).astype(np.int64)
    bits = rng.integers(ia, ib, size=n, endpoint=True)
    vals = bits.astype(itype).view(dtype)
    return -vals if (lo < 0 or hi < 0) else vals


def edges(name, dtype):
    """Hand-picked hard inputs: thresholds, neighbours of special points, tiny and subnormal."""
    f = np.finfo(dtype)
    tiny = [
        f.smallest_subnormal,
        f.smallest_subnormal * 3,
        f.smallest_normal,
        f.smallest_normal * 0.75,
        f.eps,
        f.eps / 4,
    ]
    vals = [0.0, 1.0, 2.0, 0.5, 0.1, 10.0] + tiny
    if dtype == np.float64:
        vals += [
            709.782712893384,
            709.7827128933841,
            709.78,
            710.0,
            -708.3964185322641,
            -708.4,
            -709.0,
            -744.4400719213812,
            -745.1332191019411,
            -745.1332191019412,
            -745.2,
            -746.0,
            -40.0,
            -37.5,
            36.7,
            20.0,
            19.06,
            22.0,
            1e300,
            1e-300,
        ]
    else:
        vals += [
            88.72283,
            88.72284,
            88.7,
            89.0,
            -87.33654,
            -87.4,
            -103.27893,
            -103.97208,
            -103.97209,
            -104.0,
            -18.0,
            -17.3,
            9.01,
            9.1,
            10.0,
            1e38,
            1e-38,
        ]
    k = np.arange(-1100 if dtype == np.float64 else -150, 1100 if dtype == np.float64 else 130)
    vals += list((k * np.log(2)).astype(dtype))  # integers times ln2 (exp reduction boundaries)
    vals += list(((k + 0.5) * np.log(2)).astype(dtype))
    if name in ("log", "log1p"):
        one = dtype(1)
        near = [
            np.nextafter(one, dtype(2)),
            np.nextafter(one, dtype(0)),
            dtype(np.sqrt(2)),
            dtype(np.sqrt(0.5)),
        ]
        vals += near + [f.max, f.max / 2]
        if name == "log1p":
            vals += [
                dtype(-1) + f.eps / 2,
                np.nextafter(dtype(-1), dtype(0)),
                -0.5,
                -0.29289,
                0.41421,
            ]
    if name in ("sin", "cos"):
        m = SINCOS_MAX[dtype]
        q = np.unique(np.concatenate([np.arange(1, 2000), np.geomspace(1, m / 1.6, 2000).round()]))
        c = (q * np.pi / 2).astype(dtype)
        c = c[np.abs(c) <= m]
        vals += list(c) + list(np.nextafter(c, dtype(np.inf))) + list(np.nextafter(c, dtype(0)))
        vals += [m, np.nextafter(dtype(m), dtype(0))]
    arr = np.array(vals, dtype=np.float64).astype(dtype)
    arr = np.concatenate([arr, -arr])
    if name in ("sin", "cos"):
        arr = arr[np.abs(arr) <= SINCOS_MAX[dtype]]
    return arr


def domain(name, dtype, n, rng):
    """Dense sweep of the finite domain where results are neither trivially
    saturated nor special (those are covered too, with fewer points)."""
    f = np.finfo(dtype)
    sub = float(f.smallest_subnormal)
    big = float(f.max)
    if name in ("sin", "cos"):
        m = SINCOS_MAX[dtype]
        parts = [(sub, 1e-3, 1), (1e-3, 4.0, 3), (4.0, m, 3)]
        parts += [(-a, -b, w) for a, b, w in parts]
    elif name == "log":
        parts = [
            (sub, f.smallest_normal, 1),
            (f.smallest_normal, 0.5, 2),
            (0.5, 2.0, 3),
            (2.0, big, 2),
        ]
    elif name == "log1p":
        parts = [
            (-1.0 + float(f.eps) / 2, -0.25, 2),
            (-0.25, -sub, 2),
            (sub, 0.5, 2),
            (0.5, big, 2),
        ]
    else:
        lim = {
            "exp": (-746.0, 710.0),
            "expm1": (-45.0, 710.0),
            "tanh": (-25.0, 25.0),
            "sigmoid": (-746.0, 40.0),
        }[name]
        if dtype == np.float32:
            lim = {
                "exp": (-104.5, 89.0),
                "expm1": (-20.0, 89.0),
                "tanh": (-12.0, 12.0),
                "sigmoid": (-104.5, 20.0),
            }[name]
        parts = [(sub, lim[1], 3), (-sub, lim[0], 3), (0.1, 1.5, 1), (-0.1, -1.5, 1)]
    total = sum(w for *_, w in parts)
    xs = [bit_sweep(a, b, n * w // total, dtype, rng) for a, b, w in parts]
    return np.concatenate(xs + [edges(name, dtype)])


# points per sweep; longdouble references are slow for sin/cos on large arguments
N_POINTS = {np.float64: 600_000, np.float32: 2_000_000}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_max_ulp(name, dtype):
    rng = np.random.default_rng(RNG_SEED)
    n = N_POINTS[dtype] // (2 if name in ("sin", "cos") and dtype == np.float64 else 1)
    x = domain(name, dtype, n, rng)
    got = c_call(name, x)
    err = ulp_errors(got, reference(name, x), dtype)
    i = int(np.argmax(err))
    assert err[i] <= MAX_ULP, (
        f"{name} {np.dtype(dtype).name}: {err[i]:.3f} ulp at x={x[i]!r}: got {got[i]!r}, "
        f"reference {reference(name, x[i : i + 1])[0]!r}; {(err > MAX_ULP).sum()} of {x.size} above {MAX_ULP}"
    )


def special_inputs(dtype):
    f = np.finfo(dtype)
    v = [
        np.nan,
        -np.nan,
        np.inf,
        -np.inf,
        0.0,
        -0.0,
        f.smallest_subnormal,
        -f.smallest_subnormal,
        f.smallest_normal,
        -f.smallest_normal,
        f.max,
        -f.max,
        1.0,
        -1.0,
        1e-30,
        -1e-30,
    ]
    v += [800.0, -800.0, 710.0, -746.0, 100.0, -100.0, 90.0, -105.0, 30.0, -30.0]
    return np.array(v, dtype=np.float64).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", FUNCS)
def test_special_values(name, dtype):
    x = special_inputs(dtype)
    if name in ("sin", "cos"):  # beyond the guaranteed range only inf matters (-> NaN)
        x = x[~(np.abs(x) > SINCOS_MAX[dtype]) | np.isinf(x)]
    got = c_call(name, x)
    with np.errstate(all="ignore"):
        expected = REF[name](x)  # numpy in the same dtype
    # NaN exactly where numpy gives NaN
    np.testing.assert_array_equal(
        np.isnan(got), np.isnan(expected), err_msg=f"{name} NaN positions, x={x}"
    )
    # infinities and zeros (with their sign) exactly as numpy, where the precise reference agrees
    with np.errstate(all="ignore"):
        ref_r = reference(name, x).astype(dtype)
    exact = (np.isinf(expected) | (expected == 0)) & ((ref_r == expected) | np.isnan(ref_r))
    np.testing.assert_array_equal(
        got[exact], expected[exact], err_msg=f"{name} inf/zero, x={x[exact]}"
    )
    np.testing.assert_array_equal(
        np.signbit(got[exact]),
        np.signbit(expected[exact]),
        err_msg=f"{name} sign of zero/inf, x={x[exact]}",
    )
    err = ulp_errors(got, reference(name, x), dtype)
    assert np.all(err <= MAX_ULP), f"{name}: {err.max():.3f} ulp at x={x[np.argmax(err)]!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_signed_zero_and_tiny(dtype):
    """-0.0 is kept where numpy keeps it; f(x) == x for tiny x where numpy does so."""
    z = np.array([-0.0, 0.0], dtype=dtype)
    for name in ("exp", "log1p", "expm1", "tanh", "sin", "cos", "sigmoid", "log"):
        got = c_call(name, z)
        with np.errstate(all="ignore"):
            exp = REF[name](z)
        np.testing.assert_array_equal(got, exp, err_msg=name)
        np.testing.assert_array_equal(
            np.signbit(got), np.signbit(exp), err_msg=f"{name} sign of zero"
        )
    tiny = np.array([np.finfo(dtype).smallest_subnormal, 1e-30, -1e-30], dtype=dtype)
    for name in ("log1p", "expm1", "tanh", "sin"):
        np.testing.assert_array_equal(c_call(name, tiny), tiny, err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_exp_underflow_gradual(dtype):
    """exp through the subnormal range to 0 matches the reference within 2 ulp (two-step scaling)."""
    lo, hi = (-746.0, -707.0) if dtype == np.float64 else (-104.5, -86.0)
    x = np.linspace(lo, hi, 200_001).astype(dtype)
    for name in ("exp", "sigmoid"):
        err = ulp_errors(c_call(name, x), reference(name, x), dtype)
        assert err.max() <= MAX_ULP, f"{name}: {err.max():.3f} ulp at x={x[np.argmax(err)]!r}"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_odd_lengths_and_empty(dtype):
    """Vector body and scalar tail agree (lengths around the vector widths)."""
    rng = np.random.default_rng(1)
    for n in (0, 1, 3, 7, 8, 9, 15, 16, 17, 33, 1001):
        x = rng.uniform(-5, 5, n).astype(dtype)
        for name in FUNCS:
            got = c_call(name, x)
            assert got.shape == x.shape
            if n:
                err = ulp_errors(got, reference(name, x), dtype)
                assert err.max() <= MAX_ULP, (name, n)

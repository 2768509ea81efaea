"""Every row of OP_CASES on every backend: forward against numpy, gradient against
central finite differences, and float32 kept end to end.

Plus the few behaviours a table row cannot express: the subgradients chosen at
kinks and ties, numerical stability at extreme inputs, the astype gradient.
"""

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np
import pytest
from cases import CASE_IDS, OP_CASES
from gradcheck_helper import analytic_gradients, check_gradients, weights_for
from hypothesis import HealthCheck, given, settings

import pyautodiff as ad

GRAD_CASES = [c for c in OP_CASES if c.gradcheck]
F32_CASES = [c for c in OP_CASES if c.float32]

# float32 has a unit roundoff of 6e-8; a handful of roundings per element (and sums of
# up to ~100 terms, and inputs shifted by up to 800 in the overflow cases) stay well
# below these.
F32_RTOL = 1e-5
F32_ATOL = 1e-5
F32_GRAD_RTOL = 2e-4
F32_GRAD_ATOL = 2e-4


def _run(case, arrays, dtype):
    xs = [ad.Tensor(a, dtype=dtype) for a in arrays]
    return case.fn(*xs)


@pytest.mark.parametrize("case", OP_CASES, ids=CASE_IDS)
def test_op_forward_matches_numpy_float64(case, backend, rng):
    arrays = case.inputs(rng)
    out = _run(case, arrays, np.float64)
    expected = np.asarray(case.ref(*arrays))
    assert isinstance(out, ad.Tensor)
    assert isinstance(out.data, np.ndarray)
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype  # float64, but for astype(float32)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", F32_CASES, ids=[c.id for c in F32_CASES])
def test_op_forward_float32_stays_float32(case, backend, rng):
    arrays = [a.astype(np.float32) for a in case.inputs(rng)]
    out = _run(case, arrays, np.float32)
    # numpy's own promotion decides: float32 unless a float64 constant takes part.
    expected = np.asarray(case.ref(*arrays))
    assert out.dtype == expected.dtype, f"{out.dtype} != numpy's {expected.dtype}"
    assert out.shape == expected.shape
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(out.numpy(), expected, rtol=F32_RTOL, atol=F32_ATOL * scale)


@pytest.mark.parametrize("case", GRAD_CASES, ids=[c.id for c in GRAD_CASES])
def test_op_gradient_matches_finite_differences(case, backend, rng):
    check_gradients(case.fn, case.inputs(rng), ref=case.ref)


@pytest.mark.parametrize("case", [c for c in GRAD_CASES if c.float32],
                         ids=[c.id for c in GRAD_CASES if c.float32])
def test_op_gradient_float32_keeps_dtype(case, backend, rng):
    arrays64 = case.inputs(rng)
    arrays32 = [a.astype(np.float32) for a in arrays64]
    out_shape = np.shape(case.ref(*arrays64))
    w = weights_for(out_shape)
    _, g32 = analytic_gradients(case.fn, arrays32, w, dtype=np.float32)  # checks dtypes
    # The float64 gradients at the same (float32-rounded) points, themselves checked
    # against finite differences by the test above.
    _, g64 = analytic_gradients(case.fn, [a.astype(np.float64) for a in arrays32], w)
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=F32_GRAD_RTOL, atol=F32_GRAD_ATOL * scale)


def test_op_backward_with_gradient_argument_equals_weighted_sum(backend, rng):
    # out.backward(gradient=w) and sum(out * w).backward() are the same vector-Jacobian product.
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 3))
    a = ad.Tensor(x, requires_grad=True)
    (ad.tanh(a).T * 2.0).backward(gradient=w)
    b = ad.Tensor(x, requires_grad=True)
    ((ad.tanh(b).T * 2.0) * w).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(a.grad.numpy(), 2.0 * w.T * (1 - np.tanh(x) ** 2), rtol=1e-12)


# ----- kinks and ties: the documented subgradients ---------------------------------------

def _grad_of(fn, *arrays):
    xs = [ad.Tensor(a, requires_grad=True) for a in arrays]
    fn(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def test_relu_gradient_at_zero_is_zero(backend):
    (g,) = _grad_of(ad.relu, np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


def test_abs_gradient_at_zero_is_zero(backend):
    (g,) = _grad_of(ad.abs, np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


def test_maximum_tie_splits_gradient(backend):
    gx, gy = _grad_of(ad.maximum, np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gx + gy, [1.0, 1.0, 1.0])


def test_minimum_tie_splits_gradient(backend):
    gx, gy = _grad_of(ad.minimum, np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 0.0]))
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 1.0])


def test_max_ties_share_gradient_evenly(backend):
    (g,) = _grad_of(lambda x: ad.max(x, axis=1), np.array([[3.0, 1.0, 3.0], [0.0, 2.0, 1.0]]))
    np.testing.assert_array_equal(g, [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    # The total gradient of each reduced row is 1 whatever the number of ties.
    (g,) = _grad_of(ad.max, np.full((2, 2), 7.0))
    np.testing.assert_array_equal(g, np.full((2, 2), 0.25))


def test_min_ties_share_gradient_evenly(backend):
    (g,) = _grad_of(lambda x: x.min(axis=0), np.array([[1.0, 4.0], [1.0, 2.0], [5.0, 2.0]]))
    np.testing.assert_array_equal(g, [[0.5, 0.0], [0.5, 0.5], [0.0, 0.5]])


def test_clip_gradient_includes_bounds(backend):
    (g,) = _grad_of(lambda x: ad.clip(x, -1.0, 1.0), np.array([-2.0, -1.0, 0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_pow_zero_exponent_gradient_at_zero_base_is_zero(backend):
    (g,) = _grad_of(lambda x: x ** 0, np.array([0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])
    (g,) = _grad_of(lambda x: x ** 2, np.array([0.0, -3.0]))
    np.testing.assert_array_equal(g, [0.0, -6.0])


def test_pow_tensor_exponent_gradient_at_zero_base_is_finite(backend):
    # d/dy 0**y = 0 for y > 0 (x**y log x -> 0); d/dx 0**y = y * 0**(y-1) = 0 for y > 1.
    gx, gy = _grad_of(lambda x, y: x ** y, np.array([0.0, 2.0]), np.array([2.0, 3.0]))
    np.testing.assert_allclose(gx, [0.0, 3.0 * 2.0 ** 2], rtol=1e-14)
    np.testing.assert_allclose(gy, [0.0, 2.0 ** 3 * np.log(2.0)], rtol=1e-14)


# ----- stability at extreme inputs ----------------------------------------------------------

def test_sigmoid_extreme_inputs_are_finite(backend):
    x = ad.Tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    y = ad.sigmoid(x)
    ref = np.array([0.0, np.exp(-50.0) / (1 + np.exp(-50.0)), 0.5, 1 / (1 + np.exp(-50.0)), 1.0])
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-14, atol=0)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), ref * (1 - ref), rtol=1e-12, atol=0)


def test_softplus_extreme_inputs_are_finite(backend):
    x = ad.Tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0], requires_grad=True)
    y = ad.softplus(x)
    # softplus(x) = x + log1p(exp(-x)) for x > 0, log1p(exp(x)) for x <= 0.
    xs = x.numpy()
    ref = np.where(xs > 0, xs + np.log1p(np.exp(-np.abs(xs))), np.log1p(np.exp(-np.abs(xs))))
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-14)
    y.sum().backward()
    # softplus' = sigmoid, written so that neither branch cancels or overflows.
    e = np.exp(-np.abs(xs))
    sig = np.where(xs >= 0, 1 / (1 + e), e / (1 + e))
    np.testing.assert_allclose(x.grad.numpy(), sig, rtol=1e-12, atol=0)


def test_logsumexp_large_inputs_do_not_overflow(backend):
    x = ad.Tensor([[1000.0, 1000.0], [-1000.0, -1000.0]], requires_grad=True)
    y = ad.logsumexp(x, axis=1)
    np.testing.assert_allclose(y.numpy(), [1000 + np.log(2), -1000 + np.log(2)], rtol=1e-15)
    y.sum().backward()
    # exp(x - out) with out = 1000 + log 2 rounded at magnitude 1e3: ~1e-13 relative.
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 2), 0.5), rtol=1e-12)


def test_softmax_large_inputs_do_not_overflow(backend):
    x = ad.Tensor([[1000.0, 1000.0 + np.log(3.0)]], requires_grad=True)
    y = ad.softmax(x)
    np.testing.assert_allclose(y.numpy(), [[0.25, 0.75]], rtol=1e-12)
    (y * ad.Tensor([[1.0, 0.0]])).sum().backward()
    # d p0 / d x = p0 * (e0 - p)
    np.testing.assert_allclose(x.grad.numpy(), [[0.25 * 0.75, -0.25 * 0.75]], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_log_softmax_keeps_precision_for_large_logits(backend, dtype):
    # x - logsumexp(x) would lose |max x| * eps (2e-5 relative in float32 at 1e4); the
    # reference is the same formula shifted by the max, in float64 from the same inputs.
    x = np.array([[1e4, 1e4, 1e4, -1e4], [3.0, -2.0, 1e4 - 1.0, 1e4]], dtype=dtype)
    s = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    ref = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    got = ad.log_softmax(ad.Tensor(x, dtype=dtype), axis=1).numpy()
    assert got.dtype == dtype
    finite = np.isfinite(ref) & (ref > -50)
    rtol = 2 * np.finfo(dtype).eps
    np.testing.assert_allclose(got[finite], ref[finite], rtol=rtol, atol=rtol)
    np.testing.assert_allclose(ad.softmax(ad.Tensor(x, dtype=dtype), axis=1).numpy(),
                               np.exp(ref), rtol=4 * np.finfo(dtype).eps, atol=1e-30)


def test_log_softmax_large_inputs_do_not_overflow(backend):
    x = ad.Tensor([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(ad.log_softmax(x).numpy(), [-2000.0, -1000.0, 0.0], rtol=1e-15)


# ----- astype and mixed precision -------------------------------------------------------------

def test_astype_gradient_converts_back(backend, rng):
    a = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4)).astype(np.float32)
    x = ad.Tensor(a, requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), a.astype(np.float32))
    (y * w).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), w.astype(np.float64))


def test_astype_rejects_non_float_dtypes(backend):
    x = ad.Tensor([1.0, 2.0])
    for bad in (np.int32, bool, np.complex128, "U3"):
        with pytest.raises(TypeError):
            x.astype(bad)


def test_softmax_masked_entries_have_finite_zero_gradient(backend):
    # -inf logits (masking) give probability 0 and a gradient of exactly 0, not nan.
    x = ad.Tensor([0.0, -np.inf, 1.0], requires_grad=True)
    c = np.array([1.0, 2.0, 3.0])
    p = ad.softmax(x)
    pr = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    np.testing.assert_allclose(p.numpy(), [pr[0], 0.0, pr[1]], rtol=1e-15)
    (p * c).sum().backward()
    # d/dx_i sum_j p_j c_j = p_i (c_i - p.c)
    pc = pr[0] * 1.0 + pr[1] * 3.0
    np.testing.assert_allclose(x.grad.numpy(), [pr[0] * (1 - pc), 0.0, pr[1] * (3 - pc)],
                               rtol=1e-14)


def test_empty_tensors_flow_through_ops_and_backward(backend):
    x = ad.Tensor(np.zeros((0, 3)), requires_grad=True)
    y = (ad.exp(x) * 2.0 + x @ np.ones((3, 2)) @ np.ones((2, 3))).sum(axis=0)
    np.testing.assert_array_equal(y.numpy(), np.zeros(3))
    y.sum().backward()
    assert x.grad.shape == (0, 3) and x.grad.dtype == np.float64


def test_max_of_empty_raises_value_error(backend):
    with pytest.raises(ValueError):
        ad.max(ad.Tensor([]))
    with pytest.raises(ValueError):
        ad.Tensor(np.zeros((0, 2))).min()


# ----- broadcasting, property-based: gradients reduce to each input's shape ------------------

def _reduce_to(full, shape):
    """Sum ``full`` onto ``shape`` by numpy's broadcasting map, element by element."""
    out = np.zeros(shape)
    nd = len(shape)
    for o in np.ndindex(full.shape):
        lead = len(o) - nd
        out[tuple(0 if shape[k] == 1 else o[lead + k] for k in range(nd))] += full[o]
    return out


_PARTIALS = {
    # op: (function, d/dx, d/dy) on broadcast arrays
    "add": (lambda x, y: x + y, lambda x, y: 1 + 0 * x, lambda x, y: 1 + 0 * y),
    "sub": (lambda x, y: x - y, lambda x, y: 1 + 0 * x, lambda x, y: -1 + 0 * y),
    "mul": (lambda x, y: x * y, lambda x, y: y + 0 * x, lambda x, y: x + 0 * y),
    "div": (lambda x, y: x / y, lambda x, y: 1 / y + 0 * x, lambda x, y: -x / y ** 2),
    "maximum": (ad.maximum, lambda x, y: (x > y) + 0.0, lambda x, y: (y > x) + 0.0),
    "pow": (lambda x, y: x ** y, lambda x, y: y * x ** (y - 1), lambda x, y: x ** y * np.log(x)),
}


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4,
                                                max_side=3),
       op=st.sampled_from(sorted(_PARTIALS)), seed=st.integers(0, 2 ** 16))
def test_broadcast_gradient_reduces_to_input_shape(backend, shapes, op, seed):
    sx, sy = shapes.input_shapes
    rng = np.random.default_rng(seed)
    # Positive x away from y's values: pow's base, maximum's ties, div's pole all avoided.
    xv = rng.uniform(0.5, 1.5, sx)
    yv = rng.uniform(1.6, 2.5, sy) * rng.choice([-1.0, 1.0], sy)
    fn, dfdx, dfdy = _PARTIALS[op]
    x = ad.Tensor(xv, requires_grad=True)
    y = ad.Tensor(yv, requires_grad=True)
    out = fn(x, y)
    assert out.shape == shapes.result_shape
    w = rng.standard_normal(shapes.result_shape)
    out.backward(gradient=w)
    xb, yb = np.broadcast_arrays(xv, yv)
    np.testing.assert_allclose(x.grad.numpy(), _reduce_to(w * dfdx(xb, yb), sx), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), _reduce_to(w * dfdy(xb, yb), sy), rtol=1e-12,
                               atol=1e-12)
    assert x.grad.shape == sx and y.grad.shape == sy

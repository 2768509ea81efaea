"""Products and linear algebra (ops/linalg.py, ``ad.linalg``) through numpy's calls.

Every row calls a numpy function, which on Tensors dispatches to pyautodiff and on the
plain arrays is numpy itself, the reference: values must agree, the Tensor must record,
the gradient must match central differences of numpy's own function, the pyautodiff
function of the same name must give the same, and second derivatives
(Hessian-vector products) must match differences of the gradient. Then PyTorch as a
third reference, stacks of matrices above the C thresholds, what is refused, and the
details (slogdet's sign, cholesky's upper triangle, einsum's forms).
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from gradcheck_helper import analytic_gradients, check_gradients, weights_for

import pyautodiff as ad

# numpy 2 deprecates 2-d vectors in cross; the rows that use them check the values, and
# test_cross_of_2d_vectors_warns_as_numpy checks the warning.
pytestmark = pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors")


# ----- inputs ---------------------------------------------------------------------------

def real(*shape):
    return lambda rng: rng.standard_normal(shape)


def invertible(*shape):
    """Well-conditioned matrices (2 I plus small noise), positive definite when
    symmetrized; in a stack, every other one has its first row negated (det < 0)."""
    def make(rng):
        a = 2.0 * np.eye(shape[-1]) + 0.3 * rng.standard_normal(shape)
        flip = np.where(np.arange(int(np.prod(shape[:-2]))) % 2, -1.0, 1.0)
        a[..., 0, :] *= flip.reshape(shape[:-2] + (1,))
        return a
    return make


def spd(*shape):
    """Symmetric positive definite matrices: ``b b^T + I``."""
    def make(rng):
        b = rng.standard_normal(shape)
        return b @ np.swapaxes(b, -1, -2) + np.eye(shape[-1])
    return make


def away_from_zero(*shape):
    """|x| in [0.3, 2], distinct magnitudes: no kink of |x| and no ties for max/min."""
    def make(rng):
        n = int(np.prod(shape))
        size = 0.3 + 1.7 * (rng.permutation(n) + rng.uniform(0.1, 0.9, n)) / n
        return (rng.choice([-1.0, 1.0], n) * size).reshape(shape)
    return make


def _sym(a):
    # What cholesky reads as a symmetric matrix: finite differences then see its gradient.
    return (a + np.swapaxes(a, -1, -2)) / 2


# ----- the table --------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    name: str  # as ad.numpy_functions() lists it, without "numpy."
    desc: str
    fn: Callable  # a numpy call: on Tensors it dispatches, on arrays it is numpy itself
    ad_fn: Callable  # the same with pyautodiff's own function
    inputs: tuple  # one maker(rng) -> array per input

    @property
    def id(self):
        return f"{self.name}-{self.desc}"

    def arrays(self, rng):
        return [make(rng) for make in self.inputs]


ROWS = []


def row(name, desc, fn, ad_fn, *inputs):
    ROWS.append(Row(name, desc, fn, ad_fn, inputs))


def both(np_fn, ad_fn, *args, **kw):
    """``(np_fn(*xs, *args, **kw), ad_fn(*xs, *args, **kw))`` as functions of the inputs."""
    return (lambda *xs: np_fn(*xs, *args, **kw)), (lambda *xs: ad_fn(*xs, *args, **kw))


for _desc, _sa, _sb in [("3d.3d", (2, 3, 4), (5, 4, 2)), ("2d.3d", (3, 4), (2, 4, 5)),
                        ("1d.3d", (4,), (2, 4, 3)), ("3d.2d", (2, 3, 4), (4, 2))]:
    row("dot", _desc, *both(np.dot, ad.dot), real(*_sa), real(*_sb))

for _desc, _sa, _sb in [("1d", (3,), (3,)), ("2d", (2, 3), (4, 3)), ("0d", (), (2, 3)),
                        ("3d-1d", (2, 1, 3), (3,))]:
    row("inner", _desc, *both(np.inner, ad.inner), real(*_sa), real(*_sb))

for _desc, _sa, _sb in [("1d", (3,), (2,)), ("flattens-2d", (2, 2), (3,)), ("0d", (), (2,))]:
    row("outer", _desc, *both(np.outer, ad.outer), real(*_sa), real(*_sb))
row("vdot", "flattens", *both(np.vdot, ad.vdot), real(2, 3), real(6))

for _desc, _sa, _sb, _axes in [
    ("default-2", (2, 3, 4), (3, 4, 2), 2), ("int-1", (2, 3), (3, 4), 1),
    ("int-0-outer", (2,), (3, 2), 0), ("pair-of-lists", (2, 3, 4), (3, 4, 2), ([1, 0], [0, 2])),
    ("pair-of-ints", (2, 3), (4, 2), (0, 1)), ("negative", (2, 3, 4), (4, 3), ((-1, -2), (0, 1))),
    ("scalar", (), (2, 3), 0),
]:
    row("tensordot", _desc, *both(np.tensordot, ad.tensordot, _axes), real(*_sa), real(*_sb))

for _desc, _sa, _sb in [("2d", (2, 3), (2, 2)), ("1d-2d", (3,), (2, 2)), ("1d", (2,), (3,)),
                        ("0d", (), (2, 2)), ("3d-2d", (2, 1, 2), (3, 1))]:
    row("kron", _desc, *both(np.kron, ad.kron), real(*_sa), real(*_sb))

for _desc, _subs, _shapes in [
    ("matrix-product", "ij,jk->ik", [(2, 3), (3, 4)]),
    ("trace", "ii", [(3, 3)]),
    ("diagonal", "ii->i", [(3, 3)]),
    ("repeated-thrice", "iii->i", [(2, 2, 2)]),
    ("repeated-summed", "iij->j", [(3, 3, 2)]),
    ("implicit", "ba,ac", [(2, 3), (3, 4)]),
    ("implicit-capitals", "Ab,bC", [(2, 3), (3, 4)]),
    ("transpose", "ij->ji", [(2, 3)]),
    ("sum-one-axis", "ij->i", [(2, 3)]),
    ("sum-all", "ij->", [(2, 3)]),
    ("ellipsis-broadcast", "...ij,...jk->...ik", [(2, 1, 2, 3), (4, 3, 2)]),
    ("ellipsis-implicit", "i...,...j", [(2, 3), (4, 3, 5)]),
    ("ellipsis-diagonal", "...ii->...i", [(2, 3, 3)]),
    ("broadcast-size-1", "ij,j->ij", [(2, 3), (1,)]),
    ("three-operands", "ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bilinear-form", "i,ij,j", [(3,), (3, 4), (4,)]),
    ("outer", "i,j", [(3,), (2,)]),
    ("batched-outer-sum", "bi,bj->ij", [(4, 2), (4, 3)]),
    ("spaces", " i j , j -> i ", [(2, 3), (3,)]),
]:
    row("einsum", _desc, lambda *xs, s=_subs: np.einsum(s, *xs),
        lambda *xs, s=_subs: ad.einsum(s, *xs), *(real(*s) for s in _shapes))
row("einsum", "optimize", lambda *xs: np.einsum("ij,jk,kl->il", *xs, optimize=True),
    lambda *xs: ad.einsum("ij,jk,kl->il", *xs, optimize=True), real(2, 3), real(3, 4),
    real(4, 2))
row("einsum", "python-scalar", lambda x: np.einsum("i,->i", x, 2.5),
    lambda x: ad.einsum("i,->i", x, 2.5), real(3))
row("einsum", "same-tensor-twice", lambda x: np.einsum("ij,ij->", x, x),
    lambda x: ad.einsum("ij,ij->", x, x), real(2, 3))
row("einsum", "sublists",
    lambda a, b: np.einsum(a, [0, Ellipsis], b, [Ellipsis, 1], [Ellipsis, 1, 0]),
    lambda a, b: ad.einsum(a, [0, Ellipsis], b, [Ellipsis, 1], [Ellipsis, 1, 0]),
    real(2, 3), real(3, 4))
row("einsum", "sublists-implicit", lambda a, b: np.einsum(a, [27, 1], b, [1, 0]),
    lambda a, b: ad.einsum(a, [27, 1], b, [1, 0]), real(2, 3), real(3, 4))

for _desc, _sa, _sb, _kw in [
    ("3d", (3,), (3,), {}), ("stack-broadcast", (4, 3), (3,), {}),
    ("axisa-axisb", (3, 2), (2, 3), {"axisa": 0, "axisb": 1}),
    ("axisc", (2, 3), (3,), {"axisc": 0}), ("axis", (3, 2), (3, 1), {"axis": 0}),
    ("2d-3d", (2,), (2, 3), {}), ("3d-2d", (4, 3), (2,), {}), ("2d-2d", (3, 2), (2,), {}),
]:
    row("cross", _desc, *both(np.cross, ad.cross, **_kw), real(*_sa), real(*_sb))

for _desc, _shape in [("3x3", (3, 3)), ("stack", (2, 3, 3)), ("1x1", (1, 1))]:
    row("linalg.inv", _desc, *both(np.linalg.inv, ad.inv), invertible(*_shape))
    row("linalg.det", _desc, *both(np.linalg.det, ad.det), invertible(*_shape))
row("linalg.slogdet", "logabsdet-stack",
    lambda a: np.linalg.slogdet(a)[1], lambda a: ad.slogdet(a).logabsdet, invertible(4, 3, 3))

for _desc, _sa, _sb in [
    ("vector", (3, 3), (3,)), ("matrix", (3, 3), (3, 2)), ("stack-vector", (2, 3, 3), (3,)),
    ("stack-matrices", (2, 3, 3), (2, 3, 1)), ("broadcast", (2, 1, 3, 3), (4, 3, 2)),
    ("matrix-stack-of-b", (3, 3), (2, 3, 3)),
]:
    row("linalg.solve", _desc, *both(np.linalg.solve, ad.solve), invertible(*_sa), real(*_sb))

for _desc, _shape, _kw in [("3x3", (3, 3), {}), ("stack", (2, 3, 3), {}),
                           ("upper", (2, 3, 3), {"upper": True})]:
    row("linalg.cholesky", _desc, lambda a, kw=_kw: np.linalg.cholesky(_sym(a), **kw),
        lambda a, kw=_kw: ad.cholesky(_sym(a), **kw), spd(*_shape))

for _name, _np, _ad in [("tril", np.tril, ad.tril), ("triu", np.triu, ad.triu)]:
    for _desc, _shape, _k in [("square", (3, 3), 0), ("wide-k1", (3, 4), 1),
                              ("tall-k-1", (4, 3), -1), ("stack", (2, 3, 3), 0),
                              ("1d", (3,), 0)]:
        row(_name, _desc, *both(_np, _ad, _k), real(*_shape))

for _desc, _shape, _k in [("1d", (3,), 0), ("1d-k1", (3,), 1), ("1d-k-2", (2,), -2),
                          ("2d", (3, 4), 0), ("2d-k1", (3, 4), 1), ("2d-k-1", (3, 4), -1),
                          ("2d-past-the-edge", (3, 4), 4)]:
    row("diag", _desc, *both(np.diag, ad.diag, _k), real(*_shape))

for _desc, _shape, _args in [("square", (3, 3), ()), ("offset", (3, 4), (1,)),
                             ("axes", (2, 3, 4), (-1, 2, 1)), ("negative-axes", (3, 2, 3), (0, -1, 0))]:
    row("trace", _desc, *both(np.trace, ad.trace, *_args), real(*_shape))

for _desc, _shape, _kw in [
    ("vector-1", (4,), {"ord": 1}), ("vector-inf", (4,), {"ord": np.inf}),
    ("vector-minus-inf", (4,), {"ord": -np.inf}), ("vector-3-axis-keepdims", (4, 3),
                                                   {"ord": 3, "axis": 1, "keepdims": True}),
    ("vector-half", (4,), {"ord": 0.5}), ("vector-minus-1.5", (4,), {"ord": -1.5}),
    ("vector-1-axis0", (4, 3), {"ord": 1, "axis": 0}),
    ("matrix-1", (4, 3), {"ord": 1}), ("matrix-minus-1-axes", (4, 3, 2), {"ord": -1, "axis": (2, 0)}),
    ("matrix-inf-keepdims", (4, 3, 2), {"ord": np.inf, "axis": (0, 2), "keepdims": True}),
    ("matrix-minus-inf", (3, 4), {"ord": -np.inf}),
    ("matrix-fro-axes", (4, 3, 2), {"ord": "fro", "axis": (0, 2)}),
]:
    row("linalg.norm", _desc, *both(np.linalg.norm, ad.norm, **_kw), away_from_zero(*_shape))

# numpy 2's array-API functions in numpy.linalg, and ad.linalg's.
la = ad.linalg
row("linalg.matmul", "stack", *both(np.linalg.matmul, la.matmul), real(2, 2, 3), real(3,))
row("linalg.outer", "1d", *both(np.linalg.outer, la.outer), real(3), real(2))
row("linalg.tensordot", "axes-1", *both(np.linalg.tensordot, la.tensordot, axes=1),
    real(2, 3), real(3, 2))
row("linalg.cross", "axis0", *both(np.linalg.cross, la.cross, axis=0), real(3, 2), real(3, 1))
row("linalg.diagonal", "stack-offset", *both(np.linalg.diagonal, la.diagonal, offset=-1),
    real(2, 3, 4))
row("linalg.trace", "stack-offset", *both(np.linalg.trace, la.trace, offset=1), real(2, 3, 4))
row("linalg.vector_norm", "axes-3", *both(np.linalg.vector_norm, la.vector_norm,
                                          axis=(0, 2), ord=3), away_from_zero(2, 3, 4))
row("linalg.vector_norm", "all-keepdims", *both(np.linalg.vector_norm, la.vector_norm,
                                                keepdims=True), away_from_zero(2, 3))
row("linalg.matrix_norm", "stack-inf", *both(np.linalg.matrix_norm, la.matrix_norm,
                                             ord=np.inf), away_from_zero(2, 3, 4))
row("linalg.matrix_norm", "fro", *both(np.linalg.matrix_norm, la.matrix_norm),
    away_from_zero(2, 3, 4))
row("linalg.vecdot", "broadcast", *both(np.linalg.vecdot, la.vecdot), real(2, 3), real(3))
row("linalg.vecdot", "axis0", *both(np.linalg.vecdot, la.vecdot, axis=0), real(3, 2), real(3, 1))
row("linalg.matrix_transpose", "stack", *both(np.linalg.matrix_transpose,
                                              la.matrix_transpose), real(2, 3, 4))
for _name in ("inv", "det", "solve", "cholesky", "slogdet", "norm"):
    assert getattr(la, _name) is getattr(ad, _name)

# Tested below, not in the table: ord=0 (no gradient) and einsum_path (no values).
NUMPY_FUNCTIONS = {r.name for r in ROWS} | {"einsum_path"}
ROW_IDS = [r.id for r in ROWS]


def _tensors(arrays):
    return [ad.Tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_value_matches_numpy_and_records(r, backend, rng):
    arrays = r.arrays(rng)
    expected = r.fn(*arrays)  # numpy itself, on the plain arrays
    assert not isinstance(expected, ad.Tensor)
    expected = np.asarray(expected)
    out = r.fn(*_tensors(arrays))
    assert isinstance(out, ad.Tensor) and out.requires_grad
    assert out.shape == expected.shape and out.dtype == expected.dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_gradient_matches_finite_differences_of_numpy(r, backend, rng):
    check_gradients(r.fn, r.arrays(rng), ref=r.fn)


@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_pyautodiff_function_equals_the_numpy_call(r, backend, rng):
    arrays = r.arrays(rng)
    w = weights_for(np.shape(r.fn(*arrays)))
    out, grads = analytic_gradients(r.fn, arrays, w)
    ad_out, ad_grads = analytic_gradients(r.ad_fn, arrays, w)
    np.testing.assert_array_equal(ad_out.numpy(), out.numpy())
    for a, b in zip(ad_grads, grads):
        np.testing.assert_array_equal(a, b)


HVP_EPS = 1e-5  # error ~ eps^2 |g'''| + 1e-16 |g| / eps: about 1e-10 for these inputs


@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_second_derivatives_match_differences_of_the_gradient(r, backend, rng):
    # Hessian-vector products: d/dx <grad L(x), v> with the gradient recorded
    # (create_graph), against central differences of the gradient along v.
    arrays = r.arrays(rng)
    w = weights_for(np.shape(r.fn(*arrays)))
    vs = [rng.standard_normal(np.shape(a)) for a in arrays]
    xs = _tensors(arrays)
    (r.fn(*xs) * w).sum().backward(create_graph=True)
    # (a gradient that does not require grad is constant: that Hessian is zero)
    terms = [(x.grad * v).sum() for x, v in zip(xs, vs) if x.grad.requires_grad]
    for x in xs:
        x.grad = None
    if terms:
        sum(terms[1:], terms[0]).backward()
    plus = analytic_gradients(r.fn, [a + HVP_EPS * v for a, v in zip(arrays, vs)], w)[1]
    minus = analytic_gradients(r.fn, [a - HVP_EPS * v for a, v in zip(arrays, vs)], w)[1]
    for i, (x, p, m) in enumerate(zip(xs, plus, minus)):
        hvp = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        np.testing.assert_allclose(hvp, (p - m) / (2 * HVP_EPS), rtol=1e-6, atol=1e-7,
                                   err_msg=f"Hessian-vector product, input {i}")


def test_every_function_of_this_part_is_listed_and_tested():
    listed = set(ad.numpy_functions())
    assert {f"numpy.{n}" for n in NUMPY_FUNCTIONS} <= listed
    for name in ("inner", "outer", "tensordot", "kron", "einsum", "cross", "inv", "det",
                 "slogdet", "solve", "cholesky", "tril", "triu", "diag", "trace", "vdot"):
        assert callable(getattr(ad, name)) and name in ad.__all__, name
    assert "linalg" in ad.__all__
    for name in ad.linalg.__all__:
        assert hasattr(np.linalg, name), name


# ----- float32, integers, and inputs left as they were -------------------------------------

@pytest.mark.parametrize("call", [
    lambda a, b: np.einsum("ij,jk->ik", a, b), lambda a, b: np.linalg.solve(a, b[:, 0]),
    lambda a, b: np.linalg.inv(a), lambda a, b: np.linalg.det(a),
    lambda a, b: np.linalg.cholesky(a @ a.T), lambda a, b: np.tensordot(a, b, 1),
    lambda a, b: np.trace(a), lambda a, b: np.linalg.slogdet(a)[1],
], ids=["einsum", "solve", "inv", "det", "cholesky", "tensordot", "trace", "slogdet"])
def test_float32_stays_float32(call, backend, rng):
    a = invertible(3, 3)(rng).astype(np.float32)
    b = rng.standard_normal((3, 2)).astype(np.float32)
    ta = ad.tensor(a, requires_grad=True)
    out = call(ta, ad.tensor(b))
    expected = call(a, b)
    assert out.dtype == np.float32 == expected.dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert ta.grad.dtype == np.float32


def test_integer_arrays_become_float64_as_in_every_op(backend):
    a = np.array([[2, 1], [1, 3]])
    for f, g in [(ad.inv, np.linalg.inv), (ad.det, np.linalg.det),
                 (lambda x: ad.einsum("ij->j", x), lambda x: np.einsum("ij->j", x))]:
        out = f(a)
        assert isinstance(out, ad.Tensor) and out.dtype == np.float64
        np.testing.assert_allclose(out.numpy(), g(a.astype(float)), rtol=1e-14)


def test_inputs_are_not_modified(backend, rng):
    a, b = invertible(2, 3, 3)(rng), rng.standard_normal((3, 2))
    a0, b0 = a.copy(), b.copy()
    ta = ad.tensor(a, requires_grad=True)
    out = ad.solve(ta, b).sum() + ad.inv(ta).sum() + ad.einsum("bii->", ta) + ad.det(a).sum()
    out.backward(create_graph=True)
    ta.grad.sum().backward()
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)


# ----- above the C thresholds: stacks of small matrices -------------------------------------

def test_stacks_above_the_c_thresholds(size, rng):
    n = size // 4  # n stacked 2x2 matrices: 4n elements
    a = invertible(n, 2, 2)(rng)
    x = rng.standard_normal((n, 2))
    w = rng.standard_normal((n, 2, 2))
    ainv = np.linalg.inv(a)
    ta, tx = _tensors([a, x])
    for out, expected, grad in [
        (np.linalg.inv(ta), ainv, -np.swapaxes(ainv, 1, 2) @ w @ np.swapaxes(ainv, 1, 2)),
        (np.linalg.det(ta), np.linalg.det(a),
         (w[:, 0, 0] * np.linalg.det(a))[:, None, None] * np.swapaxes(ainv, 1, 2)),
        (np.einsum("bij,bj->bi", ta, tx), np.einsum("bij,bj->bi", a, x),
         w[:, :, :1] * x[:, None, :]),
        (np.trace(ta, axis1=1, axis2=2), np.trace(a, axis1=1, axis2=2),
         w[:, 0, 0, None, None] * np.eye(2)),
    ]:
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
        ta.grad = None
        # The weights are sliced to the output's shape (w[:, :, 0] for (n, 2), and so on).
        ww = w[(slice(None),) * out.ndim + (0,) * (3 - out.ndim)]
        (out * ww).sum().backward()
        np.testing.assert_allclose(ta.grad.numpy(), grad, rtol=1e-10, atol=1e-12)


# ----- PyTorch as a third reference ---------------------------------------------------------

def _torch_rows():
    return [
        ("einsum", lambda a, b: ad.einsum("...ij,...jk->...ik", a, b),
         lambda t, a, b: t.einsum("...ij,...jk->...ik", a, b), [real(2, 2, 3), real(3, 4)]),
        ("einsum-diagonal", lambda a: ad.einsum("ii->i", a), lambda t, a: t.einsum("ii->i", a),
         [real(3, 3)]),
        ("inv", ad.inv, lambda t, a: t.linalg.inv(a), [invertible(2, 3, 3)]),
        ("det", ad.det, lambda t, a: t.linalg.det(a), [invertible(2, 3, 3)]),
        ("slogdet", lambda a: ad.slogdet(a)[1], lambda t, a: t.linalg.slogdet(a)[1],
         [invertible(2, 3, 3)]),
        ("solve", ad.solve, lambda t, a, b: t.linalg.solve(a, b), [invertible(2, 3, 3),
                                                                  real(2, 3, 2)]),
        ("cholesky", lambda a: ad.cholesky(_sym(a)), lambda t, a: t.linalg.cholesky(_sym(a)),
         [spd(2, 3, 3)]),
        ("cholesky-upper", lambda a: ad.cholesky(_sym(a), upper=True),
         lambda t, a: t.linalg.cholesky(_sym(a), upper=True), [spd(3, 3)]),
        ("tensordot", lambda a, b: ad.tensordot(a, b, ([1, 0], [0, 2])),
         lambda t, a, b: t.tensordot(a, b, ([1, 0], [0, 2])), [real(2, 3, 4), real(3, 4, 2)]),
        ("kron", ad.kron, lambda t, a, b: t.kron(a, b), [real(2, 3), real(2, 2)]),
        ("cross", ad.cross, lambda t, a, b: t.linalg.cross(a, b), [real(4, 3), real(4, 3)]),
        ("outer", ad.outer, lambda t, a, b: t.outer(a, b), [real(3), real(2)]),
        ("inner", ad.inner, lambda t, a, b: t.inner(a, b), [real(2, 3), real(4, 3)]),
        ("tril", lambda a: ad.tril(a, -1), lambda t, a: t.tril(a, -1), [real(2, 3, 3)]),
        ("triu", lambda a: ad.triu(a, 1), lambda t, a: t.triu(a, 1), [real(3, 4)]),
        ("diag-embed", lambda a: ad.diag(a, 1), lambda t, a: t.diag(a, 1), [real(3)]),
        ("diag-extract", lambda a: ad.diag(a, -1), lambda t, a: t.diag(a, -1), [real(3, 4)]),
        ("trace", ad.trace, lambda t, a: t.trace(a), [real(3, 4)]),
        ("vector-norm-3", lambda a: ad.norm(a, 3, axis=1),
         lambda t, a: t.linalg.vector_norm(a, 3, dim=1), [away_from_zero(4, 3)]),
        ("vector-norm-inf", lambda a: ad.norm(a, np.inf),
         lambda t, a: t.linalg.vector_norm(a, float("inf")), [away_from_zero(4)]),
        ("matrix-norm-1", lambda a: ad.norm(a, 1), lambda t, a: t.linalg.matrix_norm(a, 1),
         [away_from_zero(4, 3)]),
        ("matrix-norm-minus-inf", lambda a: ad.norm(a, -np.inf),
         lambda t, a: t.linalg.matrix_norm(a, -float("inf")), [away_from_zero(4, 3)]),
    ]


@pytest.mark.parametrize("i", range(len(_torch_rows())),
                         ids=[r[0] for r in _torch_rows()])
def test_values_and_gradients_match_torch(i, backend, rng):
    torch = pytest.importorskip("torch")
    _, ad_fn, torch_fn, makers = _torch_rows()[i]
    arrays = [m(rng) for m in makers]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_out = torch_fn(torch, *ts)
    w = weights_for(tuple(t_out.shape))
    (t_out * torch.tensor(w)).sum().backward()
    out, grads = analytic_gradients(ad_fn, arrays, w)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for g, t in zip(grads, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_p_norm_gradient_at_zero_is_zero_as_in_torch(backend):
    torch = pytest.importorskip("torch")
    for p in (3, 1.5):
        w = ad.zeros(3, requires_grad=True)
        np.linalg.norm(w, p).backward()
        t = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        torch.linalg.vector_norm(t, p).backward()
        np.testing.assert_array_equal(w.grad.numpy(), t.grad.numpy())
        np.testing.assert_array_equal(w.grad.numpy(), np.zeros(3))


# ----- details ----------------------------------------------------------------------------------

def test_slogdet_sign_carries_no_gradient_and_logabsdet_does(backend, rng):
    a = invertible(4, 3, 3)(rng)
    t = ad.tensor(a, requires_grad=True)
    result = np.linalg.slogdet(t)
    sign, logabsdet = result
    expected = np.linalg.slogdet(a)
    assert result.sign is sign and result.logabsdet is logabsdet
    np.testing.assert_array_equal(sign.numpy(), expected.sign)
    assert set(sign.numpy()) == {-1.0, 1.0}  # both signs in the stack
    assert not sign.requires_grad and logabsdet.requires_grad
    np.testing.assert_allclose(logabsdet.numpy(), expected.logabsdet, rtol=1e-12)
    logabsdet.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), np.swapaxes(np.linalg.inv(a), 1, 2),
                               rtol=1e-12)


def test_cholesky_gradient_is_symmetric_and_upper_reads_the_upper_triangle(backend, rng):
    a = spd(3, 3)(rng)
    lower_only = np.tril(a) + np.triu(rng.standard_normal((3, 3)), 1)  # junk above
    upper_only = np.triu(a) + np.tril(rng.standard_normal((3, 3)), -1)  # junk below
    np.testing.assert_allclose(np.linalg.cholesky(ad.tensor(lower_only)).numpy(),
                               np.linalg.cholesky(a), rtol=1e-12)
    np.testing.assert_allclose(np.linalg.cholesky(ad.tensor(upper_only), upper=True).numpy(),
                               np.linalg.cholesky(a, upper=True), rtol=1e-12)
    t = ad.tensor(a, requires_grad=True)
    (ad.cholesky(t) * weights_for((3, 3))).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), t.grad.numpy().T, rtol=1e-12)


def test_norm_ord_0_counts_nonzeros_without_gradient(backend):
    a = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
    t = ad.tensor(a, requires_grad=True)
    for kw in ({"axis": 1}, {"axis": 0, "keepdims": True}):
        out = np.linalg.norm(t, 0, **kw)
        expected = np.linalg.norm(a, 0, **kw)
        assert isinstance(out, ad.Tensor) and not out.requires_grad
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(np.linalg.vector_norm(t, ord=0).numpy(), 3.0)


def test_einsum_path_gives_numpys_path_and_einsum_takes_it(backend, rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    ta = ad.tensor(a, requires_grad=True)
    path = np.einsum_path("ij,jk,k->i", ta, b, c, optimize="optimal")
    assert path == np.einsum_path("ij,jk,k->i", a, b, c, optimize="optimal")
    out = np.einsum("ij,jk,k->i", ta, b, c, optimize=path[0])
    np.testing.assert_allclose(out.numpy(), np.einsum("ij,jk,k->i", a, b, c), rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), np.outer(np.ones(2), b @ c), rtol=1e-12)


def test_cross_of_2d_vectors_warns_as_numpy(backend):
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    for f in (np.cross, ad.cross):
        with pytest.warns(DeprecationWarning, match="2-dimensional vectors"):
            f(t, np.array([3.0, 4.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ad.cross(ad.ones(3), ad.ones(3))  # 3-d vectors: no warning


def test_ad_linalg_mirrors_numpy_linalg():
    assert ad.linalg.LinAlgError is np.linalg.LinAlgError
    assert issubclass(ad.linalg.LinAlgError, ValueError)
    result = ad.linalg.slogdet(ad.tensor([[2.0, 1.0], [1.0, 3.0]]))
    expected = np.linalg.slogdet(np.array([[2.0, 1.0], [1.0, 3.0]]))
    assert type(result).__name__ == type(expected).__name__
    assert result._fields == expected._fields == ("sign", "logabsdet")


# ----- what is refused ----------------------------------------------------------------------

ERRORS = [
    (lambda: np.linalg.inv(ad.ones((2, 3))), np.linalg.LinAlgError, r"^inv: .*\(2, 3\)"),
    (lambda: np.linalg.inv(ad.ones(3)), np.linalg.LinAlgError, r"^inv: .*\(3,\)"),
    (lambda: np.linalg.inv(ad.ones((2, 2))), np.linalg.LinAlgError,
     r"^inv: Singular matrix \(inputs: \(2, 2\) float64\)"),
    (lambda: np.linalg.det(ad.ones((3,))), np.linalg.LinAlgError, r"^det: .*square"),
    (lambda: np.linalg.slogdet(ad.ones((2, 3))), np.linalg.LinAlgError, r"^slogdet: "),
    (lambda: np.linalg.solve(ad.tensor(np.eye(3)), ad.ones(4)), ValueError, r"^solve: b of shape \(4,\)"),
    (lambda: np.linalg.solve(ad.tensor(np.eye(3)), ad.ones((2, 3))), ValueError,
     r"^solve: b of shape \(2, 3\)"),
    (lambda: np.linalg.cholesky(ad.tensor([[1.0, 2.0], [2.0, 1.0]])), np.linalg.LinAlgError,
     r"^cholesky: Matrix is not positive definite"),
    (lambda: np.einsum("ij,jk", ad.ones((2, 3))), ValueError, r"^einsum: 2 operand"),
    (lambda: np.einsum("i->ii", ad.ones(3)), ValueError, r"^einsum: output subscript 'i'"),
    (lambda: np.einsum("i->j", ad.ones(3)), ValueError, r"^einsum: output subscript 'j'"),
    (lambda: np.einsum("i1", ad.ones(3)), ValueError, r"^einsum: invalid subscript '1'"),
    (lambda: np.einsum("i..j", ad.ones((2, 3))), ValueError, r"^einsum: invalid subscript '\.'"),
    (lambda: np.einsum("ij", ad.ones(3)), ValueError, r"^einsum: operand 0 has shape \(3,\)"),
    (lambda: np.einsum("i", ad.ones((2, 3))), ValueError, r"^einsum: operand 0 has shape"),
    (lambda: np.einsum("...i->i", ad.ones((2, 3))), ValueError, r"^einsum: .*'\.\.\.'"),
    (lambda: np.einsum("ij,jk", ad.ones((2, 3)), ad.ones((4, 2))), ValueError,
     r"^einsum: .*\(2, 3\) float64, \(4, 2\) float64"),
    (lambda: np.einsum(ad.ones(2), [52]), ValueError, r"^einsum: subscript 52"),
    (lambda: np.tensordot(ad.ones((2, 3)), ad.ones((2, 3)), 1), ValueError,
     r"^tensordot: shape mismatch"),
    (lambda: np.tensordot(ad.ones((2, 3)), ad.ones((3, 2)), 3), ValueError,
     r"^tensordot: axes=3 exceeds"),
    (lambda: np.tensordot(ad.ones((2, 3)), ad.ones((3, 2)), "x"), TypeError, r"^tensordot: axes"),
    (lambda: np.tensordot(ad.ones((2, 3)), ad.ones((3, 2)), ([1, 1], [0, 1])), ValueError,
     r"^tensordot: repeated axis"),
    (lambda: np.tensordot(ad.ones((2, 3)), ad.ones((3, 2)), ([5], [0])), ValueError,
     r"^tensordot: axis 5 is out of bounds"),
    (lambda: np.inner(ad.ones(3), ad.ones(4)), ValueError, r"^inner: shapes \(3,\) and \(4,\)"),
    (lambda: np.dot(ad.ones((2, 3)), ad.ones((2, 4, 5))), ValueError, r"^dot: shapes"),
    (lambda: np.vdot(ad.ones(3), ad.ones(4)), ValueError, r"^vdot: "),
    (lambda: np.cross(ad.ones(4), ad.ones(3)), ValueError, r"^cross: vectors of 4 and 3"),
    (lambda: np.cross(ad.ones((2, 3)), ad.ones((4, 3))), ValueError, r"^cross: shapes"),
    (lambda: np.cross(ad.ones(3), ad.ones(3), axisc=2), ValueError, r"^cross: axis 2"),
    (lambda: np.diag(ad.ones((2, 2, 2))), ValueError, r"^diag: .*\(2, 2, 2\)"),
    (lambda: np.trace(ad.ones(3)), ValueError, r"^trace: .*\(3,\)"),
    (lambda: np.trace(ad.ones((3, 3)), axis1=1, axis2=1), ValueError, r"^trace: repeated"),
    (lambda: np.linalg.diagonal(ad.ones(3)), ValueError, r"^diagonal: .*\(3,\)"),
    (lambda: np.tril(ad.tensor(1.0)), ValueError, r"^tril: "),
    (lambda: np.linalg.norm(ad.ones(3), "fro"), ValueError, r"^norm: invalid order 'fro'"),
    (lambda: np.linalg.norm(ad.ones((2, 2)), 3), ValueError, r"^norm: invalid order 3"),
    (lambda: np.linalg.norm(ad.ones((2, 2)), "nuc"), TypeError, r"^norm: ord='nuc'"),
    (lambda: np.linalg.norm(ad.ones((2, 2)), -2), TypeError, r"^norm: ord=-2"),
    (lambda: np.linalg.norm(ad.ones((2, 2, 2)), axis=(0, 1, 2)), ValueError, r"^norm: axis="),
    (lambda: np.linalg.norm(ad.ones((2, 2)), axis=(1, -1)), ValueError, r"^norm: repeated"),
    (lambda: np.linalg.outer(ad.ones((2, 2)), ad.ones(2)), ValueError, r"^linalg.outer: "),
    (lambda: np.linalg.cross(ad.ones(2), ad.ones(2)), ValueError, r"^linalg.cross: "),
    (lambda: np.linalg.vecdot(ad.ones(3), ad.ones(2)), ValueError, r"^vecdot: "),
    (lambda: np.linalg.matrix_transpose(ad.ones(3)), ValueError, r"^matrix_transpose: "),
    (lambda: np.einsum("i", ad.ones(2), dtype=np.float32), TypeError,
     r"^numpy.einsum: dtype=.*not supported"),
    (lambda: np.trace(ad.ones((2, 2)), dtype=np.float32), TypeError,
     r"^numpy.trace: dtype=.*not supported"),
    (lambda: np.linalg.trace(ad.ones((2, 2)), dtype=np.float32), TypeError,
     r"^numpy.linalg.trace: dtype="),
    (lambda: np.outer(ad.ones(2, requires_grad=True), ad.ones(2), out=np.zeros((2, 2))),
     TypeError, r"^numpy.outer: out= an ndarray"),
    (lambda: np.linalg.svd(ad.ones((2, 2))), TypeError, r"^numpy.linalg.svd is not implemented"),
]


@pytest.mark.parametrize("call, error, match", ERRORS, ids=[e[2] for e in ERRORS])
def test_bad_input_raises_naming_the_function(call, error, match, backend):
    with pytest.raises(error, match=match):
        call()


def test_keywords_at_their_default_are_accepted(backend):
    t = ad.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for out, expected in [
        (np.einsum("ij->i", t, out=None, dtype=None, order="K", casting="safe"), [3.0, 7.0]),
        (np.trace(t, 0, 0, 1, None, None), 5.0),
        (np.outer(t[0], t[1], out=None), [[3.0, 4.0], [6.0, 8.0]]),
        (np.linalg.trace(t, dtype=None), 5.0),
    ]:
        assert out.requires_grad
        np.testing.assert_array_equal(out.numpy(), expected)

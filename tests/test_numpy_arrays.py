"""numpy's reductions and its shape and indexing functions on Tensors.

Every row is one call written once for a module ``m``: ``m = np`` on arrays is numpy
itself (the reference), ``m = np`` on Tensors goes through ``__array_function__`` to a
pyautodiff op, and ``m = ad`` calls pyautodiff directly (rows that use numpy's
positional forms give the pyautodiff call separately). Each row is checked on both
backends: values and dtypes (float64 and float32) against numpy, a result that
records, and the gradients of both calls against central differences of numpy's own
function. The shapes are HIPS autograd's (scalars, (2,), (3, 2), (1, 2), 3-d), the
reductions over every axis form (None, each int, negative, tuples) with and without
``keepdims``.

Then what a row cannot say: gradients of ``prod`` and ``cumprod`` at zeros (and their
second derivatives) against closed forms and PyTorch, second derivatives of the
composites, 70000-element inputs against closed-form gradients, the lists that
``split`` and ``atleast_*`` return, bad input, numpy's knobs, and plain ndarrays.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from cases import grid, nonzero, real
from gradcheck_helper import analytic_gradients, numeric_gradients, weights_for

import pyautodiff as ad


@dataclass(frozen=True)
class Row:
    name: str  # numpy's name, as ad.numpy_functions() lists it (without "numpy.")
    desc: str
    fn: Callable  # fn(m, *xs): m is np or ad
    inputs: tuple  # (domain, shape) per input
    ad_fn: Callable = None  # the pyautodiff call, when it is not fn(ad, ...)

    @property
    def id(self):
        return f"{self.name}-{self.desc}"

    def numpy(self, *xs):
        return self.fn(np, *xs)

    def pyautodiff(self, *xs):
        return self.ad_fn(*xs) if self.ad_fn else self.fn(ad, *xs)

    def arrays(self, rng):
        return [dom(rng, shape) for dom, shape in self.inputs]


ROWS = []


def row(name, desc, fn, *inputs, ad_fn=None):
    ROWS.append(Row(name, desc, fn, inputs, ad_fn))


def _axis_str(axis):
    return "(" + ",".join(map(str, axis)) + ")" if isinstance(axis, tuple) else str(axis)


def _shape_str(shape):
    return "x".join(map(str, shape)) if shape else "0d"


# ----- reductions: every axis form, with and without keepdims -------------------------------

# Every axis form on (3, 2); a few on the other shapes.
AXES = {
    (): [None],
    (2,): [None, -1],
    (3, 2): [None, 0, 1, -1, -2, (0, 1), (-1, 0)],
    (1, 2): [0, (1, 0)],
    (2, 3, 2): [1, (0, 2), (-1, 0)],
}
REDUCTIONS = [("sum", real), ("mean", real), ("prod", nonzero), ("max", grid), ("min", grid),
              ("var", real), ("std", real), ("nansum", real), ("average", real)]

for _name, _dom in REDUCTIONS:
    for _shape, _axes in AXES.items():
        for _axis in _axes:
            for _kd in (False, True):
                row(_name, f"{_shape_str(_shape)}-axis{_axis_str(_axis)}-keepdims{_kd}",
                    lambda m, x, f=_name, a=_axis, k=_kd: getattr(m, f)(x, axis=a, keepdims=k),
                    (_dom, _shape))

for _name, _dom in (("cumsum", real), ("cumprod", nonzero)):
    for _shape, _axes in AXES.items():
        for _axis in dict.fromkeys([None, *range(len(_shape)), *range(-len(_shape), 0)]):
            row(_name, f"{_shape_str(_shape)}-axis{_axis_str(_axis)}",
                lambda m, x, f=_name, a=_axis: getattr(m, f)(x, axis=a), (_dom, _shape))

for _name in ("var", "std"):
    for _axis in (None, 0, (-1, 0)):
        row(_name, f"3x2-ddof1-axis{_axis_str(_axis)}",
            lambda m, x, f=_name, a=_axis: getattr(m, f)(x, axis=a, ddof=1), (real, (3, 2)))

# numpy's positional forms, and the ufunc methods.
row("sum", "positional-keepdims", lambda m, x: m.sum(x, (0, -1), None, None, True),
    (real, (2, 3, 2)), ad_fn=lambda x: ad.sum(x, axis=(0, -1), keepdims=True))
row("mean", "positional-keepdims", lambda m, x: m.mean(x, (1, 0), None, None, True),
    (real, (3, 2)), ad_fn=lambda x: ad.mean(x, axis=(0, 1), keepdims=True))
row("prod", "positional-keepdims", lambda m, x: m.prod(x, -1, None, None, True),
    (nonzero, (3, 2)), ad_fn=lambda x: ad.prod(x, axis=-1, keepdims=True))
row("max", "positional-keepdims", lambda m, x: m.max(x, 1, None, True), (grid, (3, 2)),
    ad_fn=lambda x: ad.max(x, axis=1, keepdims=True))
row("amin", "positional-keepdims", lambda m, x: m.amin(x, -1, None, True), (grid, (3, 2)),
    ad_fn=lambda x: ad.min(x, axis=-1, keepdims=True))
row("var", "positional-ddof", lambda m, x: m.var(x, 1, None, None, 1), (real, (3, 2)),
    ad_fn=lambda x: ad.var(x, axis=1, ddof=1))
row("std", "positional-ddof-keepdims", lambda m, x: m.std(x, 0, None, None, 1, True),
    (real, (3, 2)), ad_fn=lambda x: ad.std(x, axis=0, ddof=1, keepdims=True))
row("nansum", "positional-keepdims", lambda m, x: m.nansum(x, 1, None, None, True),
    (real, (3, 2)), ad_fn=lambda x: ad.nansum(x, axis=1, keepdims=True))
row("cumsum", "positional", lambda m, x: m.cumsum(x, -1), (real, (3, 2)))
row("cumprod", "positional", lambda m, x: m.cumprod(x, 0), (nonzero, (3, 2)))
row("multiply.reduce", "default-axis0", lambda m, x: np.multiply.reduce(x), (nonzero, (3, 2)),
    ad_fn=lambda x: ad.prod(x, axis=0))
row("multiply.reduce", "axis-tuple", lambda m, x: np.multiply.reduce(x, axis=(0, 1)),
    (nonzero, (3, 2)), ad_fn=ad.prod)
row("add.accumulate", "axis1", lambda m, x: np.add.accumulate(x, 1), (real, (3, 2)),
    ad_fn=lambda x: ad.cumsum(x, axis=1))
row("multiply.accumulate", "default-axis0", lambda m, x: np.multiply.accumulate(x),
    (nonzero, (3, 2)), ad_fn=lambda x: ad.cumprod(x, axis=0))

# average with weights: of x's shape, 1-d along one axis, along a tuple of axes (given out
# of order), as a Tensor (which gets a gradient) or an ndarray; and returned=True.
W2 = np.array([0.3, 1.7])
for _desc, _fn, _inputs in [
    ("weights-same-shape", lambda m, x, w: m.average(x, weights=w), ((3, 2), (3, 2))),
    ("weights-same-shape-axis0-keepdims",
     lambda m, x, w: m.average(x, 0, w, keepdims=True), ((3, 2), (3, 2))),
    ("weights-1d-axis1", lambda m, x, w: m.average(x, axis=1, weights=w), ((3, 2), (2,))),
    ("weights-1d-axis-negative", lambda m, x, w: m.average(x, axis=-2, weights=w),
     ((3, 2), (3,))),
    ("weights-axis-tuple-reversed", lambda m, x, w: m.average(x, axis=(2, 0), weights=w),
     ((2, 3, 4), (4, 2))),
    ("weights-axis-tuple-keepdims",
     lambda m, x, w: m.average(x, axis=(0, 2), weights=w, keepdims=True),
     ((2, 3, 4), (2, 4))),
    ("returned-average", lambda m, x, w: m.average(x, 1, w, True)[0], ((3, 2), (2,))),
    ("returned-sum-of-weights", lambda m, x, w: m.average(x, 1, w, True)[1], ((3, 2), (2,))),
    ("weights-0d-1d", lambda m, x, w: m.average(x, weights=w), ((2,), (2,))),
]:
    # positive weights: their sum stays away from zero
    row("average", _desc, _fn, (real, _inputs[0]), (lambda r, s: r.uniform(0.5, 2.0, s),
                                                    _inputs[1]))
row("average", "ndarray-weights-axis1", lambda m, x: m.average(x, axis=1, weights=W2),
    (real, (3, 2)))


# ----- shape functions --------------------------------------------------------------------

def shape_rows(name, dom, *cases):
    for desc, fn, shape in cases:
        row(name, desc, fn, (dom, shape))


shape_rows("reshape", real,
           ("tuple", lambda m, x: m.reshape(x, (2, -1)), (3, 2)),
           ("int", lambda m, x: m.reshape(x, -1), (3, 2)),
           ("0d-to-1x1", lambda m, x: m.reshape(x, (1, 1)), ()))
shape_rows("ravel", real, ("3d", lambda m, x: m.ravel(x), (2, 3, 2)),
           ("0d", lambda m, x: m.ravel(x), ()))
shape_rows("transpose", real,
           ("default", lambda m, x: m.transpose(x), (2, 3, 2)),
           ("tuple", lambda m, x: m.transpose(x, (1, 0, 2)), (2, 3, 2)),
           ("negative", lambda m, x: m.transpose(x, (-1, 0, -2)), (2, 3, 2)),
           ("1x2", lambda m, x: m.transpose(x), (1, 2)))
shape_rows("moveaxis", real,
           ("0-to-last", lambda m, x: m.moveaxis(x, 0, -1), (2, 3, 2)),
           ("negative-to-0", lambda m, x: m.moveaxis(x, -1, 0), (2, 3, 2)),
           ("tuples", lambda m, x: m.moveaxis(x, (0, 1), (2, 0)), (2, 3, 2)),
           ("2d", lambda m, x: m.moveaxis(x, 1, 0), (3, 2)))
shape_rows("swapaxes", real,
           ("0-negative", lambda m, x: m.swapaxes(x, 0, -1), (2, 3, 2)),
           ("1x2", lambda m, x: m.swapaxes(x, -2, 1), (1, 2)))
shape_rows("squeeze", real,
           ("all", lambda m, x: m.squeeze(x), (1, 3, 1)),
           ("axis0", lambda m, x: m.squeeze(x, 0), (1, 3, 1)),
           ("tuple", lambda m, x: m.squeeze(x, axis=(0, 2)), (1, 3, 1)),
           ("negative", lambda m, x: m.squeeze(x, -1), (1, 3, 1)),
           ("1x2", lambda m, x: m.squeeze(x, axis=0), (1, 2)))
shape_rows("expand_dims", real,
           ("0", lambda m, x: m.expand_dims(x, 0), (3, 2)),
           ("negative", lambda m, x: m.expand_dims(x, -1), (3, 2)),
           ("tuple", lambda m, x: m.expand_dims(x, (0, -1)), (3, 2)),
           ("0d", lambda m, x: m.expand_dims(x, 0), ()))
shape_rows("broadcast_to", real,
           ("3x1-to-2x3x4", lambda m, x: m.broadcast_to(x, (2, 3, 4)), (3, 1)),
           ("0d-to-2", lambda m, x: m.broadcast_to(x, (2,)), ()),
           ("1x2-to-3x2", lambda m, x: m.broadcast_to(x, (3, 2)), (1, 2)))
shape_rows("repeat", real,
           ("int-flattens", lambda m, x: m.repeat(x, 2), (3, 2)),
           ("counts-axis0", lambda m, x: m.repeat(x, [1, 3, 0], axis=0), (3, 2)),
           ("int-axis-negative", lambda m, x: m.repeat(x, 3, -1), (1, 2)),
           ("0d", lambda m, x: m.repeat(x, 2), ()))
shape_rows("tile", real,
           ("int", lambda m, x: m.tile(x, 2), (2,)),
           ("more-reps-than-dims", lambda m, x: m.tile(x, (2, 1, 2)), (3, 2)),
           ("fewer-reps-than-dims", lambda m, x: m.tile(x, (2,)), (1, 2)),
           ("0d", lambda m, x: m.tile(x, (2, 2)), ()),
           ("zero-reps", lambda m, x: m.tile(x, (0, 2)), (3, 2)))
shape_rows("flip", real,
           ("all", lambda m, x: m.flip(x), (2, 3, 2)),
           ("axis0", lambda m, x: m.flip(x, 0), (3, 2)),
           ("negative", lambda m, x: m.flip(x, axis=-1), (3, 2)),
           ("tuple", lambda m, x: m.flip(x, (0, 2)), (2, 3, 2)),
           ("1d", lambda m, x: m.flip(x), (2,)),
           ("0d", lambda m, x: m.flip(x), ()))
shape_rows("roll", real,
           ("1d", lambda m, x: m.roll(x, 1), (2,)),
           ("flattened", lambda m, x: m.roll(x, -1), (3, 2)),
           ("axis0-beyond-length", lambda m, x: m.roll(x, 5, axis=0), (3, 2)),
           ("tuples", lambda m, x: m.roll(x, (1, -1), axis=(0, -1)), (2, 3, 2)),
           ("same-axis-twice", lambda m, x: m.roll(x, (1, 1), axis=(1, 1)), (2, 3, 2)),
           ("zero", lambda m, x: m.roll(x, 0, 1), (1, 2)))
shape_rows("diff", real,
           ("1d", lambda m, x: m.diff(x), (4,)),
           ("n2-axis0", lambda m, x: m.diff(x, 2, 0), (4, 3)),
           ("prepend-number", lambda m, x: m.diff(x, axis=-1, prepend=0.5), (3, 2)),
           ("append-array", lambda m, x: m.diff(x, axis=0, append=np.ones((1, 2))), (3, 2)),
           ("n0", lambda m, x: m.diff(x, 0), (3, 2)),
           ("n0-ignores-prepend", lambda m, x: m.diff(x, 0, prepend=1.0), (3, 2)),
           ("n-beyond-length", lambda m, x: m.diff(x, 3), (1, 2)))
row("diff", "prepend-tensor", lambda m, x, p: m.diff(x, axis=0, prepend=p),
    (real, (3, 2)), (real, (1, 2)))
shape_rows("sort", grid,
           ("1d", lambda m, x: m.sort(x), (5,)),
           ("axis0", lambda m, x: m.sort(x, 0), (3, 2)),
           ("default-last", lambda m, x: m.sort(x), (2, 3, 2)),
           ("none-flattens", lambda m, x: m.sort(x, axis=None), (3, 2)),
           ("0d-axis-none", lambda m, x: m.sort(x, axis=None), ()))
row("sort", "kind", lambda m, x: np.sort(x, kind="heapsort"), (grid, (3, 2)), ad_fn=ad.sort)
row("sort", "stable", lambda m, x: np.sort(x, 0, stable=True), (grid, (3, 2)),
    ad_fn=lambda x: ad.sort(x, 0))
shape_rows("clip", grid,
           ("both", lambda m, x: m.clip(x, -0.3, 0.5), (3, 2)),
           ("hi-none", lambda m, x: m.clip(x, -0.3, None), (2, 3, 2)),
           ("0d", lambda m, x: m.clip(x, -0.3, 0.5), ()))
row("clip", "tensor-bounds", lambda m, x, lo, hi: m.clip(x, lo, hi),
    (grid, (3, 2)), (lambda r, s: np.full(s, -0.3), (2,)), (lambda r, s: np.full(s, 0.5), ()))

COND32 = np.array([[True, False], [False, True], [True, True]])
row("where", "broadcast", lambda m, x, y: m.where(COND32, x, y), (real, (3, 2)), (real, (1, 2)))
row("where", "scalar-branch", lambda m, x: m.where(COND32[0], x, 0.5), (real, (2,)))
row("where", "0d-branches", lambda m, x, y: m.where(COND32, x, y), (real, ()), (real, ()))
row("where", "tensor-condition", lambda m, x: m.where(x > 0, x, -x), (nonzero, (3, 2)))

shape_rows("take", real,
           ("flattened-repeated", lambda m, x: m.take(x, [0, 5, 5, -1]), (3, 2)),
           ("axis1", lambda m, x: m.take(x, [[1, 0]], axis=1), (3, 2)),
           ("scalar-index", lambda m, x: m.take(x, -1), (2,)),
           ("scalar-index-axis0", lambda m, x: m.take(x, 1, 0), (3, 2)),
           ("wrap", lambda m, x: m.take(x, [5, -4], axis=0, mode="wrap"), (3, 2)),
           ("clip", lambda m, x: m.take(x, [5, -4, 1], mode="clip"), (2, 3, 2)),
           ("empty", lambda m, x: m.take(x, []), (3, 2)))
IDX32 = np.array([[1, 1], [0, 2], [2, 0]])
shape_rows("take_along_axis", real,
           ("axis0-repeated", lambda m, x: m.take_along_axis(x, IDX32, axis=0), (3, 2)),
           ("axis-negative", lambda m, x: m.take_along_axis(x, IDX32[:, :1] % 2, -1), (3, 2)),
           ("broadcast", lambda m, x: m.take_along_axis(x, IDX32[:1], axis=0), (3, 2)),
           ("none", lambda m, x: m.take_along_axis(x, np.array([5, 0, 0]), None), (3, 2)))
shape_rows("pad", real,
           ("constant-1d", lambda m, x: m.pad(x, 1), (2,)),
           ("constant-pairs-value", lambda m, x: m.pad(x, ((1, 0), (2, 1)), constant_values=0.5),
            (3, 2)),
           ("constant-per-axis-values",
            lambda m, x: m.pad(x, (1, 2), "constant", constant_values=((1.0, 2.0), (3.0, 4.0))),
            (3, 2)),
           ("edge", lambda m, x: m.pad(x, ((2, 1), (0, 2)), mode="edge"), (3, 2)),
           ("reflect", lambda m, x: m.pad(x, 2, mode="reflect"), (3, 2)),
           ("reflect-length-1", lambda m, x: m.pad(x, 2, mode="reflect"), (1, 2)),
           ("symmetric", lambda m, x: m.pad(x, (3, 1), mode="symmetric"), (2, 3, 2)),
           ("wrap", lambda m, x: m.pad(x, ((0, 4), (1, 1)), "wrap"), (3, 2)),
           ("0d", lambda m, x: m.pad(x, 0), ()))

# Joining: several tensors (each gets its gradient), of the shapes numpy joins.
for _name, _desc, _fn, _shapes in [
    ("concatenate", "axis-negative", lambda m, x, y: m.concatenate([x, y], axis=-1),
     ((3, 2), (3, 1))),
    ("concatenate", "axis-none", lambda m, x, y: m.concatenate((x, y), axis=None),
     ((3, 2), (2,))),
    ("stack", "axis-negative", lambda m, x, y: m.stack([x, y], axis=-1), ((3, 2), (3, 2))),
    ("stack", "1d-axis1", lambda m, x, y: m.stack((x, y), 1), ((2,), (2,))),
    ("vstack", "1d", lambda m, x, y: m.vstack([x, y]), ((2,), (2,))),
    ("vstack", "2d", lambda m, x, y: m.vstack((x, y)), ((3, 2), (1, 2))),
    ("vstack", "0d", lambda m, x, y: m.vstack([x, y]), ((), ())),
    ("hstack", "1d", lambda m, x, y: m.hstack([x, y]), ((2,), (3,))),
    ("hstack", "2d", lambda m, x, y: m.hstack((x, y)), ((3, 2), (3, 1))),
    ("hstack", "0d-1d", lambda m, x, y: m.hstack([x, y]), ((), (2,))),
    ("column_stack", "1d", lambda m, x, y: m.column_stack([x, y]), ((2,), (2,))),
    ("column_stack", "2d-1d", lambda m, x, y: m.column_stack((x, y)), ((3, 2), (3,))),
    ("dstack", "2d", lambda m, x, y: m.dstack([x, y]), ((3, 2), (3, 2))),
    ("dstack", "1d-1x2", lambda m, x, y: m.dstack([x, y]), ((2,), (1, 2))),
]:
    row(_name, _desc, _fn, *((real, s) for s in _shapes))


def _weighted(m, parts):
    """The parts joined into one tensor, each scaled differently (so a gradient sent to the
    wrong part shows)."""
    return m.concatenate([m.ravel(p) * (k + 1.0) for k, p in enumerate(parts)])


for _name, _desc, _fn, _shape in [
    ("split", "sections", lambda m, x: _weighted(m, m.split(x, 3)), (3, 2)),
    ("split", "indices-axis1", lambda m, x: _weighted(m, m.split(x, [1, 3], axis=1)), (2, 5)),
    ("split", "indices-beyond-and-negative",
     lambda m, x: _weighted(m, m.split(x, [-1, 9], -1)), (2, 3)),
    ("array_split", "unequal", lambda m, x: _weighted(m, m.array_split(x, 3)), (4, 2)),
    ("array_split", "more-sections-than-length",
     lambda m, x: _weighted(m, m.array_split(x, 3, axis=0)), (2,)),
]:
    row(_name, _desc, _fn, (real, _shape))
for _name in ("atleast_1d", "atleast_2d", "atleast_3d"):
    for _shape in ((), (2,), (3, 2), (2, 3, 2)):
        row(_name, _shape_str(_shape), lambda m, x, f=_name: getattr(m, f)(x), (real, _shape))
    row(_name, "several", lambda m, x, y, z, f=_name: _weighted(m, getattr(m, f)(x, y, z)),
        (real, ()), (real, (2,)), (real, (3, 2)))

ROW_IDS = [r.id for r in ROWS]
assert len(set(ROW_IDS)) == len(ROW_IDS), "duplicate row ids"
# What this part registered (test_numpy_dispatch checks the whole list is tested).
TESTED = {f"numpy.{r.name}" for r in ROWS}


def _tensors(arrays, dtype=np.float64):
    return [ad.Tensor(a, requires_grad=True, dtype=dtype) for a in arrays]


def _check_value(got, want, dtype):
    assert isinstance(got, ad.Tensor), f"expected a Tensor, got {type(got).__name__}"
    assert got.requires_grad  # (atleast_1d gives a tensor with enough dims back itself)
    assert got.shape == want.shape and got.dtype == want.dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("r", ROWS, ids=ROW_IDS)
def test_function_matches_numpy_both_ways_with_its_gradient(r, backend, rng):
    arrays = r.arrays(rng)
    for dtype in (np.float64, np.float32):
        cast = [a.astype(dtype) for a in arrays]
        want = np.asarray(r.numpy(*cast))  # numpy itself, on the arrays
        _check_value(r.numpy(*_tensors(cast, dtype)), want, dtype)  # np.<name>(tensor)
        _check_value(r.pyautodiff(*_tensors(cast, dtype)), want, dtype)  # ad.<name>(tensor)
    # Both calls' gradients against central differences of numpy's function.
    w = weights_for(np.shape(r.numpy(*arrays)))
    numeric = numeric_gradients(r.numpy, arrays, w)
    for call in (r.numpy, r.pyautodiff):
        _, analytic = analytic_gradients(call, arrays, w)
        for i, (a, n) in enumerate(zip(analytic, numeric)):
            np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-7,
                                       err_msg=f"gradient of input {i}: analytic vs numeric")


# ----- second derivatives: a Hessian-vector product through each function ----------------

# The first row of each function: L(x) = sum(w * f(x)^3) makes even a linear f's Hessian
# nonzero, so its VJP must record (create_graph) to get it right.
HVP_ROWS = list({r.name: r for r in reversed(ROWS)}.values())
HVP_EPS = 1e-5  # error ~ eps^2 |L''''| + 1e-16 |grad L| / eps: about 1e-10 here


def _cubed_loss(r, w):
    return lambda *xs: (r.numpy(*xs) ** 3 * w).sum()


@pytest.mark.parametrize("r", HVP_ROWS, ids=[r.id for r in HVP_ROWS])
def test_second_derivative_matches_differences_of_the_gradient(r, backend, rng):
    arrays = r.arrays(rng)
    loss = _cubed_loss(r, weights_for(np.shape(r.numpy(*arrays))))
    vs = [rng.standard_normal(a.shape) for a in arrays]
    xs = _tensors(arrays)
    loss(*xs).backward(create_graph=True)
    terms = [(x.grad * v).sum() for x, v in zip(xs, vs)]
    for x in xs:
        x.grad = None
    sum(terms[1:], terms[0]).backward()
    grads = [ad.grad(loss, argnums=tuple(range(len(arrays))))(
        *[a + s * HVP_EPS * v for a, v in zip(arrays, vs)]) for s in (1, -1)]
    for i, x in enumerate(xs):
        numeric = (grads[0][i].numpy() - grads[1][i].numpy()) / (2 * HVP_EPS)
        np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-7,
                                   err_msg=f"Hessian-vector product, input {i}")


# ----- prod and cumprod at zeros: exact gradients, to the third order --------------------

def _mixed_partial(f, a, idxs):
    """d^k f / dx_i1 ... dx_ik at ``a`` for a multilinear ``f`` (of degree at most one in
    each element, as weighted sums of products are): exact, by inclusion-exclusion over
    the values 0 and 1 of those elements; 0 if an element repeats."""
    if len(set(idxs)) < len(idxs):
        return 0.0
    total = 0.0
    for bits in itertools.product((0.0, 1.0), repeat=len(idxs)):
        b = a.copy()
        for i, v in zip(idxs, bits):
            b[i] = v
        total += (-1) ** (len(idxs) - sum(bits)) * f(b)
    return total


def _derivatives(f, a, order):
    idx = list(np.ndindex(a.shape))
    d = np.array([_mixed_partial(f, a, c) for c in itertools.product(idx, repeat=order)])
    return d.reshape(a.shape * order)


ZEROS = {
    "one-zero": np.array([[1.5, 0.0, -2.0], [0.5, 3.0, 1.25]]),
    "two-zeros": np.array([[0.0, 0.7, 0.0], [-1.5, 3.0, 1.25]]),
    "zeros-in-two-groups": np.array([[0.0, 0.7, 0.0], [0.0, 3.0, 1.25]]),
    "all-zeros": np.zeros((2, 3)),
}
MULTILINEAR = {
    "prod-all": (lambda m, x: m.prod(x), None),
    "prod-axis1": (lambda m, x: m.prod(x, axis=1), (2,)),
    "prod-axis0-keepdims": (lambda m, x: m.prod(x, 0, keepdims=True), (1, 3)),
    "prod-axis-tuple": (lambda m, x: m.prod(x, axis=(1, 0)), None),
    "cumprod-flattened": (lambda m, x: m.cumprod(x), (6,)),
    "cumprod-axis1": (lambda m, x: m.cumprod(x, axis=1), (2, 3)),
    "cumprod-axis0": (lambda m, x: m.cumprod(x, 0), (2, 3)),
}


WEIGHTS4 = weights_for((4,))


def _weighted_loss(m, fn, out_shape):
    w = 1.0 if out_shape is None else weights_for(out_shape)
    return lambda x: (fn(m, x) * w).sum()


@pytest.mark.parametrize("zeros", ZEROS, ids=list(ZEROS))
@pytest.mark.parametrize("name", MULTILINEAR)
def test_prod_and_cumprod_derivatives_at_zeros_are_exact(name, zeros, backend):
    fn, out_shape = MULTILINEAR[name]
    a = ZEROS[zeros]
    f_ad = _weighted_loss(np, fn, out_shape)  # np.* on Tensors: dispatched
    f_np = _weighted_loss(np, fn, out_shape)  # on arrays: numpy, the reference
    np.testing.assert_allclose(ad.grad(f_ad)(a).numpy(), _derivatives(f_np, a, 1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ad.hessian(f_ad)(a).numpy(), _derivatives(f_np, a, 2),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", [lambda m, x: m.prod(x), lambda m, x: m.cumprod(x) * WEIGHTS4],
                         ids=["prod", "cumprod"])
def test_prod_and_cumprod_third_derivatives_at_two_zeros_are_exact(fn, backend):
    a = np.array([0.0, 1.5, 0.0, -2.0])
    np.testing.assert_allclose(ad.jacobian(ad.hessian(lambda x: fn(np, x).sum()))(a).numpy(),
                               _derivatives(lambda x: fn(np, x).sum(), a, 3), rtol=1e-12, atol=1e-12)


TORCH = {
    "prod-all": lambda torch, x: torch.prod(x),
    "prod-axis1": lambda torch, x: torch.prod(x, 1),
    "prod-axis0-keepdims": lambda torch, x: torch.prod(x, 0, keepdim=True),
    "prod-axis-tuple": lambda torch, x: torch.prod(x.reshape(-1)),
    "cumprod-flattened": lambda torch, x: torch.cumprod(x.reshape(-1), 0),
    "cumprod-axis1": lambda torch, x: torch.cumprod(x, 1),
    "cumprod-axis0": lambda torch, x: torch.cumprod(x, 0),
}


@pytest.mark.parametrize("zeros", ZEROS, ids=list(ZEROS))
@pytest.mark.parametrize("name", MULTILINEAR)
def test_prod_and_cumprod_derivatives_at_zeros_match_torch(name, zeros, backend):
    torch = pytest.importorskip("torch")
    fn, out_shape = MULTILINEAR[name]
    a = ZEROS[zeros]
    w = torch.tensor(1.0 if out_shape is None else weights_for(out_shape), dtype=torch.float64)
    f = _weighted_loss(ad, fn, out_shape)
    x = torch.tensor(a, requires_grad=True)
    (g,) = torch.autograd.grad((TORCH[name](torch, x) * w).sum(), x, create_graph=True)
    np.testing.assert_allclose(ad.grad(f)(a).numpy(), g.detach().numpy(), rtol=1e-12, atol=0)
    if zeros == "zeros-in-two-groups" and name.endswith("axis1"):
        # (one Hessian each: torch's double backward of prod at zeros takes 0.3 s)
        h = torch.stack([torch.autograd.grad(gi, x, retain_graph=True)[0]
                         for gi in g.reshape(-1)]).reshape(a.shape * 2)
        np.testing.assert_allclose(ad.hessian(f)(a).numpy(), h.numpy(), rtol=1e-12, atol=0)


# ----- 70000 elements: the C kernels, the fused backward, and closed-form gradients --------

def _revcumsum(w):
    return np.cumsum(w[::-1])[::-1]


def _cumprod_grad(w, x):
    # sum over i >= k of w_i prod_{j <= i, j != k} x_j = (prod_{j < k} x_j) h_k, with
    # h_k = w_k + x_{k+1} h_{k+1}: a recursion, no division (so zeros are no matter).
    h = np.empty_like(w)
    h[-1] = w[-1]
    for k in range(len(w) - 2, -1, -1):
        h[k] = w[k] + x[k + 1] * h[k + 1]
    return np.concatenate([[1.0], np.cumprod(x[:-1])]) * h


def _near_one_with_zeros(rng, n):
    x = rng.uniform(0.999, 1.001, n)  # products of 70000 of them stay O(1)
    x[[n // 3, 2 * n // 3]] = 0.0
    return x


def _scattered(w, index, n):
    g = np.zeros(n)
    np.add.at(g, index, w)
    return g


BIG = [
    # (desc, f(m, x), x(rng, n), the gradient of sum(w * f(x)) as a closed form)
    ("cumsum", lambda m, x: m.cumsum(x), real, lambda w, x: _revcumsum(w)),
    ("cumprod-with-zeros", lambda m, x: m.cumprod(x), _near_one_with_zeros, _cumprod_grad),
    ("prod-axis1-with-zeros", lambda m, x: m.prod(m.reshape(x, (-1, 2)), axis=1),
     lambda r, n: _near_one_with_zeros(r, 2 * n),
     lambda w, x: (w[:, None] * x.reshape(-1, 2)[:, ::-1]).ravel()),
    ("sort", lambda m, x: m.sort(x), real, lambda w, x: w[np.argsort(np.argsort(x))]),
    ("take-repeated", lambda m, x: m.take(x, np.arange(len(x)) // 2 * 2),
     real, lambda w, x: _scattered(w, np.arange(len(x)) // 2 * 2, len(x))),
    ("roll", lambda m, x: m.roll(x, 2), real, lambda w, x: np.roll(w, -2)),
    ("flip", lambda m, x: m.flip(x), real, lambda w, x: w[::-1]),
    ("pad", lambda m, x: m.pad(x, (2, 3), constant_values=1.5), real,
     lambda w, x: w[2:-3]),
    ("diff", lambda m, x: m.diff(x), real,
     lambda w, x: np.concatenate([[0.0], w]) - np.concatenate([w, [0.0]])),
    ("repeat", lambda m, x: m.repeat(x, 2), real, lambda w, x: w[::2] + w[1::2]),
    ("std", lambda m, x: m.std(x), real,
     lambda w, x: w * (x - x.mean()) / (len(x) * x.std())),
]


@pytest.mark.parametrize("desc, fn, make, grad", BIG, ids=[b[0] for b in BIG])
def test_large_inputs_value_and_gradient(desc, fn, make, grad, size, rng):
    a = make(rng, size)
    want = fn(np, a)
    w = weights_for(np.shape(want))
    for m in (np, ad):
        x = ad.tensor(a, requires_grad=True)
        out = fn(m, x)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-12, atol=1e-12)
        out.backward(w)
        np.testing.assert_allclose(x.grad.numpy(), grad(w, a), rtol=1e-10, atol=1e-12)


# ----- what a row cannot say ----------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda m, x: m.split(x, 3),
    lambda m, x: m.split(x, [1, 3], axis=1),
    lambda m, x: m.array_split(x, 4, axis=-1),
    lambda m, x: m.array_split(x, [2]),
    lambda m, x: m.atleast_2d(x, x[0], x[0, 0]),
    lambda m, x: m.atleast_3d(x, x[0]),
], ids=["split", "split-indices", "array_split", "array_split-indices", "atleast_2d",
        "atleast_3d"])
def test_functions_returning_several_tensors(call, backend, rng):
    a = rng.standard_normal((3, 4))
    want = call(np, a)
    for m in (np, ad):
        got = call(m, ad.tensor(a, requires_grad=True))
        assert isinstance(got, type(want)) and len(got) == len(want)
        for g, v in zip(got, want):
            assert isinstance(g, ad.Tensor) and g.requires_grad and g.shape == v.shape
            np.testing.assert_array_equal(g.numpy(), v)


def test_split_pieces_send_their_gradients_back(backend, rng):
    a = rng.standard_normal((5, 2))
    x = ad.tensor(a, requires_grad=True)
    pieces = np.array_split(x, 3)
    (pieces[0].sum() * 2.0 + pieces[2].sum() * 3.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [2, 2], [0, 0], [0, 0], [3, 3]])


def test_std_of_one_element_has_zero_gradient(backend):
    # std over groups of one is identically 0: gradient 0 (HIPS autograd's), not 0 / 0.
    x = ad.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    np.std(x, axis=0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 3)))


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), ((0, 1), True)])
def test_average_returned_without_weights_gives_the_count(axis, keepdims, backend, rng):
    a = rng.standard_normal((3, 2))
    x = ad.tensor(a, requires_grad=True)
    avg, count = np.average(x, axis, returned=True, keepdims=keepdims)
    want_avg, want_count = np.average(a, axis, returned=True, keepdims=keepdims)
    np.testing.assert_allclose(avg.numpy(), want_avg, rtol=1e-12)
    assert isinstance(count, ad.Tensor) and not count.requires_grad
    np.testing.assert_array_equal(count.numpy(), want_count)
    assert count.shape == np.shape(want_count)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (0, False), (1, True)])
def test_nansum_counts_nan_as_zero_with_zero_gradient(axis, keepdims, backend):
    a = np.array([[1.0, np.nan, 2.0], [np.nan, 3.0, -4.0]])
    x = ad.tensor(a, requires_grad=True)
    out = np.nansum(x, axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(out.numpy(), np.nansum(a, axis=axis, keepdims=keepdims))
    w = weights_for(out.shape)
    out.backward(w)
    expected = np.broadcast_to(w if keepdims or axis is None else np.expand_dims(w, axis),
                               a.shape) * ~np.isnan(a)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("name, kw", [
    ("prod", {}), ("cumsum", {}), ("cumprod", {}), ("std", {}), ("nansum", {}),
    ("average", {"weights": [1, 2, 3]}), ("sort", {}), ("flip", {}), ("roll", {"shift": 1}),
    ("diff", {}), ("repeat", {"repeats": 2}), ("tile", {"reps": 2}), ("pad", {"pad_width": 1}),
    ("take", {"indices": [2, 0]}), ("atleast_2d", {}), ("moveaxis", {"source": 0,
                                                                     "destination": -1}),
])
@pytest.mark.parametrize("values", [[3, 1, 2], [True, False, True]], ids=["int", "bool"])
def test_integer_and_bool_input_becomes_float64(name, kw, values, backend):
    a = np.array(values)
    out = getattr(ad, name)(a, **kw)
    assert isinstance(out, ad.Tensor) and out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), getattr(np, name)(a.astype(np.float64), **kw))


@pytest.mark.parametrize("call, error, match", [
    (lambda t: ad.cumsum(t, axis=(0, 1)), TypeError, r"^cumsum: axis must be an int"),
    (lambda t: np.cumprod(t, 2), ValueError, r"^cumprod: axis 2 is out of bounds"),
    (lambda t: np.prod(t, axis=(0, -2)), ValueError, r"^prod: repeated axis"),
    (lambda t: np.moveaxis(t, (0, 1), 0), ValueError, r"^moveaxis: source"),
    (lambda t: np.repeat(t, [1, 2, 3], axis=0), ValueError, r"^repeat: .*length 2 along axis 0"),
    (lambda t: np.repeat(t, 1.5), TypeError, r"^repeat: repeats must be integers"),
    (lambda t: np.tile(t, (2, -1)), ValueError, r"^tile: negative"),
    (lambda t: np.tile(t, 1.5), TypeError, r"^tile: reps must be integers"),
    (lambda t: np.roll(t, 1.5), TypeError, r"^roll: shift must be integers"),
    (lambda t: np.roll(t, (1, 2), axis=(0, 1, 1)), ValueError, r"^roll: shift"),
    (lambda t: np.diff(t, -1), ValueError, r"^diff: order n must be non-negative"),
    (lambda t: np.diff(t[0, 0]), ValueError, r"^diff: needs a tensor of at least one dim"),
    (lambda t: np.take(t, [6]), IndexError,
     r"^take: index 6 is out of bounds for axis 0 with size 6"),
    (lambda t: np.take(t, [0.5]), TypeError, r"^take: indices must be integers"),
    (lambda t: np.take(t, t), TypeError, r"^take: indices must be integers, got dtype float64"),
    (lambda t: np.take(t, [0], mode="nearest"), ValueError, r"^take: mode"),
    (lambda t: np.take(t[:, :0], [0], axis=1), IndexError, r"^take: cannot take"),
    (lambda t: np.take_along_axis(t, np.array([0, 1]), 1), ValueError,
     r"^take_along_axis: indices of shape \(2,\)"),
    (lambda t: np.sort(t, axis=2), ValueError, r"^sort: axis 2 is out of bounds"),
    (lambda t: np.flip(t, 2), ValueError, r"^flip: axis 2 is out of bounds"),
    (lambda t: np.pad(t, 1, mode="mean"), TypeError, r"^pad: mode 'mean' is not supported"),
    (lambda t: np.pad(t, 1, mode="linear_ramp"), TypeError, r"^pad: mode 'linear_ramp'"),
    (lambda t: np.pad(t, 1, mode="empty"), TypeError, r"^pad: mode 'empty'"),
    (lambda t: np.pad(t, 1, mode=lambda *a: None), TypeError, r"^pad: mode <function"),
    (lambda t: np.pad(t, 1, mode="reflect", reflect_type="odd"), TypeError,
     r"^pad: mode 'reflect' with reflect_type='odd'"),
    (lambda t: np.pad(t, -1), ValueError, r"^pad: pad_width -1 has negative values"),
    (lambda t: np.pad(t, 1.5), TypeError, r"^pad: pad_width must be integers"),
    (lambda t: np.pad(t, ((1, 2), (3, 4), (5, 6))), ValueError, r"^pad: pad_width .* not fit"),
    (lambda t: np.pad(t, 1, constant_values=t[0, 0]), TypeError, r"^pad: constant_values"),
    (lambda t: np.pad(t, 1, mode="edge", constant_values=1), ValueError,
     r"^pad: unsupported keyword arguments for mode 'edge'"),
    (lambda t: np.pad(t[:0], 1, mode="edge"), ValueError, r"^pad: .*empty"),
    (lambda t: np.split(t, 4), ValueError, r"^split: length 2 along axis 0 does not split"),
    (lambda t: np.split(t, 0), ValueError, r"^split: the number of sections"),
    (lambda t: np.average(t, weights=np.ones(3)), TypeError, r"^average: axis must be given"),
    (lambda t: np.average(t, axis=1, weights=np.ones(2)), ValueError,
     r"^average: weights of shape \(2,\) do not fit"),
    (lambda t: np.average(t, axis=0, weights=np.array([1.0, -1.0])), ZeroDivisionError,
     r"^average: the weights sum to zero"),
    (lambda t: ad.vstack([]), ValueError, r"^vstack: need at least one"),
    (lambda t: ad.column_stack([]), ValueError, r"^column_stack: need at least one"),
    (lambda t: ad.atleast_1d(), TypeError, r"^atleast_1d: expected at least one"),
    (lambda t: np.column_stack([t, np.ones(3)]), ValueError, r"^concatenate: "),
])
def test_bad_input_raises_naming_the_function(call, error, match, backend):
    t = ad.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(error, match=match):
        call(t)


MASK = np.array([[True, False, True], [False, True, True]])


@pytest.mark.parametrize("call, name, arg", [
    (lambda t: np.prod(t, dtype=np.float32), "numpy.prod", "dtype"),
    (lambda t: np.prod(t, None, None, None, False, 2.0), "numpy.prod", "initial"),
    (lambda t: np.std(t, correction=1), "numpy.std", "correction"),
    (lambda t: np.std(t, mean=np.zeros((1, 1))), "numpy.std", "mean"),
    (lambda t: np.nansum(t, where=MASK), "numpy.nansum", "where"),
    (lambda t: np.cumsum(t, dtype=np.float32), "numpy.cumsum", "dtype"),
    (lambda t: np.cumprod(t, 0, np.float32), "numpy.cumprod", "dtype"),
    (lambda t: np.sort(t, order="x"), "numpy.sort", "order"),
    (lambda t: np.vstack([t, t], dtype=np.float32), "numpy.vstack", "dtype"),
    (lambda t: np.hstack([t, t], casting="unsafe"), "numpy.hstack", "casting"),
    (lambda t: np.multiply.reduce(t, initial=1.0), "numpy.multiply.reduce", "initial"),
    (lambda t: np.add.accumulate(t, dtype=np.float32), "numpy.add.accumulate", "dtype"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_knobs_not_at_their_default_raise_naming_function_and_argument(call, name, arg,
                                                                       backend):
    t = ad.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(TypeError) as e:
        call(t)
    assert name in str(e.value) and f"{arg}=" in str(e.value)


@pytest.mark.parametrize("call, plain", [
    (lambda t: np.prod(t, 0, None, None, False, where=True), lambda t: np.prod(t, 0)),
    (lambda t: np.std(t, ddof=0, dtype=None, out=None), np.std),
    (lambda t: np.cumsum(t, 1, None, None), lambda t: np.cumsum(t, 1)),
    (lambda t: np.sort(t, -1, None, None, stable=None), np.sort),
    (lambda t: np.take(t, [0], None, None, "raise"), lambda t: np.take(t, [0])),
    (lambda t: np.vstack([t], dtype=None, casting="same_kind"), lambda t: np.vstack([t])),
    (lambda t: np.multiply.accumulate(t, 0, None, None), np.multiply.accumulate),
], ids=["prod", "std", "cumsum", "sort", "take", "vstack", "multiply.accumulate"])
def test_knobs_at_their_default_are_accepted(call, plain, backend, rng):
    a = rng.standard_normal((2, 3))
    out = call(ad.tensor(a, requires_grad=True))
    assert out.grad_fn is not None
    np.testing.assert_allclose(out.numpy(), plain(a), rtol=1e-12)


def test_plain_ndarrays_are_not_affected(rng):
    a = rng.standard_normal((3, 4))
    for r in ROWS:
        want = r.numpy(*r.arrays(np.random.default_rng(0)))
        assert not isinstance(want, ad.Tensor), r.id
    assert type(np.cumsum(a)) is np.ndarray and type(np.prod(a)) is np.float64
    assert all(type(p) is np.ndarray for p in np.split(a, 2, axis=1))
    assert all(type(p) is np.ndarray for p in np.atleast_3d(a, a[0]))
    np.testing.assert_array_equal(np.pad(a, 1, mode="wrap")[1:-1, 1:-1], a)


DIM_CALLS = {  # name: (pyautodiff call with axis=/keepdims= in **kw, PyTorch's own call)
    "prod": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.prod(x, 1, keepdim=True)),
    "cumsum": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.cumsum(x, 1)),
    "cumprod": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.cumprod(x, 1)),
    "std": (lambda f, x, **kw: f(x, ddof=1, **kw), lambda t, x: t.std(x, 1, keepdim=True)),
    "nansum": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.nansum(x, 1, keepdim=True)),
    "sort": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.sort(x, 1).values),
    "diff": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.diff(x, dim=1)),
    "flip": (lambda f, x, **kw: f(x, **kw), lambda t, x: t.flip(x, (1,))),
    "repeat": (lambda f, x, **kw: f(x, 2, **kw), lambda t, x: t.repeat_interleave(x, 2, 1)),
    "take_along_axis": (lambda f, x, **kw: f(x, np.array([[2, 0]]), **kw),
                        lambda t, x: t.take_along_dim(x, t.tensor([[2, 0]]), 1)),
    "split": (lambda f, x, **kw: f(x, [1], **kw)[1], lambda t, x: x[:, 1:]),
}


@pytest.mark.parametrize("name", DIM_CALLS)
def test_dim_and_keepdim_are_pytorchs_names_for_axis_and_keepdims(name, backend, rng):
    call, torch_call = DIM_CALLS[name]
    a = rng.standard_normal((2, 3))
    f = getattr(ad, name)
    keep = {"keepdims": True} if name in ("prod", "std", "nansum") else {}
    want = call(f, ad.tensor(a), axis=1, **keep).numpy()
    got = call(f, ad.tensor(a), dim=1, **({"keepdim": True} if keep else {}))
    np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(TypeError, match=rf"^{name}: got both axis= and dim="):
        call(f, ad.tensor(a), axis=1, dim=1)
    torch = pytest.importorskip("torch")
    np.testing.assert_allclose(want, torch_call(torch, torch.tensor(a)).numpy(), rtol=1e-12)


# What this part registers in numpy_dispatch.py: each has rows above.
FUNCTIONS = {
    "prod", "multiply.reduce", "std", "nansum", "average", "cumsum", "cumprod",
    "add.accumulate", "multiply.accumulate", "moveaxis", "repeat", "tile", "flip", "roll",
    "diff", "sort", "take", "take_along_axis", "pad", "vstack", "hstack", "dstack",
    "column_stack", "split", "array_split", "atleast_1d", "atleast_2d", "atleast_3d",
}


def test_numpy_functions_lists_these_and_each_is_tested_here():
    listed = set(ad.numpy_functions())
    names = {f"numpy.{n}" for n in FUNCTIONS}
    assert names <= listed
    assert names <= TESTED <= listed
    for n in FUNCTIONS:
        assert n.split(".")[0] in ad.__all__ or n.split(".")[0] in ("add", "multiply"), n

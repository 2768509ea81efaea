"""OP_CASES: one row per public op and per registered primitive, in many shapes.

Each row is a ``Case``: the op it is for, a callable on Tensors, a numpy
reference for the same function (independent of pyautodiff: it is the
reference for the forward values and, through finite differences, for the
gradients), and how to draw inputs (shapes and a domain per input, or a
``make(rng)`` for inputs that need a joint constraint).

Domains keep inputs where the function is smooth: positive bases for ``log``,
``sqrt`` and tensor-exponent ``pow``; values at least 0.1 away from kinks and
ties for ``abs``, ``relu``, ``maximum``, ``minimum``, ``max``, ``min`` and
``clip`` (finite differences use eps = 1e-6, so no perturbation crosses one).
"""

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import pyautodiff as ad
from pyautodiff.ops import REGISTRY

# ----- input domains --------------------------------------------------------------------


def _arr(values, shape):
    return np.asarray(values, dtype=np.float64).reshape(shape)


def real(rng, shape):
    return _arr(rng.standard_normal(shape), shape)


def positive(rng, shape):
    return _arr(rng.uniform(0.5, 2.0, shape), shape)


def nonzero(rng, shape):
    """|x| in [0.2, 2]: away from the kink of abs and relu, and safe to divide by."""
    return _arr(rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape), shape)


def above_minus_one(rng, shape):
    """For log1p: inside its domain (-1, inf) and away from the pole."""
    return _arr(rng.uniform(-0.6, 2.0, shape), shape)


def open_unit(rng, shape):
    """For the saved outputs of tanh (in (-1, 1)) and sigmoid (in (0, 1))."""
    return _arr(rng.uniform(0.05, 0.95, shape), shape)


def grid(rng, shape):
    """Distinct multiples of 0.2 in random order: no two elements within 0.2 (no ties)."""
    n = int(np.prod(shape, dtype=int))
    return _arr((rng.permutation(n) - n // 2) * 0.2, shape)


def halfgrid(rng, shape):
    """Odd multiples of 0.1: at least 0.1 away from every ``grid`` value (no ties with it)."""
    n = int(np.prod(shape, dtype=int))
    return _arr((rng.permutation(n) - n // 2 + 0.5) * 0.2, shape)


DOMAINS = {
    "real": real,
    "positive": positive,
    "nonzero": nonzero,
    "above_minus_one": above_minus_one,
    "open_unit": open_unit,
    "grid": grid,
    "halfgrid": halfgrid,
}


@dataclass(frozen=True)
class Case:
    op: str  # the public op or registry primitive this row is for
    desc: str  # what this row varies, for the test id
    fn: Callable  # on Tensors (and numbers / arrays captured in the closure)
    ref: Callable  # the same function on numpy arrays, not using pyautodiff
    shapes: tuple = ((),)
    domain: object = "real"  # one name for all inputs, or a tuple of names
    make: Callable = None  # rng -> list of float64 arrays; overrides shapes/domain
    gradcheck: bool = True  # compare backward() with finite differences
    float32: bool = True  # also run the forward (and gradient) in float32

    @property
    def id(self):
        return f"{self.op}-{self.desc}"

    def inputs(self, rng):
        if self.make is not None:
            return [np.asarray(a, dtype=np.float64) for a in self.make(rng)]
        domains = self.domain if isinstance(self.domain, tuple) else (self.domain,) * len(
            self.shapes)
        return [DOMAINS[d](rng, s) for d, s in zip(domains, self.shapes)]


OP_CASES = []


def case(*args, **kw):
    OP_CASES.append(Case(*args, **kw))


def _shape_str(shape):
    return "x".join(map(str, shape)) if shape else "0d"


# Closures over loop variables, named so each row keeps its own values.

def method(name, *args, **kw):
    """``lambda x, *rest: x.<name>(*rest, *args, **kw)``: the Tensor method form."""
    return lambda x, *rest: getattr(x, name)(*rest, *args, **kw)


def right(f, c):
    """``lambda x: f(x, c)``: a constant as the second operand."""
    return lambda x: f(x, c)


def left(f, c):
    """``lambda y: f(c, y)``: a constant as the first operand."""
    return lambda y: f(c, y)


def at(f, **kw):
    """``lambda x: f(x, **kw)``: a function with fixed keyword arguments."""
    return lambda x: f(x, **kw)


def shifted(f, scale, offset):
    """``lambda x: f(x * scale + offset)``: inputs moved where overflow would lurk."""
    return lambda x: f(x * scale + offset)


def index(idx):
    return lambda x: x[idx]


# ----- unary elementwise -----------------------------------------------------------------

def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


UNARY = {
    # name: (numpy reference, domain)
    "neg": (np.negative, "real"),
    "abs": (np.abs, "nonzero"),
    "exp": (np.exp, "real"),
    "log": (np.log, "positive"),
    "log1p": (np.log1p, "above_minus_one"),
    "expm1": (np.expm1, "real"),
    "sqrt": (np.sqrt, "positive"),
    "square": (np.square, "real"),
    "sin": (np.sin, "real"),
    "cos": (np.cos, "real"),
    "tanh": (np.tanh, "real"),
    "sigmoid": (_sigmoid_ref, "real"),
    "relu": (lambda x: np.maximum(x, 0.0), "nonzero"),
    "softplus": (lambda x: np.log1p(np.exp(x)), "real"),
}

for _name, (_ref, _dom) in UNARY.items():
    _f = getattr(ad, _name)
    for _shape in [(), (5,), (2, 3, 4)]:
        case(_name, f"function-{_shape_str(_shape)}", _f, _ref, (_shape,), _dom)
    if _name not in ("neg",):
        # The method form, t.exp(), on a 2-d input.
        case(_name, "method-3x4", method(_name), _ref,
             ((3, 4),), _dom)

case("neg", "operator-3x4", lambda x: -x, lambda x: -x, ((3, 4),))
case("abs", "builtin-3x4", lambda x: abs(x), lambda x: abs(x), ((3, 4),), "nonzero")
# Composition of unary ops: the chain rule through several VJPs.
case("exp", "composed-sin-tanh-log1p", lambda x: ad.exp(ad.sin(x)) * ad.tanh(ad.log1p(x * x)),
     lambda x: np.exp(np.sin(x)) * np.tanh(np.log1p(x * x)), ((6,),))


# ----- binary elementwise ----------------------------------------------------------------

SHAPE_PAIRS = [
    ((), ()),
    ((5,), (5,)),
    ((3, 1), (4,)),
    ((4,), (3, 1)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((2, 1, 4), (3, 1)),
]

C23 = np.array([[0.5, -1.5, 2.0], [1.25, -0.75, 3.0]])  # a numpy constant operand
C23_POS = np.array([[0.5, 1.5, 2.0], [1.25, 0.75, 3.0]])

BINARY = {
    # name: (operator form, domains of x and y)
    "add": (lambda x, y: x + y, ("real", "real")),
    "sub": (lambda x, y: x - y, ("real", "real")),
    "mul": (lambda x, y: x * y, ("real", "real")),
    "div": (lambda x, y: x / y, ("real", "nonzero")),
    "pow": (lambda x, y: x ** y, ("positive", "real")),
}

for _name, (_op, _doms) in BINARY.items():
    for _sx, _sy in SHAPE_PAIRS:
        case(_name, f"{_shape_str(_sx)}-{_shape_str(_sy)}", _op, _op, (_sx, _sy), _doms)
    _f = getattr(ad, _name)
    _np = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
           "pow": np.power}[_name]
    case(_name, "function-3x1-4", _f, _np, ((3, 1), (4,)), _doms)

    # Python numbers and numpy arrays on either side of the operator (positive constants
    # keep pow's base positive; y's domain keeps the divisor away from 0).
    _ydom = _doms[1]
    case(_name, "pynumber-right", right(_op, 2.5), right(_op, 2.5), ((2, 3),), _doms[0])
    case(_name, "pynumber-left", left(_op, 1.75), left(_op, 1.75), ((2, 3),), _ydom)
    case(_name, "pyint-right", right(_op, 3), right(_op, 3), ((2, 3),), _doms[0])
    case(_name, "ndarray-right", right(_op, C23_POS), right(_op, C23_POS), ((3,),), _doms[0])
    case(_name, "ndarray-left", left(_op, C23_POS), left(_op, C23_POS), ((3,),), _ydom)
    case(_name, "npscalar-left", left(_op, np.float64(1.5)), left(_op, np.float64(1.5)),
         ((4,),), _ydom)

# The same tensor on both sides: two paths into one input.
case("mul", "same-tensor-both-sides", lambda x: ad.mul(x, x), lambda x: x * x, ((5,),))
# ``x * x`` itself is recorded as square (one gradient pass instead of two).
case("square", "x-times-x", lambda x: x * x, lambda x: x * x, ((5,),))
case("div", "same-tensor-both-sides", lambda x: x / x, lambda x: x / x, ((5,),), "nonzero")
case("sub", "same-tensor-both-sides", lambda x: x - x * 2.0, lambda x: x - x * 2.0, ((5,),))

# pow: scalar exponents of every kind, tensor exponents, and a number as the base.
for _e in (2, 3, 0, 1, -1, 0.5, 2.5, -1.5):
    _dom = "real" if isinstance(_e, int) and _e >= 0 else "positive"
    case("pow", f"scalar-exponent-{_e}", right(operator.pow, _e), right(np.power, _e),
         ((2, 3),), _dom)
case("pow", "negative-base-int-exponent", lambda x: x ** 3, lambda x: x ** 3, ((6,),), "nonzero")
case("pow", "number-base", lambda y: 2.0 ** y, lambda y: 2.0 ** y, ((2, 3),))
case("pow", "ndarray-exponent", lambda x: x ** C23, lambda x: x ** C23, ((2, 3),), "positive")
case("pow", "function-scalar-exponent", lambda x: ad.pow(x, 1.5), lambda x: np.power(x, 1.5),
     ((4,),), "positive")

# maximum / minimum: x on the grid, y on the half-grid, so no pair ties.
for _name, _np in (("maximum", np.maximum), ("minimum", np.minimum)):
    _f = getattr(ad, _name)
    for _sx, _sy in SHAPE_PAIRS:
        case(_name, f"{_shape_str(_sx)}-{_shape_str(_sy)}", _f, _np, (_sx, _sy),
             ("grid", "halfgrid"))
    case(_name, "pynumber-right", right(_f, 0.1), right(_np, 0.1), ((3, 4),), "grid")
    case(_name, "pynumber-left", left(_f, 0.1), left(_np, 0.1), ((3, 4),), "grid")
    case(_name, "method-3x4-4", method(_name), _np,
         ((3, 4), (4,)), ("grid", "halfgrid"))


# ----- selection: where, clip --------------------------------------------------------------

COND34 = np.array([[True, False, True, False],
                   [False, False, True, True],
                   [True, True, False, False]])
COND31 = np.array([[True], [False], [True]])

case("where", "same-shapes", lambda x, y: ad.where(COND34, x, y),
     lambda x, y: np.where(COND34, x, y), ((3, 4), (3, 4)))
case("where", "broadcast-cond31-x4-y0d", lambda x, y: ad.where(COND31, x, y),
     lambda x, y: np.where(COND31, x, y), ((4,), ()))
case("where", "broadcast-x31-y34", lambda x, y: ad.where(COND34, x, y),
     lambda x, y: np.where(COND34, x, y), ((3, 1), (3, 4)))
case("where", "pynumber-branch", lambda x: ad.where(COND34, x, 0.5),
     lambda x: np.where(COND34, x, 0.5), ((3, 4),))
case("where", "ndarray-branch", lambda y: ad.where(COND34, C23_POS[:1, :1], y),
     lambda y: np.where(COND34, C23_POS[:1, :1], y), ((3, 4),))
case("where", "tensor-condition", lambda x, y: ad.where(x > 0, x, y),
     lambda x, y: np.where(x > 0, x, y), ((3, 4), (3, 4)), ("nonzero", "real"))

LO4 = np.array([-0.5, -0.3, -0.1, 0.1])  # odd multiples of 0.1: never tie with the grid

case("clip", "both-bounds", lambda x: ad.clip(x, -0.3, 0.5), lambda x: np.clip(x, -0.3, 0.5),
     ((3, 4),), "grid")
case("clip", "lo-only", lambda x: ad.clip(x, -0.3), lambda x: np.maximum(x, -0.3),
     ((3, 4),), "grid")
case("clip", "hi-only", lambda x: ad.clip(x, None, 0.5), lambda x: np.minimum(x, 0.5),
     ((3, 4),), "grid")
case("clip", "method", lambda x: x.clip(-0.3, 0.5), lambda x: np.clip(x, -0.3, 0.5),
     ((2, 3, 4),), "grid")
case("clip", "tensor-bounds", lambda x, lo, hi: ad.clip(x, lo, hi),
     lambda x, lo, hi: np.clip(x, lo, hi),
     make=lambda rng: [grid(rng, (3, 4)), LO4, np.array(0.5)])
case("clip", "0d", lambda x: ad.clip(x, -0.3, 0.5), lambda x: np.clip(x, -0.3, 0.5),
     make=lambda rng: [np.array(0.2)])


# ----- reductions --------------------------------------------------------------------------

def _logsumexp_ref(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


REDUCTIONS = {
    # name: (numpy reference, domain)
    "sum": (np.sum, "real"),
    "mean": (np.mean, "real"),
    "max": (np.max, "grid"),
    "min": (np.min, "grid"),
    "var": (np.var, "real"),
    "logsumexp": (_logsumexp_ref, "real"),
}
AXES = [None, 0, 1, -1, (0, 2), (2, 0)]


def _axis_str(axis):
    if isinstance(axis, tuple):
        return "(" + ",".join(map(str, axis)) + ")"
    return str(axis)


for _name, (_ref, _dom) in REDUCTIONS.items():
    _f = getattr(ad, _name)
    for _axis in AXES:
        for _kd in (False, True):
            case(_name, f"2x3x4-axis{_axis_str(_axis)}-keepdims{_kd}",
                 at(_f, axis=_axis, keepdims=_kd), at(_ref, axis=_axis, keepdims=_kd),
                 ((2, 3, 4),), _dom)
    case(_name, "0d", _f, _ref, ((),), _dom)
    case(_name, "1d-axis0", at(_f, axis=0), at(_ref, axis=0), ((7,),), _dom)
    case(_name, "method-axis1", method(_name, axis=1), at(_ref, axis=1), ((3, 4),), _dom)
    case(_name, "method-all", method(_name), _ref, ((3, 4),), _dom)

for _ddof in (1, 2):
    for _axis in (None, 1, (0, 2)):
        case("var", f"ddof{_ddof}-axis{_axis_str(_axis)}",
             at(ad.var, axis=_axis, ddof=_ddof), at(np.var, axis=_axis, ddof=_ddof),
             ((2, 3, 4),))
case("logsumexp", "large-values", lambda x: ad.logsumexp(x + 800.0, axis=-1),
     lambda x: _logsumexp_ref(x + 800.0, axis=-1), ((3, 4),))


def _softmax_ref(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_ref(x, axis=-1):
    return x - _logsumexp_ref(x, axis=axis, keepdims=True)


for _name, _ref in (("softmax", _softmax_ref), ("log_softmax", _log_softmax_ref)):
    _f = getattr(ad, _name)
    case(_name, "1d-default-axis", _f, _ref, ((5,),))
    for _axis in (0, 1, -1):
        case(_name, f"2x3x4-axis{_axis}", at(_f, axis=_axis), at(_ref, axis=_axis),
             ((2, 3, 4),))
    case(_name, "large-values", shifted(_f, 3.0, 700.0), shifted(_ref, 3.0, 700.0), ((3, 4),))


# ----- shape ops ---------------------------------------------------------------------------

case("reshape", "2x3x4-to-6x4", lambda x: ad.reshape(x, (6, 4)), lambda x: x.reshape(6, 4),
     ((2, 3, 4),))
case("reshape", "method-varargs-minus1", lambda x: x.reshape(4, -1),
     lambda x: x.reshape(4, -1), ((2, 3, 4),))
case("reshape", "to-1d", lambda x: x.reshape(-1), lambda x: x.reshape(-1), ((3, 4),))
case("reshape", "0d-to-1x1", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), ((),))
case("reshape", "1x1-to-0d", lambda x: x.reshape(()), lambda x: x.reshape(()), ((1, 1),))

case("transpose", "default-reverses", lambda x: ad.transpose(x), lambda x: x.transpose(),
     ((2, 3, 4),))
case("transpose", "method-varargs", lambda x: x.transpose(2, 0, 1),
     lambda x: x.transpose(2, 0, 1), ((2, 3, 4),))
case("transpose", "tuple-negative-axes", lambda x: x.transpose((-1, 0, -2)),
     lambda x: x.transpose((-1, 0, -2)), ((2, 3, 4),))
case("transpose", "T-2d", lambda x: x.T, lambda x: x.T, ((3, 4),))
case("transpose", "T-1d", lambda x: x.T, lambda x: x.T, ((4,),))

case("swapaxes", "0-2", lambda x: ad.swapaxes(x, 0, 2), lambda x: np.swapaxes(x, 0, 2),
     ((2, 3, 4),))
case("swapaxes", "method-negative", lambda x: x.swapaxes(-1, 1),
     lambda x: np.swapaxes(x, -1, 1), ((2, 3, 4),))

case("squeeze", "all", lambda x: ad.squeeze(x), lambda x: np.squeeze(x), ((1, 3, 1, 2),))
case("squeeze", "axis0", lambda x: x.squeeze(axis=0), lambda x: np.squeeze(x, axis=0),
     ((1, 3, 1, 2),))
case("squeeze", "axis-tuple", lambda x: x.squeeze(axis=(0, 2)),
     lambda x: np.squeeze(x, axis=(0, 2)), ((1, 3, 1, 2),))
case("squeeze", "axis-negative", lambda x: ad.squeeze(x, -1), lambda x: np.squeeze(x, -1),
     ((3, 1),))
case("squeeze", "to-0d", lambda x: ad.squeeze(x), lambda x: np.squeeze(x), ((1, 1),))

case("expand_dims", "axis0", lambda x: ad.expand_dims(x, 0), lambda x: np.expand_dims(x, 0),
     ((3, 4),))
case("expand_dims", "axis-negative", lambda x: x.expand_dims(-1),
     lambda x: np.expand_dims(x, -1), ((3, 4),))
case("expand_dims", "axis-tuple", lambda x: ad.expand_dims(x, (0, 2)),
     lambda x: np.expand_dims(x, (0, 2)), ((3, 4),))
case("expand_dims", "0d", lambda x: ad.expand_dims(x, 0), lambda x: np.expand_dims(x, 0),
     ((),))

case("broadcast_to", "31-to-234", lambda x: ad.broadcast_to(x, (2, 3, 4)),
     lambda x: np.broadcast_to(x, (2, 3, 4)), ((3, 1),))
case("broadcast_to", "4-to-34", lambda x: x.broadcast_to((3, 4)),
     lambda x: np.broadcast_to(x, (3, 4)), ((4,),))
case("broadcast_to", "0d-to-22", lambda x: ad.broadcast_to(x, (2, 2)),
     lambda x: np.broadcast_to(x, (2, 2)), ((),))
case("broadcast_to", "same-shape", lambda x: ad.broadcast_to(x, (3, 4)),
     lambda x: np.broadcast_to(x, (3, 4)), ((3, 4),))

case("flatten", "3d", lambda x: ad.flatten(x), lambda x: x.flatten(), ((2, 3, 4),))
case("flatten", "method-0d", lambda x: x.flatten(), lambda x: x.flatten(), ((),))

case("astype", "to-float64", lambda x: ad.astype(x, "float64"),
     lambda x: x.astype(np.float64), ((3, 4),))
case("astype", "method-to-float64-then-scaled", lambda x: x.astype(np.float64) * 3.0,
     lambda x: x.astype(np.float64) * 3.0, ((4,),))
# float64 -> float32 rounds every value, which would swamp finite differences with eps
# 1e-6; its gradient is checked exactly in test_ops.test_astype_gradient_converts_back.
case("astype", "to-float32", lambda x: x.astype(np.float32), lambda x: x.astype(np.float32),
     ((3, 4),), gradcheck=False)


# ----- indexing (getitem, and scatter, its adjoint) ---------------------------------------

MASK_FULL = (np.arange(60).reshape(4, 5, 3) % 3) == 1
MASK_AXIS0 = np.array([True, False, True, True])
MASK_AXIS1 = np.array([False, True, True, False, True])

INDICES = [
    ("int", 1),
    ("negative-int", -1),
    ("two-ints", (1, 2)),
    ("ints-to-0d", (1, 2, 0)),
    ("slice", slice(1, 3)),
    ("step-slice", (slice(None), slice(None, None, 2))),
    ("negative-step", slice(None, None, -1)),
    ("negative-step-bounds", (slice(None), slice(4, 0, -2))),
    ("ellipsis-int", (Ellipsis, 1)),
    ("none-int", (None, 1)),
    ("none-between", (slice(None), None, slice(None), None)),
    ("ellipsis-none", (Ellipsis, None)),
    ("int-ellipsis-negative-step", (1, Ellipsis, slice(None, None, -1))),
    ("empty-tuple", ()),
    ("int-list-repeated", [0, 0, 2]),
    ("int-array-repeated", np.array([1, 1, 3, 1])),
    ("int-list-axis1-repeated", (slice(None), [4, 0, 4])),
    ("same-element-twice", ([0, 0], [1, 1])),
    ("2d-int-array", np.array([[0, 1], [1, 0]])),
    ("negative-int-list", [-1, 0, -1]),
    ("arrays-around-slice", (np.array([0, 0, 3]), slice(None), np.array([2, 2, 0]))),
    ("ellipsis-int-list", (Ellipsis, [2, 2])),
    ("int-array-and-slice-negative-step", (np.array([3, 3]), slice(None, None, -2))),
    ("bool-mask-full", MASK_FULL),
    ("bool-mask-axis0", MASK_AXIS0),
    ("bool-mask-axis1", (slice(None), MASK_AXIS1)),
    ("bool-mask-all-false", np.zeros(4, dtype=bool)),
]

for _desc, _idx in INDICES:
    case("getitem", _desc, index(_idx), index(_idx), ((4, 5, 3),))
case("getitem", "tensor-bool-mask", lambda x: x[x > 0], lambda x: x[x > 0], ((4, 5),),
     "nonzero")
case("getitem", "function", lambda x: ad.getitem(x, (slice(1, None), [0, 0])),
     lambda x: x[1:, [0, 0]], ((3, 4),))
case("getitem", "0d-empty-tuple", lambda x: x[()], lambda x: x[()], ((),))
case("getitem", "0d-none", lambda x: x[None], lambda x: x[None], ((),))
case("getitem", "1d-int-to-0d", lambda x: x[2] * x[0], lambda x: x[2] * x[0], ((4,),))

_scatter = REGISTRY["scatter"]


def _scatter_to(shape, index):
    return lambda g: _scatter(g, shape, index)


def _scatter_ref(shape, index):
    def ref(g):
        z = np.zeros(shape, dtype=g.dtype)
        np.add.at(z, index, g)
        return z
    return ref


for _desc, _shape, _idx, _gshape in [
    ("repeated-int-array", (5, 3), (np.array([0, 0, 3, 1, 0]),), (5, 3)),
    ("slice", (5, 3), (slice(1, 4),), (3, 3)),
    ("bool-mask", (4,), (np.array([True, False, True, True]),), (3,)),
    ("two-arrays-repeated", (3, 4), (np.array([2, 2, 0]), np.array([1, 1, 3])), (3,)),
]:
    case("scatter", _desc, _scatter_to(_shape, _idx),
         _scatter_ref(_shape, _idx), (_gshape,))


# ----- joining -----------------------------------------------------------------------------

case("concatenate", "axis0", lambda a, b: ad.concatenate([a, b]),
     lambda a, b: np.concatenate([a, b]), ((2, 3), (4, 3)))
case("concatenate", "axis1-three", lambda a, b, c: ad.concatenate([a, b, c], axis=1),
     lambda a, b, c: np.concatenate([a, b, c], axis=1), ((2, 3), (2, 1), (2, 2)))
case("concatenate", "axis-negative-3d", lambda a, b: ad.concatenate((a, b), axis=-1),
     lambda a, b: np.concatenate((a, b), axis=-1), ((2, 3, 1), (2, 3, 4)))
case("concatenate", "axis1-3d", lambda a, b: ad.concatenate([a, b], axis=1),
     lambda a, b: np.concatenate([a, b], axis=1), ((2, 1, 4), (2, 3, 4)))
case("concatenate", "single", lambda a: ad.concatenate([a]), lambda a: np.concatenate([a]),
     ((3,),))
case("concatenate", "same-tensor-twice", lambda a: ad.concatenate([a, a * 2.0, a]),
     lambda a: np.concatenate([a, a * 2.0, a]), ((2, 2),))
case("concatenate", "with-ndarray", lambda a: ad.concatenate([C23, a], axis=0),
     lambda a: np.concatenate([C23, a], axis=0), ((1, 3),))

case("stack", "axis0", lambda a, b: ad.stack([a, b]), lambda a, b: np.stack([a, b]),
     ((3,), (3,)))
case("stack", "axis1-three", lambda a, b, c: ad.stack([a, b, c], axis=1),
     lambda a, b, c: np.stack([a, b, c], axis=1), ((2, 3), (2, 3), (2, 3)))
case("stack", "axis-negative", lambda a, b: ad.stack((a, b), axis=-1),
     lambda a, b: np.stack((a, b), axis=-1), ((2, 3), (2, 3)))
case("stack", "0d", lambda a, b: ad.stack([a, b]), lambda a, b: np.stack([a, b]), ((), ()))
case("stack", "same-tensor-twice", lambda a: ad.stack([a, a]), lambda a: np.stack([a, a]),
     ((2, 2),))


# ----- matmul ------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((3, 4), (4,)),
    ((3, 4), (4, 2)),
    ((1, 4), (4, 1)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 4, 3)),
    ((3, 4), (2, 4, 5)),
    ((2, 3, 4), (2, 4, 5)),
]
for _sx, _sy in MATMUL_SHAPES:
    case("matmul", f"{_shape_str(_sx)}@{_shape_str(_sy)}", lambda x, y: x @ y,
         lambda x, y: x @ y, (_sx, _sy))
case("matmul", "function", ad.matmul, np.matmul, ((3, 4), (4, 2)))
case("matmul", "ndarray-left", lambda y: C23 @ y, lambda y: C23 @ y, ((3, 2),))
case("matmul", "ndarray-right", lambda x: x @ C23.T, lambda x: x @ C23.T, ((4, 3),))


# dot: numpy's, through mul for a 0-d operand and matmul otherwise.
for _sx, _sy in [((), (4,)), ((3, 4), ()), ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 3)),
                 ((3, 4), (4, 2)), ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 3))]:
    case("dot", f"{_shape_str(_sx)}.{_shape_str(_sy)}", ad.dot, np.dot, (_sx, _sy))
case("dot", "ndarray-left", lambda y: ad.dot(C23, y), lambda y: np.dot(C23, y), ((3, 2),))


# ----- norm (numpy.linalg.norm: 2-norm and Frobenius) ---------------------------------------

for _desc, _shape, _kw in [
    ("1d", (5,), {}),
    ("2d-frobenius", (3, 4), {}),
    ("3d-flattened", (2, 3, 4), {}),
    ("0d", (), {}),
    ("axis0", (3, 4), {"axis": 0}),
    ("axis-negative-keepdims", (2, 3, 4), {"axis": -1, "keepdims": True}),
    ("axis-pair-fro", (2, 3, 4), {"axis": (0, 2), "ord": "fro"}),
    ("all-keepdims", (3, 4), {"keepdims": True}),
    ("ord2-vector", (6,), {"ord": 2}),
    ("ord-fro-matrix", (3, 4), {"ord": "fro"}),
]:
    case("norm", _desc, at(ad.norm, **_kw), at(np.linalg.norm, **_kw), (_shape,), "nonzero")


# ----- linear algebra primitives (the numpy call forms: tests/test_numpy_linalg.py) ---------

def _invertible(*shapes):
    """Inputs for matrix functions: the first (..., M, M) well conditioned, 2 I plus
    small noise (positive definite once symmetrized); the rest standard normal."""
    def make(rng):
        a = 2.0 * np.eye(shapes[0][-1]) + 0.3 * rng.standard_normal(shapes[0])
        return [a] + [rng.standard_normal(s) for s in shapes[1:]]
    return make


def _symmetric(a):
    return (a + np.swapaxes(a, -1, -2)) / 2


case("einsum", "matrix-product", lambda a, b: ad.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b), ((3, 4), (4, 2)))
case("einsum", "diagonal-ellipsis-implicit", lambda a, b: ad.einsum("...ii,...i", a, b),
     lambda a, b: np.einsum("...ii,...i", a, b), ((2, 3, 3), (1, 3)))
case("inv", "stack", ad.inv, np.linalg.inv, make=_invertible((2, 3, 3)))
case("det", "stack", ad.det, np.linalg.det, make=_invertible((2, 3, 3)))
case("slogdet", "logabsdet-stack", lambda a: ad.slogdet(a)[1],
     lambda a: np.linalg.slogdet(a)[1], make=_invertible((2, 3, 3)))
case("solve", "vector", ad.solve, np.linalg.solve, make=_invertible((3, 3), (3,)))
case("solve", "stacks-broadcast", ad.solve, np.linalg.solve,
     make=_invertible((2, 1, 3, 3), (4, 3, 2)))
case("cholesky", "symmetrized", lambda a: ad.cholesky(_symmetric(a)),
     lambda a: np.linalg.cholesky(_symmetric(a)), make=_invertible((2, 3, 3)))
case("tril", "k-1", lambda m: ad.tril(m, -1), lambda m: np.tril(m, -1), ((3, 4),))
case("triu", "stack", ad.triu, np.triu, ((2, 3, 3),))


# ----- the fused backward kernels (internal ops), called directly -------------------------

_tanh_grad = REGISTRY["tanh_grad"]
_sigmoid_grad = REGISTRY["sigmoid_grad"]
_relu_grad = REGISTRY["relu_grad"]

case("tanh_grad", "direct", lambda g, out: _tanh_grad(g, out),
     lambda g, out: g * (1 - out * out), ((3, 4), (3, 4)), ("real", "open_unit"))
case("sigmoid_grad", "direct", lambda g, out: _sigmoid_grad(g, out),
     lambda g, out: g * out * (1 - out), ((3, 4), (3, 4)), ("real", "open_unit"))
case("square_grad", "direct", lambda g, x: REGISTRY["square_grad"](g, x),
     lambda g, x: g * 2 * x, ((3, 4), (3, 4)))
case("vdot", "direct", lambda x, y: REGISTRY["vdot"](x, y), lambda x, y: np.sum(x * y),
     ((3, 4), (3, 4)))
case("relu_grad", "direct", lambda g, x: _relu_grad(g, x), lambda g, x: g * (x > 0),
     ((3, 4), (3, 4)), ("real", "nonzero"))


# ----- a small network: many ops in one graph ---------------------------------------------

case("matmul", "mlp-layer", lambda x, w, b: ad.log_softmax(ad.tanh(x @ w + b), axis=-1),
     lambda x, w, b: _log_softmax_ref(np.tanh(x @ w + b), axis=-1),
     ((4, 3), (3, 5), (5,)))



# ----- numpy's other real ufuncs: one row per op (tests/test_numpy_ufuncs.py has the rest) --

def _not_a_multiple(rng):
    """For remainder: y with |y| in [0.5, 2], x at least 0.2 |y| from a multiple of y."""
    y = rng.choice([-1.0, 1.0], (3, 4)) * rng.uniform(0.5, 2.0, (3, 4))
    return [y * (rng.integers(-3, 3, (3, 4)) + rng.uniform(0.2, 0.8, (3, 4))), y]


for _name, _dom in [("tan", "open_unit"), ("arcsin", "open_unit"), ("arccos", "open_unit"),
                    ("arctan", "real"), ("sinh", "real"), ("cosh", "real"),
                    ("arcsinh", "real"), ("arctanh", "open_unit"), ("exp2", "real"),
                    ("log2", "positive"), ("log10", "positive"), ("cbrt", "nonzero"),
                    ("reciprocal", "nonzero"), ("sign", "nonzero"), ("floor", "halfgrid"),
                    ("ceil", "halfgrid"), ("deg2rad", "real"), ("rad2deg", "real")]:
    case(_name, "3x4", getattr(ad, _name), getattr(np, _name), ((3, 4),), _dom)
case("arccosh", "3x4-above-1", shifted(ad.arccosh, 1.0, 1.0), shifted(np.arccosh, 1.0, 1.0),
     ((3, 4),), "positive")
for _name, _doms in [("logaddexp", ("real", "real")), ("logaddexp2", ("real", "real")),
                     ("arctan2", ("nonzero", "nonzero")), ("hypot", ("nonzero", "nonzero")),
                     ("fmax", ("grid", "halfgrid")), ("fmin", ("grid", "halfgrid"))]:
    case(_name, "3x4-4", getattr(ad, _name), getattr(np, _name), ((3, 4), (4,)), _doms)
case("remainder", "3x4", ad.remainder, np.remainder, make=_not_a_multiple)
case("erf", "3x4", ad.erf, lambda x: np.vectorize(math.erf, otypes=[x.dtype])(x), ((3, 4),))

# ----- numpy's products, cumulative sums and products, constant pad ------------------------
# (their zeros, other shapes and numpy's call forms: tests/test_numpy_arrays.py)

for _axis in (None, 1, (0, 2)):
    for _kd in (False, True):
        case("prod", f"2x3x4-axis{_axis_str(_axis)}-keepdims{_kd}",
             at(ad.prod, axis=_axis, keepdims=_kd), at(np.prod, axis=_axis, keepdims=_kd),
             ((2, 3, 4),), "nonzero")
case("prod", "0d", ad.prod, np.prod, ((),), "nonzero")
for _name, _dom in (("cumsum", "real"), ("cumprod", "nonzero")):
    for _axis in (None, 0, -1):
        case(_name, f"2x3x4-axis{_axis_str(_axis)}", at(getattr(ad, _name), axis=_axis),
             at(getattr(np, _name), axis=_axis), ((2, 3, 4),), _dom)
case("pad", "constant-2d", lambda x: ad.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
     lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=0.5), ((3, 4),))
case("pad", "constant-1d-int", lambda x: ad.pad(x, 2), lambda x: np.pad(x, 2), ((3,),))


CASE_IDS = [c.id for c in OP_CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "duplicate case ids"

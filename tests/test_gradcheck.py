"""``gradcheck``: True on correct gradients, ``GradcheckError`` naming the worst entry
on wrong ones.

Wrong gradients come from legitimate code whose backward pass is wrong on
purpose: ``detach()`` hides a path from ``backward()`` while the forward values
(and so the finite differences) still see it, and a test-local ``Op`` record with
a wrong VJP, built without ``defop`` so it never enters the registry (whose
meta-test requires a case for every registered op).
"""

import re

import numpy as np
import pytest
from cases import OP_CASES

import pyautodiff as ad
from pyautodiff.gradcheck import GradcheckError
from pyautodiff.ops import REGISTRY, Op

pytestmark = pytest.mark.usefixtures("backend")

MESSAGE = re.compile(
    r"gradcheck: input (\d+), element \(([\d, ]*)\), output element \(([\d, ]*)\): "
    r"analytic (\S+) vs numeric (\S+) \(")


def parse(message):
    """(input, element, output element, analytic, numeric) from a GradcheckError message."""
    m = MESSAGE.match(message)
    assert m, f"unexpected message: {message}"

    def index(text):
        return tuple(int(k) for k in text.replace(",", " ").split())

    return int(m[1]), index(m[2]), index(m[3]), float(m[4]), float(m[5])


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(ad.GradcheckError, AssertionError)
    assert ad.GradcheckError is GradcheckError


@pytest.mark.parametrize("case", [c for c in OP_CASES if c.gradcheck],
                         ids=[c.id for c in OP_CASES if c.gradcheck])
def test_gradcheck_passes_on_library_ops(case, rng):
    # The op table's VJPs are checked against numpy references in test_ops, so here
    # they are known-good gradients: every op, shape and broadcast must pass.
    assert ad.gradcheck(case.fn, case.inputs(rng)) is True


def test_gradcheck_true_for_single_input_forms(rng):
    x = rng.standard_normal((2, 3))
    f = lambda t: ad.tanh(t) * t
    assert ad.gradcheck(f, x) is True  # one array
    assert ad.gradcheck(f, ad.Tensor(x)) is True  # one Tensor
    assert ad.gradcheck(f, (x,)) is True  # a tuple
    assert ad.gradcheck(f, [x]) is True  # a list
    assert ad.gradcheck(f, 0.7) is True  # a number
    assert ad.gradcheck(f, ([[0.1, 0.2], [0.3, 0.4]],)) is True  # a nested list, wrapped


def test_gradcheck_true_for_several_inputs_and_scalar_output(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    assert ad.gradcheck(lambda a, b: ad.logsumexp(a @ b), (a, b)) is True


def test_gradcheck_checks_float32_tensors_in_float64(rng):
    x = ad.Tensor(rng.standard_normal(4), dtype=np.float32, requires_grad=True)
    seen = []

    def f(t):
        seen.append(t.dtype)
        return ad.exp(t) * 3.0

    assert ad.gradcheck(f, (x,)) is True
    assert set(seen) == {np.dtype(np.float64)}
    assert x.grad is None and x.dtype == np.float32


def test_gradcheck_passes_integer_arrays_through_as_constants(rng):
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    assert ad.gradcheck(ad.nn.cross_entropy, (logits, labels)) is True


def test_gradcheck_does_not_mutate_inputs(rng):
    x = rng.standard_normal(5)
    before = x.copy()
    ad.gradcheck(lambda t: ad.sin(t) * t, (x,))
    np.testing.assert_array_equal(x, before)


def test_gradcheck_detects_a_hidden_path_and_names_the_worst_entry():
    # f(x, y) = x * y with y detached: backward says d/dy = 0, the truth is x.
    # The worst entry for y is at the largest |x| (|0 - x| / (atol + rtol |x|) grows with |x|).
    x = np.array([0.5, -3.0, 1.5])
    y = np.array([2.0, 1.0, -1.0])
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(lambda a, b: a * b.detach(), (x, y))
    i, elem, out, analytic, numeric = parse(str(info.value))
    assert (i, elem, out) == (1, (1,), (1,))
    assert analytic == 0.0
    assert numeric == pytest.approx(-3.0, rel=1e-8)
    assert "atol + rtol * |numeric|" in str(info.value)


def test_gradcheck_error_for_scalar_input_and_output():
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(lambda t: t * t.detach(), 2.0)
    i, elem, out, analytic, numeric = parse(str(info.value))
    assert (i, elem, out) == (0, (), ())
    assert analytic == 2.0  # d/dt (t * 2) with the second factor held constant
    assert numeric == pytest.approx(4.0, rel=1e-8)


def _wrong_exp():
    """A test-local exp whose VJP forgets the factor exp(x): gradient g instead of g e^x.
    Built as a bare Op record, not with defop, so the registry never sees it."""
    op = Op("wrong_exp", lambda B, x: B.exp(x), (lambda K, g, out, x: g,), 1)
    assert "wrong_exp" not in REGISTRY
    return op


def test_gradcheck_detects_a_wrong_vjp():
    wrong_exp = _wrong_exp()
    x = np.array([[0.1, 2.0], [-1.0, 0.4]])
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(lambda t: wrong_exp(t) * 2.0, (x,))
    i, elem, out, analytic, numeric = parse(str(info.value))
    # d out[k] / d x[k] = 2 e^x[k], reported as 2. The worst entry is the one furthest
    # outside its tolerance: |2 - 2e^x| / (atol + rtol 2e^x) is largest at x = -1.
    assert (i, elem, out) == (0, (1, 0), (1, 0))
    assert analytic == 2.0
    assert numeric == pytest.approx(2 * np.exp(-1.0), rel=1e-8)
    assert "wrong_exp" not in REGISTRY


def test_gradcheck_reports_nan_as_a_mismatch():
    # sqrt at 0: backward gives inf, the central difference reads sqrt(-eps) = nan.
    with (pytest.raises(ad.GradcheckError, match=r"input 0, element \(1,\)"),
          np.errstate(invalid="ignore", divide="ignore")):
        ad.gradcheck(ad.sqrt, (np.array([1.0, 0.0]),))


def test_gradcheck_tolerances_decide(rng):
    # The value is x (1 + 1e-4) but backward sees only x: relative error 1e-4.
    def f(t):
        return t + (t * 1e-4).detach()

    x = rng.uniform(0.5, 1.0, 3)
    assert ad.gradcheck(f, (x,)) is True  # rtol = 1e-3 by default
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(f, (x,), atol=1e-8, rtol=1e-6)
    _, _, _, analytic, numeric = parse(str(info.value))
    assert analytic == 1.0
    assert numeric == pytest.approx(1.0001, rel=1e-7)


def test_gradcheck_with_no_float_inputs_is_trivially_true():
    assert ad.gradcheck(lambda n: ad.Tensor(n * 2.0), (np.array([1, 2]),)) is True


def test_gradcheck_rejects_bad_inputs():
    with pytest.raises(TypeError, match="gradcheck: input 0"):
        ad.gradcheck(lambda t: t, ("text",))
    with pytest.raises(TypeError, match="gradcheck: input 1"):
        ad.gradcheck(lambda a, b: a, (1.0, None))
    with pytest.raises(TypeError, match="gradcheck: f must return one Tensor"):
        ad.gradcheck(lambda a: (a, a), (1.0,))

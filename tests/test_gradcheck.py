"""``gradcheck``: True on correct gradients, ``GradcheckError`` naming the worst entry
on wrong ones.

Wrong gradients come from legitimate code whose backward pass is wrong on
purpose: ``detach()`` hides a path from ``backward()`` while the forward values
(and so the finite differences) still see it, and a test-local ``Op`` record with
a wrong VJP, built without ``defop`` so it never enters the registry (whose
meta-test requires a case for every registered op).
"""

import inspect
import re
import sys

import numpy as np
import pytest
from cases import OP_CASES
from conftest import in_threads

import pyautodiff as ad
from pyautodiff.gradcheck import FAST_ABOVE, GradcheckError
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


# ----- naming the culprit: the first op whose own VJP disagrees, and its line ---------------

CULPRIT = re.compile(
    r"\n  first recorded op whose VJP disagrees with finite differences at the values it saw: "
    r"'(?P<op>[^']+)', created at (?P<file>.+?):(?P<line>\d+) `(?P<code>.*?)`"
    r"(?: by the VJP of '(?P<of>[^']+)' \(itself created at (?P<of_file>.+?):(?P<of_line>\d+) "
    r"`.*?`\))?; its gradient for input (?P<input>\d+), (?:element \((?P<element>[\d, ]*)\)|"
    r"along a random direction): VJP (?P<vjp>\S+) vs numeric (?P<numeric>\S+)$")
NO_CULPRIT = "every recorded op's VJP agrees with finite differences at the values it saw"


def culprit(message):
    """The culprit part of a GradcheckError message, as a dict of its fields."""
    m = CULPRIT.search(message)
    assert m, f"no culprit named in: {message}"
    found = m.groupdict()
    if found["element"] is not None:
        found["element"] = tuple(int(k) for k in found["element"].replace(",", " ").split())
    return found


def line_of(fn, text):
    """The file and line number of the line of ``fn``'s source holding ``text``."""
    lines, first = inspect.getsourcelines(fn)
    (k,) = [k for k, s in enumerate(lines) if text in s]
    return fn.__code__.co_filename, first + k


def make_cube(vjp):
    @ad.primitive
    def cube(x):
        return x ** 3

    ad.defvjp(cube, vjp)
    return cube


RIGHT = lambda g, ans, x: g * 3 * x ** 2
MISSING_A_FACTOR = lambda g, ans, x: g * 3 * x  # (x, not x**2)


def inside(cube):
    """A larger function with the primitive in the middle."""
    def f(t):
        u = ad.sin(t) * 2.0
        v = cube(u)  # the line that creates the op
        return ad.tanh(v) + t
    return f


X = np.array([[0.3, -0.7], [1.1, 0.5]])


@pytest.mark.usefixtures("restore_registry")
def test_gradcheck_names_a_wrong_user_op_and_its_line():
    f = inside(make_cube(MISSING_A_FACTOR))
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(f, (X,))
    message = str(info.value)
    assert parse(message)[0] == 0
    found = culprit(message)
    assert found["op"] == "cube" and found["of"] is None
    assert (found["file"], int(found["line"])) == line_of(f, "v = cube(u)")
    assert found["code"] == "v = cube(u)  # the line that creates the op"
    # The check ran at the values cube saw, u = 2 sin(x): its VJP (3 u) over the truth
    # (3 u**2) at the element named is 1 / u there.
    u = 2 * np.sin(X)
    ratio = float(found["vjp"]) / float(found["numeric"])
    assert ratio == pytest.approx(1 / u[found["element"]], rel=1e-6)


@pytest.mark.usefixtures("restore_registry")
def test_gradcheck_and_gradgradcheck_pass_on_the_right_user_op():
    f = inside(make_cube(RIGHT))
    assert ad.gradcheck(f, (X,)) is True
    assert ad.gradgradcheck(f, (X,)) is True


def test_gradcheck_names_a_broken_library_vjp(monkeypatch):
    # cos's VJP with the sign lost: -sin(x) g becomes sin(x) g.
    monkeypatch.setattr(REGISTRY["cos"], "vjps", (lambda K, g, out, x: K.mul(g, K.sin(x)),))

    def f(t):
        y = ad.exp(t) * 0.5
        z = ad.cos(y)
        return z * t

    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(f, (X,))
    found = culprit(str(info.value))
    assert found["op"] == "cos"
    assert (found["file"], int(found["line"])) == line_of(f, "z = ad.cos(y)")
    assert float(found["vjp"]) == pytest.approx(-float(found["numeric"]), rel=1e-6)


def test_gradgradcheck_names_a_broken_backward_op_and_the_op_it_differentiates(monkeypatch):
    # tanh's VJP is tanh_grad(g, out) = g (1 - out**2); break its derivative in out.
    op = REGISTRY["tanh_grad"]
    monkeypatch.setattr(op, "vjps", (op.vjps[0], lambda K, gg, out_, g, out: K.mul(gg, g)))

    def f(t):
        return ad.tanh(t * 1.5) * 2.0

    assert ad.gradcheck(f, (X,)) is True  # the first derivatives are right
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradgradcheck(f, (X,))
    found = culprit(str(info.value))
    assert (found["op"], found["of"], found["input"]) == ("tanh_grad", "tanh", "1")
    assert (found["of_file"], int(found["of_line"])) == line_of(f, "return ad.tanh(t * 1.5)")


def test_gradcheck_names_a_test_local_op():
    wrong_exp = _wrong_exp()
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(lambda t: wrong_exp(t) * 2.0, (X,))
    found = culprit(str(info.value))
    assert found["op"] == "wrong_exp"
    # its VJP is g, the truth g e^x: the ratio at the element named is e^-x
    assert float(found["vjp"]) / float(found["numeric"]) == pytest.approx(
        np.exp(-X[found["element"]]), rel=1e-6)


def test_gradcheck_says_when_no_op_is_to_blame():
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(lambda a: ad.sin(a) * a.detach(), (X,))
    assert NO_CULPRIT in str(info.value)
    assert not CULPRIT.search(str(info.value))


def test_gradcheck_leaves_the_profile_hook_as_it_was():
    calls = []

    def profiler(frame, event, arg):
        calls.append(event)

    wrong_exp = _wrong_exp()
    sys.setprofile(profiler)
    try:
        with pytest.raises(ad.GradcheckError):
            ad.gradcheck(lambda t: wrong_exp(t), (X,))
        assert sys.getprofile() is profiler
    finally:
        sys.setprofile(None)
    assert calls  # (it ran before and after the check's own hook)


def test_gradcheck_culprits_in_threads_are_their_own():
    # Each thread's observed run sees its own ops only (the hook is per thread).
    ops = [Op(f"wrong_exp{k}", lambda B, x: B.exp(x), (lambda K, g, out, x: g,), 1)
           for k in range(4)]
    names = [None] * 4

    def work(k):
        with pytest.raises(ad.GradcheckError) as info:
            ad.gradcheck(lambda t: ad.sin(ops[k](t)), (X,))
        names[k] = culprit(str(info.value))["op"]

    in_threads(work, 4)
    assert names == [op.name for op in ops]


# ----- fast mode -----------------------------------------------------------------------------

TWICE = lambda g, ans, x: g * 6 * x ** 2  # (twice the truth)


@pytest.mark.usefixtures("restore_registry")
def test_gradcheck_fast_mode(rng):
    x = rng.uniform(0.5, 1.5, 5)
    assert ad.gradcheck(inside(make_cube(RIGHT)), (x,), fast_mode=True) is True
    cube = make_cube(TWICE)
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(cube, (x,), fast_mode=True)
    message = str(info.value)
    m = re.match(r"gradcheck: input 0, along a random direction \(fast mode\): analytic (\S+) "
                 r"vs numeric (\S+) \(", message)
    assert m, message
    # u . J v scales with J: the projection of twice the Jacobian is twice the truth's.
    assert float(m[1]) == pytest.approx(2 * float(m[2]), rel=1e-6)
    assert "fast_mode=False names the element" in message
    assert culprit(message)["op"] == "cube"


@pytest.mark.usefixtures("restore_registry")
@pytest.mark.parametrize("n", [3, FAST_ABOVE + 1, 70000])
def test_gradcheck_fast_mode_is_automatic_above_a_size(n, rng):
    x = rng.uniform(0.5, 1.5, n)
    f = inside(make_cube(RIGHT))
    assert ad.gradcheck(f, (x,)) is True
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradcheck(inside(make_cube(TWICE)), (x,))
    message = str(info.value)
    fast = n > FAST_ABOVE
    assert ("(fast mode)" in message) == fast
    assert ("element (" in message.splitlines()[0]) == (not fast)
    found = culprit(message)
    assert found["op"] == "cube" and (found["element"] is None) == (n > 64)
    assert float(found["vjp"]) == pytest.approx(2 * float(found["numeric"]), rel=1e-5)


# ----- gradgradcheck -------------------------------------------------------------------------

GRADGRAD = [
    ("tanh-times-x", lambda x: ad.tanh(x) * x, [(3, 2)]),
    ("logsumexp-matmul", lambda a, b: ad.logsumexp(a @ b, axis=1), [(2, 3), (3, 2)]),
    ("softmax", lambda x: ad.softmax(x, axis=-1), [(2, 3)]),
    ("sigmoid-pow", lambda x: ad.sigmoid(x) ** 3, [(4,)]),
    ("sqrt-broadcast", lambda x, y: ad.sqrt(x * x + y), [(3, 2), (1, 2)]),
    ("sum-square", lambda x: (x * x).sum(axis=0), [(3, 2)]),
]


@pytest.mark.parametrize("fn, shapes", [g[1:] for g in GRADGRAD], ids=[g[0] for g in GRADGRAD])
def test_gradgradcheck_passes_on_library_functions(fn, shapes, rng):
    assert ad.gradgradcheck(fn, tuple(rng.uniform(0.5, 1.5, s) for s in shapes)) is True


@pytest.mark.usefixtures("restore_registry")
def test_gradgradcheck_detects_a_vjp_that_is_not_differentiable():
    # The VJP computes on a detached x: right first derivatives, second derivatives 0.
    cube = make_cube(lambda g, ans, x: g * 3 * x.detach() ** 2)
    x = np.array([0.5, -1.5, 1.0])
    assert ad.gradcheck(cube, (x,)) is True
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradgradcheck(cube, (x,))
    message = str(info.value)
    m = re.match(r"gradgradcheck: input 0, element \((\d+),\), output element \((\d+),\) "
                 r"\(the gradient for input 0, element \((\d+),\)\): analytic (\S+) vs", message)
    assert m, message
    # The Hessian of sum(cube * u) is diagonal: the worst entry is on it, and reads 0.
    assert m[1] == m[2] == m[3] and float(m[4]) == 0.0
    assert NO_CULPRIT in message


@pytest.mark.usefixtures("restore_registry")
def test_gradgradcheck_names_the_cotangent_when_the_vjp_drops_it():
    # g.detach(): under create_graph the gradient no longer depends on the upstream g.
    cube = make_cube(lambda g, ans, x: g.detach() * 3 * x ** 2)
    x = np.array([0.5, -1.5])
    assert ad.gradcheck(cube, (x,)) is True
    with pytest.raises(ad.GradcheckError) as info:
        ad.gradgradcheck(cube, (x,))
    m = re.match(r"gradgradcheck: input 1 \(the cotangent of f's output\), element \((\d+),\), "
                 r"output element \((\d+),\) .*: analytic (\S+) vs numeric (\S+) \(",
                 str(info.value))
    assert m, str(info.value)
    # d(3 x**2 u)/du = 3 x**2 on the diagonal, reported as 0
    k = int(m[1])
    assert int(m[2]) == k and float(m[3]) == 0.0
    assert float(m[4]) == pytest.approx(3 * x[k] ** 2, rel=1e-8)


def test_gradgradcheck_rejects_bad_inputs():
    with pytest.raises(TypeError, match="gradgradcheck: input 0"):
        ad.gradgradcheck(lambda t: t, ("text",))
    assert ad.gradgradcheck(lambda n: ad.Tensor(n * 2.0), (np.array([1, 2]),)) is True

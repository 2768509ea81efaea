"""Optimizers (pyautodiff.optim) against independent references.

- Each optimizer against a numpy implementation of PyTorch's formulas written out here,
  25 steps on both backends, float32 and float64: equal to the bit. The library computes
  the same IEEE operations in the same order, each rounded once in the parameter's dtype
  (numpy's formula on the numpy backend, one fused C pass per parameter on the C
  backend), so there is no rounding difference for a tolerance to absorb.
- Each optimizer against PyTorch's own (``foreach=False``: the single-tensor path whose
  formulas these are), float64, 25 steps, to 1e-9 relative. PyTorch contracts some
  products and sums into fused multiply-adds (``add(alpha=)``, ``lerp``), so it differs by
  rounding alone: a few 1e-14 relative in practice.
- The fused C update against the numpy formula (hypothesis: shapes incl. empty and one
  element, both dtypes, random hyperparameters and special values, several steps,
  contiguous and non-contiguous or aliased operands): equal to the bit, NaN positions
  included (their payloads are not compared: the compiler may swap the operands of a
  commutative operation, which picks the other NaN's payload).
- Full-batch gradient descent on linear regression reaches numpy.linalg.lstsq's solution.
"""

import contextlib
import tracemalloc

import numpy as np
import pytest
from conftest import c_threshold, require_backend
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pyautodiff as ad
from pyautodiff import optim

STEPS = 25
SHAPES = [(3, 4), (4,), ()]


# ----- references: PyTorch's single-tensor formulas, written out in numpy ------------------

def ref_sgd(x0, grad, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
            nesterov=False):
    """torch.optim.SGD on one parameter; ``grad(p, t)`` gives the gradient at step t."""
    p, buf = x0.copy(), None
    for t in range(steps):
        g = grad(p, t)
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            buf = g.copy() if buf is None else buf * momentum + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def ref_adam(x0, grad, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             decoupled=False):
    """torch.optim.Adam (or AdamW, ``decoupled``) on one parameter."""
    beta1, beta2 = betas
    p = x0.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, steps + 1):
        g = grad(p, t - 1)
        if weight_decay != 0:
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        # torch.lerp(m, g, w), with the weight in the parameter's dtype
        w = float(p.dtype.type(1 - beta1))
        m = m + w * (g - m) if abs(w) < 0.5 else g - (g - m) * (1 - w)
        v = v * beta2 + (1 - beta2) * g * g
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(v) / (1 - beta2**t) ** 0.5 + eps
        p = p - step_size * m / denom
    return p


CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.25}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1, "nesterov": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    # beta1 < 0.5: lerp's other form, g - (g - m) * (1 - w)
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.8), "eps": 1e-6, "weight_decay": 0.05}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.3}),
]
CASE_IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]


def reference(name, kw, x0, grad, steps):
    if name == "SGD":
        return ref_sgd(x0, grad, steps, **kw)
    if name == "AdamW":
        return ref_adam(x0, grad, steps, decoupled=True, **{"weight_decay": 1e-2, **kw})
    return ref_adam(x0, grad, steps, **kw)


def problem(dtype, seed=0, shapes=SHAPES, steps=STEPS):
    """Initial parameters of ``shapes`` and gradient functions that depend on the parameter
    (so a wrong step changes every later gradient) plus noise for ``steps`` steps."""
    rng = np.random.default_rng(seed)
    x0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    noise = [rng.standard_normal((steps,) + s).astype(dtype) for s in shapes]

    def grad_of(k):
        return lambda p, t: np.asarray(np.tanh(2 * p) + 0.1 * p * p * p + noise[k][t])

    return x0, [grad_of(k) for k in range(len(shapes))]


@contextlib.contextmanager
def fused_calls():
    """A list that collects (family, dtype) for every fused C kernel the optimizers call."""
    calls, real = [], optim._kernel

    def spy(c, family, dtype):
        calls.append((family, np.dtype(dtype)))
        return real(c, family, dtype)

    optim._kernel = spy
    try:
        yield calls
    finally:
        optim._kernel = real


def run(name, kw, x0, grads, steps, dtype=None):
    """``steps`` steps of optimizer ``name`` on tensors starting at ``x0``; the final values."""
    params = [ad.Tensor(x, requires_grad=True) for x in x0]
    opt = getattr(optim, name)(params, **kw)
    for t in range(steps):
        for p, grad in zip(params, grads):
            p.grad = ad.Tensor(grad(p.data, t))
        opt.step()
    return [p.data for p in params]


@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_optimizer_matches_numpy_reference(backend, dtype, name, kw):
    x0, grads = problem(dtype)
    with fused_calls() as calls:
        got = run(name, kw, x0, grads, STEPS)
    family = "sgd" if name == "SGD" else "adam"
    # On the C backend every update is one fused pass; on numpy, none is.
    assert calls == ([(family, dtype)] * (STEPS * len(x0)) if backend == "c" else [])
    for k, (x, grad) in enumerate(zip(x0, grads)):
        want = reference(name, kw, x, grad, STEPS)
        assert got[k].dtype == dtype
        np.testing.assert_array_equal(got[k], want, err_msg=f"parameter {k} {x.shape}")
        assert not np.array_equal(got[k], x)


@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_optimizer_matches_torch(backend, name, kw):
    torch = pytest.importorskip("torch")
    x0, grads = problem(np.float64, seed=1)
    params = [ad.Tensor(x, requires_grad=True) for x in x0]
    tparams = [torch.tensor(x, requires_grad=True) for x in x0]
    opt = getattr(optim, name)(params, **kw)
    topt = getattr(torch.optim, name)(tparams, foreach=False, **kw)
    for t in range(STEPS):
        for p, tp, grad in zip(params, tparams, grads):
            p.grad = ad.Tensor(grad(p.data, t))
            tp.grad = torch.from_numpy(grad(tp.detach().numpy(), t))
        opt.step()
        topt.step()
        for k, (p, tp) in enumerate(zip(params, tparams)):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-9, atol=0,
                                       err_msg=f"step {t + 1}, parameter {k}")


# ----- the fused C pass against the numpy formula ------------------------------------------

def _with_specials(a, rng_bits):
    """``a`` with a few elements set to NaN, +-inf, -0.0 or a subnormal, chosen by the bits."""
    if a.size == 0 or rng_bits == 0:
        return a
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, np.finfo(a.dtype).smallest_subnormal],
                        a.dtype)
    flat = a.reshape(-1).copy()
    flat[rng_bits % flat.size] = specials[(rng_bits >> 8) % specials.size]
    return flat.reshape(a.shape)


def maybe_zero(hi):
    return st.one_of(st.just(0.0), st.floats(0, hi))


@st.composite
def hyperparameters(draw):
    name = draw(st.sampled_from(["SGD", "Adam", "AdamW"]))
    if name == "SGD":
        momentum = draw(maybe_zero(1.0))
        nesterov = momentum > 0 and draw(st.booleans())
        kw = {"lr": draw(st.floats(0, 10)), "momentum": momentum, "nesterov": nesterov,
              "dampening": 0.0 if nesterov else draw(maybe_zero(1.0)),
              "weight_decay": draw(maybe_zero(1.0))}
    else:
        beta = st.floats(0, 1, exclude_max=True)
        kw = {"lr": draw(st.floats(0, 10)), "betas": (draw(beta), draw(beta)),
              "eps": draw(st.one_of(st.just(0.0), st.floats(1e-12, 1e-2))),
              "weight_decay": draw(maybe_zero(1.0))}
    return name, kw


@st.composite
def update_problems(draw):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    shape = draw(st.one_of(st.sampled_from([(0,), (1,), (), (2, 0)]),
                           hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=7)))
    elements = st.floats(-100, 100, width=dtype.itemsize * 8)
    steps = draw(st.integers(1, 3))
    x0 = draw(hnp.arrays(dtype, shape, elements=elements))
    x0 = _with_specials(x0, draw(st.integers(0, 1 << 16)))
    grads = [draw(hnp.arrays(dtype, shape, elements=elements)) for _ in range(steps)]
    grads[0] = _with_specials(grads[0], draw(st.integers(0, 1 << 16)))
    # contiguous: the C pass; the others must take the numpy formula on either backend
    layout = draw(st.sampled_from(["contiguous", "contiguous", "strided", "fortran",
                                   "broadcast grad", "grad aliases param"]))
    return dtype, x0, grads, draw(hyperparameters()), layout


def _place(x0, layout):
    """The parameter's data array for ``layout``: the same values, in the layout."""
    if layout == "strided":
        room = np.zeros(x0.shape + (2,), x0.dtype)
        room[..., 0] = x0
        return room[..., 0]  # every other element: not contiguous
    if layout == "fortran":
        return np.array(x0, order="F")  # a copy, and 0-d stays 0-d
    return x0.copy()


def _update(backend, dtype, x0, grads, hyper, layout):
    """Run the steps; returns the parameter, its state arrays and how many steps met the
    fused kernel's conditions (non-empty, contiguous, no shared memory)."""
    name, kw = hyper
    p = ad.Tensor(x0, requires_grad=True)
    p.data = _place(x0, layout)
    opt = getattr(optim, name)([p], **kw)
    fusable = 0
    with ad.use_backend(backend), c_threshold(0), np.errstate(all="ignore"):
        for g in grads:
            if layout == "broadcast grad":
                # one value repeated with stride 0 (contiguous all the same when size <= 1)
                if g.size:
                    g = np.broadcast_to(g.reshape(-1)[:1].reshape((1,) * g.ndim), g.shape)
                grad = ad.Tensor(np.zeros(g.shape, dtype))
                grad.data = g
                p.grad = grad
            elif layout == "grad aliases param":
                p.grad = p.detach()  # the gradient is the parameter's own memory
            else:
                p.grad = ad.Tensor(g)
            gd = p.grad.data
            fusable += (p.data.size > 0 and p.data.flags.c_contiguous and gd.flags.c_contiguous
                        and not np.may_share_memory(gd, p.data))
            before = p.data
            opt.step()
            assert p.data is before  # in place
    return p.data, [opt.state[0][k] for k in sorted(opt.state[0]) if k != "step"], fusable


def assert_same_bits(a, b, what):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b), err_msg=f"{what}: NaN positions")
    uint = np.uint32 if a.dtype == np.float32 else np.uint64
    same = a.view(uint)[~nan] == b.view(uint)[~nan]
    assert same.all(), (f"{what}: {int((~same).sum())} elements differ, e.g. "
                        f"{a[~nan][~same][:3]!r} vs {b[~nan][~same][:3]!r}")


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(problem=update_problems())
def test_fused_update_matches_numpy_formula(problem):
    require_backend("c")
    dtype, x0, grads, hyper, layout = problem
    with fused_calls() as calls:
        got, got_state, fusable = _update("c", dtype, x0, grads, hyper, layout)
    assert len(calls) == fusable, (layout, calls)
    if layout == "contiguous":
        assert fusable == (len(grads) if x0.size else 0)
    want, want_state, _ = _update("numpy", dtype, x0, grads, hyper, layout)
    assert_same_bits(got, want, "parameter")
    for k, (a, b) in enumerate(zip(got_state, want_state)):
        assert_same_bits(a, b, f"state {k}")


@pytest.mark.parametrize("name, kw", [("SGD", {"lr": 0.1, "momentum": 0.9}),
                                      ("Adam", {"lr": 0.1}),
                                      ("AdamW", {"lr": 0.1, "weight_decay": 0.5})])
def test_gradient_aliasing_the_parameter_is_read_before_the_update(backend, name, kw):
    # p.grad = p.detach() shares p's memory: the update must use the gradient as it was
    # when step() began (as PyTorch's separate .grad is), not the half-updated parameter.
    x0 = np.array([1.0, -2.0, 0.5])
    p = ad.Tensor(x0, requires_grad=True)
    opt = getattr(optim, name)([p], **kw)
    with fused_calls() as calls:
        for _ in range(3):
            p.grad = p.detach()
            assert np.shares_memory(p.grad.data, p.data)
            opt.step()
    assert calls == []
    np.testing.assert_array_equal(p.data, reference(name, kw, x0, lambda q, t: q.copy(), 3))


def test_float32_parameter_with_float64_gradient_takes_numpy_formula(backend):
    p = ad.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.5)
    g = ad.Tensor(np.array([0.25, 1.0]))
    p.grad = g
    with fused_calls() as calls:
        opt.step()
    assert calls == []
    assert p.dtype == np.float32
    np.testing.assert_array_equal(p.data, np.array([0.875, 1.5], np.float32))


# ----- behaviour -----------------------------------------------------------------------------

def test_parameters_without_gradient_are_skipped(backend):
    a = ad.Tensor([1.0, 2.0], requires_grad=True)
    b = ad.Tensor([3.0, 4.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    grads = [np.array([0.5, -1.0]), np.array([2.0, 1.0]), np.array([-0.3, 0.7])]
    for t, g in enumerate(grads):
        a.grad = ad.Tensor(g)
        b.grad = ad.Tensor(g) if t == 1 else None
        opt.step()
    np.testing.assert_array_equal(b.data, ref_adam(np.array([3.0, 4.0]),
                                                   lambda p, t: grads[1], 1, lr=0.1))
    assert opt.state[1]["step"] == 1  # only steps with a gradient count (bias correction)
    np.testing.assert_array_equal(a.data, ref_adam(np.array([1.0, 2.0]),
                                                   lambda p, t: grads[t], 3, lr=0.1))
    c = ad.Tensor([5.0], requires_grad=True)
    opt = optim.SGD([c], lr=0.1, momentum=0.9)
    opt.step()
    assert c.data.tolist() == [5.0] and opt.state[0] == {}


def test_zero_grad_sets_grad_to_none_and_params_accepts_a_generator():
    w = ad.Tensor([1.0, 2.0], requires_grad=True)
    b = ad.Tensor(0.5, requires_grad=True)
    opt = optim.SGD((t for t in (w, b)), lr=0.1)
    assert isinstance(opt.params, list) and opt.params[0] is w and opt.params[1] is b
    (w.sum() * b).backward()
    assert w.grad is not None and b.grad is not None
    opt.zero_grad()
    assert w.grad is None and b.grad is None


def test_step_is_in_place_and_not_recorded(backend):
    w = ad.Tensor([1.0, -2.0], requires_grad=True)
    data = w.data
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.data is data and w.is_leaf and w.grad_fn is None and w.requires_grad
    # the updated parameter is an ordinary leaf: a new graph through it differentiates
    opt.zero_grad()
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, 2 * w.data)


def test_state_buffers_are_created_once_and_steps_allocate_nothing(backend):
    n = 100_000
    rng = np.random.default_rng(3)
    for name, kw in [("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1,
                              "nesterov": True}),
                     ("Adam", {"lr": 0.1, "weight_decay": 0.1}),
                     ("AdamW", {"lr": 0.1})]:
        p = ad.Tensor(rng.standard_normal(n), requires_grad=True)
        p.grad = ad.Tensor(rng.standard_normal(n))
        opt = getattr(optim, name)([p], **kw)
        opt.step()
        buffers = {k: v for k, v in opt.state[0].items() if k != "step"}
        tracemalloc.start()
        try:
            for _ in range(3):
                opt.step()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # One array of the parameter is 800 kB: the steps allocate none of that size.
        assert peak < p.data.nbytes // 10, f"{name}: a step allocated {peak} bytes"
        assert all(opt.state[0][k] is v for k, v in buffers.items())


def test_closure_is_called_and_its_loss_returned(backend):
    w = ad.Tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with ad.no_grad():  # the closure records anyway
        loss = opt.step(closure)
    assert loss.item() == 9.0
    assert w.data.tolist() == [1.5]


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_sgd_linear_regression_reaches_lstsq_solution(backend, momentum):
    rng = np.random.default_rng(7)
    n, d = 200, 4
    X = rng.standard_normal((n, d))
    y = X @ rng.standard_normal(d) + 0.7 + 0.1 * rng.standard_normal(n)
    A = np.column_stack([X, np.ones(n)])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    # step 1/L, L the largest eigenvalue of the loss's Hessian 2/n A^T A
    lr = 1 / np.linalg.eigvalsh(2 / n * A.T @ A).max()
    w = ad.Tensor(np.zeros(d), requires_grad=True)
    b = ad.Tensor(0.0, requires_grad=True)
    Xt, yt = ad.Tensor(X), ad.Tensor(y)
    opt = optim.SGD([w, b], lr=lr, momentum=momentum)
    for _ in range(1000):
        opt.zero_grad()
        loss = ((Xt @ w + b - yt) ** 2).mean()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(w.data, solution[:d], rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.data, solution[d], rtol=0, atol=1e-6)


# ----- arguments -----------------------------------------------------------------------------

def _w():
    return [ad.Tensor([1.0], requires_grad=True)]


@pytest.mark.parametrize("make, match", [
    (lambda: optim.SGD(_w(), lr=-0.1), r"SGD: invalid lr -0\.1, expected lr >= 0"),
    (lambda: optim.SGD(_w(), lr=float("nan")), r"SGD: invalid lr nan"),
    (lambda: optim.SGD(_w(), lr=0.1, momentum=-1), r"SGD: invalid momentum"),
    (lambda: optim.SGD(_w(), lr=0.1, weight_decay=-1), r"SGD: invalid weight_decay"),
    (lambda: optim.SGD(_w(), lr=0.1, dampening=float("inf")), r"SGD: invalid dampening"),
    (lambda: optim.SGD(_w(), lr=0.1, nesterov=True), r"SGD: Nesterov momentum needs"),
    (lambda: optim.SGD(_w(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     r"SGD: Nesterov momentum needs"),
    (lambda: optim.Adam(_w(), lr=-1), r"Adam: invalid lr"),
    (lambda: optim.Adam(_w(), betas=(1.0, 0.9)), r"Adam: invalid beta parameter at index 0"),
    (lambda: optim.Adam(_w(), betas=(0.9, -0.1)), r"Adam: invalid beta parameter at index 1"),
    (lambda: optim.Adam(_w(), betas=(0.9,)), r"Adam: betas must be a pair"),
    (lambda: optim.Adam(_w(), eps=-1e-8), r"Adam: invalid eps"),
    (lambda: optim.Adam(_w(), weight_decay=-0.1), r"Adam: invalid weight_decay"),
    (lambda: optim.AdamW(_w(), betas=(0.9, 1.5)), r"AdamW: invalid beta parameter at index 1"),
    (lambda: optim.AdamW(_w(), lr=-1), r"AdamW: invalid lr"),
    (lambda: optim.SGD([], lr=0.1), r"SGD: got an empty parameter list"),
    (lambda: optim.Adam([_w()[0]] * 2), r"Adam: parameter 1 appears more than once"),
    (lambda: optim.SGD([_w()[0] * 2], lr=0.1), r"SGD: parameter 0 is not a leaf tensor"),
])
def test_bad_arguments_raise_value_error_naming_the_optimizer(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make, match", [
    (lambda: optim.SGD(_w()[0], lr=0.1), r"SGD: params must be an iterable of Tensors"),
    (lambda: optim.Adam(5), r"Adam: params must be an iterable of Tensors, got int"),
    (lambda: optim.SGD([np.ones(3)], lr=0.1), r"SGD: parameter 0 is a ndarray"),
    (lambda: optim.SGD(_w(), lr="fast"), r"SGD: lr must be a real number"),
    (lambda: optim.Adam(_w(), betas=(0.9, None)), r"Adam: beta2 must be a real number"),
])
def test_bad_argument_types_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_step_refuses_read_only_parameters_and_changed_shapes(backend):
    w = ad.Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([w])
    w.grad = ad.Tensor([1.0, 1.0])
    opt.step()
    w.data = np.zeros(3)
    w.grad = ad.Tensor([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"Adam.step: parameter 0 is now \(3,\) float64"):
        opt.step()
    frozen = np.ones(2)
    frozen.flags.writeable = False
    v = ad.Tensor([0.0, 0.0], requires_grad=True)
    v.data = frozen
    v.grad = ad.Tensor([1.0, 1.0])
    with pytest.raises(ValueError, match=r"SGD.step: parameter 0 is read-only"):
        optim.SGD([v], lr=0.1).step()
    assert frozen.tolist() == [1.0, 1.0]


def test_sgd_positional_arguments_follow_api_md():
    # API.md: SGD(params, lr, momentum=0.0, weight_decay=0.0); dampening and nesterov
    # are keyword-only, so a positional fourth number is the weight decay.
    w = ad.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([w], 0.1, 0.0, 0.5)
    assert (opt.momentum, opt.weight_decay, opt.dampening) == (0.0, 0.5, 0.0)
    (w * w).sum().backward()
    opt.step()
    # g = 2w + 0.5w = 2.5w; w - 0.1 * g = 0.75w
    np.testing.assert_array_equal(w.numpy(), [0.75, -1.5])

"""pyautodiff.losses (re-exported by nn): every loss and reduction against PyTorch, closed
forms in numpy, finite differences (gradcheck, gradgradcheck), compiled replays, errors.

PyTorch's tests skip when torch is not importable; the closed forms, gradchecks and
error tests do not need it.
"""

import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import nn

REDUCTIONS = ["mean", "sum", "none"]
# float64, against PyTorch or a closed form: the same formulas in a few roundings per
# element. Gradients are sums of O(1) terms, so entries near 0 get an absolute floor.
RTOL, GRAD_ATOL = 1e-12, 1e-14


def _torch():
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    # Tiny tensors: torch's thread pool only adds waits (tens of ms a call on a busy machine).
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _run(fn, args, kwargs, grads_of, rng, lib):
    """``fn(*args, **kwargs)`` in ``lib`` ("ad" or "torch") from numpy values: float arrays
    become tensors (those at ``grads_of`` require grad), int arrays stay labels. Returns
    the loss and the gradients of ``sum(loss * u)`` (u fixed by ``rng``'s state)."""
    if lib == "torch":
        torch = _torch()

        def conv(a, rg=False):
            if a.dtype.kind in "iu":
                return torch.from_numpy(a.astype(np.int64))
            return torch.tensor(a, requires_grad=rg)
    else:
        def conv(a, rg=False):
            return a if a.dtype.kind in "iu" else ad.tensor(a, requires_grad=rg)
    ts = [conv(np.asarray(a), i in grads_of) for i, a in enumerate(args)]
    kw = {k: conv(np.asarray(v)) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    loss = fn(*ts, **kw)
    u = rng.standard_normal(tuple(loss.shape))
    (loss * (torch.tensor(u) if lib == "torch" else ad.tensor(u))).sum().backward()
    value = loss.detach().numpy()
    return value, [ts[i].grad.numpy() for i in grads_of]


def _against_torch(name, args, kwargs, grads_of, seed=0):
    torch = _torch()
    ours = _run(getattr(nn, name), args, kwargs, grads_of, np.random.default_rng(seed), "ad")
    theirs = _run(getattr(torch.nn.functional, name), args, kwargs, grads_of,
                  np.random.default_rng(seed), "torch")
    assert ours[0].shape == theirs[0].shape
    np.testing.assert_allclose(ours[0], theirs[0], rtol=RTOL, atol=0)
    for g, tg in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(g, tg, rtol=RTOL, atol=GRAD_ATOL)


# ----- regression losses ---------------------------------------------------------------------

REGRESSION = {
    "mse_loss": {},
    "l1_loss": {},
    "huber_loss": {"delta": 0.7},
    "smooth_l1_loss": {"beta": 0.7},
    "smooth_l1_loss-beta0": {"beta": 0.0},
}


@pytest.mark.parametrize("case", list(REGRESSION))
def test_regression_matches_torch(backend, case, rng):
    pred, target = rng.standard_normal((2, 3, 4))  # |pred - target| on both sides of 0.7
    for reduction in REDUCTIONS:
        _against_torch(case.partition("-")[0], (pred, target),
                       dict(REGRESSION[case], reduction=reduction), (0, 1))


def _np_regression(case, d):
    """The elementwise loss and its derivative in d = pred - target, by hand."""
    a = np.abs(d)
    if case == "mse_loss":
        return d * d, 2 * d
    if case == "l1_loss" or case == "smooth_l1_loss-beta0":
        return a, np.sign(d)
    k = 0.7
    huber = np.where(a < k, 0.5 * d * d, k * (a - 0.5 * k)), np.where(a < k, d, k * np.sign(d))
    return huber if case == "huber_loss" else (huber[0] / k, huber[1] / k)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_closed_form(size, dtype, reduction, rng):
    pred, target = rng.standard_normal((2, size)).astype(dtype)
    d = pred.astype(np.float64) - target.astype(np.float64)
    # float32: the difference is rounded once (6e-8 relative), then each term a few times
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for case, options in REGRESSION.items():
        pt = ad.tensor(pred, requires_grad=True)
        loss = getattr(nn, case.partition("-")[0])(pt, target, reduction=reduction, **options)
        (loss if reduction != "none" else loss.sum()).backward()
        value, grad = _np_regression(case, d)
        if reduction == "mean":
            value, grad = value.mean(), grad / size
        elif reduction == "sum":
            value = value.sum()
        assert loss.dtype == dtype and pt.grad.dtype == dtype
        np.testing.assert_allclose(loss.numpy(), value, rtol=rtol, atol=0)
        np.testing.assert_allclose(pt.grad.numpy(), grad, rtol=rtol,
                                   atol=rtol * np.abs(grad).max())


def test_huber_gradient_at_the_kink_is_delta_and_at_zero_zero(backend):
    # |d| == delta: both pieces have slope delta there; d == 0: the minimum, slope 0
    pred = ad.tensor([2.0, -2.0, 0.0, 0.5], requires_grad=True)
    nn.huber_loss(pred, [0.0, 0.0, 0.0, 0.0], reduction="sum", delta=2.0).backward()
    np.testing.assert_array_equal(pred.grad.numpy(), [2.0, -2.0, 0.0, 0.5])


# ----- nll_loss and cross_entropy ------------------------------------------------------------

LAYOUTS = {"1d": (5,), "2d": (6, 5), "4d": (3, 5, 2, 2)}
CLASS_OPTIONS = ["plain", "weight", "ignore", "index_in_range", "weight+ignore",
                 "smoothing", "weight+ignore+smoothing"]


def _class_case(rng, layout, option):
    """Logits, labels and keyword arguments for ``option`` (the ignored samples are every
    third one; the 1-d layout, one sample, is not ignored: a mean of no samples is nan)."""
    shape = LAYOUTS[layout]
    c = shape[0] if len(shape) == 1 else shape[1]
    z = 2.0 * rng.standard_normal(shape)
    labels = rng.integers(0, c, shape[:1][:0] if len(shape) == 1 else shape[:1] + shape[2:])
    kwargs = {}
    if "weight" in option:
        kwargs["weight"] = rng.uniform(0.2, 2.0, c)
    if "ignore" in option and labels.ndim:
        labels.flat[::3] = -100
    if option == "index_in_range":
        kwargs["ignore_index"] = 2
    if "smoothing" in option:
        kwargs["label_smoothing"] = 0.2
    return z, labels, kwargs


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_losses_match_torch(backend, name, layout, rng):
    # every option on (N, C); the other layouts with the options that touch the layout
    for option in CLASS_OPTIONS if layout == "2d" else CLASS_OPTIONS[::3]:
        if name == "nll_loss" and "smoothing" in option:
            continue  # (label_smoothing is cross_entropy's)
        z, labels, kwargs = _class_case(rng, layout, option)
        x = z if name == "cross_entropy" else z - np.log(np.exp(z).sum(
            axis=1 if z.ndim > 1 else 0, keepdims=True))
        for reduction in REDUCTIONS:
            _against_torch(name, (x, labels), dict(kwargs, reduction=reduction), (0,))


def test_cross_entropy_weight_ignore_smoothing_closed_form(backend, rng):
    # PyTorch's formula by hand: (1 - s) nll + (s / C) sum_c -w_c logp_c, both over the
    # kept samples' weights
    z, labels = rng.standard_normal((6, 4)), np.array([0, -100, 3, 3, 1, -100])
    w, s = np.array([0.5, 1.0, 2.0, 1.5]), 0.3
    zt, wt = ad.tensor(z, requires_grad=True), ad.tensor(w, requires_grad=True)
    loss = nn.cross_entropy(zt, labels, wt, label_smoothing=s)
    loss.backward()
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    kept = labels != -100
    lab = labels[kept]
    total = w[lab].sum()
    nll = -(w[lab] * logp[kept, lab]).sum() / total
    smooth = -(logp[kept] * w).sum() / total
    np.testing.assert_allclose(loss.item(), (1 - s) * nll + s / 4 * smooth, rtol=RTOL)
    # d/dz of each kept row: (1 - s) w_y (p - e_y) / total + (s / C) (sum(w) p - w) / total
    p = np.exp(logp[kept])
    onehot = np.eye(4)[lab]
    gz = np.zeros_like(z)
    gz[kept] = ((1 - s) * w[lab][:, None] * (p - onehot)
                + s / 4 * (w.sum() * p - w)) / total
    np.testing.assert_allclose(zt.grad.numpy(), gz, rtol=RTOL, atol=GRAD_ATOL)
    # d/dw_c: the two sums' terms in class c, less the loss times the count of label c
    count = np.bincount(lab, minlength=4)
    pick = np.bincount(lab, weights=logp[kept, lab], minlength=4)
    gw = (-(1 - s) * pick - s / 4 * logp[kept].sum(0) - loss.item() * count) / total
    np.testing.assert_allclose(wt.grad.numpy(), gw, rtol=RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_every_sample_ignored(backend, name):
    # As PyTorch: the mean of no samples is nan (0 / 0), the sum 0, the gradient 0.
    z = ad.tensor(np.zeros((2, 3)), requires_grad=True)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (numpy's 0 / 0)
        loss = getattr(nn, name)(z, [-100, -100])
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(z.grad.numpy(), np.zeros((2, 3)))
    assert getattr(nn, name)(z, [-100, -100], reduction="sum").item() == 0.0


def test_ignored_sample_with_minus_inf_log_probability_stays_finite(backend):
    # nll_loss of log(0) = -inf on an ignored sample: masked, not multiplied by 0 (nan)
    x = ad.tensor([[-np.inf, 0.0], [np.log(0.25), np.log(0.75)]], requires_grad=True)
    loss = nn.nll_loss(x, [-100, 0])
    loss.backward()
    assert loss.item() == np.log(4.0)
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [-1.0, 0.0]])


@pytest.mark.parametrize("reduction", ["sum", "none"])
def test_empty_batch_sums_to_zero(backend, reduction):
    # (the mean of no samples raises, as test_nn checks; PyTorch gives nan there)
    expected = np.zeros(0) if reduction == "none" else 0.0
    for loss in (nn.cross_entropy(ad.zeros((0, 3)), [], reduction=reduction),
                 nn.mse_loss(ad.zeros(0), [], reduction=reduction),
                 nn.binary_cross_entropy(ad.zeros((0, 2)), np.zeros((0, 2)),
                                         reduction=reduction)):
        np.testing.assert_array_equal(loss.numpy(), np.reshape(expected, loss.shape))
        assert loss.shape == ((0,) if reduction == "none" else ()) or loss.shape == (0, 2)


# ----- binary cross-entropy ------------------------------------------------------------------

@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_matches_torch(backend, weighted, rng):
    p, t = rng.uniform(0.05, 0.95, (2, 3, 4))  # soft targets
    kwargs = {"weight": rng.uniform(0.5, 2.0, 4)} if weighted else {}
    for reduction in REDUCTIONS:
        _against_torch("binary_cross_entropy", (p, t), dict(kwargs, reduction=reduction),
                       (0, 1))


@pytest.mark.parametrize("option", ["plain", "weight", "pos_weight", "both"])
def test_binary_cross_entropy_with_logits_matches_torch(backend, option, rng):
    z, t = 3.0 * rng.standard_normal((3, 4)), rng.uniform(0, 1, (3, 4))
    kwargs = {}
    if option in ("weight", "both"):
        kwargs["weight"] = rng.uniform(0.5, 2.0, (3, 1))
    if option in ("pos_weight", "both"):
        kwargs["pos_weight"] = rng.uniform(0.3, 3.0, 4)
    for reduction in REDUCTIONS:
        _against_torch("binary_cross_entropy_with_logits", (z, t),
                       dict(kwargs, reduction=reduction), (0, 1))


def test_bce_with_logits_pos_weight_extreme_logits_finite_and_match_torch(backend):
    z = np.array([-1e4, -40.0, 0.0, 40.0, 1e4])
    t = np.array([1.0, 1.0, 0.5, 0.0, 0.0])
    _against_torch("binary_cross_entropy_with_logits", (z, t),
                   {"pos_weight": np.full(5, 2.5), "reduction": "none"}, (0, 1))


def test_binary_cross_entropy_at_zero_and_one(backend):
    # Values as PyTorch's (each log clamped at -100); the gradient is the clamped loss's,
    # finite: d/dp = (1 - t) / (1 - p) - t / p with a clamped log's term dropped.
    p = ad.tensor([0.0, 0.0, 1.0, 1.0, 0.5], requires_grad=True)
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    loss = nn.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [0.0, 100.0, 100.0, 0.0, np.log(2.0)])
    loss.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, 0.0, 0.0, -1.0, -2.0])
    torch = pytest.importorskip("torch")
    tl = torch.nn.functional.binary_cross_entropy(
        torch.tensor([0.0, 0.0, 1.0, 1.0, 0.5], dtype=torch.float64), torch.tensor(t),
        reduction="none")
    np.testing.assert_array_equal(loss.numpy(), tl.numpy())


def test_binary_cross_entropy_float32_saturated_sigmoid_has_finite_gradient(backend):
    # sigmoid(20) rounds to 1 in float32: the loss is finite and the logits' gradient 0
    # (sigmoid's derivative, p (1 - p), is 0 there), not nan
    z = ad.tensor(np.array([20.0, -120.0], np.float32), requires_grad=True)
    loss = nn.binary_cross_entropy(ad.sigmoid(z), np.array([1.0, 0.0], np.float32))
    loss.backward()
    assert loss.dtype == np.float32 and loss.item() == 0.0
    np.testing.assert_array_equal(z.grad.numpy(), [0.0, 0.0])


# ----- float32 in, float32 out ---------------------------------------------------------------

def _loss_inputs(rng, dtype):
    """Targets, class weights and labels for ``_every_loss``."""
    return (rng.uniform(0, 1, (3, 4)).astype(dtype), rng.uniform(0.5, 2.0, 4).astype(dtype),
            np.array([1, -100, 3]))


def _every_loss(t, w, labels):
    """{name: the loss of a (3, 4) tensor ``x``} for every loss, its options not the
    defaults, with numpy targets ``t``, class weights ``w`` and ``labels``."""
    return {
        "mse_loss": lambda x: nn.mse_loss(x, t),
        "l1_loss": lambda x: nn.l1_loss(x, t),
        "huber_loss": lambda x: nn.huber_loss(x, t, delta=0.5),
        "smooth_l1_loss": lambda x: nn.smooth_l1_loss(x, t, beta=0.5),
        "nll_loss": lambda x: nn.nll_loss(ad.log_softmax(x, axis=1), labels, w),
        "cross_entropy": lambda x: nn.cross_entropy(x, labels, w, label_smoothing=0.1),
        "binary_cross_entropy": lambda x: nn.binary_cross_entropy(ad.sigmoid(x), t, w),
        "binary_cross_entropy_with_logits": lambda x: nn.binary_cross_entropy_with_logits(
            x, t, w, pos_weight=w),
    }


LOSSES = list(_every_loss(None, None, None))


@pytest.mark.parametrize("name", LOSSES)
def test_float32_stays_float32_and_agrees_with_float64(backend, name, rng):
    x = rng.standard_normal((3, 4))
    results = []
    for dt in (np.float32, np.float64):
        xt = ad.tensor(x.astype(dt), requires_grad=True)
        loss = _every_loss(*_loss_inputs(np.random.default_rng(1), dt))[name](xt)
        loss.backward()
        assert loss.dtype == dt and xt.grad.dtype == dt
        results.append((loss.item(), xt.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-4, atol=1e-6)


# ----- finite differences --------------------------------------------------------------------

def _gradcheck_cases(rng):
    """(name, f, inputs): every loss, differentiated in each float input it takes."""
    x, t = rng.standard_normal((2, 3, 4))
    p, q = rng.uniform(0.1, 0.9, (2, 3, 4))
    w, pw = rng.uniform(0.5, 2.0, (2, 4))
    labels = np.array([1, -100, 3])
    return [
        ("mse_loss", nn.mse_loss, (x, t)),
        ("l1_loss", nn.l1_loss, (x, t)),
        ("huber_loss", lambda a, b, **k: nn.huber_loss(a, b, delta=0.7, **k), (x, t)),
        ("smooth_l1_loss", lambda a, b, **k: nn.smooth_l1_loss(a, b, beta=0.7, **k), (x, t)),
        ("nll_loss", lambda a, c, **k: nn.nll_loss(a, labels, c, **k), (x, w)),
        ("cross_entropy", lambda a, c, **k: nn.cross_entropy(a, labels, c, label_smoothing=0.2,
                                                             **k), (x, w)),
        ("binary_cross_entropy", nn.binary_cross_entropy, (p, q, w)),
        ("binary_cross_entropy_with_logits",
         lambda a, b, c, d, **k: nn.binary_cross_entropy_with_logits(a, b, c, pos_weight=d,
                                                                     **k), (x, q, w, pw)),
    ]


@pytest.mark.parametrize("case", range(8), ids=[c[0] for c in _gradcheck_cases(
    np.random.default_rng(0))])
def test_gradcheck(backend, case, rng):
    _, f, inputs = _gradcheck_cases(rng)[case]
    for reduction in REDUCTIONS:
        assert ad.gradcheck(lambda *a, r=reduction: f(*a, reduction=r), inputs) is True


@pytest.mark.parametrize("case", [0, 2, 3, 5, 6, 7], ids=lambda i: _gradcheck_cases(
    np.random.default_rng(0))[i][0])
def test_gradgradcheck(backend, case, rng):
    _, f, inputs = _gradcheck_cases(rng)[case]
    assert ad.gradgradcheck(lambda *a: f(*a, reduction="mean"), inputs) is True


# ----- Module forms --------------------------------------------------------------------------

MODULES = [
    ("MSELoss", {"reduction": "sum"}, "mse_loss", "regression"),
    ("L1Loss", {}, "l1_loss", "regression"),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}, "huber_loss", "regression"),
    ("SmoothL1Loss", {"beta": 0.5}, "smooth_l1_loss", "regression"),
    ("NLLLoss", {"weight": "w", "ignore_index": 0}, "nll_loss", "class"),
    ("CrossEntropyLoss", {"weight": "w", "label_smoothing": 0.1, "reduction": "sum"},
     "cross_entropy", "class"),
    ("BCELoss", {"weight": "w"}, "binary_cross_entropy", "binary"),
    ("BCEWithLogitsLoss", {"pos_weight": "w", "reduction": "none"},
     "binary_cross_entropy_with_logits", "regression"),
]


def _module_case(rng, kind):
    x = rng.standard_normal((3, 4))
    if kind == "class":
        return x, np.array([0, 3, 2])
    return (rng.uniform(0.1, 0.9, (3, 4)) if kind == "binary" else x), rng.uniform(0, 1, (3, 4))


@pytest.mark.parametrize("cls, options, fn, kind", MODULES, ids=[m[0] for m in MODULES])
def test_module_form_calls_its_function_and_matches_torch(backend, cls, options, fn, kind,
                                                          rng):
    x, target = _module_case(rng, kind)
    w = rng.uniform(0.5, 2.0, 4)
    kwargs = {k: ad.tensor(w) if v == "w" else v for k, v in options.items()}
    module = getattr(nn, cls)(**kwargs)
    assert isinstance(module, nn.Module) and list(module.parameters()) == []
    assert repr(module) == f"{cls}()"
    out = module(ad.tensor(x), target)
    expected = getattr(nn, fn)(ad.tensor(x), target, **kwargs)
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    torch = _torch()
    tkw = {k: torch.tensor(w) if v == "w" else v for k, v in options.items()}
    tt = torch.from_numpy(target) if kind == "class" else torch.tensor(target)
    np.testing.assert_allclose(out.numpy(), getattr(torch.nn, cls)(**tkw)(
        torch.tensor(x), tt).numpy(), rtol=RTOL)


# ----- compiled steps ------------------------------------------------------------------------

@pytest.mark.parametrize("name", LOSSES)
def test_compiled_step_replays_every_loss_as_eager(backend, dtype, name, rng):
    # New targets and labels (which samples are ignored too) at every call: the replay reads
    # them anew, and every result equals eager's bit for bit, with no fallback. (On C, the
    # labels' scatter reads a value of the fused backward pass: recorded as its launch.)
    x0 = rng.standard_normal((3, 4)).astype(dtype)

    def make():
        x = ad.tensor(x0, requires_grad=True)

        def step(t, w, labels):
            x.grad = None
            loss = _every_loss(t, w, labels)[name](x * 1.5)
            loss.backward()
            return loss, x.grad

        return step

    eager, step = make(), ad.compile(make())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(4):
            t, w, labels = _loss_inputs(rng, dtype)
            labels[:] = rng.integers(0, 4, 3)
            labels[i % 3] = -100
            for u, v in zip(step(t, w, labels), eager(t, w, labels)):
                assert u.numpy().tobytes() == v.numpy().tobytes()
    assert step.cache_info().replays >= 2


def test_compiled_replay_checks_new_labels_and_probabilities(backend):
    # the checks are steps of the program: a replay refuses what eager refuses
    z, ones = ad.tensor(np.zeros((3, 4)), requires_grad=True), np.ones(2)

    def step(labels, p):
        z.grad = None
        loss = nn.cross_entropy(z, labels) + nn.binary_cross_entropy(p, ones)
        loss.backward()
        return loss

    compiled = ad.compile(step)
    good = np.array([0.5, 0.25])
    for _ in range(3):
        compiled(np.array([0, 3, 1]), good)
    assert compiled.cache_info().replays >= 2
    with pytest.raises(ValueError, match=r"cross_entropy: label 4 is out of range for 4 "):
        compiled(np.array([0, 4, 1]), good)
    with pytest.raises(ValueError, match=r"cross_entropy: label -1 is out of range"):
        compiled(np.array([0, -1, 1]), good)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: probs must lie in \[0, 1\], "
                                         r"got 1.5"):
        compiled(np.array([0, 3, 1]), np.array([0.5, 1.5]))


# ----- errors --------------------------------------------------------------------------------

BAD_REDUCTION = {
    "mse_loss": lambda r: nn.mse_loss(ad.ones(2), [1.0, 2.0], reduction=r),
    "l1_loss": lambda r: nn.l1_loss(ad.ones(2), [1.0, 2.0], reduction=r),
    "huber_loss": lambda r: nn.huber_loss(ad.ones(2), [1.0, 2.0], reduction=r),
    "smooth_l1_loss": lambda r: nn.smooth_l1_loss(ad.ones(2), [1.0, 2.0], reduction=r),
    "nll_loss": lambda r: nn.nll_loss(ad.zeros((2, 3)), [0, 1], reduction=r),
    "cross_entropy": lambda r: nn.cross_entropy(ad.zeros((2, 3)), [0, 1], reduction=r),
    "binary_cross_entropy": lambda r: nn.binary_cross_entropy(ad.ones(2) / 2, [1.0, 0.0],
                                                              reduction=r),
    "binary_cross_entropy_with_logits": lambda r: nn.binary_cross_entropy_with_logits(
        ad.ones(2), [1.0, 0.0], reduction=r),
    "MSELoss": lambda r: nn.MSELoss(reduction=r),
    "CrossEntropyLoss": lambda r: nn.CrossEntropyLoss(reduction=r),
    "BCEWithLogitsLoss": lambda r: nn.BCEWithLogitsLoss(reduction=r),
}


@pytest.mark.parametrize("name", list(BAD_REDUCTION))
def test_bad_reduction_names_the_loss(name):
    for bad in ("avg", None, "MEAN"):
        with pytest.raises(ValueError, match=rf"^{name}: reduction must be 'mean', 'sum' or "
                                             rf"'none', got {bad!r}$"):
            BAD_REDUCTION[name](bad)


ERRORS = [
    (lambda: nn.l1_loss(ad.ones(3), np.ones((3, 1))), ValueError,
     r"l1_loss: pred of shape \(3,\) and target of shape \(3, 1\) differ"),
    (lambda: nn.huber_loss(ad.ones(2), [1.0, 2.0], delta=0), ValueError,
     r"huber_loss: delta must lie in \(0.0, inf\), got 0"),
    (lambda: nn.huber_loss(ad.ones(2), [1.0, 2.0], delta="1"), TypeError,
     r"huber_loss: delta must be a real number, got str"),
    (lambda: nn.smooth_l1_loss(ad.ones(2), [1.0, 2.0], beta=-1.0), ValueError,
     r"smooth_l1_loss: beta must lie in \[0.0, inf\), got -1.0"),
    (lambda: nn.cross_entropy(ad.zeros((2, 4)), [0, 1], weight=[1.0, 2.0, 3.0]), ValueError,
     r"cross_entropy: weight of shape \(3,\) does not fit 4 classes, expected shape \(4,\)"),
    (lambda: nn.cross_entropy(ad.zeros((2, 4)), [0, 1], weight=["a"] * 4), TypeError,
     r"cross_entropy: weight must be real numbers"),
    (lambda: nn.cross_entropy(ad.zeros((2, 4)), [0, 1], ignore_index=1.0), TypeError,
     r"cross_entropy: ignore_index must be an int, got float"),
    (lambda: nn.cross_entropy(ad.zeros((2, 4)), [0, 1], label_smoothing=1.5), ValueError,
     r"cross_entropy: label_smoothing must lie in \[0.0, 1.0\], got 1.5"),
    (lambda: nn.cross_entropy(ad.zeros((2, 4)), [0, -100], ignore_index=3), ValueError,
     (r"cross_entropy: label -100 is out of range for 4 classes, expected 0 <= label < 4 "
      r"\(or label == ignore_index, 3\)")),
    (lambda: nn.nll_loss(ad.zeros((3, 4)), [0, 1]), ValueError,
     (r"nll_loss: target of shape \(2,\) does not fit the log_probs, expected target of "
      r"shape \(3,\)")),
    (lambda: nn.nll_loss(ad.zeros((3, 4)), [0, 5, 1]), ValueError,
     r"nll_loss: label 5 is out of range for 4 classes"),
    (lambda: nn.nll_loss(ad.tensor(1.0), 0), ValueError,
     r"nll_loss: log_probs of shape \(\) have no class axis"),
    (lambda: nn.nll_loss(ad.zeros((3, 4)), [0.0, 1.0, 2.0]), TypeError,
     r"nll_loss: target must be integer class indices.*float64"),
    (lambda: nn.binary_cross_entropy(ad.tensor([0.5, 1.5]), [1.0, 0.0]), ValueError,
     r"binary_cross_entropy: probs must lie in \[0, 1\], got 1.5"),
    (lambda: nn.binary_cross_entropy(ad.tensor([0.5, np.nan]), [1.0, 0.0]), ValueError,
     r"binary_cross_entropy: probs must lie in \[0, 1\], got nan"),
    (lambda: nn.binary_cross_entropy(ad.tensor([0.5, 0.5]), [1.0, -0.5]), ValueError,
     r"binary_cross_entropy: target must lie in \[0, 1\], got -0.5"),
    (lambda: nn.binary_cross_entropy(ad.tensor([0.5, 0.5]), [1.0, 0.0, 1.0]), ValueError,
     r"binary_cross_entropy: probs of shape \(2,\) and target of shape \(3,\) differ"),
    (lambda: nn.binary_cross_entropy(ad.tensor([0.5, 0.5]), [1.0, 0.0], weight=[[1.0], [2.0]]),
     ValueError, (r"binary_cross_entropy: weight of shape \(2, 1\) does not broadcast to "
                  r"the shape \(2,\) of probs")),
    (lambda: nn.binary_cross_entropy_with_logits(ad.zeros((2, 4)), np.zeros((2, 4)),
                                                 pos_weight=[1.0, 2.0, 3.0]), ValueError,
     (r"binary_cross_entropy_with_logits: pos_weight of shape \(3,\) does not broadcast "
      r"to the shape \(2, 4\) of logits")),
    (lambda: nn.binary_cross_entropy_with_logits(ad.zeros(2), [0.0, 1.0], weight=[object()]),
     TypeError, r"binary_cross_entropy_with_logits: weight must be real numbers"),
]


@pytest.mark.parametrize("call, error, message", ERRORS,
                         ids=[f"{i}-{e[1].__name__}" for i, e in enumerate(ERRORS)])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()

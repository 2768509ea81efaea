"""ad.compile: a replay equals the eager run bit for bit, and every guard trips."""

import threading
import warnings

import numpy as np
import pytest
from conftest import c_threshold, in_threads

import pyautodiff as ad
from pyautodiff import nn, optim


def _bits(a):
    a = a._data if isinstance(a, ad.Tensor) else np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


def _model(kind, d, dtype):
    if kind == "mlp":
        return nn.Sequential(nn.Linear(d, 8, seed=1, dtype=dtype), nn.Tanh(),
                             nn.Linear(8, 1, seed=2, dtype=dtype))
    return nn.Linear(d, 1, seed=1, dtype=dtype)


def _loss(kind, out, t):
    if kind == "logistic":
        return nn.binary_cross_entropy_with_logits(out, t)
    return nn.mse_loss(out, t)


def _step_of(kind, m, opt):
    def step(x, t):
        opt.zero_grad()
        loss = _loss(kind, m(x), t)
        loss.backward()
        opt.step()
        return loss

    return step


def _call(step, times, *args):
    for _ in range(times):
        step(*args)


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
}


@pytest.mark.parametrize("kind, opt_name", [
    ("linear", "momentum"), ("linear", "adam"), ("logistic", "sgd"), ("mlp", "adam"),
    ("mlp", "momentum")])
def test_compile_training_matches_eager_bitwise(backend, dtype, kind, opt_name, rng):
    n, d = 40, 3
    X = rng.standard_normal((n, d)).astype(dtype)
    t = (rng.random((n, 1)) > 0.5).astype(dtype) if kind == "logistic" else (
        rng.standard_normal((n, 1)).astype(dtype))
    m1, m2 = _model(kind, d, dtype), _model(kind, d, dtype)
    o1, o2 = OPTIMIZERS[opt_name](m1.parameters()), OPTIMIZERS[opt_name](m2.parameters())
    eager, step = _step_of(kind, m1, o1), ad.compile(_step_of(kind, m2, o2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(12):
            xi = (X + i).astype(dtype)  # new values every call
            assert _bits(step(xi, t)) == _bits(eager(xi, t))
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert _bits(p) == _bits(q) and _bits(p.grad) == _bits(q.grad)
    for s1, s2 in zip(o1.state, o2.state):
        assert s1.keys() == s2.keys()
        assert all(_bits(s1[k]) == _bits(s2[k]) for k in s1)
    info = step.cache_info()
    assert info.replays >= 9 and info.eager == 0 and not caught


@pytest.mark.parametrize("n", [10, 2**17])
def test_compile_elementwise_chain_matches_eager(backend, dtype, n, rng):
    w = ad.tensor(rng.uniform(0.5, 1.5, n).astype(dtype), requires_grad=True)

    def chain(x):
        w.grad = None
        y = ad.exp(ad.tanh(x * w) + 1.0) / (w * w + 2.0) - ad.sqrt(w)
        loss = (y * y).sum()
        loss.backward()
        return loss, y

    step = ad.compile(chain)
    for i in range(4):
        x = ad.tensor(rng.standard_normal(n).astype(dtype))
        loss, y = step(x)
        w.grad = None
        loss0, y0 = chain(x)
        assert _bits(loss) == _bits(loss0) and _bits(y) == _bits(y0)
        g0 = w.grad
        step(x)
        assert _bits(w.grad) == _bits(g0)


def test_compile_returned_values_do_not_change(backend):
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    @ad.compile
    def step(x):
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    losses = [step(np.ones(2)) for _ in range(5)]
    # w_{k+1} = w_k (1 - 0.2): the loss falls by 0.64 per step, from 5
    expected = [5.0 * 0.64**k for k in range(5)]
    np.testing.assert_allclose([float(v) for v in losses], expected, rtol=1e-12)
    assert step.cache_info().replays >= 2


def _linear_step():
    w = ad.tensor([0.5, -0.5], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def step(x):
        opt.zero_grad()
        loss = (ad.matmul(x, w) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return w, opt, step


def _warm(step, *args):
    for _ in range(3):
        step(*args)
    return step.cache_info()


@pytest.mark.parametrize("change", ["shape", "dtype", "requires_grad"])
def test_compile_new_argument_signature_records_again(backend, change):
    _, _, fn = _linear_step()
    step = ad.compile(fn)
    x = np.ones((4, 2))
    before = _warm(step, x)
    new = {"shape": np.ones((5, 2)), "dtype": np.ones((4, 2), np.float32),
           "requires_grad": ad.tensor(x, requires_grad=True)}[change]
    step(new)
    assert step.cache_info().records == before.records + 1


def test_compile_backend_switch_and_no_grad_record_again(backend):
    w, _, fn = _linear_step()
    step = ad.compile(fn)
    x = np.ones((4, 2))
    before = _warm(step, x)
    other = "numpy" if backend == "c" else "c"
    if other == "c" and not ad.c_available():
        pytest.skip("no C core")
    with ad.use_backend(other):
        step(x)
    assert step.cache_info().records == before.records + 1
    w.grad = None
    with ad.no_grad(), pytest.raises(RuntimeError, match="does not require grad"):
        step(x)  # eager raises too: the loss has no graph inside no_grad
    assert step.cache_info().records == before.records + 2


def test_compile_replaced_parameter_data_records_again(backend):
    w, _, fn = _linear_step()
    step = ad.compile(fn)
    x = np.ones((4, 2))
    before = _warm(step, x)
    w.data = np.array([2.0, 3.0])
    loss = step(x)
    assert step.cache_info().records == before.records + 1
    assert float(loss) == pytest.approx(25.0)  # (x @ [2, 3])**2 = 25, not the old w's loss


_SHIFT = ad.tensor(0.5)  # (a global a compiled function reads, rebound by a test)


def _guarded_step():
    """A step reading a parameter through its optimizer, a list, a closure cell and a
    global; ``rebind(b)`` rebinds the cell."""
    w, v = ad.tensor([0.5, -0.5], requires_grad=True), ad.tensor([1.0, 2.0])
    opt = optim.SGD([w], lr=0.1)
    extra = [v]
    bias = ad.tensor([0.25, -0.25])

    def rebind(b):
        nonlocal bias
        bias = b

    def fn(x, k):
        opt.zero_grad()
        loss = (((x @ opt.params[0]) * k + (extra[0] * bias).sum() + _SHIFT) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return opt, extra, rebind, fn


@pytest.mark.parametrize("change", ["number", "global", "cell", "params", "list", "sharing"])
def test_any_change_after_replays_start_gives_eager_bits(backend, change):
    # Once replays run, a call is checked by the generated guard instead of the whole key:
    # each thing the key covers, changed then, must give eager's numbers.
    global _SHIFT
    runs = []
    for compiled in (False, True):
        _SHIFT = ad.tensor(0.5)
        opt, extra, rebind, fn = _guarded_step()
        step = ad.compile(fn) if compiled else fn
        x, k, losses = np.arange(6.0).reshape(3, 2) / 4, 1.0, []
        for i in range(8):
            if i == 5:
                if compiled:
                    assert step.cache_info().replays >= 3
                if change == "number":
                    k = 2.0
                elif change == "global":
                    _SHIFT = ad.tensor(-1.5)
                elif change == "cell":
                    rebind(ad.tensor([3.0, 1.0]))
                elif change == "params":
                    opt.params[0] = ad.tensor([2.0, 1.0], requires_grad=True)
                elif change == "list":
                    extra[0] = ad.tensor([-1.0, 0.5])
                else:  # an argument viewing a captured parameter
                    x = np.broadcast_to(opt.params[0].data, (3, 2))
            losses.append(_bits(step(x, k)))
        runs.append((losses, [(_bits(p), _bits(p.grad)) for p in opt.params]))
    assert runs[0] == runs[1]


def _model_step(model, opt, compiled):
    """One training step of ``model`` on the mean square of its output, compiled or not."""

    def fn(x):
        opt.zero_grad()
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return ad.compile(fn) if compiled else fn


def _settings_run(compiled, change):
    """Losses and parameters of 8 steps of a model whose setting ``change`` changes after
    the fifth, and the default generator's state at the end."""
    ad.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.LeakyReLU(0.1), nn.LayerNorm(4),
                          nn.GELU(), nn.Dropout(0.5), nn.Linear(4, 1, seed=1))
    model.train(change != "train")
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = _model_step(model, opt, compiled)
    x, losses = np.linspace(-1.0, 1.0, 15).reshape(5, 3), []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no signature falls back to eager)
        for i in range(8):
            if i == 5:
                if compiled:
                    assert step.cache_info().replays >= 3
                if change in ("train", "eval"):
                    model.train(change == "train")
                elif change == "slope":
                    model[1].negative_slope = 0.3
                elif change == "eps":
                    model[2].eps = 0.5
                else:
                    model[4].p = 0.25
            losses.append(_bits(step(x)))
    return (losses, [_bits(p) for p in model.parameters()],
            ad.rng.default_generator().bit_generator.state)


@pytest.mark.parametrize("change", ["train", "eval", "slope", "eps", "p"])
def test_module_settings_changed_after_replays_start_give_eager_bits(backend, change):
    # A module's settings (train/eval, a slope, an eps, Dropout's p) are Python numbers the
    # recording bakes in: changing one between calls records again. Dropout's masks are
    # drawn anew by each replay, from the default generator, as eager draws them.
    assert _settings_run(True, change) == _settings_run(False, change)


def _dropout_run(compiled):
    drop = nn.Dropout(0.5, generator=3)
    w = ad.tensor(np.linspace(0.5, 1.5, 6), requires_grad=True)

    def fn():
        w.grad = None
        y = (drop(w) * w).sum()
        y.backward()
        return y, w.grad

    step = ad.compile(fn) if compiled else fn
    out = []
    for i in range(7):
        if i == 4:
            drop.generator = np.random.default_rng(9)
        out.append([_bits(v) for v in step()])
    if compiled:
        assert step.cache_info().replays >= 4 and step.cache_info().eager == 0
    return out


def test_dropout_replay_draws_from_the_layers_generator_as_eager(backend):
    # a generator of its own, replaced between calls: each replay reads the layer's
    assert _dropout_run(True) == _dropout_run(False)


def _batchnorm_run(compiled, momentum, dtype):
    model = nn.Sequential(nn.Linear(3, 4, seed=0, dtype=dtype),
                          nn.BatchNorm1d(4, momentum=momentum, dtype=dtype),
                          nn.Tanh(), nn.Linear(4, 1, seed=1, dtype=dtype))
    opt = optim.Adam(model.parameters(), lr=0.05)
    step = _model_step(model, opt, compiled)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(9):
            if i == 6:
                model.eval()  # (the running statistics the replays kept, read)
            x = (np.linspace(-1.0, 2.0, 24).reshape(8, 3) * (1 + i)).astype(dtype)
            out.append(_bits(step(x)))
    if compiled:
        assert step.cache_info().replays >= 4 and step.cache_info().eager == 0
    return out, [_bits(b) for b in model.buffers()], [_bits(p) for p in model.parameters()]


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_training_replays_its_running_statistics_as_eager(backend, dtype, momentum):
    assert _batchnorm_run(True, momentum, dtype) == _batchnorm_run(False, momentum, dtype)


GRAD_HABITS = {
    # zero_grad first: the .grad at entry is written before any read (one recording)
    "zero_first": lambda w, opt, loss: (opt.zero_grad(), loss().backward(), opt.step()),
    "zero_last": lambda w, opt, loss: (loss().backward(), opt.step(), opt.zero_grad()),
    "accumulate": lambda w, opt, loss: (loss().backward(), opt.step()),
    "step_first": lambda w, opt, loss: (opt.step(), opt.zero_grad(), loss().backward()),
    "read_first": lambda w, opt, loss: (
        (loss() * 0.5).backward() if w.grad is None else loss().backward(), opt.step()),
}


def _habit_step(habit, w, opt):
    def fn(x):
        GRAD_HABITS[habit](w, opt, lambda: ((x @ w) ** 2).mean() + (x * x).sum())
        return x.grad

    return fn


@pytest.mark.parametrize("habit", list(GRAD_HABITS))
def test_grad_at_entry_present_or_not_gives_eager_bits(backend, habit):
    # Between calls the user clears some .grad, or sets one; an argument tensor comes with
    # or without a .grad of its own. Every order of zero_grad/backward/step gives eager's
    # parameters and gradients.
    runs = []
    for compiled in (False, True):
        w = ad.tensor([0.5, -0.5], requires_grad=True)
        fn = _habit_step(habit, w, optim.SGD([w], lr=0.1, momentum=0.9))
        step = ad.compile(fn) if compiled else fn
        seen = []
        for i in range(12):
            if i in (4, 9):
                w.grad = None
            elif i == 3:
                w.grad = ad.tensor([1.0, 2.0])
            elif i == 6:  # (a strided .grad)
                w.grad = ad.tensor([9.0, 1.0, 8.0, 2.0])[::2].detach()
            elif i == 7:
                w.grad = w.detach()  # (a .grad on the parameter's own memory)
            x = ad.tensor(np.arange(6.0).reshape(3, 2) / 4 + i, requires_grad=True)
            if i in (5, 8, 10):
                x.grad = ad.tensor(np.ones((3, 2)))
            xg = step(x)
            seen.append((_bits(w), None if w.grad is None else _bits(w.grad),
                         None if xg is None else _bits(xg)))
        runs.append(seen)
    assert runs[0] == runs[1]
    assert step.cache_info().replays >= 4


def test_compile_data_dependent_branch_raises_naming_the_line(backend):
    w = ad.tensor([1.0], requires_grad=True)

    @ad.compile
    def step(x):
        y = (w * x).sum()
        if y < 0:
            return -y
        return y

    with pytest.raises(RuntimeError, match=r"__bool__.*test_compile\.py:\d+"):
        step(np.ones(1))
    with pytest.raises(RuntimeError, match="item"):
        ad.compile(lambda x: (w * x).sum().item())(np.ones(1))


def test_compile_raw_numpy_write_falls_back_to_eager(backend):
    w = ad.tensor([1.0, -1.0], requires_grad=True)

    def fn(x):
        w.grad = None
        loss = ((w * x) ** 2).sum()
        loss.backward()
        w.data[...] -= 0.1 * w.grad.data  # outside the library: never recorded
        return loss

    step = ad.compile(fn)
    w_ref = np.array([1.0, -1.0])
    with pytest.warns(RuntimeWarning, match="a parameter"):
        _call(step, 4, np.ones(2))
    for _ in range(4):
        w_ref -= 0.1 * 2 * w_ref
    np.testing.assert_array_equal(w.data, w_ref)
    assert step.cache_info().eager >= 1


@pytest.mark.parametrize("source", ["ad", "numpy"])
def test_compile_random_numbers_inside_fn_fall_back(backend, source):
    w = ad.tensor([1.0, 2.0], requires_grad=True)

    def fn(x):
        noise = ad.randn(2) if source == "ad" else np.random.standard_normal(2)
        return (w * x + noise).sum()

    step = ad.compile(fn)
    with pytest.warns(RuntimeWarning, match="outside the recorded kernels"):
        step(np.ones(2))
    assert step.cache_info().size == 1
    outs = {float(step(np.ones(2))) for _ in range(3)}
    assert len(outs) == 3  # fresh noise every call: eager, not a replay


def test_compile_random_scalar_inside_fn_caught_by_check(backend):
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    step = ad.compile(lambda x: (w * x * float(np.random.random())).sum())
    with pytest.warns(RuntimeWarning, match="a result differs"):
        _call(step, 3, np.ones(2))
    assert step.cache_info().eager >= 1


def test_compile_cache_info_and_docstring():
    assert ad.compile.__doc__ and "Examples" in ad.compile.__doc__
    step = ad.compile(lambda x: ad.tensor(x) * np.full(2, 2.0))  # made inside fn: eager
    with pytest.warns(RuntimeWarning):
        out = step(np.ones(2))
    np.testing.assert_array_equal(out.data, [2.0, 2.0])


def test_another_threads_eager_work_during_a_recording_is_its_own(backend):
    # The recording patches module attributes every thread sees: another thread's kernels,
    # backward and value reads must run as usual and stay out of the recorded program.
    started, finished = threading.Event(), threading.Event()
    seen = {}

    def other():
        started.wait()
        try:
            u = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
            y = (u * u).sum()
            seen["value"] = y.item()
            y.backward()
            seen["grad"] = u.grad.numpy().copy()
        except Exception as e:  # noqa: BLE001  (reported by the assertions below)
            seen["error"] = e
        finally:
            finished.set()

    w = ad.tensor([0.5, -1.0], requires_grad=True)

    def step(x):
        w.grad = None
        y = (w * x).sum()
        started.set()
        finished.wait()  # the other thread works while this one records
        y.backward()
        return y

    thread = threading.Thread(target=other)
    thread.start()
    compiled = ad.compile(step)
    x = np.array([2.0, 3.0])
    first = compiled(x)
    thread.join()
    assert "error" not in seen, seen.get("error")
    assert seen["value"] == 14.0
    np.testing.assert_array_equal(seen["grad"], [2.0, 4.0, 6.0])
    assert first.item() == -2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a polluted program would fail its check run
        for x in (np.array([1.0, 1.0]), np.array([4.0, -2.0])):
            assert compiled(x).item() == float(w.numpy() @ x)
            np.testing.assert_array_equal(w.grad.numpy(), x)


@pytest.mark.parametrize("n", [3, 70000])
def test_compile_buffers_never_alias_what_a_call_returned(backend, n, rng):
    # The replay writes kernel results into buffers it allocates once and reuses: what a
    # call returned (values, .grad) must be copies, unchanged by later calls.
    w = ad.tensor(rng.uniform(0.5, 1.5, n), requires_grad=True)

    def fn(x):
        w.grad = None
        y = ad.tanh(x * w + 1.0)
        loss = (y * y).sum()
        loss.backward()
        return loss, y

    step = ad.compile(fn)
    xs = [rng.standard_normal(n) for _ in range(4)]
    kept = [(*step(x), w.grad) for x in xs]
    for x, (loss, y, g) in zip(xs, kept):  # checked after the last call
        ye = np.tanh(x * w.data + 1.0)  # (w does not change: no optimizer step)
        np.testing.assert_allclose(y.data, ye, rtol=1e-13)
        assert float(loss) == pytest.approx(float((ye * ye).sum()), rel=1e-12)
        np.testing.assert_allclose(g.data, 2 * ye * (1 - ye * ye) * x, rtol=1e-12, atol=1e-14)
        loss0, y0 = fn(x)  # and bit for bit against eager
        assert _bits(loss) == _bits(loss0) and _bits(y) == _bits(y0)
        assert _bits(g) == _bits(w.grad)
    first = kept[0]
    for later in kept[1:]:
        for a, b in zip(first, later):
            assert not np.shares_memory(a.data, b.data)
    assert step.cache_info().replays >= 2


def test_compile_lowered_replay_keeps_call1_results_after_call3(backend, rng):
    m = nn.Linear(5, 1, seed=3)
    opt = optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
    m2 = nn.Linear(5, 1, seed=3)
    opt2 = optim.SGD(m2.parameters(), lr=0.05, momentum=0.9)
    X, t = ad.tensor(rng.standard_normal((100, 5))), ad.tensor(rng.standard_normal((100, 1)))
    step = ad.compile(_step_of("linear", m, opt))
    eager = _step_of("linear", m2, opt2)
    got = [(step(X, t), m.weight.grad) for _ in range(5)]
    want = [(eager(X, t), m2.weight.grad) for _ in range(5)]
    for (a, ga), (b, gb) in zip(got, want):  # checked after call 5: nothing overwritten
        assert _bits(a) == _bits(b) and _bits(ga) == _bits(gb)
    progs = [p for p in step._cache.values() if not isinstance(p, str)]
    assert any(p.fast for p in progs)  # (the lowered function ran, not the interpreter)


def test_compile_keyword_call_and_replaced_module_tensor(backend):
    m = nn.Linear(2, 1, seed=0)

    def fn(x, scale=1.0):
        return (m(x) * scale).sum()

    step = ad.compile(fn)
    x = np.ones((3, 2))
    for _ in range(3):
        step(x)
    np.testing.assert_array_equal(step(x=x).data, fn(x).data)
    before = step.cache_info().records
    m.weight = ad.tensor(np.array([[2.0, 3.0]]), requires_grad=True)  # a new tensor
    assert float(step(x)) == float(fn(x)) == pytest.approx(3 * (5.0 + float(m.bias.data[0])))
    assert step.cache_info().records == before + 1


def test_arguments_sharing_memory_are_another_signature(backend):
    # Recorded with one array for both arguments, a replay must not read one of them for
    # the other later; nor may an argument that is a view of a captured parameter go stale.
    w = ad.tensor([1.0, -2.0, 0.5], requires_grad=True)
    a = np.array([1.0, 2.0, 3.0])
    plain = ad.compile(lambda x, y: (w * x - y).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (the shared calls run eagerly)
        for x, y in [(a, a), (a, a), (a, a + 1.0), (a - 1.0, a + 1.0), (a, a), (a, a[::-1])]:
            assert plain(x, y).item() == (w.numpy() * x - y).sum()

    opt = optim.SGD([w], lr=0.1)
    eager_w = ad.tensor(w.numpy(), requires_grad=True)
    eager_opt = optim.SGD([eager_w], lr=0.1)

    def step_of(p, o):
        def fn(x, y):
            o.zero_grad()
            loss = ((p * x - y) ** 2).sum()
            loss.backward()
            o.step()
            return loss + (p * x).sum()  # (x read after the update of p)
        return fn

    step, eager = ad.compile(step_of(w, opt)), step_of(eager_w, eager_opt)
    calls = [lambda p: (a, a + 1.0), lambda p: (a, a + 1.0), lambda p: (p.numpy(), a),
             lambda p: (p.numpy(), a), lambda p: (a + 2.0, a), lambda p: (p.numpy()[::-1], a)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for args in calls:
            assert _bits(step(*args(w))) == _bits(eager(*args(eager_w)))
            assert _bits(w) == _bits(eager_w)


# ----- the optimizer's updates, replayed as planned ------------------------------------------

BETWEEN_OPTIMIZERS = {
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.01),
    "nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
}


def _between(change, k, m, opt):
    """What a user (or a scheduler, or load_state_dict) does between calls ``k`` and
    ``k + 1``."""
    if change == "lr":
        opt.lr = 0.05 * 0.8**k
    elif change == "state" and k in (4, 7):  # new state arrays and step counts
        for s in opt.state:
            for key, v in list(s.items()):
                s[key] = v * 0.5 if isinstance(v, np.ndarray) else 2
    elif change == "hyper" and k == 5:
        if isinstance(opt, optim.Adam):
            opt.betas, opt.eps = (0.8, 0.99), 1e-6
        else:
            opt.momentum, opt.weight_decay = 0.5, 0.0
    elif change == "data" and k == 6:
        for p in m.parameters():
            p.data = p.data * 1.5


@pytest.mark.parametrize("change", ["lr", "state", "hyper", "data"])
@pytest.mark.parametrize("opt_name", list(BETWEEN_OPTIMIZERS))
def test_compile_changes_between_calls_match_eager_bitwise(backend, opt_name, change, rng):
    X, t = rng.standard_normal((30, 3)), rng.standard_normal((30, 1))
    runs = []
    for compiled in (False, True):
        m = _model("linear", 3, np.float64)
        opt = BETWEEN_OPTIMIZERS[opt_name](m.parameters())
        fn = _step_of("linear", m, opt)
        step = ad.compile(fn) if compiled else fn
        losses = []
        for k in range(10):
            losses.append(_bits(step(X + k, t)))
            _between(change, k, m, opt)
        runs.append((losses, [(_bits(p), _bits(p.grad)) for p in m.parameters()],
                     [{k: _bits(v) for k, v in s.items()} for s in opt.state], step))
    (l1, p1, s1, _), (l2, p2, s2, step) = runs
    assert l1 == l2 and p1 == p2 and s1 == s2
    info = step.cache_info()
    assert info.eager == 0 and info.replays >= 5
    if change != "data":  # (lr is read at each call; the state and the other
        # hyperparameters are checked by the update's plan; zero_grad() first makes the
        # .grad at entry free): one recording
        assert info.records == 1


def test_compile_update_counts_versions_and_keeps_locks_as_eager(backend):
    w, _, fn = _linear_step()
    step = ad.compile(fn)
    x = np.ones((4, 2))
    _warm(step, x)
    v = ad.memory.version(w._data)
    step(x)
    step(x)
    assert ad.memory.version(w._data) == v + 2  # each replayed update is a write
    saved = (w * w).sum()  # a graph that saved w before the step wrote it
    step(x)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        saved.backward()


def test_compile_read_only_parameter_raises_before_any_update(backend):
    outcomes = []
    for compiled in (False, True):
        m = nn.Linear(2, 1, seed=1)
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        fn = _step_of("linear", m, opt)
        step = ad.compile(fn) if compiled else fn
        x, t = np.ones((4, 2)), np.zeros((4, 1))
        _call(step, 4, x, t)
        m.bias._data.flags.writeable = False  # the user's: the step must refuse
        before = [_bits(p) for p in m.parameters()]
        with pytest.raises(ValueError, match=r"SGD.step: parameter 1 is read-only") as e:
            step(x, t)
        assert [_bits(p) for p in m.parameters()] == before  # the weight was not written
        outcomes.append((str(e.value), before, [_bits(s["momentum_buffer"]) for s in
                                                opt.state]))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("threshold", [0, 1 << 15])
def test_compile_nothing_leaks_over_10000_calls(backend, threshold):
    # (threshold 0: every kernel and backward formula through C and fuse.c)
    with c_threshold(threshold):
        _no_leak()


def _no_leak():
    import gc
    import tracemalloc
    w = ad.tensor([0.5, -0.5], requires_grad=True)
    opt = optim.SGD([w], lr=1e-3, momentum=0.9)

    @ad.compile
    def step(x):
        opt.zero_grad()
        loss = ad.matmul(x, w).mean()
        loss.backward()
        opt.step()
        return loss

    x = np.ones((3, 2))
    _call(step, 50, x)
    tracemalloc.start()
    try:
        _call(step, 1000, x)
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        _call(step, 9000, x)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert step.cache_info().replays >= 10000
    assert grown < 9000  # under a byte a call: a leaked array would be 100 a call


def test_one_compiled_function_replayed_from_threads_at_once(backend):
    # The program's buffers are shared by its calls: threads take turns, each gets its own
    # inputs' result.
    w = ad.tensor(np.linspace(-1.0, 1.0, 64), requires_grad=True)
    step = ad.compile(lambda x: (ad.tanh(w * x) * x).sum())
    xs = [np.full(64, float(k)) for k in range(8)]
    for x in xs[:3]:
        step(x)  # recorded, checked, replayed
    results = {}

    def work(k):
        # (a new thread runs on the process's backend, not the fixture's: use_backend is
        # per thread, and the backend is part of the signature)
        eager = (ad.tanh(w * xs[k]) * xs[k]).sum().item()
        for _ in range(50):
            results.setdefault(k, set()).add((step(xs[k]).item(), eager))

    in_threads(work, 8)
    for k in range(8):
        assert len(results[k]) == 1
        got, eager = results[k].pop()
        assert got == eager


def test_user_writes_to_every_reachable_array_between_replays(backend, size):
    # A replay reuses its buffers: whatever the user writes between calls (the returned
    # value, a .grad, the argument array itself, a parameter in place) must act exactly as
    # on the eager run, and the eager run on the numpy backend agrees.
    rng = np.random.default_rng(11)
    x = rng.standard_normal(size)
    w0 = rng.uniform(0.5, 1.5, size)

    def setup():
        w = ad.tensor(w0, requires_grad=True)
        opt = optim.SGD([w], lr=0.01, momentum=0.9)

        def fn(x):
            opt.zero_grad()
            y = ad.tanh(x * w + 0.5)
            loss = (y * y).mean()
            loss.backward()
            opt.step()
            return loss, y

        return w, fn

    def run(fn, w, x):
        seen = []
        for _ in range(6):
            loss, y = fn(x)
            seen.append((_bits(loss), _bits(y), _bits(w), _bits(w.grad)))
            loss.numpy()[...] = 7.0  # writes to everything a call handed back
            y.numpy()[:] = -1.0
            w.grad.numpy()[:] = 3.0
            x += 0.25  # the caller's argument array, passed again
            with ad.no_grad():
                w *= 0.999  # the parameter, in place
        return seen

    w_c, fn_c = setup()
    step = ad.compile(fn_c)
    got = run(step, w_c, x.copy())
    w_e, fn_e = setup()
    want = run(fn_e, w_e, x.copy())
    assert got == want
    assert step.cache_info().replays >= 3
    with ad.use_backend("numpy"):
        w_n, fn_n = setup()
        run(fn_n, w_n, x.copy())
    np.testing.assert_allclose(w_c.numpy(), w_n.numpy(), rtol=1e-12)


def test_scheduler_stepped_inside_fn_gives_eager_numbers(backend):
    # A replay runs no Python: a scheduler stepped inside fn would leave lr stale. The check
    # run compares the hyperparameters too, so that signature runs eagerly, with a warning.
    from pyautodiff.optim.lr_scheduler import ExponentialLR
    runs = []
    for compiled in (False, True):
        w = ad.tensor([1.0, -2.0], requires_grad=True)
        opt = optim.SGD([w], lr=0.1)
        fn = _scheduled_step(w, opt, ExponentialLR(opt, 0.5))
        step = ad.compile(fn) if compiled else fn
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(6):
                step(np.ones(2))
        runs.append((_bits(w), opt.param_groups[0]["lr"]))
    assert runs[0] == runs[1]
    assert runs[1][1] == 0.1 * 0.5**6  # closed form
    assert any("hyperparameters" in str(c.message) for c in caught)


def _scheduled_step(w, opt, sched):
    def fn(x):
        opt.zero_grad()
        ((w * x) ** 2).sum().backward()
        opt.step()
        sched.step()

    return fn


def _running_stats_written_by_user(compiled):
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.BatchNorm1d(4), nn.Linear(4, 1, seed=1))
    step = _model_step(model, optim.SGD(model.parameters(), lr=0.1), compiled)
    bn, out = model[1], []
    for i in range(7):
        x = np.linspace(-1.0, 2.0, 24).reshape(8, 3) * (1 + i)
        if i in (3, 5):  # the user writes the buffers through a view and the base
            bn.running_mean.data[1:3] = 0.25 * i
            bn.running_var.data.reshape(2, 2)[0] *= 2.0
            bn.num_batches_tracked.data[...] = 100 + i
        out.append(_bits(step(x)))
        kept = bn.running_mean.numpy().copy()  # read later: must not change under the user
        out.append(_bits(kept))
    if compiled:
        assert step.cache_info().replays >= 4 and step.cache_info().eager == 0
    return out, [_bits(b) for b in model.buffers()]


def test_user_writes_to_batchnorm_buffers_between_replays_give_eager_bits(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _running_stats_written_by_user(True) == _running_stats_written_by_user(False)

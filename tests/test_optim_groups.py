"""Parameter groups, state dicts, RMSprop and Adagrad (pyautodiff.optim).

- Every optimizer with two parameter groups (a different lr and weight decay in the
  second), 30 steps:
  - against numpy references of PyTorch's formulas (test_optim's for SGD and Adam(W),
    RMSprop's and Adagrad's written out here), on both backends, float32 and float64:
    equal to the bit, the fused C updates included;
  - against PyTorch's single-tensor path (``foreach=False``), float64: equal to 1e-12
    relative to each parameter's magnitude. (Not elementwise: PyTorch's fused
    multiply-adds differ by an ulp here and there, which the elements that pass near
    zero turn into large relative differences of their own, e.g. 3e-11 at 1e-6.)
- ``param_groups`` hold what PyTorch's hold; ``add_param_group``; the hyperparameter
  attributes; bad groups.
- ``state_dict``: PyTorch's layout and values; a checkpoint at step 10 (optimizer and
  scheduler state dicts, parameters) resumed equals the uninterrupted run bit for bit;
  PyTorch's state dict (as numpy arrays) loads and continues as PyTorch does; a bad
  one raises and changes nothing.
- ``ad.compile`` of a step with two groups while a scheduler changes the lrs between
  calls: bit for bit the eager run.
"""


import numpy as np
import pytest
from test_optim import fused_calls, ref_adam, ref_sgd
from test_optim import problem as optim_problem

import pyautodiff as ad
from pyautodiff import nn, optim
from pyautodiff.optim import lr_scheduler

STEPS = 30
SHAPES = [(3, 4), (3,), (70000,)]  # the last above the C kernels' thread threshold
SMALL = [(3, 4), (3,), (5,)]  # (for speed: PyTorch's threads are slow on a busy machine)
SECOND = {"lr": 0.3, "weight_decay": 0.05}  # group 1: lr times 0.3, its own weight decay

CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.25}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.8)}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1}),
    # alpha < 0.5: lerp's other form, g - (g - m) * (1 - w)
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "eps": 1e-4, "centered": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.2, "eps": 1e-6}),
]
CASE_IDS = [f"{name}-" + "-".join(f"{k}={v}" for k, v in kw.items()) for name, kw in CASES]
DEFAULT_WD = {"weight_decay": 1e-2}  # AdamW's default


# ----- references: PyTorch's single-tensor formulas, written out in numpy ------------------

def ref_rmsprop(x0, grad, steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                momentum=0.0, centered=False):
    """torch.optim.RMSprop on one parameter; ``grad(p, t)`` gives the gradient at step t."""
    p = x0.copy()
    v, m, buf = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t in range(steps):
        g = grad(p, t)
        if weight_decay != 0:
            g = g + weight_decay * p
        v = v * alpha + (1 - alpha) * g * g
        if centered:
            w = float(p.dtype.type(1 - alpha))  # torch.lerp(m, g, w)
            m = m + w * (g - m) if abs(w) < 0.5 else g - (g - m) * (1 - w)
            avg = np.sqrt(v - m * m) + eps
        else:
            avg = np.sqrt(v) + eps
        if momentum > 0:
            buf = buf * momentum + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def ref_adagrad(x0, grad, steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10):
    """torch.optim.Adagrad on one parameter."""
    p = x0.copy()
    s = np.full_like(p, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = grad(p, t - 1)
        if weight_decay != 0:
            g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (np.sqrt(s) + eps)
    return p


def reference(name, kw, x0, grad, steps):
    if name == "SGD":
        return ref_sgd(x0, grad, steps, **kw)
    if name in ("Adam", "AdamW"):
        return ref_adam(x0, grad, steps, decoupled=name == "AdamW", **{**DEFAULT_WD, **kw}
                        if name == "AdamW" else kw)
    return {"RMSprop": ref_rmsprop, "Adagrad": ref_adagrad}[name](x0, grad, steps, **kw)


def problem(dtype, seed=0, shapes=SHAPES):
    return optim_problem(dtype, seed, shapes, STEPS)


def groups_kw(name, kw):
    """The hyperparameters of each parameter: the first two in group 0 (the
    constructor's), the last in group 1 (``SECOND``)."""
    second = dict(kw)
    second.update(lr=kw["lr"] * SECOND["lr"], weight_decay=SECOND["weight_decay"])
    return [kw, kw, second]


def make(module, name, kw, params):
    """Optimizer ``name`` of ``module`` (pyautodiff.optim or torch.optim) with the groups."""
    groups = [{"params": params[:2]},
              {"params": params[2:], "lr": kw["lr"] * SECOND["lr"],
               "weight_decay": SECOND["weight_decay"]}]
    extra = {"foreach": False} if module is not optim else {}
    return getattr(module, name)(groups, **kw, **extra)


def _with_torch(torch, name, kw, seed):
    """Initial values, gradient functions, and (parameters, optimizer) of pyautodiff and of PyTorch from the
    same small float64 problem and groups."""
    x0, grads = problem(np.float64, seed=seed, shapes=SMALL)
    params = [ad.Tensor(x, requires_grad=True) for x in x0]
    tparams = [torch.tensor(x, requires_grad=True) for x in x0]
    return (x0, grads, (params, make(optim, name, kw, params)),
            (tparams, make(torch.optim, name, kw, tparams)))


def run(name, kw, x0, grads, steps):
    params = [ad.Tensor(x, requires_grad=True) for x in x0]
    opt = make(optim, name, kw, params)
    for t in range(steps):
        for p, grad in zip(params, grads):
            p.grad = ad.Tensor(grad(p.data, t))
        opt.step()
    return [p.data for p in params], opt


def close(got, want, what):
    """Equal to 1e-12 relative to the parameter's magnitude."""
    scale = np.max(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale, err_msg=what)


def _bits(a):
    a = a._data if isinstance(a, ad.Tensor) else np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


# ----- every optimizer, two groups ---------------------------------------------------------

@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_two_groups_match_numpy_reference_bitwise(backend, dtype, name, kw):
    x0, grads = problem(dtype)
    with fused_calls() as calls:
        got, _ = run(name, kw, x0, grads, STEPS)
    family = {"SGD": "sgd", "Adam": "adam", "AdamW": "adam"}.get(name)
    fused = backend == "c" and family is not None
    assert calls == ([(family, dtype)] * (STEPS * len(x0)) if fused else [])
    for k, (x, grad, hyper) in enumerate(zip(x0, grads, groups_kw(name, kw))):
        want = reference(name, hyper, x, grad, STEPS)
        assert got[k].dtype == dtype
        np.testing.assert_array_equal(got[k], want, err_msg=f"parameter {k} {x.shape}")
        assert not np.array_equal(got[k], x)


@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_two_groups_match_torch(backend, name, kw):
    torch = pytest.importorskip("torch")
    x0, grads, (params, opt), (tparams, topt) = _with_torch(torch, name, kw, seed=1)
    for t in range(STEPS):
        for p, tp, grad in zip(params, tparams, grads):
            p.grad = ad.Tensor(grad(p.data, t))
            tp.grad = torch.from_numpy(grad(tp.detach().numpy(), t))
        opt.step()
        topt.step()
    for k, (p, tp) in enumerate(zip(params, tparams)):
        close(p.data, tp.detach().numpy(), f"parameter {k}")
        assert not np.array_equal(p.data, x0[k])


# ----- param_groups, add_param_group, the attributes --------------------------------------------

TORCH_ONLY = {"maximize", "foreach", "differentiable", "fused", "capturable", "amsgrad",
              "decoupled_weight_decay"}


@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_param_groups_hold_what_torch_holds(name, kw):
    torch = pytest.importorskip("torch")
    params = [ad.zeros(s, requires_grad=True) for s in SMALL]
    tparams = [torch.zeros(s, requires_grad=True) for s in SMALL]
    opt, topt = make(optim, name, kw, params), make(torch.optim, name, kw, tparams)
    for h, th in zip(opt.param_groups, topt.param_groups):
        want = {k: v for k, v in th.items() if k not in TORCH_ONLY | {"params"}}
        assert {k: v for k, v in h.items() if k != "params"} == want
        assert [id(p) for p in h["params"]] == [id(p) for p in params[:2]] or \
            [id(p) for p in h["params"]] == [id(p) for p in params[2:]]
    assert opt.defaults == {k: v for k, v in topt.defaults.items() if k not in TORCH_ONLY}
    assert opt.params == params and len(opt.state) == 3


def test_add_param_group_takes_defaults_and_steps_with_its_own_lr(backend):
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    b = ad.tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    opt.add_param_group({"params": b, "lr": 0.01, "tag": "bias"})
    assert opt.param_groups[1] == {"params": [b], "lr": 0.01, "momentum": 0.5,
                                   "dampening": 0.0, "weight_decay": 0.0,
                                   "nesterov": False, "tag": "bias"}
    assert opt.params == [w, b] and opt.state == [{}, {}]
    for _ in range(2):
        w.grad, b.grad = ad.tensor([1.0, 1.0]), ad.tensor([1.0])
        opt.step()
    # momentum 0.5: the buffer is 1 then 1.5, so each parameter moves by 2.5 lr
    np.testing.assert_array_equal(w.numpy(), ref_sgd(np.array([1.0, 2.0]),
                                                     lambda p, t: np.ones(2), 2, 0.1, 0.5))
    np.testing.assert_array_equal(b.numpy(), ref_sgd(np.array([3.0]),
                                                     lambda p, t: np.ones(1), 2, 0.01, 0.5))
    assert opt.state[1]["momentum_buffer"].tolist() == [1.5]
    with pytest.raises(ValueError, match="appear in more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(ValueError, match=r"SGD.add_param_group: invalid lr -1"):
        opt.add_param_group({"params": [ad.zeros(1, requires_grad=True)], "lr": -1})
    assert len(opt.param_groups) == 2 and len(opt.params) == 2


def test_hyperparameter_attributes_read_group_0_and_write_every_group():
    a, b = ad.zeros(2, requires_grad=True), ad.zeros(1, requires_grad=True)
    opt = optim.Adam([{"params": [a], "lr": 0.1}, {"params": [b], "betas": (0.5, 0.6)}],
                     lr=0.2)
    assert (opt.lr, opt.betas, opt.eps) == (0.1, (0.9, 0.999), 1e-8)
    opt.lr = 0.05
    opt.betas = [0.8, 0.9]
    assert [(h["lr"], h["betas"]) for h in opt.param_groups] == [(0.05, (0.8, 0.9))] * 2
    with pytest.raises(ValueError, match=r"Adam: invalid beta parameter at index 0"):
        opt.betas = (1.5, 0.9)
    with pytest.raises(ValueError, match=r"Adam: invalid lr"):
        opt.lr = -1.0
    assert [(h["lr"], h["betas"]) for h in opt.param_groups] == [(0.05, (0.8, 0.9))] * 2
    assert repr(opt) == ("Adam(2 parameters in 2 groups, lr=0.05, betas=(0.8, 0.9), "
                         "eps=1e-08, weight_decay=0.0)")


@pytest.mark.parametrize("make_opt, error, match", [
    (lambda w: optim.SGD([{"lr": 0.1}]), ValueError,
     r"SGD: param group 0: a param group needs a 'params' entry"),
    (lambda w: optim.SGD([{"params": [w]}, {"params": [w]}]), ValueError,
     r"SGD: param group 1: some parameters appear in more than one parameter group"),
    (lambda w: optim.RMSprop([{"params": [w], "alpha": -0.5}]), ValueError,
     r"RMSprop: param group 0: invalid alpha -0\.5"),
    (lambda w: optim.SGD([{"params": {w}}]), TypeError,
     r"SGD: param group 0: params must be an ordered collection"),
    (lambda w: optim.Adagrad([w], lr_decay=-1), ValueError, r"Adagrad: invalid lr_decay"),
    (lambda w: optim.Adagrad([w], initial_accumulator_value=-1), ValueError,
     r"Adagrad: invalid initial_accumulator_value"),
    (lambda w: optim.RMSprop([w], momentum="a"), TypeError,
     r"RMSprop: momentum must be a real number"),
    (lambda w: optim.SGD([{"params": [w], "nesterov": True}], momentum=0.9, dampening=0.5),
     ValueError, r"SGD: param group 0: Nesterov momentum needs"),
])
def test_bad_param_groups_raise_naming_the_group(make_opt, error, match):
    with pytest.raises(error, match=match):
        make_opt(ad.zeros(2, requires_grad=True))


# ----- state dicts ------------------------------------------------------------------------------

def _torch_state_dict(sd):
    """A PyTorch optimizer state dict with its tensors as numpy arrays (copies)."""
    return {"state": {i: {k: v.numpy().copy() if hasattr(v, "numpy") else v
                          for k, v in s.items()} for i, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}


@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_state_dict_has_torch_layout_and_values(backend, name, kw):
    torch = pytest.importorskip("torch")
    _, grads, (params, opt), (tparams, topt) = _with_torch(torch, name, kw, seed=2)
    for t in range(3):
        for k, (p, tp, grad) in enumerate(zip(params, tparams, grads)):
            if t == 0 and k == 1:  # (parameter 1 has no gradient at step 1: fewer steps)
                continue
            p.grad = ad.Tensor(grad(p.data, t))
            tp.grad = torch.from_numpy(grad(tp.detach().numpy(), t))
        opt.step()
        topt.step()
    sd, tsd = opt.state_dict(), _torch_state_dict(topt.state_dict())
    assert sd["param_groups"] == [{k: v for k, v in h.items() if k not in TORCH_ONLY}
                                  for h in tsd["param_groups"]]
    assert [h["params"] for h in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["state"].keys() == tsd["state"].keys()
    for i, s in sd["state"].items():
        ts = tsd["state"][i]
        assert s.keys() == {k for k, v in ts.items() if v is not None}
        for k, v in s.items():
            if k == "step":
                assert type(v) is int and v == float(ts[k]) == (2 if i == 1 else 3)
            else:
                close(v, ts[k], f"state {i} {k}")


CHECKPOINT_CASES = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, "OneCycleLR",
     {"max_lr": 0.1, "total_steps": STEPS}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}, "CosineAnnealingLR", {"T_max": 7}),
    ("AdamW", {"lr": 0.01}, "StepLR", {"step_size": 4, "gamma": 0.5}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}, "ReduceLROnPlateau",
     {"patience": 1, "factor": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}, "LambdaLR",
     {"lr_lambda": lambda e: 0.9**e}),
    ("Adam", {"lr": 0.01}, "OneCycleLR",
     {"max_lr": [0.02, 0.01], "total_steps": STEPS, "three_phase": True}),
]


@pytest.mark.parametrize("name, kw, sched, skw", CHECKPOINT_CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CHECKPOINT_CASES])
def test_checkpoint_at_step_10_resumes_bit_for_bit(backend, name, kw, sched, skw):
    x0, grads = problem(np.float64, seed=3, shapes=SMALL)

    def start(values):
        params = [ad.Tensor(x.copy(), requires_grad=True) for x in values]
        opt = make(optim, name, kw, params)
        return params, opt, getattr(lr_scheduler, sched)(opt, **skw)

    def train(params, opt, scheduler, steps):
        for t in steps:
            for p, grad in zip(params, grads):
                p.grad = ad.Tensor(grad(p.data, t))
            opt.step()
            if sched == "ReduceLROnPlateau":
                scheduler.step([3.0, 2.0, 2.0, 2.5][t % 4])
            else:
                scheduler.step()

    params, opt, scheduler = start(x0)
    train(params, opt, scheduler, range(10))
    checkpoint = ([p.numpy().copy() for p in params], opt.state_dict(),
                  scheduler.state_dict())
    train(params, opt, scheduler, range(10, STEPS - 1))
    # a new run from the checkpoint, its optimizer and scheduler made as at the start
    values, opt_sd, sched_sd = checkpoint
    resumed, opt2, scheduler2 = start(values)
    opt2.load_state_dict(opt_sd)
    scheduler2.load_state_dict(sched_sd)
    train(resumed, opt2, scheduler2, range(10, STEPS - 1))
    assert [_bits(p) for p in resumed] == [_bits(p) for p in params]
    assert [{k: _bits(v) for k, v in s.items()} for s in opt2.state] == \
        [{k: _bits(v) for k, v in s.items()} for s in opt.state]
    assert opt2.param_groups[0].keys() == opt.param_groups[0].keys()
    assert [h["lr"] for h in opt2.param_groups] == [h["lr"] for h in opt.param_groups]
    assert scheduler2.get_last_lr() == scheduler.get_last_lr()


@pytest.mark.parametrize("name, kw", CASES, ids=CASE_IDS)
def test_torch_state_dict_loads_and_continues_as_torch(backend, name, kw):
    torch = pytest.importorskip("torch")
    x0, grads = problem(np.float64, seed=4, shapes=SMALL)
    tparams = [torch.tensor(x, requires_grad=True) for x in x0]
    topt = make(torch.optim, name, kw, tparams)

    def torch_steps(steps):
        for t in steps:
            for tp, grad in zip(tparams, grads):
                tp.grad = torch.from_numpy(grad(tp.detach().numpy(), t))
            topt.step()

    torch_steps(range(10))
    params = [ad.Tensor(tp.detach().numpy().copy(), requires_grad=True) for tp in tparams]
    opt = make(optim, name, {**kw, "lr": 1.0}, params)  # (the lr comes from the dict)
    opt.load_state_dict(_torch_state_dict(topt.state_dict()))
    assert [h["lr"] for h in opt.param_groups] == [kw["lr"], kw["lr"] * SECOND["lr"]]
    torch_steps(range(10, STEPS))
    for t in range(10, STEPS):
        for p, grad in zip(params, grads):
            p.grad = ad.Tensor(grad(p.data, t))
        opt.step()
    for k, (p, tp) in enumerate(zip(params, tparams)):
        close(p.data, tp.detach().numpy(), f"parameter {k}")


def test_state_dicts_are_copies(backend):
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = ad.tensor([1.0, -1.0])
    opt.step()
    m = opt.state[0]["exp_avg"].copy()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"][:] = 7.0
    sd["param_groups"][0]["lr"] = 5.0
    assert _bits(opt.state[0]["exp_avg"]) == _bits(m) and opt.lr == 0.1
    other = optim.Adam([ad.zeros(2, requires_grad=True)], lr=0.3)
    other.load_state_dict(sd)
    sd["state"][0]["exp_avg"][:] = 9.0
    assert other.state[0]["exp_avg"].tolist() == [7.0, 7.0] and other.lr == 5.0
    assert other.state[0]["exp_avg"].flags.owndata


def test_load_casts_state_to_the_parameter_dtype(backend):
    w = ad.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    opt = optim.SGD([w], lr=0.5, momentum=0.5)
    opt.load_state_dict({"state": {0: {"momentum_buffer": np.array([2.0, 4.0])}},
                         "param_groups": [{"lr": 0.5, "momentum": 0.5, "params": [0]}]})
    assert opt.state[0]["momentum_buffer"].dtype == np.float32
    w.grad = ad.Tensor(np.array([1.0, 1.0], np.float32))
    opt.step()  # buf = 0.5 * buf + g = [2, 3]; w - 0.5 * buf
    assert w.numpy().tolist() == [0.0, 0.5] and w.dtype == np.float32


def _sd(**change):
    sd = {"state": {0: {"step": 2, "exp_avg": np.ones(2), "exp_avg_sq": np.ones(2)}},
          "param_groups": [{"lr": 0.5, "betas": (0.9, 0.99), "eps": 1e-8,
                            "weight_decay": 0.0, "params": [0]}]}
    group = sd["param_groups"][0]
    for k, v in change.items():
        if k == "groups":
            sd["param_groups"] = v(group)
        elif k == "state":
            sd["state"] = v
        else:
            group[k] = v
    return sd


@pytest.mark.parametrize("sd, error, match", [
    (_sd(groups=lambda g: [g, g]), ValueError, "different number of parameter groups"),
    (_sd(params=[0, 1]), ValueError, "parameter group 0 has 2 parameters, the optimizer's 1"),
    (_sd(state={0: {"exp_avg": np.ones(3)}}), ValueError,
     r"parameter 0: state 'exp_avg' has shape \(3,\), its parameter \(2,\)"),
    (_sd(state={0: {"momentum_buffer": np.ones(2)}}), ValueError,
     "state 'momentum_buffer' is not state of Adam"),
    (_sd(state={5: {"step": 1}}), ValueError, "state for parameter 5, which no group lists"),
    (_sd(state={0: {"step": 1.5}}), ValueError, "step must be a whole number"),
    (_sd(amsgrad=True), ValueError, "param group 0: amsgrad=True, which Adam does not"),
    (_sd(maximize=True), ValueError, "maximize=True, which Adam does not implement"),
    (_sd(decoupled_weight_decay=True), ValueError, "decoupled_weight_decay=True"),
    (_sd(lr=-0.5), ValueError, r"Adam.load_state_dict: param group 0: invalid lr -0\.5"),
    ({"state": {}}, ValueError, "expected a dict with 'state' and 'param_groups'"),
])
def test_bad_state_dict_raises_and_changes_nothing(sd, error, match):
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    w.grad = ad.tensor([1.0, -1.0])
    opt.step()
    before = opt.state_dict()
    with pytest.raises(error, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert {k: _bits(v) for k, v in after["state"][0].items() if k != "step"} == \
        {k: _bits(v) for k, v in before["state"][0].items() if k != "step"}
    assert after["state"][0]["step"] == 1


def test_torch_flags_that_change_nothing_are_accepted():
    w = ad.zeros(2, requires_grad=True)
    opt = optim.AdamW([w])
    opt.load_state_dict(_sd(amsgrad=False, maximize=False, foreach=None, fused=True,
                            capturable=False, differentiable=False, initial_lr=0.5,
                            decoupled_weight_decay=True))
    assert opt.param_groups[0] == {"params": [w], "lr": 0.5, "betas": (0.9, 0.99),
                                   "eps": 1e-8, "weight_decay": 0.0, "initial_lr": 0.5}
    assert opt.state[0]["step"] == 2


# ----- a compiled step with two groups and a scheduler -------------------------------------------

COMPILE_OPTIMIZERS = {
    "momentum": lambda g: optim.SGD(g, lr=0.05, momentum=0.9, weight_decay=0.01),
    "adamw": lambda g: optim.AdamW(g, lr=0.01),
    "rmsprop": lambda g: optim.RMSprop(g, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda g: optim.Adagrad(g, lr=0.1),
}
COMPILE_SCHEDULERS = {
    "step": lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4),
    # (changes the momentum or beta1 too at every call: the replay checks them)
    "onecycle": lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.05, 0.02], total_steps=12),
}


@pytest.mark.parametrize("sched", list(COMPILE_SCHEDULERS))
@pytest.mark.parametrize("opt_name", list(COMPILE_OPTIMIZERS))
def test_compile_two_groups_and_scheduler_match_eager_bitwise(backend, opt_name, sched, rng):
    if sched == "onecycle" and opt_name == "adagrad":
        pytest.skip("Adagrad has no momentum for OneCycleLR to cycle")
    X, t = rng.standard_normal((30, 3)), rng.standard_normal((30, 1))
    runs = []
    for compiled in (False, True):
        m = nn.Sequential(nn.Linear(3, 4, seed=1), nn.Tanh(), nn.Linear(4, 1, seed=2))
        opt = COMPILE_OPTIMIZERS[opt_name]([
            {"params": list(m.parameters())[:2]},
            {"params": list(m.parameters())[2:], "lr": 0.02, "weight_decay": 0.1}])
        scheduler = COMPILE_SCHEDULERS[sched](opt)

        def fn(x, y, m=m, opt=opt):
            opt.zero_grad()
            loss = nn.mse_loss(m(x), y)
            loss.backward()
            opt.step()
            return loss

        step = ad.compile(fn) if compiled else fn
        losses, lrs, keys = [], [], []
        for k in range(10):
            losses.append(_bits(step(X + k, t)))
            scheduler.step()
            lrs.append(scheduler.get_last_lr())
            keys.append(opt._replay_key())
        runs.append((losses, lrs, [(_bits(p), _bits(p.grad)) for p in m.parameters()],
                     [{k: _bits(v) for k, v in s.items()} for s in opt.state]))
    assert runs[0] == runs[1]
    assert len(set(map(tuple, runs[0][1]))) > 2  # the lrs did change
    info = step.cache_info()
    assert info.eager == 0 and info.replays >= 5 and info.records == 1
    if opt_name in ("momentum", "adamw"):  # (the updates a replay plans)
        # An lr change keeps the plan (what the replay checks is unchanged); a momentum
        # change does not.
        assert (len(set(keys[1:])) == 1) == (sched != "onecycle")

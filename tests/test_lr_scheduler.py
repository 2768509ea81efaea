"""Learning-rate schedules (pyautodiff.optim.lr_scheduler).

- Every scheduler's lr sequence over 40 steps, two param groups of different lr, equal
  to PyTorch's (``==``: the same float operations in the same order), OneCycleLR's
  momentum and beta1 too; ReduceLROnPlateau fed the same losses.
- Without PyTorch: each sequence against its closed form (1e-12 relative: the recursive
  forms round differently), OneCycleLR's turning points, ReduceLROnPlateau's
  reductions worked out by hand.
- A schedule resumed from state dicts (the optimizer's and the scheduler's, ours or
  PyTorch's) continues as the uninterrupted one, exactly.
- Bad arguments.
"""

import math
import warnings
from bisect import bisect_right

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import optim
from pyautodiff.optim import lr_scheduler
from pyautodiff.optim.lr_scheduler import StepLR

STEPS = 40
LRS = (0.1, 0.03)  # the two groups' lrs


def _lambda(epoch):
    return 0.97**epoch / (1 + epoch)


SCHEDULES = [
    ("StepLR", {"step_size": 7, "gamma": 0.3}),
    ("MultiStepLR", {"milestones": [3, 9, 9, 20], "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 11, "eta_min": 0.001}),  # (40 steps: past T_max, back up)
    ("LambdaLR", {"lr_lambda": _lambda}),
    ("LambdaLR", {"lr_lambda": [_lambda, lambda e: 1.0 - e / 50]}),
    ("OneCycleLR", {"max_lr": [0.5, 0.2], "total_steps": STEPS}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS + 3, "anneal_strategy": "linear",
                    "three_phase": True, "pct_start": 0.25, "base_momentum": 0.8,
                    "max_momentum": [0.9, 0.95]}),
]
SCHEDULE_IDS = [f"{name}-{k}" for k, (name, _) in enumerate(SCHEDULES)]
PLATEAUS = [
    {},
    {"mode": "max", "factor": 0.5, "patience": 2, "threshold": 0.1, "threshold_mode": "abs",
     "cooldown": 2, "min_lr": [0.01, 0.02]},
    {"factor": 0.5, "patience": 0, "threshold": 0.05, "cooldown": 1, "min_lr": 0.02},
    {"mode": "max", "factor": 0.3, "patience": 1, "eps": 0.05},  # (eps skips small cuts)
]


def _optimizer(module, name, params):
    """``name`` of ``module`` (pyautodiff.optim or torch.optim) over two groups."""
    extra = {"momentum": 0.9} if name == "SGD" else {}
    return getattr(module, name)([{"params": params[:1]}, {"params": params[1:], "lr": LRS[1]}],
                                 lr=LRS[0], **extra)


def _momenta(opt):
    return [h["momentum"] if "momentum" in h else h["betas"] for h in opt.param_groups]


def _sequence(module, name, kw, opt_name, steps=STEPS, losses=None):
    """The lrs (and momenta) after each scheduler step of ``steps``."""
    params = [_zeros(module) for _ in range(2)]
    opt = _optimizer(module.optim, opt_name, params)
    sched = getattr(module.optim.lr_scheduler, name)(opt, **kw)
    out = [(sched.get_last_lr(), _momenta(opt))]
    for k in range(steps):
        opt.step()
        sched.step(losses[k]) if losses is not None else sched.step()
        out.append((sched.get_last_lr(), _momenta(opt)))
        assert [h["lr"] for h in opt.param_groups] == out[-1][0]
    return out, sched


def _zeros(module):
    return module.zeros(2, requires_grad=True)


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("name, kw", SCHEDULES, ids=SCHEDULE_IDS)
def test_schedule_equals_torch(name, kw, opt_name):
    torch = pytest.importorskip("torch")
    want, tsched = _sequence(torch, name, kw, opt_name)
    got, sched = _sequence(ad, name, kw, opt_name)
    assert got == want
    assert sched.last_epoch == tsched.last_epoch == STEPS
    assert len({tuple(lrs) for lrs, _ in got}) > 3  # (the lrs did move)


def _losses(seed):
    """Losses with plateaus and rises: rounded uniform numbers."""
    return np.round(np.random.default_rng(seed).random(STEPS), 1).tolist()


@pytest.mark.parametrize("kw", PLATEAUS)
def test_reduce_on_plateau_equals_torch(kw):
    torch = pytest.importorskip("torch")
    losses = _losses(1)
    want, tsched = _sequence(torch, "ReduceLROnPlateau", kw, "SGD", losses=losses)
    got, sched = _sequence(ad, "ReduceLROnPlateau", kw, "SGD", losses=losses)
    assert got == want
    assert (sched.best, sched.num_bad_epochs) == (tsched.best, tsched.num_bad_epochs)
    assert len({tuple(lrs) for lrs, _ in got}) > 1  # (at least one reduction)


# ----- without PyTorch: closed forms -------------------------------------------------------------

CLOSED_FORMS = {
    "StepLR": lambda base, e, kw: base * kw["gamma"] ** (e // kw["step_size"]),
    "MultiStepLR": lambda base, e, kw: base * kw["gamma"] ** bisect_right(
        sorted(kw["milestones"]), e),
    "ExponentialLR": lambda base, e, kw: base * kw["gamma"] ** e,
    "CosineAnnealingLR": lambda base, e, kw: kw["eta_min"] + (base - kw["eta_min"]) * (
        1 + math.cos(math.pi * e / kw["T_max"])) / 2,
}


@pytest.mark.parametrize("name, kw", [s for s in SCHEDULES if s[0] in CLOSED_FORMS]
                         + [("LambdaLR", {"lr_lambda": _lambda})])
def test_schedule_follows_its_closed_form(name, kw):
    got, _ = _sequence(ad, name, kw, "SGD")
    for e, (lrs, _) in enumerate(got):
        for base, lr in zip(LRS, lrs):
            want = base * _lambda(e) if name == "LambdaLR" else CLOSED_FORMS[name](base, e, kw)
            assert lr == pytest.approx(want, rel=1e-12, abs=1e-12 * base), (e, lr, want)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_one_cycle_turning_points(strategy):
    total, pct, top = 50, 0.3, 0.4
    got, _ = _sequence(ad, "OneCycleLR", {"max_lr": top, "total_steps": total,
                                          "pct_start": pct, "anneal_strategy": strategy},
                       "SGD", steps=total - 1)
    lrs = [lrs[0] for lrs, _ in got]
    momenta = [m[0] for _, m in got]
    peak = round(pct * total) - 1  # step (pct * total) - 1 ends the rise
    assert lrs[0] == pytest.approx(top / 25, rel=1e-15)
    assert lrs[peak] == pytest.approx(top, rel=1e-15)
    assert lrs[-1] == pytest.approx(top / 25 / 1e4, rel=1e-9)
    assert all(np.diff(lrs[:peak + 1]) > 0) and all(np.diff(lrs[peak:]) < 0)
    assert momenta[0] == momenta[-1] == 0.95 and momenta[peak] == pytest.approx(0.85)
    if strategy == "linear":  # equal steps on each side
        np.testing.assert_allclose(np.diff(lrs[:peak + 1]), (top - top / 25) / peak, rtol=1e-9)


def test_reduce_on_plateau_by_hand():
    w = ad.zeros(1, requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=2)
    lrs = []
    for loss in [5, 4, 4, 4, 4, 3, 3, 3, 3, 3.5]:
        sched.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    # best 4 at step 2; steps 3-5 are 3 bad ones > patience 2: cut; best 3 at step 6,
    # steps 7-9 bad: cut again; then the count starts over
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1]
    assert sched.get_last_lr() == [0.1 * 0.1] and sched.num_bad_epochs == 1


# ----- resuming ----------------------------------------------------------------------------------

ALL = SCHEDULES + [("ReduceLROnPlateau", kw) for kw in PLATEAUS]
ALL_IDS = SCHEDULE_IDS + [f"ReduceLROnPlateau-{k}" for k in range(len(PLATEAUS))]


def _run(opt, sched, name, steps, losses):
    out = []
    for k in steps:
        opt.step()
        sched.step(losses[k]) if name == "ReduceLROnPlateau" else sched.step()
        out.append((sched.get_last_lr(), _momenta(opt), sched.last_epoch))
    return out


@pytest.mark.parametrize("name, kw", ALL, ids=ALL_IDS)
def test_resumed_schedule_continues_exactly(name, kw):
    losses = _losses(2)

    def start():
        opt = _optimizer(optim, "Adam", [ad.zeros(2, requires_grad=True) for _ in range(2)])
        return opt, getattr(lr_scheduler, name)(opt, **kw)

    opt, sched = start()
    _run(opt, sched, name, range(12), losses)
    saved = opt.state_dict(), sched.state_dict()
    want = _run(opt, sched, name, range(12, STEPS), losses)
    opt, sched = start()  # (made as at the start, then both loaded)
    opt.load_state_dict(saved[0])
    sched.load_state_dict(saved[1])
    assert _run(opt, sched, name, range(12, STEPS), losses) == want


@pytest.mark.parametrize("name, kw", ALL, ids=ALL_IDS)
def test_torch_scheduler_state_dict_resumes_the_schedule(name, kw):
    torch = pytest.importorskip("torch")
    losses = _losses(3)
    topt = _optimizer(torch.optim, "Adam", [torch.zeros(2, requires_grad=True)
                                            for _ in range(2)])
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    with warnings.catch_warnings():  # (PyTorch warns of its step order: nothing to step here)
        warnings.simplefilter("ignore", UserWarning)
        _run(topt, tsched, name, range(12), losses)
        saved = topt.state_dict(), tsched.state_dict()
        want = _run(topt, tsched, name, range(12, STEPS), losses)
    opt = _optimizer(optim, "Adam", [ad.zeros(2, requires_grad=True) for _ in range(2)])
    sched = getattr(lr_scheduler, name)(opt, **kw)
    opt.load_state_dict(saved[0])  # (no state: no step had a gradient)
    sched.load_state_dict(saved[1])
    assert _run(opt, sched, name, range(12, STEPS), losses) == want


def test_state_dict_is_a_copy_without_the_optimizer():
    opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 4])
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["base_lrs"] == [1.0] and sd["last_epoch"] == 0
    sd["milestones"][2] = 5
    sd["base_lrs"].append(3.0)
    assert sched.milestones[2] == 1 and sched.base_lrs == [1.0]


# ----- arguments ---------------------------------------------------------------------------------

def _opt(name="SGD", groups=1):
    params = [ad.zeros(1, requires_grad=True) for _ in range(groups)]
    return getattr(optim, name)([{"params": [p]} for p in params], lr=0.1)


@pytest.mark.parametrize("make, error, match", [
    (lambda: StepLR(object(), 3), TypeError, "StepLR: object is not an Optimizer"),
    (lambda: lr_scheduler.ReduceLROnPlateau([1]), TypeError,
     "ReduceLROnPlateau: list is not an Optimizer"),
    (lambda: StepLR(_opt(), 0), ValueError, "StepLR: step_size must be a positive int"),
    (lambda: lr_scheduler.CosineAnnealingLR(_opt(), T_max=0), ValueError,
     "CosineAnnealingLR: T_max must be > 0"),
    (lambda: lr_scheduler.LambdaLR(_opt(groups=2), [_lambda]), ValueError,
     r"LambdaLR: lr_lambda must have one value per param group \(2\), got 1"),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), mode="mid"), ValueError,
     "ReduceLROnPlateau: mode 'mid' is unknown"),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), threshold_mode="x"), ValueError,
     "ReduceLROnPlateau: threshold mode 'x' is unknown"),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), factor=1.0), ValueError,
     "ReduceLROnPlateau: factor should be < 1.0"),
    (lambda: lr_scheduler.OneCycleLR(_opt("Adagrad"), 1.0, total_steps=5), ValueError,
     "OneCycleLR: cycle_momentum needs an optimizer with momentum or betas, got Adagrad"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), 1.0), ValueError,
     "OneCycleLR: give total_steps, or epochs and steps_per_epoch"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), 1.0, total_steps=5, pct_start=1), ValueError,
     "OneCycleLR: expected a float between 0 and 1 for pct_start"),
    (lambda: StepLR(_opt(), 3, last_epoch=5), KeyError, "param 'initial_lr' is not specified"),
])
def test_bad_arguments_raise_naming_the_scheduler(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_one_cycle_refuses_steps_past_total_steps():
    opt = _opt()
    sched = lr_scheduler.OneCycleLR(opt, 1.0, epochs=2, steps_per_epoch=2)
    for _ in range(4):
        sched.step()
    with pytest.raises(ValueError, match="OneCycleLR.step: tried to step 5 times; the "
                                         "specified number of total steps is 4"):
        sched.step()


def test_a_group_added_after_the_scheduler_is_reported():
    opt = _opt()
    sched = lr_scheduler.LambdaLR(opt, _lambda)
    opt.add_param_group({"params": [ad.zeros(1, requires_grad=True)]})
    with pytest.raises(ValueError, match="LambdaLR.step: the optimizer has 2 param "
                                         "groups, the schedule was made for 1"):
        sched.step()


def test_module_paths():
    assert ad.optim.lr_scheduler.StepLR is StepLR
    assert issubclass(lr_scheduler.ReduceLROnPlateau, lr_scheduler.LRScheduler)

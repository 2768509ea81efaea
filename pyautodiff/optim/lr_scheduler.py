"""Learning-rate schedules: ``torch.optim.lr_scheduler``'s classes, arguments and numbers.

A scheduler sets the ``"lr"`` of each of an optimizer's ``param_groups`` (``OneCycleLR``
the momentum too); call ``scheduler.step()`` after ``optimizer.step()``, once per epoch
or per batch as the schedule means. Each schedule computes as PyTorch's does, in its
recursive form where PyTorch uses one (each value from the group's current lr, as
``CosineAnnealingLR``), so the learning rates equal PyTorch's bit for bit.
``state_dict()`` is every attribute but the optimizer (PyTorch's layout);
``load_state_dict`` takes one, after the optimizer's own state dict (which holds each
group's ``initial_lr``), to resume a run exactly.

A compiled step (``ad.compile``) reads each group's lr at each call: step the scheduler
between calls, outside the compiled function.
"""

import copy
import math
import types
from collections import Counter

from . import Optimizer

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "MultiStepLR",
           "OneCycleLR", "ReduceLROnPlateau", "StepLR"]


def _optimizer(optimizer, where):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{where}: {type(optimizer).__name__} is not an Optimizer")
    return optimizer


def _per_group(value, optimizer, where, name):
    """``value`` for each param group: a list or tuple of one per group, or one for all."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(f"{where}: {name} must have one value per param group "
                             f"({len(optimizer.param_groups)}), got {len(value)}")
        return list(value)
    return [value] * len(optimizer.param_groups)


class LRScheduler:
    """Base class: sets each param group's lr to ``get_lr()`` at every ``step()``.

    Parameters
    ----------
    optimizer : Optimizer
    last_epoch : int, default -1
        The index of the last step taken: -1 starts a schedule (and records each
        group's ``"initial_lr"``); a resumed schedule needs ``"initial_lr"`` in every
        group already.

    Attributes
    ----------
    optimizer, last_epoch, base_lrs : each group's ``initial_lr``

    Subclasses implement ``get_lr()``: the new lr of each group, once ``last_epoch`` is
    advanced.
    """

    def __init__(self, optimizer, last_epoch=-1):
        where = type(self).__name__
        self.optimizer = _optimizer(optimizer, where)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{where}: param 'initial_lr' is not specified in "
                                   f"param_groups[{i}] when resuming a schedule with "
                                   "last_epoch >= 0 (load the optimizer's state dict first)")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True  # (the constructor's step sets the starting lrs)
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        raise NotImplementedError

    def get_last_lr(self):
        """The lr of each param group, as the last ``step()`` set it (a list)."""
        return self._last_lr

    def step(self):
        """Advance the schedule by one step and set each group's lr."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}.step: the optimizer has {len(groups)} "
                             f"param groups, the schedule was made for {len(values)}")
        for group, lr in zip(groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def state_dict(self):
        """Every attribute but the optimizer, copied (PyTorch's layout)."""
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Take the attributes of ``state_dict`` (from ``state_dict()``, or PyTorch's), copied."""
        vars(self).update(copy.deepcopy(dict(state_dict)))

    def _lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]


class LambdaLR(LRScheduler):
    """lr = initial lr * ``lr_lambda(epoch)`` (one function, or one per param group).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    >>> for _ in range(3):
    ...     opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        where = "LambdaLR"
        _optimizer(optimizer, where)
        self.lr_lambdas = _per_group(lr_lambda, optimizer, where, "lr_lambda")
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [base_lr * f(self.last_epoch) for f, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        """As ``LRScheduler.state_dict``; of ``lr_lambdas``, only the attributes of callable
        objects (a function's are None), as PyTorch."""
        state = {k: copy.deepcopy(v) for k, v in vars(self).items()
                 if k not in ("optimizer", "lr_lambdas")}
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType)
                               else copy.deepcopy(vars(f)) for f in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = copy.deepcopy(dict(state_dict))
        saved = state.pop("lr_lambdas")
        vars(self).update(state)
        for f, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                vars(f).update(attributes)


class StepLR(LRScheduler):
    """lr times ``gamma`` every ``step_size`` steps.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     opt.step(); sched.step(); lrs.append(opt.param_groups[0]["lr"])
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class MultiStepLR(LRScheduler):
    """lr times ``gamma`` at each milestone (a step number; twice if listed twice).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
    >>> lrs = []
    >>> for _ in range(4):
    ...     opt.step(); sched.step(); lrs.append(opt.param_groups[0]["lr"])
    >>> lrs
    [0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._lrs()
        return [group["lr"] * self.gamma ** self.milestones[self.last_epoch]
                for group in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    """lr times ``gamma`` at every step.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> opt.step(); sched.step(); opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._lrs()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` steps (and back,
    periodically, past ``T_max``), in PyTorch's recursive form.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    >>> lrs = []
    >>> for _ in range(4):
    ...     opt.step(); sched.step(); lrs.append(round(opt.param_groups[0]["lr"], 12))
    >>> lrs
    [0.5, 0.0, 0.5, 1.0]
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        e, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        groups = self.optimizer.param_groups
        if self._is_initial:
            return self._lrs()
        if self._step_count == 1 and e > 0:
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(e * math.pi / T)) / 2
                    for base_lr in self.base_lrs]
        if (e - 1 - T) % (2 * T) == 0:
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
                * (group["lr"] - eta_min) + eta_min for group in groups]


class ReduceLROnPlateau(LRScheduler):
    """lr times ``factor`` once a metric (``step(metric)``) stopped improving for more
    than ``patience`` steps.

    Parameters
    ----------
    optimizer : Optimizer
    mode : "min" or "max", default "min"
        Whether the metric improves by decreasing or increasing.
    factor : float, default 0.1
        < 1.
    patience : int, default 10
        Steps without improvement tolerated.
    threshold : float, default 1e-4
    threshold_mode : "rel" or "abs", default "rel"
        An improvement beats the best by ``best * threshold`` ("rel") or ``threshold``.
    cooldown : int, default 0
        Steps after a reduction during which bad steps are not counted.
    min_lr : float or list of float, default 0
        The lowest lr (of each group).
    eps : float, default 1e-8
        A reduction smaller than this is skipped.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0, 1.0]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        where = "ReduceLROnPlateau"
        if factor >= 1.0:
            raise ValueError(f"{where}: factor should be < 1.0, got {factor!r}")
        self.factor = factor
        self.optimizer = _optimizer(optimizer, where)
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(min_lr, optimizer, where, "min_lr")
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._lrs()
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics):
        """Count ``metrics`` (a number, or a one-element Tensor) as this step's value; lower
        the lrs when it has not improved for more than ``patience`` steps."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # (bad steps in the cooldown do not count)
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._lrs()

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau.step: the optimizer has {len(groups)} param groups, "
                    f"min_lr was given for {len(self.min_lrs)}; set min_lrs to one per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode {mode!r} is unknown, expected "
                             "'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold mode {threshold_mode!r} is "
                             "unknown, expected 'rel' or 'abs'")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin, 2017): lr from ``max_lr / div_factor`` up to
    ``max_lr`` over the first ``pct_start`` of ``total_steps``, then down to
    ``initial_lr / final_div_factor``; momentum (SGD's, or Adam's beta1) the other way
    between ``max_momentum`` and ``base_momentum``. Call ``step()`` after every batch.

    Parameters
    ----------
    optimizer : Optimizer
    max_lr : float or list of float (one per group)
    total_steps : int, or ``epochs`` and ``steps_per_epoch``
    pct_start : float, default 0.3
    anneal_strategy : "cos" or "linear", default "cos"
    cycle_momentum : bool, default True
    base_momentum, max_momentum : float or list, default 0.85, 0.95
    div_factor : float, default 25
    final_div_factor : float, default 1e4
    three_phase : bool, default False
        A third phase: the first two symmetric (up to ``max_lr`` and back), then down to
        the minimum.
    last_epoch : int, default -1

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> opt = optim.SGD([ad.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=4,
    ...                                       anneal_strategy="linear", pct_start=0.5)
    >>> lrs = [opt.param_groups[0]["lr"]]
    >>> for _ in range(3):
    ...     opt.step(); sched.step(); lrs.append(round(opt.param_groups[0]["lr"], 6))
    >>> lrs
    [0.04, 1.0, 0.500002, 4e-06]
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True,
                 base_momentum=0.85, max_momentum=0.95, div_factor=25.0, final_div_factor=1e4,
                 three_phase=False, last_epoch=-1):
        where = "OneCycleLR"
        self.optimizer = _optimizer(optimizer, where)
        if total_steps is not None:
            if not isinstance(total_steps, int) or total_steps <= 0:
                raise ValueError(f"{where}: expected a positive integer total_steps, "
                                 f"got {total_steps!r}")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for name, n in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if not isinstance(n, int) or n <= 0:
                    raise ValueError(f"{where}: expected a positive integer {name}, got {n!r}")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(f"{where}: give total_steps, or epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"{where}: expected a float between 0 and 1 for pct_start, "
                             f"got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"{where}: anneal_strategy must be 'cos' or 'linear', "
                             f"got {anneal_strategy!r}")
        self._anneal_func_type = anneal_strategy
        up = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": float(2 * pct_start * self.total_steps) - 2,
                 "start_lr": "max_lr", "end_lr": "initial_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "initial_lr",
                 "end_lr": "min_lr", "start_momentum": "max_momentum",
                 "end_momentum": "max_momentum"},
            ]
        else:
            self._schedule_phases = [
                {"end_step": up, "start_lr": "initial_lr", "end_lr": "max_lr",
                 "start_momentum": "max_momentum", "end_momentum": "base_momentum"},
                {"end_step": self.total_steps - 1, "start_lr": "max_lr", "end_lr": "min_lr",
                 "start_momentum": "base_momentum", "end_momentum": "max_momentum"},
            ]
        max_lrs = _per_group(max_lr, optimizer, where, "max_lr")
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(f"{where}: cycle_momentum needs an optimizer with momentum "
                                 f"or betas, got {type(optimizer).__name__}")
            self.use_beta1 = "betas" in optimizer.defaults
            highs = _per_group(max_momentum, optimizer, where, "max_momentum")
            lows = _per_group(base_momentum, optimizer, where, "base_momentum")
            if last_epoch == -1:
                for high, low, group in zip(highs, lows, optimizer.param_groups):
                    self._set_momentum(group, high)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group, value):
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal_func(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR.step: tried to step {step} times; the specified "
                             f"number of total steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lr = self._anneal_func(group[phase["start_lr"]], group[phase["end_lr"]],
                                           pct)
                    if self.cycle_momentum:
                        momentum = self._anneal_func(group[phase["start_momentum"]],
                                                     group[phase["end_momentum"]], pct)
                    break
                start = phase["end_step"]
            lrs.append(lr)
            if self.cycle_momentum:
                self._set_momentum(group, momentum)
        return lrs

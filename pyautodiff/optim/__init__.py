"""Optimizers: SGD, Adam, AdamW, RMSprop and Adagrad, with PyTorch's update formulas,
parameter groups and state dicts; learning-rate schedules in ``optim.lr_scheduler``.

Each ``step()`` updates every parameter that has a gradient in place (``p.data`` is
written, never replaced), outside the graph: nothing is recorded. The formulas and
their order of operations are those of ``torch.optim``'s single-tensor path, so a
run matches PyTorch's step by step to rounding (PyTorch contracts some products and
sums into fused multiply-adds; here every operation rounds on its own).

Parameter groups are PyTorch's: ``params`` is a list of tensors, or of dicts each
holding its ``"params"`` and any hyperparameter, the others taken from the
constructor's (``opt.defaults``). ``opt.param_groups`` lists the groups; a
scheduler (or the user) changes a group's ``"lr"`` there between steps. The
attributes ``opt.lr``, ``opt.momentum``... read group 0's value and write every
group's. ``state_dict()`` and ``load_state_dict()`` have PyTorch's layout, parameters
numbered in the order of the groups, and resume a run bit for bit.

Two paths compute the same operations in the same order, in the parameter's dtype:

- the numpy formula (the reference, used on the numpy backend and for anything the
  C kernels do not take), written with ``out=`` into the optimizer's state and a
  scratch area reused across steps, so no step after the first allocates an array;
- on the C backend, one fused pass per parameter (``pyad_sgd_<dt>``,
  ``pyad_adam_<dt>`` in csrc/optim.c) for SGD, Adam and AdamW, when the parameter,
  its gradient and its state are C-contiguous, aligned arrays of one float dtype and
  shape, sharing no memory, and the parameter is writable. Both paths give the same
  bits. There is no size threshold: the fused pass was measured faster than the numpy
  formula at every size, one element included (SGD with momentum 4.7 against 7.0 us a
  step, Adam 6.6 against 15 us; at 10^6 float64 elements Adam takes 0.6 ms against
  5.6 ms). RMSprop and Adagrad run the numpy formula on both backends.
"""

import copy
import math
import operator

import numpy as np

from .. import backends, memory
from ..engine import enable_grad
from ..tensor import Tensor

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]

_ndarray = np.ndarray
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _c_backend():
    """The C backend module when it is the active backend, else None."""
    active = backends.current()
    return active if active.NAME == "c" else None


def _kernel(c, family, dtype):
    """The C kernel ``pyad_<family>_<f32|f64>`` (one place, so tests can see each call)."""
    return getattr(c.lib, f"pyad_{family}_{_SUFFIX[dtype]}")


def _fusable(x, g, *state):
    """Whether the fused kernel can update ``x`` from ``g`` and ``state`` in place: the
    checks the kernels never make, done before any pointer crosses into C."""
    if not (type(x) is _ndarray and x.dtype in _SUFFIX and x.flags.c_contiguous
            and x.flags.aligned and x.flags.writeable):
        return False
    arrays = (x, g) + state
    for k, a in enumerate(arrays[1:], 1):
        if not (type(a) is _ndarray and a.dtype == x.dtype and a.shape == x.shape
                and a.flags.c_contiguous and a.flags.aligned
                and (k == 1 or a.flags.writeable)):
            return False
        for b in arrays[:k]:
            if np.may_share_memory(a, b):
                return False
    return True


# ----- hyperparameters: each checked and made a Python number ------------------------------

def _number(value, where, name):
    """A hyperparameter as a Python float (never a numpy scalar: those would promote
    float32 arithmetic to float64 in the numpy formula)."""
    if isinstance(value, (bool, np.bool_, Tensor)):
        raise TypeError(f"{where}: {name} must be a real number, got {type(value).__name__}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{where}: {name} must be a real number, got {type(value).__name__} {value!r}"
        ) from None


def _at_least_zero(value, where, name):
    v = _number(value, where, name)
    if not v >= 0:  # NaN fails too
        raise ValueError(f"{where}: invalid {name} {value!r}, expected {name} >= 0")
    return v


def _finite(value, where, name):
    v = _number(value, where, name)
    if not math.isfinite(v):
        raise ValueError(f"{where}: invalid {name} {value!r}, expected a finite number")
    return v


def _flag(value, where, name):
    return bool(value)


def _betas(value, where, name):
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), got {value!r}") from None
    betas = (_number(b1, where, "beta1"), _number(b2, where, "beta2"))
    for k, b in enumerate(betas):
        if not 0 <= b < 1:
            raise ValueError(
                f"{where}: invalid beta parameter at index {k}: {b!r}, expected 0 <= beta < 1"
            )
    return betas


def _lerp_weight(w, dtype):
    """``(w, w in dtype, small)`` for torch's lerp(m, g, w): m + w * (g - m) when |w| < 0.5,
    else g - (g - m) * (1 - w), with w and 1 - w in the parameter's dtype (1 - w is
    exact there: w >= 0.5)."""
    w_t = float(dtype.type(w))
    return w, w_t, abs(w_t) < 0.5


def _lerp(m, g, w, dtype, s):
    """``m = m.lerp(g, w)`` in place, as torch computes it (``s``: scratch like ``m``)."""
    w, w_t, small = _lerp_weight(w, dtype)
    np.subtract(g, m, out=s)
    if small:
        np.multiply(s, w, out=s)
        np.add(m, s, out=m)  # m + w * (g - m)
    else:
        np.multiply(s, 1.0 - w_t, out=s)
        np.subtract(g, s, out=m)  # g - (g - m) * (1 - w)


# ----- parameters and groups --------------------------------------------------------------

def _param_list(params, where, allow_empty=False):
    if isinstance(params, Tensor):
        raise TypeError(
            f"{where}: params must be an iterable of Tensors, got a single Tensor; "
            "pass [t] (or a Module's parameters())"
        )
    if isinstance(params, (set, frozenset)):
        raise TypeError(f"{where}: params must be an ordered collection (a list), not a set, "
                        "whose order changes between runs")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"{where}: params must be an iterable of Tensors, got {type(params).__name__}"
        ) from None
    if not params and not allow_empty:
        raise ValueError(f"{where}: got an empty parameter list")
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"{where}: parameter {i} is a {type(p).__name__}, expected a Tensor"
            )
        if not p.is_leaf:
            raise ValueError(
                f"{where}: parameter {i} is not a leaf tensor (it was computed by "
                f"{p.grad_fn!r}); optimize leaf tensors, for example t.detach()"
            )
        if id(p) in seen:
            raise ValueError(f"{where}: parameter {i} appears more than once in params")
        seen.add(id(p))
    return params


def _step_count(value, where):
    """A saved step count (an int, or PyTorch's float tensor as a 0-d array) as an int."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: step must be a number, got {type(value).__name__}") from None
    if not (t >= 0 and t == int(t)):
        raise ValueError(f"{where}: step must be a whole number >= 0, got {value!r}")
    return int(t)


class _Hyper:
    """A hyperparameter as an attribute of the optimizer (``opt.lr``): reads group 0's
    value; an assignment is checked and written to every group."""

    def __init__(self, name):
        self.name = name

    def __get__(self, opt, owner=None):
        if opt is None:
            return self
        return opt.param_groups[0][self.name]

    def __set__(self, opt, value):
        where = type(opt).__name__
        checked = [opt._checked({**h, self.name: value}, where) for h in opt.param_groups]
        for h, new in zip(opt.param_groups, checked):
            h[self.name] = new[self.name]


# PyTorch's group entries that pick an implementation of the same update (dropped when
# a PyTorch state dict loads), and those that change it, which must be off.
_TORCH_IMPLEMENTATION = ("foreach", "fused", "capturable", "differentiable")
_TORCH_OFF = {"maximize": False, "amsgrad": False}


class Optimizer:
    """Base class: holds the parameter groups and the state of each parameter, and runs
    the update of each.

    Parameters
    ----------
    params : iterable of Tensor, or of dict
        The leaf tensors to optimize (a list, or a Module's ``parameters()``), or
        parameter groups: dicts each with ``"params"`` (tensors) and any hyperparameter
        of the optimizer, which then applies to that group only.
    defaults : dict
        Every hyperparameter's value where a group does not give one.

    Attributes
    ----------
    param_groups : list of dict
        Each group's ``"params"`` (a list) and every hyperparameter. A change to a
        hyperparameter here (a scheduler writes ``"lr"``) applies from the next step.
    defaults : dict
    params : list of Tensor
        Every group's parameters, in order (group 0's own list when there is one
        group); ``add_param_group`` adds to it.
    state : list of dict
        ``state[i]`` holds the state of ``params[i]`` (numpy arrays and a step count),
        created at its first update.

    Subclasses list their hyperparameters in ``_hyper`` (pairs (name, check), in
    PyTorch's order) and implement ``_update(i, x, g, state, c)``: update array ``x`` in place
    from gradient array ``g`` with the hyperparameters of ``self._groups[i]``, ``c``
    the C backend module or None.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> b = ad.tensor([1.0], requires_grad=True)
    >>> opt = optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.25}], lr=0.5)
    >>> (w * w).sum().backward(); (b * b).sum().backward()
    >>> opt.step()
    >>> w.tolist(), b.tolist()
    ([0.0, 0.0], [0.5])
    >>> opt.zero_grad()
    >>> w.grad is None
    True
    >>> [group["lr"] for group in opt.param_groups]
    [0.5, 0.25]
    """

    _hyper = ()
    # The state arrays a replay (``_replayer``) was planned on, and whether the state
    # counts steps.
    _buffers = ()
    _steps = False
    # PyTorch group flags this optimizer implements with one value only.
    _fixed = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        for name, _ in cls._hyper:
            if not hasattr(cls, name):
                setattr(cls, name, _Hyper(name))

    def __init__(self, params, defaults):
        name = type(self).__name__
        self.defaults = self._checked(defaults, name)
        self.param_groups, self.params, self.state, self._groups = [], [], [], []
        # dtype -> flat scratch array of the numpy formula, reused by every step
        self._scratch = {}
        if not isinstance(params, (Tensor, set, frozenset)):
            try:
                params = list(params)
            except TypeError:
                pass  # (_add says what params must be)
        if type(params) is list and params and all(isinstance(h, dict) for h in params):
            for k, h in enumerate(params):
                self._add(h, f"{name}: param group {k}")
        else:
            self._add({"params": params}, name, top=True)

    def _checked(self, values, where):
        """The hyperparameters of ``values`` (a dict holding each), checked: a new dict."""
        out = {k: check(values[k], where, k) for k, check in self._hyper}
        self._check(out, where)
        return out

    def _check(self, h, where):
        """The rules between hyperparameters (a subclass's)."""

    def add_param_group(self, param_group):
        """Add a group of parameters, with its own hyperparameters (as PyTorch's).

        ``param_group`` is a dict with ``"params"`` (a Tensor or a list of them) and any
        hyperparameter; the others are the constructor's (``defaults``). Other entries
        are kept in the group as they are.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> from pyautodiff import optim
        >>> w, b = ad.tensor([1.0], requires_grad=True), ad.tensor([2.0], requires_grad=True)
        >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
        >>> opt.add_param_group({"params": b, "lr": 0.01})
        >>> opt.param_groups[1]["lr"], opt.param_groups[1]["momentum"], len(opt.params)
        (0.01, 0.9, 2)
        """
        self._add(param_group, f"{type(self).__name__}.add_param_group")

    def _add(self, group, where, top=False):
        """Add ``group``; ``top``: its params are the constructor's (a list of tensors,
        not empty) rather than a group's (also one Tensor, or none)."""
        if not isinstance(group, dict):
            raise TypeError(f"{where}: a param group must be a dict, got {type(group).__name__}")
        if "params" not in group:
            raise ValueError(f"{where}: a param group needs a 'params' entry")
        params = group["params"]
        if isinstance(params, Tensor) and not top:
            params = [params]
        params = _param_list(params, where, allow_empty=not top)
        taken = {id(p) for p in self.params}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{where}: some parameters appear in more than one parameter group")
        hyper = self._checked({**self.defaults, **group}, where)
        extra = {k: v for k, v in group.items() if k != "params" and k not in hyper}
        self.param_groups.append({"params": params, **hyper, **extra})
        self.state += [{} for _ in params]
        self._index()

    def _index(self):
        groups = self.param_groups
        self.params = (groups[0]["params"] if len(groups) == 1
                       else [p for h in groups for p in h["params"]])
        self._groups = [h for h in groups for _ in h["params"]]

    def zero_grad(self):
        """Clear the gradient of every parameter (``p.grad = None``)."""
        for p in self.params:
            p.grad = None

    def step(self, closure=None):
        """Update every parameter whose ``.grad`` is not None; parameters without a
        gradient (and their state) are left as they are.

        ``closure``, if given, is called first (with gradient recording on) and its
        result returned: a function that zeroes the gradients, computes the loss and
        calls ``backward()``.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        c = _c_backend()
        name = type(self).__name__
        if len(self.params) != len(self.state):
            raise ValueError(
                f"{name}.step: params holds {len(self.params)} tensors but the optimizer has "
                f"state for {len(self.state)}; add parameters with add_param_group"
            )
        todo = []
        # Every check first: a step updates all the parameters or none (and no state).
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is None:
                continue
            x = p._data
            g = grad._data if isinstance(grad, Tensor) else np.asarray(grad)
            if g.shape != x.shape:
                raise ValueError(
                    f"{name}.step: parameter {i} has shape {x.shape} but its gradient "
                    f"{g.shape}"
                )
            # (a graph that saved the parameter does not stop the step: the write counts
            # as a new version, and a backward through that graph then raises)
            memory.check_writable(x, f"{name}.step: parameter {i}")
            for key, buf in self.state[i].items():
                if type(buf) is _ndarray and (buf.shape != x.shape or buf.dtype != x.dtype):
                    raise ValueError(
                        f"{name}.step: parameter {i} is now {x.shape} {x.dtype}, "
                        f"but its state {key!r} was made for {buf.shape} {buf.dtype}"
                    )
            todo.append((i, x, g))
        for i, x, g in todo:
            with memory.writing(x, f"{name}.step: parameter {i}"):
                self._update(i, x, g, self.state[i], c)
        return loss

    # ----- state dicts ---------------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state and hyperparameters, in PyTorch's layout.

        ``{"state": {i: {"momentum_buffer": array, ...}}, "param_groups": [{"lr": ...,
        ..., "params": [0, 1]}, ...]}``: parameters are numbered across the groups in
        order; only parameters with state appear in ``"state"``. Arrays are copies, a
        step count an int. ``load_state_dict`` of it (in a new optimizer over the same
        parameters, for example) continues the run bit for bit.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> from pyautodiff import optim
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = optim.Adam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> sd = opt.state_dict()
        >>> sd["state"][0]["step"], sd["state"][0]["exp_avg"]
        (1, array([0.2, 0.4]))
        >>> sd["param_groups"]
        [{'lr': 0.1, 'betas': (0.9, 0.999), 'eps': 1e-08, 'weight_decay': 0.0, 'params': [0]}]
        """
        state = {i: {k: v.copy() if type(v) is _ndarray else copy.deepcopy(v)
                     for k, v in s.items()}
                 for i, s in enumerate(self.state) if s}
        groups = []
        for h in self.param_groups:
            packed = copy.deepcopy({k: v for k, v in h.items() if k != "params"})
            packed["params"] = [i for i, g in enumerate(self._groups) if g is h]
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Take the state and hyperparameters of ``state_dict`` (``state_dict()``'s layout,
        or PyTorch's with its tensors turned into numpy arrays by ``.numpy()``), copied.

        The groups must match this optimizer's in number and sizes; saved parameter
        numbers map to this optimizer's parameters in order. State arrays are cast to
        their parameter's dtype. Nothing changes when anything is amiss
        (``ValueError``/``TypeError``).

        Examples
        --------
        >>> import pyautodiff as ad
        >>> from pyautodiff import optim
        >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
        >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> again = optim.SGD([w], lr=0.5)
        >>> again.load_state_dict(opt.state_dict())
        >>> again.lr, again.momentum, again.state[0]["momentum_buffer"]
        (0.1, 0.9, array([2., 4.]))
        """
        where = f"{type(self).__name__}.load_state_dict"
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (TypeError, KeyError):
            raise ValueError(f"{where}: expected a dict with 'state' and 'param_groups'") from None
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{where}: loaded state dict has a different number of parameter "
                             f"groups ({len(saved_groups)}) than the optimizer "
                             f"({len(self.param_groups)})")
        numbers, groups = {}, []
        for k, (h, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{where}: loaded parameter group {k} is not a dict with "
                                 "'params'")
            mine = [i for i, g in enumerate(self._groups) if g is h]
            if len(saved["params"]) != len(mine):
                raise ValueError(f"{where}: loaded parameter group {k} has "
                                 f"{len(saved['params'])} parameters, the optimizer's "
                                 f"{len(mine)}")
            numbers.update(zip(saved["params"], mine))
            groups.append(self._loaded_group(h, saved, f"{where}: param group {k}"))
        state = [{} for _ in self.state]
        for n, s in saved_state.items():
            if n not in numbers:
                raise ValueError(f"{where}: state for parameter {n!r}, which no group lists")
            i = numbers[n]
            state[i] = self._loaded_state(s, self.params[i]._data, f"{where}: parameter {n}")
        for h, new in zip(self.param_groups, groups):
            params = h["params"]
            h.clear()
            h.update(params=params, **new)
        for s, new in zip(self.state, state):
            s.clear()
            s.update(new)

    def _loaded_group(self, h, saved, where):
        """A group's entries but ``"params"`` from a saved group (checked, copied)."""
        for k, value in {**_TORCH_OFF, **dict(self._fixed)}.items():
            if k in saved and bool(saved[k]) != value:
                raise ValueError(f"{where}: {k}={saved[k]!r}, which {type(self).__name__} "
                                 f"does not implement (it needs {k}={value})")
        hyper = self._checked({**h, **saved}, where)
        skip = {*hyper, *_TORCH_OFF, *dict(self._fixed), "params", *_TORCH_IMPLEMENTATION}
        return {**hyper, **{k: copy.deepcopy(v) for k, v in saved.items() if k not in skip}}

    def _loaded_state(self, saved, x, where):
        """One parameter's saved state: arrays copied into ``x``'s dtype, a step an int."""
        out = {}
        for k, v in saved.items():
            if v is None:  # (PyTorch's SGD without momentum saved momentum_buffer None)
                continue
            if k == "step" and self._steps:
                out[k] = _step_count(v, where)
            elif k in self._buffers:
                a = np.array(v, dtype=x.dtype, order="C")
                if a.shape != x.shape:
                    raise ValueError(f"{where}: state {k!r} has shape {a.shape}, its "
                                     f"parameter {x.shape}")
                out[k] = a
            else:
                raise ValueError(f"{where}: state {k!r} is not state of "
                                 f"{type(self).__name__} (expected "
                                 f"{', '.join(self._buffers + ('step',) * self._steps)})")
        return out

    # ----- helpers for subclasses ------------------------------------------
    @staticmethod
    def _buffer(state, key, x, fill=0.0):
        """``state[key]``: a C-contiguous array of ``fill`` like ``x``, made at first use
        (``step`` checked an existing one fits)."""
        buf = state.get(key)
        if buf is None:
            buf = state[key] = np.full(x.shape, fill, x.dtype)
        return buf

    def _work(self, x, k):
        """``k`` scratch arrays shaped like ``x``, from one area per dtype, sized once
        for the largest parameter of that dtype."""
        n = x.size
        flat = self._scratch.get(x.dtype)
        if flat is None or flat.size < k * n:
            most = max([p._data.size for p in self.params if p._data.dtype == x.dtype] + [n])
            flat = self._scratch[x.dtype] = np.empty(k * most, x.dtype)
        return [flat[j * n:(j + 1) * n].reshape(x.shape) for j in range(k)]

    @staticmethod
    def _own(g, x, *state):
        """The gradient, copied if it shares memory with what the update writes (the
        numpy formula reads it after writing those)."""
        for a in (x,) + state:
            if a is not None and np.may_share_memory(g, a):
                return g.copy()
        return g

    def _update(self, i, x, g, state, c):
        raise NotImplementedError

    # The hyperparameters a replay took as constants: every one but ``lr``, which it reads
    # at each call (a subclass's, from a group).
    _constants = staticmethod(lambda h: ())

    def _replay_key(self):
        """What the plans of ``_replayer`` depend on: each group's hyperparameters other
        than ``lr`` and the identity of every state array. A compiled step keys on it."""
        return (tuple([self._constants(h) for h in self.param_groups]),
                tuple([id(s.get(k)) for s in self.state for k in self._buffers]))

    def _replayer(self, i, x, g, c):
        """Parameter ``i``'s update planned once, for a compiled step's replay: a function
        ``run(g)`` that updates ``x`` (``params[i]``'s writable array) from gradient ``g``
        with every decision ``_update`` takes at each step (the kernel, its flags and
        pointers) taken here, its group's ``lr`` read at each call; or None where the
        update must run as ``_update`` (no fused kernel, no state yet). Valid while
        ``_replay_key()`` and ``x`` are unchanged and every ``g`` is laid out as this one
        and shares no memory with ``x`` or the state; the caller keeps the version and
        lock rules (``memory.writing``)."""
        return

    def __repr__(self):
        groups = self.param_groups
        parts = [f"{len(self.params)} parameters"
                 + (f" in {len(groups)} groups" if len(groups) > 1 else "")]
        for k, _ in self._hyper:
            values = [h[k] for h in groups]
            same = all(v == values[0] for v in values)
            parts.append(f"{k}={values[0] if same else values!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and
    (L2) weight decay: ``torch.optim.SGD``'s update.

    For each parameter ``p`` with gradient ``g``::

        g = g + weight_decay * p                   (if weight_decay != 0)
        buf = g                                    (momentum != 0, first step)
        buf = momentum * buf + (1 - dampening) * g (momentum != 0, later steps)
        g = g + momentum * buf if nesterov else buf
        p = p - lr * g

    Parameters
    ----------
    params : iterable of Tensor, or of dict (parameter groups, see ``Optimizer``)
    lr : float, default 1e-3
        Learning rate, >= 0.
    momentum : float, default 0
    weight_decay : float, default 0
    dampening : float, default 0 (keyword only)
    nesterov : bool, default False (keyword only)
        Needs ``momentum > 0`` and ``dampening == 0``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w
    Tensor([ 0.46, -0.92], dtype=float64, requires_grad=True)
    """

    _hyper = (("lr", _at_least_zero), ("momentum", _at_least_zero), ("dampening", _finite),
              ("weight_decay", _at_least_zero), ("nesterov", _flag))

    # API.md's order: (params, lr, momentum, weight_decay); the rest by keyword only.
    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, *, dampening=0.0,
                 nesterov=False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check(self, h, where):
        if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
            raise ValueError(
                f"{where}: Nesterov momentum needs momentum > 0 and dampening == 0, got "
                f"momentum={h['momentum']!r}, dampening={h['dampening']!r}"
            )

    _buffers = ("momentum_buffer",)
    _constants = operator.itemgetter("momentum", "dampening", "weight_decay", "nesterov")

    @staticmethod
    def _flags(lib, h, buf, first):
        return ((lib.PYAD_SGD_DECAY if h["weight_decay"] != 0 else 0)
                | (lib.PYAD_SGD_MOMENTUM if buf is not None else 0)
                | (lib.PYAD_SGD_FIRST if first else 0)
                | (lib.PYAD_SGD_NESTEROV if h["nesterov"] else 0))

    def _replayer(self, i, x, g, c):
        h = self._groups[i]
        mom = float(h["momentum"])
        buf = self.state[i].get("momentum_buffer") if mom != 0 else None
        if (c is None or x.size == 0 or mom != 0 and buf is None
                or not _fusable(x, g, *(() if buf is None else (buf,)))):
            return None
        kernel, n, to_c = _kernel(c, "sgd", x.dtype), x.size, c._buf
        px, pbuf = to_c(x), c.ffi.NULL if buf is None else to_c(buf)
        wd, keep = float(h["weight_decay"]), 1 - float(h["dampening"])
        flags = self._flags(c.lib, h, buf, False)

        def run(g):
            kernel(n, px, pbuf, to_c(g), float(h["lr"]), wd, mom, keep, flags)

        return run

    def _update(self, i, x, g, state, c):
        h = self._groups[i]
        lr, wd, mom = float(h["lr"]), float(h["weight_decay"]), float(h["momentum"])
        keep = 1 - float(h["dampening"])
        buf, first = None, False
        if mom != 0:
            first = "momentum_buffer" not in state
            buf = self._buffer(state, "momentum_buffer", x)
        if x.size == 0:
            return
        if c is not None and _fusable(x, g, *(() if buf is None else (buf,))):
            kernel = _kernel(c, "sgd", x.dtype)
            kernel(x.size, c._buf(x), c.ffi.NULL if buf is None else c._buf(buf), c._buf(g),
                   lr, wd, mom, keep, self._flags(c.lib, h, buf, first))
            return
        # The numpy formula: the same operations, in the same order.
        g = self._own(g, x, buf)
        s1, s2 = self._work(x, 2)
        if wd != 0:
            np.multiply(x, wd, out=s1)
            g = np.add(g, s1, out=s1)  # g + wd * p
        d = g
        if buf is not None:
            if first:
                np.copyto(buf, g)
            else:
                np.multiply(buf, mom, out=buf)
                np.multiply(g, keep, out=s2)
                np.add(buf, s2, out=buf)  # buf * momentum + (1 - dampening) * g
            if h["nesterov"]:
                np.multiply(buf, mom, out=s2)
                d = np.add(g, s2, out=s2)  # g + momentum * buf
            else:
                d = buf
        np.multiply(d, lr, out=s2)
        np.subtract(x, s2, out=x)  # p - lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with optional L2 weight decay added to the gradient:
    ``torch.optim.Adam``'s update.

    For each parameter ``p`` with gradient ``g``, at its step ``t`` (1, 2, ...)::

        g = g + weight_decay * p                  (if weight_decay != 0)
        m = m.lerp(g, 1 - beta1)                  m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        step_size = lr / (1 - beta1**t)
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        p = p - step_size * m / denom

    ``m`` and ``v`` start at zero (``state[i]["exp_avg"]``, ``["exp_avg_sq"]``).

    Parameters
    ----------
    params : iterable of Tensor, or of dict (parameter groups, see ``Optimizer``)
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Each in [0, 1).
    eps : float, default 1e-8
    weight_decay : float, default 0

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()  # the first step moves each weight by lr against its gradient's sign
    >>> w
    Tensor([ 0.9, -1.9], dtype=float64, requires_grad=True)
    """

    _hyper = (("lr", _at_least_zero), ("betas", _betas), ("eps", _at_least_zero),
              ("weight_decay", _at_least_zero))
    _decoupled = False
    _fixed = (("decoupled_weight_decay", False),)
    _buffers = ("exp_avg", "exp_avg_sq")
    _steps = True
    _constants = operator.itemgetter("betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    def _scalars(self, h, t):
        """``(step_size, sqrt of the second bias correction, decay)`` at step ``t`` with
        group ``h``'s hyperparameters."""
        lr, wd = float(h["lr"]), float(h["weight_decay"])
        beta1, beta2 = map(float, h["betas"])
        decay = 0.0
        if wd != 0:
            decay = 1 - lr * wd if self._decoupled else wd
        return lr / (1 - beta1**t), (1 - beta2**t) ** 0.5, decay

    def _fused(self, c, h, x, m, v):
        """``(kernel, its first arguments, lerp weight argument, flags)`` of the fused
        update of ``x`` with state ``m``, ``v`` (what does not change between steps)."""
        lib, (w, w_t, small) = c.lib, _lerp_weight(1 - float(h["betas"][0]), x.dtype)
        flags = lib.PYAD_ADAM_LERP_SMALL if small else 0
        if h["weight_decay"] != 0:
            flags |= lib.PYAD_ADAM_DECOUPLED if self._decoupled else lib.PYAD_ADAM_L2
        head = (x.size, c._buf(x), c._buf(m), c._buf(v))
        return _kernel(c, "adam", x.dtype), head, w if small else -(1.0 - w_t), flags

    def _replayer(self, i, x, g, c):
        state, h = self.state[i], self._groups[i]
        m, v = state.get("exp_avg"), state.get("exp_avg_sq")
        if (c is None or x.size == 0 or m is None or v is None or "step" not in state
                or not _fusable(x, g, m, v)):
            return None
        kernel, (n, px, pm, pv), lw, flags = self._fused(c, h, x, m, v)
        beta2, eps = float(h["betas"][1]), float(h["eps"])
        to_c, states, scalars = c._buf, self.state, self._scalars

        def run(g):
            st = states[i]
            t = st["step"] = st["step"] + 1
            step_size, bc2_sqrt, decay = scalars(h, t)
            kernel(n, px, pm, pv, to_c(g), step_size, decay, lw, beta2, 1 - beta2, bc2_sqrt,
                   eps, flags)

        return run

    def _update(self, i, x, g, state, c):
        h = self._groups[i]
        m = self._buffer(state, "exp_avg", x)
        v = self._buffer(state, "exp_avg_sq", x)
        t = state["step"] = state.get("step", 0) + 1
        if x.size == 0:
            return
        beta2, eps = float(h["betas"][1]), float(h["eps"])
        step_size, bc2_sqrt, decay = self._scalars(h, t)
        if c is not None and _fusable(x, g, m, v):
            kernel, head, lw, flags = self._fused(c, h, x, m, v)
            kernel(*head, c._buf(g), step_size, decay, lw, beta2, 1 - beta2, bc2_sqrt, eps,
                   flags)
            return
        # The numpy formula: the same operations, in the same order.
        g = self._own(g, x, m, v)
        s1, s2 = self._work(x, 2)
        if h["weight_decay"] != 0:
            if self._decoupled:
                np.multiply(x, decay, out=x)  # p * (1 - lr * wd)
            else:
                np.multiply(x, decay, out=s1)
                g = np.add(g, s1, out=s1)  # g + wd * p
        _lerp(m, g, 1 - float(h["betas"][0]), x.dtype, s2)
        np.multiply(v, beta2, out=v)
        np.multiply(g, 1 - beta2, out=s2)
        np.multiply(s2, g, out=s2)
        np.add(v, s2, out=v)  # v * beta2 + ((1 - beta2) * g) * g
        np.sqrt(v, out=s2)
        np.divide(s2, bc2_sqrt, out=s2)
        np.add(s2, eps, out=s2)  # denom
        np.multiply(m, step_size, out=s1)
        np.divide(s1, s2, out=s1)
        np.subtract(x, s1, out=x)  # p - (step_size * m) / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019):
    ``torch.optim.AdamW``'s update.

    Each step first shrinks the parameter, ``p = p * (1 - lr * weight_decay)``, then
    takes Adam's step without weight decay in the gradient (see ``Adam``).

    Parameters
    ----------
    params : iterable of Tensor, or of dict (parameter groups, see ``Optimizer``)
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()  # w * (1 - 0.1 * 0.5), then Adam's first step of 0.1
    >>> w
    Tensor([ 0.85, -1.8 ], dtype=float64, requires_grad=True)
    """

    _decoupled = True
    _fixed = (("decoupled_weight_decay", True),)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton, 2012), optionally centered and with momentum:
    ``torch.optim.RMSprop``'s update.

    For each parameter ``p`` with gradient ``g``::

        g = g + weight_decay * p                  (if weight_decay != 0)
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v) + eps                       (not centered)
        m = m.lerp(g, 1 - alpha)                  (centered: the mean gradient)
        avg = sqrt(v - m * m) + eps               (centered)
        buf = momentum * buf + g / avg            (momentum > 0; buf starts at zero)
        p = p - lr * buf                          (momentum > 0)
        p = p - lr * g / avg                      (momentum == 0)

    The state holds ``"step"``, ``"square_avg"`` (v), ``"momentum_buffer"`` and
    ``"grad_avg"`` (m).

    Parameters
    ----------
    params : iterable of Tensor, or of dict (parameter groups, see ``Optimizer``)
    lr : float, default 1e-2
    alpha : float, default 0.99
    eps : float, default 1e-8
    weight_decay : float, default 0
    momentum : float, default 0
    centered : bool, default False

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
    >>> (w * w).sum().backward()
    >>> opt.step()  # v = 0.25 g * g: each weight moves by lr / sqrt(0.25) = 0.02
    >>> w
    Tensor([ 0.98, -1.98], dtype=float64, requires_grad=True)
    """

    _hyper = (("lr", _at_least_zero), ("momentum", _at_least_zero), ("alpha", _at_least_zero),
              ("eps", _at_least_zero), ("centered", _flag), ("weight_decay", _at_least_zero))
    _buffers = ("square_avg", "momentum_buffer", "grad_avg")
    _steps = True

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                                  "centered": centered, "weight_decay": weight_decay})

    def _update(self, i, x, g, state, c):
        h = self._groups[i]
        lr, alpha, eps = float(h["lr"]), float(h["alpha"]), float(h["eps"])
        wd, mom = float(h["weight_decay"]), float(h["momentum"])
        v = self._buffer(state, "square_avg", x)
        buf = self._buffer(state, "momentum_buffer", x) if mom > 0 else None
        m = self._buffer(state, "grad_avg", x) if h["centered"] else None
        state["step"] = state.get("step", 0) + 1
        if x.size == 0:
            return
        g = self._own(g, x, v, buf, m)
        s1, s2 = self._work(x, 2)
        if wd != 0:
            np.multiply(x, wd, out=s1)
            g = np.add(g, s1, out=s1)  # g + wd * p
        np.multiply(v, alpha, out=v)
        np.multiply(g, 1 - alpha, out=s2)
        np.multiply(s2, g, out=s2)
        np.add(v, s2, out=v)  # v * alpha + ((1 - alpha) * g) * g
        if m is not None:
            _lerp(m, g, 1 - alpha, x.dtype, s2)
            np.multiply(m, m, out=s2)
            np.subtract(v, s2, out=s2)  # v + (-1 * m) * m
            np.sqrt(s2, out=s2)
        else:
            np.sqrt(v, out=s2)
        np.add(s2, eps, out=s2)  # avg
        if buf is not None:
            np.multiply(buf, mom, out=buf)
            np.divide(g, s2, out=s2)
            np.add(buf, s2, out=buf)  # buf * momentum + g / avg
            np.multiply(buf, lr, out=s2)
            np.subtract(x, s2, out=x)  # p + (-lr) * buf
        else:
            np.multiply(g, lr, out=s1)
            np.divide(s1, s2, out=s1)
            np.subtract(x, s1, out=x)  # p + (-lr * g) / avg


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011): ``torch.optim.Adagrad``'s update.

    For each parameter ``p`` with gradient ``g``, at its step ``t`` (1, 2, ...)::

        g = g + weight_decay * p                  (if weight_decay != 0)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                             (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    The state holds ``"step"`` and ``"sum"`` (s).

    Parameters
    ----------
    params : iterable of Tensor, or of dict (parameter groups, see ``Optimizer``)
    lr : float, default 1e-2
    lr_decay : float, default 0
    weight_decay : float, default 0
    initial_accumulator_value : float, default 0
    eps : float, default 1e-10

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adagrad([w], lr=0.5, eps=0.0)
    >>> (w * w).sum().backward()
    >>> opt.step()  # s = g * g: each weight moves by lr against its gradient's sign
    >>> w
    Tensor([ 0.5, -1.5], dtype=float64, requires_grad=True)
    """

    _hyper = (("lr", _at_least_zero), ("lr_decay", _at_least_zero), ("eps", _at_least_zero),
              ("weight_decay", _at_least_zero), ("initial_accumulator_value", _at_least_zero))
    _buffers = ("sum",)
    _steps = True

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value})

    def _update(self, i, x, g, state, c):
        h = self._groups[i]
        wd, eps = float(h["weight_decay"]), float(h["eps"])
        s = self._buffer(state, "sum", x, float(h["initial_accumulator_value"]))
        t = state["step"] = state.get("step", 0) + 1
        if x.size == 0:
            return
        clr = float(h["lr"]) / (1 + (t - 1) * float(h["lr_decay"]))
        g = self._own(g, x, s)
        s1, s2 = self._work(x, 2)
        if wd != 0:
            np.multiply(x, wd, out=s1)
            g = np.add(g, s1, out=s1)  # g + wd * p
        np.multiply(g, g, out=s2)
        np.add(s, s2, out=s)  # s + (1 * g) * g
        np.sqrt(s, out=s2)
        np.add(s2, eps, out=s2)  # std
        np.multiply(g, clr, out=s1)
        np.divide(s1, s2, out=s1)
        np.subtract(x, s1, out=x)  # p + (-clr * g) / std


from . import lr_scheduler  # (last: it needs Optimizer)

"""Optimizers: SGD, Adam and AdamW, with PyTorch's update formulas.

Each ``step()`` updates every parameter that has a gradient in place (``p.data`` is
written, never replaced), outside the graph: nothing is recorded. The formulas and
their order of operations are those of ``torch.optim``'s single-tensor path, so a
run matches PyTorch's step by step to rounding (PyTorch contracts some products and
sums into fused multiply-adds; here every operation rounds on its own).

Two paths compute the same operations in the same order, in the parameter's dtype:

- the numpy formula (the reference, used on the numpy backend and for anything the
  C kernels do not take), written with ``out=`` into the optimizer's state and a
  scratch area reused across steps, so no step after the first allocates an array;
- on the C backend, one fused pass per parameter (``pyad_sgd_<dt>``,
  ``pyad_adam_<dt>`` in csrc/optim.c), when the parameter, its gradient and its
  state are C-contiguous, aligned arrays of one float dtype and shape, sharing no
  memory, and the parameter is writable. Both paths give the same bits. There is no
  size threshold: the fused pass was measured faster than the numpy formula at every
  size, one element included (SGD with momentum 4.7 against 7.0 us a step, Adam 6.6
  against 15 us; at 10^6 float64 elements Adam takes 0.6 ms against 5.6 ms).
"""

import math
import operator

import numpy as np

from . import backends, memory
from .engine import enable_grad
from .tensor import Tensor

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]

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


def _param_list(params, where):
    if isinstance(params, Tensor):
        raise TypeError(
            f"{where}: params must be an iterable of Tensors, got a single Tensor; "
            "pass [t] (or a Module's parameters())"
        )
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"{where}: params must be an iterable of Tensors, got {type(params).__name__}"
        ) from None
    if not params:
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


class Optimizer:
    """Base class: holds the parameters and their state, and runs the update of each.

    Parameters
    ----------
    params : iterable of Tensor
        The leaf tensors to optimize (a list, or a Module's ``parameters()``). They
        are kept in ``self.params``, a list.

    Attributes
    ----------
    params : list of Tensor
    state : list of dict
        ``state[i]`` holds the state of ``params[i]`` (numpy arrays and a step count),
        created at its first update.

    Subclasses implement ``_update(i, x, g, state, c)``: update array ``x`` in place
    from gradient array ``g``, with ``c`` the C backend module or None.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import optim
    >>> w = ad.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = optim.SGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w
    Tensor([0., 0.], dtype=float64, requires_grad=True)
    >>> opt.zero_grad()
    >>> w.grad is None
    True
    """

    _hyper = ()  # the hyperparameters repr() shows

    def __init__(self, params):
        self.params = _param_list(params, type(self).__name__)
        self.state = [{} for _ in self.params]
        # dtype -> flat scratch array of the numpy formula, reused by every step
        self._scratch = {}

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

    # ----- helpers for subclasses ------------------------------------------
    @staticmethod
    def _buffer(state, key, x):
        """``state[key]``: a C-contiguous array of zeros like ``x``, made at first use
        (``step`` checked an existing one fits)."""
        buf = state.get(key)
        if buf is None:
            buf = state[key] = np.zeros(x.shape, x.dtype)
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

    # The state arrays a replay (``_replayer``) was planned on, and the hyperparameters it
    # took as constants: every one but ``lr``, which it reads at each call.
    _buffers = ()
    _constants = staticmethod(lambda self: ())

    def _replay_key(self):
        """What the plans of ``_replayer`` depend on: the hyperparameters other than
        ``lr`` and the identity of every state array. A compiled step keys on it."""
        return self._constants(self), tuple([id(s.get(k)) for s in self.state
                                             for k in self._buffers])

    def _replayer(self, i, x, g, c):
        """Parameter ``i``'s update planned once, for a compiled step's replay: a function
        ``run(g)`` that updates ``x`` (``params[i]``'s writable array) from gradient ``g``
        with every decision ``_update`` takes at each step (the kernel, its flags and
        pointers) taken here, ``lr`` read at each call; or None where the update must run
        as ``_update`` (no fused kernel, no state yet). Valid while ``_replay_key()`` and
        ``x`` are unchanged and every ``g`` is laid out as this one and shares no memory
        with ``x`` or the state; the caller keeps the version and lock rules
        (``memory.writing``)."""
        return

    def __repr__(self):
        hyper = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._hyper)
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


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
    params : iterable of Tensor
    lr : float
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

    _hyper = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    # API.md's order: (params, lr, momentum, weight_decay); the rest by keyword only.
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, *, dampening=0.0,
                 nesterov=False):
        self.lr = _at_least_zero(lr, "SGD", "lr")
        self.momentum = _at_least_zero(momentum, "SGD", "momentum")
        self.dampening = _number(dampening, "SGD", "dampening")
        if not math.isfinite(self.dampening):
            raise ValueError(f"SGD: invalid dampening {dampening!r}, expected a finite number")
        self.weight_decay = _at_least_zero(weight_decay, "SGD", "weight_decay")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                f"SGD: Nesterov momentum needs momentum > 0 and dampening == 0, got "
                f"momentum={momentum!r}, dampening={dampening!r}"
            )
        super().__init__(params)

    _buffers = ("momentum_buffer",)
    _constants = operator.attrgetter("momentum", "dampening", "weight_decay", "nesterov")

    def _flags(self, lib, buf, first):
        return ((lib.PYAD_SGD_DECAY if self.weight_decay != 0 else 0)
                | (lib.PYAD_SGD_MOMENTUM if buf is not None else 0)
                | (lib.PYAD_SGD_FIRST if first else 0)
                | (lib.PYAD_SGD_NESTEROV if self.nesterov else 0))

    def _replayer(self, i, x, g, c):
        buf = self.state[i].get("momentum_buffer") if self.momentum != 0 else None
        if (c is None or x.size == 0 or self.momentum != 0 and buf is None
                or not _fusable(x, g, *(() if buf is None else (buf,)))):
            return None
        kernel, n, to_c = _kernel(c, "sgd", x.dtype), x.size, c._buf
        px, pbuf = to_c(x), c.ffi.NULL if buf is None else to_c(buf)
        wd, mom, keep = self.weight_decay, self.momentum, 1 - self.dampening
        flags = self._flags(c.lib, buf, False)

        def run(g):
            kernel(n, px, pbuf, to_c(g), self.lr, wd, mom, keep, flags)

        return run

    def _update(self, i, x, g, state, c):
        lr, wd, mom = self.lr, self.weight_decay, self.momentum
        keep = 1 - self.dampening
        buf, first = None, False
        if mom != 0:
            first = "momentum_buffer" not in state
            buf = self._buffer(state, "momentum_buffer", x)
        if x.size == 0:
            return
        if c is not None and _fusable(x, g, *(() if buf is None else (buf,))):
            kernel = _kernel(c, "sgd", x.dtype)
            kernel(x.size, c._buf(x), c.ffi.NULL if buf is None else c._buf(buf), c._buf(g),
                   lr, wd, mom, keep, self._flags(c.lib, buf, first))
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
            if self.nesterov:
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
    params : iterable of Tensor
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

    _hyper = ("lr", "betas", "eps", "weight_decay")
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        self.lr = _at_least_zero(lr, name, "lr")
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_number(b1, name, "beta1"), _number(b2, name, "beta2"))
        for k, b in enumerate(self.betas):
            if not 0 <= b < 1:
                raise ValueError(
                    f"{name}: invalid beta parameter at index {k}: {b!r}, "
                    "expected 0 <= beta < 1"
                )
        self.eps = _at_least_zero(eps, name, "eps")
        self.weight_decay = _at_least_zero(weight_decay, name, "weight_decay")
        super().__init__(params)

    _buffers = ("exp_avg", "exp_avg_sq")
    _constants = operator.attrgetter("betas", "eps", "weight_decay")

    def _scalars(self, t):
        """``(step_size, sqrt of the second bias correction, decay)`` at step ``t``."""
        lr, wd = self.lr, self.weight_decay
        beta1, beta2 = self.betas
        decay = 0.0
        if wd != 0:
            decay = 1 - lr * wd if self._decoupled else wd
        return lr / (1 - beta1**t), (1 - beta2**t) ** 0.5, decay

    def _lerp(self, dtype):
        """``(w, w in dtype, small)``: torch's lerp(m, g, w) is m + w * (g - m) when
        |w| < 0.5, else g - (g - m) * (1 - w), with w and 1 - w in the parameter's dtype
        (1 - w is exact there: w >= 0.5)."""
        w = 1 - self.betas[0]
        w_t = float(dtype.type(w))
        return w, w_t, abs(w_t) < 0.5

    def _fused(self, c, x, m, v):
        """``(kernel, its first arguments, lerp weight argument, flags)`` of the fused
        update of ``x`` with state ``m``, ``v`` (what does not change between steps)."""
        lib, (w, w_t, small) = c.lib, self._lerp(x.dtype)
        flags = lib.PYAD_ADAM_LERP_SMALL if small else 0
        if self.weight_decay != 0:
            flags |= lib.PYAD_ADAM_DECOUPLED if self._decoupled else lib.PYAD_ADAM_L2
        head = (x.size, c._buf(x), c._buf(m), c._buf(v))
        return _kernel(c, "adam", x.dtype), head, w if small else -(1.0 - w_t), flags

    def _replayer(self, i, x, g, c):
        state = self.state[i]
        m, v = state.get("exp_avg"), state.get("exp_avg_sq")
        if (c is None or x.size == 0 or m is None or v is None or "step" not in state
                or not _fusable(x, g, m, v)):
            return None
        kernel, (n, px, pm, pv), lw, flags = self._fused(c, x, m, v)
        beta2, eps = self.betas[1], self.eps
        to_c, states, scalars = c._buf, self.state, self._scalars

        def run(g):
            st = states[i]
            t = st["step"] = st["step"] + 1
            step_size, bc2_sqrt, decay = scalars(t)
            kernel(n, px, pm, pv, to_c(g), step_size, decay, lw, beta2, 1 - beta2, bc2_sqrt,
                   eps, flags)

        return run

    def _update(self, i, x, g, state, c):
        m = self._buffer(state, "exp_avg", x)
        v = self._buffer(state, "exp_avg_sq", x)
        t = state["step"] = state.get("step", 0) + 1
        if x.size == 0:
            return
        beta2, eps = self.betas[1], self.eps
        step_size, bc2_sqrt, decay = self._scalars(t)
        if c is not None and _fusable(x, g, m, v):
            kernel, head, lw, flags = self._fused(c, x, m, v)
            kernel(*head, c._buf(g), step_size, decay, lw, beta2, 1 - beta2, bc2_sqrt, eps,
                   flags)
            return
        # The numpy formula: the same operations, in the same order.
        w, w_t, small = self._lerp(x.dtype)
        g = self._own(g, x, m, v)
        s1, s2 = self._work(x, 2)
        if self.weight_decay != 0:
            if self._decoupled:
                np.multiply(x, decay, out=x)  # p * (1 - lr * wd)
            else:
                np.multiply(x, decay, out=s1)
                g = np.add(g, s1, out=s1)  # g + wd * p
        np.subtract(g, m, out=s2)
        if small:
            np.multiply(s2, w, out=s2)
            np.add(m, s2, out=m)  # m + w * (g - m)
        else:
            np.multiply(s2, 1.0 - w_t, out=s2)
            np.subtract(g, s2, out=m)  # g - (g - m) * (1 - w)
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
    params : iterable of Tensor
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

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)

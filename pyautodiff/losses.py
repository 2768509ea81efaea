"""Loss functions and their ``Module`` forms, as ``torch.nn.functional``'s and ``torch.nn``'s.

Each function takes PyTorch's arguments, with their defaults and meaning
(``reduction="mean"|"sum"|"none"``, class ``weight``, ``ignore_index``...), and
gives PyTorch's numbers. They are built from pyautodiff ops, so their gradients
(and second derivatives) come from the ops' VJPs on every backend, and a
compiled step (``ad.compile``) records them as any other ops. Integer class
labels are inputs, never differentiated; the work done on them (checking them,
the mask of ignored samples) is in pure functions of arrays that ``compile``
records as steps of their own, so a replay reads new labels anew and checks them.

``pyautodiff.nn`` re-exports every name here: ``ad.nn.mse_loss``, ``ad.nn.MSELoss``...
"""

import numbers

import numpy as np

from .nn import Module
from .ops.composite import log_softmax
from .ops.elementwise import abs as absolute
from .ops.elementwise import exp, log, log1p, maximum, minimum, where
from .tensor import Tensor, as_array

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
]

REDUCTIONS = ("mean", "sum", "none")


# ----- arguments -----------------------------------------------------------------------------

def _describe(value):
    try:
        return f"{type(value).__name__} of dtype {np.asarray(value).dtype}"
    except (TypeError, ValueError):
        return type(value).__name__


def _as_tensor(value, fn, arg, dtype=None):
    """``value`` as a Tensor (Tensors pass through); a TypeError naming ``fn`` and ``arg``."""
    if isinstance(value, Tensor):
        return value
    try:
        return Tensor._make(as_array(value, fn, dtype))
    except (TypeError, ValueError):
        raise TypeError(
            f"{fn}: {arg} must be real numbers (a Tensor, numpy array, list or number), "
            f"got {_describe(value)}"
        ) from None


def _reduction(fn, reduction):
    """``reduction`` after checking it is one of ``REDUCTIONS`` (a ValueError naming ``fn``)."""
    if not (isinstance(reduction, str) and reduction in REDUCTIONS):
        raise ValueError(
            f"{fn}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    return reduction


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _same_shape(fn, a, a_name, b, b_name, reduction):
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {a_name} of shape {a.shape} and {b_name} of shape {b.shape} differ, "
            "expected the same shape"
        )
    if a.size == 0 and reduction == "mean":
        raise ValueError(f"{fn}: {a_name} is empty (shape {a.shape}), the mean of no elements")


def _broadcasts(fn, w, w_name, x, x_name):
    """Refuse a weight that does not broadcast to ``x``'s shape (nor may it widen it)."""
    try:
        ok = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{fn}: {w_name} of shape {w.shape} does not broadcast to the shape {x.shape} "
            f"of {x_name}"
        )


def _promoted(a, b):
    """``a`` and ``b`` both in float64 when their float dtypes differ, as PyTorch promotes:
    else the terms of the float32 one alone would be float32-accurate in a float64 loss."""
    if a.dtype == b.dtype:
        return a, b
    return (a.astype(np.float64) if a.dtype != np.float64 else a,
            b.astype(np.float64) if b.dtype != np.float64 else b)


def _number(fn, name, value, low, high=np.inf, low_open=False):
    """``value`` as a float in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{fn}: {name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not (v > low if low_open else v >= low) or not v <= high:
        bounds = f"{'(' if low_open else '['}{low}, {high}{']' if high < np.inf else ')'}"
        raise ValueError(f"{fn}: {name} must lie in {bounds}, got {value}")
    return v


# ----- losses between two tensors of one shape -----------------------------------------------

def _pointwise(fn, pred, target, reduction, term):
    """``term(pred - target)`` reduced; ``target`` not a Tensor takes ``pred``'s dtype."""
    _reduction(fn, reduction)
    pred = _as_tensor(pred, fn, "pred")
    target = _as_tensor(target, fn, "target", pred.dtype)
    _same_shape(fn, pred, "pred", target, "target", reduction)
    return _reduce(term(pred - target), reduction)


def mse_loss(pred, target, *, reduction="mean"):
    """The mean squared error ``mean((pred - target) ** 2)`` (``reduction`` as below).

    ``pred`` and ``target`` must have the same shape. A ``target`` that is not a
    Tensor takes ``pred``'s dtype; a Tensor ``target`` that requires grad gets
    a gradient too. A Tensor ``target`` of the other float dtype makes the loss
    float64, as PyTorch's ``mse_loss`` does; ``pred.grad`` keeps ``pred``'s dtype.
    ``reduction``: ``"mean"`` (the default), ``"sum"``, or ``"none"`` (the
    squared errors, of ``pred``'s shape), as in PyTorch; each loss here takes it.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> pred = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> loss = nn.mse_loss(pred, [1.0, 2.0, 5.0])
    >>> loss
    Tensor(1.33333333, dtype=float64, grad_fn=mean)
    >>> loss.backward()
    >>> pred.grad
    Tensor([ 0.        ,  0.        , -1.33333333], dtype=float64)
    >>> nn.mse_loss(pred, [1.0, 2.0, 5.0], reduction="none")
    Tensor([0., 0., 4.], dtype=float64, grad_fn=square)
    """
    return _pointwise("mse_loss", pred, target, reduction, lambda d: d * d)


def l1_loss(pred, target, *, reduction="mean"):
    """The mean absolute error ``mean(|pred - target|)``; arguments as ``mse_loss``'s.

    Where ``pred == target`` the gradient is 0 (PyTorch's subgradient).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> pred = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> nn.l1_loss(pred, [1.0, 4.0, 2.0], reduction="sum").backward()
    >>> pred.grad
    Tensor([ 0., -1.,  1.], dtype=float64)
    """
    return _pointwise("l1_loss", pred, target, reduction, absolute)


def _huber(d, delta):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``, without a mask:
    with ``q = min(|d|, delta)`` both are ``q (|d| - 0.5 q)``, rounded as PyTorch's. At
    ``|d| == delta`` ``minimum`` splits the tie and the gradient is ``delta``, as both sides'."""
    a = absolute(d)
    q = minimum(a, delta)
    return q * (a - 0.5 * q)


def huber_loss(pred, target, reduction="mean", delta=1.0):
    """The Huber loss: ``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``,
    for ``d = pred - target``; quadratic near 0, linear (slope ``delta``) beyond.

    Arguments as ``mse_loss``'s; ``delta`` must be positive (as in PyTorch).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> pred = ad.tensor([0.5, 3.0], requires_grad=True)
    >>> nn.huber_loss(pred, [0.0, 0.0], reduction="none")  # 0.5 * 0.25, 1 * (3 - 0.5)
    Tensor([0.125, 2.5  ], dtype=float64, grad_fn=mul)
    >>> nn.huber_loss(pred, [0.0, 0.0], reduction="sum").backward()
    >>> pred.grad
    Tensor([0.5, 1. ], dtype=float64)
    """
    delta = _number("huber_loss", "delta", delta, 0.0, low_open=True)
    return _pointwise("huber_loss", pred, target, reduction, lambda d: _huber(d, delta))


def smooth_l1_loss(pred, target, *, reduction="mean", beta=1.0):
    """The smooth L1 loss: ``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``
    (``huber_loss`` divided by ``beta``; ``beta=0`` gives ``l1_loss``), for
    ``d = pred - target``. Arguments as ``mse_loss``'s; ``beta`` must not be negative.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.smooth_l1_loss(ad.tensor([0.5, 3.0]), [0.0, 0.0], reduction="none", beta=2.0)
    Tensor([0.0625, 2.    ], dtype=float64)
    """
    beta = _number("smooth_l1_loss", "beta", beta, 0.0)
    term = absolute if beta == 0.0 else lambda d: _huber(d, beta) / beta
    return _pointwise("smooth_l1_loss", pred, target, reduction, term)


# ----- class labels --------------------------------------------------------------------------

def _labels(labels, expected_shape, n_classes, fn, arg, x_name, ignore_index):
    """``labels`` as an intp array of ``expected_shape`` with values in [0, n_classes), where
    those equal to ``ignore_index`` (any value) become 0. A pure function, which ``compile``
    records as one step: each replay checks its labels."""
    if isinstance(labels, Tensor):
        # Tensors hold floats only, so a Tensor of whole numbers counts as integer labels.
        arr = labels._data
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise TypeError(
                f"{fn}: {arg} must be integer class indices, got a Tensor of "
                f"dtype {arr.dtype} holding non-integer values"
            )
    elif isinstance(labels, (list, tuple)) and len(labels) == 0:
        arr = np.zeros(0, dtype=np.intp)
    else:
        try:
            arr = np.asarray(labels)
        except (TypeError, ValueError):
            raise TypeError(
                f"{fn}: {arg} must be integer class indices, got {_describe(labels)}"
            ) from None
        if arr.dtype.kind not in "iu":
            raise TypeError(
                f"{fn}: {arg} must be integer class indices (an int array or list), "
                f"got dtype {arr.dtype}"
            )
    if arr.shape != expected_shape:
        raise ValueError(
            f"{fn}: {arg} of shape {arr.shape} {'do' if arg.endswith('s') else 'does'} not "
            f"fit the {x_name}, "
            f"expected {arg} of shape {expected_shape}"
        )
    ignored = arr == ignore_index
    bad = ((arr < 0) | (arr >= n_classes)) & ~ignored
    if np.any(bad):
        value = arr[bad].flat[0]
        raise ValueError(
            f"{fn}: label {int(value)} is out of range for {n_classes} classes, "
            f"expected 0 <= label < {n_classes} (or label == ignore_index, {ignore_index})"
        )
    out = arr.astype(np.intp)
    out[ignored] = 0  # (any class will do: the mask of _kept drops these samples)
    return out


def _kept(labels, ignore_index):
    """The samples ``labels`` (checked by ``_labels``) does not ignore, a bool array: a pure
    function, as ``_labels``."""
    return np.asarray(labels._data if isinstance(labels, Tensor) else labels) != ignore_index


def _count(kept, dtype):
    """How many samples ``kept`` keeps, a 0-d array of ``dtype``: a pure function, as
    ``_labels``."""
    return np.asarray(np.count_nonzero(kept), dtype=dtype)


def _grid(shape, k):
    """Axis ``k`` of the open grid of ``shape`` (``np.indices(shape, sparse=True)[k]``): a
    pure function, which ``compile`` records as one step, as ``_labels``."""
    return np.indices(shape, sparse=True)[k]


def _class_axis(fn, x, x_name, reduction):
    """The class axis of ``x`` (``(C,)`` or ``(N, C, d1, ...)``), its ``C``, and the shape
    the labels must have."""
    if x.ndim == 0:
        raise ValueError(
            f"{fn}: {x_name} of shape () have no class axis, expected shape (C,) or (N, C, ...)"
        )
    axis = 1 if x.ndim > 1 else 0
    n_classes = x.shape[axis]
    if n_classes == 0:
        raise ValueError(f"{fn}: {x_name} of shape {x.shape} have no classes")
    expected = x.shape[:axis] + x.shape[axis + 1:]
    if reduction == "mean" and 0 in expected:
        raise ValueError(
            f"{fn}: {x_name} of shape {x.shape} hold no samples, the mean of no elements"
        )
    return axis, n_classes, expected


def _class_weight(fn, weight, n_classes, dtype):
    if weight is None:
        return None
    w = _as_tensor(weight, fn, "weight", dtype)
    if w.shape != (n_classes,):
        raise ValueError(
            f"{fn}: weight of shape {w.shape} does not fit {n_classes} classes, "
            f"expected shape ({n_classes},)"
        )
    return w


def _ignore_index(fn, ignore_index):
    if not isinstance(ignore_index, numbers.Integral) or isinstance(
            ignore_index, (bool, np.bool_)):
        raise TypeError(
            f"{fn}: ignore_index must be an int, got {type(ignore_index).__name__}"
        )
    return int(ignore_index)


def _nll(fn, x, x_name, target, target_name, weight, ignore_index, reduction,
         logits=False, label_smoothing=0.0):
    """``nll_loss`` of log-probabilities ``x`` (of ``log_softmax(x)`` with ``logits``), with
    ``cross_entropy``'s label smoothing: PyTorch's formulas, the ignored samples counting
    nowhere, not even in the mean's denominator."""
    _reduction(fn, reduction)
    ignore_index = _ignore_index(fn, ignore_index)
    axis, n_classes, expected = _class_axis(fn, x, x_name, reduction)
    w = _class_weight(fn, weight, n_classes, x.dtype)
    idx = _labels(target, expected, n_classes, fn, target_name, x_name, ignore_index)
    if logits:
        # (log_softmax shifts by the max first: logits of any magnitude stay accurate)
        x = log_softmax(x, axis=axis)
    kept = _kept(target, ignore_index)
    if axis == 0:
        picked = x[idx]
    else:
        # One index array per axis: the sample's place on every axis but the
        # class axis, where the label goes (open grids broadcast together).
        picked = x[(_grid(expected, 0), idx) + tuple(
            _grid(expected, k) for k in range(1, len(expected)))]
    wn = None if w is None else w[idx]
    # where, not a product with the mask: an ignored sample's pick may be -inf (log 0).
    parts = [where(kept, -picked if wn is None else -(wn * picked), 0.0)]
    if label_smoothing:
        # PyTorch's: each class's weighted log-probability, summed, masked as the picks.
        wx = x if w is None else x * w.reshape((n_classes,) + (1,) * (x.ndim - axis - 1))
        parts.append(where(kept, -wx.sum(axis=axis), 0.0))
    if reduction != "none":
        parts = [part.sum() for part in parts]
    if reduction == "mean":
        # The sum of the kept samples' weights (their count without weights).
        total = _count(kept, parts[0].dtype) if wn is None else where(kept, wn, 0.0).sum()
        parts = [part / total for part in parts]
    if not label_smoothing:
        return parts[0]
    return (1.0 - label_smoothing) * parts[0] + (label_smoothing / n_classes) * parts[1]


def nll_loss(log_probs, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """The negative log-likelihood ``-w[t] * log_probs[t]`` of integer class ``target``.

    ``log_probs`` has shape ``(N, C)`` (or ``(C,)`` for one sample, or
    ``(N, C, d1, ...)`` with classes on axis 1, as in PyTorch) and holds
    log-probabilities (``log_softmax``'s); ``target`` has the shape of
    ``log_probs`` without the class axis and holds integers in ``[0, C)`` or
    ``ignore_index``. ``weight``, of shape ``(C,)``, scales each class; it may be a
    Tensor that requires grad. Samples whose target is ``ignore_index`` give 0 and
    count nowhere: the ``"mean"`` is the weighted sum over the other samples divided
    by the sum of their weights (their number without ``weight``), as in PyTorch;
    nan when every sample is ignored.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> logp = ad.log_softmax(ad.tensor([[0.0, 0.0], [0.0, 0.0], [5.0, 1.0]]), dim=1)
    >>> round(nn.nll_loss(logp, [1, -100, 0]).item(), 6)  # (log 2 + log(1 + e**-4)) / 2
    0.355649
    >>> nn.nll_loss(logp, [1, -100, 0], weight=[3.0, 1.0], reduction="none")
    Tensor([0.69314718, 0.        , 0.05444978], dtype=float64)
    """
    x = _as_tensor(log_probs, "nll_loss", "log_probs")
    return _nll("nll_loss", x, "log_probs", target, "target", weight, ignore_index, reduction)


def cross_entropy(logits, labels, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """The negative log-likelihood of integer class ``labels`` under ``softmax(logits)``.

    ``logits`` has shape ``(N, C)`` (or ``(C,)`` for one sample, or
    ``(N, C, d1, ...)`` with classes on axis 1, as in PyTorch); ``labels`` has
    the shape of ``logits`` without the class axis and holds integers in
    ``[0, C)`` (a numpy int array, a list, or a Tensor of whole numbers). The
    log-probabilities come from ``log_softmax``, so logits of any magnitude
    give finite values and gradients. ``weight``, ``ignore_index`` and
    ``reduction`` are ``nll_loss``'s. ``label_smoothing`` in ``[0, 1]`` mixes the
    one-hot target with the uniform distribution, as PyTorch's: the loss is
    ``(1 - s) * nll + (s / C) * sum_c -w[c] * log_softmax(logits)[c]``, each part
    reduced as ``nll_loss`` (the mean divided by the kept samples' weights).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> logits = ad.tensor([[0.0, 0.0], [1e4, -1e4]], requires_grad=True)
    >>> loss = nn.cross_entropy(logits, [1, 0])
    >>> round(loss.item(), 6)  # (log 2 + 0) / 2
    0.346574
    >>> loss.backward()
    >>> logits.grad
    Tensor([[ 0.25, -0.25],
            [ 0.  ,  0.  ]], dtype=float64)
    >>> nn.cross_entropy(logits, [1, 0], reduction="none", label_smoothing=0.5)
    Tensor([6.93147181e-01, 5.00000000e+03], dtype=float64, grad_fn=add)
    """
    _number("cross_entropy", "label_smoothing", label_smoothing, 0.0, 1.0)
    z = _as_tensor(logits, "cross_entropy", "logits")
    return _nll("cross_entropy", z, "logits", labels, "labels", weight, ignore_index,
                reduction, True, float(label_smoothing))


# ----- binary targets ------------------------------------------------------------------------

def _binary_pair(fn, x, x_name, target, reduction):
    _reduction(fn, reduction)
    x = _as_tensor(x, fn, x_name)
    t = _as_tensor(target, fn, "targets" if x_name == "logits" else "target", x.dtype)
    _same_shape(fn, x, x_name, t, "targets" if x_name == "logits" else "target", reduction)
    return _promoted(x, t)


def _weighted(fn, loss, weight, x_name):
    if weight is None:
        return loss
    w = _as_tensor(weight, fn, "weight", loss.dtype)
    _broadcasts(fn, w, "weight", loss, x_name)
    return loss * w


def _probabilities(p, t):
    """Where ``log(p)`` and ``log1p(-p)`` are finite, ``(p > 0, p < 1)`` stacked, after
    checking that ``p`` and ``t`` lie in [0, 1]: a pure function of arrays, which
    ``compile`` records as one step (each replay checks its values)."""
    for name, a in (("probs", p), ("target", t)):
        inside = (a >= 0) & (a <= 1)
        if not np.all(inside):
            raise ValueError(
                f"binary_cross_entropy: {name} must lie in [0, 1], got {a[~inside].flat[0]}"
            )
    return np.stack((p > 0, p < 1))


def binary_cross_entropy(probs, target, weight=None, *, reduction="mean"):
    """The binary cross-entropy ``-w (t log(p) + (1 - t) log(1 - p))`` of probabilities.

    ``probs`` and ``target`` have the same shape and lie in ``[0, 1]`` (else a
    ValueError); soft targets are allowed. Each log is clamped at -100, as PyTorch
    does, so a probability of exactly 0 or 1 gives a finite loss. There the gradient
    is that of the clamped loss (a clamped log contributes 0), where PyTorch's
    formula ``w (p - t) / max(p (1 - p), 1e-12)`` gives 0 or ``+-1e12``; elsewhere
    the two agree. ``weight`` broadcasts to ``probs``' shape and may require
    grad. Prefer ``binary_cross_entropy_with_logits`` on logits: it is accurate
    where ``sigmoid`` rounds to 0 or 1.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> p = ad.tensor([0.5, 1.0, 0.0], requires_grad=True)
    >>> nn.binary_cross_entropy(p, [1.0, 1.0, 1.0], reduction="none")
    Tensor([  0.69314718,  -0.        , 100.        ], dtype=float64, grad_fn=sub)
    >>> nn.binary_cross_entropy(p, [1.0, 1.0, 1.0], reduction="sum").backward()
    >>> p.grad
    Tensor([-2., -1.,  0.], dtype=float64)
    """
    fn = "binary_cross_entropy"
    p, t = _binary_pair(fn, probs, "probs", target, reduction)
    masks = _probabilities(p._data, t._data)
    positive, below_one = masks[0, ...], masks[1, ...]
    # The inner where feeds log 1 (not 0) where the outer one picks -100: log's VJP
    # there is 0 / 1, not 0 / 0 = nan. (Below 1, log1p(-p) >= log(eps) > -100.)
    log_p = where(positive, maximum(log(where(positive, p, 1.0)), -100.0), -100.0)
    log_q = where(below_one, log1p(-where(below_one, p, 0.0)), -100.0)
    loss = (t - 1.0) * log_q - t * log_p
    return _reduce(_weighted(fn, loss, weight, "probs"), reduction)


def binary_cross_entropy_with_logits(logits, targets, weight=None, *, reduction="mean",
                                     pos_weight=None):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``targets`` in [0, 1].

    Computed as ``mean(max(z, 0) - z * t + log1p(exp(-|z|)))``, which never
    exponentiates a positive number: finite for logits of any magnitude, and
    accurate for confidently right predictions, whose loss is tiny. The
    gradient is ``(sigmoid(z) - t) / n``, also at ``z = 0``. ``targets`` must
    have the shape of ``logits``; soft targets are allowed. As in ``mse_loss``,
    ``targets`` that are not a Tensor take the logits' dtype, and a Tensor of the
    other float dtype makes the loss float64 (as in PyTorch). ``weight`` scales
    each element's loss and ``pos_weight`` the positive term, ``-pos_weight * t *
    log(sigmoid(z))`` (of shape ``(C,)`` for ``(N, C)`` logits, say): both
    broadcast to the logits' shape, as PyTorch's, and may require grad.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> z = ad.tensor([0.0, 1e4, -1e4], requires_grad=True)
    >>> loss = nn.binary_cross_entropy_with_logits(z, [1.0, 1.0, 1.0])
    >>> round(loss.item(), 4)  # (log 2 + 0 + 1e4) / 3
    3333.5644
    >>> loss.backward()
    >>> z.grad
    Tensor([-0.16666667,  0.        , -0.33333333], dtype=float64)
    >>> nn.binary_cross_entropy_with_logits(z, [1.0, 1.0, 0.0], reduction="none",
    ...                                     pos_weight=[2.0, 2.0, 2.0])
    Tensor([1.38629436, 0.        , 0.        ], dtype=float64, grad_fn=add)
    """
    fn = "binary_cross_entropy_with_logits"
    z, t = _binary_pair(fn, logits, "logits", targets, reduction)
    # max(z, 0) and |z| have kinks at 0 that cancel in the value but not in the
    # gradient unless their subgradients agree: maximum splits a tie evenly
    # (1/2) and abs takes 0, which gives 1/2 - t = sigmoid(0) - t, the true
    # derivative. relu (whose gradient at 0 is 0) would give -t.
    tail = log1p(exp(-absolute(z)))
    loss = maximum(z, 0.0) - z * t + tail
    if pos_weight is not None:
        pw = _as_tensor(pos_weight, fn, "pos_weight", z.dtype)
        _broadcasts(fn, pw, "pos_weight", z, "logits")
        # PyTorch's (1 + (pw - 1) t) * softplus(-z) in place of softplus(-z) for the
        # positive term: the loss above plus (pw - 1) t softplus(-z), same kinks as above.
        loss = loss + (pw - 1.0) * t * (maximum(-z, 0.0) + tail)
    return _reduce(_weighted(fn, loss, weight, "logits"), reduction)


# ----- Module forms --------------------------------------------------------------------------

class _Loss(Module):
    """A loss function as a module: ``forward(input, target)`` calls ``_function`` with the
    options the constructor kept (the attributes named in ``_options``)."""

    _options = ("reduction",)

    def __init__(self, *, reduction="mean"):
        super().__init__()
        self.reduction = _reduction(type(self).__name__, reduction)

    def forward(self, input, target):
        """The loss of ``input`` against ``target``."""
        return type(self)._function(
            input, target, **{k: getattr(self, k) for k in self._options})


class MSELoss(_Loss):
    """``mse_loss`` as a module.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.MSELoss(reduction="sum")(ad.tensor([1.0, 2.0]), [0.0, 0.0])
    Tensor(5., dtype=float64)
    """

    _function = staticmethod(mse_loss)


class L1Loss(_Loss):
    """``l1_loss`` as a module.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.L1Loss()(ad.tensor([1.0, -3.0]), [0.0, 0.0])
    Tensor(2., dtype=float64)
    """

    _function = staticmethod(l1_loss)


class HuberLoss(_Loss):
    """``huber_loss`` as a module.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.HuberLoss(delta=2.0)(ad.tensor([1.0, 4.0]), [0.0, 0.0])  # (0.5 + 2 * 3) / 2
    Tensor(3.25, dtype=float64)
    """

    _function = staticmethod(huber_loss)
    _options = ("reduction", "delta")

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta


class SmoothL1Loss(_Loss):
    """``smooth_l1_loss`` as a module.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.SmoothL1Loss(beta=2.0)(ad.tensor([1.0, 4.0]), [0.0, 0.0])  # (0.25 + 3) / 2
    Tensor(1.625, dtype=float64)
    """

    _function = staticmethod(smooth_l1_loss)
    _options = ("reduction", "beta")

    def __init__(self, *, reduction="mean", beta=1.0):
        super().__init__(reduction=reduction)
        self.beta = beta


class NLLLoss(_Loss):
    """``nll_loss`` as a module; ``weight`` is kept as given (a Tensor that requires grad
    becomes a parameter of the module).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.NLLLoss(reduction="sum")(ad.tensor([[-1.0, -2.0], [-3.0, -4.0]]), [1, 0])
    Tensor(5., dtype=float64)
    """

    _function = staticmethod(nll_loss)
    _options = ("weight", "ignore_index", "reduction")

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean"):
        super().__init__(reduction=reduction)
        self.weight, self.ignore_index = weight, ignore_index


class CrossEntropyLoss(_Loss):
    """``cross_entropy`` as a module; ``weight`` as ``NLLLoss``'s.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> round(loss_fn(ad.tensor([[2.0, 0.0, -1.0]]), [0]).item(), 6)
    0.336513
    """

    _function = staticmethod(cross_entropy)
    _options = ("weight", "ignore_index", "reduction", "label_smoothing")

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(reduction=reduction)
        self.weight, self.ignore_index = weight, ignore_index
        self.label_smoothing = label_smoothing


class BCELoss(_Loss):
    """``binary_cross_entropy`` as a module; ``weight`` as ``NLLLoss``'s.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.BCELoss(reduction="sum")(ad.tensor([0.5, 0.5]), [1.0, 0.0])  # 2 log 2
    Tensor(1.38629436, dtype=float64)
    """

    _function = staticmethod(binary_cross_entropy)
    _options = ("weight", "reduction")

    def __init__(self, weight=None, *, reduction="mean"):
        super().__init__(reduction=reduction)
        self.weight = weight


class BCEWithLogitsLoss(_Loss):
    """``binary_cross_entropy_with_logits`` as a module; ``weight`` and ``pos_weight`` as
    ``NLLLoss``'s ``weight``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.BCEWithLogitsLoss(pos_weight=[3.0])(ad.tensor([0.0, 0.0]), [1.0, 0.0])  # 2 log 2
    Tensor(1.38629436, dtype=float64)
    """

    _function = staticmethod(binary_cross_entropy_with_logits)
    _options = ("weight", "reduction", "pos_weight")

    def __init__(self, weight=None, *, reduction="mean", pos_weight=None):
        super().__init__(reduction=reduction)
        self.weight, self.pos_weight = weight, pos_weight

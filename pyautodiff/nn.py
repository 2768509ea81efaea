"""Neural-network building blocks: ``Module``, layers and losses.

A ``Module`` finds its parameters by looking at its attributes (tensors,
submodules, and lists, tuples and dicts of them), so a model is plain Python:
assign tensors with ``requires_grad=True`` and submodules in ``__init__``,
compute in ``forward``. Layers and losses are built from pyautodiff ops, so
their gradients come from the ops' VJPs and work on every backend.
"""

from reprlib import recursive_repr

import numpy as np

from .ops.composite import log_softmax
from .ops.elementwise import abs as absolute
from .ops.elementwise import exp, log1p, maximum, relu, sigmoid, tanh
from .tensor import DEFAULT_DTYPE, Tensor, _dtype_arg, as_array

__all__ = [
    "GELU",
    "BatchNorm1d",
    "Dropout",
    "DtypeMismatchError",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softplus",
    "Tanh",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "mse_loss",
]


# ----- Module -------------------------------------------------------------------

def _walk(value, prefix, seen):
    """``(name, tensor)`` for every parameter reachable from ``value``, depth first.

    ``seen`` holds the ids of the tensors, modules and containers already visited:
    a shared tensor is yielded once, and a module that refers back to itself (or
    to its parent) does not loop.
    """
    if isinstance(value, Tensor):
        # A tensor made by an op (an activation kept for inspection, say) is not a
        # parameter: backward() never fills its .grad, so an optimizer could not use it.
        if value.requires_grad and value.is_leaf and id(value) not in seen:
            seen.add(id(value))
            yield prefix, value
        return
    if isinstance(value, Module):
        items = value._members()
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    elif isinstance(value, dict):
        items = ((str(k), v) for k, v in value.items())
    else:
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    for name, v in items:
        yield from _walk(v, f"{prefix}.{name}" if prefix else name, seen)


def _modules_in(value, prefix, seen):
    """``(name, module)`` for the modules in ``value`` (a module or a nested container)."""
    if isinstance(value, Module):
        yield prefix, value
        return
    if isinstance(value, (list, tuple)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    for k, v in items:
        yield from _modules_in(v, f"{prefix}.{k}", seen)


def _indent(text, spaces=2):
    # Every line but the first moves right, so a child's block nests under "(name): ".
    return text.replace("\n", "\n" + " " * spaces)


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``.

    Parameters are the tensors with ``requires_grad=True`` found in the module's
    attributes, in the order the attributes were first assigned: directly, inside
    lists, tuples and dicts (nested as deep as you like), and in submodules,
    depth first. A tensor held in two places is a parameter once. Tensors made
    by an operation (not leaves) and tensors without ``requires_grad`` are not
    parameters. Calling a module calls its ``forward``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> class Affine(nn.Module):
    ...     def __init__(self):
    ...         self.scale = ad.tensor(2.0, requires_grad=True)
    ...         self.shift = ad.tensor(1.0, requires_grad=True)
    ...     def forward(self, x):
    ...         return self.scale * x + self.shift
    >>> m = Affine()
    >>> m(ad.tensor([1.0, 2.0]))
    Tensor([3., 5.], dtype=float64, grad_fn=add)
    >>> [name for name, _ in m.named_parameters()]
    ['scale', 'shift']
    >>> m
    Affine()
    """

    # Whether the module is in training mode (``train()``/``eval()`` set it on an instance):
    # Dropout and BatchNorm read it.
    training = True
    # The names of the attributes that are buffers (state that is not a parameter, such as
    # BatchNorm's running statistics): ``register_buffer`` appends to an instance's own list.
    _buffer_names = ()

    def forward(self, *args, **kwargs):
        """The computation of the module; subclasses define it."""
        raise NotImplementedError(
            f"{type(self).__name__}: Module subclasses must define forward()"
        )

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def _members(self):
        # What parameter discovery and repr look at: (name, value) pairs. Instance
        # attributes keep their assignment order (dicts are ordered).
        return getattr(self, "__dict__", {}).items()

    def named_parameters(self):
        """``(name, tensor)`` for each parameter, names joined by dots as in PyTorch.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Tanh(), nn.Linear(3, 1, seed=1))
        >>> [(name, p.shape) for name, p in model.named_parameters()]
        [('0.weight', (3, 2)), ('0.bias', (3,)), ('2.weight', (1, 3)), ('2.bias', (1,))]
        """
        seen = {id(self)}
        for name, value in self._members():
            yield from _walk(value, name, seen)

    def parameters(self):
        """Every parameter of this module and its submodules, each once, in a stable order.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> sum(p.size for p in nn.Linear(3, 2, seed=0).parameters())
        8
        """
        for _, p in self.named_parameters():
            yield p

    def named_children(self):
        """``(name, module)`` for each direct submodule (also those in lists, tuples, dicts).

        Examples
        --------
        >>> from pyautodiff import nn
        >>> [name for name, _ in nn.Sequential(nn.Tanh(), nn.ReLU()).named_children()]
        ['0', '1']
        """
        seen = {id(self)}
        for name, value in self._members():
            for child_name, child in _modules_in(value, name, seen):
                if id(child) not in seen:
                    seen.add(id(child))
                    yield child_name, child

    def zero_grad(self):
        """Clear the gradient of every parameter (``p.grad = None``).

        Examples
        --------
        >>> import pyautodiff as ad
        >>> from pyautodiff import nn
        >>> layer = nn.Linear(2, 1, seed=0)
        >>> layer(ad.ones((1, 2))).sum().backward()
        >>> layer.bias.grad
        Tensor([1.], dtype=float64)
        >>> layer.zero_grad()
        >>> layer.bias.grad is None
        True
        """
        for p in self.parameters():
            p.grad = None

    def extra_repr(self):
        """The text inside the parentheses of ``repr`` (the layer's settings); empty here."""
        return ""

    @recursive_repr("...")
    def __repr__(self):
        # PyTorch's layout: the settings, then one "(name): child" line per submodule.
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_indent(repr(m))}" for name, m in self.named_children()]
        head = f"{type(self).__name__}("
        if len(extra_lines) == 1 and not child_lines:
            return head + extra_lines[0] + ")"
        if extra_lines or child_lines:
            return head + "\n  " + "\n  ".join(extra_lines + child_lines) + "\n)"
        return head + ")"


# ----- layers -------------------------------------------------------------------

class DtypeMismatchError(RuntimeError, TypeError):
    """A layer given a Tensor of one float dtype while its parameters have the other.

    A ``RuntimeError``, as PyTorch raises for the same mistake, and a ``TypeError``,
    the class API.md gives dtype errors: either ``except`` catches it.
    """


def _size_arg(value, name, where):
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be at least 1, got {value}")
    return int(value)


class Linear(Module):
    """An affine map ``x @ weight.T + bias`` over the last dimension of ``x``.

    ``weight`` has shape ``(out_features, in_features)`` and ``bias`` shape
    ``(out_features,)``; both start uniform in ``[-k, k]`` with
    ``k = 1 / sqrt(in_features)`` (PyTorch's default), drawn, weight first,
    from ``np.random.default_rng(seed)``: the same seed gives the same layer.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Whether to add a learnable bias (else ``self.bias`` is None).
    seed : int, numpy Generator or None
        Seeds the initial values (None: fresh entropy each time).
    dtype : float32 or float64, optional
        The parameters' dtype (default float64). Inputs that are not Tensors
        (numpy arrays, lists) are converted to it. A Tensor input of the other
        dtype raises ``DtypeMismatchError`` (a ``RuntimeError``, as in PyTorch)
        rather than silently giving a result in float64: convert it with
        ``x.astype(...)``, or build the layer with the input's ``dtype``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> layer = nn.Linear(3, 2, seed=0)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    >>> layer.weight.shape, layer.bias.shape
    ((2, 3), (2,))
    >>> layer(ad.ones((4, 3))).shape
    (4, 2)
    >>> try:
    ...     layer(ad.ones((4, 3), dtype="float32"))
    ... except RuntimeError as e:
    ...     print(str(e).partition(";")[0])
    Linear: input of dtype float32 and weight of dtype float64 differ (PyTorch refuses this too)
    """

    def __init__(self, in_features, out_features, bias=True, seed=None, dtype=None):
        self.in_features = _size_arg(in_features, "in_features", "Linear")
        self.out_features = _size_arg(out_features, "out_features", "Linear")
        dt = DEFAULT_DTYPE if dtype is None else _dtype_arg(dtype, "Linear")
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.in_features)
        self.weight = Tensor(rng.uniform(-k, k, (self.out_features, self.in_features)),
                             requires_grad=True, dtype=dt)
        self.bias = (Tensor(rng.uniform(-k, k, self.out_features), requires_grad=True, dtype=dt)
                     if bias else None)

    def forward(self, x):
        """``x @ weight.T + bias`` for ``x`` of shape ``(..., in_features)``."""
        if not isinstance(x, Tensor):
            x = Tensor._make(as_array(x, "Linear", self.weight.dtype))
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: input of shape {x.shape} does not end in in_features="
                f"{self.in_features}, expected shape (..., {self.in_features})"
            )
        dt = self.weight.dtype
        if x.dtype != dt:
            raise DtypeMismatchError(
                f"Linear: input of dtype {x.dtype} and weight of dtype {dt} differ (PyTorch "
                f"refuses this too); convert the input with x.astype('{dt}'), or build the "
                f"layer in {x.dtype} with nn.Linear({self.in_features}, {self.out_features}, "
                f"dtype='{x.dtype}')"
            )
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Sequential(Module):
    """Modules applied in order, each to the previous one's output.

    Indexable (an int gives a module, a slice a new ``Sequential``), iterable,
    and ``len`` gives the number of modules. Parameter names are ``"<index>.<name>"``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> model = nn.Sequential(nn.Linear(2, 8, seed=0), nn.Tanh(), nn.Linear(8, 1, seed=1))
    >>> model
    Sequential(
      (0): Linear(in_features=2, out_features=8, bias=True)
      (1): Tanh()
      (2): Linear(in_features=8, out_features=1, bias=True)
    )
    >>> model(ad.zeros((5, 2))).shape
    (5, 1)
    >>> len(model), model[1]
    (3, Tanh())
    """

    def __init__(self, *modules):
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(
                    f"Sequential: argument {i} is a {type(m).__name__}, expected a Module"
                )
        self._layers = tuple(modules)

    def _members(self):
        return ((str(i), m) for i, m in enumerate(self._layers))

    def forward(self, x):
        """The input passed through every module in turn."""
        for m in self._layers:
            x = m(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)


class Tanh(Module):
    """The hyperbolic tangent, elementwise.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.Tanh()(ad.tensor([0.0, 100.0]))
    Tensor([0., 1.], dtype=float64)
    """

    def forward(self, x):
        """``tanh(x)``."""
        return tanh(x)


class ReLU(Module):
    """``max(x, 0)``, elementwise (the gradient at 0 is 0).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.ReLU()(ad.tensor([-1.0, 2.0]))
    Tensor([0., 2.], dtype=float64)
    """

    def forward(self, x):
        """``relu(x)``."""
        return relu(x)


class Sigmoid(Module):
    """The logistic function ``1 / (1 + exp(-x))``, elementwise.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> nn.Sigmoid()(ad.tensor([0.0]))
    Tensor([0.5], dtype=float64)
    """

    def forward(self, x):
        """``sigmoid(x)``."""
        return sigmoid(x)


# ----- losses -------------------------------------------------------------------

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


def _same_shape(fn, a, a_name, b, b_name):
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {a_name} of shape {a.shape} and {b_name} of shape {b.shape} differ, "
            "expected the same shape"
        )
    if a.size == 0:
        raise ValueError(f"{fn}: {a_name} is empty (shape {a.shape}), the mean of no elements")


def mse_loss(pred, target):
    """The mean squared error ``mean((pred - target) ** 2)``.

    ``pred`` and ``target`` must have the same shape. A ``target`` that is not a
    Tensor takes ``pred``'s dtype; a Tensor ``target`` that requires grad gets
    a gradient too. A Tensor ``target`` of the other float dtype makes the loss
    float64, as PyTorch's ``mse_loss`` does; ``pred.grad`` keeps ``pred``'s dtype.

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
    """
    pred = _as_tensor(pred, "mse_loss", "pred")
    target = _as_tensor(target, "mse_loss", "target", pred.dtype)
    _same_shape("mse_loss", pred, "pred", target, "target")
    d = pred - target
    return (d * d).mean()


def _labels(labels, expected_shape, n_classes):
    """``labels`` as an intp array of ``expected_shape`` with values in [0, n_classes)."""
    if isinstance(labels, Tensor):
        # Tensors hold floats only, so a Tensor of whole numbers counts as integer labels.
        arr = labels._data
        if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
            raise TypeError(
                "cross_entropy: labels must be integer class indices, got a Tensor of "
                f"dtype {arr.dtype} holding non-integer values"
            )
    elif isinstance(labels, (list, tuple)) and len(labels) == 0:
        arr = np.zeros(0, dtype=np.intp)
    else:
        try:
            arr = np.asarray(labels)
        except (TypeError, ValueError):
            raise TypeError(
                f"cross_entropy: labels must be integer class indices, got {_describe(labels)}"
            ) from None
        if arr.dtype.kind not in "iu":
            raise TypeError(
                "cross_entropy: labels must be integer class indices (an int array or list), "
                f"got dtype {arr.dtype}"
            )
    if arr.shape != expected_shape:
        raise ValueError(
            f"cross_entropy: labels of shape {arr.shape} do not fit the logits, "
            f"expected labels of shape {expected_shape}"
        )
    bad = (arr < 0) | (arr >= n_classes)
    if np.any(bad):
        value = arr[bad].flat[0]
        raise ValueError(
            f"cross_entropy: label {int(value)} is out of range for {n_classes} classes, "
            f"expected 0 <= label < {n_classes}"
        )
    return arr.astype(np.intp)


def cross_entropy(logits, labels):
    """The mean negative log-likelihood of integer class ``labels`` under ``softmax(logits)``.

    ``logits`` has shape ``(N, C)`` (or ``(C,)`` for one sample, or
    ``(N, C, d1, ...)`` with classes on axis 1, as in PyTorch); ``labels`` has
    the shape of ``logits`` without the class axis and holds integers in
    ``[0, C)`` (a numpy int array, a list, or a Tensor of whole numbers). The
    log-probabilities come from ``log_softmax``, so logits of any magnitude
    give finite values and gradients.

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
    """
    logits = _as_tensor(logits, "cross_entropy", "logits")
    if logits.ndim == 0:
        raise ValueError(
            "cross_entropy: logits of shape () have no class axis, "
            "expected shape (C,) or (N, C, ...)"
        )
    axis = 1 if logits.ndim > 1 else 0
    n_classes = logits.shape[axis]
    if n_classes == 0:
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} have no classes")
    expected = logits.shape[:axis] + logits.shape[axis + 1:]
    labels = _labels(labels, expected, n_classes)
    if labels.size == 0:
        raise ValueError(
            f"cross_entropy: logits of shape {logits.shape} hold no samples, "
            "the mean of no elements"
        )
    # (log_softmax shifts by the max first: logits of any magnitude stay accurate)
    logp = log_softmax(logits, axis=axis)
    if axis == 0:
        picked = logp[labels]
    else:
        # One index array per axis: the sample's place on every axis but the
        # class axis, where the label goes (open grids broadcast together).
        shape = labels.shape
        picked = logp[(_grid(shape, 0), labels) + tuple(
            _grid(shape, k) for k in range(1, len(shape)))]
    return -picked.mean()


def _grid(shape, k):
    """Axis ``k`` of the open grid of ``shape`` (``np.indices(shape, sparse=True)[k]``): a
    pure function, which ``compile`` records as one step, as ``_labels``."""
    return np.indices(shape, sparse=True)[k]


def binary_cross_entropy_with_logits(logits, targets):
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``targets`` in [0, 1].

    Computed as ``mean(max(z, 0) - z * t + log1p(exp(-|z|)))``, which never
    exponentiates a positive number: finite for logits of any magnitude, and
    accurate for confidently right predictions, whose loss is tiny. The
    gradient is ``(sigmoid(z) - t) / n``, also at ``z = 0``. ``targets`` must
    have the shape of ``logits``; soft targets are allowed. As in ``mse_loss``,
    ``targets`` that are not a Tensor take the logits' dtype, and a Tensor of the
    other float dtype makes the loss float64 (as in PyTorch).

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
    """
    z = _as_tensor(logits, "binary_cross_entropy_with_logits", "logits")
    t = _as_tensor(targets, "binary_cross_entropy_with_logits", "targets", z.dtype)
    _same_shape("binary_cross_entropy_with_logits", z, "logits", t, "targets")
    if z.dtype != t.dtype:
        # Promote first, as PyTorch does: else the terms of z alone would be float32-accurate
        # inside a float64 loss. (mse_loss needs no such step: pred - target promotes.)
        z, t = (z.astype(np.float64) if z.dtype != np.float64 else z,
                t.astype(np.float64) if t.dtype != np.float64 else t)
    # max(z, 0) and |z| have kinks at 0 that cancel in the value but not in the
    # gradient unless their subgradients agree: maximum splits a tie evenly
    # (1/2) and abs takes 0, which gives 1/2 - t = sigmoid(0) - t, the true
    # derivative. relu (whose gradient at 0 is 0) would give -t.
    return (maximum(z, 0.0) - z * t + log1p(exp(-absolute(z)))).mean()


# Last: the layers of layers.py build on Module above.
from .layers import (
    GELU,
    BatchNorm1d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Softplus,
)

"""Neural-network building blocks: ``Module``, layers and losses.

A ``Module`` finds its parameters by looking at its attributes (tensors,
submodules, and lists, tuples and dicts of them), so a model is plain Python:
assign tensors with ``requires_grad=True`` and submodules in ``__init__``,
compute in ``forward``. Layers and losses are built from pyautodiff ops, so
their gradients come from the ops' VJPs and work on every backend. The losses
are defined in ``pyautodiff.losses`` and re-exported here.
"""

import collections
import collections.abc
import threading
from reprlib import recursive_repr

import numpy as np

from . import memory
from . import nn_init as init
from . import nn_utils as utils
from .ops.elementwise import relu, sigmoid, tanh
from .rng import as_generator
from .tensor import DEFAULT_DTYPE, Tensor, _dtype_arg, as_array

__all__ = [
    "GELU",
    "BCELoss",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "CrossEntropyLoss",
    "Dropout",
    "DtypeMismatchError",
    "Embedding",
    "Flatten",
    "HuberLoss",
    "Identity",
    "IncompatibleKeys",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "SmoothL1Loss",
    "Softplus",
    "Tanh",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "init",
    "l1_loss",
    "mse_loss",
    "nll_loss",
    "smooth_l1_loss",
    "utils",
]


# ----- Module -------------------------------------------------------------------

def _entries(node, prefix, seen, once):
    """``(name, value, owner, attr)`` for every parameter and buffer under ``node`` (a module,
    list, tuple or dict), in PyTorch's ``state_dict`` order.

    A module gives its own parameters (tensor attributes), then its buffers, then what its
    submodules and containers hold, each in attribute order, depth first; a container gives
    its tensors, then what its modules and containers hold. Parameters are the leaves that
    require grad, or that a module holds under a name in its ``_parameter_names`` (frozen
    ones); a tensor made by an op, such as an activation kept for inspection, never gets
    a .grad from backward(): an optimizer could not use it.
    ``seen`` holds the ids of the nodes being walked. With ``once`` (``named_parameters``)
    every node is walked once; else (``state_dict``) only the nodes on the current path are
    skipped, so a shared submodule appears under each of its names, as in PyTorch, and one
    that refers back to an ancestor does not loop. ``owner`` and ``attr`` locate a buffer
    (None for a parameter).
    """
    if id(node) in seen:
        return
    seen.add(id(node))
    buffers = named = ()
    if isinstance(node, Module):
        items, buffers, named = node._members(), node._buffer_names, node._parameter_names
    elif isinstance(node, dict):
        items = node.items()
    else:
        items = enumerate(node)
    dot = f"{prefix}." if prefix else ""
    inner = []
    for k, v in items:
        if isinstance(v, Tensor):
            if v._node is None and (v._rg or k in named) and k not in buffers:
                yield f"{dot}{k}", v, None, None
        elif isinstance(v, (Module, list, tuple, dict)):
            inner.append((k, v))
    for attr in buffers:
        v = getattr(node, attr, None)
        if v is not None:
            yield f"{dot}{attr}", v, node, attr
    for k, v in inner:
        yield from _entries(v, f"{dot}{k}", seen, once)
    if not once:
        seen.discard(id(node))


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


class IncompatibleKeys(collections.namedtuple("IncompatibleKeys",
                                              ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it expected but did not get, and the
    keys it got but did not expect (PyTorch's ``_IncompatibleKeys``)."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


# The ids of the modules whose train() or apply() is running on this thread (see _recurse).
_active = threading.local()


def _recurse(module, call):
    """``call(child)`` for each child of ``module``, as PyTorch's ``train`` and ``apply``
    recurse (so a child's override of them runs), skipping the modules this recursion is
    already inside: a child that refers back to its parent would loop."""
    ids = _active.__dict__.setdefault("ids", set())
    added = id(module) not in ids
    ids.add(id(module))
    try:
        for child in list(module.children()):
            if id(child) not in ids:
                call(child)
    finally:
        if added:
            ids.discard(id(module))


def _as_numbers(value):
    """A checkpoint's value as a numeric numpy array (no copy), or None."""
    if isinstance(value, Tensor):
        return value._data
    try:
        a = np.asarray(value)
    except (TypeError, ValueError, RuntimeError):  # (torch's, for a tensor requiring grad)
        return None
    return a if a.dtype.kind in "biuf" else None


def _array_of(value, name, owner):
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.ndarray):
        return value
    raise TypeError(
        f"state_dict: buffer '{name}' of {type(owner).__name__} holds a "
        f"{type(value).__name__}, expected a Tensor, a numpy array or None"
    )


class Module:
    """Base class of layers and models: subclasses set attributes and define ``forward``.

    Parameters are the tensors with ``requires_grad=True`` found in the module's
    attributes: directly, inside lists, tuples and dicts (nested as deep as you like),
    and in submodules. They come in PyTorch's order: a module's own tensor attributes
    first, then, attribute by attribute, what its submodules and containers hold, depth
    first (``0.weight, 0.bias, 2.weight, ...``). A tensor held in two places is a
    parameter once, under its first name. Tensors made by an operation (not leaves)
    and tensors without ``requires_grad`` are not parameters, except a frozen one: a
    tensor attribute that required grad when it was assigned stays a parameter after
    ``requires_grad_(False)`` (in ``parameters()``, ``state_dict()`` and
    ``load_state_dict``, as PyTorch's ``nn.Parameter``) until another value is assigned
    to the attribute; inside lists, tuples and dicts only tensors requiring grad count.
    Buffers (state that is not a parameter, such as running statistics) are declared
    with ``register_buffer``. Calling a module calls its ``forward``.

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
    # The names of the attributes that held a parameter when assigned (see __setattr__).
    _parameter_names = frozenset()

    def __setattr__(self, name, value):
        # A trainable leaf assigned to an attribute makes the name a parameter's, which a
        # later requires_grad_(False) does not undo (PyTorch's nn.Parameter stays one when
        # frozen); assigning anything else to the name ends that.
        names = self.__dict__.get("_parameter_names")
        if isinstance(value, Tensor) and value._rg and value._node is None:
            if names is None:
                names = set()
                object.__setattr__(self, "_parameter_names", names)
            names.add(name)
        elif names is not None:
            names.discard(name)
        object.__setattr__(self, name, value)

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
        """``(name, tensor)`` for each parameter, named and ordered as in PyTorch.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Tanh(), nn.Linear(3, 1, seed=1))
        >>> [(name, p.shape) for name, p in model.named_parameters()]
        [('0.weight', (3, 2)), ('0.bias', (3,)), ('2.weight', (1, 3)), ('2.bias', (1,))]
        """
        seen = set()
        for name, value, owner, _ in _entries(self, "", set(), once=True):
            if owner is None and id(value) not in seen:
                seen.add(id(value))
                yield name, value

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

    def register_buffer(self, name, tensor):
        """Make attribute ``name`` a buffer holding ``tensor`` (a Tensor, or None).

        A buffer is state that is not a parameter (no gradient, not optimized), such as
        running statistics: it is in ``state_dict()`` and ``buffers()``. A None buffer
        is left out of ``state_dict()``, as in PyTorch.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> from pyautodiff import nn
        >>> layer = nn.Linear(2, 1, seed=0)
        >>> layer.register_buffer("steps", ad.zeros(()))
        >>> list(layer.state_dict())
        ['weight', 'bias', 'steps']
        """
        if not isinstance(name, str):
            raise TypeError(f"register_buffer: buffer name should be a string, got "
                            f"{type(name).__name__}")
        if "." in name or not name:
            raise KeyError(f"register_buffer: buffer name {name!r} is empty or contains "
                           "'.', expected an attribute name")
        if hasattr(self, name) and name not in self._buffer_names:
            raise KeyError(f"register_buffer: attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: cannot assign a {type(tensor).__name__} to "
                            f"buffer '{name}' (Tensor or None required)")
        if "_buffer_names" not in vars(self):
            self._buffer_names = list(self._buffer_names)
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, tensor)

    def named_buffers(self):
        """``(name, tensor)`` for each buffer of this module and its submodules, each once.

        Examples
        --------
        >>> import pyautodiff as ad
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 1, seed=0))
        >>> model[0].register_buffer("steps", ad.zeros(()))
        >>> [name for name, _ in model.named_buffers()]
        ['0.steps']
        """
        seen = set()
        for name, value, owner, _ in _entries(self, "", set(), once=True):
            if owner is not None and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def buffers(self):
        """Every buffer of this module and its submodules (see ``named_buffers``).

        Examples
        --------
        >>> from pyautodiff import nn
        >>> list(nn.Linear(2, 1, seed=0).buffers())
        []
        """
        for _, b in self.named_buffers():
            yield b

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

    def children(self):
        """Each direct submodule (see ``named_children``).

        Examples
        --------
        >>> from pyautodiff import nn
        >>> list(nn.Sequential(nn.Tanh(), nn.ReLU()).children())
        [Tanh(), ReLU()]
        """
        for _, m in self.named_children():
            yield m

    def named_modules(self, prefix=""):
        """``(name, module)`` for this module (named ``prefix``) and every module under it,
        each once, parents before children, as PyTorch's ``named_modules``.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 2, seed=0), nn.ModuleList([nn.Tanh()]))
        >>> [name for name, _ in model.named_modules()]
        ['', '0', '1', '1.0']
        """
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            stack.extend(reversed([(f"{name}.{n}" if name else n, c)
                                   for n, c in m.named_children()]))

    def modules(self):
        """This module and every module under it, each once (see ``named_modules``).

        Examples
        --------
        >>> from pyautodiff import nn
        >>> list(nn.Sequential(nn.Tanh()).modules())
        [Sequential(
          (0): Tanh()
        ), Tanh()]
        """
        for _, m in self.named_modules():
            yield m

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first), then on this module; returns self.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 2, seed=0), nn.Tanh())
        >>> def init(m):
        ...     if isinstance(m, nn.Linear):
        ...         nn.init.zeros_(m.bias)
        >>> model.apply(init)[0].bias
        Tensor([0., 0.], dtype=float64, requires_grad=True)
        """
        _recurse(self, lambda child: child.apply(fn))
        fn(self)
        return self

    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode on this module and every
        submodule (``self.training``, which Dropout and BatchNorm read); returns self.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 2, seed=0))
        >>> model.train(False)[0].training
        False
        >>> model.train().training, model[0].training
        (True, True)
        """
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        self.training = mode
        _recurse(self, lambda child: child.train(mode))
        return self

    def eval(self):
        """Set evaluation mode: ``train(False)``; returns self.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> nn.Linear(2, 2, seed=0).eval().training
        False
        """
        return self.train(False)

    def state_dict(self):
        """An ordered dict from name to a copy (a numpy array) of each parameter and buffer.

        Names and order are PyTorch's for the same architecture (a module's parameters,
        then its buffers, then its submodules'; a submodule held in two places appears
        under both names), so PyTorch's ``load_state_dict`` takes it after
        ``torch.from_numpy``, and ``ad.save`` writes it to a file.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> sd = nn.Sequential(nn.Linear(2, 3, seed=0), nn.Tanh()).state_dict()
        >>> [(k, v.shape) for k, v in sd.items()]
        [('0.weight', (3, 2)), ('0.bias', (3,))]
        """
        return collections.OrderedDict(
            (name, _array_of(value, attr, owner).copy())
            for name, value, owner, attr in _entries(self, "", set(), once=False)
        )

    def load_state_dict(self, state_dict, strict=True):
        """Copy the values of ``state_dict`` into this module's parameters and buffers.

        The values (numpy arrays, Tensors, or anything ``np.asarray`` takes, such as
        PyTorch's tensors) are written into the existing arrays in place, cast to their
        dtypes, so optimizers holding the parameters keep working. Nothing is written
        unless every value fits: a key missing or unexpected (when ``strict``), a shape
        that differs or a value that is not numbers raises PyTorch's ``RuntimeError``.

        Returns
        -------
        IncompatibleKeys
            ``(missing_keys, unexpected_keys)``, as in PyTorch.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> a, b = nn.Linear(2, 1, seed=0), nn.Linear(2, 1, seed=1)
        >>> a.load_state_dict(b.state_dict())
        <All keys matched successfully>
        >>> bool((a.weight.numpy() == b.weight.numpy()).all())
        True
        >>> a.load_state_dict({"weight": b.weight}, strict=False)
        IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])
        """
        if not isinstance(state_dict, collections.abc.Mapping):
            raise TypeError(f"load_state_dict: expected state_dict to be dict-like, got "
                            f"{type(state_dict).__name__}")
        targets = {}
        for name, value, owner, attr in _entries(self, "", set(), once=False):
            targets.setdefault(name, _array_of(value, attr, owner))
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        errors, writes = [], []
        for name, dst in targets.items():
            if name not in state_dict:
                continue
            src = _as_numbers(state_dict[name])
            if src is None:
                errors.append(f'While copying the parameter named "{name}", expected an '
                              "array or Tensor of numbers from checkpoint but received "
                              f"{type(state_dict[name])}")
            elif src.shape != dst.shape:
                errors.append(f"size mismatch for {name}: copying a param with shape "
                              f"{src.shape} from checkpoint, the shape in current model is "
                              f"{dst.shape}.")
            else:
                memory.check_writable(dst, f"load_state_dict: {name}")
                writes.append((name, dst, src))
        if strict:
            # PyTorch's order: missing, unexpected, then the errors of single keys.
            errors[:0] = [f"{what} key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in keys) + ". "
                          for what, keys in (("Missing", missing), ("Unexpected", unexpected))
                          if keys]
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                               "\n\t" + "\n\t".join(errors))
        for name, dst, src in writes:
            with memory.writing(dst, f"load_state_dict: {name}"):
                np.copyto(dst, src, casting="unsafe")
        return IncompatibleKeys(missing, unexpected)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` of every parameter (to freeze or unfreeze them); returns self.

        Frozen parameters stay parameters (see the class docstring): they are still in
        ``parameters()`` and ``state_dict()``, and an optimizer skips them, as they get no
        gradient.

        Examples
        --------
        >>> from pyautodiff import nn
        >>> model = nn.Sequential(nn.Linear(2, 2, seed=0), nn.Linear(2, 1, seed=1))
        >>> model[0].requires_grad_(False)
        Linear(in_features=2, out_features=2, bias=True)
        >>> [(name, p.requires_grad) for name, p in model.named_parameters()][1:3]
        [('0.bias', False), ('1.weight', True)]
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

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
        return _layout(type(self).__name__, extra_lines, child_lines)


def _layout(head, extra_lines, child_lines):
    head += "("
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
    ``k = 1 / sqrt(in_features)`` (PyTorch's default), drawn, weight first, from
    ``np.random.default_rng(seed)``, or, when ``seed`` is None, from the library's
    default generator, so ``ad.manual_seed`` makes construction repeatable as
    ``torch.manual_seed`` does.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Whether to add a learnable bias (else ``self.bias`` is None).
    seed : int, numpy Generator or None
        Seeds the initial values: the same int gives the same layer; None draws from
        the default generator (``ad.manual_seed``).
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
        rng = as_generator(seed, "Linear")
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


def _module_arg(value, where):
    if not isinstance(value, Module):
        raise TypeError(f"{where}: a {type(value).__name__} is not a Module")
    return value


class ModuleList(Module):
    """A list of modules, whose parameters are named ``"<index>.<name>"`` (PyTorch's).

    Indexable (a slice gives a new ``ModuleList``), iterable, with ``len``, ``append``,
    ``extend``, ``insert``, ``pop``, ``+`` and ``+=``. It has no ``forward``: a model
    calls its modules as it needs.

    Examples
    --------
    >>> from pyautodiff import nn
    >>> layers = nn.ModuleList([nn.Linear(2, 2, seed=i) for i in range(2)])
    >>> layers.append(nn.Tanh())
    ModuleList(
      (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)
      (2): Tanh()
    )
    >>> len(layers), [name for name, _ in layers[:1].named_parameters()]
    (3, ['0.weight', '0.bias'])
    """

    def __init__(self, modules=None):
        self._list = []
        if modules is not None:
            self.extend(modules)

    def _members(self):
        return ((str(i), m) for i, m in enumerate(self._list))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(self._list[index])
        return self._list[index]

    def __setitem__(self, index, module):
        self._list[index] = _module_arg(module, "ModuleList")

    def __delitem__(self, index):
        del self._list[index]

    def __len__(self):
        return len(self._list)

    def __iter__(self):
        return iter(self._list)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList([*self, *other])

    def append(self, module):
        """Add ``module`` at the end; returns self."""
        self._list.append(_module_arg(module, "ModuleList.append"))
        return self

    def extend(self, modules):
        """Add each of ``modules`` at the end; returns self."""
        self._list.extend([_module_arg(m, "ModuleList.extend") for m in modules])
        return self

    def insert(self, index, module):
        """Insert ``module`` before ``index``."""
        self._list.insert(index, _module_arg(module, "ModuleList.insert"))

    def pop(self, index=-1):
        """Remove and return the module at ``index`` (the last by default)."""
        return self._list.pop(index)

    @recursive_repr("...")
    def __repr__(self):
        # PyTorch's: a run of equal modules is one line, "(first-last): n x module".
        runs = []  # [first, last, repr]
        for i, m in enumerate(self._list):
            text = repr(m)
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = [_indent(f"({a}): {t}" if a == b else f"({a}-{b}): {b - a + 1} x {t}")
                 for a, b, t in runs]
        return _layout(type(self).__name__, [], lines)


class ModuleDict(Module):
    """An ordered dict of modules by name, whose parameters are ``"<key>.<name>"``.

    Takes a dict (or pairs); supports ``d[key]``, ``d[key] = module``, ``del``, ``in``,
    ``len``, iteration over the keys, ``keys``, ``values``, ``items``, ``update``,
    ``pop`` and ``clear``, as PyTorch's ``ModuleDict``. Keys are non-empty strings
    without dots.

    Examples
    --------
    >>> from pyautodiff import nn
    >>> heads = nn.ModuleDict({"mean": nn.Linear(4, 1, seed=0), "act": nn.Tanh()})
    >>> list(heads.keys()), [name for name, _ in heads.named_parameters()]
    (['mean', 'act'], ['mean.weight', 'mean.bias'])
    """

    def __init__(self, modules=None):
        self._dict = {}
        if modules is not None:
            self.update(modules)

    def _members(self):
        return self._dict.items()

    def __getitem__(self, key):
        return self._dict[key]

    def __setitem__(self, key, module):
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict: key should be a string, got {type(key).__name__}")
        if not key or "." in key:
            raise KeyError(f"ModuleDict: key {key!r} is empty or contains '.', expected a name")
        self._dict[key] = _module_arg(module, "ModuleDict")

    def __delitem__(self, key):
        del self._dict[key]

    def __len__(self):
        return len(self._dict)

    def __iter__(self):
        return iter(self._dict)

    def __contains__(self, key):
        return key in self._dict

    def keys(self):
        """The keys, in insertion order."""
        return self._dict.keys()

    def values(self):
        """The modules, in insertion order."""
        return self._dict.values()

    def items(self):
        """``(key, module)`` pairs, in insertion order."""
        return self._dict.items()

    def update(self, modules):
        """Add (or replace) the modules of a mapping or of an iterable of pairs."""
        pairs = modules.items() if isinstance(modules, (collections.abc.Mapping, ModuleDict)) \
            else modules
        for key, module in pairs:
            self[key] = module

    def pop(self, key):
        """Remove and return the module at ``key``."""
        return self._dict.pop(key)

    def clear(self):
        """Remove every module."""
        self._dict.clear()


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


# Last: the losses' Module forms subclass Module, so losses.py imports this module.
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
from .losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

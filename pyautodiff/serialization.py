"""Checkpoints: ``save`` and ``load`` of state dicts as ``.npz`` files, without pickle.

A flat dict of numpy arrays with string keys (a ``state_dict()``) is written as a plain
``.npz``: one array per key, under the key itself, so ``np.load`` reads it anywhere and
``{k: torch.from_numpy(v) for k, v in np.load(path).items()}`` gives it to PyTorch.
Anything else (nested dicts and lists, Tensors, numbers, strings, None, such as
``{"model": model.state_dict(), "opt": opt.state_dict(), "step": 10}``) is flattened:
each array, Tensor, number or string is stored as an array named by its path of keys
and indices joined by ``/`` (``model/0.weight``, ``opt/state/0/momentum_buffer``,
``step``, numbers and strings as 0-d arrays), and the structure (container types, key
types, which leaves were Tensors or Python numbers) is stored as JSON text in the 0-d
array ``__pyautodiff_tree__``. ``load`` rebuilds the object: arrays, dtypes, shapes,
numbers and strings come back exactly. Nothing is pickled, and ``load`` reads with
``allow_pickle=False``, so loading a file cannot run code.
"""

import collections.abc
import json
import zipfile

import numpy as np

from .tensor import Tensor

__all__ = ["load", "save"]

TREE = "__pyautodiff_tree__"
SEP = "/"

_PY_SCALARS = (bool, int, float, str)  # (bool before int: it is one)


def _leaf(leaves, path, array):
    name = SEP.join(path) if path else "value"
    if name in leaves or name == TREE:
        raise ValueError(f"save: two entries would be stored under the name {name!r} (a key "
                         f"containing {SEP!r}, or named {TREE!r}); rename one")
    if array.dtype.hasobject:
        raise TypeError(f"save: {name!r} is an array of dtype object, which only pickle could "
                        "store; store numbers, or convert the array")
    leaves[name] = array
    return name


def _encode(value, path, leaves):
    """The JSON structure of ``value``; its arrays go into ``leaves`` (name -> array)."""
    if value is None:
        return None
    if isinstance(value, collections.abc.Mapping):
        pairs = []
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"save: key {k!r} at {SEP.join(path)!r} is a "
                                f"{type(k).__name__}, expected a str or an int")
            pairs.append([k, _encode(v, (*path, str(k)), leaves)])
        return ["dict", pairs]
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return [kind, [_encode(v, (*path, str(i)), leaves) for i, v in enumerate(value)]]
    if isinstance(value, Tensor):
        return ["tensor", _leaf(leaves, path, value._data), value.requires_grad]
    if isinstance(value, np.ndarray):
        return ["array", _leaf(leaves, path, np.asarray(value))]
    if isinstance(value, np.generic):
        return ["scalar", _leaf(leaves, path, np.asarray(value))]
    for t in _PY_SCALARS:
        if isinstance(value, t):
            array = np.asarray(value)
            if array.dtype.hasobject:
                raise ValueError(f"save: the int at {SEP.join(path)!r} does not fit in int64")
            return [t.__name__, _leaf(leaves, path, array)]
    hint = (" (save its state_dict())" if hasattr(value, "state_dict") else "")
    raise TypeError(f"save: cannot store a {type(value).__name__} at {SEP.join(path)!r}"
                    f"{hint}; expected dicts, lists, tuples, Tensors, numpy arrays, numbers, "
                    "strings or None")


def save(obj, f):
    """Write ``obj`` (a state dict, or a dict of them with numbers and strings) to ``f``.

    ``f`` is a path (written as given: no suffix is added) or a binary file object. The
    format is ``.npz``; see the module docstring for the layout.

    Examples
    --------
    >>> import os, tempfile
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> model = nn.Linear(2, 1, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
    >>> ad.save({"model": model.state_dict(), "step": 10}, path)
    >>> ckpt = ad.load(path)
    >>> ckpt["step"], list(ckpt["model"])
    (10, ['weight', 'bias'])
    """
    leaves = {}
    flat = (isinstance(obj, collections.abc.Mapping)
            and all(isinstance(k, str) and type(v) is np.ndarray for k, v in obj.items()))
    if flat:
        for k, v in obj.items():
            _leaf(leaves, (k,), v)
    else:
        leaves[TREE] = np.array(json.dumps(_encode(obj, (), leaves)))
    # np.savez's layout, written here so that any key is allowed (savez's keyword
    # arguments refuse "file" and "allow_pickle") and pickle never is.
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in leaves.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, array, allow_pickle=False)


def _read(npz, name):
    array = npz[name]
    if not isinstance(array, np.ndarray):  # (NpzFile gives the bytes of a non-.npy member)
        raise ValueError(f"load: the entry {name!r} is not an .npy array")  # noqa: TRY004
    return array


def _decode(node, npz):
    if node is None:
        return None
    kind, body = node[0], node[1]
    if kind == "dict":
        return {k: _decode(v, npz) for k, v in body}
    if kind in ("list", "tuple"):
        items = [_decode(v, npz) for v in body]
        return items if kind == "list" else tuple(items)
    array = _read(npz, body)
    if kind == "tensor":
        return Tensor(array, requires_grad=node[2])
    if kind == "array":
        return array
    return array[()] if kind == "scalar" else array.item()


def load(f):
    """Read what ``save`` wrote to ``f`` (a path or a binary file object).

    A plain ``.npz`` (one written from a flat state dict, or by ``np.savez``) gives a dict
    from name to numpy array, in file order. Files are read with ``allow_pickle=False``.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> buf = io.BytesIO()
    >>> ad.save({"w": ad.tensor([1.0, 2.0]), "betas": (0.9, 0.999), "name": "run"}, buf)
    >>> _ = buf.seek(0)
    >>> ad.load(buf)
    {'w': Tensor([1., 2.], dtype=float64), 'betas': (0.9, 0.999), 'name': 'run'}
    """
    npz = np.load(f, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {f!r} holds one .npy array, not an .npz archive")  # noqa: TRY004
    with npz:
        if TREE not in npz.files:
            return {name: _read(npz, name) for name in npz.files}
        return _decode(json.loads(_read(npz, TREE).item()), npz)

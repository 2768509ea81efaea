"""``ad.data``: minibatches for training loops.

``batches(X, y, batch_size)`` is the short way; ``TensorDataset`` and ``DataLoader``
are PyTorch's names for the same thing (``DataLoader`` also takes any dataset with
``__len__`` and ``__getitem__``). Every batch is a copy, gathered by index: it never
shares memory with the arrays given, so writing into a batch cannot change the data.
Tensors give Tensors (gathered with indexing, so a gradient flows back to a data
Tensor that requires grad), numpy arrays give numpy arrays (integer labels stay
integers). Shuffling draws from the generator given, else from the library's default
generator (which ``ad.manual_seed`` seeds).
"""

import math

import numpy as np

from .ops.shape import stack
from .tensor import Tensor

__all__ = ["DataLoader", "TensorDataset", "batches"]


def _generator(generator, where):
    """``generator`` (a numpy ``Generator``), or the library's default one when None."""
    if generator is None:
        try:
            from . import rng
        except ModuleNotFoundError as e:  # (a build without ad.manual_seed)
            if e.name != f"{__package__}.rng":
                raise
            return np.random.default_rng()
        return rng.default_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{where}: generator must be a numpy Generator "
                        f"(np.random.default_rng(seed)) or None, got {type(generator).__name__}")
    return generator


def _samples(value, name, where):
    """``value`` as indexable samples along axis 0: a Tensor or a numpy array."""
    if not isinstance(value, Tensor):
        value = np.asarray(value)
    if value.ndim == 0:
        raise ValueError(f"{where}: {name} of shape () has no sample axis, expected shape "
                         "(n_samples, ...)")
    return value


def _batch_size(value, where):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: batch_size must be a positive int, got {value!r}")
    return int(value)


def _chunks(order, batch_size, drop_last):
    """The index arrays of the batches: ``order`` cut every ``batch_size``."""
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    return (order[i:i + batch_size] for i in range(0, stop, batch_size))


def batches(X, y=None, batch_size=32, shuffle=True, seed=None, drop_last=False):
    """Minibatches of ``X`` (and ``y``), in a random order unless ``shuffle=False``.

    Parameters
    ----------
    X, y : Tensor or array-like
        Samples along axis 0; ``y`` (optional) has as many as ``X``.
    batch_size : int
        Samples per batch; the last batch is smaller unless ``drop_last``.
    shuffle : bool
        Visit the samples in a random order (else in order).
    seed : int, numpy Generator or None
        The order's seed: the same int gives the same order; a Generator gives a new
        order each call; None draws from the library's default generator.

    Yields
    ------
    ``X_batch``, or ``(X_batch, y_batch)`` when ``y`` is given: copies, Tensors for
    Tensors and numpy arrays otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [yb.tolist() for _, yb in ad.data.batches(X, y, batch_size=2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> for xb in ad.data.batches(ad.tensor(X), batch_size=4, seed=0, drop_last=True):
    ...     print(xb.shape)
    (4, 2)
    """
    arrays = [_samples(X, "X", "batches")]
    if y is not None:
        arrays.append(_samples(y, "y", "batches"))
        if len(arrays[1]) != len(arrays[0]):
            raise ValueError(f"batches: X has {len(arrays[0])} samples and y has "
                             f"{len(arrays[1])} (shapes {arrays[0].shape} and "
                             f"{arrays[1].shape}), expected the same number")
    size = _batch_size(batch_size, "batches")
    n = len(arrays[0])
    if shuffle:
        gen = _generator(None, "batches") if seed is None else np.random.default_rng(seed)
        order = gen.permutation(n)
    else:
        order = np.arange(n)
    return ((arrays[0][i] if y is None else (arrays[0][i], arrays[1][i]))
            for i in _chunks(order, size, drop_last))


class TensorDataset:
    """Samples held in Tensors (or arrays) sharing their first dimension, as PyTorch's.

    ``dataset[i]`` is the tuple of the ``i``-th rows; ``len(dataset)`` the number of
    samples. Tensors stay Tensors and anything else becomes a numpy array (so integer
    labels stay integers).

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> ds = ad.data.TensorDataset(ad.ones((3, 2)), np.array([0, 1, 0]))
    >>> x, label = ds[1]
    >>> len(ds), x, int(label)
    (3, Tensor([1., 1.], dtype=float64), 1)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        self.tensors = tuple(_samples(t, f"tensor {i}", "TensorDataset")
                             for i, t in enumerate(tensors))
        lengths = [len(t) for t in self.tensors]
        if len(set(lengths)) > 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions "
                             f"{tuple(lengths)}, expected them equal")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


def _collate(samples):
    """A batch from a list of samples, field by field as PyTorch's ``default_collate``:
    Tensors stacked into a Tensor, numbers and arrays into a numpy array, tuples and
    lists into a list of batches, dicts into a dict of batches."""
    first = samples[0]
    if isinstance(first, Tensor):
        return stack(samples)
    if isinstance(first, (tuple, list)):
        return [_collate(list(field)) for field in zip(*samples, strict=True)]
    if isinstance(first, dict):
        return {k: _collate([s[k] for s in samples]) for k in first}
    return np.stack([np.asarray(s) for s in samples])


class DataLoader:
    """Batches of a dataset, as PyTorch's ``DataLoader`` (single process).

    Iterating gives one batch per ``batch_size`` samples, a new random order each pass
    when ``shuffle`` (drawn from ``generator``, a numpy ``Generator``, else from the
    library's default generator). A ``TensorDataset`` gives a list of batched Tensors
    or arrays, one per field, gathered at once; another dataset (any object with
    ``__len__`` and ``__getitem__``) has its samples collated field by field.

    Examples
    --------
    >>> import numpy as np
    >>> import pyautodiff as ad
    >>> ds = ad.data.TensorDataset(ad.ones((5, 2)), np.arange(5))
    >>> loader = ad.data.DataLoader(ds, batch_size=2, shuffle=True,
    ...                             generator=np.random.default_rng(0))
    >>> len(loader), [xb.shape for xb, _ in loader]
    (3, [(2, 2), (2, 2), (1, 2)])
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None):
        self.dataset = dataset
        self.batch_size = _batch_size(batch_size, "DataLoader")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if generator is not None:
            _generator(generator, "DataLoader")
        self.generator = generator

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.dataset)
        order = (_generator(self.generator, "DataLoader").permutation(n) if self.shuffle
                 else np.arange(n))
        for idx in _chunks(order, self.batch_size, self.drop_last):
            if isinstance(self.dataset, TensorDataset):
                yield list(self.dataset[idx])
            else:
                yield _collate([self.dataset[int(i)] for i in idx])

"""The library's default random generator and ``manual_seed``, as PyTorch's.

Whatever draws random numbers without being given a generator of its own (Dropout's
masks, the initial weights of a layer built without ``seed=``) draws them from
``default_generator()``, so ``ad.manual_seed(0)`` at the top of a script makes the whole
run repeatable, as ``torch.manual_seed(0)`` does.
"""

import numpy as np

# One generator for the process. manual_seed reseeds it in place, so a reference taken
# before (``g = default_generator()``) sees the new seed too.
_default = np.random.default_rng()


def manual_seed(seed):
    """Reseed the default generator with ``seed`` (a non-negative int); returns it.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> g = ad.manual_seed(0)
    >>> a = g.random(3)
    >>> _ = ad.manual_seed(0)
    >>> bool((ad.rng.default_generator().random(3) == a).all())
    True
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be non-negative, got {seed}")
    _default.bit_generator.state = type(_default.bit_generator)(int(seed)).state
    return _default


def default_generator():
    """The numpy ``Generator`` that library code draws from when given none.

    Examples
    --------
    >>> import numpy as np
    >>> from pyautodiff import rng
    >>> isinstance(rng.default_generator(), np.random.Generator)
    True
    """
    return _default


def as_generator(seed, where="as_generator"):
    """The generator a ``seed=`` (or ``generator=``) argument names: the default generator
    for None, a numpy ``Generator`` itself, a new generator seeded with a non-negative int
    (or anything else ``np.random.default_rng`` takes); numpy's TypeError or ValueError,
    naming ``where``, else.

    Examples
    --------
    >>> from pyautodiff import rng
    >>> rng.as_generator(None) is rng.default_generator()
    True
    >>> float(rng.as_generator(3).random()) == float(rng.as_generator(3).random())
    True
    """
    if seed is None:
        return _default
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{where}: seed must be None, a non-negative int or a numpy "
                        f"Generator, got {type(seed).__name__} {seed!r} ({e})") from None

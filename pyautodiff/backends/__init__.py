"""The active backend and the switch between backends.

``active`` is the module whose kernels ops call. It is process-wide, as the API
says: a backend is a choice of implementation, not of numbers, so threads that
see a switch mid-computation still get the same values.
"""

import contextlib
import importlib
import importlib.util
import os
import warnings

from . import numpy_backend

NAMES = ("c", "numpy")


def _load_c():
    """The C backend module, or None (with one warning) when the compiled core did not load."""
    try:
        return importlib.import_module(".c_backend", __name__)
    except (ImportError, AttributeError) as e:
        # AttributeError: a compiled module older than the sources (a name missing)
        reason = str(e)
        if importlib.util.find_spec("pyautodiff._pyad_c") is None:
            reason = "the compiled module pyautodiff._pyad_c was not built at install"
        if os.environ.get("PYAUTODIFF_BACKEND", "").strip().lower() != "numpy":
            warnings.warn(
                f"pyautodiff: the C core is not available ({reason}); "
                "running on the numpy backend",
                RuntimeWarning, stacklevel=3,
            )
        return None


_c = _load_c()


def c_available():
    """Whether the compiled C core loaded.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.c_available() in (True, False)
    True
    """
    return _c is not None


def get_backend():
    """The name of the active backend: ``"c"`` or ``"numpy"``.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> with ad.use_backend("numpy"):
    ...     ad.get_backend()
    'numpy'
    """
    return active.NAME


def _module(name):
    if name not in NAMES:
        raise ValueError(f"set_backend: unknown backend {name!r}, expected one of {NAMES}")
    if name == "numpy":
        return numpy_backend
    if _c is None:
        raise RuntimeError(
            "set_backend: the C core is not available (it was not built or did not load); "
            "use the 'numpy' backend"
        )
    return _c


def set_backend(name):
    """Switch the backend for the whole process.

    Parameters
    ----------
    name : {"c", "numpy"}

    Examples
    --------
    >>> import pyautodiff as ad
    >>> before = ad.get_backend()
    >>> ad.set_backend("numpy")
    >>> ad.get_backend()
    'numpy'
    >>> ad.set_backend(before)
    """
    global active
    active = _module(name)


@contextlib.contextmanager
def use_backend(name):
    """Use backend ``name`` inside a ``with`` block, then restore the previous one.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> with ad.use_backend("numpy"):
    ...     (ad.tensor([1.0, 2.0]) * 2).numpy()
    array([2., 4.])
    """
    global active
    previous = active
    active = _module(name)
    try:
        yield
    finally:
        active = previous


def _initial():
    name = os.environ.get("PYAUTODIFF_BACKEND", "").strip().lower()
    if not name:
        return _c or numpy_backend
    try:
        return _module(name)
    except (ValueError, RuntimeError) as e:
        warnings.warn(f"PYAUTODIFF_BACKEND={name!r} ignored: {e}", RuntimeWarning, stacklevel=2)
        return numpy_backend


active = _initial()

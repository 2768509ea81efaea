"""The active backend and the switch between backends.

``current()`` is the module whose kernels ops call in the calling thread (the
engine reads it on every op, as ``common or state.active``). ``set_backend``
chooses the process-wide backend, which every thread uses outside ``use_backend``
blocks; a ``use_backend`` block chooses the backend of its own thread alone, as
``no_grad`` does, so threads with overlapping blocks never see each other's choice.
"""

import contextlib
import importlib
import importlib.util
import os
import threading
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
    return current().NAME


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


class _State(threading.local):
    """``active``: the process-wide backend (a class attribute, ``set_backend``'s),
    unless a ``use_backend`` block of the calling thread set the thread's own."""

    active = None


state = _State()
# The backend every thread is on when they all agree (no thread has a backend of its own
# other than the process-wide one), else None. Ops read ``common or state.active``: one
# module attribute in the usual case, where a thread-local read alone costs about 45 ns
# (measured), a few percent of an op on small arrays. (For the same reason this module
# has no ``__getattr__``: with one, Python does not specialize reads of its attributes.)
common = None
_own = {}  # backend -> how many threads have it as their own (inside use_backend blocks)
_lock = threading.RLock()


def _own_backend(own, module):
    """Make ``module`` the calling thread's own backend (``own`` is its ``state.__dict__``;
    None: back to the process-wide one), and ``common`` what all threads now agree on."""
    global common
    with _lock:
        old = own.pop("active", None)
        if old is not None:
            _own[old] -= 1
        if module is not None:
            own["active"] = module
            _own[module] = _own.get(module, 0) + 1
        default = _State.active
        common = None if any(n for m, n in _own.items() if m is not default) else default


def set_backend(name):
    """Switch the backend for the whole process: every thread uses it from its next op,
    except inside a ``use_backend`` block of another thread, which keeps its block's
    backend until the block ends. Called inside a ``use_backend`` block, it also switches
    the calling thread at once; the block's end still restores what was in force before
    the block (the new process-wide backend, for an outermost block).

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
    module = _module(name)
    own = state.__dict__
    with _lock:
        _State.active = module
        _own_backend(own, module if "active" in own else None)


@contextlib.contextmanager
def use_backend(name):
    """Use backend ``name`` inside a ``with`` block in the calling thread, then restore
    the previous one. Other threads are not affected, as with ``no_grad``: each thread
    starts on the process-wide backend (``set_backend``'s).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> with ad.use_backend("numpy"):
    ...     (ad.tensor([1.0, 2.0]) * 2).numpy()
    array([2., 4.])
    """
    module = _module(name)
    own = state.__dict__
    previous = own.get("active")
    _own_backend(own, module)
    try:
        yield
    finally:
        _own_backend(own, previous)


def current():
    """The calling thread's backend module (what ops compute with).

    Examples
    --------
    >>> from pyautodiff import backends
    >>> with backends.use_backend("numpy"):
    ...     backends.current().NAME
    'numpy'
    """
    # (the engine inlines this expression: a call would cost more than the read)
    return common or state.active


def _initial():
    """The starting backend: PYAUTODIFF_BACKEND's, else (and when it names no backend
    that can run, with a warning) the default, C when it loaded."""
    default = _c or numpy_backend
    name = os.environ.get("PYAUTODIFF_BACKEND", "").strip().lower()
    if not name:
        return default
    try:
        return _module(name)
    except (ValueError, RuntimeError) as e:
        warnings.warn(f"PYAUTODIFF_BACKEND={name!r} ignored, using the {default.NAME!r} "
                      f"backend: {e}", RuntimeWarning, stacklevel=2)
        return default


_State.active = common = _initial()

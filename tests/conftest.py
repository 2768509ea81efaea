"""Shared fixtures: ``backend`` (every backend the suite knows), ``dtype`` and ``rng``.

A missing C core is a failure, not a quiet skip: every "c" test fails if
``ad.c_available()`` is False. On a machine that cannot compile the core, set
``PYAUTODIFF_SKIP_C=1`` (the one switch below) to skip those tests instead.
"""

import contextlib
import os
import threading

import numpy as np
import pytest

import pyautodiff as ad

# The single switch: PYAUTODIFF_SKIP_C=1 skips the "c" tests when the core is missing.
REQUIRE_C = os.environ.get("PYAUTODIFF_SKIP_C", "0").strip() in ("", "0")

BACKENDS = ("numpy", "c")

SEED = 20240531

# The C thresholds as their modules define them, read before any fixture lowers them.
if ad.c_available():
    from pyautodiff.backends import c_backend as _c_backend
    from pyautodiff.backends import fused as _fused

    REAL_THRESHOLDS = (_c_backend.THRESHOLD, _c_backend.THRESHOLD_F32, _fused.MIN_SIZE)


def require_backend(name):
    """Fail (or, with PYAUTODIFF_SKIP_C=1, skip) when backend ``name`` cannot run."""
    if name == "c" and not ad.c_available():
        if REQUIRE_C:
            pytest.fail("the C core did not load (ad.c_available() is False); "
                        "set PYAUTODIFF_SKIP_C=1 to skip the C tests on such a machine")
        pytest.skip("the C core is not built and PYAUTODIFF_SKIP_C=1")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test with ``request.param`` as the active backend (restored afterwards)."""
    name = request.param
    require_backend(name)
    with ad.use_backend(name), c_threshold(0):
        assert ad.get_backend() == name
        yield name


@contextlib.contextmanager
def c_threshold(n, fuse=True):
    """Send arrays of ``n`` or more elements to the C kernels, and backward formulas
    on them to fused programs (0: all, so small test arrays exercise C rather than
    the numpy fallback); ``fuse=False`` keeps the backward pass on eager kernels."""
    if not ad.c_available():
        yield
        return
    from pyautodiff.backends import c_backend, fused

    before = c_backend.THRESHOLD, c_backend.THRESHOLD_F32, fused.MIN_SIZE
    c_backend.THRESHOLD = c_backend.THRESHOLD_F32 = n
    fused.MIN_SIZE = n if fuse else 1 << 62
    try:
        yield
    finally:
        c_backend.THRESHOLD, c_backend.THRESHOLD_F32, fused.MIN_SIZE = before


@contextlib.contextmanager
def real_thresholds():
    """The C thresholds at their module defaults (inside ``backend``, which lowers them
    to 0), so arrays take the paths they take in real use: numpy kernels below 2**15
    elements, C kernels and fused backward programs above."""
    if not ad.c_available():
        yield
        return
    from pyautodiff.backends import c_backend, fused

    before = c_backend.THRESHOLD, c_backend.THRESHOLD_F32, fused.MIN_SIZE
    c_backend.THRESHOLD, c_backend.THRESHOLD_F32, fused.MIN_SIZE = REAL_THRESHOLDS
    try:
        yield
    finally:
        c_backend.THRESHOLD, c_backend.THRESHOLD_F32, fused.MIN_SIZE = before


@pytest.fixture(params=[(3, False), (70000, False), (70000, True)],
                ids=["n3", "n70000", "n70000-real"])
def size(request, backend):
    """A number of elements below and above the C thresholds, on ``backend``: 3, 70000
    with the thresholds at 0 (as ``backend`` sets them), 70000 with the real ones."""
    n, real = request.param
    with real_thresholds() if real else contextlib.nullcontext():
        yield n


@pytest.fixture
def require_c():
    """For tests that compare backends: skip (or fail, see above) without the C core."""
    require_backend("c")


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    """A seeded generator: every test sees the same numbers on every run."""
    return np.random.default_rng(SEED)


@pytest.fixture
def restore_backend():
    """For tests that call ``set_backend``: put the process-wide backend back."""
    before = ad.get_backend()
    yield
    ad.set_backend(before)


def in_threads(work, count):
    """Run ``work(i)`` for i in range(count) at once, one thread each; the first error
    of any thread is re-raised here."""
    errors = []

    def run(i):
        try:
            work(i)
        except BaseException as e:  # noqa: BLE001  (reported in the main thread)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def restore_registry():
    """Take the primitives (``ad.primitive``) a test registers out of the op registry and
    ``P`` again, so the registry's own tests see only the library's ops."""
    from pyautodiff.ops import REGISTRY, P

    before, names = dict(REGISTRY), dict(vars(P))
    yield
    REGISTRY.clear()
    REGISTRY.update(before)
    vars(P).clear()
    vars(P).update(names)

"""Shared fixtures: ``backend`` (every backend the suite knows), ``dtype`` and ``rng``.

The C core arrives in a later issue. Until then the "c" parameter of the
``backend`` fixture is skipped when the core did not load. Once the core
exists, a missing core must be a failure, not a quiet skip: CI (and the C
issue's ``.ci/run``) exports ``PYAUTODIFF_REQUIRE_C=1``, the one switch below,
and then every "c" test fails if ``ad.c_available()`` is False.
"""

import os

import numpy as np
import pytest

import pyautodiff as ad

# The single switch: with PYAUTODIFF_REQUIRE_C=1 a missing C core FAILS the "c" tests.
REQUIRE_C = os.environ.get("PYAUTODIFF_REQUIRE_C", "0").strip() not in ("", "0")

BACKENDS = ("numpy", "c")

SEED = 20240531


def require_backend(name):
    """Skip (or, with PYAUTODIFF_REQUIRE_C=1, fail) when backend ``name`` cannot run."""
    if name == "c" and not ad.c_available():
        if REQUIRE_C:
            pytest.fail("PYAUTODIFF_REQUIRE_C=1 but the C core did not load (ad.c_available())")
        pytest.skip("the C core is not built (set PYAUTODIFF_REQUIRE_C=1 to make this fail)")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Run the test with ``request.param`` as the active backend (restored afterwards)."""
    name = request.param
    require_backend(name)
    # When the C backend exists, its size threshold (below which it falls back
    # to numpy kernels) should be set to 0 here so small test arrays exercise C.
    with ad.use_backend(name):
        assert ad.get_backend() == name
        yield name


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

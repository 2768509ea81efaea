"""Helpers shared by the benchmark modules (imported as ``benchutil``: pytest's default
``prepend`` import mode puts this folder on ``sys.path`` for the test modules in it).

- ``peer(name)``: import an optional peer library (torch, and later autograd, mygrad), or skip
  the test. A peer that is missing or broken is a skip, never a failure.
- ``skip_large_when_disabled(benchmark, n)``: under ``--benchmark-disable`` each body runs once
  to show the code still works; the largest sizes add nothing to that but time.
- ``run(benchmark, fn, n)``: time ``fn``; sizes of ``LARGE`` elements and up use a fixed,
  small number of rounds (``pedantic``) so one benchmark stays within a few seconds.
- ``record_bandwidth(benchmark, nbytes)``: ``extra_info["GB_per_s"]`` from the median.
- ``assert_close(actual, desired, rtol)``: relative comparison whose absolute floor scales with
  the reference's magnitude, so elements that cancel to near zero do not fail a correct result.
"""

import importlib

import numpy as np
import pytest

LARGE = 10**7
LARGE_ROUNDS = 5


def peer(name):
    """The module ``name`` (for example ``"torch"``), or skip the calling test."""
    try:
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001  (ImportError, or a wheel whose libraries fail to load)
        pytest.skip(f"{name} is not importable ({type(e).__name__}: {e})")


def skip_large_when_disabled(benchmark, n, limit=LARGE):
    """Skip sizes of ``limit`` elements and up under ``--benchmark-disable``."""
    if benchmark.disabled and n >= limit:
        pytest.skip(f"n={n} skipped under --benchmark-disable (runs only when timing)")


def run(benchmark, fn, n, rounds=LARGE_ROUNDS):
    """Time ``fn()`` and return its result; ``pedantic`` with ``rounds`` rounds for big ``n``."""
    if n >= LARGE:
        return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    return benchmark(fn)


def median(benchmark):
    """The median time of the finished benchmark in seconds, or None when not timed."""
    if benchmark.stats is None:  # --benchmark-disable: ran once, no statistics
        return None
    return benchmark.stats.stats.median


def record_bandwidth(benchmark, nbytes):
    """Store the bytes one call moves and the bandwidth that implies at the median."""
    benchmark.extra_info["bytes_per_call"] = int(nbytes)
    t = median(benchmark)
    if t:
        benchmark.extra_info["GB_per_s"] = nbytes / t / 1e9


def assert_close(actual, desired, rtol, scale=None, name="value"):
    """``|actual - desired| <= rtol * (|desired| + scale)`` elementwise.

    ``scale`` (a number, or an array broadcasting against ``desired``) defaults to
    ``max|desired|``; for a sum pass the sum of the absolute terms (the size of the rounding
    error any correct order of summation may make).
    """
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, f"{name}: shape {actual.shape} != {desired.shape}"
    if scale is None:
        scale = np.max(np.abs(desired)) if desired.size else 0.0
    err = np.abs(actual - desired)
    tol = rtol * (np.abs(desired) + scale)
    bad = ~(err <= tol)  # NaN counts as a mismatch
    if np.any(bad):
        i = (
            np.unravel_index(
                np.argmax(np.where(bad, err / np.where(tol > 0, tol, 1), 0)), bad.shape
            )
            if bad.ndim
            else ()
        )
        i = tuple(int(k) for k in i)
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {bad.size} elements differ beyond rtol={rtol} "
            f"(floor {rtol} * scale); worst at {i}: {actual[i]!r} vs reference {desired[i]!r}"
        )

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
- ``label(benchmark, variant, ops=None)``: what ``benchmarks/report.py`` reads (see below);
  ``variants(...)``: a workload's table of variants, in the report's column order.

Conventions the report relies on (``benchmarks/report.py``):

- each benchmark names its row of the table with its pytest-benchmark ``group`` (for
  example ``"elementwise 1e6 float64"``), one group per workload and size, every
  variant of that workload in the same group;
- each calls ``label(benchmark, variant)`` with its column: ``"c"`` and ``"numpy"``
  (pyautodiff's two backends), ``"compiled"`` (``ad.compile`` of the step, default
  backend), the peers ``"torch"``, ``"autograd"``, ``"mygrad"``, and
  ``"floor"`` for the hand-written numpy (or other) lower bound; ``ops=`` the number of
  ops one call runs, when the row is to be read per op (the overhead chain);
- memory-bound rows record their bytes per call (``record_bandwidth``); the C triad
  calls ``label(benchmark, "c", probe=True)``: its GB/s is the machine's bandwidth.
"""

import importlib

import numpy as np
import pytest

LARGE = 10**7
LARGE_ROUNDS = 5
VARIANTS = ("c", "numpy", "compiled", "torch", "autograd", "mygrad", "floor")


def peer(name):
    """The module ``name`` (for example ``"torch"``), or skip the calling test."""
    try:
        return importlib.import_module(name)
    except Exception as e:  # noqa: BLE001  (ImportError, or a wheel whose libraries fail to load)
        pytest.skip(f"{name} is not importable ({type(e).__name__}: {e})")


def variants(make_pyautodiff, compiled, torch, autograd, mygrad, floor):
    """A workload's ``{variant: make}`` table in the report's column order: pyautodiff on
    its two backends (``make_pyautodiff(backend)`` returns a ``make``), under
    ``ad.compile``, the peers' makes and the floor's."""
    return {"c": make_pyautodiff("c"), "numpy": make_pyautodiff("numpy"),
            "compiled": compiled, "torch": torch, "autograd": autograd, "mygrad": mygrad,
            "floor": floor}


def label(benchmark, variant, ops=None, probe=False):
    """Name the table column this benchmark times (one of ``VARIANTS``); ``ops``: ops per call
    (the report shows time per op); ``probe``: this is the bandwidth probe (the C triad)."""
    assert variant in VARIANTS, f"unknown variant {variant!r}: one of {VARIANTS}"
    benchmark.extra_info["variant"] = variant
    if ops is not None:
        benchmark.extra_info["ops_per_call"] = int(ops)
    if probe:
        benchmark.extra_info["bandwidth_probe"] = True


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

"""One full-batch gradient of a linear regression's sum of squares at (10^6, 10) float64:
``ad.dask.value_and_grad`` on a ``LocalCluster`` of 2 worker processes (one thread each,
the data persisted in the workers as 4 chunks of 250000 rows) against pyautodiff's
``backward`` on the whole arrays in memory (active backend).

A report, not a race: on the two cores of this machine the cluster cannot be faster than
the in-memory pass (the same work split in two, plus the messages of each evaluation);
the point is that the same call runs unchanged on a real cluster. Each benchmark records
``rows_per_s`` (rows / median) in its ``extra_info``. Not a column of ``report.py``'s
table (which has no variant for a cluster): read pytest-benchmark's own table.

Before timing, the cluster's value and gradient are checked against the in-memory ones
(rtol 1e-12 of the sum of the terms' sizes, the rounding any order of summation may make).
Skipped without the ``[dask]`` extra, and under ``--benchmark-disable`` (10^7 elements, as
every benchmark of that size).

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_dask_gradient.py --benchmark-only
"""

import functools
import logging

import numpy as np
import pytest
from benchutil import assert_close, run, skip_large_when_disabled

import pyautodiff as ad

N, D, CHUNK = 10**6, 10, 250_000
SEED = 20240607
GROUP = f"dask gradient ({N}, {D}) float64"


def chunk(k):
    """Rows ``k * CHUNK`` to ``(k + 1) * CHUNK`` of ``X`` and ``y`` (seeded per chunk, so a
    worker makes its chunks itself: no 80 MB graph to send)."""
    rng = np.random.default_rng([SEED, k])
    X = rng.standard_normal((CHUNK, D))
    return X, X @ np.linspace(-1.0, 1.0, D) + 0.5 + 0.1 * rng.standard_normal(CHUNK)


@functools.lru_cache(maxsize=1)
def inputs():
    parts = [chunk(k) for k in range(N // CHUNK)]
    X, y = np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])
    return X, y, (0.1 * np.arange(D) - 0.3, np.array([-0.2]))


def in_memory(X, y, params):
    w, b = (ad.tensor(p, requires_grad=True) for p in params)
    loss = ad.dask.linear_loss((w, b), ad.tensor(X), ad.tensor(y))
    loss.backward()
    return loss.item(), (w.grad.numpy(), b.grad.numpy())


@pytest.fixture(scope="module")
def cluster_data():
    """A client of a 2-process LocalCluster and X, y persisted in its workers."""
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        parts = [dask.delayed(chunk)(k) for k in range(N // CHUNK)]
        dX = da.concatenate([da.from_delayed(p[0], (CHUNK, D), np.float64) for p in parts])
        dy = da.concatenate([da.from_delayed(p[1], (CHUNK,), np.float64) for p in parts])
        dX, dy = client.persist([dX, dy])
        yield client, dX, dy
    finally:
        client.close()
        cluster.close()


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("where", ["in memory", "LocalCluster"])
def test_dask_gradient(benchmark, request, where):
    pytest.importorskip("distributed")
    skip_large_when_disabled(benchmark, N * D)
    X, y, params = inputs()
    if where == "in memory":
        step = functools.partial(in_memory, X, y, params)
    else:
        client, dX, dy = request.getfixturevalue("cluster_data")

        def step():
            with client.as_current():
                return ad.dask.value_and_grad(ad.dask.linear_loss, params, dX, dy)

    value, grads = step()  # checked once, before timing
    ref_value, ref_grads = in_memory(X, y, params)
    r = np.abs(X @ params[0] + params[1] - y)  # the size of each row's residual
    assert_close(value, ref_value, 1e-12, scale=float(r @ r), name="value")
    assert_close(grads[0], ref_grads[0], 1e-12, scale=2 * np.abs(X).T @ r, name="d/dw")
    assert_close(grads[1], ref_grads[1], 1e-12, scale=2 * r.sum(), name="d/db")

    run(benchmark, step, N * D)
    benchmark.extra_info["rows_per_s"] = N / benchmark.stats.stats.median

"""One epoch of minibatch training from a CSV file: read in chunks (streaming) vs read whole.

The work of ``python -m pyautodiff --csv FILE --target y --batch-size 4096 --epochs 1``, from
the file on disk to the trained parameters, timed three ways (the variants; one group per
size and CSV reader):

- ``in memory``: the whole file read (``tabular.load_table``), then the two passes over its
  arrays in chunks: the statistics (``scan``), then the epoch (``fit_minibatch``);
- ``streaming``: the file read in chunks for the statistics, its numbers kept in a
  temporary file (``ChunkCache``), the epoch read back from it: the default of
  ``--batch-size``, whose memory does not grow with the file;
- ``streaming, no cache``: the file parsed again for the epoch (``--no-cache``).

Each call reads and parses the file at least once, so the rows per second are those of
parsing first (numpy's ``loadtxt`` or pyarrow's reader), training second; ``extra_info``
holds ``rows_per_s`` of the whole call (at the median) and ``epoch_rows_per_s``, the epoch's
training alone. The data: 10 float64 features and the target, a block of 10^4 random rows
written over and over (the parsing and training work of as many random rows; quick to write),
in a directory made once per session. Sizes: 10^6 rows (221 MB of text; only when timing)
and 2 * 10^4 (also under ``--benchmark-disable``, once each: the code still works). Batches of
4096 rows, chunks of ``default_chunk_rows`` (94208 rows), SGD with momentum, seed 0.

Before a variant's result counts, its parameters are checked equal, bit for bit, to the
other variants' of the same size and reader (the same chunks and seed give the same steps),
and, at 10^6 rows, to the least-squares solution within the noise of one epoch of SGD.

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_streaming_epoch.py --benchmark-only
"""

import functools

import numpy as np
import pytest
from benchutil import median, skip_large_when_disabled

from pyautodiff import __main__ as cli
from pyautodiff.tabular import ChunkCache, arrow_available, load_table, open_table

SEED = 20240603
FEATURES = 10
BLOCK = 10_000
BATCH = 4096
ROUNDS = 3
SIZES = [10**6, 2 * 10**4]
READERS = ["numpy", "arrow"]
VARIANTS = ["in memory", "streaming", "streaming, no cache"]
ROWS = cli.default_chunk_rows(BATCH, FEATURES + 1)


@pytest.fixture(scope="session")
def csv_file(tmp_path_factory):
    """``csv_file(n)``: the path of the data file of ``n`` rows, and its block's X and y."""
    directory = tmp_path_factory.mktemp("streaming")
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((BLOCK, FEATURES)) * rng.uniform(0.1, 10, FEATURES)
    y = X @ rng.standard_normal(FEATURES) + 3.0 + rng.standard_normal(BLOCK)
    text = "".join(",".join(map(repr, row)) + "\n" for row in np.column_stack([X, y]).tolist())

    @functools.cache
    def make(n):
        path = directory / f"data{n}.csv"
        with open(path, "w") as f:
            f.write(",".join([f"x{i}" for i in range(FEATURES)] + ["y"]) + "\n")
            f.writelines([text] * (n // BLOCK))
        return path, X, y

    return make


def epoch(chunks, scan_chunks, cache=None):
    """The statistics pass over ``scan_chunks``, then one epoch over ``chunks()``."""
    moments, _ = cli.scan(scan_chunks, cache)
    scale = cli.Standardized.from_moments(moments)
    return cli.fit_minibatch(chunks, scale, BATCH, epochs=1, seed=0)


def in_memory(path, reader):
    _, X, y = load_table(path, "y", reader)
    return epoch(lambda: cli.array_chunks(X, y, ROWS), cli.array_chunks(X, y, ROWS))


def streaming(path, reader):
    table = open_table(path, "y", reader)
    with ChunkCache() as cache:
        return epoch(lambda: ((A[:, :-1], A[:, -1]) for A in cache), table.chunks(ROWS), cache)


def streaming_no_cache(path, reader):
    table = open_table(path, "y", reader)
    return epoch(lambda: table.chunks(ROWS), table.chunks(ROWS))


RUN = dict(zip(VARIANTS, [in_memory, streaming, streaming_no_cache]))
RESULTS = {}  # (n, reader) -> the parameters of the first variant that ran


CASES = [
    pytest.param(n, reader, variant, id=f"{n:.0e}-{reader}-{variant.replace(', ', '-')}",
                 marks=pytest.mark.benchmark(
                     group=f"one epoch from CSV ({n:.0e}, {FEATURES}) float64, {reader}"))
    for n in SIZES for reader in READERS for variant in VARIANTS
]


@pytest.mark.parametrize("n, reader, variant", CASES)
def test_streaming(benchmark, csv_file, n, reader, variant):
    skip_large_when_disabled(benchmark, n, limit=10**6)
    if reader == "arrow" and not arrow_available():
        pytest.skip("pyarrow is not installed (the data extra)")
    path, X, y = csv_file(n)
    if n >= 10**6:
        result = benchmark.pedantic(RUN[variant], (path, reader), rounds=ROUNDS, iterations=1)
    else:
        result = benchmark(RUN[variant], path, reader)

    params = np.append(result.coef, result.intercept)
    first = RESULTS.setdefault((n, reader), params)
    np.testing.assert_array_equal(params, first)
    if n >= 10**6:  # 245 steps: near the solution; 5 steps (the small size) are not
        reference = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)[0]
        np.testing.assert_allclose(params, reference, rtol=0,
                                   atol=0.05 * np.abs(reference).max())
    assert result.rows == n and result.status == "done"
    t = median(benchmark)
    if t:
        benchmark.extra_info["rows_per_s"] = n / t
    benchmark.extra_info["epoch_rows_per_s"] = result.rows / result.seconds

"""Data in chunks (``pyautodiff.tabular``) and minibatch training on it (``python -m pyautodiff
--batch-size``).

The references are independent of the code under test: numpy's mean, std and covariance of
the whole data for the streamed statistics, the numbers a test wrote into a file for what the
readers read back, ``numpy.linalg.lstsq`` for the fits, a hand-written numpy minibatch SGD for
the training order, and the messages of ``tests/test_examples.py``'s ``CSV_ERRORS`` (the
contract of ``python -m pyautodiff``) for every reader. Every test that reads CSV runs with
numpy's reader and, where pyarrow is installed, pyarrow's.
"""

import os
import re
import runpy
import shlex
import subprocess
import sys

import numpy as np
import pytest
from test_examples import (
    CSV_ERRORS,
    ROOT,
    assert_matches_lstsq,
    csv_error_case,
    num,
    parse_table,
    without,  # noqa: F401  (a fixture)
    write_csv,
)

import pyautodiff.__main__ as cli
from pyautodiff import nn, tabular
from pyautodiff.tabular import ChunkCache, DataError, Moments, load_table, open_table


@pytest.fixture(params=["numpy", "arrow"])
def reader(request):
    """A CSV reader of ``tabular``; pyarrow's is skipped when pyarrow is not installed."""
    if request.param == "arrow":
        need_pyarrow()
    return request.param


def need_pyarrow():
    """Skip the test unless pyarrow (the ``data`` extra) imports, as ``tabular`` decides,
    and the process is not the sanitizer job's."""
    if not tabular.arrow_available():
        pytest.skip("pyarrow is not installed (the data extra)")
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # (ASan preloaded ahead of libstdc++ cannot intercept __cxa_throw: pyarrow's first
        # C++ exception aborts the interpreter; pyarrow is not our C code)
        pytest.skip("pyarrow under the sanitizer job: its C++ exceptions abort there")


def linear_data(n, p=3, noise=0.1, seed=0):
    """``X`` (n, p) in different units and far from zero, ``y = X @ coef + 4 + noise``."""
    rng = np.random.default_rng(seed)
    X = rng.normal([1e4, -3.0, 0.0][:p], [10.0, 0.01, 1000.0][:p], (n, p))
    y = X @ [0.5, 300.0, -0.002][:p] + 4.0 + noise * rng.standard_normal(n)
    return X, y


def write_data(path, X, y, names=("a", "b", "c")):
    """Write ``X`` and ``y`` (column ``y``) exactly (``num``) as CSV; returns ``path``."""
    rows = [[*map(num, x), num(t)] for x, t in zip(X, y)]
    return write_csv(path, [*names[:X.shape[1]], "y"], rows)


def main(capsys, *args):
    """``python -m pyautodiff *args`` in this process: (exit status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


# ----- reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("minibatch", [False, True], ids=["full-batch", "minibatch"])
@pytest.mark.parametrize("case", list(CSV_ERRORS))
def test_every_reader_gives_the_csv_error_messages(tmp_path, capsys, case, reader, minibatch):
    # test_examples's table, through both readers and both kinds of training (whose checks of
    # the data come from the whole data or from the streamed statistics).
    args, expected = csv_error_case(tmp_path, case)
    args += ["--reader", reader] + (["--batch-size", "2"] if minibatch else [])
    status, _, err = main(capsys, *args)
    assert status == 2 and err.startswith("error: "), err
    for piece in expected:
        assert piece in err, err


# (file contents, feature names, X, y): files that are unusual but correct.
VALID = {
    "crlf": ("a,y\r\n1,2\r\n3,4\r\n", ["a"], [[1], [3]], [2, 4]),
    "lone cr": ("a,y\r1,2\r3,4\r", ["a"], [[1], [3]], [2, 4]),
    "no newline at the end": ("a,y\n1,2\n3,4", ["a"], [[1], [3]], [2, 4]),
    "blank rows": ("a,y\n\n1,2\n   \n,\n3,4\n\n", ["a"], [[1], [3]], [2, 4]),
    "blank lines before the header": ("\n\na,y\n1,2\n3,4\n", ["a"], [[1], [3]], [2, 4]),
    "quoted cells": ('"a","y"\n"1",2\n3," 4 "\n', ["a"], [[1], [3]], [2, 4]),
    "byte-order mark": ("\ufeffa,y\n1,2\n3,5\n", ["a"], [[1], [3]], [2, 5]),
    "trailing commas": ("a,y,,\n1,2,,\n3,4, ,\n", ["a"], [[1], [3]], [2, 4]),
    "python's float syntax": ("a,y\n1_0,2\n.5,1e3\n-0.0,+7.\n", ["a"], [[10], [0.5], [-0.0]],
                              [2, 1000, 7]),
    "spaces around numbers": ("a , y\n 1 , 2\n3,4 \n", ["a"], [[1], [3]], [2, 4]),
    "a text column with a quoted line end": ('name,a,y\n"x\ny, z",1,2\nw,3,4\n', ["a"],
                                             [[1], [3]], [2, 4]),
    "target first": ("y,b,a\n2,1,5\n4,3,6\n", ["b", "a"], [[1, 5], [3, 6]], [2, 4]),
}


@pytest.mark.parametrize("case", list(VALID))
def test_unusual_but_valid_files(tmp_path, reader, case):
    contents, names, X, y = VALID[case]
    path = tmp_path / "d.csv"
    path.write_bytes(contents.encode())
    table, got_X, got_y = load_table(path, "y", reader)
    assert table.feature_names == names
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    assert np.signbit(got_X).tolist() == np.signbit(np.array(X, dtype=float)).tolist()
    # one row at a time: the same rows
    chunks = list(table.chunks(1))
    assert len(chunks) == len(y)
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), X)


def messy_file(path, n, bad_row=None):
    """A CSV file of ``n`` data rows written line by line, with blank lines, CRLF line ends,
    quoted text cells that span lines and hold commas and quotes, and unquoted ones with a
    quote inside (``12" screen``: no quoted cell opens there); cell ``a`` of data row
    ``bad_row`` is ``oops``. Returns ``X``, ``y`` and the line number of each data row."""
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((n, 2)) * [1, 1e-5], rng.standard_normal(n)
    lines, line_of = ["name,a,b,y"], []
    for i in range(n):
        if i % 7 == 3:
            lines.append("")  # a blank line
        name = (f'"row ""{i}"",\nsecond line"' if i % 5 == 0
                else f'{i}" screen' if i % 5 == 2 else f"row{i}")
        a = "oops" if i + 1 == bad_row else num(X[i, 0])
        lines.append(f"{name},{a},{num(X[i, 1])},{num(y[i])}")
        line_of.append(sum(line.count("\n") + 1 for line in lines))
    path.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    return X, y, line_of


def test_pieces_cut_outside_quoted_cells(tmp_path, reader, monkeypatch):
    # Pieces of 100 bytes: every piece boundary falls near a quoted cell with a line end.
    monkeypatch.setattr(tabular, "PIECE_BYTES", 100)
    monkeypatch.setattr(tabular, "SAMPLE_BYTES", 100)
    X, y, _ = messy_file(tmp_path / "m.csv", 300)
    table, got_X, got_y = load_table(tmp_path / "m.csv", "y", reader)
    assert table.feature_names == ["a", "b"] and table.notes == [
        "column 'name' holds no numbers: left out"]
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    sizes = [len(y_chunk) for _, y_chunk in table.chunks(64)]
    assert sizes == [64] * 4 + [44]


def test_a_bad_cell_far_in_is_found_on_its_line(tmp_path, reader, monkeypatch):
    monkeypatch.setattr(tabular, "PIECE_BYTES", 100)
    _, _, line_of = messy_file(tmp_path / "m.csv", 300, bad_row=250)
    expected = (f"line {line_of[249]} (data row 250), column 'a': 'oops' is not a number")
    table = open_table(tmp_path / "m.csv", "y", reader)
    with pytest.raises(DataError, match=re.escape(expected)):
        list(table.chunks(64))


@pytest.mark.parametrize("late, message", [
    # a column of names (in the first bytes) with a number further down: it is a column of
    # numbers with a bad first cell, as if the whole file had been read first
    ("name", "line 2 (data row 1), column 'name': 'id0' is not a number"),
    # an unnamed trailing column, empty in the first bytes, with something further down
    ("", "line 1: column 4 has no name in the header"),
])
def test_what_the_first_bytes_decided_is_checked_to_the_end(tmp_path, reader, monkeypatch,
                                                            late, message):
    monkeypatch.setattr(tabular, "SAMPLE_BYTES", 64)
    monkeypatch.setattr(tabular, "PIECE_BYTES", 64)
    rows = [[f"id{i}", i, 2 * i + (i % 3), ""] for i in range(200)]
    rows[150][0 if late else 3] = 42 if late else "x"
    path = write_csv(tmp_path / "d.csv", ["name", "a", "y", ""], rows)
    table = open_table(path, "y", reader)
    with pytest.raises(DataError, match=re.escape(message)):
        list(table.chunks(10))


def test_chunks_rows_must_be_positive(tmp_path):
    table = open_table(write_csv(tmp_path / "d.csv", ["a", "y"], [[1, 2]]), "y")
    for rows in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="rows must be a positive int"):
            next(table.chunks(rows))


# ----- statistics ------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [[2000], [1, 7, 992, 1000], [500] * 4, [1] * 40 + [1960]],
                         ids=["one", "unequal", "equal", "many"])
def test_moments_equal_numpys_statistics_of_the_whole_data(sizes):
    # Columns far from zero (where a sum of squares would cancel), tiny and huge.
    rng = np.random.default_rng(2)
    n = sum(sizes)
    A = rng.standard_normal((n, 4)) * [1.0, 1e-3, 1e3, 1.0] + [1e6, -5.0, 0.0, 1e-8]
    m = Moments(4)
    for chunk in np.split(A, np.cumsum(sizes)[:-1]):
        m.update(chunk)
    assert m.n == n
    np.testing.assert_allclose(m.mean, A.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.std, A.std(axis=0), rtol=1e-12)
    cov = np.cov(A.T, bias=True)
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))  # each entry's own size
    assert np.all(np.abs(m.comoment / n - cov) <= 1e-12 * scale)
    np.testing.assert_array_equal(m.min, A.min(axis=0))
    np.testing.assert_array_equal(m.max, A.max(axis=0))


def test_streamed_statistics_of_a_file_equal_numpys(tmp_path, reader, monkeypatch):
    X, y = linear_data(3000)
    path = write_data(tmp_path / "d.csv", X, y)
    if reader == "arrow":  # a plain file: pyarrow reads all of it, numpy's reader nothing
        monkeypatch.setattr(tabular._CsvTable, "_numpy_arrays", None)
    moments, n_chunks = cli.scan(open_table(path, "y", reader).chunks(700))
    assert n_chunks == 5 and moments.n == 3000
    A = np.column_stack([X, y])
    np.testing.assert_allclose(moments.mean, A.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.std, A.std(axis=0), rtol=1e-12)
    # the least-squares solution from them is numpy's
    coef, intercept = cli.moments_lstsq(moments)
    reference = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)[0]
    np.testing.assert_allclose(np.append(coef, intercept), reference, rtol=1e-9)


# ----- training --------------------------------------------------------------------------


def reference_minibatch_sgd(X, y, rows, batch_size, epochs, seed, lr, momentum):
    """Minibatch SGD with momentum (PyTorch's update) by hand in numpy, in the order
    ``fit_minibatch`` documents: chunks of ``rows`` rows in order, each permuted by
    ``default_rng(seed)`` and cut into batches; standardized with numpy's statistics."""
    x_mean, x_std, y_mean, y_std = X.mean(axis=0), X.std(axis=0), y.mean(), y.std()
    Z, t = (X - x_mean) / x_std, (y - y_mean) / y_std
    layer = nn.Linear(X.shape[1], 1, seed=seed)  # the same initial weights
    w, b = layer.weight.data[0].copy(), float(layer.bias.data[0])
    rng = np.random.default_rng(seed)
    velocity = None
    for _ in range(epochs):
        for start in range(0, len(Z), rows):
            Zc, tc = Z[start:start + rows], t[start:start + rows]
            order = rng.permutation(len(Zc))
            for i in range(0, len(Zc), batch_size):
                Zb, tb = Zc[order[i:i + batch_size]], tc[order[i:i + batch_size]]
                r = Zb @ w + b - tb
                g = np.append(2 / len(r) * (r @ Zb), 2 / len(r) * r.sum())
                velocity = g if velocity is None else momentum * velocity + g
                w, b = w - lr * velocity[:-1], b - lr * velocity[-1]
    coef = w * y_std / x_std
    return coef, y_mean + b * y_std - x_mean @ coef


def minibatch_fit(chunks, batch_size=96, epochs=2, seed=5, **kwargs):
    """The two passes of ``--batch-size`` over ``chunks()``: statistics, then training."""
    moments, _ = cli.scan(chunks())
    scale = cli.Standardized.from_moments(moments)
    return cli.fit_minibatch(chunks, scale, batch_size, epochs, seed=seed, **kwargs)


def test_streaming_fit_equals_in_memory_fit_bit_for_bit(tmp_path, backend, reader):
    # 96 does not divide the chunks of 1000 rows: every chunk ends in a smaller batch.
    X, y = linear_data(2900)
    path = write_data(tmp_path / "d.csv", X, y)
    table = open_table(path, "y", reader)
    streamed = minibatch_fit(lambda: table.chunks(1000))
    with ChunkCache() as cache:  # the first pass keeps the numbers, the epochs read them back
        cli.scan(table.chunks(1000), cache)
        cached = minibatch_fit(lambda: ((A[:, :-1], A[:, -1]) for A in cache))
    data = cli.load_csv(path, "y")
    in_memory = minibatch_fit(lambda: cli.array_chunks(data.X, data.y, 1000))
    eager = minibatch_fit(lambda: cli.array_chunks(data.X, data.y, 1000), compiled=False)
    for other in (cached, in_memory, eager):
        np.testing.assert_array_equal(other.coef, streamed.coef)
        assert other.intercept == streamed.intercept and other.losses == streamed.losses
    assert streamed.status == "done" and streamed.steps == 2 * (11 + 11 + 10)
    # the order and the update are the documented ones
    coef, intercept = reference_minibatch_sgd(X, y, 1000, 96, 2, 5, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(np.append(streamed.coef, streamed.intercept),
                               np.append(coef, intercept), rtol=1e-9)


def test_minibatch_cli_reaches_least_squares_on_exact_data(tmp_path, capsys, reader):
    # Without noise every batch's gradient vanishes at the solution: SGD gets there.
    X, y = linear_data(2000, noise=0.0)
    path = write_data(tmp_path / "d.csv", X, y)
    status, out, err = main(capsys, "--csv", path, "--target", "y", "--batch-size", "128",
                            "--epochs", "60", "--reader", reader)
    assert status == 0 and err == "", err
    assert re.search(r"^pass 1 \(statistics\): 2000 rows in 1 chunk of \d+ rows", out, re.MULTILINE)
    assert re.search(r"^trained: 60 epochs, 960 steps, 120000 rows", out, re.MULTILINE)
    assert len(re.findall(r"^epoch \d+/60  mse ", out, re.MULTILINE)) == 60
    check_table(out, X, y, ["a", "b", "c"], atol=1e-6)


def check_table(out, X, y, names, atol):
    """The printed fit is within ``atol`` of lstsq computed here (None: not checked, a few
    steps are far from it); the printed lstsq (from the streamed statistics) is numpy's, and
    both R^2 are those of the printed parameters."""
    rows = parse_table(out)
    assert list(rows) == [*names, "(intercept)"]
    A = np.column_stack([X, np.ones(len(X))])
    reference = np.linalg.lstsq(A, y, rcond=None)[0]
    fitted, lstsq = (np.array([r[k] for r in rows.values()]) for k in (0, 1))
    np.testing.assert_allclose(lstsq, reference, rtol=1e-9)
    if atol is not None:
        np.testing.assert_allclose(fitted, reference, rtol=0, atol=atol)
    r2 = re.search(r"^R\^2 = (\S+) \(lstsq: (\S+)\)", out, re.MULTILINE).groups()
    for printed, params in zip(r2, (fitted, lstsq)):
        residual = y - A @ params
        expected = 1 - residual @ residual / np.sum((y - y.mean()) ** 2)
        assert float(printed) == pytest.approx(expected, abs=1e-9)


def test_minibatch_cli_on_the_demo_data_and_divergence(capsys):
    status, out, _ = main(capsys, "--batch-size", "500", "--epochs", "10")
    assert status == 0
    data = cli.make_demo_data()
    check_table(out, data.X, data.y, data.feature_names, atol=0.5)
    status, out, _ = main(capsys, "--batch-size", "500", "--lr", "50")
    assert status == 1 and "DIVERGED" in out and "try --lr" in out


@pytest.mark.parametrize("args, expected", [
    (["--epochs", "2"], "--epochs needs --batch-size"),
    (["--no-cache"], "--no-cache needs --batch-size"),
    (["--chunk-rows", "10"], "--chunk-rows needs --batch-size"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "10", "--steps", "5"], "--steps and --tol are options of full-batch"),
    (["--batch-size", "10", "--target", "y"], "--target needs --csv"),
    (["--reader", "pandas"], "--reader"),
])
def test_minibatch_option_mistakes_exit_2(capsys, args, expected):
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "usage:" in err


def test_a_cache_that_cannot_be_written_is_a_clear_error(tmp_path, capsys, monkeypatch):
    def full(self, A):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ChunkCache, "append", full)
    X, y = linear_data(50)
    status, _, err = main(capsys, "--csv", write_data(tmp_path / "d.csv", X, y), "--target",
                          "y", "--batch-size", "10")
    assert status == 2
    assert "No space left on device" in err and "TMPDIR" in err and "--no-cache" in err


def repeated_csv(path, n, block=2000, p=5):
    """A CSV file of ``n`` rows: ``block`` random rows written ``n // block`` times (fast to
    write; the least-squares solution is the block's). Returns the block's X and y."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((block, p))
    y = X @ np.arange(1.0, p + 1) + 0.5 * rng.standard_normal(block)
    text = "".join(",".join(map(num, row)) + "\n" for row in np.column_stack([X, y]))
    with open(path, "w") as f:
        f.write(",".join([f"x{i}" for i in range(p)] + ["y"]) + "\n")
        f.writelines([text] * (n // block))
    return X, y


def run_measured(*args):
    """``python -m pyautodiff *args`` in a subprocess: (exit status, stdout, stderr, peak RSS
    in bytes), the peak from the kernel's accounting of that one process (``wait4``)."""
    with open(os.devnull, "rb") as stdin, subprocess.Popen(
        [sys.executable, "-m", "pyautodiff", *map(str, args)], cwd=ROOT, stdin=stdin,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        out, err = proc.stdout.read(), proc.stderr.read()  # small: no pipe fills up
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out, err, usage.ru_maxrss * 1024  # (Linux: kilobytes)


@pytest.mark.skipif(not hasattr(os, "wait4") or sys.platform != "linux",
                    reason="needs wait4's ru_maxrss in kilobytes (Linux)")
def test_streaming_memory_stays_flat_in_the_file_size(tmp_path):
    # The same training on 2000 rows and on 200000 (23 MB of text, 9.6 MB of numbers): read
    # in chunks of 4096 rows, the peak memory is the same; reading the whole file would add at
    # least its numbers. numpy's reader: the one every install has.
    options = ["--target", "y", "--batch-size", "1024", "--chunk-rows", "4096",
               "--reader", "numpy"]
    repeated_csv(tmp_path / "small.csv", 2000)
    X, y = repeated_csv(tmp_path / "big.csv", 200_000)
    small = run_measured("--csv", tmp_path / "small.csv", *options)
    big = run_measured("--csv", tmp_path / "big.csv", *options)
    for status, _, err, _ in (small, big):
        assert status == 0 and err == "", err
    status, out, _, peak = big
    assert re.search(r"^pass 1 \(statistics\): 200000 rows in 49 chunks of 4096 rows", out,
                     re.MULTILINE)
    assert re.search(r"^trained: 1 epoch, 196 steps, 200000 rows", out, re.MULTILINE)
    numbers = 200_000 * 6 * 8
    assert peak - small[3] < numbers / 4, (peak, small[3])
    check_table(out, X, y, [f"x{i}" for i in range(5)], atol=0.1)


# ----- Parquet and pyarrow ---------------------------------------------------------------


def test_parquet_files_read_like_csv(tmp_path, capsys):
    need_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    X, y = linear_data(300)
    ids = [f"id{i}" for i in range(300)]
    flags = (np.arange(300) % 3 == 0)
    table = pa.table({"id": ids, "a": X[:, 0], "b": X[:, 1], "n": np.arange(300) ** 2,
                      "y": y, "flag": flags})
    path = tmp_path / "d.data"  # recognized by its contents, whatever its name
    pq.write_table(table, path, row_group_size=70)
    features = np.column_stack([X[:, :2], np.arange(300.0) ** 2, flags])
    got = open_table(path, "y")
    assert got.kind == "parquet" and got.feature_names == ["a", "b", "n", "flag"]
    assert got.notes == ["column 'id' holds string, not numbers: left out"]
    chunks = list(got.chunks(64))
    assert [len(c[1]) for c in chunks] == [64] * 4 + [44]
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), features)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), y)
    status, out, err = main(capsys, "--csv", path, "--target", "y")
    assert status == 0, err
    assert_matches_lstsq(out, features, y, ["a", "b", "n", "flag"])


def test_parquet_errors(tmp_path):
    need_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    cases = [
        ({"a": [1.0, 2.0, None], "y": [1.0, 2.0, 3.0]}, "y",
         "data row 3, column 'a': the value is missing"),
        ({"a": [1.0, np.inf, 3.0], "y": [1.0, 2.0, 3.0]}, "y",
         "data row 2, column 'a': inf is not a finite number"),
        ({"a": [1.0, 2.0], "y": ["p", "q"]}, "y", "the target column 'y' holds string"),
        ({"a": [1.0, 2.0], "Y": [1.0, 2.0]}, "y", "no column 'y' (did you mean 'Y'?)"),
        ({"name": ["p", "q"], "y": [1.0, 2.0]}, "y", "no numeric column besides the target"),
        ({"a": pa.array([], pa.float64()), "y": pa.array([], pa.float64())}, "y",
         "has no data rows"),
    ]
    for i, (columns, target, message) in enumerate(cases):
        path = tmp_path / f"{i}.parquet"
        pq.write_table(pa.table(columns), path)
        with pytest.raises(DataError, match=re.escape(message)):
            list(open_table(path, target).chunks(2))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 and then nothing of a Parquet file")
    with pytest.raises(DataError, match="not a valid Parquet file"):
        open_table(bad, "y")


def test_without_pyarrow_parquet_and_reader_arrow_say_what_to_install(
        tmp_path, without):  # noqa: F811  (test_examples' fixture, imported above)
    env = without("pyarrow")
    fake = tmp_path / "d.parquet"
    fake.write_bytes(b"PAR1")  # the magic bytes: recognized before pyarrow is needed
    csv_file = write_csv(tmp_path / "d.csv", ["a", "y"], [[1, 2], [2, 3], [3, 5]])
    for args in (["--csv", fake], ["--csv", csv_file, "--reader", "arrow"]):
        proc = subprocess.run([sys.executable, "-m", "pyautodiff", *map(str, args),
                               "--target", "y"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "needs pyarrow, which is not installed" in proc.stderr
        assert "pip install 'pyautodiff[data]'" in proc.stderr


# ----- README ----------------------------------------------------------------------------


def readme_section(title):
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    return text[start:text.find("\n## ", start + 1)]


def test_readme_bigger_data_command_and_example(tmp_path, capsys, monkeypatch):
    section = readme_section("Bigger data")
    monkeypatch.chdir(tmp_path)
    # the command, on a file of that name
    command = re.search(r"```sh\n(python -m pyautodiff .*)\n```", section).group(1)
    X, y = linear_data(5000)
    write_data(tmp_path / "big.csv", X, y)
    status, out, err = main(capsys, *shlex.split(command)[3:])
    assert status == 0 and err == "", err
    assert re.search(r"^trained: 3 epochs, 6 steps, 15000 rows", out, re.MULTILINE)
    check_table(out, X, y, ["a", "b", "c"], atol=None)
    # the example: its statistics are numpy's
    (tmp_path / "example.py").write_text(
        re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1))
    namespace = runpy.run_path(str(tmp_path / "example.py"))
    A = np.loadtxt(tmp_path / "data.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(A[:, :3], namespace["X"])
    moments = namespace["moments"]
    assert moments.n == 10_000
    np.testing.assert_allclose(moments.mean, A.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.std, A.std(axis=0), rtol=1e-12)
    assert capsys.readouterr().out.startswith("10000 [")

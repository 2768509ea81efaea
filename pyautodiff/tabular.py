"""Tables of numbers from files, whole or in chunks, and their statistics chunk by chunk.

``open_table(path, target)`` reads a file's columns: a CSV file with a header row, or a
Parquet file (recognized by its contents, whatever its name). ``Table.chunks(rows)`` then
yields its rows ``rows`` at a time as float64 arrays ``(X, y)``, holding one chunk in memory,
never the whole file; ``iter_chunks`` does both in one call and ``load_table`` reads the
whole file. ``Moments`` combines the count, means, co-moments, minima and maxima of chunks
into those of all the rows (Chan, Golub and LeVeque's parallel update), for standardizing
data that is never in memory at once.

CSV files are parsed by ``numpy.loadtxt``, or by pyarrow's multithreaded reader when pyarrow
is installed (the ``data`` extra: ``pip install 'pyautodiff[data]'``) and the file is large.
Both give the same numbers, bit for bit. The rules of the file, whichever reader runs:

- blank rows are skipped; the first other row is the header, whose names are stripped of
  spaces; an unnamed last column that is empty in every row (a comma at each line's end) is
  dropped;
- the column ``target`` is the target; every other column that holds numbers is a feature,
  and a column whose cells in the first ``SAMPLE_BYTES`` of the file hold no number at all
  (names, dates, categories) is left out, with a note in ``Table.notes``;
- every cell of the target and the features must be a finite number (Python's ``float``
  syntax): anything else is a ``DataError`` naming the line, the data row, the column and
  the cell.

The fast readers accept a subset of that syntax; when one of them stops (a cell it cannot
read, a missing or non-finite value), the same piece of the file is parsed again by Python's
``csv`` module, which either reads the cells the fast reader could not or finds the first bad
cell and says where it is. Reading a correct file never takes that path. Chunks of a CSV file
are cut between records, where Python's csv module ends one, so a quoted cell may span lines.
"""

import csv
import importlib
import io
import os
import tempfile

import numpy as np

__all__ = ["ChunkCache", "DataError", "Moments", "Table", "arrow_available", "iter_chunks",
           "load_table", "open_table"]

# CSV text parsed at a time: large enough that the readers' per-call costs vanish, small
# enough that the text and its numbers stay a few megabytes (numpy.loadtxt takes about ten
# times a piece's size, pyarrow's allocator keeps more the larger its blocks).
PIECE_BYTES = 1 << 20
# The beginning of a CSV file that decides which columns hold text.
SAMPLE_BYTES = 1 << 20
# reader="auto" uses pyarrow (when installed) for CSV files from this size up; below it,
# importing pyarrow takes longer than numpy takes to read the file.
ARROW_MIN_BYTES = 8 << 20
# Rows per batch read from a Parquet file.
PARQUET_BATCH_ROWS = 1 << 16
PARQUET_MAGIC = b"PAR1"
READERS = ("auto", "numpy", "arrow")
EXTRA = "pip install pyarrow (or: pip install 'pyautodiff[data]')"
# Cells Python's float() reads as numbers, for checking text columns in pyarrow (RE2 syntax):
# the digits may be grouped by underscores; inf, infinity and nan in any case.
_DIGITS = r"[0-9](_?[0-9])*"
NUMBER_PATTERN = (rf"^\s*[+-]?(({_DIGITS}(\.({_DIGITS})?)?|\.{_DIGITS})([eE][+-]?{_DIGITS})?"
                  r"|(?i:inf|infinity|nan))\s*$")


class DataError(Exception):
    """A problem with the user's data or options, reported as one line on stderr (exit 2)."""


def arrow_available():
    """Whether pyarrow (the optional ``data`` extra) can be imported.

    Examples
    --------
    >>> arrow_available() in (True, False)
    True
    """
    try:
        for module in ("pyarrow.csv", "pyarrow.parquet"):
            importlib.import_module(module)
    except ImportError:
        return False
    return True


# ----- statistics --------------------------------------------------------------------------


class Moments:
    """The count, means, co-moments, minima and maxima of ``k`` columns, given in chunks.

    ``update(A)`` adds the rows of ``A`` (shape ``(r, k)``). Each chunk's own mean and
    co-moment matrix ``sum((a - mean) (a - mean)^T)`` are computed around the chunk's mean and
    combined with the running ones by Chan, Golub and LeVeque's update (the parallel form of
    Welford's): no sum of squares of raw values, whose difference would cancel for data far
    from zero. The values are shifted by the first row first (exactly, for data whose spread
    is small next to its offset), so that the means combined are of the size of the spread
    and the offset's rounding does not enter their differences. Only the chunking changes the
    rounding: the same chunks give the same bits, whatever their memory layout.

    Attributes
    ----------
    n : int
        Rows seen.
    mean, min, max : ndarray (k,)
    comoment : ndarray (k, k)
        ``n`` times the covariance matrix (ddof 0).

    Examples
    --------
    >>> A = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 40.0], [4.0, 50.0]])
    >>> m = Moments(2)
    >>> for chunk in (A[:1], A[1:]):
    ...     _ = m.update(chunk)
    >>> m.n, m.mean.tolist(), m.std.tolist(), m.min.tolist(), m.max.tolist()
    (4, [2.5, 30.0], [1.118033988749895, 15.811388300841896], [1.0, 10.0], [4.0, 50.0])
    >>> np.allclose(m.std, A.std(axis=0), rtol=1e-15)
    True
    """

    def __init__(self, k):
        self.n = 0
        self.shift = np.zeros(k)
        self.shifted_mean = np.zeros(k)
        self.comoment = np.zeros((k, k))
        self.min = np.full(k, np.inf)
        self.max = np.full(k, -np.inf)

    @classmethod
    def of(cls, A):
        """The moments of the rows of ``A`` (one chunk)."""
        A = np.asarray(A, dtype=np.float64)
        return cls(A.shape[1]).update(A)

    def update(self, A):
        """Add the rows of ``A`` (r, k); returns ``self``."""
        # C order: numpy's sums add in an order that depends on the layout
        A = np.ascontiguousarray(A, dtype=np.float64)
        r = A.shape[0]
        if r == 0:
            return self
        if self.n == 0:
            self.shift = A[0].copy()
        np.minimum(self.min, A.min(axis=0), out=self.min)
        np.maximum(self.max, A.max(axis=0), out=self.max)
        A = A - self.shift
        chunk_mean = A.mean(axis=0)
        D = A - chunk_mean
        n = self.n + r
        delta = chunk_mean - self.shifted_mean
        self.shifted_mean = self.shifted_mean + delta * (r / n)
        self.comoment = self.comoment + D.T @ D + np.outer(delta, delta) * (self.n * r / n)
        self.n = n
        return self

    @property
    def mean(self):
        """The mean of each column."""
        return self.shift + self.shifted_mean

    @property
    def var(self):
        """The variance of each column (ddof 0)."""
        return np.diag(self.comoment) / self.n

    @property
    def std(self):
        """The standard deviation of each column (ddof 0)."""
        return np.sqrt(self.var)


class ChunkCache:
    """Float64 chunks kept in an unnamed temporary file, to be read back in the same chunks.

    Reading numbers back from this file is much faster than parsing the text they came
    from again, and takes no memory beyond one chunk. The file is in ``dir`` (default: the
    system's temporary directory, ``$TMPDIR``) and has no name: the system deletes it when it
    is closed, or when the process ends, however it ends.

    Examples
    --------
    >>> with ChunkCache() as cache:
    ...     cache.append(np.array([[1.0, 2.0], [3.0, 4.0]]))
    ...     cache.append(np.array([[5.0, 6.0]]))
    ...     [A.tolist() for A in cache], cache.nbytes
    ([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0]]], 48)
    """

    def __init__(self, dir=None):
        self.file = tempfile.TemporaryFile(dir=dir)  # noqa: SIM115  (closed by close())
        self.shapes = []

    def append(self, A):
        """Write the chunk ``A`` (its float64 values) at the end of the file."""
        A = np.ascontiguousarray(A, dtype=np.float64)
        self.file.write(memoryview(A).cast("B"))
        self.shapes.append(A.shape)

    def __iter__(self):
        """The chunks, in the order appended: new arrays, read from the file."""
        self.file.flush()
        self.file.seek(0)
        for shape in self.shapes:
            A = np.empty(shape)
            if self.file.readinto(memoryview(A).cast("B")) != A.nbytes:
                raise OSError(f"the cache file {self.file.name} is shorter than written")
            yield A

    @property
    def nbytes(self):
        """The bytes written."""
        return sum(8 * int(np.prod(shape)) for shape in self.shapes)

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----- files -------------------------------------------------------------------------------


def _open(path):
    """``path`` opened for reading bytes, or a DataError that says why it cannot be."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"cannot read {path}: it is a directory, expected a CSV file") from None
    except PermissionError:
        raise DataError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _arrow(path, why):
    """The ``pyarrow`` module, or a DataError saying that ``why`` needs it."""
    if not arrow_available():
        raise DataError(f"{path}: {why} needs pyarrow, which is not installed: {EXTRA}")
    import pyarrow

    return pyarrow


def _parse_number(cell):
    """``cell`` as a float (which may be nan or inf), or None when it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def _columns_error(path, names, target, where=None):
    """The DataError for a header with a column without a name or with a repeated one, or
    without ``target``; None when the names are fine. ``where``: where the header is."""
    for i, name in enumerate(names):
        if not name:
            return DataError(f"{where or path}: column {i + 1} has no name in the header")
        if names.index(name) != i:
            return DataError(f"{path}: the header names column {name!r} twice")
    if target in names:
        return None
    hint = ""
    folded = [n for n in names if n.casefold() == target.casefold()]
    if folded:
        hint = f" (did you mean {folded[0]!r}?)"
    elif len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
        hint = " (the header has one column: is the file separated by something else than " \
               "commas?)"
    listed = ", ".join(repr(n) for n in names)
    return DataError(f"{path} has no column {target!r}{hint}; its columns are: {listed}")


class Table:
    """A table file opened by ``open_table``: its columns, and its rows chunk by chunk.

    Attributes
    ----------
    path : str
    kind : {"csv", "parquet"}
    reader : {"numpy", "arrow"}
        The CSV reader that runs (``"arrow"`` for Parquet).
    feature_names : list of str
        The feature columns, in file order: the columns of ``X``.
    target_name : str
    notes : list of str
        The columns left out, and why.
    """

    kind = reader = None

    def __init__(self, path, feature_names, target_name, notes):
        self.path = path
        self.feature_names = feature_names
        self.target_name = target_name
        self.notes = notes

    def chunks(self, rows):
        """The rows of the file, ``rows`` at a time (the last chunk may have fewer).

        Yields ``(X, y)``: ``X`` of shape ``(r, n_features)`` and ``y`` of shape ``(r,)``,
        float64, read from the file for this chunk (never reused by the reader). A problem
        in the data raises ``DataError`` when the reader gets to it.
        """
        if not isinstance(rows, (int, np.integer)) or isinstance(rows, bool) or rows < 1:
            raise ValueError(f"Table.chunks: rows must be a positive int, got {rows!r}")
        for A in _rechunk(self._all_arrays(), int(rows)):
            yield A[:, :-1], A[:, -1]

    def _arrays(self):
        """The rows as float64 arrays of any lengths: the features, then the target."""
        raise NotImplementedError

    def _all_arrays(self):
        """``_arrays()``, and a DataError at the end when there were no rows at all (a
        header, then only blank lines beyond the beginning read by ``open_table``)."""
        rows = 0
        for A in self._arrays():
            rows += len(A)
            yield A
        if not rows:
            raise DataError(f"{self.path} has a header but no data rows")


def _rechunk(arrays, rows):
    """``arrays`` (of any lengths) cut and joined into arrays of ``rows`` rows, and the rest."""
    pending, have = [], 0
    for A in arrays:
        pending.append(A)
        have += len(A)
        if have < rows:
            continue
        joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
        start = 0
        while have - start >= rows:
            yield joined[start:start + rows]
            start += rows
        pending, have = [joined[start:]], have - start
    if have:
        yield np.concatenate(pending)


def open_table(path, target, reader="auto"):
    """Open a CSV or Parquet file whose column ``target`` is to be predicted.

    Reads the header (a Parquet file's schema) and the beginning of the file, which decide
    the features; the rows are read by ``Table.chunks``.

    Parameters
    ----------
    path : str or os.PathLike
    target : str
        The column to predict; every other numeric column is a feature.
    reader : {"auto", "numpy", "arrow"}
        The CSV reader: ``numpy.loadtxt``, or pyarrow's (``arrow``: an error when pyarrow is
        not installed; numpy's all the same for a file whose header is not on its first
        line). ``auto`` takes pyarrow for files of ``ARROW_MIN_BYTES`` and up when it is
        installed. Parquet files always need pyarrow.

    Raises
    ------
    DataError
        The file cannot be read, is not a CSV with a header row and data rows (or a Parquet
        file), has no column ``target``, or no feature column.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("name,a,y\\np,1,2\\nq,2,4\\nr,3,7\\n")
    >>> table = open_table(path, "y")
    >>> table.feature_names, table.target_name, table.notes
    (['a'], 'y', ["column 'name' holds no numbers: left out"])
    >>> [(X.tolist(), y.tolist()) for X, y in table.chunks(2)]
    [([[1.0], [2.0]], [2.0, 4.0]), ([[3.0]], [7.0])]
    """
    if reader not in READERS:
        raise ValueError(f"open_table: reader must be one of {READERS}, got {reader!r}")
    path = os.fspath(path)
    with _open(path) as f:
        try:
            magic = f.read(len(PARQUET_MAGIC))
        except OSError as e:  # a directory on some systems, a device, ...
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if magic == PARQUET_MAGIC:
        return _ParquetTable(path, target)
    return _CsvTable(path, target, reader)


def iter_chunks(path, target, rows, reader="auto"):
    """The rows of a CSV or Parquet file, ``rows`` at a time: ``open_table(path, target,
    reader).chunks(rows)``, in file order.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "xy.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("x1,x2,y\\n" + "".join(f"{i},{i * i},{2 * i}\\n" for i in range(5)))
    >>> for X, y in iter_chunks(path, "y", rows=2):
    ...     print(X.shape, y.tolist())
    (2, 2) [0.0, 2.0]
    (2, 2) [4.0, 6.0]
    (1, 2) [8.0]
    """
    return open_table(path, target, reader).chunks(rows)


def load_table(path, target, reader="auto"):
    """The whole file: ``(table, X, y)`` (see ``open_table``).

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "xy.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,y\\n1,2\\n2,4.5\\n")
    >>> table, X, y = load_table(path, "y")
    >>> X.tolist(), y.tolist()
    ([[1.0], [2.0]], [2.0, 4.5])
    """
    table = open_table(path, target, reader)
    arrays = list(table._all_arrays())
    A = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    return table, A[:, :-1], A[:, -1]


# ----- CSV ---------------------------------------------------------------------------------


class _CsvTable(Table):
    kind = "csv"

    def __init__(self, path, target, reader):
        sample, complete = self._sample(path)
        rows = []  # (line number, cells) of the rows that are not blank
        lines = csv.reader(io.StringIO(sample, newline=""))
        try:
            for cells in lines:
                if any(c.strip() for c in cells):
                    rows.append((lines.line_num, cells))
        except csv.Error as e:
            raise DataError(f"{path}, line {lines.line_num}: not valid CSV ({e})") from None
        if not rows:
            raise DataError(f"{path} is empty, expected a header row and data rows")
        self.header_line, header = rows[0]
        data = rows[1:]
        names = [name.strip() for name in header]
        # Some exporters end every line with a comma: unnamed columns with nothing in them.
        width = len(names)
        while width > 1 and not names[width - 1] and all(
            len(cells) == len(names) and not cells[width - 1].strip() for _, cells in data
        ):
            width -= 1
        self.width, self.names = len(names), names[:width]
        error = _columns_error(path, self.names, target, f"{path}, line {self.header_line}")
        if error:
            raise error
        if not data and complete:
            raise DataError(f"{path} has a header but no data rows")
        # The first cell of each column: a text column's error, should it turn out numeric.
        self.first = data[0] if data else None
        text = [j for j, name in enumerate(self.names) if name != target and all(
            j >= len(cells) or _parse_number(cells[j]) is None for _, cells in data)]
        features = [j for j in range(width) if j not in text and self.names[j] != target]
        if not features:
            raise DataError(f"{path} has no numeric column besides the target {target!r} to "
                            "use as a feature")
        self.text, self.used = text, features + [self.names.index(target)]
        super().__init__(path, [self.names[j] for j in features], target,
                         [f"column {self.names[j]!r} holds no numbers: left out" for j in text])
        # loadtxt reads every column as a number: files with text columns take the csv module.
        self.plain = not text and width == self.width
        if reader == "arrow":
            _arrow(path, "--reader arrow")
        elif reader == "auto":
            reader = "arrow" if (os.path.getsize(path) >= ARROW_MIN_BYTES
                                 and arrow_available()) else "numpy"
        # pyarrow skips a number of lines: the header must be the first, as it usually is.
        self.reader = "arrow" if reader == "arrow" and self.header_line == 1 else "numpy"

    @staticmethod
    def _sample(path):
        """The first ``SAMPLE_BYTES`` of the file, decoded, and whether that is all of it."""
        with _open(path) as f:
            pieces = _pieces(f, SAMPLE_BYTES, path)
            try:
                sample, offset = next(pieces)
            except StopIteration:
                return "", True
            return _decode(sample, offset, path), next(pieces, None) is None

    def _arrays(self):
        if self.reader == "arrow":
            return self._arrow_arrays()
        return self._numpy_arrays()

    def _numpy_arrays(self, skip=0):
        """The rows, piece by piece, parsed by loadtxt (the csv module where it stops), less
        the first ``skip`` rows."""
        row = 0
        with _open(self.path) as f:
            for piece, offset, line in self._data_pieces(f):
                A = self._loadtxt(piece)
                if A is None:
                    A = self._parse(_decode(piece, offset, self.path), line, row)
                row += len(A)
                if skip >= len(A):
                    skip -= len(A)
                    continue
                yield A[skip:]
                skip = 0

    def _data_pieces(self, f):
        """``(bytes, offset, lines before it)`` of each piece of the file after the header."""
        line = 0
        for piece, offset in _pieces(f, PIECE_BYTES, self.path):
            if line == 0:  # the header: skip its lines (it ends at the end of one of them)
                s = io.StringIO(_decode(piece, offset, self.path), newline="")
                for _ in range(self.header_line):
                    s.readline()
                size = len(s.getvalue()[:s.tell()].encode("utf-8"))
                piece, offset, line = piece[size:], offset + size, self.header_line
            if piece:
                yield piece, offset, line
            line += piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")

    def _loadtxt(self, piece):
        """The numbers of a piece (bytes) of a file without text columns, or None (a cell
        loadtxt cannot read, a row of another length, a value missing or not finite, not
        UTF-8)."""
        if not self.plain or not piece.strip():
            return None
        try:
            # From the bytes: a text copy of the piece would take several times its size.
            A = np.loadtxt(io.BytesIO(piece), delimiter=",", quotechar='"', comments=None,
                           dtype=np.float64, ndmin=2, encoding="utf-8")
        except ValueError:  # (UnicodeDecodeError is one)
            return None
        if A.shape[1] != self.width or not np.isfinite(A).all():
            return None
        return np.ascontiguousarray(A[:, self.used])  # (indexing columns gives F order)

    def _parse(self, text, line, row):
        """The numbers of a piece, parsed by the csv module: or the DataError of its first
        problem (its first bad cell, column by column as they come in the header).

        ``line`` lines and ``row`` data rows of the file come before the piece.
        """
        path = self.path
        rows = []
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            for cells in reader:
                if any(c.strip() for c in cells):
                    rows.append((line + reader.line_num, cells))
        except csv.Error as e:
            raise DataError(f"{path}, line {line + reader.line_num}: not valid CSV "
                            f"({e})") from None
        width = len(self.names)
        for at, cells in rows:
            if len(cells) == self.width and not any(c.strip() for c in cells[width:]):
                continue
            if self.width > width:  # the unnamed trailing columns are not empty after all
                raise DataError(f"{path}, line {self.header_line}: column {width + 1} has no "
                                "name in the header")
            raise DataError(f"{path}, line {at}: {len(cells)} values, but the header has "
                            f"{width} columns")
        values = np.empty((len(rows), len(self.used)))
        for j, name in enumerate(self.names):
            numbers = [_parse_number(cells[j]) for _, cells in rows]
            if j in self.text:
                if any(v is not None for v in numbers):  # a number: not a text column at all
                    raise self._cell_error(*self.first, 1, j)
                continue
            for i, ((at, cells), value) in enumerate(zip(rows, numbers)):
                if value is None or not np.isfinite(value):
                    raise self._cell_error(at, cells, row + i + 1, j)
            values[:, self.used.index(j)] = numbers
        return values

    def _cell_error(self, line, cells, row, j):
        """The DataError for the cell ``cells[j]`` (not a finite number) of data row ``row``."""
        cell = cells[j].strip()
        where = f"{self.path}, line {line} (data row {row}), column {self.names[j]!r}"
        if not cell:
            return DataError(f"{where}: the value is missing (fill it in or remove the row)")
        if _parse_number(cell) is None:
            return DataError(f"{where}: {cell!r} is not a number")
        return DataError(f"{where}: {cell!r} is not a finite number")

    def _arrow_arrays(self):
        """The rows, block by block, parsed by pyarrow: from the first block it cannot read
        as the rules say (see the module's docstring) on, ``_numpy_arrays`` takes over."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        names = [f"c{j}" for j in range(self.width)]  # pyarrow's; the file's may repeat ""
        strings = set(self.text) | set(range(len(self.names), self.width))
        done = 0
        try:
            blocks = pacsv.open_csv(
                self.path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1,
                                               block_size=PIECE_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() if j in strings else pa.float64()
                                  for j, name in enumerate(names)},
                    null_values=[""], strings_can_be_null=False,
                    quoted_strings_can_be_null=False),
            )
            for block in blocks:
                A = self._arrow_block(block)
                if A is None:
                    break
                done += len(A)
                yield A
            else:
                return
        except pa.ArrowException:  # a cell or a row pyarrow cannot read
            pass
        yield from self._numpy_arrays(skip=done)

    def _arrow_block(self, block):
        """The numbers of a block pyarrow read, or None when the rules read it otherwise: a
        number in a text column, something in a dropped trailing column, a missing or a
        non-finite value."""
        import pyarrow.compute as pc

        for j in self.text:
            if pc.any(pc.match_substring_regex(block.column(j), NUMBER_PATTERN)).as_py():
                return None
        for j in range(len(self.names), self.width):
            if pc.any(pc.not_equal(pc.utf8_trim_whitespace(block.column(j)), "")).as_py():
                return None
        if any(block.column(j).null_count for j in self.used):
            return None
        A = np.column_stack([block.column(j).to_numpy() for j in self.used])
        return A if np.isfinite(A).all() else None


def _pieces(f, size, path):
    """``(piece, offset)``: consecutive pieces (bytes) of the open binary file ``f``, about
    ``size`` bytes each, and where each starts, less the UTF-8 byte-order mark spreadsheet
    programs put at the start of a file (which would become part of the first column's name).

    Each piece ends where a record does (``_cut``): a quoted cell never spans two pieces.
    """
    offset, carry = 0, b""
    while True:
        try:
            block = f.read(size)
        except OSError as e:  # a directory on some systems, a device, a disk error
            raise DataError(f"cannot read {path}: {e.strerror or e}") from None
        data = carry + block
        if not block:
            cut = len(data)
        else:
            cut = _cut(data)
            if cut is None:  # no line end outside quotes yet: read on
                carry = data
                continue
        piece, carry = data[:cut], data[cut:]
        if not piece:
            return
        bom = 3 if offset == 0 and piece.startswith(b"\xef\xbb\xbf") else 0
        yield piece[bom:], offset + bom
        offset += cut


def _decode(piece, offset, path):
    """The text of a piece of the file ``path`` starting at byte ``offset``, or a DataError."""
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"cannot read {path}: not a UTF-8 text file (byte 0x{piece[e.start]:02x} at "
            f"offset {offset + e.start}); expected a CSV file"
        ) from None


def _cut(data):
    """Where the last complete record of ``data`` (bytes) ends, or None: after its last line
    end when nothing before holds a quote character (the common case, and the fast one);
    else where Python's csv module ends its last record there, never inside a quoted cell."""
    end = data.rfind(b"\n") + 1
    if not end or data.find(b'"', 0, end) < 0:
        return end or None
    text = data[:end].decode("latin-1")  # one character per byte: offsets stay byte offsets
    ends = [0]  # where each line read so far ends

    def lines():
        for line in io.StringIO(text, newline=""):
            ends.append(ends[-1] + len(line))
            yield line

    cut = None
    try:
        for _ in csv.reader(lines(), strict=True):
            cut = ends[-1]
    except csv.Error as e:
        if str(e) != "unexpected end of data":  # a malformed record: the lenient parse's
            return end
    return cut


# ----- Parquet -----------------------------------------------------------------------------


class _ParquetTable(Table):
    kind, reader = "parquet", "arrow"

    def __init__(self, path, target):
        pa = _arrow(path, "reading a Parquet file")
        import pyarrow.parquet as pq

        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"cannot read {path}: not a valid Parquet file ({e})") from None
        schema = self.file.schema_arrow
        names = list(schema.names)
        error = _columns_error(path, names, target)
        if error:
            raise error
        numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
                   or pa.types.is_decimal(t) for t in schema.types]
        if not numeric[names.index(target)]:
            raise DataError(f"{path}: the target column {target!r} holds "
                            f"{schema.field(target).type}, not numbers")
        if self.file.metadata.num_rows == 0:
            raise DataError(f"{path} has no data rows")
        features = [n for n, is_number in zip(names, numeric) if is_number and n != target]
        if not features:
            raise DataError(f"{path} has no numeric column besides the target {target!r} to "
                            "use as a feature")
        super().__init__(path, features, target, [
            f"column {n!r} holds {t}, not numbers: left out"
            for n, t, is_number in zip(names, schema.types, numeric) if not is_number])

    def _arrays(self):
        import pyarrow as pa

        columns = self.feature_names + [self.target_name]
        row = 0
        for batch in self.file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=columns):
            A = np.empty((batch.num_rows, len(columns)))
            for j, name in enumerate(columns):
                cells = batch.column(j)
                if cells.null_count:
                    i = next(i for i, v in enumerate(cells.is_null().to_pylist()) if v)
                    raise DataError(f"{self.path}, data row {row + i + 1}, column {name!r}: "
                                    "the value is missing (fill it in or remove the row)")
                A[:, j] = cells.cast(pa.float64()).to_numpy()
            bad = ~np.isfinite(A)
            if bad.any():
                i, j = (int(k) for k in np.argwhere(bad)[0])
                raise DataError(f"{self.path}, data row {row + i + 1}, column {columns[j]!r}: "
                                f"{A[i, j]} is not a finite number")
            row += len(A)
            yield A

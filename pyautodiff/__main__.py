"""``python -m pyautodiff``: fit a linear regression by gradient descent and check it.

With no arguments this fits synthetic demo data (seeded); with ``--csv FILE --target COLUMN``
it fits a CSV file of your own. The model is ``nn.Linear(n_features, 1)``, the loss
``nn.mse_loss``, the optimizer ``optim.SGD`` with momentum (or ``optim.Adam``), and every
gradient comes from pyautodiff's reverse-mode pass. The features and the target are
standardized (mean 0, standard deviation 1) before training, so one default learning rate
suits data in any units; the reported coefficients are converted back to the original units.

Training stops when the gradient norm falls below ``--tol`` (converged) or after ``--steps``
steps. The report compares the fitted parameters with the closed-form least-squares solution
(``numpy.linalg.lstsq``), prints R^2, and times a training step on both backends. Each step
runs through ``ad.compile`` (recorded once, then replayed); ``--no-compile`` runs it eagerly.

The helpers here (CSV loading with user-facing errors, standardization, the progress line, the
least-squares reference) are shared with ``examples/linear_regression.py``.
"""

import argparse
import csv
import importlib
import io
import math
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

import pyautodiff as ad
from pyautodiff import nn, optim

# Exit statuses: 0 converged, 1 trained but did not converge (or diverged), 2 bad input.
EXIT_NOT_CONVERGED = 1
EXIT_USAGE = 2

DEFAULT_STEPS = 10_000
# The tolerance is on the gradient of the loss on standardized data, where parameters are of
# order 1. A coefficient in the original units is off by about (gradient / curvature) times
# std(target) / std(feature), which can be a factor of 1000 on real data; 1e-12 keeps that
# below 1e-6 and is still well above the rounding noise of this gradient in float64.
DEFAULT_TOL = 1e-12
DEFAULT_MOMENTUM = 0.9
DEFAULT_LR_ADAM = 0.01
# Training counts as diverged when the loss grows this far above its starting value: a stable
# run never gets there (momentum overshoots by a small factor at most), an unstable one gets
# there within a few dozen steps, long before it overflows.
DIVERGED_FACTOR = 1e4
# The steps timed per backend for the report, and how many timed runs (the fastest counts).
TIMING_STEPS = 200
TIMING_REPEATS = 5
FIT_TOL = 1e-6

# The demo data: features in different units and offsets, two of them correlated, so that
# standardization matters and the problem is not trivially conditioned.
DEMO_ROWS = 10_000
DEMO_FEATURES = ("x1", "x2", "x3")
DEMO_COEF = np.array([2.0, -0.35, 3.0])
DEMO_INTERCEPT = 1.25
DEMO_NOISE = 0.5


class DataError(Exception):
    """A problem with the user's data or options, reported as one line on stderr (exit 2)."""


# ----- data ----------------------------------------------------------------------------


@dataclass
class Dataset:
    """Features ``X`` (n, p), target ``y`` (n,), their names, and where they came from.

    ``true_coef`` and ``true_intercept`` are known only for synthetic data.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list
    target_name: str
    source: str
    true_coef: np.ndarray | None = None
    true_intercept: float | None = None
    notes: list = field(default_factory=list)


def make_demo_data(seed=0, n_rows=DEMO_ROWS):
    """The synthetic demo data set: three features in different units, a noisy linear target.

    ``x1`` is standard normal, ``x2`` is around 50 with spread 10 and correlated with ``x1``,
    ``x3`` is uniform on [0, 5]; ``y = X @ DEMO_COEF + DEMO_INTERCEPT + noise``.

    Examples
    --------
    >>> data = make_demo_data(seed=0, n_rows=5)
    >>> data.X.shape, data.y.shape, data.feature_names
    ((5, 3), (5,), ['x1', 'x2', 'x3'])
    """
    rng = np.random.default_rng(seed)
    x1 = rng.standard_normal(n_rows)
    x2 = 50.0 + 10.0 * (0.6 * x1 + 0.8 * rng.standard_normal(n_rows))
    x3 = rng.uniform(0.0, 5.0, n_rows)
    X = np.column_stack([x1, x2, x3])
    y = X @ DEMO_COEF + DEMO_INTERCEPT + DEMO_NOISE * rng.standard_normal(n_rows)
    return Dataset(
        X, y, list(DEMO_FEATURES), "y",
        source=f"synthetic demo data (seed {seed})",
        true_coef=DEMO_COEF.copy(), true_intercept=DEMO_INTERCEPT,
    )


def _open_text(path):
    """The text of ``path``, or a DataError that says why the file cannot be read."""
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs put at the start of a CSV,
        # which would otherwise become part of the first column's name. The whole file is read
        # here, so that a decoding error surfaces here and not in the middle of parsing.
        with open(path, encoding="utf-8-sig", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"cannot read {path}: it is a directory, expected a CSV file") from None
    except PermissionError:
        raise DataError(f"cannot read {path}: permission denied") from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"cannot read {path}: not a UTF-8 text file (byte 0x{e.object[e.start]:02x} "
            f"at offset {e.start}); expected a CSV file"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _parse_number(cell):
    """``cell`` as a float (which may be nan or inf), or None when it is not a number."""
    try:
        return float(cell)
    except ValueError:
        return None


def load_csv(path, target):
    """Read a CSV file with a header row; ``target`` is the column to predict.

    Every other column that holds numbers is a feature. A column with no numbers at all (names,
    dates, categories) is left out, with a note in ``Dataset.notes``; a numeric column with a
    cell that is not a finite number is an error that names the line and the column.

    Raises
    ------
    DataError
        The file cannot be read, is not a CSV with a header row and data rows, has no column
        ``target``, has rows of the wrong length, or non-numeric or missing values.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("name,a,y\\np,1,2\\nq,2,4\\nr,3,7\\n")
    >>> data = load_csv(path, "y")
    >>> data.feature_names, data.X[:, 0].tolist(), data.y.tolist()
    (['a'], [1.0, 2.0, 3.0], [2.0, 4.0, 7.0])
    >>> data.notes
    ["column 'name' holds no numbers: left out"]
    """
    # newline="" hands line endings inside quoted cells to the csv module, as its docs ask.
    reader = csv.reader(io.StringIO(_open_text(path), newline=""))
    rows = []  # (line number, cells) for every row that is not blank
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as e:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
    if not rows:
        raise DataError(f"{path} is empty, expected a header row and data rows")

    header_line, header = rows[0]
    names = [name.strip() for name in header]
    # Some exporters end every line with a comma: an unnamed column with nothing in it.
    while len(names) > 1 and not names[-1] and all(
        len(cells) == len(names) and not cells[-1].strip() for _, cells in rows[1:]
    ):
        names.pop()
        rows = [(line, cells[:-1]) for line, cells in rows]
    for i, name in enumerate(names):
        if not name:
            raise DataError(
                f"{path}, line {header_line}: column {i + 1} has no name in the header"
            )
        if names.index(name) != i:
            raise DataError(f"{path}: the header names column {name!r} twice")
    if target not in names:
        hint = ""
        folded = [n for n in names if n.casefold() == target.casefold()]
        if folded:
            hint = f" (did you mean {folded[0]!r}?)"
        elif len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            hint = " (the header has one column: is the file separated by something else " \
                   "than commas?)"
        listed = ", ".join(repr(n) for n in names)
        raise DataError(f"{path} has no column {target!r}{hint}; its columns are: {listed}")

    data_rows = rows[1:]
    if not data_rows:
        raise DataError(f"{path} has a header but no data rows")
    for line, cells in data_rows:
        if len(cells) != len(names):
            raise DataError(
                f"{path}, line {line}: {len(cells)} values, but the header has "
                f"{len(names)} columns"
            )

    columns = {}
    notes = []
    for j, name in enumerate(names):
        values = [_parse_number(cells[j]) for _, cells in data_rows]
        if name != target and all(v is None for v in values):
            notes.append(f"column {name!r} holds no numbers: left out")
            continue
        for row, ((line, cells), value) in enumerate(zip(data_rows, values), 1):
            cell = cells[j].strip()
            where = f"{path}, line {line} (data row {row}), column {name!r}"
            if not cell:
                raise DataError(f"{where}: the value is missing (fill it in or remove the row)")
            if value is None:
                raise DataError(f"{where}: {cell!r} is not a number")
            if not math.isfinite(value):
                raise DataError(f"{where}: {cell!r} is not a finite number")
        columns[name] = np.array(values, dtype=np.float64)

    features = [n for n in names if n in columns and n != target]
    if not features:
        raise DataError(f"{path} has no numeric column besides the target {target!r} to use "
                        "as a feature")
    X = np.column_stack([columns[n] for n in features])
    return Dataset(X, columns[target], features, target, source=path, notes=notes)


def check_fittable(data):
    """Raise DataError unless ``data`` has one least-squares solution that training can reach.

    That needs at least one row more than features (the intercept is a parameter too), no
    constant column (it cannot be standardized, and it duplicates the intercept), a target
    that varies, and features that are not linear combinations of one another.
    """
    n, p = data.X.shape
    if n < p + 1:
        raise DataError(
            f"{data.source} has {n} data rows but {p} feature columns: fitting {p} "
            f"coefficients and an intercept needs at least {p + 1} rows"
        )
    std = data.X.std(axis=0)
    for name, s, column in zip(data.feature_names, std, data.X.T):
        if s == 0:
            raise DataError(
                f"{data.source}: column {name!r} is constant ({column[0]:g} in every row), so "
                "its effect cannot be told apart from the intercept; remove it"
            )
    if data.y.std() == 0:
        raise DataError(
            f"{data.source}: the target {data.target_name!r} is constant "
            f"({data.y[0]:g} in every row); there is nothing to fit"
        )
    Z = (data.X - data.X.mean(axis=0)) / std
    if np.linalg.matrix_rank(Z) == p:  # one SVD; matrix_rank's threshold allows for rounding
        return
    # Rank deficient: add the columns one at a time to name the first that does not raise the
    # rank, a linear combination of those before it.
    for j in range(1, p):
        if np.linalg.matrix_rank(Z[:, : j + 1]) <= j:
            earlier = ", ".join(repr(name) for name in data.feature_names[:j])
            raise DataError(
                f"{data.source}: column {data.feature_names[j]!r} is a linear combination of "
                f"the columns before it ({earlier}), so the coefficients are not unique; "
                "remove it"
            )


@dataclass
class Standardized:
    """``Z = (X - x_mean) / x_std`` and ``t = (y - y_mean) / y_std``, with the way back.

    Examples
    --------
    >>> s = Standardized.of(np.array([[1.0], [3.0]]), np.array([10.0, 20.0]))
    >>> s.Z.ravel().tolist(), s.t.tolist()
    ([-1.0, 1.0], [-1.0, 1.0])
    >>> s.to_original(np.array([1.0]), 0.0)  # t = z  <=>  y = 5 x + 5
    (array([5.]), 5.0)
    """

    Z: np.ndarray
    t: np.ndarray
    x_mean: np.ndarray
    x_std: np.ndarray
    y_mean: float
    y_std: float

    @classmethod
    def of(cls, X, y):
        """Standardize ``X`` column by column and ``y`` (both must vary)."""
        x_mean, x_std = X.mean(axis=0), X.std(axis=0)
        y_mean, y_std = float(y.mean()), float(y.std())
        return cls((X - x_mean) / x_std, (y - y_mean) / y_std, x_mean, x_std, y_mean, y_std)

    def to_original(self, w, b):
        """Coefficients and intercept in the original units for ``t = Z @ w + b``.

        Substituting the definitions of ``Z`` and ``t``: ``y = X @ coef + intercept`` with
        ``coef = w * y_std / x_std`` and ``intercept = y_mean + b * y_std - x_mean @ coef``.
        """
        coef = np.asarray(w, dtype=np.float64) * self.y_std / self.x_std
        intercept = self.y_mean + float(b) * self.y_std - float(self.x_mean @ coef)
        return coef, intercept


def lstsq_fit(X, y):
    """The closed-form least-squares ``(coef, intercept)`` from ``numpy.linalg.lstsq``.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> coef, intercept = lstsq_fit(X, 3 * X[:, 0] + 1)
    >>> np.round(coef, 12).tolist(), round(intercept, 12)
    ([3.0], 1.0)
    """
    A = np.column_stack([X, np.ones(len(X))])
    solution = np.linalg.lstsq(A, y, rcond=None)[0]
    return solution[:-1], float(solution[-1])


def r_squared(X, y, coef, intercept):
    """The coefficient of determination ``1 - SS_res / SS_tot`` of ``X @ coef + intercept``.

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> r_squared(X, np.array([1.0, 2.0, 3.0]), np.array([1.0]), 1.0)
    1.0
    """
    residual = y - (X @ coef + intercept)
    return 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())


# ----- training ------------------------------------------------------------------------


class Progress:
    """A one-line training progress display.

    On a terminal the line is rewritten in place (carriage return), at most every 0.1 s so
    printing does not slow training down; otherwise (a pipe or a file) it prints a plain line
    every ``every`` steps and at the end, so logs stay readable.

    Parameters
    ----------
    total : int
        The step limit, shown as ``step k/total``.
    stream : file, optional
        Where to write (default ``sys.stdout``).
    every : int, optional
        For plain output: print every this many steps (default: about 20 lines per run, and
        at least 10 steps apart).
    """

    def __init__(self, total, stream=None, every=None):
        self.total = total
        self.stream = sys.stdout if stream is None else stream
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every or max(10, total // 20)
        self.start = time.perf_counter()
        self.last_draw = -math.inf
        self.width = 0

    def _line(self, step, fields):
        width = len(str(self.total))
        text = "  ".join(f"{k} {v}" for k, v in fields.items())
        line = f"step {step:>{width}}/{self.total}  {text}"
        elapsed = time.perf_counter() - self.start
        if step > 0 and elapsed > 0:  # no rate before the first step has been taken
            line += f"  {step / elapsed:,.0f} steps/s"
        return line

    def update(self, step, final=False, **fields):
        """Show step ``step`` with ``fields`` (name -> formatted value); ``final`` for the last."""
        if self.tty:
            now = time.perf_counter()
            if final or now - self.last_draw >= 0.1:
                line = self._line(step, fields)
                # Pad over the tail of a longer previous line; the carriage return goes back.
                self.stream.write("\r" + line.ljust(self.width))
                self.width = len(line)
                self.last_draw = now
                if final:
                    self.stream.write("\n")
                self.stream.flush()
        elif final or step % self.every == 0:
            print(self._line(step, fields), file=self.stream, flush=True)


@dataclass
class FitResult:
    """What ``fit`` returns: the parameters in original units and how training went.

    ``status`` is ``"converged"``, ``"step limit"`` or ``"diverged"``; ``losses`` holds the
    loss (mean squared error in the target's units) before each step.
    """

    coef: np.ndarray
    intercept: float
    status: str
    steps: int
    grad_norm: float
    losses: list
    seconds: float


def default_lr(optimizer, n_features):
    """The default learning rate for ``optimizer`` on standardized data with ``n_features``.

    For SGD with momentum 0.9 on ``mean((Z w + b - t)^2)`` the update is stable while
    ``lr * 2 * lambda_max < 2 * (1 + 0.9)``, where ``lambda_max`` is the largest eigenvalue of
    the features' correlation matrix. That matrix has trace ``n_features``, so
    ``lambda_max <= n_features``, and ``lr = 1 / n_features`` is stable whatever the
    correlations; 0.1 is the cap for a few features, where it is already as fast as any.
    Adam's steps are normalized per parameter, so its rate does not depend on the features.

    Examples
    --------
    >>> default_lr("sgd", 3), default_lr("sgd", 40), default_lr("adam", 40)
    (0.1, 0.025, 0.01)
    """
    if optimizer == "adam":
        return DEFAULT_LR_ADAM
    return min(0.1, 1.0 / n_features)


def make_optimizer(name, params, lr, momentum=DEFAULT_MOMENTUM):
    """``optim.SGD`` with momentum (``name="sgd"``) or ``optim.Adam`` (``"adam"``)."""
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return optim.Adam(params, lr=lr)
    raise ValueError(f"make_optimizer: unknown optimizer {name!r}, expected 'sgd' or 'adam'")


def fit(data, optimizer="sgd", lr=None, momentum=DEFAULT_MOMENTUM, steps=DEFAULT_STEPS,
        tol=DEFAULT_TOL, seed=0, progress=None, compiled=True):
    """Train ``nn.Linear`` on standardized data until the gradient norm is at most ``tol``.

    Parameters
    ----------
    data : Standardized
    optimizer : {"sgd", "adam"}
    lr : float, optional
        The learning rate; ``default_lr(optimizer, n_features)`` when None.
    momentum : float
        SGD's momentum (ignored by Adam).
    steps : int
        The most optimizer steps to take.
    tol : float
        Converged when the gradient's Euclidean norm (over all parameters, on standardized
        data) is at most this.
    seed : int
        Seeds the layer's initial weights.
    progress : Progress, optional
        Shown every step.
    compiled : bool
        Run each step through ``ad.compile`` (the same numbers, bit for bit, faster);
        False runs it eagerly.

    Returns
    -------
    FitResult
    """
    n_features = data.Z.shape[1]
    lr = default_lr(optimizer, n_features) if lr is None else lr
    Z = ad.tensor(data.Z)
    t = ad.tensor(data.t[:, None])  # the shape of the model's output, (n, 1)
    model = nn.Linear(n_features, 1, seed=seed)
    params = list(model.parameters())
    opt = make_optimizer(optimizer, params, lr, momentum)
    mse_scale = data.y_std**2  # the loss on standardized data times this is the MSE in y's units

    def advance(update):
        # The update of the previous step, then this step's loss and gradients: the loop
        # reads them before it decides to take the update (compiled: one signature each).
        if update:
            opt.step()
        opt.zero_grad()
        loss = nn.mse_loss(model(Z), t)
        loss.backward()
        return loss

    advance = ad.compile(advance) if compiled else advance
    losses = []
    status = "step limit"
    start = time.perf_counter()
    for step in range(steps + 1):
        loss = advance(step > 0)
        value = loss.item()
        grad_norm = math.sqrt(sum(float(np.vdot(p.grad.data, p.grad.data)) for p in params))
        losses.append(value * mse_scale)
        diverged = not math.isfinite(value) or value > DIVERGED_FACTOR * max(losses[0], 1.0)
        if diverged:
            status = "diverged"
        elif grad_norm <= tol:
            status = "converged"
        done = diverged or status == "converged" or step == steps
        if progress is not None:
            progress.update(step, final=done, mse=f"{value * mse_scale:.6e}",
                            **{"|grad|": f"{grad_norm:.1e}"})
        if done:
            break
    seconds = time.perf_counter() - start

    coef, intercept = data.to_original(model.weight.data[0], model.bias.data[0])
    return FitResult(coef, intercept, status, step, grad_norm, losses, seconds)


def time_per_step(data, backends, optimizer="sgd", lr=None, momentum=DEFAULT_MOMENTUM,
                  steps=TIMING_STEPS, repeats=TIMING_REPEATS, compiled=True):
    """Seconds per training step (forward, backward, update) on each of ``backends``
    (compiled with ``ad.compile``, recording included, unless ``compiled`` is False).

    Returns a dict backend -> the fastest of ``repeats`` runs of ``steps`` steps: the fastest
    run is the one least disturbed by whatever else the machine is doing, and the backends take
    turns so that a slow spell does not land on one of them only. ``tol=0`` keeps every run to
    exactly ``steps`` steps.
    """
    best = dict.fromkeys(backends, math.inf)
    for _ in range(repeats):
        for backend in backends:
            with ad.use_backend(backend):
                result = fit(data, optimizer, lr, momentum, steps=steps, tol=0.0,
                             compiled=compiled)
            best[backend] = min(best[backend], result.seconds / (result.steps + 1))
    return best


# ----- the report ----------------------------------------------------------------------


def format_seconds(seconds):
    """A duration with a unit that keeps it readable: ``"12.3 us"``, ``"4.56 ms"``, ``"1.2 s"``.

    Examples
    --------
    >>> format_seconds(1.234e-5), format_seconds(0.00456), format_seconds(1.2)
    ('12.3 us', '4.56 ms', '1.20 s')
    """
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def print_comparison(data, coef, intercept, stream=None):
    """Print fitted vs least-squares parameters and R^2; return max |fitted - lstsq|.

    One row per parameter ends in three numbers, ``fitted lstsq |diff|`` (``true fitted lstsq
    |diff|`` when the true values are known), so the table is easy to read back by machine.
    """
    stream = sys.stdout if stream is None else stream
    ls_coef, ls_intercept = lstsq_fit(data.X, data.y)
    names = list(data.feature_names) + ["(intercept)"]
    fitted = np.append(coef, intercept)
    lstsq = np.append(ls_coef, ls_intercept)
    diff = np.abs(fitted - lstsq)
    known = data.true_coef is not None
    true = np.append(data.true_coef, data.true_intercept) if known else None

    width = max(len("parameter"), *(len(n) for n in names))
    head = f"{'parameter':<{width}}"
    if known:
        head += f"  {'true':>10}"
    print(head + f"  {'fitted':>20}  {'lstsq':>20}  {'|diff|':>8}", file=stream)
    for i, name in enumerate(names):
        row = f"{name:<{width}}"
        if known:
            row += f"  {true[i]:>10.4g}"
        print(row + f"  {fitted[i]:>20.13g}  {lstsq[i]:>20.13g}  {diff[i]:>8.1e}", file=stream)

    max_diff = float(diff.max())
    verdict = f"within {FIT_TOL:g}" if max_diff <= FIT_TOL else f"NOT within {FIT_TOL:g}"
    relative = max_diff / max(float(np.abs(lstsq).max()), np.finfo(float).tiny)
    print(f"max |fitted - lstsq| = {max_diff:.2e}: {verdict} "
          f"(relative to the largest parameter: {relative:.1e})", file=stream)
    r2 = r_squared(data.X, data.y, coef, intercept)
    r2_ls = r_squared(data.X, data.y, ls_coef, ls_intercept)
    print(f"R^2 = {r2:.10f} (lstsq: {r2_ls:.10f})", file=stream)
    return max_diff


def print_timings(data, args, active):
    """Time a training step on the active backend and on the other one, compiled (unless
    ``--no-compile``) and eagerly on the active backend, and print them on one line."""
    other = "numpy" if active == "c" else "c"
    backends = [active] if other == "c" and not ad.c_available() else [active, other]
    compiled = not args.no_compile
    per_step = time_per_step(data, backends, args.optimizer, args.lr, args.momentum,
                             compiled=compiled)
    line = f"time per step: {format_seconds(per_step[active])} on {active} (active)"
    if other in per_step:
        ratio = per_step[other] / per_step[active]
        line += f", {format_seconds(per_step[other])} on {other} ({ratio:.2f}x the time)"
    else:
        line += "; the C core is not available (not built, or it did not load): no comparison"
    if compiled:
        eager = time_per_step(data, [active], args.optimizer, args.lr, args.momentum,
                              compiled=False)[active]
        line += (f"; compiled, against {format_seconds(eager)} eager on {active} "
                 f"({eager / per_step[active]:.2f}x the time)")
    else:
        line += "; eager (--no-compile)"
    print(f"{line}  [best of {TIMING_REPEATS} runs of {TIMING_STEPS} steps each]")


# ----- the command line ----------------------------------------------------------------


def build_parser(prog="python -m pyautodiff", description=None):
    """The argument parser for the data, optimizer and backend options (shared by the example)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description or (
            "Fit a linear regression with pyautodiff (nn.Linear, mse_loss, SGD or Adam) and "
            "compare it with the closed-form least-squares solution. Without --csv it fits "
            "synthetic demo data."
        ),
        epilog=(
            "Features and target are standardized before training (so the default learning "
            "rate suits data in any units) and the coefficients are reported in the original "
            "units. Exit status: 0 converged, 1 did not converge or diverged, 2 bad options "
            "or data."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument("--csv", metavar="FILE",
                      help="fit this CSV file: a header row, then one row per sample; every "
                           "numeric column other than --target is a feature (columns with no "
                           "numbers, such as names, are left out)")
    data.add_argument("--target", metavar="COLUMN",
                      help="the CSV column to predict (required with --csv)")
    data.add_argument("--seed", type=int, default=0,
                      help="seed of the demo data and of the initial weights (default: 0)")
    training = parser.add_argument_group("training")
    training.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                          help="sgd: gradient descent with momentum (optim.SGD); adam: "
                               "optim.Adam (default: sgd)")
    training.add_argument("--lr", type=_positive_float, default=None,
                          help="learning rate (default: 0.1 for sgd, lowered to 1/number of "
                               f"features beyond 10 features; {DEFAULT_LR_ADAM} for adam)")
    training.add_argument("--momentum", type=_fraction, default=DEFAULT_MOMENTUM,
                          help=f"SGD momentum, in [0, 1); adam ignores it "
                               f"(default: {DEFAULT_MOMENTUM})")
    training.add_argument("--steps", type=_count, default=DEFAULT_STEPS,
                          help="the most optimizer steps to take; training stops earlier once "
                               f"converged (default: {DEFAULT_STEPS})")
    training.add_argument("--tol", type=_nonnegative_float, default=DEFAULT_TOL,
                          help="converged when the gradient norm (of the loss on standardized "
                               f"data) is at most this (default: {DEFAULT_TOL:g})")
    training.add_argument("--no-compile", action="store_true",
                          help="run each training step eagerly instead of through ad.compile "
                               "(the same numbers, bit for bit; slower)")
    parser.add_argument("--backend", choices=("c", "numpy"), default=None,
                        help="pyautodiff backend: c (the compiled core) or numpy (pure "
                             "Python) (default: $PYAUTODIFF_BACKEND if set, else c when the C "
                             f"core is built; here: {ad.get_backend()})")
    return parser


def _number(text, kind, ok, expected):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text} is out of range, expected {expected}")
    return value


def _positive_float(text):
    return _number(text, float, lambda v: v > 0 and math.isfinite(v), "a number > 0")


def _nonnegative_float(text):
    return _number(text, float, lambda v: v >= 0 and math.isfinite(v), "a number >= 0")


def _fraction(text):
    return _number(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _count(text):
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def load_data(parser, args):
    """The Dataset the options ask for (demo data, or ``--csv``/``--target``), checked.

    Option mistakes go through ``parser.error`` (usage, exit 2); data problems raise DataError.
    """
    if args.csv is None and args.target is not None:
        parser.error("--target needs --csv FILE (without --csv the demo data is used)")
    if args.csv is not None and args.target is None:
        parser.error("--csv needs --target COLUMN: the column to predict")
    data = make_demo_data(args.seed) if args.csv is None else load_csv(args.csv, args.target)
    check_fittable(data)
    return data


def missing_extra(module, package, purpose, extra="examples"):
    """The error to print (then exit with status 2) when ``module``, part of the optional
    ``extra``, is not installed; None when it is. ``purpose`` says what needs it.

    >>> missing_extra("numpy", "numpy", "--plot") is None
    True
    """
    try:
        importlib.import_module(module)
    except ImportError:
        return (f"error: {purpose} needs {package}, which is not installed: pip install "
                f"{package} (or: pip install 'pyautodiff[{extra}]')")
    return None


def select_backend(name):
    """Switch to backend ``name`` (None keeps the current one); DataError if C is missing."""
    if name is None:
        return ad.get_backend()
    if name == "c" and not ad.c_available():
        raise DataError("--backend c: the C core is not available (it was not built or did "
                        "not load); use --backend numpy")
    ad.set_backend(name)
    return name


def run(argv=None):
    """Parse ``argv``, train, report; return the exit status (DataError propagates)."""
    parser = build_parser()
    ad.dask.add_cli_options(parser)  # here: the examples share build_parser's options
    args = parser.parse_args(argv)
    backend = select_backend(args.backend)
    if args.dask or args.scheduler is not None:  # all of it is in pyautodiff/dask.py
        error = missing_extra("distributed", "'dask[array]' distributed", "--dask", "dask")
        if error:
            print(error, file=sys.stderr)
            return EXIT_USAGE
        return ad.dask.cli_run(parser, args)
    data = load_data(parser, args)
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)
    std = Standardized.of(data.X, data.y)
    n, p = data.X.shape
    lr = default_lr(args.optimizer, p) if args.lr is None else args.lr
    settings = f"lr {lr:g}" + (f", momentum {args.momentum:g}" if args.optimizer == "sgd" else "")

    print(f"pyautodiff {ad.__version__}: linear regression on {data.source}")
    print(f"{n} rows, {p} feature{'s' if p > 1 else ''} -> {data.target_name!r}; "
          f"nn.Linear({p}, 1), mse_loss, {args.optimizer} ({settings}), standardized data, "
          f"{backend} backend")
    result = fit(std, args.optimizer, lr, args.momentum, args.steps, args.tol, args.seed,
                 progress=Progress(args.steps), compiled=not args.no_compile)
    took = f"{result.steps} steps in {format_seconds(result.seconds)}"
    if result.status == "converged":
        print(f"converged: |grad| {result.grad_norm:.1e} <= tol {args.tol:g} after {took}")
    elif result.status == "diverged":
        smaller = min(lr / 10, default_lr(args.optimizer, p))
        print(f"DIVERGED after {took}: the loss grew from {result.losses[0]:.3e} to "
              f"{result.losses[-1]:.3e}; the learning rate {lr:g} is too large for this data, "
              f"try --lr {smaller:g}")
    else:
        print(f"NOT CONVERGED: |grad| {result.grad_norm:.1e} > tol {args.tol:g} after {took} "
              "(the step limit); try more --steps or another --lr")
        # The steps gradient descent needs grow with the square of the condition number of
        # the standardized features (with a fixed momentum too): the usual reason for this.
        cond = np.linalg.cond(std.Z)
        if cond > 30:
            print(f"note: the standardized features are strongly correlated (condition number "
                  f"{cond:.3g}), which makes gradient descent slow; removing or combining "
                  "nearly redundant columns helps more than more steps")
    print()
    print_comparison(data, result.coef, result.intercept)
    if result.status != "diverged":  # the time of a step that overflows means nothing
        print_timings(std, args, backend)
    return 0 if result.status == "converged" else EXIT_NOT_CONVERGED


def main(argv=None):
    """The command-line entry point: ``run`` with errors printed as one line, not a traceback."""
    try:
        return run(argv)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``... | head``): say nothing more, and stop Python from
        # complaining when it flushes stdout at exit (the recipe in Python's signal docs).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_NOT_CONVERGED


if __name__ == "__main__":
    sys.exit(main())

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

With ``--batch-size`` it trains on minibatches instead, for data of any size: the file is read
in chunks (``pyautodiff.tabular``), once for the statistics that standardize it, then once per
epoch (``--epochs``), and never held whole; the reference is the least-squares solution from
those statistics (``run_minibatch``).

The helpers here (CSV loading with user-facing errors, standardization, the progress line, the
least-squares reference) are shared with ``examples/linear_regression.py``.
"""

import argparse
import importlib
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

import pyautodiff as ad
from pyautodiff import nn, optim
from pyautodiff.tabular import (
    ARROW_MIN_BYTES,
    READERS,
    ChunkCache,
    DataError,
    Moments,
    load_table,
    open_table,
)

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
# Minibatch training reads about this many bytes of numbers at a time (default_chunk_rows).
CHUNK_BYTES = 8 << 20
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


def load_csv(path, target, reader="auto"):
    """Read a CSV file with a header row (or a Parquet file); ``target`` is the column to predict.

    Every other column that holds numbers is a feature. A column with no numbers at all (names,
    dates, categories) is left out, with a note in ``Dataset.notes``; a numeric column with a
    cell that is not a finite number is an error that names the line and the column. The rules
    and the readers (``reader``: numpy's, or pyarrow's when installed) are
    ``pyautodiff.tabular``'s.

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
    table, X, y = load_table(path, target, reader)
    return Dataset(X, y, table.feature_names, target, source=os.fspath(path), notes=table.notes)


def check_fittable(data):
    """Raise DataError unless ``data`` has one least-squares solution that training can reach.

    That needs at least one row more than features (the intercept is a parameter too), no
    constant column (it cannot be standardized, and it duplicates the intercept), a target
    that varies, and features that are not linear combinations of one another.
    """
    lo = np.append(data.X.min(axis=0), data.y.min())
    hi = np.append(data.X.max(axis=0), data.y.max())
    _check_rows_and_constants(data.source, data.feature_names, data.target_name,
                              len(data.X), lo, hi)
    Z = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    # matrix_rank: one SVD, whose threshold allows for rounding
    _check_rank(data.source, data.feature_names, lambda j: np.linalg.matrix_rank(Z[:, :j]))


def check_moments(moments, feature_names, target_name, source):
    """``check_fittable`` for streamed data, from its ``Moments`` (of the features, then the
    target).

    The rank is that of the features' correlation matrix ``Z^T Z / n``, whose eigenvalues are
    the squares of ``Z``'s singular values over ``n``: an eigenvalue below
    ``sqrt(n) * p * eps`` times the largest (what summing ``n`` rounded products can leave of
    an exact dependence) counts as zero.

    Examples
    --------
    >>> from pyautodiff.tabular import Moments
    >>> A = np.array([[1.0, 2.0, 5.0], [2.0, 4.0, 1.0], [3.0, 6.0, 4.0], [4.0, 8.0, 9.0]])
    >>> check_moments(Moments.of(A), ["a", "b"], "y", "data.csv")
    Traceback (most recent call last):
    ...
    pyautodiff.tabular.DataError: data.csv: column 'b' is a linear combination of the columns \
before it ('a'), so the coefficients are not unique; remove it
    """
    _check_rows_and_constants(source, feature_names, target_name, moments.n, moments.min,
                              moments.max)
    R = _correlations(moments)[:-1, :-1]
    p = len(feature_names)
    tol = np.linalg.eigvalsh(R)[-1] * math.sqrt(moments.n) * p * np.finfo(np.float64).eps
    _check_rank(source, feature_names,
                lambda j: np.linalg.matrix_rank(R[:j, :j], tol=tol, hermitian=True))


def _check_rows_and_constants(source, feature_names, target_name, n, lo, hi):
    """The checks of ``check_fittable`` but the rank's, from the number of rows and the
    minimum and maximum of each column (the features, then the target)."""
    p = len(feature_names)
    if n < p + 1:
        raise DataError(
            f"{source} has {n} data rows but {p} feature columns: fitting {p} "
            f"coefficients and an intercept needs at least {p + 1} rows"
        )
    for name, a, b in zip(feature_names, lo, hi):
        if a == b:
            raise DataError(
                f"{source}: column {name!r} is constant ({a:g} in every row), so its effect "
                "cannot be told apart from the intercept; remove it"
            )
    if lo[-1] == hi[-1]:
        raise DataError(
            f"{source}: the target {target_name!r} is constant ({lo[-1]:g} in every row); "
            "there is nothing to fit"
        )


def _check_rank(source, feature_names, rank):
    """Raise DataError naming the first feature that is a linear combination of those before
    it; ``rank(j)`` is the rank of the first ``j`` standardized features."""
    p = len(feature_names)
    if rank(p) == p:
        return
    # Add the columns one at a time to name the first that does not raise the rank.
    for j in range(1, p):
        if rank(j + 1) <= j:
            earlier = ", ".join(repr(name) for name in feature_names[:j])
            raise DataError(
                f"{source}: column {feature_names[j]!r} is a linear combination of the "
                f"columns before it ({earlier}), so the coefficients are not unique; remove it"
            )


def _correlations(moments):
    """The correlation matrix of the columns whose ``Moments`` these are."""
    s = np.sqrt(np.diag(moments.comoment))
    return moments.comoment / np.outer(s, s)


@dataclass
class Standardized:
    """``Z = (X - x_mean) / x_std`` and ``t = (y - y_mean) / y_std``, with the way back.

    ``of(X, y)`` standardizes data in memory; ``from_moments`` keeps only the statistics of
    streamed data, whose chunks ``transform`` standardizes one at a time.

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
        s = cls(None, None, X.mean(axis=0), X.std(axis=0), float(y.mean()), float(y.std()))
        s.Z, s.t = s.transform(X, y)
        return s

    @classmethod
    def from_moments(cls, moments):
        """The statistics of streamed data, from the ``Moments`` of the columns of ``X`` then
        ``y``: ``Z`` and ``t`` are None, and ``transform`` standardizes the rows chunk by chunk.
        """
        std = moments.std
        return cls(None, None, moments.mean[:-1], std[:-1], float(moments.mean[-1]),
                   float(std[-1]))

    def transform(self, X, y):
        """``(Z, t)``: the rows ``X``, ``y`` standardized with these statistics."""
        return (X - self.x_mean) / self.x_std, (y - self.y_mean) / self.y_std

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


def moments_lstsq(moments):
    """The least-squares ``(coef, intercept)`` of the last column on the others, from their
    ``Moments``: the normal equations, scaled to correlations (streamed data's ``lstsq_fit``;
    the features must be independent, which ``check_moments`` makes sure of).

    Examples
    --------
    >>> from pyautodiff.tabular import Moments
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 5.0]])
    >>> y = X @ [3.0, -2.0] + 1
    >>> coef, intercept = moments_lstsq(Moments.of(np.column_stack([X, y])))
    >>> np.round(coef, 12).tolist(), round(intercept, 12)
    ([3.0, -2.0], 1.0)
    """
    s = np.sqrt(np.diag(moments.comoment))[:-1]
    u = np.linalg.solve(_correlations(moments)[:-1, :-1], moments.comoment[:-1, -1] / s)
    coef = u / s
    return coef, float(moments.mean[-1] - moments.mean[:-1] @ coef)


def moments_r_squared(moments, coef, intercept):
    """``r_squared`` of ``X @ coef + intercept`` for streamed data, from the ``Moments`` of the
    columns of ``X`` then ``y``: ``SS_res`` expanded around the means.

    Examples
    --------
    >>> from pyautodiff.tabular import Moments
    >>> X, y = np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 2.0, 4.0])
    >>> m = Moments.of(np.column_stack([X, y]))
    >>> bool(np.isclose(moments_r_squared(m, np.array([1.0]), 1.0),
    ...                 r_squared(X, y, np.array([1.0]), 1.0), rtol=1e-14))
    True
    """
    C = moments.comoment
    offset = moments.mean[-1] - moments.mean[:-1] @ coef - intercept
    ss_res = C[-1, -1] - 2 * coef @ C[:-1, -1] + coef @ C[:-1, :-1] @ coef \
        + moments.n * offset**2
    return 1.0 - float(ss_res / C[-1, -1])


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


# ----- minibatch training on data in chunks ---------------------------------------------


@dataclass
class MinibatchResult:
    """What ``fit_minibatch`` returns: the parameters in original units and how training went.

    ``status`` is ``"done"`` (every epoch ran) or ``"diverged"``; ``losses`` holds each epoch's
    mean squared error (in the target's units) over its batches, each before its step.
    """

    coef: np.ndarray
    intercept: float
    status: str
    epochs: int
    steps: int
    rows: int
    losses: list
    seconds: float


def default_chunk_rows(batch_size, n_columns):
    """Rows read at a time: about ``CHUNK_BYTES`` of float64 numbers, a multiple of
    ``batch_size`` (so that only a file's last chunk ends in a smaller batch).

    Examples
    --------
    >>> default_chunk_rows(4096, 11), default_chunk_rows(10**6, 11)
    (94208, 1000000)
    """
    return max(1, CHUNK_BYTES // (8 * n_columns) // batch_size) * batch_size


def array_chunks(X, y, rows):
    """Data in memory as ``Table.chunks`` gives a file: ``(X, y)`` views, ``rows`` at a time.

    Examples
    --------
    >>> [len(y) for _, y in array_chunks(np.zeros((5, 2)), np.zeros(5), 2)]
    [2, 2, 1]
    """
    return ((X[i:i + rows], y[i:i + rows]) for i in range(0, len(X), rows))


def scan(chunks, cache=None):
    """The first pass over streamed data: ``(moments, n_chunks)``.

    ``moments`` are the ``tabular.Moments`` of the columns of ``X`` then ``y`` over all the
    ``(X, y)`` chunks of ``chunks``; each chunk ``[X, y]`` is also appended to ``cache`` (a
    ``tabular.ChunkCache``) when given, for the epochs to read back.

    Examples
    --------
    >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5.0)
    >>> moments, n_chunks = scan(array_chunks(X, y, 2))
    >>> n_chunks, moments.n, moments.mean.tolist()
    (3, 5, [4.0, 5.0, 2.0])
    """
    moments, n_chunks = None, 0
    for X, y in chunks:
        A = np.column_stack([X, y])
        if moments is None:
            moments = Moments(A.shape[1])
        moments.update(A)
        if cache is not None:
            cache.append(A)
        n_chunks += 1
    return moments, n_chunks


def minibatches(chunks, scale, batch_size, rng):
    """The standardized minibatches ``(Z, t)`` of ``chunks``, in the order training takes them.

    The order, which depends on nothing but the rows of each chunk and ``rng``: the chunks in
    the order given (a file's: its own); the rows of each chunk standardized with ``scale``
    (``Standardized``), put in a random order (one ``rng.permutation`` per chunk) and cut into
    batches of ``batch_size`` rows, the last of each chunk smaller when ``batch_size`` does not
    divide the chunk. Batches never mix rows of two chunks: a file sorted by some column should
    be shuffled beforehand, or read in large chunks.

    Examples
    --------
    Rows 0-2 (a chunk of 3) in batches of 2, then rows 3-4 (scaled by 1: ``t`` is ``y``):

    >>> X, y = np.zeros((5, 1)), np.arange(5.0)
    >>> same = Standardized(None, None, np.zeros(1), np.ones(1), 0.0, 1.0)
    >>> rng = np.random.default_rng(0)
    >>> [t.tolist() for _, t in minibatches(array_chunks(X, y, 3), same, 2, rng)]
    [[2.0, 0.0], [1.0], [4.0, 3.0]]
    """
    for X, y in chunks:
        Z, t = scale.transform(X, y)
        order = rng.permutation(len(Z))
        for start in range(0, len(Z), batch_size):
            rows = order[start:start + batch_size]
            # C order, whatever the chunk's: a matrix product's rounding depends on the layout
            yield np.ascontiguousarray(Z[rows]), t[rows]


def fit_minibatch(chunks, scale, batch_size, epochs=1, optimizer="sgd", lr=None,
                  momentum=DEFAULT_MOMENTUM, seed=0, compiled=True, stream=None):
    """Train ``nn.Linear`` by one optimizer step per minibatch, for ``epochs`` epochs.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` gives the data, as an iterable of ``(X, y)`` chunks in original units;
        called once per epoch (``Table.chunks``, a ``ChunkCache``'s, ``array_chunks``).
    scale : Standardized
        The statistics that standardize each chunk (``Standardized.from_moments``).
    batch_size, epochs : int
        The batches are ``minibatches(chunks(), scale, batch_size, rng)``, with
        ``rng = numpy.random.default_rng(seed)`` drawing every epoch's orders in turn: the
        same seed and chunks give the same batches, and the same parameters bit for bit,
        whether the chunks come from a file or from memory.
    optimizer, lr, momentum, compiled
        As for ``fit``.
    seed : int
        Seeds the layer's initial weights and the order of the rows.
    stream : file, optional
        Where to print one line per epoch.

    Returns
    -------
    MinibatchResult
    """
    n_features = len(scale.x_mean)
    lr = default_lr(optimizer, n_features) if lr is None else lr
    model = nn.Linear(n_features, 1, seed=seed)
    opt = make_optimizer(optimizer, list(model.parameters()), lr, momentum)

    def step(Z, t):
        opt.zero_grad()
        loss = nn.mse_loss(model(Z), t)
        loss.backward()
        opt.step()
        return loss

    step = ad.compile(step) if compiled else step
    rng = np.random.default_rng(seed)
    mse_scale = scale.y_std**2  # the loss on standardized data times this is the MSE in y's units
    losses, status, steps, rows, first = [], "done", 0, 0, None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        epoch_start, epoch_steps, epoch_rows, total = time.perf_counter(), 0, 0, 0.0
        for Z, t in minibatches(chunks(), scale, batch_size, rng):
            loss = step(ad.tensor(Z), ad.tensor(t[:, None])).item()
            first = loss if first is None else first
            epoch_steps += 1
            epoch_rows += len(Z)
            total += loss * len(Z)
            if not math.isfinite(loss) or loss > DIVERGED_FACTOR * max(first, 1.0):
                status = "diverged"
                break
        seconds = time.perf_counter() - epoch_start
        losses.append(total / epoch_rows * mse_scale)
        steps += epoch_steps
        rows += epoch_rows
        if stream is not None:
            print(f"epoch {epoch}/{epochs}  mse {losses[-1]:.6e}  {epoch_steps} steps  "
                  f"{format_seconds(seconds)}  {epoch_rows / seconds:,.0f} rows/s",
                  file=stream, flush=True)
        if status == "diverged":
            break
    coef, intercept = scale.to_original(model.weight.data[0], model.bias.data[0])
    return MinibatchResult(coef, intercept, status, epoch, steps, rows, losses,
                           time.perf_counter() - start)


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
    ls_coef, ls_intercept = lstsq_fit(data.X, data.y)
    known = data.true_coef is not None
    return print_table(
        data.feature_names, np.append(coef, intercept), np.append(ls_coef, ls_intercept),
        r_squared(data.X, data.y, coef, intercept),
        r_squared(data.X, data.y, ls_coef, ls_intercept),
        true=np.append(data.true_coef, data.true_intercept) if known else None, stream=stream,
    )


def print_table(feature_names, fitted, lstsq, r2, r2_lstsq, true=None, tol=FIT_TOL,
                stream=None):
    """``print_comparison``'s table, from the parameters (the coefficients, then the
    intercept) and R^2 of both fits; ``tol=None`` prints no verdict. Returns max |diff|."""
    stream = sys.stdout if stream is None else stream
    names = list(feature_names) + ["(intercept)"]
    diff = np.abs(fitted - lstsq)
    width = max(len("parameter"), *(len(n) for n in names))
    head = f"{'parameter':<{width}}"
    if true is not None:
        head += f"  {'true':>10}"
    print(head + f"  {'fitted':>20}  {'lstsq':>20}  {'|diff|':>8}", file=stream)
    for i, name in enumerate(names):
        row = f"{name:<{width}}"
        if true is not None:
            row += f"  {true[i]:>10.4g}"
        print(row + f"  {fitted[i]:>20.13g}  {lstsq[i]:>20.13g}  {diff[i]:>8.1e}", file=stream)

    max_diff = float(diff.max())
    verdict = ""
    if tol is not None:
        verdict = f": within {tol:g}" if max_diff <= tol else f": NOT within {tol:g}"
    relative = max_diff / max(float(np.abs(lstsq).max()), np.finfo(float).tiny)
    print(f"max |fitted - lstsq| = {max_diff:.2e}{verdict} "
          f"(relative to the largest parameter: {relative:.1e})", file=stream)
    print(f"R^2 = {r2:.10f} (lstsq: {r2_lstsq:.10f})", file=stream)
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
                           "numbers, such as names, are left out). A Parquet file works too "
                           "(recognized by its contents; needs pyarrow: pip install "
                           "'pyautodiff[data]')")
    data.add_argument("--target", metavar="COLUMN",
                      help="the CSV column to predict (required with --csv)")
    data.add_argument("--reader", choices=READERS, default="auto",
                      help="the CSV reader: numpy (numpy.loadtxt) or arrow (pyarrow's, "
                           "multithreaded; needs pyarrow); auto: arrow for files of "
                           f"{ARROW_MIN_BYTES >> 20} MB and up when pyarrow is installed, else "
                           "numpy (default: auto). Both give the same numbers")
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


def _positive_int(text):
    return _number(text, int, lambda v: v > 0, "an integer > 0")


def add_minibatch_options(parser):
    """The options of minibatch training (``python -m pyautodiff`` only)."""
    group = parser.add_argument_group(
        "minibatch training",
        "With --batch-size the file is never read whole: a first pass reads it in chunks for "
        "the means and standard deviations of the columns (and keeps the numbers in a "
        "temporary file, unless --no-cache), then each epoch reads the chunks again, "
        "standardizes them and takes one optimizer step per batch, the rows of each chunk in "
        "a random order (--seed). Memory stays that of one chunk, whatever the file's size. "
        "The fit is compared with the least-squares solution computed from the first pass's "
        "statistics. Exit status: 0 trained, 1 diverged, 2 bad options or data.",
    )
    group.add_argument("--batch-size", type=_positive_int, default=None, metavar="ROWS",
                       help="train on minibatches of this many rows, reading the data in "
                            "chunks (default: full-batch gradient descent on the whole data "
                            "in memory)")
    group.add_argument("--epochs", type=_positive_int, default=None,
                       help="passes over the data (default: 1)")
    group.add_argument("--chunk-rows", type=_positive_int, default=None, metavar="ROWS",
                       help="rows read at a time (default: about "
                            f"{CHUNK_BYTES >> 20} MB of numbers, a multiple of --batch-size)")
    group.add_argument("--no-cache", action="store_true",
                       help="read and parse the file again each epoch instead of keeping its "
                            "numbers in a temporary file ($TMPDIR) after the first pass")


def check_data_options(parser, args):
    """``--csv`` and ``--target`` come together; a mistake goes through ``parser.error``."""
    if args.csv is None and args.target is not None:
        parser.error("--target needs --csv FILE (without --csv the demo data is used)")
    if args.csv is not None and args.target is None:
        parser.error("--csv needs --target COLUMN: the column to predict")


def load_data(parser, args):
    """The Dataset the options ask for (demo data, or ``--csv``/``--target``), checked.

    Option mistakes go through ``parser.error`` (usage, exit 2); data problems raise DataError.
    """
    check_data_options(parser, args)
    data = (make_demo_data(args.seed) if args.csv is None
            else load_csv(args.csv, args.target, getattr(args, "reader", "auto")))
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
    add_minibatch_options(parser)
    ad.dask.add_cli_options(parser)  # here: the examples share build_parser's options
    args = parser.parse_args(argv)
    if args.batch_size is not None:
        return run_minibatch(parser, args)
    for option, value in (("--epochs", args.epochs), ("--chunk-rows", args.chunk_rows),
                          ("--no-cache", args.no_cache or None)):
        if value is not None:
            parser.error(f"{option} needs --batch-size (it is an option of minibatch training)")
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


def run_minibatch(parser, args):
    """``run`` with ``--batch-size``: two passes over the data in chunks, statistics then
    training (see ``add_minibatch_options``); returns the exit status."""
    if args.steps != DEFAULT_STEPS or args.tol != DEFAULT_TOL:
        parser.error("--steps and --tol are options of full-batch training; with --batch-size "
                     "training runs for --epochs epochs")
    check_data_options(parser, args)
    backend = select_backend(args.backend)
    true = None
    if args.csv is None:
        data = make_demo_data(args.seed)
        names, target, source, notes = data.feature_names, data.target_name, data.source, []
        true = np.append(data.true_coef, data.true_intercept)

        def chunks(rows):
            return array_chunks(data.X, data.y, rows)

        read = "the data in memory"
    else:
        table = open_table(args.csv, args.target, args.reader)
        names, target, source, notes = (table.feature_names, table.target_name, table.path,
                                        table.notes)
        chunks = table.chunks
        read = f"the {table.kind} file read in chunks by {table.reader}"
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    p, batch_size, epochs = len(names), args.batch_size, args.epochs or 1
    rows = args.chunk_rows or default_chunk_rows(batch_size, p + 1)
    lr = default_lr(args.optimizer, p) if args.lr is None else args.lr
    settings = f"lr {lr:g}" + (f", momentum {args.momentum:g}" if args.optimizer == "sgd" else "")
    print(f"pyautodiff {ad.__version__}: linear regression in minibatches on {source}; {read}")

    cache = None
    try:
        start = time.perf_counter()
        try:
            if args.csv is not None and not args.no_cache:
                cache = ChunkCache()
            moments, n_chunks = scan(chunks(rows), cache)
        except OSError as e:  # (reading the file raises DataError)
            raise DataError(f"cannot keep the numbers read in a temporary file in "
                            f"{tempfile.gettempdir()} ({e.strerror or e}): set TMPDIR to a "
                            "directory with room, or use --no-cache") from None
        seconds = time.perf_counter() - start
        kept = (f"; the numbers kept in a temporary file ({cache.nbytes / 1e6:.1f} MB)"
                if cache is not None else "")
        print(f"pass 1 (statistics): {moments.n} rows in {n_chunks} "
              f"chunk{'s' if n_chunks > 1 else ''} of {rows} rows, "
              f"{format_seconds(seconds)} ({moments.n / seconds:,.0f} rows/s){kept}")
        check_moments(moments, names, target, source)
        scale = Standardized.from_moments(moments)
        print(f"{p} feature{'s' if p > 1 else ''} -> {target!r}; nn.Linear({p}, 1), mse_loss, "
              f"{args.optimizer} ({settings}), batches of {batch_size} rows, {epochs} "
              f"epoch{'s' if epochs > 1 else ''}, standardized data, {backend} backend")
        if cache is not None:
            def again():
                return ((A[:, :-1], A[:, -1]) for A in cache)
        else:
            def again():
                return chunks(rows)
        result = fit_minibatch(again, scale, batch_size, epochs, args.optimizer, lr,
                               args.momentum, args.seed, compiled=not args.no_compile,
                               stream=sys.stdout)
    finally:
        if cache is not None:
            cache.close()
    took = (f"{result.epochs} epoch{'s' if result.epochs > 1 else ''}, {result.steps} steps, "
            f"{result.rows} rows in {format_seconds(result.seconds)}")
    if result.status == "diverged":
        smaller = min(lr / 10, default_lr(args.optimizer, p))
        print(f"DIVERGED after {took}: the loss grew beyond {DIVERGED_FACTOR:g} times its "
              f"first value; the learning rate {lr:g} is too large for this data, try "
              f"--lr {smaller:g}")
    else:
        print(f"trained: {took} ({result.rows / result.seconds:,.0f} rows/s)")
    print()
    print("lstsq: the least-squares solution from the statistics of pass 1")
    ls_coef, ls_intercept = moments_lstsq(moments)
    print_table(names, np.append(result.coef, result.intercept),
                np.append(ls_coef, ls_intercept),
                moments_r_squared(moments, result.coef, result.intercept),
                moments_r_squared(moments, ls_coef, ls_intercept), true=true, tol=None)
    return EXIT_NOT_CONVERGED if result.status == "diverged" else 0


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

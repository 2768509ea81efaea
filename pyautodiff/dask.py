"""``ad.dask``: data-parallel gradients over the chunks of ``dask.array`` data.

A loss over a data set is a sum over its rows, so its gradient is the sum of the gradients
over any split of the rows. ``value_and_grad(loss, params, X, y)`` computes the loss and its
gradient of each row chunk of ``X`` and ``y`` where that chunk lives (one task per chunk,
calling pyautodiff on the chunk's numpy arrays), adds the chunks' results up in a tree of
tasks, and brings the total back: numpy arrays for the optimizer step on the driver.
``fit`` runs full-batch gradient descent (an ``ad.optim`` optimizer) or scipy's L-BFGS on it.

The convention: ``loss(params, Xc, yc)`` returns the **sum** of the per-row losses of the
chunk (``Xc``, ``yc`` are Tensors holding the chunk), written with pyautodiff ops, so that
the chunks' results add up to the loss of the whole data set. The mean is that sum divided
by the number of rows: ``mean=True`` divides value and gradient by it on the driver.

Which scheduler runs the tasks is dask's choice, as for ``dask.compute``: with a
``distributed.Client`` active (the usual case: a cluster) the parameters are broadcast to
every worker once per evaluation (``client.scatter(..., broadcast=True)``), otherwise the
local threads (or ``dask.config.set(scheduler=...)``'s choice) compute. Every task runs on
the pyautodiff backend that is active on the driver when the evaluation starts. The sum is
taken in a fixed order (the tree over the chunks in row order), so a result does not depend
on which worker computed which chunk, nor on a worker lost and its tasks run again.

``python -m pyautodiff --csv 'data/*.csv' --target y --dask`` fits the command line's
linear regression this way on a ``distributed.LocalCluster`` (``--scheduler ADDRESS``: on an
existing cluster); ``cli_run`` and ``cli_fit`` below are that command.

This module imports dask only inside its functions: it needs the optional ``[dask]`` extra
(``pip install 'pyautodiff[dask]'``, for ``dask[array]`` and ``distributed``) only when used.
"""

import glob
import itertools
import logging
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import backends, optim
from .functional import value_and_grad as _value_and_grad
from .ops.elementwise import logaddexp
from .ops.reduce import sum as _sum
from .tensor import Tensor, as_array

__all__ = ["CliFit", "FitResult", "add_cli_options", "cli_fit", "cli_run", "fit",
           "linear_loss", "logistic_loss", "value_and_grad"]

METHODS = ("gd", "lbfgs")
# Gradient descent counts as diverged when the loss grows this far above its start (as the
# command line's training does): a stable run never gets there, an unstable one soon does.
DIVERGED_FACTOR = 1e4
# The chunks' results are added FAN_IN at a time: each level of the tree costs a round of
# messages (about 7 ms on a local cluster here), and adding 8 small arrays costs nothing.
FAN_IN = 8
LOCAL_WORKERS = 2  # the LocalCluster of ``--dask`` without ``--scheduler``: worker processes


# ----- two losses that follow the convention --------------------------------------------------


def linear_loss(params, X, y):
    """The sum of squared residuals of the linear model ``X @ w + b`` (``params = (w, b)``).

    ``w`` has shape (d,) for a target ``y`` of shape (n,), (d, k) for (n, k); ``b`` is a
    number or of shape (1,) or (k,).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> X, y = ad.tensor([[1.0], [2.0]]), ad.tensor([1.0, 1.0])
    >>> linear_loss((ad.tensor([1.0]), ad.tensor([0.0])), X, y)  # 0^2 + 1^2
    Tensor(1., dtype=float64)
    """
    w, b = params
    r = X @ w + b - y
    return _sum(r * r)


def logistic_loss(params, X, y):
    """The sum of the logistic losses (negative log-likelihoods) of labels ``y`` in {0, 1}
    under ``P(y = 1) = sigmoid(X @ w + b)`` (``params = (w, b)``, shapes as ``linear_loss``).

    Each row's loss is ``log(1 + exp(z)) - y z`` with ``z = X @ w + b``, computed as
    ``logaddexp(0, z) - y z``, which neither overflows nor loses the small values.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> X, y = ad.tensor([[0.0], [0.0]]), ad.tensor([0.0, 1.0])
    >>> round(logistic_loss((ad.tensor([1.0]), ad.tensor([0.0])), X, y).item(), 12)  # 2 log 2
    1.38629436112
    """
    w, b = params
    z = X @ w + b
    return _sum(logaddexp(0.0, z) - y * z)


# ----- the chunked gradient ------------------------------------------------------------------


def _chunk_value_and_grad(loss, params, single, Xc, yc, backend):
    """The loss of one chunk and its gradients, computed on ``backend`` (in a worker):
    ``(value, [gradient per parameter])`` as numpy arrays."""
    where = "dask.value_and_grad"
    with backends.use_backend(backend):
        # The chunk is read, never written: wrap it without a copy, as nn.Linear does its input.
        X, y = Tensor._make(as_array(Xc, where)), Tensor._make(as_array(yc, where))
        if single:
            value, grads = _value_and_grad(lambda p: loss(p, X, y))(params[0])
            grads = (grads,)
        else:
            argnums = tuple(range(len(params)))
            value, grads = _value_and_grad(lambda *ps: loss(ps, X, y), argnums)(*params)
    return value._data, [g._data for g in grads]


def _add(*parts):
    """The sum of chunks' ``(value, gradients)``, added in the order given."""
    value, grads = parts[0][0], list(parts[0][1])
    for v, gs in parts[1:]:
        value = value + v
        grads = [g + h for g, h in zip(grads, gs)]
    return value, grads


def _tree_sum(parts):
    """The sum of the delayed ``parts``: groups of ``FAN_IN`` neighbours added level by
    level, so that the order of the additions depends only on the number of parts."""
    from dask import delayed

    add = delayed(_add)
    while len(parts) > 1:
        parts = [add(*parts[i:i + FAN_IN]) for i in range(0, len(parts), FAN_IN)]
    return parts[0]


def _active_client():
    """The ``distributed.Client`` that ``dask.compute`` would use now, or None (local
    threads, or the scheduler ``dask.config.set`` chose)."""
    if "distributed" not in sys.modules:  # no Client can exist without it
        return None
    from dask.base import get_scheduler
    from distributed import Client

    scheduler = get_scheduler()
    client = getattr(scheduler, "__self__", scheduler)  # (Client.get when it is the default)
    return client if isinstance(client, Client) else None


def _params(params, where):
    """``params`` as a list of float arrays (copies are never needed: nothing writes them),
    and whether it was a single array rather than a tuple or list of them."""
    single = not isinstance(params, (tuple, list))
    flat = [as_array(p, where) for p in ([params] if single else params)]
    return flat, single


def _structured(arrays, single):
    return arrays[0] if single else tuple(arrays)


class _Problem:
    """``loss`` on the chunks of ``X`` and ``y``, checked once: ``evaluate(params)`` is one
    full-batch ``(value, gradients)``."""

    def __init__(self, loss, X, y, where):
        import dask.array as da

        X, y = da.asarray(X), da.asarray(y)
        if X.ndim != 2 or y.ndim not in (1, 2):
            raise ValueError(f"{where}: X must be 2-d (rows, features) and y 1-d or 2-d "
                             f"(rows,) or (rows, outputs), got shapes {X.shape} and {y.shape}")
        if any(math.isnan(c) for c in X.chunks[0] + y.chunks[0]):
            raise ValueError(f"{where}: the row chunks of X {X.shape} or y {y.shape} have "
                             "unknown sizes; call X.compute_chunk_sizes() (and y's) first")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"{where}: X has {X.shape[0]} rows but y has {y.shape[0]} "
                             f"(shapes {X.shape} and {y.shape}), expected the same number")
        # One chunk per row block: the columns of a row chunk are needed together.
        X = X.rechunk({1: -1})
        y = y.rechunk({0: X.chunks[0]} | ({1: -1} if y.ndim == 2 else {}))
        self.loss, self.X, self.y, self.n = loss, X, y, X.shape[0]

    def persist(self, client):
        """Keep the chunks in the cluster's memory: each evaluation then starts from them
        instead of from wherever they come from (a file read, a computation)."""
        self.X, self.y = client.persist([self.X, self.y])

    def evaluate(self, params, single, mean):
        """``(value, gradients)`` at ``params`` (a list of arrays), summed over the chunks,
        divided by the number of rows when ``mean``."""
        import dask

        client = _active_client()
        ref = params
        if client is not None:
            # One object, the whole list, under a new key each time: with a key derived from
            # the values, a point evaluated again could be released (the last evaluation's
            # reference going away) while this one uses it.
            [ref] = client.scatter([params], broadcast=True, hash=False)
        task = dask.delayed(_chunk_value_and_grad)
        backend = backends.get_backend()
        parts = [task(self.loss, ref, single, xb, yb, backend)
                 for xb, yb in zip(self.X.to_delayed().ravel(), self.y.to_delayed().ravel())]
        total = _tree_sum(parts)
        value, grads = (client.compute(total).result() if client is not None
                        else dask.compute(total)[0])
        if mean:
            value, grads = value / self.n, [g / self.n for g in grads]
        return float(value), [np.asarray(g, dtype=p.dtype) for g, p in zip(grads, params)]


def value_and_grad(loss, params, X, y, mean=False):
    """The loss over all rows of ``X`` and ``y`` and its gradient, computed chunk by chunk.

    Parameters
    ----------
    loss : callable
        ``loss(params, Xc, yc)``: the **sum** of the per-row losses of one row chunk,
        written with pyautodiff ops; ``Xc``, ``yc`` are Tensors, ``params`` is as given (a
        Tensor, or a tuple of them). It runs in the workers: a cluster must be able to
        pickle it (cloudpickle takes lambdas and functions of ``__main__``).
    params : array or Tensor, or a tuple or list of them
        Where to evaluate; never modified.
    X : dask.array of shape (n, d)
        Chunked along the rows (chunks along the columns are joined).
    y : dask.array of shape (n,) or (n, k)
        Rechunked to ``X``'s row chunks if its own differ.
    mean : bool
        Divide the value and the gradient by ``n`` (the mean instead of the sum).

    Returns
    -------
    (float, gradient)
        The gradient as numpy arrays in ``params``' structure and dtypes: one array, or a
        tuple of them.

    Examples
    --------
    >>> import numpy as np
    >>> import pytest; da = pytest.importorskip("dask.array")
    >>> X = da.from_array(np.array([[1.0], [2.0], [3.0]]), chunks=2)  # chunks of 2 and 1 rows
    >>> y = da.from_array(np.array([1.0, 2.0, 4.0]), chunks=2)
    >>> value, (gw, gb) = value_and_grad(linear_loss, (np.array([1.0]), np.array([0.0])), X, y)
    >>> value, gw, gb  # 1 = (3 - 4)^2; 2 * 3 * (3 - 4) and 2 * (3 - 4)
    (1.0, array([-6.]), array([-2.]))
    """
    where = "dask.value_and_grad"
    flat, single = _params(params, where)
    value, grads = _Problem(loss, X, y, where).evaluate(flat, single, mean)
    return value, _structured(grads, single)


# ----- full-batch solvers --------------------------------------------------------------------


@dataclass
class FitResult:
    """What ``fit`` returns.

    ``params`` are the fitted parameters in the structure given (numpy arrays); ``value`` and
    ``grad_norm`` (Euclidean, over all parameters) are the loss and its gradient there;
    ``status`` is ``"converged"`` (``grad_norm <= tol``), ``"step limit"``, ``"diverged"``
    (gd: the loss became infinite or NaN, or grew ``DIVERGED_FACTOR``-fold) or ``"stalled"``
    (lbfgs: its line search found no lower loss before the tolerance, as happens when the
    tolerance is below the rounding of the gradient); ``steps`` the optimizer steps (gd) or
    iterations (lbfgs) taken, ``evaluations`` the full-batch gradients computed, ``seconds``
    the time it all took.
    """

    params: object
    value: float
    grad_norm: float
    status: str
    steps: int
    evaluations: int
    seconds: float


def _norm(grads):
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads))


def fit(loss, params, X, y, method="gd", mean=True, lr=0.1, optimizer=None, steps=1000,
        tol=1e-8, callback=None):
    """Minimize ``loss`` summed over the rows of ``X`` and ``y`` with full-batch gradients.

    Every step evaluates ``value_and_grad(loss, params, X, y, mean=mean)`` over all the
    chunks. With a ``distributed.Client`` active, ``X`` and ``y`` are first persisted (kept
    in the cluster's memory) so that each step does not read or compute them again; without
    one, each step computes the chunks anew (which keeps memory flat on one machine).

    Parameters
    ----------
    loss, params, X, y
        As ``value_and_grad``; ``params`` is the starting point (never modified).
    method : {"gd", "lbfgs"}
        ``"gd"``: ``optimizer`` steps (default ``ad.optim.SGD`` with ``lr``, plain gradient
        descent). ``"lbfgs"``: ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)``, in
        float64 (scipy must be installed); ``lr`` and ``optimizer`` are not used.
    mean : bool
        Minimize the mean over the rows (the default: the step size then does not depend on
        the number of rows) or, False, the sum ``loss`` returns.
    lr : float
        The learning rate of the default optimizer.
    optimizer : callable, optional
        ``optimizer(tensors)`` returns an ``ad.optim`` optimizer over the parameters (given as
        Tensors), e.g. ``lambda ps: ad.optim.Adam(ps, lr=0.01)``.
    steps : int
        The most optimizer steps (gd) or iterations (lbfgs).
    tol : float
        Converged when the gradient's Euclidean norm is at most this (for lbfgs, scipy stops
        when its largest element is at most ``tol / sqrt(number of parameters)``, which
        implies it).
    callback : callable, optional
        ``callback(step, value, grad_norm)`` after each evaluation (gd) or iteration (lbfgs).

    Returns
    -------
    FitResult

    Examples
    --------
    >>> import numpy as np
    >>> import pytest; da = pytest.importorskip("dask.array")
    >>> X = da.from_array(np.array([[-1.0], [0.0], [1.0]]), chunks=2)
    >>> y = 2 * X[:, 0] + 1
    >>> r = fit(linear_loss, (np.zeros(1), np.zeros(1)), X, y, lr=0.5, tol=1e-10)
    >>> r.status, np.round(r.params[0], 8), np.round(r.params[1], 8)
    ('converged', array([2.]), array([1.]))
    """
    where = "dask.fit"
    if method not in METHODS:
        raise ValueError(f"{where}: unknown method {method!r}, expected one of {METHODS}")
    flat, single = _params(params, where)
    problem = _Problem(loss, X, y, where)
    client = _active_client()
    if client is not None:
        problem.persist(client)
    start = time.perf_counter()
    solve = _gradient_descent if method == "gd" else _lbfgs
    flat, value, grad_norm, status, taken, evaluations = solve(
        problem, flat, single, mean, lr, optimizer, steps, tol, callback)
    return FitResult(_structured(flat, single), value, grad_norm, status, taken, evaluations,
                     time.perf_counter() - start)


def _gradient_descent(problem, flat, single, mean, lr, optimizer, steps, tol, callback):
    tensors = [Tensor(p, requires_grad=True) for p in flat]  # copies: the steps write them
    opt = optim.SGD(tensors, lr=lr) if optimizer is None else optimizer(tensors)
    status, first = "step limit", None
    for step in range(steps + 1):
        value, grads = problem.evaluate([t._data for t in tensors], single, mean)
        grad_norm = _norm(grads)
        first = value if first is None else first
        if callback is not None:
            callback(step, value, grad_norm)
        if not math.isfinite(value) or value > DIVERGED_FACTOR * max(first, 1.0):
            status = "diverged"
        elif grad_norm <= tol:
            status = "converged"
        if status != "step limit" or step == steps:
            break
        for t, g in zip(tensors, grads):
            t.grad = g
        opt.step()
    return [t._data.copy() for t in tensors], value, grad_norm, status, step, step + 1


def _lbfgs(problem, flat, single, mean, lr, optimizer, steps, tol, callback):
    try:
        from scipy.optimize import minimize
    except ImportError:
        raise ImportError("dask.fit: method='lbfgs' needs scipy, which is not installed: "
                          "pip install scipy (or use method='gd')") from None
    shapes = [p.shape for p in flat]
    dtypes = [p.dtype for p in flat]
    splits = np.cumsum([p.size for p in flat])[:-1]
    last = {}  # the latest evaluation, for the result and the callback

    def unflatten(x):
        return [np.asarray(part.reshape(shape), dtype=dtype)
                for part, shape, dtype in zip(np.split(x, splits), shapes, dtypes)]

    def fun(x):
        params = unflatten(x)
        value, grads = problem.evaluate(params, single, mean)
        last.update(x=x.copy(), params=params, value=value, grads=grads)
        last["evaluations"] = last.get("evaluations", 0) + 1
        return value, np.concatenate([g.ravel() for g in grads]).astype(np.float64)

    iterations = itertools.count(1)

    def iteration(x):  # (scipy's line search evaluates the point it accepts last)
        if callback is not None:
            callback(next(iterations), last["value"], _norm(last["grads"]))

    x0 = np.concatenate([p.ravel() for p in flat]).astype(np.float64)
    gtol = tol / math.sqrt(max(x0.size, 1))
    result = minimize(fun, x0, jac=True, method="L-BFGS-B", callback=iteration,
                      options={"maxiter": steps, "gtol": gtol, "ftol": 0.0})
    if not np.array_equal(last["x"], result.x):  # scipy returns its best point, not its last
        fun(result.x)
    grad_norm = _norm(last["grads"])
    status = ("converged" if grad_norm <= tol else
              "step limit" if result.nit >= steps else "stalled")
    return last["params"], last["value"], grad_norm, status, int(result.nit), last["evaluations"]


# ----- the command line: python -m pyautodiff --csv 'data/*.csv' --target y --dask ------------


def _cli():
    """The command line's module (its loader, errors, standardization and optimizers).

    Imported by name here and in the workers: under ``python -m pyautodiff`` the running
    copy is ``__main__``, so the ``DataError`` raised and caught here is this module's.
    """
    from . import __main__ as cli

    return cli


def _read_csv_part(path, target):
    """One file, read in a worker by the command line's own reader (its checks and error
    messages): ``(rows as [features..., target], feature names, notes)``."""
    data = _cli().load_csv(path, target)
    return np.column_stack([data.X, data.y]), data.feature_names, data.notes


def _describe(part):
    block, names, notes = part
    return names, notes, block.shape[0]


@dataclass
class CliFit:
    """What ``cli_fit`` returns: the fit in the data's units and how it went.

    ``coef``, ``intercept``: the fitted model; ``closed_coef``, ``closed_intercept``: the
    least-squares solution from the normal equations (computed on the cluster, solved on the
    driver); ``r2`` the fitted model's R^2; ``fit`` the ``FitResult`` on standardized data
    (``fit.seconds`` is the training time); ``rows``, ``chunks`` (one per file), ``workers``.
    """

    feature_names: list
    target: str
    coef: np.ndarray
    intercept: float
    closed_coef: np.ndarray
    closed_intercept: float
    r2: float
    fit: FitResult
    rows: int
    chunks: int
    workers: int
    notes: list


def _source(paths):
    """The files, as messages name them."""
    return paths[0] if len(paths) == 1 else f"{len(paths)} files"


def _cluster(scheduler):
    """A ``Client`` of the cluster at ``scheduler``, or of a new ``LocalCluster`` (None),
    and the cluster to close with it (None for an existing one)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler), None
        except OSError as e:  # (distributed's connection timeouts are OSErrors too)
            raise _cli().DataError(f"--scheduler {scheduler}: cannot connect ({e})") from None
    # Processes, as on a real cluster: a chunk's gradient then never waits for another's GIL.
    # The workers' own log lines stay quiet: an error in a task reaches the driver, and is
    # reported there once, as one line.
    cluster = LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def _standardized_data(client, paths, target):
    """Read ``paths`` on the workers; return the standardized features and target (persisted
    on the cluster, one chunk per file), the ``Standardized`` that undoes it, the feature
    names, the readers' notes and the number of rows."""
    import dask
    import dask.array as da

    cli = _cli()
    parts = client.persist([dask.delayed(_read_csv_part)(path, target) for path in paths])
    described = client.compute([dask.delayed(_describe)(part) for part in parts], sync=True)
    names = described[0][0]
    for path, (other, _, _) in zip(paths[1:], described[1:]):
        if other != names:
            raise cli.DataError(f"{path}: its feature columns {other} differ from those of "
                                f"{paths[0]}: {names}")
    notes = [f"{path}: {note}" for path, (_, file_notes, _) in zip(paths, described)
             for note in file_notes]
    p = len(names)
    rows = sum(n for _, _, n in described)
    XY = da.concatenate([da.from_delayed(part[0], shape=(n, p + 1), dtype=np.float64)
                         for part, (_, _, n) in zip(parts, described)])
    source = _source(paths)
    if rows < p + 1:
        raise cli.DataError(f"{source} has {rows} data rows but {p} feature columns: fitting "
                            f"{p} coefficients and an intercept needs at least {p + 1} rows")
    # The command line's standardization (population standard deviation), column by column.
    mean, std = client.compute([XY.mean(axis=0), XY.std(axis=0)], sync=True)
    for name, s in zip(names, std):
        if s == 0:
            raise cli.DataError(f"{source}: column {name!r} is constant, so its effect cannot "
                                "be told apart from the intercept; remove it")
    if std[p] == 0:
        raise cli.DataError(f"{source}: the target {target!r} is constant; there is nothing "
                            "to fit")
    S = (XY - mean) / std
    Z, t = client.persist([S[:, :p], S[:, p]])
    scale = cli.Standardized(None, None, mean[:p], std[:p], float(mean[p]), float(std[p]))
    return Z, t, scale, names, notes, rows


def _normal_equations(client, Z, t, names, where):
    """The least-squares ``(w, b)`` of ``t = Z w + b`` from ``[Z 1]^T [Z 1]`` and
    ``[Z 1]^T t``, summed over the chunks on the cluster and solved on the driver; a
    DataError naming a column that is a combination of those before it."""
    n, p = Z.shape
    gram, zt, zsum, tsum = client.compute([Z.T @ Z, Z.T @ t, Z.sum(axis=0), t.sum()], sync=True)
    A = np.block([[gram, zsum[:, None]], [zsum[None, :], np.array([[n]])]]) / n
    if np.linalg.matrix_rank(A[:p, :p], hermitian=True) < p:
        # The correlation matrix of the first j + 1 columns is singular when column j is a
        # combination of the columns before it: name the first such column.
        j = next(j for j in range(1, p)
                 if np.linalg.matrix_rank(A[:j + 1, :j + 1], hermitian=True) <= j)
        earlier = ", ".join(repr(name) for name in names[:j])
        raise _cli().DataError(f"{where}: column {names[j]!r} is a linear combination of the "
                               f"columns before it ({earlier}), so the coefficients are not "
                               "unique; remove it")
    solution = np.linalg.solve(A, np.append(zt, tsum) / n)
    return solution[:p], float(solution[p])


def cli_fit(paths, target, scheduler=None, optimizer="sgd", lr=None, momentum=0.9,
            steps=10_000, tol=1e-12, seed=0, progress=None):
    """Fit the command line's linear regression to CSV files on a Dask cluster.

    The files (each a header row and data rows, with the same columns) are read in the
    workers, one chunk per file, by the command line's reader; features and target are
    standardized as the command line does; then the model ``nn.Linear(p, 1)``'s weights
    (seeded by ``seed``), the mean squared error and the optimizer (``"sgd"`` with momentum or
    ``"adam"``) train with full-batch gradients (``fit``) until the gradient norm is at most
    ``tol``: the same steps as the in-memory command line, with the gradients summed over
    the chunks.

    Parameters
    ----------
    paths : list of str
    target : str
        The column to predict.
    scheduler : str, optional
        The address of a running Dask scheduler (``tcp://host:8786``); None starts a
        ``LocalCluster`` of ``LOCAL_WORKERS`` worker processes for the fit.
    optimizer, lr, momentum, steps, tol, seed
        As the command line's options (``lr=None``: its default for ``optimizer``).
    progress : Progress, optional
        The command line's progress display, updated every step.

    Returns
    -------
    CliFit

    Raises
    ------
    DataError
        (the command line's) a file cannot be read or parsed, the files' columns differ, or
        the data cannot be fitted.
    """
    from . import nn

    cli = _cli()
    client, cluster = _cluster(scheduler)
    try:
        Z, t, scale, names, notes, rows = _standardized_data(client, paths, target)
        p = len(names)
        closed = _normal_equations(client, Z, t, names, _source(paths))
        lr = cli.default_lr(optimizer, p) if lr is None else lr
        layer = nn.Linear(p, 1, seed=seed)  # the command line's starting point
        start = (layer.weight.data[0], layer.bias.data)

        def show(step, value, grad_norm):
            if progress is not None:
                progress.update(step, mse=f"{value * scale.y_std**2:.6e}",
                                **{"|grad|": f"{grad_norm:.1e}"})

        with client.as_current():
            result = fit(linear_loss, start, Z, t, mean=True, steps=steps, tol=tol,
                         optimizer=lambda ps: cli.make_optimizer(optimizer, ps, lr, momentum),
                         callback=show)
        workers = len(client.scheduler_info()["workers"])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if progress is not None and (progress.tty or result.steps % progress.every):
        progress.update(result.steps, final=True, mse=f"{result.value * scale.y_std**2:.6e}",
                        **{"|grad|": f"{result.grad_norm:.1e}"})
    w, b = result.params
    coef, intercept = scale.to_original(w, b[0])
    closed_coef, closed_intercept = scale.to_original(*closed)
    # The loss is the mean squared residual of the standardized target, whose variance is 1.
    return CliFit(names, target, coef, intercept, closed_coef, closed_intercept,
                  1.0 - result.value, result, rows, len(paths), workers, notes)


def add_cli_options(parser):
    """Add ``--dask`` and ``--scheduler ADDRESS`` to the command line's ``parser``."""
    group = parser.add_argument_group("dask (needs the [dask] extra)")
    group.add_argument("--dask", action="store_true",
                       help="fit on a Dask cluster: --csv may then be a glob pattern, quoted "
                            "('data/*.csv'), each file one chunk, read and differentiated in "
                            f"the workers; without --scheduler on a local cluster of "
                            f"{LOCAL_WORKERS} worker processes")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="fit on the Dask cluster whose scheduler is at ADDRESS "
                            "(tcp://host:8786) instead (implies --dask)")


def cli_run(parser, args):
    """``python -m pyautodiff --dask``: the command line's parsed ``args`` (``--csv`` a file
    or a glob pattern, ``--target``, the training options, ``--scheduler``); print the fit
    and return the exit status (0 converged, 1 not, 2 bad input, reported in one line)."""
    cli = _cli()
    if args.csv is None or args.target is None:
        parser.error("--dask needs --csv FILES (a file or a glob pattern such as "
                     "'data/*.csv', quoted) and --target COLUMN")
    paths = sorted(glob.glob(args.csv))
    if not paths:
        print(f"error: --csv {args.csv}: no file matches", file=sys.stderr)
        return cli.EXIT_USAGE
    where = (f"the cluster at {args.scheduler}" if args.scheduler is not None
             else f"a LocalCluster of {LOCAL_WORKERS} worker processes")
    files = paths[0] if len(paths) == 1 else f"{args.csv} ({len(paths)} files)"
    print(f"pyautodiff {sys.modules['pyautodiff'].__version__}: linear regression on {files} "
          f"with Dask, on {where}")
    try:
        r = cli_fit(paths, args.target, args.scheduler, args.optimizer, args.lr, args.momentum,
                    args.steps, args.tol, args.seed, progress=cli.Progress(args.steps))
    except cli.DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return cli.EXIT_USAGE
    for note in r.notes:
        print(f"note: {note}", file=sys.stderr)
    f = r.fit
    took = (f"{f.steps} steps in {cli.format_seconds(f.seconds)} "
            f"({cli.format_seconds(f.seconds / f.evaluations)} and "
            f"{r.rows * f.evaluations / f.seconds:,.0f} rows/s per full-batch gradient, "
            f"{r.rows} rows in {r.chunks} chunks on {r.workers} workers)")
    if f.status == "converged":
        print(f"converged: |grad| {f.grad_norm:.1e} <= tol {args.tol:g} after {took}")
    elif f.status == "diverged":
        lr = cli.default_lr(args.optimizer, len(r.feature_names)) if args.lr is None else args.lr
        smaller = min(lr / 10, cli.default_lr(args.optimizer, len(r.feature_names)))
        print(f"DIVERGED after {took}: the learning rate {lr:g} is too large for this data, "
              f"try --lr {smaller:g}")
    else:
        print(f"NOT CONVERGED: |grad| {f.grad_norm:.1e} > tol {args.tol:g} after {took} "
              "(the step limit); try more --steps or another --lr")
    print()
    names = r.feature_names + ["(intercept)"]
    fitted, closed = np.append(r.coef, r.intercept), np.append(r.closed_coef, r.closed_intercept)
    diff = np.abs(fitted - closed)
    width = max(len("parameter"), *(len(n) for n in names))
    print(f"{'parameter':<{width}}  {'fitted':>20}  {'normal eq.':>20}  {'|diff|':>8}")
    for name, a, c, d in zip(names, fitted, closed, diff):
        print(f"{name:<{width}}  {a:>20.13g}  {c:>20.13g}  {d:>8.1e}")
    print(f"max |fitted - normal equations| = {diff.max():.2e}; R^2 = {r.r2:.10f}")
    return 0 if f.status == "converged" else cli.EXIT_NOT_CONVERGED

"""``ad.dask``: gradients summed over the chunks of dask arrays, the full-batch solvers, and
``python -m pyautodiff --dask``.

References: the closed-form gradients of the sum of squares and of the logistic loss
(numpy, float64) and pyautodiff's own ``backward`` on the whole arrays; ``numpy.linalg.lstsq``
and the same gradient descent run in memory for the fits; the in-memory command line for
``--dask``. The gradient tests run on dask's local threads (fast); one ``LocalCluster`` of two
worker processes serves the rest of the module.

Tolerances: a chunked sum adds the same per-row terms as the whole-array one, in another
order (and each chunk's matrix product may round its rows differently). Both are then within
about ``(log2(n) + d + 4) u`` of the exact value, relative to the sum of the sizes of the
quantities rounded on the way (``closed_form``'s scales), where ``u`` is the unit roundoff:
``4e-15`` in float64 and ``2e-6`` in float32 for n = 14000, d = 5. The tests allow 1e-12
(float64) and 1e-5 (float32) of those scales, elementwise.
"""

import contextlib
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import pyautodiff as ad
import pyautodiff.__main__ as cli
from pyautodiff import dask as ad_dask

ROOT = Path(__file__).resolve().parents[1]
# The sanitizer job (.ci/sanitize) preloads ASan's runtime into every process it starts.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
FIT_TOL = 1e-8


# ----- problems and their closed forms --------------------------------------------------------


def chunks(n, k, rng):
    """``k`` row chunks of unequal sizes adding up to ``n`` (cut at random distinct rows)."""
    cuts = np.sort(rng.choice(np.arange(1, n), k - 1, replace=False))
    sizes = tuple(int(s) for s in np.diff(np.concatenate([[0], cuts, [n]])))
    assert k == 1 or len(set(sizes)) > 1
    return sizes


def problem(model, n, d, dtype, rng):
    """Data ``X``, ``y`` and a point ``params`` (away from the optimum) for ``model``."""
    X = rng.standard_normal((n, d))
    if model == "logistic":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-X @ rng.standard_normal(d)))).astype(float)
        params = (rng.standard_normal(d), rng.standard_normal(1))
    elif model == "linear 2 outputs":
        y = X @ rng.standard_normal((d, 2)) + rng.standard_normal((n, 2))
        params = (rng.standard_normal((d, 2)), rng.standard_normal(2))
    else:
        y = X @ rng.standard_normal(d) + 0.5 + rng.standard_normal(n)
        params = (rng.standard_normal(d), rng.standard_normal(1))
    return X.astype(dtype), y.astype(dtype), tuple(p.astype(dtype) for p in params)


LOSSES = {"linear": ad_dask.linear_loss, "linear 2 outputs": ad_dask.linear_loss,
          "logistic": ad_dask.logistic_loss}


def closed_form(model, X, y, params):
    """The value and the gradients in float64, each with its scale: the same sums with
    every quantity replaced by a bound of the size of what was rounded to compute it (the
    formula on absolute values), which bounds the rounding any order of summation makes."""
    X, y = X.astype(np.float64), y.astype(np.float64)
    w, b = (p.astype(np.float64) for p in params)
    z, z_size = X @ w + b, np.abs(X) @ np.abs(w) + np.abs(b)
    if model == "logistic":
        terms, r = np.logaddexp(0.0, z) - y * z, 1 / (1 + np.exp(-z)) - y  # r: d(term)/dz
        terms_size, r_size = np.logaddexp(0.0, z_size) + np.abs(y) * z_size, 1 + np.abs(y)
    else:
        terms, r = (z - y) ** 2, 2 * (z - y)
        terms_size, r_size = (z_size + np.abs(y)) ** 2, 2 * (z_size + np.abs(y))
    if r.ndim == 1:  # one output: a column
        r, r_size = r[:, None], r_size[:, None]
    return ((terms.sum(), terms_size.sum()),
            ((X.T @ r).reshape(w.shape), (np.abs(X).T @ r_size).reshape(w.shape)),
            (r.sum(axis=0).reshape(b.shape), r_size.sum(axis=0).reshape(b.shape)))


def whole_array(model, X, y, params):
    """pyautodiff's own backward on the whole arrays: the value and the gradients."""
    tensors = [ad.tensor(p, requires_grad=True) for p in params]
    loss = LOSSES[model](tuple(tensors), ad.tensor(X), ad.tensor(y))
    loss.backward()
    return loss.item(), [t.grad.numpy() for t in tensors]


def assert_close(actual, desired, scale, rtol, what):
    actual, desired = np.asarray(actual, dtype=np.float64), np.asarray(desired)
    bad = np.abs(actual - desired) > rtol * scale
    assert not bad.any(), (f"{what}: {actual[bad]} != {desired[bad]} "
                           f"(allowed {rtol:g} x {np.asarray(scale)[bad]})")


# ----- the chunked gradient ---------------------------------------------------------------


@pytest.mark.parametrize("model", list(LOSSES))
@pytest.mark.parametrize("k", [1, 3, 17])
@pytest.mark.parametrize("n, d", [(60, 3), (14000, 5)], ids=["60x3", "14000x5"])
def test_chunked_gradient_equals_the_whole_arrays(backend, dtype, rng, model, k, n, d):
    X, y, params = problem(model, n, d, dtype, rng)
    rows = chunks(n, k, rng)
    dX = da.from_array(X, chunks=(rows, d))
    # y in other chunks than X: it is rechunked to X's rows
    dy = da.from_array(y, chunks=(n // 2 + 1,) + y.shape[1:])
    with dask.config.set(scheduler="threads"):
        value, grads = ad_dask.value_and_grad(LOSSES[model], params, dX, dy)
    assert dX.numblocks[0] == k
    assert isinstance(value, float) and isinstance(grads, tuple) and len(grads) == 2
    for g, p in zip(grads, params):
        assert type(g) is np.ndarray and g.dtype == dtype and g.shape == p.shape

    rtol = RTOL[dtype]
    ref_value, ref_grads = whole_array(model, X, y, params)
    (cf_value, value_scale), *cf_grads = closed_form(model, X, y, params)
    assert_close(value, ref_value, value_scale, rtol, "value vs backward")
    assert_close(value, cf_value, value_scale, rtol, "value vs closed form")
    for name, g, ref, (cf, scale) in zip(("w", "b"), grads, ref_grads, cf_grads):
        assert_close(g, ref, scale, rtol, f"d/d{name} vs backward")
        assert_close(g, cf, scale, rtol, f"d/d{name} vs closed form")


def test_mean_single_parameter_and_inputs_left_alone(rng):
    X, y, (w, _) = problem("linear", 50, 3, np.float64, rng)
    before = w.copy()
    dX, dy = da.from_array(X, chunks=(7, 3)), da.from_array(y, chunks=7)

    def loss(w, Xc, yc):  # one Tensor, not a tuple: the gradient is one array too
        r = Xc @ w - yc
        return (r * r).sum()

    with dask.config.set(scheduler="synchronous"):
        total, g_sum = ad_dask.value_and_grad(loss, w, dX, dy)
        mean, g_mean = ad_dask.value_and_grad(loss, ad.tensor(w), dX, dy, mean=True)
    r = X @ w - y
    np.testing.assert_allclose(total, r @ r, rtol=1e-12)
    np.testing.assert_allclose(mean, r @ r / 50, rtol=1e-12)
    np.testing.assert_allclose(g_sum, 2 * X.T @ r, rtol=1e-12)
    np.testing.assert_allclose(g_mean, 2 * X.T @ r / 50, rtol=1e-12)
    np.testing.assert_array_equal(w, before)


def test_tasks_run_on_the_drivers_backend(backend, rng):
    X, y, params = problem("linear", 40, 2, np.float64, rng)
    seen = []

    def loss(params, Xc, yc):
        seen.append(ad.get_backend())
        return ad_dask.linear_loss(params, Xc, yc)

    with dask.config.set(scheduler="threads", num_workers=3):
        ad_dask.value_and_grad(loss, params, da.from_array(X, chunks=(5, 2)),
                               da.from_array(y, chunks=5))
    assert seen == [backend] * 8


@pytest.mark.parametrize("X, y, message", [
    (np.ones(5), np.ones(5), r"X must be 2-d .* got shapes \(5,\) and \(5,\)"),
    (np.ones((5, 2)), np.ones((5, 2, 1)), r"X must be .* got shapes \(5, 2\) and \(5, 2, 1\)"),
    (np.ones((5, 2)), np.ones(4), r"X has 5 rows but y has 4 \(shapes \(5, 2\) and \(4,\)\)"),
])
def test_bad_shapes_are_named(X, y, message):
    with pytest.raises(ValueError, match="dask.value_and_grad: " + message):
        ad_dask.value_and_grad(ad_dask.linear_loss, (np.ones(2), np.ones(1)), X, y)


def test_unknown_chunk_sizes_ask_for_them():
    X = da.from_array(np.ones((6, 2)), chunks=3)
    X = X[X[:, 0] > 0]  # a boolean mask: dask no longer knows the chunks' sizes
    with pytest.raises(ValueError, match=r"unknown sizes; call X.compute_chunk_sizes\(\)"):
        ad_dask.value_and_grad(ad_dask.linear_loss, (np.ones(2), np.ones(1)), X, np.ones(6))


def test_fit_method_and_scipy_are_checked(monkeypatch):
    X, y = da.ones((4, 1), chunks=2), da.ones(4, chunks=2)
    with pytest.raises(ValueError, match=r"dask.fit: unknown method 'newton', expected one of"):
        ad_dask.fit(ad_dask.linear_loss, (np.zeros(1), np.zeros(1)), X, y, method="newton")
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)  # as if scipy were not installed
    with pytest.raises(ImportError, match=r"method='lbfgs' needs scipy, .* method='gd'"):
        ad_dask.fit(ad_dask.linear_loss, (np.zeros(1), np.zeros(1)), X, y, method="lbfgs")


def test_import_pyautodiff_does_not_import_dask():
    code = "import sys, pyautodiff; print(sorted({'dask', 'distributed'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


# ----- on a cluster -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of two worker processes (one thread each), for the whole module.

    Tests use it inside ``client.as_current()``, not ``dask.config.set(scheduler=client)``:
    a nanny (here in this process) that restarts a worker sends it the config, and a Client
    in the config cannot be pickled."""
    if UNDER_ASAN:
        pytest.skip("not under the sanitizers: these tests check Dask's scheduling and "
                    "recovery across processes; the C kernels they call run under ASan in the "
                    "in-process tests above, and the worker processes made them take 65 s")
    import cloudpickle

    # The test module's functions (losses, callbacks) travel by value: the workers do not
    # import the tests.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def regression(rng, n=3000, d=4):
    """Well-conditioned data (independent standard normal features, mean 0), so that
    gradient descent with lr 0.5 on the mean squared error converges in a few dozen steps."""
    X = rng.standard_normal((n, d))
    y = X @ np.array([1.5, -2.0, 0.25, 3.0][:d]) + 0.7 + 0.3 * rng.standard_normal(n)
    return X, y


def in_memory_gd(X, y, start, lr, steps, tol):
    """The same gradient descent as ``fit(method="gd")``, on the whole arrays in memory."""
    params = [ad.tensor(p, requires_grad=True) for p in start]
    opt = ad.optim.SGD(params, lr=lr)
    Xt, yt = ad.tensor(X), ad.tensor(y)
    for _ in range(steps + 1):
        opt.zero_grad()
        (ad_dask.linear_loss(params, Xt, yt) / len(X)).backward()
        if np.sqrt(sum(float(np.vdot(p.grad.data, p.grad.data)) for p in params)) <= tol:
            break
        opt.step()
    return [p.numpy() for p in params]


def lstsq(X, y):
    solution = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)[0]
    return solution[:-1], solution[-1:]


def on_backend(name):
    """``linear_loss``, which fails unless the task runs on backend ``name``."""

    def loss(params, Xc, yc):
        if ad.get_backend() != name:
            raise AssertionError(f"a task ran on backend {ad.get_backend()!r}, not {name!r}")
        return ad_dask.linear_loss(params, Xc, yc)

    return loss


@pytest.mark.parametrize("method", ["gd", "lbfgs"])
def test_cluster_fit_equals_the_in_memory_fit(client, backend, rng, method):
    if method == "lbfgs":
        pytest.importorskip("scipy")
    X, y = regression(rng)
    start = (np.zeros(X.shape[1]), np.zeros(1))
    dX = da.from_array(X, chunks=((500, 900, 100, 1500), 4))
    seen = []
    with client.as_current():
        result = ad_dask.fit(on_backend(backend), start, dX, da.from_array(y, chunks=800),
                             method=method, lr=0.5, steps=200, tol=1e-10,
                             callback=lambda *args: seen.append(args))
    assert result.status == "converged" and result.grad_norm <= 1e-10
    first = 0 if method == "gd" else 1  # gd: every evaluation; lbfgs: every iteration
    assert [step for step, _, _ in seen] == list(range(first, result.steps + 1))
    assert seen[-1][1:] == (result.value, result.grad_norm)
    w, b = result.params
    ls_w, ls_b = lstsq(X, y)
    np.testing.assert_allclose(w, ls_w, rtol=0, atol=FIT_TOL)
    np.testing.assert_allclose(b, ls_b, rtol=0, atol=FIT_TOL)
    if method == "gd":
        mem_w, mem_b = in_memory_gd(X, y, start, 0.5, 200, 1e-10)
        np.testing.assert_allclose(w, mem_w, rtol=0, atol=FIT_TOL)
        np.testing.assert_allclose(b, mem_b, rtol=0, atol=FIT_TOL)


def test_a_worker_killed_mid_fit_gives_the_same_answer(client, rng, tmp_path):
    """At step 3 the first chunk task to start kills its own worker process in the middle of
    its work; the nanny starts a new one and Dask runs the lost tasks again (that chunk's,
    and the persisted chunks that lived in the dead worker). The sum is taken in a fixed
    order, so the result is the undisturbed run's, bit for bit."""
    X, y = regression(rng, n=2000, d=3)
    start = (np.zeros(3), np.zeros(1))
    marker = tmp_path / "crash-once"

    def loss(params, Xc, yc):
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()  # atomic: exactly one task finds the marker
            os._exit(1)
        return ad_dask.linear_loss(params, Xc, yc)

    def crash_at_step_3(step, value, grad_norm):
        if step == 3:
            marker.touch()

    def run(callback):
        dX = da.from_array(X, chunks=(400, 3))
        with client.as_current():
            return ad_dask.fit(loss, start, dX, da.from_array(y, chunks=400), lr=0.5,
                               steps=40, tol=1e-10, callback=callback)

    undisturbed = run(None)
    pids = set(client.run(os.getpid).values())
    crashed = run(crash_at_step_3)
    assert not marker.exists(), "no task ran after step 3"
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != pids, "no worker was replaced"
    assert crashed.status == undisturbed.status == "converged"
    assert crashed.evaluations == undisturbed.evaluations
    for got, want in zip(crashed.params, undisturbed.params):
        np.testing.assert_array_equal(got, want)


# ----- python -m pyautodiff --dask ----------------------------------------------------------


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        f.writelines(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    """The same data as three files (``part*.csv``, of 70, 150 and 80 rows) and as one."""
    folder = tmp_path_factory.mktemp("csv")
    rng = np.random.default_rng(7)
    X = np.column_stack([rng.standard_normal(300), 20 + 5 * rng.standard_normal(300),
                         rng.uniform(0, 3, 300)])
    y = X @ [1.5, -0.2, 2.0] + 4.0 + 0.3 * rng.standard_normal(300)
    rows = np.column_stack([X, y])
    header = ["a", "b", "c", "y"]
    write_csv(folder / "all.csv", header, rows)
    for k, (lo, hi) in enumerate([(0, 70), (70, 220), (220, 300)]):
        write_csv(folder / f"part{k}.csv", header, rows[lo:hi])
    return folder


def run_main(*args):
    """``python -m pyautodiff *args`` in a subprocess, from the repository root."""
    return subprocess.run([sys.executable, "-m", "pyautodiff", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def fitted(stdout):
    """``{parameter: fitted value}`` from the table ``--dask`` prints."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("parameter"))
    table = {}
    for line in lines[start + 1:]:
        if line.startswith("max |fitted"):
            return table
        name, value, _, _ = line.rsplit(None, 3)
        table[name] = float(value)
    raise AssertionError(f"no end of the table in:\n{stdout}")


# Gradient descent without momentum converges in a dozen steps on these standardized
# features, where the default momentum takes hundreds (each a round trip to the workers).
FAST = ("--target", "y", "--lr", "0.5", "--momentum", "0")


def in_memory_cli_fit(path):
    """The coefficients and intercept the in-memory command line fits (and prints) with
    ``FAST``'s options, and the least-squares solution."""
    data = cli.load_csv(str(path), "y")
    result = cli.fit(cli.Standardized.of(data.X, data.y), "sgd", lr=0.5, momentum=0.0)
    assert result.status == "converged"
    return np.append(result.coef, result.intercept), np.append(*cli.lstsq_fit(data.X, data.y))


@pytest.mark.parametrize("where", ["LocalCluster", "--scheduler"])
def test_cli_dask_prints_the_in_memory_coefficients(client, csv_files, capsys, where):
    pattern = csv_files / "part*.csv"
    if where == "LocalCluster":  # end to end, as a user runs it: the cluster of its own
        proc = run_main("--csv", pattern, "--dask", *FAST)
        status, out, err = proc.returncode, proc.stdout, proc.stderr
    else:  # on our cluster, in this process
        status = cli.main(["--csv", str(pattern), "--scheduler", client.scheduler.address,
                           *FAST])
        out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "300 rows in 3 chunks on 2 workers" in out
    got = fitted(out)
    assert list(got) == ["a", "b", "c", "(intercept)"]
    want, lstsq = in_memory_cli_fit(csv_files / "all.csv")
    np.testing.assert_allclose(list(got.values()), want, rtol=0, atol=FIT_TOL)
    np.testing.assert_allclose(list(got.values()), lstsq, rtol=0, atol=FIT_TOL)


def test_cli_dask_reports_bad_data_in_one_line(client, tmp_path, capsys):
    write_csv(tmp_path / "good.csv", ["a", "y"], [[1, 2], [2, 3], [3, 5]])
    (tmp_path / "bad.csv").write_text("a,y\n1,2\n2,oops\n")
    write_csv(tmp_path / "other.csv", ["b", "y"], [[1, 2], [2, 3]])
    write_csv(tmp_path / "same.csv", ["a", "y"], [[1, 2], [1, 3]])
    bad, good, other, same = (tmp_path / f"{n}.csv" for n in ("bad", "good", "other", "same"))
    cases = {  # the --csv pattern: the message expected
        "[bg]*.csv": f"{bad}, line 3 (data row 2), column 'y': 'oops' is not a number",
        "[go]*.csv": f"{other}: its feature columns ['b'] differ from those of {good}: ['a']",
        "s*.csv": (f"{same}: column 'a' is constant, so its effect cannot be told apart from "
                   "the intercept; remove it"),
        "none*.csv": f"--csv {tmp_path / 'none*.csv'}: no file matches",
    }
    for pattern, message in cases.items():
        status = cli.main(["--csv", str(tmp_path / pattern), "--target", "y",
                           "--scheduler", client.scheduler.address])
        err = capsys.readouterr().err
        assert status == 2
        assert err.strip().splitlines() == [f"error: {message}"]


def test_cli_dask_reports_an_unreachable_scheduler_in_one_line(capsys):
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status = cli.main(["--csv", __file__, "--target", "y", "--scheduler",
                           "tcp://127.0.0.1:1"])  # port 1: nothing listens there
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1
    assert err[0].startswith("error: --scheduler tcp://127.0.0.1:1: cannot connect (")


def test_cli_dask_options_and_usage(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    help_text = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "--dask" in help_text and "--scheduler ADDRESS" in help_text
    for argv in (["--dask", "--target", "y"], ["--scheduler", "tcp://nowhere:1", "--csv", "x"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2
        assert "error: --dask needs --csv FILES" in capsys.readouterr().err


def test_missing_extra_names_the_dask_extra():
    message = cli.missing_extra("no_such_module_here", "'dask[array]' distributed", "--dask",
                                "dask")
    assert message == ("error: --dask needs 'dask[array]' distributed, which is not installed: "
                       "pip install 'dask[array]' distributed (or: pip install "
                       "'pyautodiff[dask]')")


def test_readme_dask_example_gives_the_closed_form_gradient_and_fit(tmp_path):
    # README's "On a Dask cluster" snippet, run as written (the default scheduler)
    import re
    import runpy

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### On a Dask cluster"):readme.index("\n## Performance")]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    (tmp_path / "snippet.py").write_text(code)
    ns = runpy.run_path(str(tmp_path / "snippet.py"))
    X, y = np.asarray(ns["X"]), np.asarray(ns["y"])
    # at zero parameters: the mean of r^2 and its gradient -2 X^T y / n, -2 sum(y) / n
    np.testing.assert_allclose(float(ns["value"]), np.mean(y * y), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ns["gw"]), -2 * X.T @ y / len(y), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(ns["gb"]), [-2 * y.mean()], rtol=1e-10)
    w, b = ns["result"].params
    np.testing.assert_allclose(w, np.arange(10.0), atol=1e-8)
    np.testing.assert_allclose(b, [1.0], atol=1e-8)

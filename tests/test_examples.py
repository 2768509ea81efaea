"""The examples and ``python -m pyautodiff``, run as a user runs them: in a subprocess.

Each test parses the numbers a program prints and checks them against a reference computed
here, independently of the program: ``numpy.linalg.lstsq`` for the linear fits, scikit-learn's
logistic regression for the decision boundary, accuracy thresholds for the classifiers. Errors
must exit with status 2 and a message naming the problem, never a traceback. The parts that
need matplotlib or scikit-learn are skipped when those are not installed; their absence is
simulated to check the programs' own messages.
"""

import doctest
import importlib.util
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyautodiff as ad
import pyautodiff.__main__ as cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FIT_TOL = 1e-6
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args, env=None, timeout=120):
    """Run ``python *args`` from the repository root; return the CompletedProcess (text)."""
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def run_main(*args, **kwargs):
    """``python -m pyautodiff *args``."""
    return run("-m", "pyautodiff", *args, **kwargs)


def example(name):
    """The path of ``examples/<name>.py``."""
    return EXAMPLES / f"{name}.py"


def import_example(name):
    """Import ``examples/<name>.py`` as a module (for its data generator)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", example(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_table(stdout):
    """The parameter table as ``{name: (fitted, lstsq, diff)}``, in printed order.

    Each row ends in ``fitted lstsq |diff|`` (a ``true`` column may come before them); the
    name is everything before the numbers, so names with spaces parse too.
    """
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("parameter"))
    rows = {}
    for line in lines[start + 1:]:
        if line.startswith("max |fitted - lstsq|"):
            break
        n_numbers = 4 if "true" in lines[start] else 3
        parts = line.rsplit(None, n_numbers)
        rows[parts[0]] = tuple(float(v) for v in parts[-3:])
    return rows


def parse_r2(stdout):
    """The fitted model's R^2 from the ``R^2 = ...`` line."""
    return float(re.search(r"^R\^2 = (\S+)", stdout, re.MULTILINE).group(1))


def no_traceback(proc):
    """Assert the process printed no Python traceback."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr


def assert_matches_lstsq(stdout, X, y, names):
    """The printed fit agrees with lstsq computed here (1e-6), as do the printed lstsq values
    and R^2."""
    A = np.column_stack([X, np.ones(len(X))])
    reference = np.linalg.lstsq(A, y, rcond=None)[0]
    rows = parse_table(stdout)
    assert list(rows) == list(names) + ["(intercept)"]
    fitted = np.array([rows[k][0] for k in rows])
    printed_lstsq = np.array([rows[k][1] for k in rows])
    np.testing.assert_allclose(fitted, reference, rtol=0, atol=FIT_TOL)
    # The printed lstsq column has 13 significant digits.
    np.testing.assert_allclose(printed_lstsq, reference, rtol=1e-11, atol=1e-12)
    residual = y - A @ reference
    r2 = 1 - residual @ residual / np.sum((y - y.mean()) ** 2)
    assert parse_r2(stdout) == pytest.approx(r2, abs=1e-9)
    assert f"within {FIT_TOL:g}" in stdout and "NOT within" not in stdout
    return fitted


def num(value):
    """``value`` as the shortest text that reads back as the same float64."""
    return repr(float(value))


def write_csv(path, header, rows):
    """Write ``rows`` (sequences of cells, written with ``str``) under ``header``."""
    lines = [",".join(header)] + [",".join(str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# ----- python -m pyautodiff --------------------------------------------------------------


def test_main_default_run_matches_lstsq():
    proc = run_main()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "converged" in proc.stdout and "NOT CONVERGED" not in proc.stdout
    data = cli.make_demo_data(seed=0)
    fitted = assert_matches_lstsq(proc.stdout, data.X, data.y, data.feature_names)
    # The noise is small, so the fit is close to the coefficients the data was made with.
    true = np.append(data.true_coef, data.true_intercept)
    np.testing.assert_allclose(fitted, true, atol=0.05)
    # Not a terminal: plain progress lines, no carriage returns.
    assert "\r" not in proc.stdout
    assert re.search(r"^step +0/", proc.stdout, re.MULTILINE)
    timing = re.search(r"^time per step: .*$", proc.stdout, re.MULTILINE).group(0)
    if ad.c_available():
        assert re.search(r"\d+(\.\d+)? (us|ms|s) on c\b", timing), timing
        assert re.search(r"\d+(\.\d+)? (us|ms|s) on numpy\b", timing), timing
    else:
        assert "not available" in timing


def test_main_no_compile_gives_the_same_fit_and_says_eager():
    compiled, eager = run_main("--steps", "300"), run_main("--steps", "300", "--no-compile")
    data = cli.make_demo_data(seed=0)
    for proc in (compiled, eager):
        assert proc.returncode == 1, proc.stderr  # 300 steps: the step limit
        no_traceback(proc)
    # a compiled step replays the eager kernels: the same parameters, to the last digit
    table = [line for line in compiled.stdout.splitlines() if re.match(r"^x\d|^\(intercept", line)]
    assert table and table == [line for line in eager.stdout.splitlines()
                               if re.match(r"^x\d|^\(intercept", line)]
    fitted = np.array([float(line.split()[-3]) for line in table])
    assert np.all(np.isfinite(fitted)) and fitted.size == data.X.shape[1] + 1
    assert re.search(r"^time per step: .*compiled, against \S+ (us|ms|s) eager on",
                     compiled.stdout, re.MULTILINE)
    assert re.search(r"^time per step: .*; eager \(--no-compile\)", eager.stdout, re.MULTILINE)


def test_main_adam_on_numpy_backend_matches_lstsq():
    proc = run_main("--optimizer", "adam", "--backend", "numpy")
    assert proc.returncode == 0, proc.stderr
    assert "adam (lr 0.01)" in proc.stdout and "numpy backend" in proc.stdout
    data = cli.make_demo_data(seed=0)
    assert_matches_lstsq(proc.stdout, data.X, data.y, data.feature_names)


def test_main_step_limit_reports_not_converged():
    proc = run_main("--steps", "20")
    assert proc.returncode == 1
    assert "NOT CONVERGED" in proc.stdout and "after 20 steps" in proc.stdout
    assert "NOT within 1e-06" in proc.stdout  # 20 steps are far from the minimum
    no_traceback(proc)


def test_main_reports_divergence():
    proc = run_main("--lr", "5", "--steps", "1000")
    assert proc.returncode == 1
    assert "DIVERGED" in proc.stdout and "try --lr" in proc.stdout
    no_traceback(proc)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_main_progress_updates_in_place_on_a_terminal():
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pyautodiff"], cwd=ROOT, stdout=follower,
                            stderr=subprocess.PIPE)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the program exited and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    proc.stderr.close()
    out = b"".join(chunks).decode()
    assert "\rstep" in out  # the line is redrawn in place


def test_main_fits_a_csv_with_known_coefficients(tmp_path):
    rng = np.random.default_rng(7)
    n = 200
    # Features in different units; an id column of names that must be left out.
    X = np.column_stack([rng.normal(10, 2, n), rng.uniform(0, 1000, n), rng.normal(0, 0.01, n)])
    coef, intercept = np.array([1.5, -0.02, 300.0]), 7.0
    y = X @ coef + intercept + rng.normal(0, 0.01, n)
    # The values are written exactly (num), so the reference below sees what the program reads.
    rows = [[f"id{i}", num(X[i, 0]), num(X[i, 1]), num(y[i]), num(X[i, 2])] for i in range(n)]
    path = write_csv(tmp_path / "data.csv", ["name", "size", "dist km", "price", "z"], rows)

    proc = run_main("--csv", path, "--target", "price")
    assert proc.returncode == 0, proc.stderr
    assert "column 'name' holds no numbers: left out" in proc.stderr
    fitted = assert_matches_lstsq(proc.stdout, X, y, ["size", "dist km", "z"])
    np.testing.assert_allclose(fitted, np.append(coef, intercept), rtol=0.02)


def test_main_fits_exact_data_exactly(tmp_path):
    # No noise: the least-squares solution is the generating coefficients themselves.
    X = np.arange(1.0, 13.0).reshape(6, 2) ** [1, 2]
    y = X @ [2.0, -0.5] + 3.0
    path = write_csv(tmp_path / "exact.csv", ["a", "b", "y"],
                     [[*map(num, x), num(t)] for x, t in zip(X, y)])
    proc = run_main("--csv", path, "--target", "y")
    assert proc.returncode == 0, proc.stderr
    fitted = assert_matches_lstsq(proc.stdout, X, y, ["a", "b"])
    np.testing.assert_allclose(fitted, [2.0, -0.5, 3.0], rtol=0, atol=FIT_TOL)
    assert parse_r2(proc.stdout) == pytest.approx(1.0, abs=1e-12)


GOOD = "a,b,y\n1,2,3\n2,1,5\n3,5,4\n4,3,9\n5,8,2\n"

# (file name or None for "no file", file contents, extra args, expected pieces of the message)
CSV_ERRORS = {
    "missing file": (None, None, [], ["nosuch.csv", "no such file"]),
    "directory": ("", None, [], ["is a directory"]),
    "missing target": ("data.csv", GOOD, ["--target", "price"],
                       ["no column 'price'", "'a', 'b', 'y'"]),
    "target in other case": ("data.csv", GOOD, ["--target", "Y"], ["did you mean 'y'"]),
    "non-numeric": ("data.csv", "a,b,y\n1,2,3\n2,abc,5\n3,5,4\n4,3,1\n",
                    [], ["line 3", "data row 2", "column 'b'", "'abc' is not a number"]),
    "missing value": ("data.csv", "a,b,y\n1,2,3\n2,,5\n3,5,4\n4,3,1\n",
                      [], ["line 3", "column 'b'", "missing"]),
    "not finite": ("data.csv", "a,b,y\n1,2,3\n2,1,5\n3,inf,4\n4,3,1\n",
                   [], ["line 4", "column 'b'", "'inf' is not a finite number"]),
    "ragged row": ("data.csv", "a,b,y\n1,2,3\n2,1\n", [], ["line 3", "2 values", "3 columns"]),
    "fewer rows than features": ("data.csv", "a,b,c,y\n1,2,3,4\n2,1,5,6\n3,3,3,1\n",
                                 [], ["3 data rows", "3 feature columns", "at least 4 rows"]),
    "constant column": ("data.csv", "a,b,y\n1,7,3\n2,7,5\n3,7,4\n4,7,9\n",
                        [], ["column 'b' is constant"]),
    "constant target": ("data.csv", "a,b,y\n1,2,3\n2,1,3\n3,5,3\n4,3,3\n",
                        [], ["target 'y' is constant"]),
    "dependent columns": ("data.csv", "a,b,y\n1,2,3\n2,4,5\n3,6,4\n4,8,9\n",
                          [], ["column 'b' is a linear combination", "'a'"]),
    "no features": ("data.csv", "name,y\nx,3\nz,5\n", [], ["no numeric column besides"]),
    "empty file": ("data.csv", "", [], ["is empty"]),
    "header only": ("data.csv", "a,b,y\n", [], ["no data rows"]),
    "duplicate column": ("data.csv", "a,a,y\n1,2,3\n", [], ["column 'a' twice"]),
    "semicolons": ("data.csv", "a;b;y\n1;2;3\n", [], ["no column 'y'", "separated"]),
    "not text": ("data.csv", b"\xff\xfe\x00a,b,y\n", [], ["not a UTF-8 text file"]),
}


def csv_error_case(tmp_path, case):
    """The file of ``CSV_ERRORS[case]`` written in ``tmp_path``: the arguments that read it,
    and the pieces of the message expected."""
    name, contents, extra, expected = CSV_ERRORS[case]
    if name is None:
        path = tmp_path / "nosuch.csv"
    elif name == "":
        path = tmp_path
    else:
        path = tmp_path / name
        if isinstance(contents, bytes):
            path.write_bytes(contents)
        else:
            path.write_text(contents)
    args = ["--csv", str(path)] + (extra if "--target" in extra else ["--target", "y", *extra])
    return args, expected


@pytest.mark.parametrize("case", list(CSV_ERRORS))
def test_main_csv_error_exits_2_with_a_clear_message(tmp_path, case):
    args, expected = csv_error_case(tmp_path, case)
    proc = run_main(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    no_traceback(proc)
    assert proc.stderr.startswith("error: "), proc.stderr
    for piece in expected:
        assert piece in proc.stderr, proc.stderr


@pytest.mark.parametrize("args, expected", [
    (["--csv", "x.csv"], "--csv needs --target"),
    (["--target", "y"], "--target needs --csv"),
    (["--steps", "-1"], "--steps"),
    (["--lr", "0"], "--lr"),
    (["--optimizer", "lbfgs"], "--optimizer"),
])
def test_main_bad_options_exit_2(args, expected):
    proc = run_main(*args)
    assert proc.returncode == 2
    no_traceback(proc)
    assert expected in proc.stderr and "usage:" in proc.stderr


def test_main_help_explains_each_option():
    proc = run_main("--help")
    assert proc.returncode == 0
    for option in ("--csv", "--target", "--backend", "--steps", "--lr", "--optimizer",
                   "--tol", "--seed", "Exit status"):
        assert option in proc.stdout


def test_main_without_the_c_core_says_so(monkeypatch, capsys):
    # In process, with the C core reported missing: the timing line says there is nothing to
    # compare with, and --backend c is refused with a clear error.
    monkeypatch.setattr(ad, "c_available", lambda: False)
    data = cli.make_demo_data(seed=0, n_rows=50)
    args = cli.build_parser().parse_args(["--backend", "numpy"])
    with ad.use_backend("numpy"):
        cli.print_timings(cli.Standardized.of(data.X, data.y), args, "numpy")
    line = capsys.readouterr().out
    assert "on numpy (active)" in line and "C core is not available" in line
    with pytest.raises(cli.DataError, match="C core is not available"):
        cli.select_backend("c")


def test_main_doctests():
    # pytest's --doctest-modules never collects __main__.py, so run its examples here.
    result = doctest.testmod(cli)
    assert result.attempted > 0 and result.failed == 0


# ----- examples/linear_regression.py -----------------------------------------------------


def test_linear_regression_example_matches_lstsq():
    proc = run(example("linear_regression"))
    assert proc.returncode == 0, proc.stderr
    data = cli.make_demo_data(seed=0)
    assert_matches_lstsq(proc.stdout, data.X, data.y, data.feature_names)
    assert re.search(r"^step +\d+/\d+  loss \S+  [\d,]+ steps/s$", proc.stdout, re.MULTILINE)


def test_linear_regression_example_on_csv_with_adam(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(0, 5, (100, 2))
    y = X @ [0.5, 4.0] - 2.0 + rng.normal(0, 0.1, 100)
    path = write_csv(tmp_path / "d.csv", ["u", "v", "w"],
                     [[*map(num, x), num(t)] for x, t in zip(X, y)])
    proc = run(example("linear_regression"), "--csv", path, "--target", "w",
               "--optimizer", "adam")
    assert proc.returncode == 0, proc.stderr
    assert_matches_lstsq(proc.stdout, X, y, ["u", "v"])


def test_linear_regression_example_csv_error(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["u", "w"], [[1, 2], ["x", 3], [2, 2]])
    proc = run(example("linear_regression"), "--csv", path, "--target", "w")
    assert proc.returncode == 2
    no_traceback(proc)
    assert "column 'u'" in proc.stderr and "'x' is not a number" in proc.stderr


def test_linear_regression_example_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fit.png"
    proc = run(example("linear_regression"), "--steps", "100", "--plot", out)
    assert proc.returncode == 1, proc.stderr  # 100 steps: stops at the limit, still plots
    assert out.read_bytes().startswith(PNG_MAGIC)


@pytest.fixture
def without(tmp_path):
    """An environment in which importing the named packages fails, as if not installed."""
    def make(*packages):
        for package in packages:
            (tmp_path / "blocked" / package).mkdir(parents=True)
            (tmp_path / "blocked" / package / "__init__.py").write_text(
                f"raise ImportError('{package} is blocked by the test')\n"
            )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(tmp_path / "blocked")] + env.get("PYTHONPATH", "").split(os.pathsep)
        ).rstrip(os.pathsep)
        return env
    return make


@pytest.mark.parametrize("name", ["linear_regression", "logistic_regression"])
def test_plot_without_matplotlib_exits_2(tmp_path, without, name):
    out = tmp_path / "p.png"
    proc = run(example(name), "--plot", out, env=without("matplotlib"))
    assert proc.returncode == 2
    no_traceback(proc)
    assert "matplotlib" in proc.stderr and "pip install" in proc.stderr
    assert not out.exists()


# ----- examples/logistic_regression.py ---------------------------------------------------


@pytest.fixture(scope="module")
def logistic():
    """The default run of the logistic-regression example: its printed boundary and
    accuracies, and the example's own train/test data."""
    proc = run(example("logistic_regression"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    m = re.search(r"^decision boundary: (\S+) \* x1 ([+-]) (\S+) \* x2 ([+-]) (\S+) = 0", out,
                  re.MULTILINE)
    boundary = [float(m.group(1)), float(m.group(2) + m.group(3)),
                float(m.group(4) + m.group(5))]
    accuracies = [
        float(re.search(rf"^{part} accuracy: ([\d.]+)%", out, re.MULTILINE).group(1)) / 100
        for part in ("train", "test")
    ]
    module = import_example("logistic_regression")
    data = module.split(*module.make_data())
    return boundary, accuracies, data


def test_logistic_regression_example_accuracy(logistic):
    (w1, w2, b), (train_acc, test_acc), (X_train, y_train, X_test, y_test) = logistic
    assert train_acc >= 0.95 and test_acc >= 0.9
    # The printed boundary, applied here to the example's data, gives the printed accuracies.
    for X_part, y_part, printed in ((X_train, y_train, train_acc), (X_test, y_test, test_acc)):
        predicted = (X_part @ [w1, w2] + b > 0).astype(float)
        assert np.mean(predicted == y_part) == pytest.approx(printed, abs=5e-5)


def test_logistic_regression_example_matches_sklearn(logistic):
    # The minimum of the logistic loss is unique here (the classes overlap): scikit-learn's
    # unpenalized fit finds the same boundary.
    linear_model = pytest.importorskip("sklearn.linear_model")
    boundary, _, (X_train, y_train, _, _) = logistic
    reference = linear_model.LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000)
    reference.fit(X_train, y_train)
    np.testing.assert_allclose(boundary, [*reference.coef_[0], reference.intercept_[0]],
                               rtol=1e-3, atol=1e-3)


def test_logistic_regression_example_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "boundary.png"
    proc = run(example("logistic_regression"), "--steps", "50", "--plot", out)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes().startswith(PNG_MAGIC)


# ----- examples/mlp_digits.py ------------------------------------------------------------


# What the example reached before it had Dropout and a learning-rate schedule (an MLP
# 64-64-10 with Adam at a constant 0.01): 346 of the 359 test images, 96.38%.
TODAYS_CORRECT = 346


def test_mlp_digits_test_accuracy_and_cosine_schedule():
    pytest.importorskip("sklearn")
    proc = run(example("mlp_digits"))  # the full default run: about 3 s
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^test accuracy: ([\d.]+)% \((\d+)/(\d+)\)", proc.stdout, re.MULTILINE)
    correct, total = int(m.group(2)), int(m.group(3))
    assert float(m.group(1)) == pytest.approx(100 * correct / total, abs=0.005)
    assert total == 359  # a stratified 20% of the 1797 images
    assert correct >= TODAYS_CORRECT
    # The progress lines (one per epoch in a pipe) show each epoch's learning rate: the
    # closed form of cosine annealing from 0.02 to 0 over the 20 epochs.
    lrs = dict(re.findall(r"epoch (\d+)/20  lr (\S+)", proc.stdout))
    assert list(lrs) == [str(e) for e in range(1, 21)]
    for e, lr in lrs.items():
        assert lr == f"{0.01 * (1 + math.cos(math.pi * (int(e) - 1) / 20)):.2e}", e


def test_mlp_digits_model_drops_out_in_training_only():
    digits = import_example("mlp_digits")
    model = digits.make_model()
    assert [m.p for m in model.modules() if isinstance(m, ad.nn.Dropout)] == [0.5]
    without = ad.nn.Sequential(*[m for m in model if not isinstance(m, ad.nn.Dropout)])
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 64)), rng.integers(0, 10, 40)
    digits.train(model, X, y, epochs=1, batch_size=20)
    assert model.training  # train() trains in training mode
    with ad.no_grad():
        dropped = model(X).numpy()
    # In training about half of the hidden units are zeroed: the output differs.
    assert not np.array_equal(dropped, without(X).numpy())
    acc = digits.accuracy(model, X, y)
    assert not model.training  # accuracy() evaluates in eval mode: no unit dropped
    with ad.no_grad():
        logits = without(X).numpy()
        np.testing.assert_array_equal(model(X).numpy(), logits)
    assert acc == np.mean(logits.argmax(axis=1) == y)


def test_mlp_digits_without_sklearn_exits_2(without):
    proc = run(example("mlp_digits"), env=without("sklearn"))
    assert proc.returncode == 2
    no_traceback(proc)
    assert "scikit-learn" in proc.stderr and "pip install" in proc.stderr


@pytest.mark.parametrize("name", ["linear_regression", "logistic_regression", "mlp_digits"])
def test_example_help(name):
    proc = run(example(name), "--help")
    assert proc.returncode == 0
    assert "usage:" in proc.stdout and "--seed" in proc.stdout

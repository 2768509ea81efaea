"""README stays true: the examples of "Differentiating numpy code" run and give the closed
forms, and its list of numpy functions is ``ad.numpy_functions()``; the examples of
"Training" fit the least-squares solution, and its loop resumes from the checkpoint bit for
bit and evaluates as numpy computes the network from the state dict."""

import pathlib
import re
import runpy

import numpy as np
import pytest

import pyautodiff as ad

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _section(title):
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def _code_blocks(title):
    return re.findall(r"```python\n(.*?)```", _section(title), flags=re.DOTALL)


def _listed():
    block = re.search(r"<!-- numpy-functions -->\n(.*?)<!-- /numpy-functions -->",
                      _section("Differentiating numpy code"), flags=re.DOTALL).group(1)
    return re.findall(r"`([\w.]+)`", block)


def test_the_list_of_numpy_functions_is_the_registrys():
    expected = [name.removeprefix("numpy.") for name in ad.numpy_functions()]
    assert _listed() == expected, (
        "README's list differs from ad.numpy_functions(); the block should read:\n"
        + ", ".join(f"`{n}`" for n in expected))


@pytest.fixture
def blocks(backend, restore_registry):
    return _code_blocks("Differentiating numpy code")


def _run(block, tmp_path):
    """Run a README block as the file model.py (so messages can quote its lines); a block
    that follows another one gets the imports the first block made."""
    if "import pyautodiff" not in block:
        block = "import numpy as np\nimport pyautodiff as ad\n" + block
    (tmp_path / "model.py").write_text(block)
    return runpy.run_path(str(tmp_path / "model.py"))


def test_textbook_functions_differentiate_unmodified(blocks, tmp_path):
    ns = _run(blocks[0], tmp_path)
    x = ns["x"]
    # At mu = 0, log sigma = 0 (sigma = 1): the closed forms the README's comment gives.
    np.testing.assert_allclose(ns["g_mu"].numpy(), np.sum(x), rtol=1e-12)
    np.testing.assert_allclose(ns["g_log_sigma"].numpy(), np.sum(x**2 - 1), rtol=1e-12)
    p = ns["p"]
    grad = np.zeros(3)
    grad[:-1] = -400 * p[:-1] * (p[1:] - p[:-1] ** 2) - 2 * (1 - p[:-1])
    grad[1:] += 200 * (p[1:] - p[:-1] ** 2)
    np.testing.assert_allclose(ns["g"].numpy(), grad, rtol=1e-12)
    hess = np.zeros((3, 3))
    for i in range(2):
        hess[i, i] += 1200 * p[i] ** 2 - 400 * p[i + 1] + 2
        hess[i, i + 1] = hess[i + 1, i] = -400 * p[i]
        hess[i + 1, i + 1] += 200
    np.testing.assert_allclose(ns["H"].numpy(), hess, rtol=1e-12)
    np.testing.assert_allclose(ns["hvp"].numpy(), hess @ np.ones(3), rtol=1e-12)


def test_the_user_op_example(blocks, tmp_path):
    ns = _run(blocks[1], tmp_path)
    x = ns["x"]
    p = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(ad.grad(ns["logsumexp"])(x).numpy(), p, rtol=1e-12)
    np.testing.assert_allclose(ad.hessian(ns["logsumexp"])(x).numpy(),
                               np.diag(p) - np.outer(p, p), rtol=1e-10, atol=1e-14)


def test_the_gradcheck_example_names_the_broken_op(blocks, tmp_path):
    ns = _run(blocks[2].partition("ad.gradcheck(")[0], tmp_path)
    with pytest.raises(ad.GradcheckError, match=r"'cube', created at \S*model.py:11 "
                                                r"`v = cube\(u\)`"):
        ad.gradcheck(ns["model"], (np.array([0.5, 0.8]),))


# ----- Training -----------------------------------------------------------------------------

@pytest.fixture
def training(backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (the loop writes checkpoint.npz into the working directory)
    return _code_blocks("Training")


def test_the_training_names_exist():
    listed = re.search(r"\n- `pyautodiff.nn`.*?\n\n", _section("Training"), re.DOTALL).group()
    spaces = [ad, ad.nn, ad.nn.Module, ad.nn.init, ad.nn.utils, ad.optim,
              ad.optim.Optimizer, ad.optim.lr_scheduler, ad.data]
    names = [re.match(r"[\w.]+", code).group().rpartition(".")[2]
             for code in re.findall(r"`([^`]+)`", listed)
             if code[0].isalpha() and not code.endswith("=")]  # (not `.npz`, `reduction=`)
    assert len(names) > 40
    assert [n for n in names if not any(hasattr(space, n) for space in spaces)] == []


def test_the_linear_regression_fits_the_least_squares_solution(training, tmp_path):
    ns = _run(training[0], tmp_path)
    X, y = ns["X"].numpy(), ns["y"].numpy()
    coef = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y, rcond=None)[0]
    fitted = np.r_[ns["model"].weight.numpy().ravel(), ns["model"].bias.numpy()]
    np.testing.assert_allclose(fitted, coef, rtol=0, atol=1e-6)


def test_the_training_loop_resumes_bit_for_bit(training, tmp_path, capsys):
    ns = _run(training[1], tmp_path)
    assert (tmp_path / "checkpoint.npz").exists()
    resumed = ns["model"].state_dict()
    # The same 30 epochs without the checkpoint: every parameter and buffer, to the bit.
    model, opt, sched = ns["make"]()
    ns["train"](model, opt, sched, epochs=30)
    uninterrupted = model.state_dict()
    assert list(resumed) == list(uninterrupted)
    for k, v in uninterrupted.items():
        assert resumed[k].dtype == v.dtype and resumed[k].tobytes() == v.tobytes(), k
    assert resumed["1.num_batches_tracked"] == 30 * 8  # 256 samples in batches of 32
    assert sched.get_last_lr() == [0.02 * 0.5**3] == ns["sched"].get_last_lr()
    # Evaluation mode: BatchNorm's running averages, as numpy computes the network from the
    # state dict; the fit is far below the variance of the target.
    sd, X, y = resumed, ns["X"], ns["y"]
    h = X @ sd["0.weight"].T + sd["0.bias"]
    h = (h - sd["1.running_mean"]) / np.sqrt(sd["1.running_var"] + 1e-5)
    out = np.tanh(h * sd["1.weight"] + sd["1.bias"]) @ sd["3.weight"].T + sd["3.bias"]
    with ad.no_grad():
        np.testing.assert_allclose(ns["model"](X).numpy(), out, rtol=1e-12, atol=1e-14)
    mse = np.mean((out - y) ** 2)
    assert ns["mse"] == pytest.approx(mse, rel=1e-12)
    assert mse < 0.02 * y.var()
    assert capsys.readouterr().out == (f"mse {mse:.4f} (variance of y {y.var():.2f}), "
                                       f"lr {0.02 * 0.5**3:g}\n")

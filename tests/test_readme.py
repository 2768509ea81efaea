"""README's "Differentiating numpy code" stays true: its examples run and give the closed
forms, and its list of numpy functions is ``ad.numpy_functions()``."""

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

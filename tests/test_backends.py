"""Backends: get/set/use_backend, c_available, and PYAUTODIFF_BACKEND at import."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyautodiff as ad

ROOT = Path(__file__).resolve().parents[1]


def test_backend_get_and_use(restore_backend):
    assert ad.get_backend() in ("c", "numpy")
    before = ad.get_backend()
    with ad.use_backend("numpy"):
        assert ad.get_backend() == "numpy"
        np.testing.assert_array_equal((ad.Tensor([1.0, 2.0]) * 2.0).numpy(), [2.0, 4.0])
    assert ad.get_backend() == before


def test_backend_use_restores_after_exception(restore_backend):
    before = ad.get_backend()
    with pytest.raises(KeyError), ad.use_backend("numpy"):
        raise KeyError("boom")
    assert ad.get_backend() == before


def test_backend_set_numpy(restore_backend):
    ad.set_backend("numpy")
    assert ad.get_backend() == "numpy"


def test_backend_unknown_name_raises(restore_backend):
    before = ad.get_backend()
    with pytest.raises(ValueError):
        ad.set_backend("fortran")
    with pytest.raises(ValueError), ad.use_backend("cuda"):
        pass
    assert ad.get_backend() == before


def test_backend_c_unavailable_raises_runtime_error(restore_backend):
    if ad.c_available():
        pytest.skip("the C core is built: set_backend('c') must work (tested elsewhere)")
    assert ad.c_available() is False
    before = ad.get_backend()
    with pytest.raises(RuntimeError, match="C"):
        ad.set_backend("c")
    with pytest.raises(RuntimeError), ad.use_backend("c"):
        pass
    assert ad.get_backend() == before


def test_backend_c_selectable_when_available(restore_backend):
    if not ad.c_available():
        pytest.skip("the C core is not built")
    ad.set_backend("c")
    assert ad.get_backend() == "c"


def _run_python(code, **env):
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                          text=True, timeout=60, check=False)


def test_backend_env_var_numpy_honoured_at_import():
    r = _run_python("import pyautodiff as ad; print(ad.get_backend())",
                    PYAUTODIFF_BACKEND="numpy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy"


def test_backend_default_is_c_when_built_else_numpy():
    r = _run_python("import pyautodiff as ad; print(ad.get_backend(), ad.c_available())",
                    PYAUTODIFF_BACKEND="")
    assert r.returncode == 0, r.stderr
    backend, available = r.stdout.split()
    assert backend == ("c" if available == "True" else "numpy")


def test_backend_stale_c_module_falls_back_to_numpy_with_one_warning():
    # A compiled core older than the Python sources (a kernel or constant missing)
    # must not break the import: numpy runs, and one warning says why.
    code = (
        "import importlib.util, sys, types, warnings\n"
        "stale = types.ModuleType('pyautodiff._pyad_c')\n"
        "stale.__spec__ = importlib.util.spec_from_loader(stale.__name__, loader=None)\n"
        "stale.ffi, stale.lib = object(), object()\n"
        "sys.modules['pyautodiff._pyad_c'] = stale\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import pyautodiff as ad\n"
        "print(ad.c_available(), ad.get_backend(), len(w))\n"
        "print(w[0].message)\n"
        "print((ad.tanh(ad.tensor([0.5])) * 2).numpy()[0])\n"
    )
    r = _run_python(code, PYAUTODIFF_BACKEND="")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "False numpy 1"
    assert "C core is not available" in lines[1]
    assert float(lines[2]) == pytest.approx(2 * np.tanh(0.5), rel=1e-15)


def test_backend_exit_with_live_c_results_is_silent():
    # A pooled result that dies during interpreter exit, after the modules' globals
    # were cleared, returns its buffer without printing "Exception ignored". Here a
    # library module keeps a function of the script (as a monkeypatched helper or a
    # registered callback would), so the script's globals, z with them, die last.
    code = (
        "import numpy as np, pyautodiff as ad\n"
        "from pyautodiff.backends import fused\n"
        "z = ad.exp(ad.tensor(np.linspace(-1, 1, 10**6))) + 1.0\n"
        "pending = ad.tanh(ad.tensor(np.ones(10**6)))\n"
        "fused._late = lambda: (z, pending)\n"
        "print(z.numpy()[-1])\n"
    )
    r = _run_python(code, PYAUTODIFF_BACKEND="")
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == pytest.approx(np.e + 1.0, rel=1e-15)
    assert r.stderr == ""

"""Backends: get/set/use_backend, c_available, and PYAUTODIFF_BACKEND at import."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import c_threshold, in_threads

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


def test_backend_env_var_unknown_keeps_the_default_with_a_warning():
    code = (
        "import warnings\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import pyautodiff as ad\n"
        "print(ad.get_backend(), ad.c_available())\n"
        "print(len(w), w[0].message)\n"
    )
    r = _run_python(code, PYAUTODIFF_BACKEND="fortran")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    backend, available = first.split()
    assert backend == ("c" if available == "True" else "numpy")
    assert second.startswith("1 PYAUTODIFF_BACKEND='fortran' ignored")


# ----- threads: use_backend is per thread, set_backend for the whole process --------------

def _in_two_threads(first, second):
    """Run ``first(step)`` and ``second(step)`` in two threads; ``step()`` waits for the
    other thread to reach its own next ``step()``. Errors are re-raised here."""
    barrier = threading.Barrier(2, timeout=30)

    def work(i):
        try:
            (first, second)[i](barrier.wait)
        except BaseException:
            barrier.abort()  # (the other thread stops waiting)
            raise

    in_threads(work, 2)


@pytest.fixture
def ran_on(monkeypatch):
    """{thread name: [the backend each tanh kernel ran on]}, filled by spies on both
    backends' tanh kernels (on arrays of any size: c_threshold(0), nothing deferred)."""
    from pyautodiff.backends import c_backend, numpy_backend

    log = {}
    for m in (numpy_backend, c_backend):
        def spy(x, real=m.tanh, name=m.NAME):
            log.setdefault(threading.current_thread().name, []).append(name)
            return real(x)
        monkeypatch.setattr(m, "tanh", spy)
    with c_threshold(0, fuse=False):
        yield log


def _tanh():
    return ad.tanh(ad.tensor([0.5, -0.25])).numpy()


def test_backend_overlapping_blocks_in_two_threads_stay_apart(require_c, restore_backend,
                                                              ran_on):
    # Thread 1 enters a numpy block, then thread 2 a C block; thread 1 leaves first.
    # Each computes on its own block's backend all along, and the process ends on the
    # backend it began with (a process-wide switch left it on thread 2's "previous").
    ad.set_backend("c")
    seen = {}

    def first(step):
        threading.current_thread().name = "first"
        with ad.use_backend("numpy"):
            step()
            step()  # both in their blocks
            seen["first in"] = ad.get_backend(), _tanh()
            step()
        step()  # only thread 2 in its block
        seen["first out"] = ad.get_backend(), _tanh()
        step()

    def second(step):
        threading.current_thread().name = "second"
        step()
        with ad.use_backend("c"):
            step()
            seen["second in"] = ad.get_backend(), _tanh()
            step()
            step()
            seen["second alone"] = ad.get_backend(), _tanh()
            step()

    _in_two_threads(first, second)
    assert ad.get_backend() == "c"
    want = np.tanh([0.5, -0.25])
    assert {k: v[0] for k, v in seen.items()} == {
        "first in": "numpy", "first out": "c", "second in": "c", "second alone": "c"}
    for _, values in seen.values():
        np.testing.assert_allclose(values, want, rtol=1e-15)
    assert ran_on == {"first": ["numpy", "c"], "second": ["c", "c"]}


def test_backend_set_in_one_thread_spares_another_threads_block(require_c, restore_backend,
                                                                ran_on):
    ad.set_backend("c")
    seen = {}

    def in_block(step):
        threading.current_thread().name = "block"
        with ad.use_backend("c"):
            step()
            step()  # the other thread switched the process to numpy
            seen["in block"] = ad.get_backend(), _tanh()
        seen["after block"] = ad.get_backend(), _tanh()  # the process-wide one now
        step()

    def switcher(step):
        threading.current_thread().name = "switcher"
        step()
        ad.set_backend("numpy")
        seen["switcher"] = ad.get_backend(), _tanh()
        step()
        step()

    _in_two_threads(in_block, switcher)
    assert {k: v[0] for k, v in seen.items()} == {
        "in block": "c", "after block": "numpy", "switcher": "numpy"}
    assert ran_on == {"block": ["c", "numpy"], "switcher": ["numpy"]}
    assert ad.get_backend() == "numpy"


def test_backend_set_inside_a_block_switches_the_thread_at_once(require_c, restore_backend):
    ad.set_backend("c")
    with ad.use_backend("numpy"):
        with ad.use_backend("c"):
            ad.set_backend("numpy")
            assert ad.get_backend() == "numpy"
        assert ad.get_backend() == "numpy"  # the outer block's
    assert ad.get_backend() == "numpy"  # the process-wide one set inside
    with ad.use_backend("c"):
        ad.set_backend("c")
    assert ad.get_backend() == "c"


def test_backend_new_thread_starts_on_the_process_wide_backend(require_c, restore_backend):
    ad.set_backend("c")
    seen = []
    with ad.use_backend("numpy"):
        t = threading.Thread(target=lambda: seen.append(ad.get_backend()))
        t.start()
        t.join()
        assert ad.get_backend() == "numpy"
    assert seen == ["c"]

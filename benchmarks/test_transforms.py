"""Function transforms on a (100,) -> (100,) function: forward mode against reverse mode.

``f(x) = tanh(W @ x) * x`` with ``W`` (100, 100) and ``x`` (100,) float64, seeded; for the
Hessians the scalar ``h(x) = sum(f(x))``. One timed call is the whole transform, forward pass
included, from plain arrays: each row is one workload, its pytest-benchmark group.

- ``jvp``: ``J v`` (``ad.jvp``); ``vjp``: ``c^T J`` (``ad.vjp`` and one call of ``vjp_fn``), one
  reverse pass. pyautodiff derives forward mode from the reverse pass (``functional.py``: the
  VJP recorded, then a reverse pass through it), so jvp / vjp is its cost over a reverse pass.
- ``jacfwd``, ``jacrev``: the full (100, 100) Jacobian; with as many inputs as outputs, both
  run 100 backward passes, jacfwd's through the larger recorded VJP graph.
- ``hessian reverse-over-reverse`` (``ad.jacrev(ad.grad(h))``, what ``ad.hessian`` runs) and
  ``hessian forward-over-reverse`` (``ad.jacfwd(ad.grad(h))``): the choice ``ad.hessian``
  made from these two rows.

Those ratios are across rows (jvp / vjp, jacfwd / jacrev, forward- / reverse-over-reverse); the
columns are the usual ones (``benchutil.VARIANTS``): ``c`` and ``numpy``, pyautodiff's two
backends (at their real thresholds: 100-element arrays run numpy kernels on both, so the two
differ only by the backend's dispatch); ``torch``: ``torch.func`` (jvp, vjp, jacfwd, jacrev;
``jacrev(jacrev)`` and ``hessian``, which is ``jacfwd(jacrev)``); ``autograd``: HIPS autograd's
``make_jvp``, ``make_vjp``, ``jacobian`` and ``hessian`` (it has no forward-mode Jacobian);
``floor``: the closed forms below in numpy. A peer that is not importable is skipped.

With ``a = W x``, ``t = tanh(a)``, ``s = 1 - t^2``: ``J = diag(s x) W + diag(t)``, and the
Hessian of ``h`` is ``diag(s) W + W^T diag(s) - 2 W^T diag(x t s) W``. Before timing, every
variant's result is checked once against these, evaluated in float64: rtol 1e-10 with an
absolute floor of rtol times the reference's largest element.

Measured here (2 cores, numpy 2, torch 2.13 CPU), medians of one run of
``benchmarks/report.py -- -k transforms``, alike on both backends: jvp / vjp 2.9x; jacfwd /
jacrev 1.4x; forward- / reverse-over-reverse Hessian 1.3x, so ``ad.hessian`` is reverse over
reverse. (Before backward passes ran only toward the transform's own leaves: 3.3x, 2.0x and
2.6x.)

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_transforms.py --benchmark-only
"""

import functools

import numpy as np
import pytest
from benchutil import assert_close, label, peer

import pyautodiff as ad

N = 100
RTOL = 1e-10
SEED = 20240611


@functools.lru_cache(maxsize=1)
def inputs():
    """W (N, N) scaled so that tanh is neither saturated nor linear, x, v, c (N,)."""
    rng = np.random.default_rng(SEED)
    w = rng.standard_normal((N, N)) / np.sqrt(N)
    x, v, c = rng.standard_normal((3, N))
    return w, x, v, c


def f(m, w, x):
    """The function, written once for every library whose module has tanh."""
    return m.tanh(w @ x) * x


def h(m, w, x):
    return m.sum(f(m, w, x))


def closed_forms():
    """``{workload: reference}`` from the closed forms (module docstring)."""
    w, x, v, c = inputs()
    t = np.tanh(w @ x)
    s = 1 - t * t
    jac = (s * x)[:, None] * w + np.diag(t)
    hess = s[:, None] * w + w.T * s - 2 * (w.T * (x * t * s)) @ w
    return {"jvp": jac @ v, "vjp": c @ jac, "jacfwd": jac, "jacrev": jac,
            "hessian reverse-over-reverse": hess, "hessian forward-over-reverse": hess}


# --- the variants: one step() per (workload, library), returning a numpy array -----------------

def pyautodiff_steps(backend):
    w, x, v, c = inputs()
    fx = functools.partial(f, ad, w)
    gh = ad.grad(functools.partial(h, ad, w))

    def in_backend(transform):
        def step():
            with ad.use_backend(backend):
                return transform().numpy()
        return step

    return {
        "jvp": in_backend(lambda: ad.jvp(fx, (x,), (v,))[1]),
        "vjp": in_backend(lambda: ad.vjp(fx, x)[1](c)[0]),
        "jacfwd": in_backend(lambda: ad.jacfwd(fx)(x)),
        "jacrev": in_backend(lambda: ad.jacrev(fx)(x)),
        "hessian reverse-over-reverse": in_backend(lambda: ad.jacrev(gh)(x)),
        "hessian forward-over-reverse": in_backend(lambda: ad.jacfwd(gh)(x)),
    }


def torch_steps():
    torch = peer("torch")
    tf = torch.func
    w, x, v, c = (torch.tensor(a) for a in inputs())
    fx = functools.partial(f, torch, w)
    hx = functools.partial(h, torch, w)
    return {
        "jvp": lambda: tf.jvp(fx, (x,), (v,))[1].numpy(),
        "vjp": lambda: tf.vjp(fx, x)[1](c)[0].numpy(),
        "jacfwd": lambda: tf.jacfwd(fx)(x).numpy(),
        "jacrev": lambda: tf.jacrev(fx)(x).numpy(),
        "hessian reverse-over-reverse": lambda: tf.jacrev(tf.jacrev(hx))(x).numpy(),
        "hessian forward-over-reverse": lambda: tf.hessian(hx)(x).numpy(),
    }


def autograd_steps():
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    ops = peer("autograd.differential_operators")
    w, x, v, c = inputs()
    fx = functools.partial(f, anp, w)
    hx = functools.partial(h, anp, w)
    return {
        "jvp": lambda: ops.make_jvp(fx)(x)(v)[1],
        "vjp": lambda: ops.make_vjp(fx)(x)[0](c),
        "jacrev": lambda: autograd.jacobian(fx)(x),
        "hessian reverse-over-reverse": lambda: autograd.hessian(hx)(x),
    }


def floor_steps():
    w, x, v, c = inputs()

    def jac():
        t = np.tanh(w @ x)
        return ((1 - t * t) * x)[:, None] * w + np.diag(t)

    def jvp():
        t = np.tanh(w @ x)
        return (1 - t * t) * x * (w @ v) + t * v

    def vjp():
        t = np.tanh(w @ x)
        return ((1 - t * t) * x * c) @ w + t * c

    def hess():
        t = np.tanh(w @ x)
        s = 1 - t * t
        return s[:, None] * w + w.T * s - 2 * (w.T * (x * t * s)) @ w

    return {"jvp": jvp, "vjp": vjp, "jacfwd": jac, "jacrev": jac,
            "hessian reverse-over-reverse": hess, "hessian forward-over-reverse": hess}


STEPS = {"c": lambda: pyautodiff_steps("c"), "numpy": lambda: pyautodiff_steps("numpy"),
         "torch": torch_steps, "autograd": autograd_steps, "floor": floor_steps}
WORKLOADS = list(closed_forms())


def group(workload):
    shape = f"({N},)" if workload.startswith("hessian") else f"({N},) -> ({N},)"
    return f"{workload} {shape} float64"


@pytest.mark.parametrize("variant", list(STEPS))
@pytest.mark.parametrize("workload", WORKLOADS)
def test_transform(benchmark, workload, variant):
    benchmark.group = group(workload)
    label(benchmark, variant)
    if variant == "c" and not ad.c_available():
        pytest.skip("pyautodiff's C core is not built")
    steps = STEPS[variant]()
    if workload not in steps:
        pytest.skip(f"{variant} has no {workload}")
    step = steps[workload]
    reference = closed_forms()[workload]
    assert_close(step(), reference, RTOL, name=workload)  # once, before timing
    result = benchmark(step)
    assert result.shape == reference.shape

"""Central finite differences in float64: the independent reference for gradients.

``check_gradients(fn, arrays)`` differentiates ``L = sum(fn(*xs) * w)`` for a
fixed random weight ``w`` of the output's shape, so every element of a
non-scalar output is checked (a plain ``sum`` would let errors that cancel
across elements through). The analytic side is ``backward()``; the numeric
side perturbs one input element at a time by +-eps and evaluates ``ref``, a
numpy implementation of the same function, so the reference shares no code
with pyautodiff (without ``ref`` it falls back to pyautodiff's forward).

Tolerances, from the error of the central difference
``(L(x+e) - L(x-e)) / 2e = L'(x) + e**2 L'''(x) / 6 + O(u |L| / e)``:
with eps = 1e-6 the truncation term is ~1e-13 |L'''| and the rounding term is
~1e-16 * |L| / 1e-6 = 1e-10 |L|. Our inputs are O(1) and have at most ~100
elements, so |L| < ~1e2 and the numeric error is below ~1e-8: atol = 1e-7 and
rtol = 1e-6 leave a margin of ten, while any wrong derivative (a missing
factor, a wrong sign, a dropped broadcast sum) is off by O(1).
"""

import numpy as np

import pyautodiff as ad

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-7


def weights_for(shape, seed=7):
    """The fixed random weight ``w`` that makes every output element count."""
    return np.random.default_rng(seed).standard_normal(shape)


def numeric_gradients(ref, arrays, w, eps=EPS):
    """d/dx_i sum(ref(*xs) * w) for every input, by central differences in float64."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]

    def loss(xs):
        return float(np.sum(np.asarray(ref(*xs), dtype=np.float64) * w))

    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus = [b.copy() for b in arrays]
            minus = [b.copy() for b in arrays]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (loss(plus) - loss(minus)) / (2 * eps)
        grads.append(g)
    return grads


def analytic_gradients(fn, arrays, w, dtype=np.float64):
    """The gradients of sum(fn(*xs) * w) from ``backward()``, as arrays (zeros if None).

    Also returns the forward value. Checks that each gradient has its input's
    shape and dtype, as API.md promises.
    """
    xs = [ad.Tensor(np.asarray(a), requires_grad=True, dtype=dtype) for a in arrays]
    out = fn(*xs)
    assert isinstance(out, ad.Tensor), f"expected a Tensor, got {type(out).__name__}"
    assert out.shape == np.shape(w), f"output shape {out.shape}, weights {np.shape(w)}"
    loss = (out * ad.Tensor(w, dtype=out.dtype)).sum()
    loss.backward()
    grads = []
    for x in xs:
        if x.grad is None:
            grads.append(np.zeros(x.shape, dtype=x.dtype))
            continue
        assert isinstance(x.grad, ad.Tensor)
        assert x.grad.shape == x.shape, f"grad shape {x.grad.shape} != input shape {x.shape}"
        assert x.grad.dtype == x.dtype, f"grad dtype {x.grad.dtype} != input dtype {x.dtype}"
        grads.append(np.array(x.grad.numpy()))
    return out, grads


def check_gradients(fn, arrays, ref=None, rtol=RTOL, atol=ATOL, eps=EPS, seed=7):
    """Assert that backward() agrees with central finite differences of ``ref`` (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    if ref is None:
        def ref(*values):
            with ad.no_grad():
                return fn(*[ad.Tensor(v) for v in values]).numpy()
    out_shape = np.shape(ref(*arrays))
    w = weights_for(out_shape, seed)
    _, analytic = analytic_gradients(fn, arrays, w)
    numeric = numeric_gradients(ref, arrays, w, eps)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        np.testing.assert_allclose(
            a, n, rtol=rtol, atol=atol,
            err_msg=f"gradient of input {i} (shape {arrays[i].shape}): analytic vs numeric",
        )

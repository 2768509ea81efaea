"""MLP training step: 784 -> 128 -> 10, tanh hidden layer, batch 64, float32.

``z = tanh(x @ W1 + b1) @ W2 + b2`` with the weights stored (in, out), so every library runs
the same two matrix products without transposes; softmax cross-entropy with integer labels,
``loss = -mean(log_softmax(z, axis=1)[arange(B), labels])``; then one plain SGD step updating
all four parameters in place (outside the graph). Inputs and parameters are float32, seeded;
the parameters use PyTorch's default ``Linear`` initialisation, uniform(-1/sqrt(fan_in),
1/sqrt(fan_in)) for weights and biases. One timed call clears the gradients, runs forward,
backward and the update; repeated on the same batch, the rounds walk down the loss (which
stays finite: the step only overfits the batch), doing the same work each time.

Variants (``VARIANTS``; a peer that is not importable is skipped, never failed):

- ``c``, ``numpy``: pyautodiff on its C backend and on its pure-Python path
  (``ad.log_softmax`` and integer-array indexing);
- ``compiled``: the step under ``ad.compile`` (default backend), its update by
  ``optim.SGD``, recorded before timing and replayed;
- ``torch``: PyTorch (default threads), ``torch.log_softmax`` and the same indexing;
- ``autograd``: HIPS autograd, ``z - logsumexp(z)`` (it has no log_softmax);
- ``mygrad``: MyGrad, ``mygrad.nnet.logsoftmax``;
- ``floor``: the forward, backward (``dz = (softmax(z) - onehot) / B``) and update written by
  hand in float32 numpy, no autodiff.

Before timing, one step of every variant from the same parameters is checked against a
hand-written forward and backward in float64 from those float32 parameters: the loss and the
four gradients to rtol 1e-4, with an absolute floor of 1e-4 times the largest |element| of
each reference gradient; and the change each parameter made, against ``LR`` times the
reference gradient, to the same tolerance (a variant that skipped the update would fail).

Run:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
          python -m pytest benchmarks/test_mlp.py --benchmark-only
"""

import functools

import numpy as np
import pytest
from benchutil import assert_close, label, peer, variants

import pyautodiff as ad

SEED = 20240604
D_IN, HIDDEN, CLASSES, BATCH = 784, 128, 10, 64
LR = 0.1
RTOL = 1e-4
DTYPE = np.float32
NAMES = ("W1", "b1", "W2", "b2")
GROUP = f"MLP {D_IN}-{HIDDEN}-{CLASSES} tanh b{BATCH} float32"


def logits(m, x, W1, b1, W2, b2):
    """The network, written once for every library whose module has ``tanh``."""
    return m.tanh(x @ W1 + b1) @ W2 + b2


def nll(logp, rows, labels):
    """Mean negative log-likelihood of the labels, from log-probabilities (B, classes)."""
    return -(logp[rows, labels].mean())


@functools.lru_cache(maxsize=1)
def inputs():
    """x (B, 784) float32, labels (B,) int64, the four float32 parameters and the reference."""
    rng = np.random.default_rng(SEED)

    def linear(fan_in, fan_out):
        bound = 1.0 / np.sqrt(fan_in)
        W = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(DTYPE)
        b = rng.uniform(-bound, bound, fan_out).astype(DTYPE)
        return W, b

    params = (*linear(D_IN, HIDDEN), *linear(HIDDEN, CLASSES))
    x = rng.random((BATCH, D_IN)).astype(DTYPE)  # pixel-like intensities in [0, 1)
    labels = rng.integers(0, CLASSES, BATCH)
    return x, labels, params, reference(x, labels, params)


def reference(x, labels, params):
    """Loss and gradients in float64 from the float32 values: softmax minus one-hot."""
    x = x.astype(np.float64)
    W1, b1, W2, b2 = (p.astype(np.float64) for p in params)
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    zs = z - z.max(axis=1, keepdims=True)
    logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
    onehot = np.eye(CLASSES)[labels]
    loss = -np.sum(onehot * logp) / BATCH
    dz = (np.exp(logp) - onehot) / BATCH
    da = (dz @ W2.T) * (1.0 - h**2)
    grads = (x.T @ da, da.sum(axis=0), h.T @ dz, dz.sum(axis=0))
    return loss, grads


def check(result, params0, ref):
    loss, grads, params = result
    ref_loss, ref_grads = ref
    assert np.asarray(loss).dtype == DTYPE, f"loss: dtype {np.asarray(loss).dtype}"
    assert_close(loss, ref_loss, RTOL, name="loss")
    for name, g, p, p0, g_ref in zip(NAMES, grads, params, params0, ref_grads):
        for what, value in (("grad", g), ("param", p)):
            assert np.asarray(value).dtype == DTYPE, f"{name} {what}: dtype {value.dtype}"
        assert_close(g, g_ref, RTOL, name=f"d loss / d {name}")
        # p0 and p are float32 of magnitude ~|p0|: their difference carries rounding of
        # ~|p0| * 2^-24, far under RTOL * LR * max|g| for these gradients.
        delta = p0.astype(np.float64) - np.asarray(p, dtype=np.float64)
        assert_close(delta, LR * g_ref, RTOL, name=f"update of {name}")


# --- the variants: make_<name>(x, labels, params) -> step() -> (loss, grads, params) ----------
# The step returns the loss before the update, the four gradients and the four parameters after
# it, as numpy values (views of the library's storage: no copies inside the timed call).


def make_pyautodiff(backend):
    def make(x0, labels, params0):
        if backend == "c" and not ad.c_available():
            pytest.skip("pyautodiff's C core is not built")
        x = ad.tensor(x0)
        rows = np.arange(BATCH)
        params = [ad.tensor(p.copy(), requires_grad=True) for p in params0]

        def step():
            with ad.use_backend(backend):
                for p in params:
                    p.grad = None
                z = logits(ad, x, *params)
                loss = nll(ad.log_softmax(z, axis=1), rows, labels)
                loss.backward()
                for p in params:
                    p.data -= LR * p.grad.data
            return (
                loss.numpy(),
                tuple(p.grad.data for p in params),
                tuple(p.data for p in params),
            )

        return step

    return make


def make_compiled(x0, labels, params0):
    """The pyautodiff step under ``ad.compile``, on the default backend; the update goes
    through ``optim.SGD`` (the same ``p - lr * g``: a raw ``p.data -= ...`` inside a compiled
    function is outside the recorded kernels and would run eagerly)."""
    x = ad.tensor(x0)
    rows = np.arange(BATCH)
    params = [ad.tensor(p.copy(), requires_grad=True) for p in params0]
    opt = ad.optim.SGD(params, lr=LR)

    @ad.compile
    def compiled():
        opt.zero_grad()
        loss = nll(ad.log_softmax(logits(ad, x, *params), axis=1), rows, labels)
        loss.backward()
        opt.step()
        return loss

    def step():
        loss = compiled()
        return loss.numpy(), tuple(p.grad.data for p in params), tuple(p.data for p in params)

    for _ in range(3):  # record, check, replay: then start the timed steps from params0
        step()
    for p, p0 in zip(params, params0):
        np.copyto(p.data, p0)
    return step


def make_torch(x0, labels0, params0):
    torch = peer("torch")
    x = torch.from_numpy(x0)
    rows, labels = torch.arange(BATCH), torch.from_numpy(labels0)
    params = [torch.tensor(p, requires_grad=True) for p in params0]

    def step():
        for p in params:
            p.grad = None
        z = logits(torch, x, *params)
        loss = nll(torch.log_softmax(z, dim=1), rows, labels)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.sub_(LR * p.grad)
        return (
            loss.detach().numpy(),
            tuple(p.grad.numpy() for p in params),
            tuple(p.detach().numpy() for p in params),
        )

    return step


def make_autograd(x, labels, params0):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    logsumexp = peer("autograd.scipy.special").logsumexp
    rows = np.arange(BATCH)

    def loss_fn(*params):
        z = logits(anp, x, *params)
        return nll(z - logsumexp(z, axis=1, keepdims=True), rows, labels)

    value_and_grad = autograd.value_and_grad(loss_fn, argnum=(0, 1, 2, 3))
    params = tuple(p.copy() for p in params0)

    def step():
        loss, grads = value_and_grad(*params)
        for p, g in zip(params, grads):
            p -= LR * g
        return loss, grads, params

    return step


def make_mygrad(x, labels, params0):
    mg = peer("mygrad")
    rows = np.arange(BATCH)
    params = [mg.tensor(p.copy()) for p in params0]

    def step():
        # Cleared explicitly like the other variants' (MyGrad would also clear it when the
        # tensor enters the next operation).
        for p in params:
            p.null_grad()
        z = logits(mg, x, *params)
        loss = nll(mg.nnet.logsoftmax(z, axis=1), rows, labels)
        loss.backward()
        for p in params:
            p.data -= LR * p.grad
        return loss.data, tuple(p.grad for p in params), tuple(p.data for p in params)

    return step


def make_floor(x, labels, params0):
    W1, b1, W2, b2 = params = tuple(p.copy() for p in params0)
    rows = np.arange(BATCH)
    inv_b = DTYPE(1.0 / BATCH)

    def step():
        # forward
        h = np.tanh(x @ W1 + b1)
        z = h @ W2 + b2
        z -= z.max(axis=1, keepdims=True)  # log_softmax is shift-invariant; exp cannot overflow
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = -(z[rows, labels] - np.log(s[:, 0])).mean()
        # backward: dz = (softmax - onehot) / B
        dz = e / s
        dz[rows, labels] -= 1
        dz *= inv_b
        gW2 = h.T @ dz
        gb2 = dz.sum(axis=0)
        da = dz @ W2.T
        da *= 1 - h * h
        gW1 = x.T @ da
        gb1 = da.sum(axis=0)
        grads = (gW1, gb1, gW2, gb2)
        for p, g in zip(params, grads):
            p -= LR * g
        return loss, grads, params

    return step


VARIANTS = variants(make_pyautodiff, make_compiled, make_torch, make_autograd, make_mygrad,
                    make_floor)


@pytest.mark.benchmark(group=GROUP)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_mlp(benchmark, variant):
    label(benchmark, variant)
    x, labels, params0, ref = inputs()
    step = VARIANTS[variant](x, labels, params0)
    check(step(), params0, ref)  # once, before timing: a fast wrong answer cannot win

    loss, grads, _ = benchmark(step)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads)

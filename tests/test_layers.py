"""pyautodiff.layers (re-exported by nn) and ad.manual_seed.

References are independent of pyautodiff: PyTorch's own modules for the same weights
and inputs (float64; those tests skip without torch), numpy closed forms of the
activations and their derivatives, central finite differences (``ad.gradcheck``), and
binomial bounds for Dropout's masks. Everything runs on both backends.
"""

import math
import re

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import nn

pytestmark = pytest.mark.usefixtures("backend")


def _torch():
    return pytest.importorskip("torch")


def assert_close(actual, expected, rtol=1e-12):
    """Equal to ``rtol`` relative to the larger of each element and the array's scale:
    both sides round a few operations per element in their own order, so an element
    that cancels to near zero (a normalized value at the mean) is only as exact as the
    magnitudes that cancelled."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ----- every layer against PyTorch: forward, input and parameter gradients -------------

def _affine(layer, rng):
    # Random weights rather than the ones/zeros they start at, so a swapped or ignored
    # weight or bias shows.
    for p in layer.parameters():
        p.data = rng.standard_normal(p.shape)
    return layer


# (id, our layer, torch's layer (from the torch module), input shape, set weights randomly)
LAYERS = [
    ("layernorm-1d", lambda: nn.LayerNorm(4), lambda t: t.nn.LayerNorm(4), (3, 4), True),
    ("layernorm-2d", lambda: nn.LayerNorm((3, 4)), lambda t: t.nn.LayerNorm((3, 4)),
     (2, 3, 4), True),
    ("layernorm-no-affine", lambda: nn.LayerNorm(5, elementwise_affine=False),
     lambda t: t.nn.LayerNorm(5, elementwise_affine=False), (2, 3, 5), False),
    ("layernorm-no-bias-eps", lambda: nn.LayerNorm(4, eps=0.1, bias=False),
     lambda t: t.nn.LayerNorm(4, eps=0.1, bias=False), (3, 4), True),
    ("batchnorm-2d", lambda: nn.BatchNorm1d(3), lambda t: t.nn.BatchNorm1d(3), (5, 3), True),
    ("batchnorm-3d", lambda: nn.BatchNorm1d(3), lambda t: t.nn.BatchNorm1d(3), (4, 3, 6), True),
    ("batchnorm-no-affine", lambda: nn.BatchNorm1d(2, affine=False, eps=1e-3),
     lambda t: t.nn.BatchNorm1d(2, affine=False, eps=1e-3), (3, 2, 2), False),
    ("batchnorm-no-bias", lambda: nn.BatchNorm1d(3, bias=False),
     lambda t: t.nn.BatchNorm1d(3, bias=False), (5, 3), True),
    ("batchnorm-untracked", lambda: nn.BatchNorm1d(3, track_running_stats=False),
     lambda t: t.nn.BatchNorm1d(3, track_running_stats=False), (6, 3), True),
    ("gelu", lambda: nn.GELU(), lambda t: t.nn.GELU(), (4, 5), False),
    ("gelu-tanh", lambda: nn.GELU("tanh"), lambda t: t.nn.GELU("tanh"), (4, 5), False),
    ("leaky-relu", lambda: nn.LeakyReLU(), lambda t: t.nn.LeakyReLU(), (4, 5), False),
    ("leaky-relu-0.2", lambda: nn.LeakyReLU(0.2), lambda t: t.nn.LeakyReLU(0.2), (4, 5), False),
    ("softplus", lambda: nn.Softplus(), lambda t: t.nn.Softplus(), (4, 5), False),
    ("softplus-beta-threshold", lambda: nn.Softplus(beta=2.0, threshold=1.5),
     lambda t: t.nn.Softplus(beta=2.0, threshold=1.5), (4, 5), False),
    ("identity", lambda: nn.Identity(), lambda t: t.nn.Identity(), (2, 3), False),
    ("flatten", lambda: nn.Flatten(), lambda t: t.nn.Flatten(), (2, 3, 4), False),
    ("flatten-0-1", lambda: nn.Flatten(0, 1), lambda t: t.nn.Flatten(0, 1), (2, 3, 4), False),
    ("flatten-middle", lambda: nn.Flatten(1, -2), lambda t: t.nn.Flatten(1, -2), (2, 3, 4, 2),
     False),
]


def _torch_twin(torch, ours, make_torch):
    """Torch's layer in float64 with our layer's parameter values."""
    try:
        theirs = make_torch(torch).double()
    except TypeError as e:  # an argument this PyTorch does not have yet (BatchNorm's bias)
        pytest.skip(f"this PyTorch cannot build the layer: {e}")
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.from_numpy(p.numpy()))
    return theirs


def _run_both(torch, ours, theirs, x, ours_in=None, theirs_in=None):
    """Forward and backward (a random upstream gradient) through both layers; returns
    ``(our output, torch's output, our x.grad, torch's x.grad)``."""
    xa = ad.tensor(x, requires_grad=True) if ours_in is None else ours_in
    xt = torch.tensor(x, requires_grad=True) if theirs_in is None else theirs_in
    out, out_t = ours(xa), theirs(xt)
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.from_numpy(g))
    grads = (None, None) if ours_in is not None else (xa.grad.numpy(), xt.grad.numpy())
    return (out.numpy(), out_t.detach().numpy()) + grads


@pytest.mark.parametrize("make, make_torch, shape, randomize",
                         [row[1:] for row in LAYERS], ids=[row[0] for row in LAYERS])
def test_layers_match_torch_forward_and_gradients(make, make_torch, shape, randomize, rng):
    torch = _torch()
    ours = make()
    if randomize:
        _affine(ours, rng)
    theirs = _torch_twin(torch, ours, make_torch)
    # Inputs on both sides of Softplus's threshold, LeakyReLU's kink (exact zeros too).
    x = rng.standard_normal(shape) * 2
    x.flat[0] = 0.0
    out, out_t, gx, gx_t = _run_both(torch, ours, theirs, x)
    assert_close(out, out_t)
    assert_close(gx, gx_t)
    torch_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(torch_params)
    for name, p in ours.named_parameters():
        assert_close(p.grad.numpy(), torch_params[name].grad.numpy())


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_layers_embedding_matches_torch(padding_idx):
    torch = _torch()
    ours = nn.Embedding(6, 3, padding_idx=padding_idx, seed=0)
    theirs = _torch_twin(torch, ours, lambda t: t.nn.Embedding(6, 3, padding_idx=padding_idx))
    # Repeated indices (their gradients add up), the padding row among them.
    idx = np.array([[1, 2, 5], [5, 5, 0], [2, 3, 1]])
    out, out_t, _, _ = _run_both(torch, ours, theirs, None, idx, torch.from_numpy(idx))
    assert_close(out, out_t)
    assert_close(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
    if padding_idx is not None:
        assert ours.padding_idx == theirs.padding_idx
        assert not ours.weight.numpy()[padding_idx].any()
        assert not ours.weight.grad.numpy()[padding_idx].any()


def test_layers_embedding_gradient_scatters_and_adds(rng):
    # Independent of torch: the gradient of row r is the sum of the upstream gradients
    # at every place index r appears (numpy's unbuffered np.add.at).
    emb = nn.Embedding(7, 4, padding_idx=3, seed=1)
    idx = rng.integers(0, 7, (5, 6))
    out = emb(idx)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[idx])
    g = rng.standard_normal(out.shape)
    out.backward(g)
    expected = np.zeros((7, 4))
    np.add.at(expected, idx, g)
    expected[3] = 0.0
    assert_close(emb.weight.grad.numpy(), expected)
    # A Tensor of whole numbers and a single int index work as PyTorch's LongTensors.
    np.testing.assert_array_equal(emb(ad.tensor([[2.0, 6.0]])).numpy(),
                                  emb.weight.numpy()[[[2, 6]]])
    np.testing.assert_array_equal(emb(4).numpy(), emb.weight.numpy()[4])


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)], ids=["NC", "NCL"])
def test_layers_batchnorm_running_stats_and_eval_match_torch(momentum, shape, rng):
    torch = _torch()
    ours = _affine(nn.BatchNorm1d(3, momentum=momentum), rng)
    theirs = _torch_twin(torch, ours, lambda t: t.nn.BatchNorm1d(3, momentum=momentum))
    for _ in range(4):
        x = rng.standard_normal(shape) * 3 + 1
        out, out_t, gx, gx_t = _run_both(torch, ours, theirs, x)
        assert_close(out, out_t)
        assert_close(gx, gx_t)
    assert_close(ours.running_mean.numpy(), theirs.running_mean.numpy())
    assert_close(ours.running_var.numpy(), theirs.running_var.numpy())
    assert float(ours.num_batches_tracked.numpy()) == int(theirs.num_batches_tracked) == 4
    # Evaluation: the running statistics normalize, and they stay put.
    ours.training = False  # what eval() sets
    theirs.eval()
    before = ours.running_mean.numpy().copy()
    x = rng.standard_normal(shape)
    out, out_t, gx, gx_t = _run_both(torch, ours, theirs, x)
    assert_close(out, out_t)
    assert_close(gx, gx_t)
    for name, p in ours.named_parameters():
        assert_close(p.grad.numpy(), getattr(theirs, name).grad.numpy())
    np.testing.assert_array_equal(ours.running_mean.numpy(), before)
    assert float(ours.num_batches_tracked.numpy()) == 4


def test_layers_batchnorm_closed_form_without_torch(rng):
    # Training: batch statistics (biased variance) normalize; the running variance moves
    # towards the unbiased one. Evaluation: the running statistics normalize.
    bn = nn.BatchNorm1d(2, momentum=0.25, eps=1e-3)
    x = rng.standard_normal((5, 2, 3))
    out = bn(x).numpy()
    mu, var = x.mean(axis=(0, 2)), x.var(axis=(0, 2))
    assert_close(out, (x - mu[:, None]) / np.sqrt(var[:, None] + 1e-3))
    assert_close(bn.running_mean.numpy(), 0.25 * mu)
    assert_close(bn.running_var.numpy(), 0.75 + 0.25 * x.var(axis=(0, 2), ddof=1))
    bn.training = False
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    assert_close(bn(x).numpy(), (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-3))
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert bn._buffer_names == ["running_mean", "running_var", "num_batches_tracked"]
    assert not any(getattr(bn, b).requires_grad for b in bn._buffer_names)


def test_layers_batchnorm_buffers_update_in_place():
    bn = nn.BatchNorm1d(2)
    held = bn.running_mean, bn.running_var, bn.num_batches_tracked
    bn(ad.tensor([[1.0, 2.0], [3.0, 5.0]], requires_grad=True))
    assert (bn.running_mean, bn.running_var, bn.num_batches_tracked) == held
    np.testing.assert_allclose(held[0].numpy(), [0.2, 0.35])


def test_layers_batchnorm_counter_is_int64_as_torch(tmp_path, rng):
    bn = nn.BatchNorm1d(3, momentum=None)  # (the counter sets the average's weight)
    xs = [rng.standard_normal((4, 3)) for _ in range(3)]
    for x in xs:
        bn(x)
    counter = bn.num_batches_tracked
    assert counter.dtype == np.int64 and counter.shape == () and counter.item() == 3
    assert_close(bn.running_mean.numpy(), np.mean([x.mean(axis=0) for x in xs], axis=0))
    sd = bn.state_dict()
    assert sd["num_batches_tracked"].dtype == np.int64 and sd["num_batches_tracked"] == 3
    ad.save(sd, tmp_path / "bn.npz")
    loaded = ad.load(tmp_path / "bn.npz")
    assert loaded["num_batches_tracked"].dtype == np.int64
    fresh = nn.BatchNorm1d(3)
    fresh.load_state_dict(loaded)
    assert fresh.num_batches_tracked.dtype == np.int64 and fresh.num_batches_tracked.item() == 3
    fresh.load_state_dict({**sd, "num_batches_tracked": np.float64(7.0)})  # (an old file)
    assert fresh.num_batches_tracked.dtype == np.int64 and fresh.num_batches_tracked.item() == 7


def test_layers_batchnorm_state_dict_to_and_from_torch(rng):
    torch = _torch()
    theirs = torch.nn.BatchNorm1d(3).double()
    for _ in range(5):
        theirs(torch.from_numpy(rng.standard_normal((4, 3))))
    ours = nn.BatchNorm1d(3)
    ours.load_state_dict(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        assert ours.state_dict()[k].dtype == v.numpy().dtype, k
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy(), err_msg=k)
    assert ours.num_batches_tracked.item() == 5
    ours(rng.standard_normal((4, 3)))
    again = torch.nn.BatchNorm1d(3).double()
    again.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert again.num_batches_tracked.dtype == torch.int64
    assert int(again.num_batches_tracked) == 6


def test_layers_reprs_match_torch():
    torch = _torch()
    pairs = [(nn.LayerNorm((3, 4), eps=1e-6), torch.nn.LayerNorm((3, 4), eps=1e-6)),
             (nn.LayerNorm(2, bias=False), torch.nn.LayerNorm(2, bias=False)),
             (nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)),
             (nn.BatchNorm1d(3, affine=False), torch.nn.BatchNorm1d(3, affine=False)),
             (nn.Embedding(5, 2, padding_idx=-1), torch.nn.Embedding(5, 2, padding_idx=-1)),
             (nn.Embedding(5, 2), torch.nn.Embedding(5, 2)),
             (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.LeakyReLU(), torch.nn.LeakyReLU()),
             (nn.Softplus(), torch.nn.Softplus()), (nn.Identity(), torch.nn.Identity()),
             (nn.Flatten(0, 2), torch.nn.Flatten(0, 2))]
    for ours, theirs in pairs:
        text = repr(ours)
        if "bias=" not in repr(theirs):  # older PyTorch did not show it
            text = re.sub(r", bias=(True|False)", "", text)
        assert text == repr(theirs)


# ----- activations against numpy closed forms, small and above the C thresholds --------

_erf = np.vectorize(math.erf, otypes=[float])


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _gelu_tanh_grad(x):
    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)
    du = np.sqrt(2 / np.pi) * (1 + 3 * 0.044715 * x ** 2)
    return 0.5 * (1 + np.tanh(u)) + 0.5 * x * (1 - np.tanh(u) ** 2) * du


def _phi(x):
    return np.exp(-x * x / 2) / np.sqrt(2 * np.pi)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


# (id, layer, f(x), f'(x)) in numpy
ACTIVATIONS = [
    ("gelu", nn.GELU(), lambda x: x * 0.5 * (1 + _erf(x / np.sqrt(2))),
     lambda x: 0.5 * (1 + _erf(x / np.sqrt(2))) + x * _phi(x)),
    ("gelu-tanh", nn.GELU("tanh"), _gelu_tanh, _gelu_tanh_grad),
    ("leaky-relu", nn.LeakyReLU(0.05), lambda x: np.where(x > 0, x, 0.05 * x),
     lambda x: np.where(x > 0, 1.0, 0.05)),
    ("softplus", nn.Softplus(beta=1.5, threshold=3.0),
     lambda x: np.where(1.5 * x > 3, x, np.log1p(np.exp(1.5 * x)) / 1.5),
     lambda x: np.where(1.5 * x > 3, 1.0, _sigmoid(1.5 * x))),
]


@pytest.mark.parametrize("layer, f, df", [a[1:] for a in ACTIVATIONS],
                         ids=[a[0] for a in ACTIVATIONS])
def test_layers_activations_closed_form(layer, f, df, size, rng):
    x = rng.uniform(-4, 4, size)
    x[0] = 0.0  # the kink of LeakyReLU: the gradient there is the slope, as PyTorch's
    t = ad.tensor(x, requires_grad=True)
    out = layer(t)
    assert_close(out.numpy(), f(x))
    out.backward(np.ones(size))
    assert_close(t.grad.numpy(), df(x))


@pytest.mark.parametrize("layer", [nn.GELU(), nn.GELU("tanh"), nn.LeakyReLU(0.3),
                                   nn.Softplus(beta=0.5, threshold=1.0)],
                         ids=["gelu", "gelu-tanh", "leaky-relu", "softplus"])
def test_layers_activations_float32(layer, rng):
    x = rng.uniform(-3, 3, (4, 5))
    out = layer(ad.tensor(x, dtype="float32"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), layer(x).numpy(), rtol=2e-6, atol=2e-7)


# ----- finite differences: first and second derivatives ---------------------------------

def _with_parameters(layer):
    """``f(x, weight, bias)``: the layer with the given parameters, for gradcheck."""
    def f(x, weight, bias):
        layer.weight, layer.bias = weight, bias
        return layer(x)
    return f


def test_layers_gradcheck_layernorm(rng):
    f = _with_parameters(nn.LayerNorm((2, 3), eps=1e-3))
    assert ad.gradcheck(f, (rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3)),
                            rng.standard_normal((2, 3))))
    assert ad.gradgradcheck(f, (rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3)),
                                rng.standard_normal((2, 3))))


@pytest.mark.parametrize("training", [True, False])
def test_layers_gradcheck_batchnorm(training, rng):
    bn = nn.BatchNorm1d(3, eps=1e-3)
    bn.running_mean.data = rng.standard_normal(3)
    bn.running_var.data = rng.uniform(0.5, 2.0, 3)
    bn.training = training
    x, w, b = rng.standard_normal((4, 3, 2)), rng.standard_normal(3), rng.standard_normal(3)
    assert ad.gradcheck(_with_parameters(bn), (x, w, b))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_layers_gradcheck_gelu_first_and_second(approximate, rng):
    gelu = nn.GELU(approximate)
    x = rng.uniform(-3, 3, (3, 4))
    assert ad.gradcheck(gelu, (x,))
    assert ad.gradgradcheck(gelu, (x,))


def test_layers_erf_values(rng):
    # libm's erf to the last bit, tails, signed zero and non-finite values; the
    # derivative 2/sqrt(pi) exp(-x^2) in closed form.
    x = np.concatenate([rng.uniform(-6, 6, 50), [0.0, -0.0, 1e-300, 27.0, -40.0, np.inf,
                                                 -np.inf, np.nan]])
    got = ad.erf(x).numpy()
    np.testing.assert_array_equal(got, [math.erf(v) for v in x])
    assert np.signbit(got[51]) and not np.signbit(got[50])
    t = ad.tensor(x[:50], requires_grad=True)
    ad.erf(t).sum().backward()
    assert_close(t.grad.numpy(), 2 / np.sqrt(np.pi) * np.exp(-x[:50] ** 2))
    assert ad.erf(ad.tensor([0.5], dtype="float32")).dtype == np.float32


# ----- Dropout -----------------------------------------------------------------------

def test_layers_dropout_mask_statistics_and_scale(rng):
    p, n = 0.3, 200_000
    x = rng.uniform(0.5, 1.5, n)  # no zeros: a zero output is a dropped element
    t = ad.tensor(x, requires_grad=True)
    ad.manual_seed(11)
    out = nn.Dropout(p)(t)
    kept = out.numpy() != 0
    # The number dropped is Binomial(n, p): within 6 standard deviations of n p.
    assert abs((n - kept.sum()) - n * p) <= 6 * math.sqrt(n * p * (1 - p))
    np.testing.assert_array_equal(out.numpy(), np.where(kept, x * (1 / (1 - p)), 0.0))
    out.backward(np.ones(n))
    np.testing.assert_array_equal(t.grad.numpy(), np.where(kept, 1 / (1 - p), 0.0))
    # Independent masks: the two halves of the tensor drop about as often as each other.
    half = n // 2
    assert abs(kept[:half].mean() - kept[half:].mean()) <= 6 * math.sqrt(2 * p * (1 - p) / half)


def test_layers_dropout_train_eval_and_edges(rng):
    x = ad.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    drop = nn.Dropout(0.5)
    drop.training = False  # what eval() sets
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x  # p=0 is the identity in training too, as PyTorch's
    zeros = nn.Dropout(1.0)(x)
    np.testing.assert_array_equal(zeros.numpy(), np.zeros((4, 5)))
    zeros.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((4, 5)))
    x32 = x.numpy().astype(np.float32)
    y = nn.Dropout(0.25)(x32).numpy()
    assert y.dtype == np.float32
    assert np.all((y == 0) | (y == x32 * np.float32(1 / 0.75)))


def test_layers_dropout_reproducible_under_manual_seed_and_generator():
    x = ad.ones((50, 40))
    drop = nn.Dropout(0.5)
    ad.manual_seed(123)
    first, second = drop(x).numpy(), drop(x).numpy()
    assert not np.array_equal(first, second)  # a new mask each call
    ad.manual_seed(123)
    np.testing.assert_array_equal(drop(x).numpy(), first)
    np.testing.assert_array_equal(drop(x).numpy(), second)
    # A generator of its own: the same seed gives the same masks, whatever the default.
    a, b = nn.Dropout(0.5, generator=7), nn.Dropout(0.5, generator=np.random.default_rng(7))
    ad.manual_seed(0)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_layers_manual_seed_seeds_initialisation():
    g = ad.rng.default_generator()
    assert ad.manual_seed(5) is g  # reseeded in place: references stay valid
    w = nn.Embedding(4, 3).weight.numpy()
    np.testing.assert_array_equal(w, np.random.default_rng(5).standard_normal((4, 3)))
    ad.manual_seed(5)
    np.testing.assert_array_equal(nn.Embedding(4, 3).weight.numpy(), w)
    np.testing.assert_array_equal(nn.Embedding(4, 3, seed=5).weight.numpy(), w)


# ----- dtypes and errors -------------------------------------------------------------

def test_layers_float32_parameters(rng):
    x = rng.standard_normal((4, 3))
    for make in (lambda dt: nn.LayerNorm(3, dtype=dt), lambda dt: nn.BatchNorm1d(3, dtype=dt)):
        single, double = make("float32"), make("float64")
        out = single(x.astype(np.float32))
        assert out.dtype == np.float32
        assert all(p.dtype == np.float32 for p in single.parameters())
        np.testing.assert_allclose(out.numpy(), double(x).numpy(), rtol=1e-5, atol=1e-6)
        with pytest.raises(nn.DtypeMismatchError, match="input of dtype float32 and "
                                                         "parameters of dtype float64"):
            double(ad.tensor(x, dtype="float32"))
    # Without parameters, LayerNorm takes either dtype.
    bare = nn.LayerNorm(3, elementwise_affine=False)
    assert bare(ad.tensor(x, dtype="float32")).dtype == np.float32
    emb = nn.Embedding(3, 2, dtype="float32")
    assert emb.weight.dtype == emb([0, 2]).dtype == np.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda: nn.Dropout(1.5), ValueError,
     "Dropout: dropout probability has to be between 0 and 1, but got 1.5"),
    (lambda: nn.Dropout("0.5"), TypeError, "Dropout: p must be a real number"),
    (lambda: nn.Dropout(0.5, generator="x"), TypeError, "Dropout: seed must be"),
    (lambda: nn.LayerNorm(4)(ad.ones((2, 3))), ValueError,
     r"LayerNorm: input of shape \(2, 3\) does not end in normalized_shape=\(4,\)"),
    (lambda: nn.LayerNorm((2, 3))(ad.ones(3)), ValueError, "LayerNorm: input of shape"),
    (lambda: nn.LayerNorm(0), ValueError, "LayerNorm: normalized_shape must be at least 1"),
    (lambda: nn.LayerNorm(()), ValueError, "LayerNorm: normalized_shape is empty"),
    (lambda: nn.BatchNorm1d(3)(ad.ones((4, 2))), ValueError,
     r"BatchNorm1d: input of shape \(4, 2\) does not fit num_features=3"),
    (lambda: nn.BatchNorm1d(3)(ad.ones((2, 3, 4, 5))), ValueError, "expected shape"),
    (lambda: nn.BatchNorm1d(3)(ad.ones((1, 3))), ValueError,
     "more than 1 value per channel when training"),
    (lambda: nn.BatchNorm1d(3, momentum="fast"), TypeError, "momentum must be a real"),
    (lambda: nn.Embedding(4, 2)([0, 4]), IndexError,
     r"Embedding: index 4 is out of range for num_embeddings=4"),
    (lambda: nn.Embedding(4, 2)([-1]), IndexError, "index -1 is out of range"),
    (lambda: nn.Embedding(4, 2)([0.5]), TypeError, "Embedding: indices must be integers"),
    (lambda: nn.Embedding(4, 2)(ad.tensor([1.5])), TypeError, "non-integer values"),
    (lambda: nn.Embedding(4, 2)([[0], [1, 2]]), TypeError, "indices must be integers"),
    (lambda: nn.Embedding(4, 2, padding_idx=4), ValueError, "padding_idx=4 must be within"),
    (lambda: nn.GELU("erf"), ValueError, "GELU: approximate must be 'none' or 'tanh'"),
    (lambda: nn.Flatten(2, 1)(ad.ones((2, 3, 4))), ValueError,
     "Flatten: start_dim=2 comes after end_dim=1"),
    (lambda: nn.Flatten()(ad.ones(3)), ValueError, "Flatten: axis 1 is out of bounds"),
    (lambda: ad.manual_seed(-1), ValueError, "manual_seed: seed must be non-negative"),
    (lambda: ad.manual_seed(1.5), TypeError, "manual_seed: seed must be an int"),
], ids=lambda v: None)
def test_layers_bad_input_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_layers_flatten_zero_dim_and_ints():
    # As torch.flatten: a 0-d tensor flattens to shape (1,).
    assert nn.Flatten(0)(ad.tensor(3.0)).shape == (1,)
    assert nn.Flatten()(np.ones((2, 3, 4), dtype=np.int64)).dtype == np.float64

"""pyautodiff.nn: parameter discovery, layers, losses, a small training run, errors.

References are independent of pyautodiff: closed forms in numpy, central finite
differences of numpy code, and PyTorch's own modules and functional losses
when torch is importable (those tests skip without it).
"""

import numpy as np
import pytest
from gradcheck_helper import numeric_gradients

import pyautodiff as ad
from pyautodiff import nn

# float64 results differ from a numpy closed form only by the order of a few
# roundings per element (~1e-16 relative); float32 by a few units of 6e-8.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-6}
ATOL = {np.dtype(np.float64): 1e-15, np.dtype(np.float32): 1e-7}


def _torch():
    return pytest.importorskip("torch")


def _np_log_softmax(z, axis):
    m = np.max(z, axis=axis, keepdims=True)
    s = z - m
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _np_sigmoid(z):
    return np.where(z >= 0, 1 / (1 + np.exp(-np.abs(z))),
                    np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z))))


def _np_bce(z, t):
    return np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))


# ----- Module: parameter discovery, zero_grad, repr --------------------------------

class _Leafy(nn.Module):
    """Parameters in every place discovery must look, in a known order."""

    def __init__(self, shared):
        self.a = ad.ones(2, requires_grad=True)
        self.frozen = ad.ones(2)  # no requires_grad: not a parameter
        self.size = 3  # not a tensor
        self.group = [ad.zeros(1, requires_grad=True), (ad.zeros(3, requires_grad=True),)]
        self.table = {"k": ad.full((2, 2), 5.0, requires_grad=True), "shared": shared}
        self.inner = nn.Linear(2, 2, seed=0)
        self.again = shared  # the same tensor a second time
        self.blocks = [nn.Linear(2, 1, seed=1), nn.Tanh()]
        self.z = shared


def test_module_parameters_order_and_sharing():
    shared = ad.ones(4, requires_grad=True)
    m = _Leafy(shared)
    # PyTorch's order: the module's own tensors first (shared is "again"), then the rest.
    expected = [m.a, shared, m.group[0], m.group[1][0], m.table["k"], m.inner.weight,
                m.inner.bias, m.blocks[0].weight, m.blocks[0].bias]
    params = list(m.parameters())
    assert len(params) == len(expected)
    assert all(p is e for p, e in zip(params, expected, strict=True))
    names = [name for name, _ in m.named_parameters()]
    assert names == ["a", "again", "group.0", "group.1.0", "table.k", "inner.weight",
                     "inner.bias", "blocks.0.weight", "blocks.0.bias"]
    # A second call walks again and gives the same answer (a fresh generator).
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]


def test_module_shared_submodule_counted_once():
    layer = nn.Linear(3, 3, seed=0)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    params = list(model.parameters())
    assert len(params) == 2 and params[0] is layer.weight and params[1] is layer.bias
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_module_parameters_skip_non_leaf_tensors():
    class Cache(nn.Module):
        def __init__(self):
            self.w = ad.ones(2, requires_grad=True)
            self.last = self.w * 2  # an intermediate result, requires_grad but no leaf

    m = Cache()
    assert m.last.requires_grad and not m.last.is_leaf
    assert [p is m.w for p in m.parameters()] == [True]


def test_module_parameters_survive_reference_cycles():
    class Node(nn.Module):
        def __init__(self):
            self.w = ad.ones(1, requires_grad=True)
            self.me = self
            self.box = []
            self.box.append(self.box)

    m = Node()
    assert [n for n, _ in m.named_parameters()] == ["w"]
    assert repr(m) == "Node()"
    child = nn.Linear(1, 1, seed=0)
    m.child = child
    child.parent = m  # a child that points back at its parent
    m.box.append(child)
    # box (assigned before child) holds the child first; the child is counted once.
    assert [n for n, _ in m.named_parameters()] == ["w", "box.1.weight", "box.1.bias"]
    assert [n for n, _ in m.named_children()] == ["box.1"]
    assert repr(m) == ("Node(\n"
                       "  (box.1): Linear(\n"
                       "    in_features=1, out_features=1, bias=True\n"
                       "    (parent): ...\n"
                       "  )\n"
                       ")")


def test_module_without_forward_raises():
    class Empty(nn.Module):
        pass

    with pytest.raises(NotImplementedError, match="Empty"):
        Empty()(ad.ones(1))


def test_module_call_passes_arguments_to_forward():
    class Add(nn.Module):
        def forward(self, x, y, scale=1.0):
            return (x + y) * scale

    out = Add()(ad.tensor([1.0]), ad.tensor([2.0]), scale=3.0)
    assert out.item() == 9.0


def test_module_works_with_and_without_super_init():
    class WithInit(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = ad.ones(1, requires_grad=True)

    assert len(list(WithInit().parameters())) == 1


def test_zero_grad_clears_and_next_backward_starts_fresh(backend, rng):
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1))
    x = rng.standard_normal((5, 3))
    model(x).sum().backward()
    first = [p.grad.numpy().copy() for p in model.parameters()]
    assert all(np.any(g != 0) for g in first)
    model(x).sum().backward()  # accumulates: twice the first gradient
    for p, g in zip(model.parameters(), first, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g, rtol=1e-14)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model(x).sum().backward()
    for p, g in zip(model.parameters(), first, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-14)


SEQ_REPR = """Sequential(
  (0): Linear(in_features=2, out_features=8, bias=True)
  (1): Tanh()
  (2): Linear(in_features=8, out_features=1, bias=False)
  (3): Sigmoid()
  (4): ReLU()
)"""


def test_repr_sequential_text():
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1, bias=False),
                          nn.Sigmoid(), nn.ReLU())
    assert repr(model) == SEQ_REPR
    assert repr(nn.Linear(3, 5)) == "Linear(in_features=3, out_features=5, bias=True)"
    assert repr(nn.Tanh()) == "Tanh()"


class _Net(nn.Module):
    def __init__(self, lib, width):
        self.body = lib.Sequential(lib.Linear(2, width), lib.Tanh())
        self.head = lib.Linear(width, 3)


def test_repr_nested_matches_torch():
    torch = _torch()

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh())
            self.head = torch.nn.Linear(4, 3)

    TorchNet.__name__ = "_Net"
    ours = _Net(nn, 4)
    assert repr(ours) == repr(TorchNet())
    assert repr(ours) == (
        "_Net(\n"
        "  (body): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "    (1): Tanh()\n"
        "  )\n"
        "  (head): Linear(in_features=4, out_features=3, bias=True)\n"
        ")"
    )
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 1, bias=False), torch.nn.Sigmoid(),
                                 torch.nn.ReLU())
    assert repr(theirs) == SEQ_REPR


def test_named_parameters_match_torch_names():
    torch = _torch()
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    assert ([(n, p.shape) for n, p in ours.named_parameters()]
            == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()])


# ----- Sequential -------------------------------------------------------------------

def test_sequential_indexing_len_iter():
    a, b, c = nn.Linear(2, 3, seed=0), nn.Tanh(), nn.Linear(3, 1, seed=1)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3
    assert model[0] is a and model[-1] is c
    assert list(model) == [a, b, c]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    x = np.linspace(-1, 1, 8).reshape(4, 2)
    np.testing.assert_array_equal(model(x).numpy(), c(b(a(x))).numpy())
    assert len(nn.Sequential()) == 0
    np.testing.assert_array_equal(nn.Sequential()(ad.tensor([1.0])).numpy(), [1.0])


# ----- Linear -----------------------------------------------------------------------

def test_linear_init_matches_torch_default_rule():
    # Same rule as torch.nn.Linear.reset_parameters: U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    # drawn from numpy's Generator with the seed, weight first, then bias.
    layer = nn.Linear(5, 3, seed=42)
    rng = np.random.default_rng(42)
    k = 1 / np.sqrt(5)
    np.testing.assert_array_equal(layer.weight.numpy(), rng.uniform(-k, k, (3, 5)))
    np.testing.assert_array_equal(layer.bias.numpy(), rng.uniform(-k, k, 3))
    assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64
    assert layer.weight.requires_grad and layer.bias.requires_grad
    assert layer.weight.is_leaf and layer.bias.is_leaf
    assert layer.in_features == 5 and layer.out_features == 3


def test_linear_init_statistics_and_bounds():
    n_in, n_out = 100, 400
    layer = nn.Linear(n_in, n_out, seed=3)
    k = 1 / np.sqrt(n_in)
    w = layer.weight.numpy()
    assert w.shape == (n_out, n_in) and layer.bias.shape == (n_out,)
    assert np.all(np.abs(w) <= k) and np.all(np.abs(layer.bias.numpy()) <= k)
    # U(-k, k): mean 0, variance k^2/3. With n = 40000 draws the standard error of
    # the mean is k/sqrt(3n) and the sample variance's relative error is
    # sqrt(0.8/n) = 0.45%: allow five standard errors.
    n = w.size
    assert abs(w.mean()) < 5 * k / np.sqrt(3 * n)
    assert abs(w.var() / (k * k / 3) - 1) < 5 * np.sqrt(0.8 / n)
    assert w.max() > 0.99 * k and w.min() < -0.99 * k
    # Every tenth of the range holds about a tenth of the draws (binomial sd 0.15%).
    counts, _ = np.histogram(w, bins=10, range=(-k, k))
    np.testing.assert_allclose(counts / n, 0.1, atol=5 * np.sqrt(0.09 / n))


def test_linear_seed_determinism():
    a, b = nn.Linear(4, 6, seed=7), nn.Linear(4, 6, seed=7)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    c = nn.Linear(4, 6, seed=8)
    assert not np.array_equal(a.weight.numpy(), c.weight.numpy())
    d, e = nn.Linear(4, 6), nn.Linear(4, 6)  # the default generator moves on
    assert not np.array_equal(d.weight.numpy(), e.weight.numpy())
    # Parameters are the layer's own arrays, not shared between layers.
    a.weight.data[0, 0] = 100.0
    assert b.weight.numpy()[0, 0] != 100.0


def test_linear_float32_and_no_bias():
    layer = nn.Linear(4, 2, seed=1, dtype=np.float32)
    ref = nn.Linear(4, 2, seed=1)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.numpy(), ref.weight.numpy().astype(np.float32))
    x = np.ones((3, 4))  # a float64 array is taken in the layer's dtype
    assert layer(x).dtype == np.float32
    plain = nn.Linear(4, 2, bias=False, seed=1)
    assert plain.bias is None
    assert [n for n, _ in plain.named_parameters()] == ["weight"]
    np.testing.assert_allclose(plain(x).numpy(), x @ plain.weight.numpy().T, rtol=1e-15)


@pytest.mark.parametrize("shape", [(5, 3), (3,), (2, 4, 3)], ids=["2d", "1d", "3d"])
def test_linear_forward_matches_numpy(backend, dtype, rng, shape):
    layer = nn.Linear(3, 4, seed=2, dtype=dtype)
    x = rng.standard_normal(shape).astype(dtype)
    out = layer(ad.tensor(x))
    expected = x.astype(np.float64) @ layer.weight.numpy().T.astype(np.float64) + \
        layer.bias.numpy().astype(np.float64)
    assert out.shape == shape[:-1] + (4,)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=RTOL[dtype], atol=10 * ATOL[dtype])


def test_linear_with_loss_gradients_match_finite_differences(backend, rng):
    x = rng.standard_normal((6, 3))
    target = rng.standard_normal((6, 2))
    layer = nn.Linear(3, 2, seed=5)
    w0, b0 = layer.weight.numpy().copy(), layer.bias.numpy().copy()

    def ref(w, b, xx):  # the same loss in numpy: mean((tanh(x W^T + b) - target)^2)
        return np.mean((np.tanh(xx @ w.T + b) - target) ** 2)

    xt = ad.tensor(x, requires_grad=True)
    nn.mse_loss(ad.tanh(layer(xt)), target).backward()
    num_w, num_b, num_x = numeric_gradients(ref, [w0, b0, x], np.ones(()))
    # Central differences with eps=1e-6 on an O(1) loss: error ~1e-10 (see gradcheck_helper).
    for got, want in ((layer.weight.grad, num_w), (layer.bias.grad, num_b), (xt.grad, num_x)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-8)


def test_mlp_gradients_match_torch(backend, rng):
    torch = _torch()
    model = nn.Sequential(nn.Linear(3, 5, seed=0), nn.Tanh(), nn.Linear(5, 4, seed=1), nn.ReLU(),
                          nn.Linear(4, 3, seed=2), nn.Sigmoid(), nn.Linear(3, 3, seed=3))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4),
                                 torch.nn.ReLU(), torch.nn.Linear(4, 3), torch.nn.Sigmoid(),
                                 torch.nn.Linear(3, 3)).double()
    with torch.no_grad():
        for tp, p in zip(tmodel.parameters(), model.parameters(), strict=True):
            tp.copy_(torch.from_numpy(p.numpy()))
    x = rng.standard_normal((7, 3))
    labels = rng.integers(0, 3, 7)
    loss = nn.cross_entropy(model(x), labels)
    loss.backward()
    tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)),
                                              torch.from_numpy(labels))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-13)
    for (name, p), tp in zip(model.named_parameters(), tmodel.parameters(), strict=True):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-15,
                                   err_msg=name)


# ----- activations ------------------------------------------------------------------

@pytest.mark.parametrize("module, ref", [
    (nn.Tanh, np.tanh),
    (nn.ReLU, lambda x: np.maximum(x, 0)),
    (nn.Sigmoid, _np_sigmoid),
], ids=["tanh", "relu", "sigmoid"])
def test_activation_modules_match_numpy(backend, rng, module, ref):
    x = rng.standard_normal((4, 5)) * 3
    out = module()(ad.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-14, atol=1e-16)
    assert not list(module().parameters())


# ----- mse_loss ---------------------------------------------------------------------

def test_mse_loss_value_and_gradient_closed_form(backend, dtype, rng):
    p = rng.standard_normal((4, 3)).astype(dtype)
    t = rng.standard_normal((4, 3)).astype(dtype)
    pt = ad.tensor(p, requires_grad=True)
    tt = ad.tensor(t, requires_grad=True)
    loss = nn.mse_loss(pt, tt)
    loss.backward()
    d = p.astype(np.float64) - t.astype(np.float64)
    assert loss.dtype == dtype and pt.grad.dtype == dtype
    np.testing.assert_allclose(loss.item(), np.mean(d * d), rtol=RTOL[dtype])
    np.testing.assert_allclose(pt.grad.numpy(), 2 * d / d.size, rtol=RTOL[dtype],
                               atol=ATOL[dtype])
    np.testing.assert_allclose(tt.grad.numpy(), -2 * d / d.size, rtol=RTOL[dtype],
                               atol=ATOL[dtype])


def test_mse_loss_target_as_array_or_list_takes_pred_dtype():
    p = ad.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    loss = nn.mse_loss(p, np.array([0.0, 0.0]))
    assert loss.dtype == np.float32
    assert loss.item() == 2.5
    assert nn.mse_loss(ad.tensor([1.0, 2.0]), [3, 5]).item() == 6.5


def test_mse_loss_matches_torch(backend, rng):
    torch = _torch()
    p, t = rng.standard_normal((3, 2, 5)), rng.standard_normal((3, 2, 5))
    pt = ad.tensor(p, requires_grad=True)
    loss = nn.mse_loss(pt, t)
    loss.backward()
    tp = torch.tensor(p, requires_grad=True)
    tl = torch.nn.functional.mse_loss(tp, torch.tensor(t))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-13)
    np.testing.assert_allclose(pt.grad.numpy(), tp.grad.numpy(), rtol=1e-13, atol=1e-16)



@pytest.mark.parametrize("loss_name", ["mse_loss", "binary_cross_entropy_with_logits"])
def test_loss_of_mixed_float_dtypes_promotes_as_torch(backend, rng, loss_name):
    # A float32 prediction against a float64 target Tensor gives a float64 loss, computed
    # in float64 throughout, and the prediction's gradient stays float32: as PyTorch's
    # dtypes (whose binary_cross_entropy_with_logits keeps part of the work in float32,
    # so its value agrees only to float32 accuracy).
    p = rng.standard_normal(6).astype(np.float32)
    t = rng.uniform(0, 1, 6)
    pt = ad.tensor(p, requires_grad=True)
    loss = getattr(nn, loss_name)(pt, ad.tensor(t))
    loss.backward()
    z = p.astype(np.float64)
    if loss_name == "mse_loss":
        value, grad = np.mean((z - t) ** 2), 2 * (z - t) / 6
    else:
        value, grad = _np_bce(z, t), (_np_sigmoid(z) - t) / 6
    assert loss.dtype == np.float64 and pt.grad.dtype == np.float32
    np.testing.assert_allclose(loss.item(), value, rtol=1e-12)
    np.testing.assert_allclose(pt.grad.numpy(), grad, rtol=1e-6, atol=1e-8)
    torch = _torch()
    tp = torch.tensor(p, requires_grad=True)
    tl = getattr(torch.nn.functional, loss_name)(tp, torch.tensor(t))
    tl.backward()
    assert tl.dtype == torch.float64 and tp.grad.dtype == torch.float32
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-6)
    np.testing.assert_allclose(pt.grad.numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-8)


# ----- cross_entropy ----------------------------------------------------------------

def test_cross_entropy_value_and_gradient_closed_form(backend, dtype, rng):
    z = (rng.standard_normal((6, 4)) * 2).astype(dtype)
    labels = np.array([0, 3, 1, 1, 2, 3])
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.cross_entropy(zt, labels)
    loss.backward()
    z64 = z.astype(np.float64)
    logp = _np_log_softmax(z64, axis=1)
    onehot = np.eye(4)[labels]
    assert loss.dtype == dtype and zt.grad.dtype == dtype
    np.testing.assert_allclose(loss.item(), -np.mean(logp[np.arange(6), labels]),
                               rtol=RTOL[dtype])
    # d/dz of the mean NLL: (softmax(z) - onehot) / N
    np.testing.assert_allclose(zt.grad.numpy(), (np.exp(logp) - onehot) / 6,
                               rtol=RTOL[dtype] * 10, atol=ATOL[dtype])


@pytest.mark.parametrize("labels", [
    [2, 0, 1],
    np.array([2, 0, 1], dtype=np.int32),
    np.array([2, 0, 1], dtype=np.uint8),
    (2, 0, 1),
    ad.tensor([2, 0, 1]),
], ids=["list", "int32", "uint8", "tuple", "tensor"])
def test_cross_entropy_label_forms_agree(labels):
    z = np.array([[0.1, 0.2, 3.0], [1.0, -1.0, 0.0], [0.5, 0.5, 0.5]])
    expected = -np.mean(_np_log_softmax(z, 1)[[0, 1, 2], [2, 0, 1]])
    np.testing.assert_allclose(nn.cross_entropy(z, labels).item(), expected, rtol=1e-14)


def test_cross_entropy_repeated_labels_accumulate_gradient(backend):
    z = ad.zeros((4, 2), requires_grad=True)
    nn.cross_entropy(z, [1, 1, 1, 1]).backward()
    np.testing.assert_allclose(z.grad.numpy(), [[0.125, -0.125]] * 4, rtol=1e-15)


def test_cross_entropy_matches_torch(backend, rng):
    torch = _torch()
    z = rng.standard_normal((8, 5)) * 3
    labels = rng.integers(0, 5, 8)
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.cross_entropy(zt, labels)
    loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(labels))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-13)
    np.testing.assert_allclose(zt.grad.numpy(), tz.grad.numpy(), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("shape, label_shape", [((5,), ()), ((3, 4, 2, 5), (3, 2, 5))],
                         ids=["unbatched", "spatial"])
def test_cross_entropy_other_layouts_match_torch(backend, rng, shape, label_shape):
    torch = _torch()
    z = rng.standard_normal(shape)
    n_classes = shape[1] if len(shape) > 1 else shape[0]
    labels = rng.integers(0, n_classes, label_shape)
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.cross_entropy(zt, labels)
    loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(np.asarray(labels)))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-13)
    np.testing.assert_allclose(zt.grad.numpy(), tz.grad.numpy(), rtol=1e-12, atol=1e-16)


def test_cross_entropy_spatial_closed_form(rng):
    # Classes on axis 1: the mean over every (sample, position) of -log p[label].
    z = rng.standard_normal((2, 3, 4))
    labels = rng.integers(0, 3, (2, 4))
    logp = _np_log_softmax(z, axis=1)
    expected = -np.mean([logp[n, labels[n, j], j] for n in range(2) for j in range(4)])
    np.testing.assert_allclose(nn.cross_entropy(z, labels).item(), expected, rtol=1e-14)


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_cross_entropy_extreme_logits_finite_and_match_torch(backend, np_dtype):
    torch = _torch()
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4], [0.0, 1e4, 5e3]],
                 dtype=np_dtype)
    labels = np.array([1, 2, 0, 2])
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.cross_entropy(zt, labels)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(zt.grad.numpy()))
    # Closed form: -log p = lse - z[label]; [2e4, log 3, log 2, 5e3] / 4
    expected = (2e4 + np.log(3) + np.log(2) + 5e3) / 4
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-7 if np_dtype == np.float32
                               else 1e-15)
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(tz, torch.from_numpy(labels))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-7 if np_dtype == np.float32
                               else 1e-15)
    # Probabilities exact to a few roundings even at |z| = 1e4 (a log-softmax taken as
    # z - logsumexp(z) without shifting first is off by ~1e-4 relative in float32).
    grad_rtol = 1e-6 if np_dtype == np.float32 else 1e-14
    np.testing.assert_allclose(zt.grad.numpy(), tz.grad.numpy(), rtol=grad_rtol, atol=1e-30)
    softmax = np.array([[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0], [0, 1, 0]])
    np.testing.assert_allclose(zt.grad.numpy(), (softmax - np.eye(3)[labels]) / 4,
                               rtol=grad_rtol, atol=1e-30)


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_cross_entropy_large_common_offset_keeps_precision(backend, np_dtype):
    # Softmax ignores a common offset: logits 1e4 + [0, 1, 2] are [0, 1, 2] to it, and the
    # loss and gradient must be as accurate as for [0, 1, 2] (ulp(1e4) in float32 is 1e-3,
    # so a difference of large numbers would cost three or four digits here).
    base = np.array([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0]])
    zt = ad.tensor((base + 1e4).astype(np_dtype), requires_grad=True)
    loss = nn.cross_entropy(zt, [0, 0])
    loss.backward()
    logp = _np_log_softmax(base, axis=1)
    rtol = 1e-6 if np_dtype == np.float32 else 1e-14
    np.testing.assert_allclose(loss.item(), -(logp[0, 0] + logp[1, 0]) / 2, rtol=rtol)
    np.testing.assert_allclose(zt.grad.numpy(), (np.exp(logp) - np.eye(3)[[0, 0]]) / 2,
                               rtol=rtol)


# ----- binary_cross_entropy_with_logits ---------------------------------------------

def test_bce_value_and_gradient_closed_form(backend, dtype, rng):
    z = (rng.standard_normal((5, 3)) * 3).astype(dtype)
    t = rng.uniform(0, 1, (5, 3)).astype(dtype)  # soft targets are allowed
    t[0] = [0, 1, 1]
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(zt, t)
    loss.backward()
    z64, t64 = z.astype(np.float64), t.astype(np.float64)
    assert loss.dtype == dtype and zt.grad.dtype == dtype
    np.testing.assert_allclose(loss.item(), _np_bce(z64, t64), rtol=RTOL[dtype])
    np.testing.assert_allclose(zt.grad.numpy(), (_np_sigmoid(z64) - t64) / z.size,
                               rtol=RTOL[dtype] * 10, atol=ATOL[dtype])


def test_bce_gradient_at_zero_logit_is_sigmoid_minus_target(backend):
    # max(z, 0) and |z| both have kinks at z = 0; the derivative there is still
    # sigmoid(0) - t = 1/2 - t.
    z = ad.zeros(3, requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(z, [0.0, 1.0, 0.25])
    loss.backward()
    np.testing.assert_allclose(loss.item(), np.log(2), rtol=1e-15)
    np.testing.assert_allclose(z.grad.numpy(), np.array([0.5, -0.5, 0.25]) / 3, rtol=1e-15)


def test_bce_tiny_losses_keep_their_relative_accuracy(backend):
    # Confident right answers: the loss is log1p(exp(-|z|)) ~ 1e-13, which a form
    # that subtracts two O(|z|) numbers (softplus(z) - z*t) would get only to ~2%.
    z = np.array([30.0, -30.0, 25.0])
    t = np.array([1.0, 0.0, 1.0])
    loss = nn.binary_cross_entropy_with_logits(z, t).item()
    expected = np.mean(np.log1p(np.exp(-np.abs(z))))
    np.testing.assert_allclose(loss, expected, rtol=1e-14)


def test_bce_matches_torch(backend, rng):
    torch = _torch()
    z = rng.standard_normal((4, 6)) * 4
    t = (rng.uniform(size=(4, 6)) > 0.5).astype(np.float64)
    t[0] = 0.3
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(zt, t)
    loss.backward()
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.tensor(t))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-13)
    np.testing.assert_allclose(zt.grad.numpy(), tz.grad.numpy(), rtol=1e-12, atol=1e-17)


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_bce_extreme_logits_finite_and_match_torch(backend, np_dtype):
    torch = _torch()
    z = np.array([1e4, -1e4, 1e4, -1e4, 1e4, 0.0], dtype=np_dtype)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 1.0], dtype=np_dtype)
    zt = ad.tensor(z, requires_grad=True)
    loss = nn.binary_cross_entropy_with_logits(zt, t)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(zt.grad.numpy()))
    # Per element: 0, 0, 1e4, 1e4, 5e3, log 2; gradient (sigmoid(z) - t) / 6.
    rtol = 1e-7 if np_dtype == np.float32 else 1e-15
    np.testing.assert_allclose(loss.item(), (2.5e4 + np.log(2)) / 6, rtol=rtol)
    np.testing.assert_allclose(zt.grad.numpy(), np.array([0, 0, 1, -1, 0.5, -0.5]) / 6,
                               rtol=rtol, atol=1e-30)
    tz = torch.tensor(z, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tz, torch.tensor(t))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=rtol)
    np.testing.assert_allclose(zt.grad.numpy(), tz.grad.numpy(), rtol=rtol, atol=1e-30)


# ----- training ---------------------------------------------------------------------

def test_mlp_learns_xor_with_gradient_descent(backend):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.float64)  # XOR of the signs: not linearly separable
    model = nn.Sequential(nn.Linear(2, 16, seed=1), nn.Tanh(), nn.Linear(16, 1, seed=2))
    first = None
    for _ in range(300):
        loss = nn.binary_cross_entropy_with_logits(model(x)[:, 0], y)
        first = loss.item() if first is None else first
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 1.0 * p.grad.data
    accuracy = np.mean((model(x).numpy()[:, 0] > 0) == (y > 0.5))
    assert accuracy > 0.95
    assert loss.item() < 0.25 * first


# ----- errors -----------------------------------------------------------------------

def test_linear_bad_arguments():
    with pytest.raises(TypeError, match=r"Linear: in_features must be an int"):
        nn.Linear(2.5, 3)
    with pytest.raises(TypeError, match=r"Linear: out_features must be an int"):
        nn.Linear(2, True)
    with pytest.raises(ValueError, match=r"Linear: in_features must be at least 1, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match=r"Linear: unsupported dtype int64"):
        nn.Linear(2, 3, dtype=np.int64)
    layer = nn.Linear(3, 2, seed=0)
    with pytest.raises(ValueError, match=r"Linear: input of shape \(4, 2\).*in_features=3"):
        layer(ad.ones((4, 2)))
    with pytest.raises(ValueError, match=r"Linear: input of shape \(\)"):
        layer(ad.tensor(1.0))
    with pytest.raises(TypeError, match=r"Linear"):
        layer(np.array([["a", "b", "c"]]))



@pytest.mark.parametrize("n", [3, 35000], ids=["small", "large"])  # 6 and 70000 elements
@pytest.mark.parametrize("layer_dt, input_dt", [(np.float64, np.float32),
                                                 (np.float32, np.float64)])
def test_linear_refuses_a_tensor_of_the_other_dtype(backend, rng, n, layer_dt, input_dt):
    layer = nn.Linear(2, 3, seed=0, dtype=layer_dt)
    x = rng.standard_normal((n, 2))
    name_in, name_layer = np.dtype(input_dt).name, np.dtype(layer_dt).name
    with pytest.raises(RuntimeError) as info:
        layer(ad.tensor(x, dtype=input_dt))
    message = str(info.value)
    assert isinstance(info.value, TypeError)  # API.md's class for dtype errors too
    assert isinstance(info.value, nn.DtypeMismatchError)
    assert message.startswith(f"Linear: input of dtype {name_in} and weight of dtype "
                              f"{name_layer} differ")
    assert f"x.astype('{name_layer}')" in message
    assert f"nn.Linear(2, 3, dtype='{name_in}')" in message
    # Either fix the message names works: the closed form, in the dtype chosen.
    xt = ad.tensor(x, dtype=input_dt)
    xd = xt.numpy().astype(np.float64)
    for lay, inp in ((layer, xt.astype(name_layer)),
                     (nn.Linear(2, 3, seed=0, dtype=name_in), xt)):
        out = lay(inp)
        dt = lay.weight.dtype
        assert out.dtype == dt
        w, b = lay.weight.numpy().astype(np.float64), lay.bias.numpy().astype(np.float64)
        np.testing.assert_allclose(out.numpy(), xd @ w.T + b, rtol=RTOL[dt], atol=10 * ATOL[dt])


def test_linear_dtype_mismatch_matches_torch_error_type(rng):
    torch = _torch()
    x = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.Linear(3, 2, dtype=torch.float64)(torch.tensor(x))
    with pytest.raises(RuntimeError) as ours:
        nn.Linear(3, 2, seed=0)(ad.tensor(x))
    assert isinstance(ours.value, type(theirs.value))
    # A numpy array is not a Tensor: it is taken in the layer's dtype (PyTorch takes
    # only tensors, so there is nothing to match there).
    out = nn.Linear(3, 2, seed=0)(x)
    assert out.dtype == np.float64


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match=r"Sequential: argument 1 is a function, expected a "
                                        r"Module"):
        nn.Sequential(nn.Tanh(), ad.tanh)


def test_mse_loss_errors():
    with pytest.raises(ValueError, match=r"mse_loss: pred of shape \(3,\) and target of shape "
                                         r"\(3, 1\) differ"):
        nn.mse_loss(ad.ones(3), np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"mse_loss: pred is empty"):
        nn.mse_loss(ad.ones(0), [])
    with pytest.raises(TypeError, match=r"mse_loss: target must be real numbers.*<U1"):
        nn.mse_loss(ad.ones(2), ["a", "b"])
    with pytest.raises(TypeError, match=r"mse_loss: pred must be real numbers.*complex"):
        nn.mse_loss(np.ones(2, dtype=complex), np.ones(2))


def test_cross_entropy_errors():
    z = ad.zeros((3, 4))
    with pytest.raises(ValueError, match=r"cross_entropy: label 4 is out of range for 4 "
                                         r"classes, expected 0 <= label < 4"):
        nn.cross_entropy(z, [0, 4, 1])
    with pytest.raises(ValueError, match=r"cross_entropy: label -1 is out of range"):
        nn.cross_entropy(z, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match=r"cross_entropy: labels must be integer class "
                                        r"indices.*float64"):
        nn.cross_entropy(z, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match=r"cross_entropy: labels must be integer.*bool"):
        nn.cross_entropy(z, [True, False, True])
    with pytest.raises(TypeError, match=r"cross_entropy: labels must be integer.*non-integer"):
        nn.cross_entropy(z, ad.tensor([0.0, 1.5, 2.0]))
    with pytest.raises(TypeError, match=r"cross_entropy: labels must be integer"):
        nn.cross_entropy(z, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"cross_entropy: labels of shape \(2,\) do not fit "
                                         r"the logits, expected labels of shape \(3,\)"):
        nn.cross_entropy(z, [0, 1])
    with pytest.raises(ValueError, match=r"cross_entropy: labels of shape \(3, 1\)"):
        nn.cross_entropy(z, np.zeros((3, 1), dtype=int))
    with pytest.raises(ValueError, match=r"cross_entropy: logits of shape \(\) have no class"):
        nn.cross_entropy(ad.tensor(1.0), 0)
    with pytest.raises(ValueError, match=r"cross_entropy: logits of shape \(3, 0\) have no "
                                         r"classes"):
        nn.cross_entropy(ad.zeros((3, 0)), [0, 0, 0])
    with pytest.raises(ValueError, match=r"cross_entropy: logits of shape \(0, 4\) hold no "
                                         r"samples"):
        nn.cross_entropy(ad.zeros((0, 4)), [])
    with pytest.raises(TypeError, match=r"cross_entropy: logits must be real numbers"):
        nn.cross_entropy([["x", "y"]], [0])


def test_bce_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: logits of shape "
                                         r"\(4,\) and targets of shape \(4, 1\) differ"):
        nn.binary_cross_entropy_with_logits(ad.zeros(4), np.zeros((4, 1)))
    with pytest.raises(TypeError, match=r"binary_cross_entropy_with_logits: targets must be "
                                        r"real numbers"):
        nn.binary_cross_entropy_with_logits(ad.zeros(2), [object(), object()])

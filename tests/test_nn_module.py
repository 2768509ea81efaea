"""nn.Module's PyTorch habits: state_dict / load_state_dict, buffers, module walks,
train/eval, ModuleList / ModuleDict, nn.init and nn.utils gradient clipping.

References: PyTorch's modules, error messages, init formulas and clipping where torch
is importable (those tests skip without it), else closed forms in numpy and the keys
PyTorch gives for the same architecture, written out.
"""

import math

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import memory, nn


def _torch():
    return pytest.importorskip("torch")


def _mlp(seed=0):
    return nn.Sequential(nn.Linear(3, 4, seed=seed), nn.Tanh(), nn.Linear(4, 2, seed=seed + 1))


class _Net(nn.Module):
    """Every place a parameter or buffer can be, in an order PyTorch would reorder."""

    def __init__(self):
        self.body = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU())
        self.scale = ad.ones(4, requires_grad=True)  # own parameter, assigned after body
        self.blocks = nn.ModuleList([nn.Linear(4, 4, seed=1), nn.Tanh()])
        self.heads = nn.ModuleDict({"b": nn.Linear(4, 1, seed=2), "a": nn.Linear(4, 2, seed=3)})
        self.register_buffer("running", ad.zeros(4))
        self.register_buffer("num_batches_tracked", ad.zeros(()))
        self.extra = [nn.Linear(2, 2, seed=4)]  # a plain list: keys extra.0.*

    def forward(self, x):
        h = self.blocks[1](self.blocks[0](self.body(x) * self.scale))
        return self.heads["a"](h), self.heads["b"](h), self.extra[0](self.heads["a"](h))


# PyTorch's keys for _Net's architecture (own parameters, then own buffers, then each
# child's, recursively), as its state_dict gives them (checked in the torch test below).
NET_KEYS = ["scale", "running", "num_batches_tracked", "body.0.weight", "body.0.bias",
            "blocks.0.weight", "blocks.0.bias", "heads.b.weight", "heads.b.bias",
            "heads.a.weight", "heads.a.bias", "extra.0.weight", "extra.0.bias"]


def _torch_net(torch):
    tnn = torch.nn

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.body = tnn.Sequential(tnn.Linear(3, 4), tnn.ReLU())
            self.scale = tnn.Parameter(torch.ones(4))
            self.blocks = tnn.ModuleList([tnn.Linear(4, 4), tnn.Tanh()])
            self.heads = tnn.ModuleDict({"b": tnn.Linear(4, 1), "a": tnn.Linear(4, 2)})
            self.register_buffer("running", torch.zeros(4))
            self.register_buffer("num_batches_tracked", torch.zeros(()))
            self.extra = tnn.ModuleList([tnn.Linear(2, 2)])

        def forward(self, x):
            h = self.blocks[1](self.blocks[0](self.body(x) * self.scale))
            return self.heads["a"](h), self.heads["b"](h), self.extra[0](self.heads["a"](h))

    return Net().double()


# ----- state_dict ------------------------------------------------------------------------

def test_state_dict_keys_order_and_copies():
    net = _Net()
    sd = net.state_dict()
    assert list(sd) == NET_KEYS
    assert [n for n, _ in net.named_parameters()] == [k for k in NET_KEYS if k not in (
        "running", "num_batches_tracked")]
    assert [n for n, _ in net.named_buffers()] == ["running", "num_batches_tracked"]
    assert [b is net.running for b in net.buffers()] == [True, False]
    np.testing.assert_array_equal(sd["body.0.weight"], net.body[0].weight.numpy())
    for value in sd.values():  # copies: writing them leaves the module alone
        assert type(value) is np.ndarray
        value[...] = 7.0
    assert not np.any(net.body[0].weight.numpy() == 7.0)


def test_state_dict_keys_match_torch():
    torch = _torch()
    theirs = _torch_net(torch)
    assert list(_Net().state_dict()) == list(theirs.state_dict()) == NET_KEYS
    assert ([(n, p.shape) for n, p in _Net().named_parameters()]
            == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()])
    assert [n for n, _ in _Net().named_modules()] == [
        n for n, _ in theirs.named_modules() if n != "extra"]  # (a plain list, no module)


def test_state_dict_shared_module_under_each_name_as_torch():
    layer = nn.Linear(2, 2, seed=0)
    model = nn.Sequential(layer, nn.Tanh(), layer)
    # PyTorch: state_dict lists a shared module under both names, named_parameters once.
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    model.load_state_dict(model.state_dict())


def test_state_dict_survives_back_references():
    child = nn.Linear(1, 1, seed=0)
    parent = nn.Sequential(child)
    child.owner = parent  # a child pointing back at its parent must not loop
    assert list(parent.state_dict()) == ["0.weight", "0.bias"]
    assert [n for n, _ in parent.named_modules()] == ["", "0"]
    assert parent.eval() is parent and not child.training
    assert parent.apply(lambda m: None) is parent


# ----- load_state_dict ---------------------------------------------------------------------

def test_load_state_dict_in_place_and_cast():
    dst, src = _Net(), _Net()
    for p in src.parameters():
        p.data = p.numpy() + 1.0  # (different values to copy)
    src.running.data = np.arange(4.0)
    weight = dst.body[0].weight
    array, version = weight._data, memory.version(weight._data)
    result = dst.load_state_dict(src.state_dict())
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    # In place: the same Tensor and array (an optimizer keeps pointing at them), a new version.
    assert dst.body[0].weight is weight and weight._data is array
    assert memory.version(array) == version + 1
    for (k, a), (_, b) in zip(dst.state_dict().items(), src.state_dict().items(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)
    # Values of any numeric type and container are cast to the parameter's dtype.
    f32 = nn.Linear(2, 1, seed=0, dtype=np.float32)
    f32.load_state_dict({"weight": ad.tensor([[1.5, -2.0]]), "bias": np.array([3], np.int64)})
    assert f32.weight.dtype == np.float32 and f32.bias.dtype == np.float32
    np.testing.assert_array_equal(f32.weight.numpy(), np.float32([[1.5, -2.0]]))
    np.testing.assert_array_equal(f32.bias.numpy(), np.float32([3.0]))


def test_load_state_dict_keeps_optimizers_and_graphs_right():
    model = _mlp()
    opt = ad.optim.SGD(model.parameters(), lr=0.1)
    x = ad.tensor(np.ones((2, 3)))
    loss = model(x).sum()  # a graph that saved the old weights
    model.load_state_dict(_mlp(seed=5).state_dict())
    with pytest.raises(RuntimeError, match="modified by an inplace operation|version"):
        loss.backward()
    model(x).sum().backward()
    before = model[0].weight.numpy().copy()
    opt.step()
    np.testing.assert_allclose(model[0].weight.numpy(),
                               before - 0.1 * model[0].weight.grad.numpy(), rtol=1e-15)


def test_load_state_dict_errors_match_torch_messages():
    torch = _torch()
    cases = [
        {"weight": np.zeros((3, 2)), "extra": np.zeros(1)},  # size mismatch, missing, extra
        {"weight": np.zeros((2, 2)), "bias": np.zeros(3)},  # size mismatch only
        {"weight": np.zeros((2, 2))},  # missing only
    ]
    for sd in cases:
        ours = nn.Linear(2, 2, seed=0)
        before = ours.state_dict()
        with pytest.raises(RuntimeError) as e_ours:
            ours.load_state_dict(sd)
        with pytest.raises(RuntimeError) as e_theirs:
            torch.nn.Linear(2, 2).load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        theirs = str(e_theirs.value).replace("torch.Size([", "(").replace("])", ")")
        theirs = theirs.replace("(2)", "(2,)").replace("(3)", "(3,)")
        assert str(e_ours.value) == theirs
        # Nothing was written: the errors are found before the first copy.
        for k, v in ours.state_dict().items():
            np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_and_bad_values():
    model = nn.Linear(2, 2, seed=0)
    result = model.load_state_dict({"weight": np.ones((2, 2)), "x": np.ones(1)}, strict=False)
    assert result == (["bias"], ["x"])
    assert repr(result) == "IncompatibleKeys(missing_keys=['bias'], unexpected_keys=['x'])"
    np.testing.assert_array_equal(model.weight.numpy(), np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="size mismatch for weight"):  # even when not strict
        model.load_state_dict({"weight": np.ones(4)}, strict=False)
    with pytest.raises(RuntimeError, match='parameter named "bias".*str'):
        model.load_state_dict({"weight": np.ones((2, 2)), "bias": "zeros"})
    with pytest.raises(TypeError, match="dict-like"):
        model.load_state_dict([("weight", np.ones((2, 2)))])


def test_torch_state_dict_loads_both_ways(backend):
    torch = _torch()
    theirs = _torch_net(torch)
    ours = _Net()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3))
    with torch.no_grad():
        expected = [t.numpy() for t in theirs(torch.from_numpy(x))]
    for got, want in zip(ours(ad.tensor(x)), expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    # The reverse, from fresh values of ours; and torch's tensors taken directly.
    fresh = _Net()
    for p in fresh.parameters():
        p.data = p.numpy() * 0.5 + 0.25
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()})
    ours.load_state_dict(theirs.state_dict())
    for (k, a), (_, b) in zip(ours.state_dict().items(), fresh.state_dict().items(),
                              strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)


# ----- frozen parameters -------------------------------------------------------------------

MLP_KEYS = ["0.weight", "0.bias", "2.weight", "2.bias"]


def _freeze(model):
    """Freeze the first layer's weight (the tensor's flag) and the last layer (the module's
    requires_grad_, which returns the module), as a PyTorch user does."""
    model[0].weight.requires_grad_(False)
    assert model[2].requires_grad_(False) is model[2]
    return model


def test_frozen_parameters_stay_parameters_as_torch(backend):
    ours = _freeze(_mlp())
    flags = [(n, p.requires_grad) for n, p in ours.named_parameters()]
    # PyTorch keeps frozen parameters everywhere (checked against torch below).
    assert flags == [("0.weight", False), ("0.bias", True), ("2.weight", False),
                     ("2.bias", False)]
    assert list(ours.state_dict()) == MLP_KEYS
    assert [p is q for p, q in zip(ours.parameters(), (ours[0].weight, ours[0].bias,
                                                        ours[2].weight, ours[2].bias),
                                   strict=True)] == [True] * 4
    # load_state_dict writes the frozen ones too.
    src = _mlp(seed=7)
    assert ours.load_state_dict(src.state_dict()) == ([], [])
    for (k, a), (_, b) in zip(ours.state_dict().items(), src.state_dict().items(),
                              strict=True):
        np.testing.assert_array_equal(a, b, err_msg=k)
    # An optimizer given every parameter moves only the trainable one, by -lr * grad.
    before = ours.state_dict()
    opt = ad.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    ours(ad.tensor(np.ones((2, 3)))).sum().backward()
    assert [p.grad is None for p in ours.parameters()] == [True, False, True, True]
    opt.step()
    for k, v in ours.state_dict().items():
        want = before[k] - 0.1 * ours[0].bias.grad.numpy() if k == "0.bias" else before[k]
        np.testing.assert_array_equal(v, want, err_msg=k)
    # Unfreezing gives the flags back.
    assert ours.requires_grad_() is ours
    assert all(p.requires_grad for p in ours.parameters())


def test_frozen_parameters_match_torch():
    torch = _torch()
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    theirs[0].weight.requires_grad_(False)
    theirs[2].requires_grad_(False)
    ours = _freeze(_mlp())
    assert ([(n, p.requires_grad) for n, p in ours.named_parameters()]
            == [(n, p.requires_grad) for n, p in theirs.named_parameters()])
    assert list(ours.state_dict()) == list(theirs.state_dict()) == MLP_KEYS
    assert theirs.requires_grad_(True) is theirs


def test_frozen_parameter_ends_when_the_attribute_is_reassigned():
    class Scaled(nn.Module):
        def __init__(self):
            self.scale = ad.ones(2, requires_grad=True)
            self.offset = ad.zeros(2)  # a constant: not a parameter, in PyTorch neither
            self.extra = [ad.ones(1, requires_grad=True)]

    m = Scaled()
    m.requires_grad_(False)
    # The attribute stays a parameter; a frozen tensor in a list drops out (documented).
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    m.scale = ad.ones(2)  # a new value that does not require grad: a constant now
    assert list(m.named_parameters()) == [] and list(m.state_dict()) == []
    m.offset = ad.zeros(2, requires_grad=True)
    m.offset.requires_grad = False
    assert list(m.state_dict()) == ["offset"]


# ----- buffers, modules, train/eval, apply ---------------------------------------------------

def test_register_buffer_protocol():
    m = nn.Linear(2, 1, seed=0)
    m.register_buffer("steps", ad.zeros(()))
    m.register_buffer("unused", None)  # a None buffer is left out, as in PyTorch
    assert m._buffer_names == ["steps", "unused"] and nn.Linear._buffer_names == ()
    assert list(m.state_dict()) == ["weight", "bias", "steps"]
    m.register_buffer("steps", ad.ones(()))  # re-registering replaces the value
    assert m.steps.item() == 1.0 and m._buffer_names == ["steps", "unused"]
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    for name, value, error in [("a.b", ad.zeros(1), KeyError), ("", ad.zeros(1), KeyError),
                               ("weight", ad.zeros(1), KeyError), (3, ad.zeros(1), TypeError),
                               ("c", np.zeros(1), TypeError)]:
        with pytest.raises(error, match="register_buffer"):
            m.register_buffer(name, value)


def test_named_modules_children_apply_match_torch():
    torch = _torch()
    ours, theirs = _mlp(), torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                               torch.nn.Linear(4, 2))
    assert ([n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
            == ["", "0", "1", "2"])
    assert ([type(m).__name__ for m in ours.children()]
            == [type(m).__name__ for m in theirs.children()])
    seen_ours, seen_theirs = [], []
    ours.apply(lambda m: seen_ours.append(type(m).__name__))
    theirs.apply(lambda m: seen_theirs.append(type(m).__name__))
    assert seen_ours == seen_theirs == ["Linear", "Tanh", "Linear", "Sequential"]


def test_train_eval_recursive_and_overrides_run():
    calls = []

    class Frozen(nn.Linear):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(False)  # stays in eval mode, as a frozen layer would

    model = nn.Sequential(nn.Linear(2, 2, seed=0), nn.ModuleList([Frozen(2, 2, seed=1)]))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert [m.training for m in model.modules()] == [False] * 4
    assert model.train() is model
    assert [m.training for m in model.modules()] == [True, True, True, False]
    assert calls == [False, True]
    with pytest.raises(TypeError, match="train: mode must be a bool"):
        model.train("yes")


# ----- ModuleList / ModuleDict -----------------------------------------------------------------

def test_module_list_behaves_as_a_list():
    a, b, c, d = (nn.Linear(1, 1, seed=i) for i in range(4))
    ml, ref = nn.ModuleList([a, b]), [a, b]
    for op in (lambda x: x.append(c), lambda x: x.insert(0, d), lambda x: x.extend([c]),
               lambda x: x.pop(1), lambda x: x.__delitem__(0), lambda x: x.__setitem__(-1, a)):
        op(ml)
        op(ref)
        assert list(ml) == ref and len(ml) == len(ref)
    assert [n for n, _ in ml.named_parameters()] == [  # renumbered, each module once
        f"{i}.{w}" for i in range(len(ref)) if ref[i] not in ref[:i] for w in ("weight", "bias")]
    assert isinstance(ml[1:], nn.ModuleList) and list(ml[1:]) == ref[1:]
    ml += [d]
    assert list(ml + nn.ModuleList([a])) == [*ref, d, a]
    with pytest.raises(TypeError, match="ModuleList.append: a Tensor is not a Module"):
        ml.append(ad.zeros(1))
    with pytest.raises(NotImplementedError):
        ml(1.0)


def test_module_dict_behaves_as_a_dict():
    a, b = nn.Linear(1, 1, seed=0), nn.Tanh()
    md = nn.ModuleDict([("x", a)])
    md["y"] = b
    md.update({"z": nn.Linear(1, 2, seed=1)})
    assert list(md) == list(md.keys()) == ["x", "y", "z"] and "y" in md and len(md) == 3
    assert list(md.values())[:2] == [a, b] and md["x"] is a
    assert list(md.state_dict()) == ["x.weight", "x.bias", "z.weight", "z.bias"]
    assert md.pop("y") is b and list(md) == ["x", "z"]
    del md["x"]
    assert [k for k, _ in md.items()] == ["z"]
    md.clear()
    assert len(md) == 0
    for key, error in [(1, TypeError), ("a.b", KeyError), ("", KeyError)]:
        with pytest.raises(error, match="ModuleDict"):
            md[key] = a
    with pytest.raises(TypeError, match="ModuleDict: a int is not a Module"):
        md["w"] = 1


def test_container_reprs_match_torch():
    torch = _torch()
    ours = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.Tanh(),
                          nn.ModuleDict({"h": nn.Linear(2, 1)}), nn.ModuleList()])
    tnn = torch.nn
    theirs = tnn.ModuleList([tnn.Linear(2, 2), tnn.Linear(2, 2), tnn.Tanh(),
                             tnn.ModuleDict({"h": tnn.Linear(2, 1)}), tnn.ModuleList()])
    assert repr(ours) == repr(theirs)


# ----- nn.init ---------------------------------------------------------------------------------

GAINS = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 0), ("selu", None)]


@pytest.mark.parametrize(("nonlinearity", "param"), GAINS)
def test_calculate_gain_matches_torch(nonlinearity, param):
    torch = _torch()
    assert nn.init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(
        nonlinearity, param)


def test_calculate_gain_closed_forms_and_errors():
    assert nn.init.calculate_gain("tanh") == 5 / 3
    assert nn.init.calculate_gain("leaky_relu", 0.5) == math.sqrt(2 / 1.25)
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope True"):
        nn.init.calculate_gain("leaky_relu", True)


def _fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


# (name, kwargs, shape, expected (kind, scale) from PyTorch's documented formulas)
INITS = [
    ("uniform_", {"a": -0.5, "b": 2.0}, (400, 250), ("uniform", -0.5, 2.0)),
    ("normal_", {"mean": 1.0, "std": 0.3}, (400, 250), ("normal", 1.0, 0.3)),
    ("xavier_uniform_", {"gain": 2.0}, (400, 250), ("uniform0", 2.0 * math.sqrt(6 / 650))),
    ("xavier_normal_", {}, (16, 8, 5, 5), ("normal", 0.0, math.sqrt(2 / (200 + 400)))),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, (400, 250),
     ("uniform0", math.sqrt(2 / 6) * math.sqrt(3 / 250))),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, (16, 8, 5, 5),
     ("uniform0", math.sqrt(2) * math.sqrt(3 / 400))),
    ("kaiming_normal_", {"nonlinearity": "tanh"}, (400, 250), ("normal", 0.0, 5 / 3 / math.sqrt(250))),
    ("kaiming_normal_", {"mode": "FAN_OUT"}, (400, 250),
     ("normal", 0.0, math.sqrt(2) / 20)),  # (a=0: slope 0)
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "expected"), INITS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(INITS)])
def test_init_distributions(name, kwargs, shape, expected):
    fn = getattr(nn.init, name)
    t = ad.zeros(shape, requires_grad=True)  # a leaf that requires grad: no no_grad needed
    array = t._data
    assert fn(t, **kwargs, generator=np.random.default_rng(0)) is t and t._data is array
    x = t.numpy().ravel()
    n = x.size
    if expected[0] == "normal":
        _, mean, std = expected
        # The sample mean and std are within 5 standard errors of the true ones.
        assert abs(x.mean() - mean) < 5 * std / math.sqrt(n)
        assert abs(x.std() - std) < 5 * std / math.sqrt(2 * n)
    else:
        lo, hi = (expected[1], expected[2]) if expected[0] == "uniform" else (
            -expected[1], expected[1])
        assert lo <= x.min() and x.max() < hi
        width = hi - lo  # with n >= 1e5 samples the extremes are within 1e-3 of the bounds
        assert x.min() - lo < 1e-3 * width and hi - x.max() < 1e-3 * width
        assert abs(x.std() - width / math.sqrt(12)) < 5 * width / math.sqrt(12 * n)
    again = fn(ad.zeros(shape), **kwargs, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(again.numpy(), t.numpy())  # the same generator, same numbers


def test_init_scales_match_torch_fans():
    torch = _torch()
    from torch.nn.init import _calculate_fan_in_and_fan_out
    for shape in [(3, 4), (16, 8, 5, 5), (2, 3, 7)]:
        assert _fans(shape) == _calculate_fan_in_and_fan_out(torch.empty(shape))
        bound = torch.nn.init.calculate_gain("relu") * math.sqrt(3 / _fans(shape)[0])
        w = nn.init.kaiming_uniform_(ad.zeros(shape), nonlinearity="relu",
                                     generator=np.random.default_rng(1))
        tw = torch.nn.init.kaiming_uniform_(torch.empty(shape), nonlinearity="relu")
        assert np.abs(w.numpy()).max() <= bound and tw.abs().max().item() <= bound


def test_init_constant_fills_dtype_and_errors():
    t = ad.zeros((2, 3), dtype=np.float32)
    assert nn.init.constant_(t, 0.1).dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 3), 0.1, np.float32))
    np.testing.assert_array_equal(nn.init.ones_(t).numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(nn.init.zeros_(t).numpy(), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"xavier_uniform_: .* shape \(3,\)"):
        nn.init.xavier_uniform_(ad.zeros(3))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        nn.init.kaiming_normal_(ad.zeros((2, 2)), mode="fan_avg")
    with pytest.raises(TypeError, match="normal_: expected a Tensor, got ndarray"):
        nn.init.normal_(np.zeros(3))
    with pytest.raises(TypeError, match="generator must be a numpy Generator"):
        nn.init.uniform_(ad.zeros(3), generator=0)
    with pytest.warns(UserWarning, match="zero-element"):
        nn.init.kaiming_uniform_(ad.zeros((0, 3)))


# ----- ad.manual_seed makes construction repeatable ---------------------------------------

def _linear_draws(gen, n_in, n_out):
    """PyTorch's bound ``1 / sqrt(in_features)``, weight then bias, as numpy draws them."""
    k = 1 / math.sqrt(n_in)
    return [gen.uniform(-k, k, (n_out, n_in)), gen.uniform(-k, k, n_out)]


# (what draws with no seed, what numpy draws from the same generator)
SEEDED = [
    ("Linear", lambda: nn.Linear(3, 2).state_dict().values(),
     lambda g: _linear_draws(g, 3, 2)),
    ("Embedding", lambda: nn.Embedding(4, 3).state_dict().values(),
     lambda g: [g.standard_normal((4, 3))]),
    ("normal_", lambda: [nn.init.normal_(ad.zeros(5), 1.0, 2.0).numpy()],
     lambda g: [g.normal(1.0, 2.0, 5)]),
    ("xavier_uniform_", lambda: [nn.init.xavier_uniform_(ad.zeros((3, 2))).numpy()],
     lambda g: [g.uniform(-math.sqrt(6 / 5), math.sqrt(6 / 5), (3, 2))]),
    ("kaiming_normal_", lambda: [nn.init.kaiming_normal_(ad.zeros((4, 2))).numpy()],
     lambda g: [g.normal(0.0, math.sqrt(2) / math.sqrt(2), (4, 2))]),  # (a=0: gain sqrt(2))
]


@pytest.mark.parametrize(("make", "numpy_draws"), [c[1:] for c in SEEDED],
                         ids=[c[0] for c in SEEDED])
def test_manual_seed_makes_unseeded_construction_repeatable(make, numpy_draws):
    ad.manual_seed(0)
    first = [np.array(a) for a in make()]
    second = [np.array(a) for a in make()]  # the generator moved on: other numbers
    assert not any(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    ad.manual_seed(0)
    for a, b in zip(make(), first, strict=True):
        np.testing.assert_array_equal(a, b)
    # The numbers are the default generator's, seeded as np.random.default_rng(0) is.
    for a, b in zip(first, numpy_draws(np.random.default_rng(0)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15)


def test_explicit_seeds_keep_their_numbers():
    ad.manual_seed(1)  # (whatever the default generator's state: not used)
    layer = nn.Linear(3, 2, seed=4)
    for a, b in zip(layer.state_dict().values(), _linear_draws(np.random.default_rng(4), 3, 2),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    gen = np.random.default_rng(4)
    assert nn.Linear(3, 2, seed=gen).weight.numpy().tolist() == layer.weight.numpy().tolist()
    with pytest.raises(TypeError, match="Linear: seed must be"):
        nn.Linear(3, 2, seed="zero")


# ----- nn.utils clipping -------------------------------------------------------------------------

def _params_with_grads(rng, dtype=np.float64):
    shapes = [(3, 4), (4,), (2, 2, 2)]
    params = [ad.tensor(rng.standard_normal(s), requires_grad=True, dtype=dtype)
              for s in shapes]
    for p in params:
        p.grad = ad.tensor(rng.standard_normal(p.shape) * 3, dtype=dtype)
    params.append(ad.zeros(2, requires_grad=True))  # no .grad: skipped
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_closed_form(rng, norm_type, max_norm):
    params = _params_with_grads(rng)
    grads = [p.grad.numpy().copy() for p in params[:3]]
    flat = np.concatenate([g.ravel() for g in grads])
    total = (np.abs(flat).max() if norm_type == math.inf
             else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type))
    got = nn.utils.clip_grad_norm_(iter(params), max_norm, norm_type)
    assert isinstance(got, ad.Tensor) and got.shape == () and got.dtype == np.float64
    np.testing.assert_allclose(got.item(), total, rtol=1e-12)
    coef = min(1.0, max_norm / (total + 1e-6))
    for p, g in zip(params, grads, strict=False):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    assert params[3].grad is None


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
def test_clip_grad_norm_and_value_match_torch(rng, dtype, norm_type):
    torch = _torch()
    params = _params_with_grads(rng, dtype)
    tparams = [torch.nn.Parameter(torch.from_numpy(p.numpy().copy())) for p in params]
    for p, tp in zip(params, tparams, strict=True):
        tp.grad = None if p.grad is None else torch.from_numpy(p.grad.numpy().copy())
    got = nn.utils.clip_grad_norm_(params, 1.0, norm_type)
    want = torch.nn.utils.clip_grad_norm_(tparams, 1.0, norm_type)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert got.dtype == dtype
    np.testing.assert_allclose(got.item(), want.item(), rtol=rtol)
    for p, tp in zip(params[:3], tparams, strict=False):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol)
    for p, tp in zip(params[:3], tparams, strict=False):  # (the same input, to the bit)
        tp.grad = torch.from_numpy(p.grad.numpy().copy())
    nn.utils.clip_grad_value_(params, 0.01)
    torch.nn.utils.clip_grad_value_(tparams, 0.01)
    for p, tp in zip(params[:3], tparams, strict=False):
        np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_clip_grad_edge_cases():
    assert nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    w = ad.tensor([1.0, 2.0], requires_grad=True)
    w.grad = ad.tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(w, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(w.grad.numpy(), [np.inf, 1.0])  # untouched after the error
    w.grad = ad.tensor([-5.0, 0.5])
    assert nn.utils.clip_grad_value_(w, 1) is None
    np.testing.assert_array_equal(w.grad.numpy(), [-1.0, 0.5])
    with pytest.raises(TypeError, match="clip_grad_value_: parameter 0 is a ndarray"):
        nn.utils.clip_grad_value_([np.zeros(2)], 1.0)

"""ad.save / ad.load: exact round trips, the plain .npz layout, no pickle, checkpoints.

References: the objects saved (compared bit for bit, types included), numpy's own
np.load / np.savez, and PyTorch's load_state_dict where torch is importable.
"""

import io
import zipfile

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import nn
from pyautodiff.serialization import TREE


def _same(a, b):
    """Equal values of equal types, recursively; arrays to the bit (NaN payloads, -0.0)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, (ad.Tensor, np.ndarray, np.generic)):
        a, b = (np.asarray(v.numpy() if isinstance(v, ad.Tensor) else v) for v in (a, b))
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes()
    else:
        assert a == b


def _roundtrip(obj, tmp_path=None):
    if tmp_path is None:
        f = io.BytesIO()
        ad.save(obj, f)
        f.seek(0)
        return ad.load(f)
    path = tmp_path / "ckpt"  # (no suffix: written as given)
    ad.save(obj, path)
    return ad.load(path)


def test_flat_state_dict_is_a_plain_npz(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4, seed=0), nn.Tanh(), nn.Linear(4, 2, seed=1,
                                                                        dtype=np.float32))
    sd = model.state_dict()
    sd["2.bias"][0] = np.float32(np.nan)
    back = _roundtrip(sd, tmp_path)
    _same(back, dict(sd))
    with np.load(tmp_path / "ckpt", allow_pickle=False) as npz:  # readable by numpy alone
        assert npz.files == list(sd) and TREE not in npz.files
        _same({k: npz[k] for k in npz.files}, dict(sd))
    model2 = nn.Sequential(nn.Linear(3, 4, seed=5), nn.Tanh(), nn.Linear(4, 2, seed=6,
                                                                         dtype=np.float32))
    model2.load_state_dict(back)
    _same(model2.state_dict(), sd)


def test_nested_checkpoint_round_trip_exact():
    obj = {
        "model": {"0.weight": np.arange(6.0).reshape(2, 3), "0.bias": np.float32([-0.0, 1])},
        "opt": {"state": {0: {"momentum_buffer": np.ones(3), "step": 10},
                          1: {"momentum_buffer": None}},
                "param_groups": [{"params": [0, 1], "lr": 0.1, "betas": (0.9, 0.999),
                                  "nesterov": False, "name": "body", "eps": 1e-8}]},
        "step": 10, "loss": float("nan"), "big": 2**62, "tiny": 5e-324, "inf": -np.inf,
        "counts": np.int64(3), "flag": np.bool_(True), "empty": [], "none": None,
        "w": ad.tensor([1.0, 2.0], requires_grad=True), "label": "", "words": ("a", "b/c"),
    }
    back = _roundtrip(obj)
    _same(back, obj)
    assert back["w"].requires_grad and back["w"].is_leaf


def test_keys_that_savez_refuses_and_file_objects(tmp_path):
    sd = {"file": np.ones(2), "allow_pickle": np.zeros(1), "a/b": np.arange(3)}
    _same(_roundtrip(sd, tmp_path), sd)
    np.savez(tmp_path / "plain.npz", w=np.ones(2), b=np.zeros(3, np.float32))
    _same(ad.load(tmp_path / "plain.npz"), {"w": np.ones(2), "b": np.zeros(3, np.float32)})


def test_save_refuses_what_it_cannot_store_exactly():
    cases = [
        ({"m": nn.Linear(1, 1, seed=0)}, TypeError, r"a Linear at 'm' \(save its state_dict"),
        ({"o": np.array([None], dtype=object)}, TypeError, "'o' is an array of dtype object"),
        ({"k": {1.5: np.ones(1)}}, TypeError, "key 1.5 at 'k' is a float"),
        ({"a/b": 1, "a": {"b": 2}}, ValueError, "two entries would be stored under the name 'a/b'"),
        ({TREE: 1}, ValueError, "two entries"),
        ({"n": 2**64}, ValueError, "does not fit in int64"),
        ({"s": {1, 2}}, TypeError, "cannot store a set at 's'"),
    ]
    for obj, error, match in cases:
        with pytest.raises(error, match=match):
            ad.save(obj, io.BytesIO())


def test_load_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))  # numpy pickles object arrays
    with pytest.raises(ValueError, match="allow_pickle=False"):
        ad.load(path)
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match="one .npy array, not an .npz archive"):
        ad.load(tmp_path / "one.npy")
    with zipfile.ZipFile(tmp_path / "bad.npz", "w") as zf:  # a zip member that is no .npy
        zf.writestr("x.npy", b"not an array")
    with pytest.raises(ValueError, match="load: the entry 'x' is not an .npy array"):
        ad.load(tmp_path / "bad.npz")


def _train(model, opt, X, y, steps):
    for _ in range(steps):
        opt.zero_grad()
        nn.mse_loss(model(X), y).backward()
        opt.step()


def _setup():
    rng = np.random.default_rng(0)
    X, y = ad.tensor(rng.standard_normal((16, 3))), rng.standard_normal((16, 1))
    model = nn.Sequential(nn.Linear(3, 8, seed=0), nn.Tanh(), nn.Linear(8, 1, seed=1))
    return model, X, y


def test_model_checkpoint_resumes_forward_and_training(backend, tmp_path):
    model, X, y = _setup()
    _train(model, ad.optim.SGD(model.parameters(), lr=0.05), X, y, 5)
    ad.save({"model": model.state_dict(), "step": 5}, tmp_path / "ckpt.npz")
    ckpt = ad.load(tmp_path / "ckpt.npz")
    fresh, _, _ = _setup()
    fresh.load_state_dict(ckpt["model"])
    assert ckpt["step"] == 5
    np.testing.assert_array_equal(fresh(X).numpy(), model(X).numpy())
    # Plain SGD keeps no state: resuming from the checkpoint equals carrying on, bit for bit.
    _train(model, ad.optim.SGD(model.parameters(), lr=0.05), X, y, 3)
    _train(fresh, ad.optim.SGD(fresh.parameters(), lr=0.05), X, y, 3)
    _same(fresh.state_dict(), model.state_dict())


@pytest.mark.parametrize("make", [lambda ps: ad.optim.SGD(ps, lr=0.05, momentum=0.9),
                                  lambda ps: ad.optim.Adam(ps, lr=0.01)], ids=["sgd", "adam"])
def test_checkpoint_with_optimizer_resumes_bit_for_bit(backend, tmp_path, make):
    model, X, y = _setup()
    opt = make(model.parameters())
    _train(model, opt, X, y, 10)
    ad.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": 10},
            tmp_path / "ckpt.npz")
    _train(model, opt, X, y, 10)  # the uninterrupted run
    ckpt = ad.load(tmp_path / "ckpt.npz")
    resumed, _, _ = _setup()
    resumed.load_state_dict(ckpt["model"])
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(ckpt["opt"])
    _train(resumed, opt2, X, y, 10)
    _same(resumed.state_dict(), model.state_dict())


def test_saved_weights_load_into_torch(tmp_path):
    torch = pytest.importorskip("torch")
    model, X, _ = _setup()
    ad.save(model.state_dict(), tmp_path / "w.npz")
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 1)).double()
    with np.load(tmp_path / "w.npz") as npz:
        theirs.load_state_dict({k: torch.from_numpy(npz[k]) for k in npz.files})
    with torch.no_grad():
        want = theirs(torch.from_numpy(X.numpy())).numpy()
    np.testing.assert_allclose(model(X).numpy(), want, rtol=1e-12, atol=1e-14)

"""ad.data: batches, TensorDataset and DataLoader.

References: the index bookkeeping written out in numpy (every sample once, rows of X
and y kept together, batch sizes), and PyTorch's DataLoader where torch is importable.
"""

import numpy as np
import pytest

import pyautodiff as ad


def _data(n=10, d=3):
    # Row i of X holds i in every column, so a batch tells which samples it holds.
    X = np.repeat(np.arange(n, dtype=np.float64)[:, None], d, axis=1)
    return X, np.arange(n) * 10


@pytest.mark.parametrize(("n", "batch_size", "drop_last", "sizes"), [
    (10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, True, [3, 3, 3]),
    (2, 5, False, [2]), (2, 5, True, []), (0, 4, False, []),
])
@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_cover_every_sample_once(n, batch_size, drop_last, sizes, shuffle):
    X, y = _data(n)
    out = list(ad.data.batches(X, y, batch_size, shuffle=shuffle, seed=1, drop_last=drop_last))
    assert [len(xb) for xb, _ in out] == sizes
    ids = np.concatenate([xb[:, 0] for xb, _ in out]) if out else np.zeros(0)
    for xb, yb in out:
        assert xb.dtype == X.dtype and yb.dtype == y.dtype
        np.testing.assert_array_equal(yb, xb[:, 0] * 10)  # rows of X and y stay together
    if shuffle:
        assert len(set(ids)) == len(ids) and set(ids) <= set(range(n))
    else:
        np.testing.assert_array_equal(ids, np.arange(len(ids)))


def test_batches_order_follows_the_seed():
    X, _ = _data(50)

    def order(**kw):
        return np.concatenate([xb[:, 0] for xb in ad.data.batches(X, batch_size=7, **kw)])

    np.testing.assert_array_equal(order(seed=3), np.random.default_rng(3).permutation(50))
    np.testing.assert_array_equal(order(seed=3), order(seed=3))
    assert not np.array_equal(order(seed=3), order(seed=4))
    gen = np.random.default_rng(3)  # a Generator: a new order each call, reproducibly
    first, second = order(seed=gen), order(seed=gen)
    ref = np.random.default_rng(3)
    np.testing.assert_array_equal(first, ref.permutation(50))
    np.testing.assert_array_equal(second, ref.permutation(50))


def test_batches_default_generator_is_seeded_by_manual_seed():
    if not hasattr(ad, "manual_seed"):
        pytest.skip("ad.manual_seed is not in this build")
    X, _ = _data(30)
    orders = []
    for _ in range(2):
        ad.manual_seed(11)
        orders.append(np.concatenate([xb[:, 0] for xb in ad.data.batches(X, batch_size=4)]))
    np.testing.assert_array_equal(orders[0], orders[1])
    assert not np.array_equal(orders[0], np.arange(30))


@pytest.mark.parametrize("n", [3, 70000])
def test_batches_of_tensors_are_tensors_and_copies(backend, n):
    X, y = _data(n, d=2)
    Xt = ad.tensor(X, requires_grad=True)
    out = list(ad.data.batches(Xt, y, batch_size=max(n // 3, 1), seed=0))
    for xb, yb in out:
        assert isinstance(xb, ad.Tensor) and type(yb) is np.ndarray
        assert not np.shares_memory(xb.numpy(), X) and not np.shares_memory(yb, y)
        np.testing.assert_array_equal(yb, xb.numpy()[:, 0] * 10)
    # Gathered by indexing: the gradient of a batch reaches the rows it took.
    xb, _ = out[0]
    (xb * 2.0).sum().backward()
    rows = xb.numpy()[:, 0].astype(int)
    expected = np.zeros_like(X)
    expected[rows] = 2.0
    np.testing.assert_array_equal(Xt.grad.numpy(), expected)
    xb_np = next(ad.data.batches(X, batch_size=2, shuffle=False))
    xb_np[...] = -1.0  # writing a batch never changes the data
    assert X.min() == 0.0


def test_batches_errors():
    X, y = _data(5)
    with pytest.raises(ValueError, match=r"batches: X has 5 samples and y has 4"):
        ad.data.batches(X, y[:4])
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batches: batch_size must be a positive int"):
            ad.data.batches(X, batch_size=bad)
    with pytest.raises(ValueError, match=r"batches: X of shape \(\) has no sample axis"):
        ad.data.batches(np.float64(1.0))


def test_tensor_dataset_and_dataloader():
    X, y = _data(7)
    ds = ad.data.TensorDataset(ad.tensor(X), y)
    assert len(ds) == 7
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3.numpy(), X[3])
    assert y3 == 30
    loader = ad.data.DataLoader(ds, batch_size=3)
    assert len(loader) == 3 and len(ad.data.DataLoader(ds, 3, drop_last=True)) == 2
    out = list(loader)
    assert all(isinstance(b, list) and len(b) == 2 for b in out)
    np.testing.assert_array_equal(np.concatenate([xb.numpy() for xb, _ in out]), X)
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in out]), y)
    # Shuffled: each pass a new order drawn from the generator.
    shuffled = ad.data.DataLoader(ds, batch_size=3, shuffle=True,
                                  generator=np.random.default_rng(5))
    ref = np.random.default_rng(5)
    for _ in range(2):
        order = np.concatenate([yb for _, yb in shuffled]) // 10
        np.testing.assert_array_equal(order, ref.permutation(7))
    with pytest.raises(ValueError, match="TensorDataset: size mismatch.*\\(7, 6\\)"):
        ad.data.TensorDataset(X, y[:6])
    with pytest.raises(TypeError, match="DataLoader: generator must be a numpy Generator"):
        ad.data.DataLoader(ds, generator=3)


class _Pairs:
    """A map-style dataset of (Tensor, int, dict) samples, as a user would write one."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return ad.tensor([i, -i]), i, {"w": np.float64(i) / 2}


def test_dataloader_collates_a_custom_dataset():
    out = list(ad.data.DataLoader(_Pairs(), batch_size=2))
    assert len(out) == 3
    xb, ib, db = out[0]
    assert isinstance(xb, ad.Tensor)
    np.testing.assert_array_equal(xb.numpy(), [[0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_array_equal(ib, [0, 1])
    assert ib.dtype.kind == "i"
    np.testing.assert_array_equal(db["w"], [0.0, 0.5])
    assert out[-1][0].shape == (1, 2)


def test_dataloader_matches_torch():
    torch = pytest.importorskip("torch")
    X, y = _data(11)
    ours = ad.data.DataLoader(ad.data.TensorDataset(ad.tensor(X), y), batch_size=4)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=4)
    assert len(ours) == len(theirs)
    for (xb, yb), (txb, tyb) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(xb.numpy(), txb.numpy())
        np.testing.assert_array_equal(yb, tyb.numpy())
    assert type(next(iter(ours))) is type(next(iter(theirs)))  # (a list of fields)

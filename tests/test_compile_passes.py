"""compile_passes: each pass shortens the recorded program and the replay stays bitwise eager."""

import warnings

import numpy as np
import pytest

import pyautodiff as ad
from pyautodiff import compile_passes, nn, optim
from pyautodiff.backends import numpy_backend
from pyautodiff.compile import _Slot


def _bits(a):
    a = a._data if isinstance(a, ad.Tensor) else np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


# Steps where each pass has work: (w, x) -> loss, all with backward and an SGD update.
def _mean_loss(w, x):  # mean's root gradient: ones / n, a constant
    return ((x * w - 1.0) ** 2).mean()


def _dead(w, x):
    _ = ad.exp(w * x) + 1.0  # computed, never read
    return ((x * w) ** 2).sum()


def _repeated(w, x):
    return (ad.tanh(x * w) + ad.tanh(x * w)).sum()


def _zero(w, x):
    return ((x * w - 0.0) ** 2).sum()


CASES = {"fold": _mean_loss, "dce": _dead, "cse": _repeated, "zero_skip": _zero}


def _step(body, w, opt):
    def step(x):
        opt.zero_grad()
        loss = body(w, x)
        loss.backward()
        opt.step()
        return loss

    return step


def _counting(monkeypatch, passes):
    """Make compile run only ``passes``; returns the list of (before, after) lengths."""
    seen, real = [], compile_passes.optimize

    def optimize(prog, spec, arrays):
        new, spec = real(prog, spec, arrays, passes)
        seen.append((len(prog), len(new)))
        return new, spec

    monkeypatch.setattr(compile_passes, "optimize", optimize)
    return seen


def _train_both(make, dtype, n, rng, calls=6):
    """Run the same step eagerly and compiled on new values each call; compare bitwise."""
    w0 = rng.uniform(-1, 1, n).astype(dtype)
    w1, w2 = ad.tensor(w0, requires_grad=True), ad.tensor(w0, requires_grad=True)
    o1, o2 = optim.SGD([w1], lr=0.01, momentum=0.9), optim.SGD([w2], lr=0.01, momentum=0.9)
    eager, step = make(w1, o1), ad.compile(make(w2, o2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to eager would hide the replay
        for _ in range(calls):
            x = rng.standard_normal(n).astype(dtype)
            assert _bits(step(x)) == _bits(eager(x))
            assert _bits(w2) == _bits(w1) and _bits(w2.grad) == _bits(w1.grad)
    assert o1.state[0].keys() == o2.state[0].keys()
    assert all(_bits(o2.state[0][k]) == _bits(o1.state[0][k]) for k in o1.state[0])
    return step.cache_info()


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("n", [3, 70000])
def test_each_pass_shortens_the_program_and_stays_bitwise(backend, dtype, name, n, rng,
                                                          monkeypatch):
    seen = _counting(monkeypatch, (getattr(compile_passes, name),))
    info = _train_both(lambda w, o: _step(CASES[name], w, o), dtype, n, rng)
    assert info.replays >= 3 and info.eager == 0
    assert seen and all(after < before for before, after in seen), seen


def _mse_step(model, opt):
    def step(x, t):
        opt.zero_grad()
        loss = nn.mse_loss(model(x), t)
        loss.backward()
        opt.step()
        return loss

    return step


def test_all_passes_on_linear_and_mlp_steps(backend, rng, monkeypatch):
    seen = _counting(monkeypatch, compile_passes.PASSES)
    X, T = rng.standard_normal((50, 3)), rng.standard_normal((50, 1))
    for model in (nn.Linear(3, 1, seed=1),
                  nn.Sequential(nn.Linear(3, 8, seed=1), nn.Tanh(), nn.Linear(8, 1, seed=2))):
        opt = optim.Adam(model.parameters(), lr=0.01)
        step = _mse_step(model, opt)
        compiled = ad.compile(step)
        # the same model, trained eagerly on the same data from a copy of its state
        for _ in range(4):
            params = [p.data.copy() for p in model.parameters()]
            state = [{k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in s.items()}
                     for s in opt.state]
            out = compiled(X, T)
            got = [p.data.copy() for p in model.parameters()]
            for p, v in zip(model.parameters(), params):
                p.data[...] = v
            for s, v in zip(opt.state, state):
                s.clear()
                s.update(v)
            assert _bits(step(X, T)) == _bits(out)
            assert all(_bits(p) == _bits(g) for p, g in zip(model.parameters(), got))
    assert all(after < before for before, after in seen), seen


def test_logistic_regression_replays_bitwise(backend, dtype, rng):
    # maximum's mask, sign, a float64 numpy target and the cast of a float64 mask's
    # product to float32 all used to run outside the recorded kernels
    X = rng.standard_normal((30, 4)).astype(dtype)
    t = (rng.random((30, 1)) > 0.5).astype(np.float64)
    m1, m2 = nn.Linear(4, 1, seed=3, dtype=dtype), nn.Linear(4, 1, seed=3, dtype=dtype)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)

    def make(m, o):
        def step(x):
            o.zero_grad()
            loss = nn.binary_cross_entropy_with_logits(m(x), t)
            loss.backward()
            o.step()
            return loss

        return step

    eager, step = make(m1, o1), ad.compile(make(m2, o2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(8):
            x = X * (1 + 0.1 * i)
            x[0, 0] = 0.0 if i == 3 else x[0, 0]  # (ties are data: the mask is replayed)
            assert _bits(step(x)) == _bits(eager(x))
    for p, q in zip(m1.parameters(), m2.parameters()):
        assert _bits(p) == _bits(q) and _bits(p.grad) == _bits(q.grad)
    assert step.cache_info().replays >= 5


# ----- the passes on hand-written programs: what they must not touch ----------------------

S = [_Slot(i) for i in range(8)]
ACC = numpy_backend.acc


def _run(prog, inputs, out):
    vals = dict(inputs)
    for ins in prog:
        if ins[0] == "call":
            _, f, refs, _, o = ins
            vals[o] = f(*[vals[r] if type(r) is _Slot else r for r in refs])
        elif ins[0] == "ones":
            vals[ins[1]] = np.ones(ins[2], ins[3])
    return vals[out]


@pytest.mark.parametrize("prog, out, length", [
    # an acc between two equal calls writes their operand: both stay
    ([("call", np.exp, (S[0],), None, S[1]), ("call", ACC, (S[0], S[1]), None, S[0]),
      ("call", np.exp, (S[0],), None, S[2]), ("call", np.add, (S[1], S[2]), None, S[3])],
     S[3], 4),
    # a result written in place later is not shared with its twin
    ([("call", np.exp, (S[0],), None, S[1]), ("call", np.exp, (S[0],), None, S[2]),
      ("call", ACC, (S[1], S[0]), None, S[1]), ("call", np.add, (S[1], S[2]), None, S[3])],
     S[3], 4),
    # ones written in place is not a constant
    ([("ones", S[1], (3,), np.float64), ("call", ACC, (S[1], S[0]), None, S[1]),
      ("call", np.exp, (S[1],), None, S[2])], S[2], 3),
    # x + (+0) is not x for x = -0.0: kept; x - (+0) is: dropped, and so is the dead exp
    ([("call", np.add, (S[0], 0.0), None, S[1]), ("call", np.subtract, (S[1], 0.0), None,
      S[2]), ("call", np.exp, (S[2],), None, S[3])], S[2], 1),
])
def test_passes_keep_in_place_work_and_inexact_zeros(prog, out, length):
    x = np.array([-0.0, 1.5, -2.0])
    arrays = [x] * 8
    new, spec = compile_passes.optimize(prog, ("tensor", out), arrays)
    assert len(new) == length
    want = _run(prog, {S[0]: x.copy()}, out)
    assert _bits(_run(new, {S[0]: x.copy()}, spec[1])) == _bits(want)

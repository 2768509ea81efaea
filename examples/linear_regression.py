"""Linear regression by full-batch gradient descent, with raw pyautodiff tensors.

We draw a synthetic data set (200 samples, 3 features, known weights and bias, a little
Gaussian noise) from a seeded numpy Generator, then fit weights ``w`` (shape (3,)) and bias
``b`` (shape ()) by minimising the mean squared error

    loss = mean((X @ w + b - y) ** 2)

with plain gradient descent: ``loss.backward()`` fills ``w.grad`` and ``b.grad``, the update
runs under ``ad.no_grad()``, and the gradients are cleared before the next step.

The least-squares problem has a closed-form answer, so we check the fit against
``numpy.linalg.lstsq`` (with a column of ones for the bias). Gradient descent stops early once
the gradient norm falls below 1e-10 and should then agree with lstsq within 1e-6.

Run:  python examples/linear_regression.py [--steps N] [--lr LR]
"""

import argparse
import sys

import numpy as np

import pyautodiff as ad

N_SAMPLES = 200
TRUE_W = np.array([2.0, -3.5, 0.5])
TRUE_B = 1.25
NOISE = 0.1
GRAD_TOL = 1e-10
FIT_TOL = 1e-6


def make_data(seed=0):
    """Return ``(X, y)``: standard-normal features and noisy linear targets."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_SAMPLES, TRUE_W.size))
    y = X @ TRUE_W + TRUE_B + NOISE * rng.standard_normal(N_SAMPLES)
    return X, y


def fit(X, y, steps, lr, print_every=25):
    """Fit ``w`` and ``b`` by gradient descent on the MSE; return them as numpy values."""
    X_t = ad.tensor(X)
    y_t = ad.tensor(y)
    w = ad.zeros(X.shape[1], requires_grad=True)
    b = ad.zeros((), requires_grad=True)

    for step in range(steps + 1):
        pred = X_t @ w + b
        loss = ((pred - y_t) ** 2).mean()
        loss.backward()

        grad_norm = float(np.sqrt(np.sum(w.grad.data**2) + np.sum(b.grad.data**2)))
        done = grad_norm < GRAD_TOL or step == steps
        if step % print_every == 0 or done:
            print(f"step {step:5d}  loss {loss.item():.12f}  |grad| {grad_norm:.3e}")
        if done:
            break

        with ad.no_grad():
            w.data = w.data - lr * w.grad.data
            b.data = b.data - lr * b.grad.data
        w.grad = None
        b.grad = None

    return w.numpy().copy(), float(b.item())


def main(argv=None):
    """Run the fit, print the comparison table and return max |fitted - lstsq|."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="maximum number of steps")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate")
    args = parser.parse_args(argv)

    X, y = make_data()
    w_fit, b_fit = fit(X, y, args.steps, args.lr)

    A = np.column_stack([X, np.ones(len(X))])
    sol = np.linalg.lstsq(A, y, rcond=None)[0]
    w_ls, b_ls = sol[:-1], sol[-1]

    names = [f"w[{i}]" for i in range(len(w_fit))] + ["b"]
    true = list(TRUE_W) + [TRUE_B]
    fitted = list(w_fit) + [b_fit]
    lstsq = list(w_ls) + [b_ls]

    print()
    print(f"{'parameter':<10} | {'true':>10} | {'fitted':>14} | {'lstsq':>14}")
    print(f"{'-' * 10}-+-{'-' * 10}-+-{'-' * 14}-+-{'-' * 14}")
    for name, t, f, s in zip(names, true, fitted, lstsq):
        print(f"{name:<10} | {t:>10.4f} | {f:>14.10f} | {s:>14.10f}")
    max_diff = float(np.max(np.abs(np.array(fitted) - np.array(lstsq))))
    print(f"\nmax |fitted - lstsq| = {max_diff:.3e}")
    return max_diff


if __name__ == "__main__":
    diff = main()
    if diff > FIT_TOL:
        print(f"did not reach lstsq within {FIT_TOL:g}", file=sys.stderr)
        sys.exit(1)

"""Logistic regression on two classes in the plane, with pyautodiff's ``nn`` and ``optim``.

Two overlapping Gaussian clouds of points (seeded) are the two classes. The model is
``nn.Linear(2, 1)``: its output ``z = w . x + b`` is the log-odds of class 1, so
``sigmoid(z)`` is the predicted probability and ``z = 0`` is the decision boundary, a line.
Training minimizes ``nn.binary_cross_entropy_with_logits(z, labels)``, which takes the logits
directly (computing it from ``sigmoid(z)`` would lose precision for confident predictions).

The data is split into a training set and a held-out test set; the script prints the
accuracy on both and the boundary's equation. ``--plot PATH`` draws the points and the
boundary (needs matplotlib).

Run:
    python examples/logistic_regression.py
    python examples/logistic_regression.py --optimizer sgd --steps 500 --plot boundary.png
"""

import argparse
import sys

import numpy as np

import pyautodiff as ad
from pyautodiff import nn, optim
from pyautodiff.__main__ import Progress, missing_extra

# Class centres 4.2 apart along the diagonal, unit-ish spread: a little overlap, so the best
# boundary misclassifies a few percent of points and accuracy is high but not trivially 100%
# (with no overlap the loss would have no minimum: the weights would grow for ever).
CENTRES = np.array([[-1.5, -1.5], [1.5, 1.5]])
COVARIANCE = np.array([[1.0, 0.3], [0.3, 0.8]])


def make_data(n_per_class=300, seed=0):
    """Return ``(X, labels)``: ``2 * n_per_class`` points of shape (n, 2), labels 0 or 1."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(COVARIANCE)
    X = np.concatenate([c + rng.standard_normal((n_per_class, 2)) @ chol.T for c in CENTRES])
    labels = np.repeat([0.0, 1.0], n_per_class)
    order = rng.permutation(len(X))
    return X[order], labels[order]


def split(X, labels, test_fraction=0.25):
    """Split already shuffled data into ``(X_train, y_train, X_test, y_test)``."""
    n_test = round(len(X) * test_fraction)
    return X[n_test:], labels[n_test:], X[:n_test], labels[:n_test]


def accuracy(model, X, labels):
    """The fraction of points on the right side of the model's boundary (z > 0: class 1)."""
    with ad.no_grad():
        z = model(X).numpy()[:, 0]
    return float(np.mean((z > 0) == (labels == 1)))


def train(X, labels, optimizer="sgd", lr=None, steps=300, seed=0):
    """Fit ``nn.Linear(2, 1)`` by full-batch gradient steps; return the model and the losses."""
    model = nn.Linear(2, 1, seed=seed)
    if optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=1.0 if lr is None else lr, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=0.1 if lr is None else lr)
    X = ad.tensor(X)
    targets = ad.tensor(labels[:, None])  # a column, the shape of the logits

    progress = Progress(steps)
    losses = []
    for step in range(steps + 1):
        opt.zero_grad()
        loss = nn.binary_cross_entropy_with_logits(model(X), targets)
        losses.append(loss.item())
        progress.update(step, final=step == steps, loss=f"{losses[-1]:.6f}")
        if step == steps:
            break
        loss.backward()
        opt.step()
    return model, losses


def plot(path, model, X, labels):
    """Write a PNG of the points, the predicted probability and the decision boundary."""
    import matplotlib

    matplotlib.use("Agg")  # draw to a file; no display needed
    import matplotlib.pyplot as plt

    lo, hi = X.min(axis=0) - 1, X.max(axis=0) + 1
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    with ad.no_grad():
        grid = np.column_stack([g0.ravel(), g1.ravel()])
        prob = ad.sigmoid(model(grid)).numpy().reshape(g0.shape)

    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    shade = ax.contourf(g0, g1, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.35)
    fig.colorbar(shade, ax=ax, label="P(class 1)")
    ax.contour(g0, g1, prob, levels=[0.5], colors="k", linewidths=2)
    for cls, colour in ((0, "C0"), (1, "C3")):
        pts = X[labels == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=10, color=colour, label=f"class {cls}")
    ax.set(xlabel="x1", ylabel="x2", title="logistic regression: decision boundary P = 0.5")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _signed(value):
    """``value`` as ``"+ 1.5"`` or ``"- 1.5"``, for a term in the middle of an equation."""
    return f"{'-' if value < 0 else '+'} {abs(value):.6f}"


def main(argv=None):
    """Parse the options, train, print accuracies and the boundary; return the exit status."""
    summary = __doc__.splitlines()[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="logistic_regression.py", description=summary)
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                        help="sgd (optim.SGD, momentum 0.9) or adam (optim.Adam; it needs "
                             "more steps here) (default: sgd)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: 1.0 for sgd, 0.1 for adam)")
    parser.add_argument("--steps", type=int, default=300, help="training steps (default: 300)")
    parser.add_argument("--samples", type=int, default=300,
                        help="points per class (default: 300)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the data and the initial weights (default: 0)")
    parser.add_argument("--plot", metavar="PATH",
                        help="write a PNG of the decision boundary (needs matplotlib)")
    args = parser.parse_args(argv)
    error = args.plot and missing_extra("matplotlib", "matplotlib", "--plot")
    if error:  # checked before training, not after it
        print(error, file=sys.stderr)
        return 2
    if args.steps < 0 or args.samples < 2:
        parser.error("--steps must be >= 0 and --samples >= 2")

    X, labels = make_data(args.samples, args.seed)
    X_train, y_train, X_test, y_test = split(X, labels)
    print(f"{len(X_train)} training and {len(X_test)} test points, 2 classes; "
          f"nn.Linear(2, 1), binary_cross_entropy_with_logits, {args.optimizer}")
    model, _ = train(X_train, y_train, args.optimizer, args.lr, args.steps, args.seed)

    (w1, w2), b = model.weight.numpy()[0], model.bias.numpy()[0]
    print(f"decision boundary: {w1:.6f} * x1 {_signed(w2)} * x2 {_signed(b)} = 0")
    print(f"train accuracy: {accuracy(model, X_train, y_train):.2%}")
    print(f"test accuracy: {accuracy(model, X_test, y_test):.2%}")
    if args.plot:
        plot(args.plot, model, X, labels)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

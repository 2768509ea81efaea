"""A multilayer perceptron classifies 8x8 handwritten digits, trained with pyautodiff.

The data is scikit-learn's ``load_digits``: 1797 grey-scale images of 8x8 pixels (values 0 to
16), shipped inside scikit-learn, so nothing is downloaded. The pixels are scaled to [0, 1]
and the images split (seeded) into a training set and a held-out test set.

The model is ``nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))``: ten
logits per image, one per digit, trained with ``nn.cross_entropy`` on mini-batches with
``optim.Adam`` (or ``optim.SGD`` with momentum). After training, the script prints the
accuracy on the test images, which the model never saw.

Run (needs scikit-learn):
    python examples/mlp_digits.py
    python examples/mlp_digits.py --optimizer sgd --epochs 30 --dtype float32
"""

import argparse
import sys

import numpy as np

import pyautodiff as ad
from pyautodiff import nn, optim
from pyautodiff.__main__ import Progress, missing_extra

N_CLASSES = 10


def load(test_fraction=0.2, seed=0, dtype=np.float64):
    """``(X_train, y_train, X_test, y_test)`` from ``sklearn.datasets.load_digits``.

    The split is stratified: each digit is split ``1 - test_fraction`` to ``test_fraction``,
    so both sets hold all ten digits in the data's proportions.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data / 16.0).astype(dtype)  # pixel values run from 0 to 16
    y = digits.target.astype(np.intp)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for digit in range(N_CLASSES):
        members = rng.permutation(np.flatnonzero(y == digit))
        test[members[: round(len(members) * test_fraction)]] = True
    return X[~test], y[~test], X[test], y[test]


def make_model(hidden=64, seed=0, dtype=np.float64):
    """The MLP: 64 pixels -> ``hidden`` ReLU units -> 10 logits."""
    return nn.Sequential(
        nn.Linear(64, hidden, seed=seed, dtype=dtype),
        nn.ReLU(),
        nn.Linear(hidden, N_CLASSES, seed=seed + 1, dtype=dtype),
    )


def accuracy(model, X, y):
    """The fraction of images whose largest logit is at their true digit."""
    with ad.no_grad():
        logits = model(X).numpy()
    return float(np.mean(logits.argmax(axis=1) == y))


def train(model, X, y, optimizer="adam", lr=None, epochs=20, batch_size=32, seed=0):
    """Mini-batch training with ``nn.cross_entropy``; return the mean loss of each epoch."""
    if optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=1e-2 if lr is None else lr)
    else:
        opt = optim.SGD(model.parameters(), lr=0.1 if lr is None else lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    batches = -(-len(X) // batch_size)  # ceiling division: the last batch may be smaller
    progress = Progress(epochs * batches, every=batches)
    epoch_losses = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))  # a fresh shuffle each epoch
        total, seen = 0.0, 0
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            opt.zero_grad()
            loss = nn.cross_entropy(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            step = (epoch - 1) * batches + b + 1
            # The epoch's running mean: one batch's loss jumps around too much to read.
            progress.update(step, final=step == epochs * batches, epoch=f"{epoch}/{epochs}",
                            loss=f"{total / seen:.4f}")
        epoch_losses.append(total / seen)
    return epoch_losses


def main(argv=None):
    """Parse the options, train, print the test accuracy; return the exit status."""
    summary = __doc__.splitlines()[0].replace("``", "")
    parser = argparse.ArgumentParser(prog="mlp_digits.py", description=summary)
    parser.add_argument("--epochs", type=int, default=20, help="passes over the training set "
                        "(default: 20)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step "
                        "(default: 32)")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units (default: 64)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="adam (optim.Adam) or sgd (optim.SGD, momentum 0.9) "
                             "(default: adam)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: 0.01 for adam, 0.1 for sgd)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="the dtype of the data and the parameters (default: float64)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the initial weights and the batch order "
                             "(default: 0)")
    args = parser.parse_args(argv)
    if min(args.epochs, args.batch_size, args.hidden) < 1:
        parser.error("--epochs, --batch-size and --hidden must be at least 1")
    error = missing_extra("sklearn", "scikit-learn", "this example's digits data")
    if error:
        print(error, file=sys.stderr)
        return 2
    X_train, y_train, X_test, y_test = load(seed=args.seed, dtype=np.dtype(args.dtype))

    model = make_model(args.hidden, args.seed, np.dtype(args.dtype))
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels; "
          f"MLP 64-{args.hidden}-10 (ReLU), {args.optimizer}, {args.dtype}, "
          f"{args.epochs} epochs of batches of {args.batch_size}")
    train(model, X_train, y_train, args.optimizer, args.lr, args.epochs, args.batch_size,
          args.seed)
    print(f"train accuracy: {accuracy(model, X_train, y_train):.2%}")
    test_acc = accuracy(model, X_test, y_test)
    correct = round(test_acc * len(y_test))
    print(f"test accuracy: {test_acc:.2%} ({correct}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

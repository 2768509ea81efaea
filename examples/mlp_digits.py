"""A multilayer perceptron classifies 8x8 handwritten digits, trained with pyautodiff.

The data is scikit-learn's ``load_digits``: 1797 grey-scale images of 8x8 pixels (values 0 to
16), shipped inside scikit-learn, so nothing is downloaded. The pixels are scaled to [0, 1]
and the images split (seeded) into a training set and a held-out test set.

The model is ``nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(p),
nn.Linear(hidden, 10))``: ten logits per image, one per digit, trained with
``nn.cross_entropy`` on shuffled mini-batches (``ad.data.batches``) with ``optim.Adam`` (or
``optim.SGD`` with momentum), the learning rate annealed along a cosine to zero over the run
(``optim.lr_scheduler.CosineAnnealingLR``, stepped once an epoch). Dropout zeroes a random
``p`` of the hidden units in training (``model.train()``) and none in evaluation
(``model.eval()``), when the script measures the accuracy on the test images, which the
model never saw. ``ad.manual_seed(seed)`` seeds the initial weights, the dropout masks and
the batch order, as ``torch.manual_seed`` does.

Run (needs scikit-learn):
    python examples/mlp_digits.py
    python examples/mlp_digits.py --optimizer sgd --epochs 30 --dropout 0 --dtype float32
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


def make_model(hidden=256, dropout=0.5, dtype=np.float64):
    """The MLP: 64 pixels -> ``hidden`` ReLU units (``dropout`` of them dropped in
    training) -> 10 logits. Its initial weights come from the default generator."""
    return nn.Sequential(
        nn.Linear(64, hidden, dtype=dtype),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, N_CLASSES, dtype=dtype),
    )


def accuracy(model, X, y):
    """The fraction of images whose largest logit is at their true digit (in eval mode)."""
    model.eval()
    with ad.no_grad():
        logits = model(X).numpy()
    return float(np.mean(logits.argmax(axis=1) == y))


def train(model, X, y, optimizer="adam", lr=None, epochs=20, batch_size=32):
    """Mini-batch training with ``nn.cross_entropy`` and a cosine learning-rate schedule;
    return the mean loss of each epoch."""
    if optimizer == "adam":
        opt = optim.Adam(model.parameters(), lr=2e-2 if lr is None else lr)
    else:
        opt = optim.SGD(model.parameters(), lr=0.1 if lr is None else lr, momentum=0.9)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    batches = -(-len(X) // batch_size)  # ceiling division: the last batch may be smaller
    progress = Progress(epochs * batches, every=batches)
    epoch_losses = []
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()  # (accuracy() leaves it in eval mode)
        total, seen = 0.0, 0
        for xb, yb in ad.data.batches(X, y, batch_size):  # a fresh shuffle each epoch
            opt.zero_grad()
            loss = nn.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            seen += len(yb)
            step += 1
            # The epoch's running mean: one batch's loss jumps around too much to read.
            progress.update(step, final=step == epochs * batches, epoch=f"{epoch}/{epochs}",
                            lr=f"{opt.param_groups[0]['lr']:.2e}", loss=f"{total / seen:.4f}")
        schedule.step()
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
    parser.add_argument("--hidden", type=int, default=256, help="hidden units (default: 256)")
    parser.add_argument("--dropout", type=float, default=0.5,
                        help="the fraction of hidden units dropped in training (default: 0.5)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="adam (optim.Adam) or sgd (optim.SGD, momentum 0.9) "
                             "(default: adam)")
    parser.add_argument("--lr", type=float, default=None,
                        help="initial learning rate, annealed to 0 along a cosine (default: "
                             "0.02 for adam, 0.1 for sgd)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="the dtype of the data and the parameters (default: float64)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the initial weights, the dropout masks and "
                             "the batch order (default: 0)")
    args = parser.parse_args(argv)
    if min(args.epochs, args.batch_size, args.hidden) < 1:
        parser.error("--epochs, --batch-size and --hidden must be at least 1")
    if not 0.0 <= args.dropout < 1.0:
        parser.error("--dropout must be at least 0 and less than 1")
    error = missing_extra("sklearn", "scikit-learn", "this example's digits data")
    if error:
        print(error, file=sys.stderr)
        return 2
    X_train, y_train, X_test, y_test = load(seed=args.seed, dtype=np.dtype(args.dtype))

    ad.manual_seed(args.seed)
    model = make_model(args.hidden, args.dropout, np.dtype(args.dtype))
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels; "
          f"MLP 64-{args.hidden}-10 (ReLU, dropout {args.dropout}), {args.optimizer} with "
          f"cosine annealing, {args.dtype}, {args.epochs} epochs of batches of "
          f"{args.batch_size}")
    train(model, X_train, y_train, args.optimizer, args.lr, args.epochs, args.batch_size)
    print(f"train accuracy: {accuracy(model, X_train, y_train):.2%}")
    test_acc = accuracy(model, X_test, y_test)
    correct = round(test_acc * len(y_test))
    print(f"test accuracy: {test_acc:.2%} ({correct}/{len(y_test)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Linear regression with pyautodiff's ``nn`` and ``optim``, written out step by step.

The model is ``nn.Linear(n_features, 1)``; the loss is ``nn.mse_loss``, the mean squared error;
the optimizer is ``optim.SGD`` with momentum or ``optim.Adam``. Each step clears the gradients,
computes the loss, runs ``loss.backward()`` (which fills ``.grad`` of the layer's weight and
bias) and lets the optimizer update them. Training stops once the gradient norm is below
``--tol``: the parameters then sit at the minimum of the loss.

The features and the target are standardized first (mean 0, standard deviation 1), so one
learning rate suits data in any units, and the fitted coefficients are converted back to the
original units at the end. Least squares has a closed-form answer, so the script ends by
comparing the fit with ``numpy.linalg.lstsq`` and printing R^2.

The step runs through ``ad.compile`` (one line: the decorator on ``loss_and_grads``).

This is the loop ``python -m pyautodiff`` runs (``fit`` in ``pyautodiff/__main__.py``, which
also detects divergence and times the backends); the data loading, the progress line and the
comparison table come from there too.

Run:
    python examples/linear_regression.py                        # synthetic data (seeded)
    python examples/linear_regression.py --csv data.csv --target price
    python examples/linear_regression.py --optimizer adam --plot fit.png   # needs matplotlib
"""

import sys

import numpy as np

import pyautodiff as ad
from pyautodiff import nn, optim
from pyautodiff.__main__ import (
    DataError,
    Progress,
    Standardized,
    build_parser,
    default_lr,
    load_data,
    lstsq_fit,
    missing_extra,
    print_comparison,
    select_backend,
)


def train(std, optimizer="sgd", lr=0.1, momentum=0.9, steps=10_000, tol=1e-12, seed=0):
    """Fit ``nn.Linear`` to standardized data; return ``(coef, intercept, losses, converged)``.

    ``coef`` and ``intercept`` are in the original units; ``losses`` holds the mean squared
    error (in the target's units) before each step.
    """
    X = ad.tensor(std.Z)
    y = ad.tensor(std.t[:, None])  # a column, the shape of the model's output
    model = nn.Linear(X.shape[1], 1, seed=seed)
    if optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    else:
        opt = optim.Adam(model.parameters(), lr=lr)

    # One step's forward and backward pass. ``ad.compile`` records it on the first call and
    # replays the recorded kernels after that (the same numbers, bit for bit, without the
    # Python overhead); remove the decorator to run it eagerly.
    @ad.compile
    def loss_and_grads():
        opt.zero_grad()
        loss = nn.mse_loss(model(X), y)
        loss.backward()
        return loss

    progress = Progress(steps)
    losses = []
    for step in range(steps + 1):
        loss = loss_and_grads()

        # The loss on standardized data times var(y) is the mean squared error in y's units.
        losses.append(loss.item() * std.y_std**2)
        grad_norm = np.sqrt(sum(np.sum(p.grad.numpy() ** 2) for p in model.parameters()))
        converged = grad_norm <= tol
        progress.update(step, final=converged or step == steps, loss=f"{losses[-1]:.6e}")
        if converged or step == steps:
            break
        opt.step()

    coef, intercept = std.to_original(model.weight.numpy()[0], model.bias.numpy()[0])
    return coef, intercept, losses, converged


def plot(path, data, coef, intercept, losses):
    """Write a PNG of the loss curve and of the fit.

    The fit is the data and the fitted line for one feature, else predicted against true values.
    """
    import matplotlib

    matplotlib.use("Agg")  # draw to a file; no display needed
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_fit) = plt.subplots(1, 2, figsize=(11, 4.5))
    # The loss minus its minimum (the lstsq fit's) shows the convergence: a straight line on a
    # log scale down to rounding level, where the loss itself looks flat after a few steps.
    ls_coef, ls_intercept = lstsq_fit(data.X, data.y)
    floor = np.mean((data.X @ ls_coef + ls_intercept - data.y) ** 2)
    ax_loss.semilogy(np.asarray(losses) - floor)
    ax_loss.set(xlabel="step", ylabel="MSE - minimum MSE (lstsq)", title="training loss")
    ax_loss.grid(True, which="both", alpha=0.3)

    pred = data.X @ coef + intercept
    if data.X.shape[1] == 1:
        x = data.X[:, 0]
        order = np.argsort(x)
        ax_fit.scatter(x, data.y, s=8, alpha=0.4, label="data")
        ax_fit.plot(x[order], pred[order], color="C3", label="fit")
        ax_fit.set(xlabel=data.feature_names[0], ylabel=data.target_name)
    else:
        ax_fit.scatter(data.y, pred, s=8, alpha=0.4, label="samples")
        lo, hi = min(data.y.min(), pred.min()), max(data.y.max(), pred.max())
        ax_fit.plot([lo, hi], [lo, hi], color="C3", label="perfect fit")
        ax_fit.set(xlabel=f"true {data.target_name}", ylabel=f"predicted {data.target_name}")
    ax_fit.set_title(f"fit, R^2 = {1 - np.var(data.y - pred) / np.var(data.y):.4f}")
    ax_fit.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    """Parse the options, train, print the comparison with lstsq; return the exit status."""
    summary = __doc__.splitlines()[0].replace("``", "")
    parser = build_parser(prog="linear_regression.py", description=summary)
    parser.add_argument("--plot", metavar="PATH",
                        help="write a PNG of the loss curve and the fit (needs matplotlib)")
    args = parser.parse_args(argv)
    # checked before a long run, not after it
    error = args.plot and missing_extra("matplotlib", "matplotlib", "--plot")
    if error:
        print(error, file=sys.stderr)
        return 2
    try:
        select_backend(args.backend)
        data = load_data(parser, args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in data.notes:
        print(f"note: {note}", file=sys.stderr)

    std = Standardized.of(data.X, data.y)
    lr = default_lr(args.optimizer, data.X.shape[1]) if args.lr is None else args.lr
    print(f"{data.source}: {data.X.shape[0]} rows, features {', '.join(data.feature_names)} "
          f"-> {data.target_name}; {args.optimizer}, lr {lr:g}")
    coef, intercept, losses, converged = train(
        std, args.optimizer, lr, args.momentum, args.steps, args.tol, args.seed
    )
    print("converged" if converged else f"not converged within {args.steps} steps")
    print()
    print_comparison(data, coef, intercept)
    if args.plot:
        plot(args.plot, data, coef, intercept, losses)
        print(f"plot written to {args.plot}")
    return 0 if converged else 1


if __name__ == "__main__":
    sys.exit(main())

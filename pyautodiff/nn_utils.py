"""``nn.utils``: gradient clipping, in place on the ``.grad`` of parameters, as PyTorch's."""

import numpy as np

from . import memory
from .tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters, where):
    """The ``.grad`` arrays of ``parameters`` (a Tensor or an iterable of them) that have one."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameter {i} is a {type(p).__name__}, expected a Tensor")
    return [p.grad._data for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the gradients of ``parameters`` so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients together (``inf`` for the
    largest magnitude), computed as PyTorch does (the norm of the gradients' norms);
    every gradient is then multiplied by ``min(1, max_norm / (total + 1e-6))`` in place.

    Returns
    -------
    Tensor
        The total norm before clipping (0-d, in the gradients' dtype).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = ad.tensor([3.0, 4.0], requires_grad=True)
    >>> w.grad = ad.tensor([3.0, 4.0])
    >>> nn.utils.clip_grad_norm_([w], max_norm=1.0)
    Tensor(5., dtype=float64)
    >>> w.grad.numpy().round(6)  # (the 1e-6 keeps the norm just under 1)
    array([0.6, 0.8])
    """
    grads = _grads(parameters, "clip_grad_norm_")
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    norms = np.stack([np.linalg.norm(g.ravel(), norm_type) for g in grads])
    total = np.linalg.norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            "non-finite, so it cannot be clipped; to scale the gradients by it anyway, set "
            "error_if_nonfinite=False"
        )
    # PyTorch computes the coefficient in the norm's dtype (its Python floats are cast to it).
    dt = total.dtype.type
    coef = np.minimum(dt(max_norm) / (total + dt(1e-6)), dt(1.0))
    for i, g in enumerate(grads):
        with memory.writing(g, f"clip_grad_norm_: gradient {i}"):
            np.multiply(g, coef, out=g, casting="unsafe")
    return Tensor(total)


def clip_grad_value_(parameters, clip_value):
    """Clip the gradients of ``parameters`` to ``[-clip_value, clip_value]`` in place.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> from pyautodiff import nn
    >>> w = ad.tensor([1.0, 1.0, 1.0], requires_grad=True)
    >>> w.grad = ad.tensor([-3.0, 0.5, 2.0])
    >>> nn.utils.clip_grad_value_([w], 1.0)
    >>> w.grad
    Tensor([-1. ,  0.5,  1. ], dtype=float64)
    """
    clip_value = float(clip_value)
    for i, g in enumerate(_grads(parameters, "clip_grad_value_")):
        with memory.writing(g, f"clip_grad_value_: gradient {i}"):
            np.clip(g, -clip_value, clip_value, out=g)

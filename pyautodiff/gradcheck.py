"""Check analytic gradients against central finite differences, in float64.

The analytic side is the full Jacobian from ``jacobian`` (one backward pass per
output element); the numeric side perturbs one input element at a time by
``+-eps`` and evaluates ``f`` without recording. Checking every entry of the
Jacobian, as ``torch.autograd.gradcheck`` does by default, rather than a random
projection of it, means errors that would cancel in a weighted sum cannot hide,
and the report can name the exact output and input elements that disagree.
"""

import numbers

import numpy as np

from .engine import no_grad
from .functional import _jacobian
from .tensor import Tensor

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytic and numeric gradients disagree.

    An ``AssertionError``, not a ``ValueError``: the arguments were fine, it is the
    code under test (a VJP, a custom function) that failed a check, so test
    runners report it as a failed assertion and ``pytest.raises(AssertionError)``
    catches it, as for ``numpy.testing``. It is raised explicitly, so ``python -O``
    (which strips ``assert`` statements) does not silence it.

    Examples
    --------
    >>> import pyautodiff as ad
    >>> issubclass(ad.GradcheckError, AssertionError)
    True
    """


def _inputs(inputs):
    """The inputs as a list, and which of them are checked (converted to float64).

    Float data (float arrays, float Tensors, Python numbers, nested lists) is
    checked; integer and bool numpy arrays, and bool Tensors, pass through
    unchanged as constants (labels, masks).
    """
    if not isinstance(inputs, (tuple, list)):
        inputs = (inputs,)
    values, checked = [], []
    for i, x in enumerate(inputs):
        data = x._data if isinstance(x, Tensor) else x
        if isinstance(data, np.ndarray) and data.dtype.kind in "biu":
            values.append(x)
            continue
        if isinstance(data, (bool, np.bool_)) or not isinstance(
                data, (np.ndarray, numbers.Real, list, tuple, np.generic)):
            raise TypeError(
                f"gradcheck: input {i} is {type(x).__name__}, expected an array, a Tensor "
                "or a number"
            )
        try:
            values.append(np.array(data, dtype=np.float64))
        except (TypeError, ValueError) as e:
            raise TypeError(f"gradcheck: input {i}: {e}") from None
        checked.append(i)
    return values, checked


def _evaluate(f, values):
    """``f`` at the float64 arrays ``values``, unrecorded, as a float64 array."""
    with no_grad():
        out = f(*[Tensor(v) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
                  for v in values])
    if isinstance(out, Tensor):
        out = out._data
    elif isinstance(out, (tuple, list)):
        raise TypeError(f"gradcheck: f must return one Tensor, got a {type(out).__name__}")
    return np.asarray(out, dtype=np.float64)


def _numeric_jacobian(f, values, i, out_shape, eps):
    """d f / d values[i] by central differences, shape ``out_shape + values[i].shape``."""
    x = values[i]
    jac = np.zeros(out_shape + x.shape)
    for idx in np.ndindex(x.shape):
        point = list(values)
        shifted = x.copy()
        point[i] = shifted
        shifted[idx] = x[idx] + eps
        plus = _evaluate(f, point)
        shifted[idx] = x[idx] - eps
        minus = _evaluate(f, point)
        jac[(Ellipsis,) + idx] = (plus - minus) / (2 * eps)
    return jac


def _fmt(index):
    return str(tuple(int(k) for k in index))


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-3):
    """Compare the analytic Jacobian of ``f`` with central finite differences.

    Parameters
    ----------
    f : callable
        Takes one Tensor per input and returns a Tensor (any shape).
    inputs : array, Tensor, number, or a tuple/list of them
        The point to check at. A tuple or list is a sequence of inputs (wrap a
        nested list that is one input in a tuple). Every input with float data is
        converted to float64 and checked; integer and bool arrays are passed to
        ``f`` unchanged and not differentiated. Nothing passed is modified.
    eps : float
        The step of the central difference ``(f(x + eps) - f(x - eps)) / (2 eps)``.
    atol, rtol : float
        Entry ``(a, n)`` (analytic, numeric) passes when
        ``|a - n| <= atol + rtol * |n|``, as ``numpy.allclose``.

    Returns
    -------
    True
        When every entry of every input's Jacobian passes.

    Raises
    ------
    GradcheckError
        Naming the input, the input element, the output element and both values
        of the worst entry (the largest ``|a - n| / (atol + rtol * |n|)``; a NaN
        on either side counts as worst).

    Examples
    --------
    >>> import pyautodiff as ad
    >>> ad.gradcheck(lambda x: ad.sin(x) * x, [[0.5, 1.0, 2.0]])
    True
    >>> try:  # detach() hides half of the product rule from backward()
    ...     ad.gradcheck(lambda x: x * x.detach(), (2.0,))
    ... except ad.GradcheckError as e:
    ...     print(str(e).partition(" vs ")[0])
    gradcheck: input 0, element (), output element (): analytic 2.0
    """
    values, checked = _inputs(inputs)
    if not checked:
        return True
    out_shape = _evaluate(f, values).shape
    with no_grad():  # the analytic Jacobian is a plain value: nothing records it
        # warn=False: a path backward() misses is this function's to report, as an error.
        analytic = _jacobian(f, tuple(checked), "gradcheck", warn=False)(
            *[Tensor(v) if i in checked else v for i, v in enumerate(values)])
    worst = None
    for i, a in zip(checked, analytic):
        a = a._data.astype(np.float64)
        n = _numeric_jacobian(f, values, i, out_shape, eps)
        if a.shape != n.shape:
            raise GradcheckError(
                f"gradcheck: input {i}: analytic Jacobian of shape {a.shape}, "
                f"numeric {n.shape}"
            )
        with np.errstate(invalid="ignore"):
            score = np.abs(a - n) / (atol + rtol * np.abs(n))
        score = np.where(np.isnan(score), np.inf, score)
        if score.size == 0:
            continue
        k = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[k] > 1 and (worst is None or score[k] > worst[0]):
            worst = (score[k], i, k, a[k], n[k])
    if worst is None:
        return True
    _, i, k, a, n = worst
    nout = len(out_shape)
    raise GradcheckError(
        f"gradcheck: input {i}, element {_fmt(k[nout:])}, output element {_fmt(k[:nout])}: "
        f"analytic {float(a)!r} vs numeric {float(n)!r} (|difference| {abs(a - n):.3g} > "
        f"atol + rtol * |numeric| = {atol + rtol * abs(n):.3g})"
    )

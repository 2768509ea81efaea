"""Both backends give the same values and gradients (API.md: float64 within 1e-12
relative, float32 within 1e-5 relative), for every row of OP_CASES.

The numpy backend is the reference. Until the C core is built these tests skip
(or fail, with PYAUTODIFF_REQUIRE_C=1; see conftest.py).
"""

import numpy as np
import pytest
from cases import OP_CASES
from gradcheck_helper import analytic_gradients, weights_for

import pyautodiff as ad

pytestmark = pytest.mark.usefixtures("require_c")

TOLERANCES = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def _values_and_grads(case, arrays, dtype, name):
    w = weights_for(np.shape(case.ref(*arrays)))
    with ad.use_backend(name):
        out, grads = analytic_gradients(case.fn, arrays, w, dtype=dtype)
    return out.numpy(), grads


@pytest.mark.parametrize("case", OP_CASES, ids=[c.id for c in OP_CASES])
def test_backend_parity_values_and_gradients(case, dtype, rng):
    if dtype == np.float32 and not case.float32:
        pytest.skip("float64-only case")
    arrays = case.inputs(rng)
    ref_out, ref_grads = _values_and_grads(case, arrays, dtype, "numpy")
    out, grads = _values_and_grads(case, arrays, dtype, "c")
    rtol = TOLERANCES[np.dtype(dtype)]
    assert out.dtype == ref_out.dtype
    scale = max(1.0, float(np.max(np.abs(ref_out), initial=0.0)))
    np.testing.assert_allclose(out, ref_out, rtol=rtol, atol=rtol * scale)
    for g, r in zip(grads, ref_grads):
        assert g.dtype == r.dtype
        gscale = max(1.0, float(np.max(np.abs(r), initial=0.0)))
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * gscale)

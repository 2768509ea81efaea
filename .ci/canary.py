"""Test-only canary of the sanitizer job (.ci/sanitize), never run by the test suite.

Calls a C kernel with one element more than its output holds, so it writes one element
past the end of a buffer: under AddressSanitizer the process must abort with a report
(the job fails if it does not). ``array``: a numpy array's buffer; ``pool``: a buffer
of the C backend's pool (taken from malloc in a sanitizer build, so ASan sees it).
"""

import sys

import numpy as np

from pyautodiff.backends import c_backend as C

n = C.POOL_MIN // 8  # doubles: a pooled buffer's size
dst = np.zeros(n) if sys.argv[1] == "array" else C._empty(np.empty(n))
src = np.ones(n + 1)
C.lib.pyad_acc_f64(n + 1, C._buf(dst), C._buf(src))
print(f"canary: wrote past the end of a {sys.argv[1]} buffer and nothing stopped it")

"""cffi builder for pyautodiff's C core (API mode, out of line).

setup.py names ``ffibuilder`` in ``cffi_modules``; it compiles the sources here
into the extension ``pyautodiff._pyad_c``. The header is the cdef, read as is.
"""

import os
import subprocess
import sys
import sysconfig
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ["elementwise.c", "accumulate.c", "memory.c"]
# -ffast-math is never used: NaN, inf and -0.0 must behave as in numpy.
CFLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra"]


def _compiler():
    return os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"


def openmp_flags():
    """-fopenmp if the compiler builds and links an OpenMP program, else nothing."""
    probe = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(probe)
        cmd = _compiler().split() + ["-fopenmp", src, "-o", os.path.join(tmp, "probe")]
        try:
            ok = subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    if not ok:
        print("pyautodiff: no OpenMP in the C compiler; the C core runs on one thread",
              file=sys.stderr)
    return ["-fopenmp"] if ok else []


ffibuilder = FFI()
with open(os.path.join(HERE, "pyad.h")) as f:
    ffibuilder.cdef(f.read())

_omp = openmp_flags()
ffibuilder.set_source(
    "pyautodiff._pyad_c",
    '#include "pyad.h"',
    sources=[os.path.relpath(os.path.join(HERE, s)) for s in SOURCES],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=CFLAGS + _omp,
    extra_link_args=_omp,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

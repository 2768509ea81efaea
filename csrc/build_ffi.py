"""cffi builder for pyautodiff's C core (API mode, out of line).

setup.py names ``ffibuilder`` in ``cffi_modules``; it compiles the sources here
into the extension ``pyautodiff._pyad_c``. The header is the cdef, read as is.
"""

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = ["elementwise.c", "accumulate.c", "fuse.c", "memory.c", "threads.c", "optim.c"]
# -ffast-math is never used: NaN, inf and -0.0 must behave as in numpy.
# -fno-math-errno only says nothing reads errno, so sqrt can be one instruction.
CFLAGS = ["-O3", "-std=c11", "-Wall", "-Wextra", "-fno-math-errno"]


ffibuilder = FFI()
with open(os.path.join(HERE, "pyad.h")) as f:
    ffibuilder.cdef(f.read())

ffibuilder.set_source(
    "pyautodiff._pyad_c",
    '#include "pyad.h"',
    sources=[os.path.relpath(os.path.join(HERE, s)) for s in SOURCES],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=CFLAGS + ["-pthread"],
    extra_link_args=["-pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

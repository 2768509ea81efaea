"""Build the C core through cffi; metadata lives in pyproject.toml.

The C core is optional: if it cannot be compiled (no compiler, say), the
package still installs and runs on its numpy backend, with one warning at import.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext


class optional_build_ext(build_ext):
    def run(self):
        try:
            super().run()
        except Exception as e:  # noqa: BLE001  (any build failure leaves the numpy path)
            self.warn(f"pyautodiff: the C core was not built ({e}); using the numpy backend")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001
            self.warn(f"pyautodiff: the C core was not built ({e}); using the numpy backend")


setup(
    cffi_modules=["csrc/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": optional_build_ext},
)

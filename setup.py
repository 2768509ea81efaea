from setuptools import setup

# The C core adds cffi_modules=["csrc/build_ffi.py:ffibuilder"] here when it lands.
setup()

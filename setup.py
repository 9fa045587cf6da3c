"""Only here to hand cffi's extension build to setuptools (metadata is in pyproject.toml)."""
from setuptools import setup

setup(cffi_modules=["native/build_native.py:ffibuilder"])

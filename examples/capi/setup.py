"""Build the example: python examples/capi/setup.py build_ext --inplace
(from anywhere; pytracemalloc must be importable for its header)."""

import os

from setuptools import Extension, setup

import pytracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))

setup(
    name="tracked_buffers",
    ext_modules=[Extension(
        "tracked_buffers",
        sources=[os.path.join(HERE, "tracked_buffers.c")],
        include_dirs=[pytracemalloc.get_include()],
    )],
)

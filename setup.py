"""Build the C engine pytracemalloc._tracemalloc from src/.

glib-2.0 is found with pkg-config.  Extra compiler flags (warnings as
errors, sanitizers) come from the PYTRACEMALLOC_CFLAGS environment variable,
so the Makefile decides how strict a build is.
"""

import glob
import os
import shlex
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


def read_version():
    """pytracemalloc/_version.py's __version__, without importing the
    package (its engine is what this file builds)."""
    here = os.path.dirname(os.path.abspath(__file__))
    namespace = {}
    with open(os.path.join(here, "pytracemalloc", "_version.py")) as source:
        exec(source.read(), namespace)
    return namespace["__version__"]


# As in 0.9.1's setup.py, whose tests compare it with __version__.
VERSION = read_version()


def pkg_config(*args):
    """Return pkg-config's answer for glib-2.0 as a list of flags, or exit
    with one line naming the Debian package when glib cannot be found."""
    try:
        out = subprocess.run(
            ["pkg-config", *args, "glib-2.0"],
            check=True, capture_output=True, text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit("error: glib-2.0 not found by pkg-config: "
                 "install it with 'apt-get install libglib2.0-dev'")
    return shlex.split(out)


def flags_with_prefix(flags, prefix):
    return [f[len(prefix):] for f in flags if f.startswith(prefix)]


def unsupported_reason():
    """Why the engine cannot run on the interpreter building it, or None.
    The one place that decides: unsupported interpreters get a stand-in
    module (src/unsupported/module.c) that refuses to import, saying this."""
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        return ("pytracemalloc does not support free-threaded CPython "
                "(--disable-gil): its MEM and OBJ hooks rely on a GIL to "
                "guard the trace tables")
    if sys.implementation.name != "cpython" or not (
            (3, 11) <= sys.version_info[:2] <= (3, 15)):
        return "pytracemalloc supports CPython 3.11 to 3.15 only"
    return None


UNSUPPORTED = unsupported_reason()
cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
extra_cflags = shlex.split(os.environ.get("PYTRACEMALLOC_CFLAGS", ""))
extra_ldflags = shlex.split(os.environ.get("PYTRACEMALLOC_LDFLAGS", ""))

if UNSUPPORTED:
    engine_sources = ["src/unsupported/module.c"]
    reason_literal = '"%s"' % UNSUPPORTED.replace('"', "'")
    engine_macros = [("PYTRACEMALLOC_UNSUPPORTED_REASON", reason_literal)]
else:
    engine_sources = sorted(glob.glob("src/*.c"))
    engine_macros = []

engine = Extension(
    "pytracemalloc._tracemalloc",
    sources=engine_sources,
    define_macros=engine_macros,
    depends=sorted(glob.glob("src/*.h")),
    include_dirs=["src", "pytracemalloc/include"]
    + flags_with_prefix(cflags, "-I"),
    library_dirs=flags_with_prefix(libs, "-L"),
    libraries=flags_with_prefix(libs, "-l") + ["dl", "m"],
    # Hidden by default (PyMODINIT_FUNC exports the one entry point): calls
    # and globals between the engine's files are then direct, not through
    # the PLT and GOT, on the path of every allocation.
    extra_compile_args=["-std=c11", "-O2", "-fno-strict-aliasing",
                        "-fvisibility=hidden"]
    + extra_cflags,
    extra_link_args=extra_ldflags,
)

STARTUP_PTH = "pytracemalloc-startup.pth"


class build_py_with_startup_hook(build_py):
    """Put pytracemalloc-startup.pth at the top of site-packages: site.py
    runs its one line at every start-up, which traces from start-up when
    PYTRACEMALLOC is set."""

    def run(self):
        super().run()
        self.copy_file(STARTUP_PTH, os.path.join(self.build_lib, STARTUP_PTH))

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [
            os.path.join(self.build_lib, STARTUP_PTH)]


# Guarded so that loading this file as a module (to read VERSION) builds
# nothing; pip and setuptools run it as __main__.
if __name__ == "__main__":
    setup(ext_modules=[engine],
          cmdclass={"build_py": build_py_with_startup_hook})

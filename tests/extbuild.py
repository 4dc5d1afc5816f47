"""Build a one-file C extension for a test, in a child process with a
deadline (setuptools' build_ext, the compiler of this machine)."""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_extension(name, source, out_dir, include_dirs=(), hardened=False):
    """Compile `source` into module `name` in `out_dir`; return out_dir.
    `hardened`: calls through the GOT (-fno-plt) and full RELRO (-z now),
    as hardened distributions build."""
    code = textwrap.dedent("""
        import sys
        from setuptools import Extension, setup
        name, source, out, hardened, *includes = sys.argv[1:]
        flags = (["-fno-plt"], ["-Wl,-z,relro,-z,now"]) if hardened == "1" \\
            else ([], [])
        setup(name=name, ext_modules=[Extension(
                  name, [source], include_dirs=includes,
                  extra_compile_args=flags[0], extra_link_args=flags[1])],
              script_args=["-q", "build_ext", "--build-lib", out,
                           "--build-temp", out + "/build"])
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", code, name, source, str(out_dir),
         "1" if hardened else "0", *include_dirs],
        capture_output=True, text=True, timeout=300, env=env,
        cwd=str(out_dir))
    assert proc.returncode == 0, "building %s failed:\n%s%s" % (
        name, proc.stdout, proc.stderr)
    return str(out_dir)


def run_script(path, text, extra_path=(), timeout=120):
    """Write `text` to `path`, run it with this tree (and `extra_path`)
    importable, and return its stdout; a failure shows its stderr."""
    path.write_text(text)
    # the pytracemalloc this test imports: the source tree built in place,
    # or an installed copy (the interpreters' venvs, whose source copy has
    # no engine built)
    import pytracemalloc
    imported_from = os.path.dirname(os.path.dirname(pytracemalloc.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [imported_from, *map(str, extra_path)]))
    env.pop("PYTRACEMALLOC", None)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, "%s failed (%s):\n%s%s" % (
        path.name, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout

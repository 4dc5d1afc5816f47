"""make demo: trace a slowly leaking program, then compare its snapshots.

1. examples/leaky.py runs for 4 seconds with a DisplayTop every second and
   a TakeSnapshot every second (into a temporary folder);
2. ``python -m pytracemalloc -l`` compares the snapshot files: the leaking
   line is on top, growing between each pair.
"""

import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    with tempfile.TemporaryDirectory(prefix="pytracemalloc-demo-") as folder:
        print("=== examples/leaky.py, traced: a top every second")
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.join(HERE, "leaky.py"),
                        folder, "4"], check=True)
        files = sorted(glob.glob(os.path.join(folder, "*.pickle")))
        print()
        print("=== python -m pytracemalloc -l -n 3 %s" % " ".join(
            os.path.basename(name) for name in files))
        sys.stdout.flush()
        return subprocess.run([sys.executable, "-m", "pytracemalloc", "-l",
                               "-n", "3"] + files).returncode


if __name__ == "__main__":
    sys.exit(main())

"""make demo: trace a slowly leaking program, then compare its snapshots.

1. examples/leaky.py runs for 4 seconds with a DisplayTop every second and
   a TakeSnapshot every second (into a temporary folder);
2. ``python -m pytracemalloc -l`` compares the snapshot files: the leaking
   line is on top, growing between each pair;
3. ``python -m pytracemalloc.report`` turns them into one HTML page
   (build/demo-report.html, or the path given as first argument), whose
   path is printed last: open it in a browser, the leak is the first of its
   leak view.
"""

import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(os.path.dirname(HERE), "build", "demo-report.html")


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
        status = subprocess.run([sys.executable, "-m", "pytracemalloc", "-l",
                                 "-n", "3"] + files).returncode
        report = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else REPORT)
        os.makedirs(os.path.dirname(report), exist_ok=True)
        print()
        print("=== python -m pytracemalloc report leaky-*.pickle -o %s"
              % report)
        sys.stdout.flush()
        written = subprocess.run([sys.executable, "-m", "pytracemalloc.report",
                                  "-q", "-o", report] + files).returncode
        if written == 0:
            print("report: %s" % report)
        return status or written


if __name__ == "__main__":
    sys.exit(main())

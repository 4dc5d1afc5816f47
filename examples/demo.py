"""make demo: trace a slowly leaking program, then compare its snapshots.

1. examples/leaky.py runs for 4 seconds, keeping 10 frames per traceback,
   with a DisplayTop every second and a TakeSnapshot every second (into a
   temporary folder);
2. ``python -m pytracemalloc -l`` compares the snapshot files: the leaking
   line is on top, growing between each pair;
3. ``python -m pytracemalloc.report`` turns them into one HTML page
   (build/demo-report.html, or the path given as first argument), whose
   path is printed last: open it in a browser, the leak is the first of its
   leak view, and its flame graphs show the leak's stack (main -> serve ->
   handle), the difference graph in red;
4. ``python -m pytracemalloc export`` writes the last snapshot as a pprof
   profile (build/demo-heap.pb.gz) and its growth since the first one
   (build/demo-growth.pb.gz), and prints the commands that open them.
"""

import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(os.path.dirname(HERE), "build")
REPORT = os.path.join(BUILD, "demo-report.html")
NFRAME = "10"


def main():
    with tempfile.TemporaryDirectory(prefix="pytracemalloc-demo-") as folder:
        print("=== examples/leaky.py, traced: a top every second")
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.join(HERE, "leaky.py"),
                        folder, "4", NFRAME], check=True)
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
        exported = export(files, os.path.dirname(report))
        if written == 0:
            print()
            print("report: %s" % report)
        return status or written or exported


def export(files, folder):
    """The last snapshot as a pprof profile, and its growth since the
    first; prints how to open them.  The exit status of the commands."""
    heap = os.path.join(folder, "demo-heap.pb.gz")
    growth = os.path.join(folder, "demo-growth.pb.gz")
    print()
    print("=== python -m pytracemalloc export %s --format pprof -o %s"
          % (os.path.basename(files[-1]), heap))
    sys.stdout.flush()
    status = subprocess.run([sys.executable, "-m", "pytracemalloc", "export",
                             files[-1], "--format", "pprof", "-o", heap]
                            ).returncode
    status = status or subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "export", files[-1],
         "--diff", files[0], "--format", "pprof", "-o", growth]).returncode
    if status == 0:
        print("pprof: %s (its growth since the first snapshot: %s)"
              % (heap, growth))
        print("open it with: go tool pprof -top %s   (or -http=:8080, "
              "Pyroscope, speedscope)" % heap)
    return status


if __name__ == "__main__":
    sys.exit(main())

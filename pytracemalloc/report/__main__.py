"""python -m pytracemalloc.report: see pytracemalloc.report."""

import sys

from pytracemalloc.report import main

if __name__ == "__main__":
    sys.exit(main())

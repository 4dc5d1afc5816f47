"""python -m pytracemalloc: see pytracemalloc.cli."""

import sys

from pytracemalloc.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m dpsycl``: the dpsycl command line (see dpsycl.cli)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

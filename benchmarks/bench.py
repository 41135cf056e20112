#!/usr/bin/env python3
"""Time dpsycl against DeePMD-kit: ``python benchmarks/bench.py [options]`` (``--help``; ``make bench``).

    python benchmarks/bench.py --device opencl:cpu:0 --sizes 2048,8192
    python benchmarks/bench.py --report-only          # README and plots from benchmarks/results/*.json

The harness is the package beside this file, benchmarks/dpsycl_bench/ (see its __init__ for the
modules); it is not installed with dpsycl and uses only dpsycl's public API.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:          # imported by path rather than run as a script
    sys.path.insert(0, HERE)
try:
    import dpsycl  # noqa: F401
except ImportError:               # a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(HERE))

from dpsycl_bench.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

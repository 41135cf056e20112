#!/usr/bin/env python3
"""Thin runner for the benchmark: ``python benchmarks/bench.py [options]`` = ``dpsycl bench [options]``.

The logic lives in :mod:`dpsycl.bench` so that the installed ``dpsycl bench`` works from any
folder; this file only makes it runnable (and importable) from a checkout, e.g.

    python benchmarks/bench.py --sizes 2048,8192 --device opencl:cpu:0
    import importlib.util; spec = importlib.util.spec_from_file_location("bench", "benchmarks/bench.py")

Everything public in dpsycl.bench (BenchConfig, run_benchmark, flop_model, alloy, ...) is
re-exported here.
"""
from __future__ import annotations

import os
import sys

try:
    import dpsycl  # noqa: F401
except ImportError:  # a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dpsycl.bench import *  # noqa: F401,F403,E402
from dpsycl.bench import (BenchConfig, EnergyMismatch, alloy, flop_model, main,  # noqa: F401,E402
                          run_benchmark, supercell_for)

if __name__ == "__main__":
    sys.exit(main())

"""The benchmark's JSON files, ``<output>/bench-<run id>.json``: schema, writing, reading back.

A run's file is rewritten after every size (status "running"), so that a run cut short still
leaves its numbers, and once more at the end (status "complete" or "energy mismatch").
"""
from __future__ import annotations

import glob
import json
import math
import os

import numpy as np

from .analysis import scaling

SCHEMA = "dpsycl-bench/1"
#: record keys starting with this are working data of the run, never written
PRIVATE_PREFIX = "_"


def jsonable(o):
    """``o`` with numpy scalars and arrays as Python numbers and lists, sets sorted, non-finite floats None."""
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, set):
        return sorted(jsonable(v) for v in o)
    if isinstance(o, np.floating):
        o = float(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def public_view(result: dict) -> dict:
    """The run without the records' working keys, JSON-ready."""
    view = dict(result)
    view["results"] = [{k: v for k, v in r.items() if not k.startswith(PRIVATE_PREFIX)} for r in result["results"]]
    return jsonable(view)


def write_run(result: dict, path: str) -> dict:
    """Write the run atomically (a reader never sees half a file); returns what was written."""
    clean = public_view(result)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(clean, fh, indent=1)
    os.replace(tmp, path)
    return clean


def latest_runs(output: str, current: dict | None = None) -> list[dict]:
    """The newest complete run per section in ``output`` (a run cut short only where no complete one
    exists), with ``current`` replacing its section's file when complete."""
    runs: dict = {}
    for path in sorted(glob.glob(os.path.join(output, "bench-*.json"))):
        try:
            with open(path) as fh:
                run = json.load(fh)
        except (OSError, ValueError):
            continue
        if run.get("schema") != SCHEMA or run.get("status") not in ("complete", "running"):
            continue
        if run["status"] == "running":   # checkpointed, never finished: derive what the end would have
            run.setdefault("scaling", scaling(run["results"]))
        previous = runs.get(run["section"])
        rank = (run["status"] == "complete", run["started"])
        if previous is None or rank > (previous["status"] == "complete", previous["started"]):
            runs[run["section"]] = run
    if current is not None and current.get("status") == "complete":
        runs[current["section"]] = current
    return [runs[k] for k in sorted(runs)]

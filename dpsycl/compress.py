"""``dpsycl compress``: DeePMD-kit's model compression (`dp compress`) without TensorFlow.

Each embedding net of a smooth descriptor (se_e2_a, se_e2_r, se_e3; every member of a hybrid, with
the same options) is tabulated on DeePMD-kit's grid (its params' ``tabulate``:
dpsycl/descriptors/tables.py); the model keeps its nets and gains the tables, which the reference
and the kernels then evaluate instead of the nets.  The range of the first table needs the closest
neighbour distance of the training data, which DeePMD-kit stores in the graph as
``train_attr/min_nbor_dist`` once a model was compressed or trained with neighbour statistics.
"""
from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

from .descriptors.hybrid import Hybrid
from .model import Model, ModelError


def compress_model(model: Model, min_nbor_dist: float, step: float = 0.01, extrapolate: float = 5.0,
                   frequency: int = -1) -> Model:
    """The same model with tables for its embedding nets (the options of `dp compress`)."""
    if not (step > 0 and extrapolate > 1):
        raise ValueError(f"step must be positive and extrapolate above 1 (got {step}, {extrapolate})")
    d = compress_descriptor(model.descriptor, model.precision, min_nbor_dist, step, extrapolate, frequency)
    compressed = dataclasses.replace(model, descriptor=d)
    compressed.validate()
    return compressed


def compress_descriptor(d, precision, min_nbor_dist: float, step: float, extrapolate: float, frequency: int):
    """Descriptor ``d`` with tables (in ``precision``) beside its nets; a hybrid's members each with
    the same options, as DeePMD-kit's hybrid compresses each member."""
    if isinstance(d, Hybrid):
        return dataclasses.replace(d, members=[compress_descriptor(m, precision, min_nbor_dist, step, extrapolate,
                                                                   frequency) for m in d.members])
    if not hasattr(d, "tabulate") or getattr(d, "compressed", False):
        raise ModelError(f"descriptor {d.kind} cannot be compressed" if not hasattr(d, "tabulate")
                         else "the model is already compressed")
    tables = d.tabulate(min_nbor_dist, step, extrapolate, frequency)
    return dataclasses.replace(d, tables={key: table.astype(precision) for key, table in tables.items()})


def graph_min_nbor_dist(path: str) -> float | None:
    """``train_attr/min_nbor_dist`` of a frozen graph, if it has one."""
    from .extract.graph import graph_constants
    value = graph_constants(path).get("train_attr/min_nbor_dist")
    return None if value is None else float(value)


def training_min_nbor_dist(script_path: str, type_map: list[str], rcut: float) -> float:
    """The closest pair distance within ``rcut`` over every frame of the training data named by a
    training script (``training.training_data.systems``: systems or folders of them, relative to the
    working directory or else to the script), periodic images included (an atom's own images too),
    which `dp compress -t` computes by DeePMD-kit's neighbour statistics."""
    import json

    from .frame_sources import read_sources
    from .neighbors import pairs_within
    try:
        with open(script_path) as f:
            script = json.load(f)
        systems = script["training"]["training_data"]["systems"]
    except (OSError, ValueError) as exc:
        raise ModelError(f"training script {script_path}: {exc}") from None
    except (KeyError, TypeError):
        raise ModelError(f"training script {script_path} names no training.training_data.systems") from None
    systems = [systems] if isinstance(systems, str) else list(systems)
    here = os.path.dirname(os.path.abspath(script_path))
    paths = [p if os.path.exists(p) else os.path.join(here, p) for p in map(str, systems)]
    # lattice translations n ≠ 0 with |n_i| ≤ 2: an atom's nearest own image is the shortest n·cell
    shifts = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    shifts = shifts[np.any(shifts != 0, axis=1)]
    closest = np.inf
    for system in read_sources(paths, type_map, labels=False):
        for run in system.runs:
            for k in range(run.nframes):
                cell = None if run.cells is None else run.cells[k]
                _, _, dist = pairs_within(run.coords[k], cell, rcut)
                if dist.size:
                    closest = min(closest, float(dist.min()))
                if cell is not None:
                    lengths = np.linalg.norm(shifts @ cell, axis=1)
                    if lengths.min() < rcut:
                        closest = min(closest, float(lengths.min()))
    if not np.isfinite(closest):
        raise ModelError(f"the training data of {script_path} have no pair of atoms within rcut {rcut} Å")
    return closest


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="uncompressed model: frozen graph (.pb), .dp or dpsycl .h5")
    p.add_argument("-o", "--output", metavar="OUT.h5", required=True, help="compressed dpsycl model file to write")
    p.add_argument("-s", "--step", type=float, default=0.01, help="stride of the first table (default 0.01); the "
                   "second table uses 10·step (se_e3: 10·step and 100·step, as dp compress)")
    p.add_argument("-e", "--extrapolate", type=float, default=5.0,
                   help="the second table reaches extrapolate·upper (default 5)")
    p.add_argument("-f", "--frequency", type=int, default=-1,
                   help="overflow-check frequency, stored in table_info as dp compress does (default -1)")
    p.add_argument("-t", "--training-script", metavar="INPUT.json", default=None,
                   help="the model's training script: the closest neighbour distance is computed from its "
                        "training data when the graph does not carry one (as dp compress -t)")
    p.add_argument("--min-nbor-dist", type=float, default=None,
                   help="closest neighbour distance of the training data (Å); default: the graph's "
                        "train_attr/min_nbor_dist, else from -t")


def run(args: argparse.Namespace) -> int:
    from .formats import OTHER, model_kind
    from .model_io import load_model, write_model

    model = load_model(args.model)
    dist = args.min_nbor_dist
    if dist is None and model_kind(args.model, ModelError) == OTHER:   # a frozen graph
        dist = graph_min_nbor_dist(args.model)
    if dist is None and args.training_script is not None:
        dist = training_min_nbor_dist(args.training_script, model.type_map, model.rcut)
    if dist is None:
        raise ModelError(f"{args.model} carries no train_attr/min_nbor_dist; give -t INPUT.json (its training "
                         "script) or --min-nbor-dist (Å), the closest neighbour distance of the training data "
                         "(`dp neighbor-stat` prints it)")
    if os.path.abspath(args.output) == os.path.abspath(args.model):
        raise ValueError(f"output {args.output} would overwrite the input model")
    compressed = compress_model(model, dist, args.step, args.extrapolate, args.frequency)
    write_model(compressed, args.output)
    print(f"{args.model} -> {args.output}: {compressed.descriptor.summary()}")
    return 0

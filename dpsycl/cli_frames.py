"""``dpsycl test`` and ``dpsycl model-devi`` (registered in dpsycl.cli.COMMANDS).

    dpsycl test -m MODEL -s SYSTEM [SYSTEM ...] [-f DATAFILE] [-n N] [-d PREFIX]
                [--devices all|DEV,DEV,...] [--scheduler ADDRESS] [--batch-size N] [--json FILE]
    dpsycl model-devi -m M1 M2 [M3 ...] -t TRAJ [TRAJ ...] [-o model_devi.out] [-f FREQ]
                [--atomic] [--relative L] [--relative_v L] [--type-map Cu Ag ...]
                [--devices ...] [--scheduler ADDRESS] [--batch-size N]

The options of ``dp test`` and ``dp model-devi`` keep their names; the report and the files are
DeePMD-kit's (dpsycl.label_errors, dpsycl.model_devi).  ``--devices all`` spreads the frames over
every local device, ``--scheduler`` over the workers of a Dask cluster (one worker per device).
Errors are one line and exit status 2 (dpsycl.cli.main).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devices", default=None, metavar="DEVICES",
                   help="'auto' (default: the best device here), 'all' (every local GPU, else the CPU "
                        "device), or a comma-separated list such as cuda:0,cuda:1; with --scheduler "
                        "(default 'all'), resolved on each worker's host")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:8786): spread the batches over its workers, "
                        "one worker per device (needs dpsycl[dask])")
    p.add_argument("--batch-size", type=int, default=None, metavar="N",
                   help="frames per batch sent to a device (default: about 8192 atoms a batch)")
    p.add_argument("--format", dest="fmt", default=None, metavar="FMT",
                   help="ASE format of trajectory/structure files when not guessed from the name "
                        "(e.g. extxyz, lammps-dump-text)")
    from .device_pool import DEFAULT_BATCH_TIMEOUT
    p.add_argument("--batch-timeout", type=float, default=DEFAULT_BATCH_TIMEOUT, metavar="SECONDS",
                   help="end the job when a device worker returns nothing for this long: a hung device "
                        "or driver (default %(default)g; 0: no limit; a single device in this process is "
                        "not timed)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


@contextlib.contextmanager
def dask_client(address: str | None):
    """A client of the scheduler at ``address`` (None: no client)."""
    if not address:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed: pip install 'dpsycl[dask]'") from None
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {address}: {' '.join(str(exc).split())}") from None
    try:
        yield client
    finally:
        client.close()


def _progress(args) -> bool:
    return not args.no_progress and sys.stderr.isatty()


def _rate(nframes: int, seconds: float) -> str:
    return f"{nframes} frames in {seconds:.1f} s ({nframes / max(seconds, 1e-9):.1f} frames/s)"


# ---------------------------------------------------------------------------------------------
# dpsycl test
def add_test_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--model", required=True, metavar="MODEL",
                   help="DeePMD-kit frozen_model.pb or dpsycl model .h5")
    p.add_argument("-s", "--system", nargs="+", default=[], metavar="SYSTEM",
                   help="DeePMD-kit npy systems (or directories searched for them), mixed format "
                        "included, or labelled files ASE reads (extxyz: energy, forces, stress or virial)")
    p.add_argument("-f", "--datafile", metavar="FILE", help="a file listing systems, one per line")
    p.add_argument("-n", "--numb-test", type=int, default=0, metavar="N",
                   help="test the first N frames of each system (default 0: all)")
    p.add_argument("-d", "--detail-file", metavar="PREFIX",
                   help="write PREFIX.e.out, .e_peratom.out, .f.out, .v.out, .v_peratom.out, .s.out")
    p.add_argument("--json", metavar="FILE", help="also write the errors as JSON")
    _add_common(p)


def _systems_of(args) -> list[str]:
    systems = list(args.system)
    if args.datafile:
        with open(args.datafile, encoding="utf-8") as fh:
            systems += [line.strip() for line in fh if line.strip()]
    if not systems:
        raise ValueError("no system given (-s SYSTEM ... or -f DATAFILE)")
    return systems


def cmd_test(args: argparse.Namespace) -> int:
    from .frame_jobs import test_model
    from .label_errors import average_report, system_report
    if args.numb_test < 0:
        raise ValueError(f"--numb-test must not be negative, got {args.numb_test}")
    systems = _systems_of(args)
    t0 = time.perf_counter()

    def print_system(system):
        print("\n".join(system_report(system)), flush=True)

    with dask_client(args.scheduler) as client:
        report = test_model(args.model, systems, devices=args.devices, client=client, numb_test=args.numb_test,
                            detail_file=args.detail_file, batch_size=args.batch_size, fmt=args.fmt,
                            progress=_progress(args), on_system=print_system, batch_timeout=args.batch_timeout)
    print("\n".join(average_report(report.systems)))
    nframes = sum(s.nframes for s in report.systems)
    print(f"# {_rate(nframes, time.perf_counter() - t0)}", file=sys.stderr)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report.to_dict(), fh, indent=1)
    return 0


# ---------------------------------------------------------------------------------------------
# dpsycl model-devi
def add_model_devi_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--models", nargs="+", required=True, metavar="MODEL",
                   help="the ensemble: DeePMD-kit .pb or dpsycl .h5 files sharing one type map")
    p.add_argument("-t", "--traj", "-s", "--system", dest="trajectories", nargs="+", required=True,
                   metavar="TRAJ", help="dpsycl H5MD trajectories, LAMMPS dumps, extxyz (any file ASE "
                                        "reads), DeePMD-kit npy systems or directories of them")
    p.add_argument("-o", "--output", default="model_devi.out", help="output file (default model_devi.out)")
    p.add_argument("-f", "--frequency", type=int, default=1,
                   help="steps between frames, for files that store no step (default 1)")
    p.add_argument("--atomic", action="store_true", help="also write the force deviation of every atom")
    p.add_argument("--relative", type=float, default=None, metavar="L",
                   help="relative force deviation: divide by |mean force| + L")
    p.add_argument("--relative_v", "--relative-v", dest="relative_v", type=float, default=None, metavar="L",
                   help="relative virial deviation: divide by |mean virial per atom| + L")
    p.add_argument("--type-map", nargs="+", default=None, metavar="NAME",
                   help="species of LAMMPS types 1, 2, ... in dumps without an element column "
                        "(default: the models' type map)")
    _add_common(p)


def cmd_model_devi(args: argparse.Namespace) -> int:
    from .frame_jobs import model_deviation
    t0 = time.perf_counter()
    with dask_client(args.scheduler) as client:
        blocks = model_deviation(args.models, args.trajectories, devices=args.devices, client=client,
                                 output=args.output, frequency=args.frequency, atomic=args.atomic,
                                 relative=args.relative, relative_v=args.relative_v,
                                 batch_size=args.batch_size, fmt=args.fmt, lammps_type_map=args.type_map,
                                 progress=_progress(args), batch_timeout=args.batch_timeout)
    nframes = sum(len(b.rows) for b in blocks)
    worst = max(float(b.rows[:, 4].max()) for b in blocks)
    print(f"{args.output}: {len(blocks)} trajectories, {nframes} frames, largest max_devi_f {worst:.6e} eV/Å")
    print(f"# {_rate(nframes, time.perf_counter() - t0)}", file=sys.stderr)
    return 0

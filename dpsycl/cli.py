"""The ``dpsycl`` command line.

Each subcommand is a pair of plain functions -- one adds its arguments to an
``argparse.ArgumentParser``, the other runs it from the parsed ``argparse.Namespace`` and returns
an exit status -- registered as one :class:`Command` row in :data:`COMMANDS`.  To add a
subcommand, write the two functions (in this module or another one) and add a row.

Errors a user can cause (a missing or unusable model file, a bad option value) are raised as
``ModelError`` / ``FileNotFoundError`` / ``ValueError`` / ``OSError``; :func:`main` turns them into
one line ``dpsycl: error: <message>`` on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from typing import Callable

from .model import ModelError
from .version import installed_version

EXIT_USAGE = 2


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], "int | None"]


# ---------------------------------------------------------------------------------------------
# dpsycl extract MODEL.pb -o MODEL.h5
def _extract_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL", help="DeePMD-kit model: a TensorFlow frozen graph (.pb) or a "
                   "DeePMD-kit 3 .dp file (from `dp convert-backend`, e.g. of a PyTorch .pth)")
    p.add_argument("-o", "--output", metavar="MODEL.h5",
                   help="dpsycl model file to write (default: MODEL with suffix .h5)")


def model_summary(model) -> str:
    """One line describing a model: species, descriptor, fitting nets, precision."""
    fit = model.fitting
    resnet = ", resnet_dt" if fit.resnet_dt else ""
    folded = f"; {model.type_embedding}" if model.type_embedding else ""
    return (f"species {' '.join(model.type_map)}; {model.descriptor.summary()}; fitting "
            f"{'-'.join(str(n) for n in fit.neuron)} ({fit.activation}{resnet}); {model.precision}{folded}")


def cmd_extract(args: argparse.Namespace) -> int:
    from .formats import DEEPMD_DP, model_kind
    from .model_io import load_model, write_model

    if model_kind(args.model, ModelError) == DEEPMD_DP:
        model = load_model(args.model)              # DeePMD-kit 3's .dp: h5py only, no TensorFlow
    else:
        from .extract import extract_model
        model = extract_model(args.model)
    out = args.output or os.path.splitext(args.model)[0] + ".h5"
    if os.path.abspath(out) == os.path.abspath(args.model):
        raise ValueError(f"output {out} would overwrite the input graph")
    out_dir = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"output directory does not exist: {out_dir}")
    write_model(model, out)
    print(f"{args.model} -> {out}: {model_summary(model)}")
    return 0


# ---------------------------------------------------------------------------------------------
# The command table: each subcommand is one Command(name, help, add_arguments, run) row.
from . import cli_md  # noqa: E402  (run, eval, devices)
from .lammps import cli as lammps_cli  # noqa: E402  (lammps; imports neither LAMMPS nor MPI)
from . import cli_frames  # noqa: E402  (test, model-devi)
from . import compress  # noqa: E402  (compress)


COMMANDS: list[Command] = [
    Command("extract", "convert a DeePMD-kit model (frozen_model.pb or .dp) into a dpsycl model file (.h5)",
            _extract_arguments, cmd_extract),
    Command("compress", "tabulate the embedding nets of a model, as dp compress (no TensorFlow)",
            compress.add_arguments, compress.run),
    Command("run", "molecular dynamics on a device, H5MD trajectory", cli_md.add_run_arguments, cli_md.cmd_run),
    Command("eval", "energy, forces and virial of a structure", cli_md.add_eval_arguments, cli_md.cmd_eval),
    Command("devices", "list the devices dpsycl can use", cli_md.add_devices_arguments, cli_md.cmd_devices),
    Command("lammps", "run a LAMMPS input script with a dpsycl model as its force field (serial or mpirun)",
            lammps_cli.add_lammps_arguments, lammps_cli.cmd_lammps),
    Command("test", "errors of a model on labelled data, as dp test (frames spread over devices)",
            cli_frames.add_test_arguments, cli_frames.cmd_test),
    Command("model-devi", "model deviation of an ensemble over trajectories, as dp model-devi",
            cli_frames.add_model_devi_arguments, cli_frames.cmd_model_devi),
]


class _OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line, like every other error (argparse would print the whole usage
    block first): the message and where the usage is, exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"dpsycl: error: {' '.join(message.split())} (see {self.prog} --help)\n")


class _IntermixedParser(_OneLineParser):
    """A subcommand parser taking options and positionals in any order, so that
    ``dpsycl run MODEL --steps 5 STRUCTURE`` reads like ``dpsycl run MODEL STRUCTURE --steps 5``
    (plain argparse stops collecting positionals at the first option)."""
    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixing:       # parse_known_intermixed_args calls back here (Python ≤ 3.11)
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="dpsycl",
        description="DeePMD-kit potentials on SYCL devices and NVIDIA GPUs")
    parser.add_argument("--version", action="version", version=f"dpsycl {installed_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_IntermixedParser)
    sub.required = True
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(command_handler=cmd.run)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        msg = f"{exc.strerror}: {exc.filename}"
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)   # usage errors: argparse prints them and exits with 2
    if not getattr(args, "quiet", False):
        _report_progress_notes()
    try:
        status = args.command_handler(args)
    except (ModelError, FileNotFoundError, ValueError, OSError) as exc:
        try:
            sys.stdout.flush()
        except Exception:  # pragma: no cover
            pass
        print(f"dpsycl: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dpsycl: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


def _report_progress_notes() -> None:
    """dpsycl's INFO notes (e.g. a first compilation of kernels) as ``dpsycl: ...`` lines on stderr, once."""
    logger = logging.getLogger("dpsycl")
    if not any(getattr(h, "dpsycl_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("dpsycl: %(message)s"))
        handler.dpsycl_cli = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

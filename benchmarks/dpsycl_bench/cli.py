"""The command line of ``python benchmarks/bench.py`` (``make bench``): options → :class:`BenchConfig`.

``--report-only`` measures nothing: it rebuilds the README sections and the combined plots from
the JSON files in ``--output`` (e.g. after copying in a GPU machine's run).
"""
from __future__ import annotations

import argparse
import sys

from . import report
from .results_files import latest_runs
from .runner import BenchConfig, run_benchmark
from .structures import CPU_SIZES, GPU_SIZES

EXIT_USAGE = 2
PRECISIONS = ("float64", "float32")


def _csv(kind):
    def parse(text):
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _precisions(text):
    values = _csv(str)(text)
    unknown = [p for p in values if p not in PRECISIONS]
    if unknown or not values:
        raise argparse.ArgumentTypeError(f"unknown precision {', '.join(unknown) or text!r} (float64 and/or float32)")
    return values


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench.py", description="Time dpsycl against DeePMD-kit on the same model, "
                                "structures and hardware (benchmarks/README.md).")
    p.add_argument("--output", default="benchmarks/results", metavar="DIR",
                   help="folder for the JSON and PNG files (default: benchmarks/results)")
    p.add_argument("--device", action="append", metavar="DEV",
                   help="device(s) to measure, repeatable or comma-separated (default: every device but numpy)")
    p.add_argument("--sizes", type=_csv(int), metavar="N,N,...",
                   help=f"atom counts, multiples of 4 (default CPU {','.join(map(str, CPU_SIZES))}; "
                        f"with a CUDA device {','.join(map(str, GPU_SIZES))})")
    p.add_argument("--precision", type=_precisions, default=list(PRECISIONS), metavar="P,P",
                   help="float64 and/or float32 (default both; float32 runs the float64 weights in float32)")
    p.add_argument("--model", metavar="MODEL.h5", help="dpsycl model (default: the bundled cuag.h5)")
    p.add_argument("--peer", choices=("auto", "deepmd-tf", "deepmd-pt", "none"), default="auto",
                   help="DeePMD-kit backend to compare with (auto: PyTorch with a CUDA device, else TensorFlow)")
    p.add_argument("--peer-model", metavar="PATH", help="the peer's model: .pb (deepmd-tf; default the repository's "
                   "dpsycl/data/cuag.pb) or .pth (deepmd-pt, required)")
    p.add_argument("--peer-max-atoms", type=int, metavar="N", help="skip the peer above N atoms")
    p.add_argument("--repeats", type=int, metavar="R", help="timed repeats per point (default: adaptive)")
    p.add_argument("--min-repeats", type=int, default=1, metavar="R",
                   help="fewest timed repeats per point after the warm-up (default 1)")
    p.add_argument("--max-repeats", type=int, default=10, metavar="R", help="most timed repeats (default 10)")
    p.add_argument("--target-seconds", type=float, default=6.0, metavar="S",
                   help="adaptive repeats: about this much timed work per point, within min..max (default 6)")
    p.add_argument("--budget", type=float, default=840.0, metavar="S",
                   help="wall-time budget; when the projection exceeds it, repeats drop (default 840; 0: none)")
    p.add_argument("--numpy-size", type=int, default=0, metavar="N",
                   help="also time the NumPy reference at this one small N (default: off)")
    p.add_argument("--no-md", action="store_true", help="skip the MD ns/day measurement")
    p.add_argument("--md-seconds", type=float, default=10.0, metavar="S", help="timed MD seconds per device")
    p.add_argument("--readme", default="auto", metavar="PATH",
                   help="markdown file to update between markers (auto: benchmarks/README.md when --output is "
                        "under benchmarks/; 'none' to skip)")
    p.add_argument("--section", metavar="NAME", help="README section / run label (default: cpu, or gpu with CUDA)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-cpu-peak", action="store_true",
                   help="skip measuring the host's GEMM rate and copy bandwidth (the theoretical peak stays)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup-atoms", type=int, default=32, metavar="N",
                   help="cell on which kernel compilation is timed (default 32)")
    p.add_argument("--report-only", action="store_true",
                   help="measure nothing: rebuild README table and combined plots from the JSON files in --output")
    return p


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    devices = [d for item in args.device for d in item.split(",") if d] if args.device else None
    return BenchConfig(model=args.model, peer=args.peer, peer_model=args.peer_model, devices=devices,
                       precisions=tuple(args.precision), sizes=args.sizes, repeats=args.repeats,
                       min_repeats=args.min_repeats, max_repeats=args.max_repeats,
                       target_seconds=args.target_seconds, budget_seconds=(args.budget or None),
                       peer_max_atoms=args.peer_max_atoms, numpy_size=args.numpy_size, md=not args.no_md,
                       md_seconds=args.md_seconds, output=args.output, readme=args.readme,
                       plots=not args.no_plots, section=args.section, seed=args.seed,
                       measure_cpu_peak=not args.no_cpu_peak, warmup_atoms=args.warmup_atoms)


def rebuild_report(cfg: BenchConfig) -> None:
    """README sections and combined plots from the newest complete run per section in cfg.output."""
    runs = latest_runs(cfg.output)
    if not runs:
        raise FileNotFoundError(f"no complete bench-*.json in {cfg.output}")
    readme = report.readme_path(cfg.readme, cfg.output)
    if readme:
        report.write_readme(readme, runs)
    paths = report.make_plots(cfg.output, runs, "bench-all") if cfg.plots else []
    print(report.portability_section(runs))
    print(f"README: {readme}; plots: {', '.join(paths)}")


def main(argv: list[str] | None = None) -> int:
    """Exit status 0; 2 with one line on stderr for a usage error, a missing file or an energy mismatch."""
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    try:
        if args.report_only:
            rebuild_report(cfg)
        else:
            run_benchmark(cfg)
    except (ValueError, OSError) as exc:   # dpsycl's ModelError, DeviceError, EnergyMismatch are ValueErrors
        sys.stdout.flush()
        print(f"bench.py: error: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return EXIT_USAGE
    return 0

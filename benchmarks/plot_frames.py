"""Bar chart of frames_throughput.py results: dpsycl test / model-devi against DeePMD-kit's on the
same frames, end to end and marginal, one panel per result file.

    python benchmarks/plot_frames.py RESULT.json [RESULT.json ...] --output frames.png
"""
from __future__ import annotations

import argparse
import json
import pathlib


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", help="frames-*.json files of benchmarks/frames_throughput.py")
    p.add_argument("--output", required=True, help="PNG to write")
    args = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    runs = [json.loads(pathlib.Path(r).read_text()) for r in args.results]
    fig, axes = plt.subplots(1, len(runs), figsize=(6.5 * len(runs), 4.2), squeeze=False)
    for ax, run in zip(axes[0], runs):
        rows = run["rows"]
        labels = [r["tool"].replace(" --devices ", "\n--devices ") for r in rows]
        x = range(len(rows))
        end = [r["frames_per_s_end_to_end"] for r in rows]
        marginal = [r["frames_per_s_marginal"] or 0.0 for r in rows]
        ax.bar([k - 0.2 for k in x], end, 0.4, label="end to end (start-up included)")
        ax.bar([k + 0.2 for k in x], marginal, 0.4, label="marginal (steady state)")
        for k, r in enumerate(rows):
            if r["frames_per_s_marginal"] is None:
                ax.text(k + 0.2, 0, "n/m", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("frames/s")
        ax.set_title(f"{run['atoms']} atoms/frame, {run['device']}, {run['sizes'][0]} and {run['sizes'][-1]} frames",
                     fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

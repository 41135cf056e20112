"""What a benchmark run shows a reader: benchmarks/README.md sections, plots, a console summary.

README sections sit between ``<!-- dpsycl-bench:<section> begin -->`` and ``... end -->`` markers;
a run replaces its own section (cpu, gpu, ...) and the portability summary, nothing else.
"""
from __future__ import annotations

import os

from .analysis import evaluate_targets, portability, series

README_BEGIN = "<!-- dpsycl-bench:{} begin -->"
README_END = "<!-- dpsycl-bench:{} end -->"
#: a load average above this many times the cores means other processes shared them while timing
CROWDED = 1.25


def _bytes(b) -> str:
    if b is None:
        return "–"
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _met(met) -> str:
    return "**met**" if met is True else ("**not met**" if met is False else "not measured")


def _git_label(run) -> str:
    git = run["versions"].get("git")
    if not git:
        return ""
    return f" (commit {git['commit']}" + (f" + uncommitted {', '.join(git['dirty'])}" if git.get("dirty") else "") + ")"


def _result_order(r):
    return r["natoms"], r["code"] != "dpsycl", str(r.get("device")), r["precision"]


def highest_load(run: dict) -> float | None:
    """The highest 1-minute load average seen during a run, when it crowded the cores; else None."""
    machine = run["machine"]
    loads = [machine.get("loadavg_start"), machine.get("loadavg_end")] + [r.get("loadavg") for r in run["results"]]
    loads = [x for x in loads if x is not None]
    return max(loads) if loads and max(loads) > CROWDED * machine["cores"] else None


def markdown_section(run: dict) -> str:
    """One run as a README section: header, the results table, compile times, scaling, MD, peaks, targets."""
    m = run["machine"]
    devices = sorted({r["describe"] for r in run["results"] if r.get("describe")})
    lines = [f"### {run['section'].upper()}: {m['cpu']} ({m['cores']} cores)"
             + (f" + {', '.join(devices)}" if devices else ""),
             "",
             f"Run `{run['run_id']}` ({run.get('wall_s', 0):.0f} s wall"
             + ("" if run.get("status") == "complete" else ", **cut short: partial results**")
             + f"), dpsycl {run['versions'].get('dpsycl')}" + _git_label(run) + ", "
             f"numba {run['versions'].get('numba')}, deepmd-kit {run['versions'].get('deepmd-kit')}, "
             f"peer {run['config'].get('peer')}"
             + (f" on {run['peer']['hardware']}" if run.get("peer") else "") + ". Model: "
             + run["model"]["summary"] + ".",
             "",
             ("dpsycl's total is `DeepPot.eval` end to end (host arrays in and out: the call the peer is timed "
              "on); nb and compute are the two phases timed separately, with a synchronisation around each."
              if any("t_phases_sum_s" in r for r in run["results"]) else
              "dpsycl's total is the sum of the neighbour build and the evaluation, timed separately with a "
              "synchronisation around each (the peer: its `DeepPot.eval` end to end)."),
             "",
             "| N | code | device | prec | nb (s) | compute (s) | total (s) | µs/step/atom | × peer | "
             "peak mem | KiB/atom | GFLOP/s own (useful) | % peak own (useful) | \\|ΔE\\|/N (eV) |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(run["results"], key=_result_order):
        n = f"{r['natoms']:,}"
        if r.get("status") != "ok":
            lines.append(f"| {n} | {r['code']} | {r.get('device')} | {r['precision'][-2:]} | | | "
                         f"{r.get('status', '').upper()} | | | | | | | |")
            continue
        flops_own, flops_useful = r.get("achieved_flops_own"), r.get("achieved_flops_useful")
        peak_own, peak_useful = r.get("fraction_of_peak_own"), r.get("fraction_of_peak_useful")
        per_atom = r.get("memory_bytes_per_atom")
        flops = "" if flops_own is None else f"{flops_own / 1e9:.1f} ({flops_useful / 1e9:.1f})"
        fraction = "" if peak_own is None else f"{100 * peak_own:.1f} ({100 * peak_useful:.1f})"
        lines.append(
            f"| {n} | {r['code']} | {r['device']} | {r['precision'][-2:]} | {_fmt(r.get('t_nb_s'), '.4f')} | "
            f"{_fmt(r.get('t_compute_s'), '.4f')} | {r['t_total_s']:.4f} | {r['us_per_step_atom']:.2f} | "
            f"{_fmt(r.get('speed_ratio_vs_peer'), '.2f')} | {_bytes(r.get('peak_memory_bytes'))} | "
            f"{_fmt(None if per_atom is None else per_atom / 1024, '.1f')} | {flops} | {fraction} | "
            f"{_fmt((r.get('check') or {}).get('abs_dE_per_atom'), '.1e')} |")
    load = highest_load(run)
    if load is not None:
        lines += ["", f"**Caution:** the 1-minute load average reached {load:.1f} on {m['cores']} cores during "
                      "this run: other processes shared the cores, so these timings are pessimistic and noisy "
                      "(per-point load in the JSON)."]
    lines += ["", "Compile (excluded from the timings): " + "; ".join(
        f"{c['device']} {c['precision']} {c['compile_s']:.1f} s" for c in run.get("compile", [])) + "."]
    exponents = [s for s in (run.get("scaling") or []) if s.get("exponent_all") is not None]
    if exponents:
        lines += ["", "Scaling exponent of total time vs N (least squares over all sizes; from 8k up): " + "; ".join(
            f"{s['code']} {s['device']} {s['precision'][-2:]}: {s['exponent_all']:.3f}"
            + (f" ({s['exponent_8k_up']:.3f})" if s.get("exponent_8k_up") is not None else "")
            for s in exponents) + "."]
    md = run.get("md") or []
    if md:
        lines += ["", f"MD ({md[0].get('natoms', 500)} atoms): " + "; ".join(
            f"{x['device']}: {x['ns_per_day']:.3f} ns/day ({x['s_per_step'] * 1e3:.1f} ms/step)"
            if x.get("status") == "ok" else f"{x['device']}: {x.get('status')} ({x.get('reason', '')[:80]})"
            for x in md) + "."]
    lines += ["", f"Peaks: host {run['peaks'].get('host', {}).get('peak_source', '')}."]
    lines += [f"{k}: {v.get('peak_source')}." for k, v in run["peaks"].items() if v.get("kind") == "gpu"]
    measured = [x for x in run.get("targets", []) if x["met"] is not None]
    if measured:
        lines += ["", "Targets: " + "; ".join(f"{x['target']}: {_met(x['met'])} ({x['value']})"
                                              for x in measured) + "."]
    return "\n".join(lines)


def portability_section(runs: list[dict]) -> str:
    """Efficiency per code and platform, P̸, and the targets over all runs."""
    lines = ["### Performance portability (float64)", "",
             "Architectural efficiency = useful FLOP/s ÷ the device's FP64 peak (useful FLOPs: the work both "
             "codes must do, see NOTES.md); P̸ = harmonic mean over the platforms measured (Pennycook et al.), "
             "0 if a code cannot run on one of them (by that definition DeePMD-kit's P̸ is 0 for problem sizes "
             "where its PyTorch backend runs out of GPU memory, ≥ 32k atoms on 80 GB).", "",
             "| code | platform | largest N | efficiency at largest N | efficiency at N=2,048 |",
             "|---|---|---:|---:|---:|"]
    for code, d in portability(runs).items():
        for platform, e in d["platforms"].items():
            at_2048 = "–" if e["efficiency_2048"] is None else f"{100 * e['efficiency_2048']:.2f}%"
            lines.append(f"| {code} | {platform} | {e['largest_n']:,} | {100 * e['efficiency_largest']:.2f}% "
                         f"| {at_2048} |")
        lines.append(f"| **{code}** | **P̸** | | **{100 * d['pp_largest']:.2f}%** | **{100 * d['pp_2048']:.2f}%** |")
    lines += ["", "### Targets", ""] + [
        f"- {x['target']}: " + (f"{_met(x['met'])} — {x['value']}" if x["met"] is not None else x["value"])
        for x in evaluate_targets(runs)]
    return "\n".join(lines)


def replace_block(text: str, key: str, body: str) -> str:
    """``text`` with the block between key's markers replaced by ``body`` (appended when absent)."""
    begin, end = README_BEGIN.format(key), README_END.format(key)
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        return text.split(begin)[0] + block + text.split(end, 1)[1]
    return text.rstrip() + "\n\n" + block + "\n"


def readme_path(readme: str | None, output: str) -> str | None:
    """The markdown file to update: ``readme`` itself, None for "none", and for "auto" the README.md
    beside ``output`` when ``output`` lies in a folder named benchmarks."""
    if readme in (None, "", "none"):
        return None
    if readme != "auto":
        return readme
    parent = os.path.dirname(os.path.abspath(output))
    return os.path.join(parent, "README.md") if os.path.basename(parent) == "benchmarks" else None


def write_readme(path: str, runs: list[dict]) -> None:
    text = ""
    if os.path.exists(path):
        with open(path) as fh:
            text = fh.read()
    text = text or "# Benchmarks\n"
    for run in runs:
        text = replace_block(text, run["section"], markdown_section(run))
    text = replace_block(text, "portability", portability_section(runs))
    with open(path, "w") as fh:
        fh.write(text)


def make_plots(output: str, runs: list[dict], stem: str) -> list[str]:
    """µs/step/atom and fraction of peak vs N, one line per series: ``<output>/<stem>-*.png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig_time, ax_time = plt.subplots(figsize=(8, 6.5))
    fig_peak, ax_peak = plt.subplots(figsize=(8, 6.5))
    index = 0
    for run in runs:
        for (code, device, precision), rs in series(run["results"]).items():
            color = f"C{index % 10}"
            index += 1
            label = f"{code} {device if code == 'dpsycl' else rs[0].get('hardware', device)} {precision}"
            if len(runs) > 1:
                label = f"[{run['section']}] " + label
            style = "-" if code == "dpsycl" else "--"
            marker = "o" if precision == "float64" else "s"
            ax_time.plot([r["natoms"] for r in rs], [r["us_per_step_atom"] for r in rs], style, marker=marker,
                         color=color, label=label)
            fractions = [(r["natoms"], r.get("fraction_of_peak_own"), r.get("fraction_of_peak_useful")) for r in rs]
            fractions = [f for f in fractions if f[1]]
            if fractions:
                ns = [f[0] for f in fractions]
                ax_peak.plot(ns, [100 * f[1] for f in fractions], style, marker=marker, color=color,
                             label=label + " (own FLOPs)")
                ax_peak.plot(ns, [100 * f[2] for f in fractions], ":", marker=marker, color=color, alpha=0.5,
                             mfc="none", label=label + " (useful FLOPs)")
    for ax, ylabel, title in ((ax_time, "µs / step / atom", "Energy + forces + virial (neighbour list included)"),
                              (ax_peak, "% of peak (FP64 for float64, FP32 for float32)",
                               "Achieved FLOP/s vs device peak")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("atoms N")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    paths = []
    for fig, name in ((fig_time, "us_per_atom"), (fig_peak, "fraction_of_peak")):
        path = os.path.join(output, f"{stem}-{name}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def print_summary(result: dict) -> None:
    """The run's results, scaling, MD, portability and targets on stdout."""
    print("\n" + "=" * 100)
    print(f"summary of {result['run_id']}  ({result['wall_s']:.0f} s)")
    print(f"{'N':>9} {'code':10} {'device':14} {'prec':4} {'total s':>9} {'µs/atom':>9} {'× peer':>7} "
          f"{'KiB/atom':>9} {'%peak own':>9} {'|ΔE|/N':>8}")
    for r in sorted(result["results"], key=_result_order):
        head = f"{r['natoms']:9d} {r['code'][:10]:10} {str(r.get('device'))[:14]:14} {r['precision'][-2:]:4} "
        if r.get("status") != "ok":
            print(head + f"{r.get('status', '').upper():>9}")
            continue
        fraction = r.get("fraction_of_peak_own")
        per_atom = r.get("memory_bytes_per_atom")
        print(head + f"{r['t_total_s']:9.4f} {r['us_per_step_atom']:9.2f} {_fmt(r.get('speed_ratio_vs_peer'), '7.2f'):>7} "
              f"{_fmt(None if per_atom is None else per_atom / 1024, '9.1f'):>9} "
              f"{_fmt(None if fraction is None else 100 * fraction, '9.2f'):>9} "
              f"{_fmt((r.get('check') or {}).get('abs_dE_per_atom'), '8.1e'):>8}")
    for s in result.get("scaling", []):
        if s.get("exponent_all") is not None:
            print(f"scaling {s['code']} {s['device']} {s['precision']}: exponent {s['exponent_all']:.3f} over "
                  f"{s['sizes'][0]}…{s['sizes'][-1]}"
                  + (f"; from 8k up {s['exponent_8k_up']:.3f}" if s.get("exponent_8k_up") is not None else ""))
    for m in result.get("md", []):
        if m.get("status") == "ok":
            print(f"MD {m['device']}: {m['ns_per_day']:.3f} ns/day")
    for code, d in result.get("portability", {}).items():
        print(f"portability {code}: " + ", ".join(f"{p} {100 * e['efficiency_largest']:.2f}%"
                                                   for p, e in d["platforms"].items())
              + f"; P̸ = {100 * d['pp_largest']:.2f}%")
    load = highest_load(result)
    if load is not None:
        print(f"CAUTION: load average up to {load:.1f} on {result['machine']['cores']} cores: other processes "
              "shared the cores while timing")
    print("targets:")
    for t in result.get("targets", []):
        state = "MET" if t["met"] is True else ("NOT MET" if t["met"] is False else "n/a")
        print(f"  [{state}] {t['target']}: {t['value']}")
    print(f"JSON: {result.get('json')}"
          + (f"; plots: {', '.join(result['plots'])}" if result.get("plots") else "")
          + (f"; README: {result['readme']}" if result.get("readme") else ""))
    print("=" * 100, flush=True)

"""Figures of dpsycl runs (energies, temperature, partial RDFs): the only user of matplotlib.

matplotlib is the optional extra ``dpsycl[plots]``; asking for a figure without it raises
:class:`PlotsUnavailable` with the command that installs it (``dpsycl run --plots`` checks this
before the run starts).
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np

from .analysis import energy_drift, first_peak, partial_rdfs


class PlotsUnavailable(ValueError):
    """matplotlib is not installed."""


def require() -> None:
    """PlotsUnavailable (one line) unless matplotlib can be imported."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotsUnavailable("plots need matplotlib, which is not installed: pip install 'dpsycl[plots]'")


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend."""
    require()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt



def plot_energies(traj: dict, path: str, natoms: int, nve_from_step: int | None = None) -> float:
    """Energies and temperature vs time; returns the NVE energy drift (meV/atom/ps) shown in the title."""
    plt = pyplot()
    t = np.asarray(traj["time"]) / 1000.0
    obs = traj["observables"]
    steps = np.asarray(traj["step"])
    sel = steps >= (nve_from_step or 0)
    drift = energy_drift(np.asarray(traj["time"])[sel], obs["total_energy"][sel], natoms)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for name, style in (("potential_energy", "-"), ("kinetic_energy", "-"), ("total_energy", "-")):
        y = obs[name] / natoms
        ax1.plot(t, y - y[0] if name != "kinetic_energy" else y, style,
                 label=name.replace("_", " ") + (" − E(0)" if name != "kinetic_energy" else ""))
    ax1.set_ylabel("energy (eV/atom)")
    ax1.legend(fontsize=8)
    if nve_from_step:
        dt_fs = float(traj["parameters"].get("dt", 1.0))
        for ax in (ax1, ax2):
            ax.axvline(nve_from_step * dt_fs / 1000.0, color="grey", ls=":", lw=1)
    ax1.set_title(f"NVE energy drift {drift:.3g} meV/atom/ps")
    ax2.plot(t, obs["temperature"], color="C3")
    ax2.set_ylabel("temperature (K)")
    ax2.set_xlabel("time (ps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return drift


def plot_rdfs(r, gs: dict, path: str, title: str = "") -> dict:
    """Partial RDFs; returns {pair: first-peak position} shown in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    peaks = {}
    for label, g in gs.items():
        rp, gp = first_peak(r, g)
        peaks[label] = rp
        ax.plot(r, g, label=f"{label} (peak {rp:.2f} Å, g={gp:.2f})")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return peaks


def run_plots(traj: dict, outdir: str, nve_from_step: int | None = None, rmax: float = 6.0) -> dict:
    """energies.png and rdf.png for a trajectory from dpsycl.h5md.read_trajectory."""
    os.makedirs(outdir, exist_ok=True)
    natoms = traj["positions"].shape[1]
    out = {"energies": os.path.join(outdir, "energies.png")}
    out["drift"] = plot_energies(traj, out["energies"], natoms, nve_from_step)
    if traj["cell"] is not None and len(traj["step"]):
        nf = len(traj["step"])
        sel = slice(nf // 2, nf)           # second half: after equilibration
        cells = traj["cell"][sel]
        r, gs = partial_rdfs(traj["positions"][sel], cells, traj["species"][0], traj["type_map"], rmax=rmax)
        out["rdf"] = os.path.join(outdir, "rdf.png")
        temp = float(np.mean(traj["observables"]["temperature"][sel]))
        out["peaks"] = plot_rdfs(r, gs, out["rdf"], title=f"partial RDFs, last {nf - nf // 2} frames, "
                                                          f"⟨T⟩ = {temp:.0f} K")
    return out

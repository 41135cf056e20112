"""Forces of a LAMMPS dump (the last configuration of in.cuag) against one DeepPot.eval of it.

    python compare_forces.py final.dump [--model MODEL]

The last line printed is the largest deviation |F_LAMMPS − F_eval| in eV/Å.
"""
import argparse

import numpy as np

import dpsycl
from dpsycl.lammps.dump import read_dump

parser = argparse.ArgumentParser()
parser.add_argument("dump")
parser.add_argument("--model", default=dpsycl.bundled_model())
parser.add_argument("--elements", nargs="+", default=["Cu", "Ag"], help="element of each LAMMPS type")
args = parser.parse_args()

frame = read_dump(args.dump)
dp = dpsycl.DeepPot(args.model, "numpy")
species = np.array([dp.get_type_map().index(e) for e in args.elements])
atype = species[frame.column("type").astype(int) - 1]
e, f, v, ae, av = dp.eval(frame.column("x", "y", "z")[None], frame.cell.reshape(1, 9), atype, atomic=True)
natoms = len(atype)
print(f"{args.dump}: step {frame.step}, {natoms} atoms, box {np.round(np.diag(frame.cell), 4).tolist()} Å")
if "c_pe_atom" in frame.columns:
    print(f"largest |E_i(LAMMPS) - E_i(eval)| = {np.abs(frame.column('c_pe_atom') - ae[0, :, 0]).max():.3g} eV")
print(f"largest |F(LAMMPS) - F(DeepPot.eval)| = {np.abs(frame.column('fx', 'fy', 'fz') - f[0]).max():.3g} eV/Å")

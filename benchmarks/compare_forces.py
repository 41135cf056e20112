"""Max |F(n ranks) − F(1 rank)| of the start forces benchmarks/lammps_bench.py --forces-at-start saved
(rows of position and force, sorted by position; the positions must match exactly).

    python3 benchmarks/compare_forces.py FOLDER      (files FOLDER/forces-np<ranks>-<natoms>.npy)

Prints JSON: per size and rank count, the largest force difference (eV/Å) from the one-rank forces
and the largest force, so a decomposition that loses or double-counts a neighbour shows at once.
"""
import json
import pathlib
import re
import sys

import numpy as np


def main() -> int:
    found: dict = {}
    for path in pathlib.Path(sys.argv[1]).glob("forces-np*-*.npy"):
        match = re.fullmatch(r"forces-np(\d+)-(\d+)\.npy", path.name)
        if match:
            found.setdefault(int(match.group(2)), {})[int(match.group(1))] = np.load(path)
    rows = []
    for natoms, by_ranks in sorted(found.items()):
        one = by_ranks.get(1)
        for ranks, forces in sorted(by_ranks.items()):
            if one is None or ranks == 1:
                continue
            rows.append({"natoms": natoms, "ranks": ranks,
                         "same_positions": bool(np.array_equal(forces[:, :3], one[:, :3])),
                         "max_abs_dF_eV_per_A": float(np.abs(forces[:, 3:] - one[:, 3:]).max()),
                         "max_abs_F_eV_per_A": float(np.abs(one[:, 3:]).max())})
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

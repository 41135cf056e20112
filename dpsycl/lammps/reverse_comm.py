"""Ghost values back to the ranks that own the atoms (LAMMPS's reverse communication, by atom ID).

``fix external`` hands dpsycl its forces after LAMMPS's own reverse communication, so forces and
atomic virials computed on ghost atoms are returned here, through mpi4py on LAMMPS's
communicator.  Routing is by atom ID (LAMMPS ``tag``), found once per ghost list:

1. every rank files its local IDs with a directory rank, ``ID mod nranks``;
2. every rank asks the directory for the owners of its ghost IDs;
3. every rank tells each owner which of its atoms its ghosts are, in the order it will send them.

Between two re-neighbourings the plan holds and one step costs one ``Alltoallv`` of k values per
ghost (k = 3 forces + 9 virials) and an indexed add on the owner.  Nothing assumes a brick
decomposition, a uniform grid or neighbouring ranks: ``comm_style tiled`` and ``balance`` work.
"""
from __future__ import annotations

import numpy as np

from .library import LammpsError


class GhostReturn:
    """Plan and send back per-ghost values; collective over ``comm`` (every rank calls together)."""

    def __init__(self, comm, MPI):
        self.comm, self.MPI = comm, MPI
        self.nranks = comm.Get_size()
        self.local_tags = None
        self.ghost_tags = None

    # -- plan -------------------------------------------------------------------------------
    def needs_plan(self, local_tags: np.ndarray, ghost_tags: np.ndarray) -> bool:
        """Whether this rank's atoms or ghosts changed since the plan (not collective)."""
        return (self.local_tags is None or not np.array_equal(self.local_tags, local_tags)
                or not np.array_equal(self.ghost_tags, ghost_tags))

    def plan(self, local_tags: np.ndarray, ghost_tags: np.ndarray) -> None:
        """Find the owner rank of every ghost and the local index each owner adds it to."""
        local_tags = np.asarray(local_tags, dtype=np.int64).copy()
        ghost_tags = np.asarray(ghost_tags, dtype=np.int64).copy()
        if len(local_tags) and local_tags.min() <= 0 or len(ghost_tags) and ghost_tags.min() <= 0:
            raise LammpsError("atoms without IDs: dpsycl needs 'atom_modify id yes' (the default)")
        n = self.nranks
        # 1. the directory: (ID -> owner) filed with rank ID mod n
        filed_tags, filed_from = self._exchange(local_tags % n, local_tags)
        order = np.argsort(filed_tags, kind="stable")
        dir_tags, dir_owner = filed_tags[order], filed_from[order]
        # 2. owners of this rank's ghost IDs
        unique, inverse = np.unique(ghost_tags, return_inverse=True)
        asked, asked_by = self._exchange(unique % n, unique)
        answer = np.zeros(len(asked), dtype=np.int64)
        if len(asked):
            slot = np.minimum(np.searchsorted(dir_tags, asked), max(len(dir_tags) - 1, 0))
            found = dir_tags[slot] == asked if len(dir_tags) else np.zeros(len(asked), bool)
            if not np.all(found):
                raise LammpsError(f"ghost atom ID {int(asked[~found][0])} is owned by no rank")
            answer = dir_owner[slot]
        owners_of_unique = self._reply(asked_by, answer, unique % n)
        owner = owners_of_unique[inverse]
        # 3. tell each owner which of its atoms the ghosts are, in sending order
        self.send_order = np.argsort(owner, kind="stable")
        self.send_counts = np.bincount(owner, minlength=n).astype(np.int64)
        received, _ = self._exchange(owner, ghost_tags, order=self.send_order, counts=self.send_counts)
        self.recv_counts = self._counts_from(self.send_counts)
        by_tag = np.argsort(local_tags, kind="stable")
        pos = np.searchsorted(local_tags[by_tag], received)
        self.recv_index = by_tag[np.minimum(pos, max(len(local_tags) - 1, 0))]
        if len(received) and not np.array_equal(local_tags[self.recv_index], received):
            raise LammpsError("a ghost was routed to a rank that does not own it (duplicate atom IDs?)")
        self.local_tags, self.ghost_tags = local_tags, ghost_tags

    # -- per step -----------------------------------------------------------------------------
    def send_back(self, ghost_values: np.ndarray, nlocal: int) -> np.ndarray:
        """Sum, on each owner, the values (nghost, k) its ghosts carry: an (nlocal, k) array."""
        k = ghost_values.shape[1]
        send = np.ascontiguousarray(ghost_values[self.send_order], dtype=np.float64)
        recv = np.empty((int(self.recv_counts.sum()), k))
        self._alltoallv(send, self.send_counts * k, recv, self.recv_counts * k, self.MPI.DOUBLE)
        out = np.zeros((nlocal, k))
        np.add.at(out, self.recv_index, recv)
        return out

    # -- MPI helpers --------------------------------------------------------------------------
    def _counts_from(self, send_counts: np.ndarray) -> np.ndarray:
        recv_counts = np.empty(self.nranks, dtype=np.int64)
        self.comm.Alltoall(send_counts, recv_counts)
        return recv_counts

    def _alltoallv(self, send, send_counts, recv, recv_counts, datatype) -> None:
        sdispl = np.concatenate([[0], np.cumsum(send_counts)[:-1]]).astype(np.int64)
        rdispl = np.concatenate([[0], np.cumsum(recv_counts)[:-1]]).astype(np.int64)
        self.comm.Alltoallv([send, (send_counts, sdispl), datatype], [recv, (recv_counts, rdispl), datatype])

    def _exchange(self, dest: np.ndarray, values: np.ndarray, order=None, counts=None):
        """Send each value to rank ``dest``; returns (received values, rank each came from)."""
        if order is None:
            order = np.argsort(dest, kind="stable")
            counts = np.bincount(dest, minlength=self.nranks).astype(np.int64)
        send = np.ascontiguousarray(values[order], dtype=np.int64)
        recv_counts = self._counts_from(counts)
        recv = np.empty(int(recv_counts.sum()), dtype=np.int64)
        self._alltoallv(send, counts, recv, recv_counts, self.MPI.INT64_T)
        return recv, np.repeat(np.arange(self.nranks), recv_counts)

    def _reply(self, asked_by: np.ndarray, answer: np.ndarray, asked_dest: np.ndarray) -> np.ndarray:
        """Send each answer back to the rank that asked; arrives in that rank's asking order."""
        got, _ = self._exchange(asked_by, answer, order=np.arange(len(answer)),
                                counts=np.bincount(asked_by, minlength=self.nranks).astype(np.int64))
        # the asker sent its questions sorted by destination (stable): undo that order
        order = np.argsort(asked_dest, kind="stable")
        out = np.empty(len(asked_dest), dtype=np.int64)
        out[order] = got
        return out

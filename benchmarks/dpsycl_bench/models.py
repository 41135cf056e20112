"""FLOP and byte models of one energy + forces + virial evaluation of an se_e2_a model.

Counted from the layer sizes and the measured neighbour counts, for three kinds of work: dpsycl's
own (its kernels, as described by :func:`kernel_traits`), DeePMD-kit's own (TensorFlow and PyTorch
evaluate the same tensors) and the "useful" work both must do.  Achieved FLOP/s = FLOPs / time;
benchmarks/NOTES.md tabulates the terms for the bundled model.

Convention: a multiply-add is 2 FLOPs, an activation (tanh) 1, its derivative 1 − y² 2, a
division or square root 1.
"""
from __future__ import annotations

import numpy as np

GEOM_FLOPS = 94          # r_ij from images (21), r² test (5), env row + derivatives (60), normalisation (8)
ENV_DERIV_FLOPS = 24     # ∂E/∂R̃ · ∂R̃/∂r (4 × 3 multiply-adds)
FORCE_VIRIAL_FLOPS = 42  # per pair: force gather (3 + 3) + virial 9 multiply-adds (18) + image shift (18)

#: what today's kernels (device_kernels/se_e2_a.py and se_e2_a_group.py) do, in both layouts: the
#: descriptor pass evaluates G alone (its tangent dG/ds only in the gradient pass) and G at the
#: empty-slot row once per species pair (``padding_embeddings``).  Update these, and the FLOP model
#: with them, when the kernels change; the other variants are kept to re-read older JSON files.
KERNEL_VARIANT = {"pass1_tangent": False, "padding": "per_species_pair"}


def _se_e2_a(model):
    if model.descriptor_type != "se_e2_a":
        raise ValueError(f"the FLOP and byte models count se_e2_a work; this model's descriptor is "
                         f"{model.descriptor_type}")
    return model.descriptor


def network_dims(model) -> tuple[list[int], list[int]]:
    """Widths of the embedding net (1 → … → M) and of the fitting net (M·M< → … → 1)."""
    d = _se_e2_a(model)
    return [1] + list(d.neuron), [d.output_width] + list(model.fitting.neuron) + [1]


def kernel_traits(evaluator=None, natoms: int | None = None) -> dict:
    """The kernel variant (:data:`KERNEL_VARIANT`) and the evaluator's work decomposition at natoms
    atoms: ``layout`` ("chunk" or "group") and ``nchunk`` (slot chunks per atom, partial descriptor
    sums; 1 in the group layout)."""
    layout = evaluator.layout if evaluator is not None else "chunk"
    nchunk = int(evaluator.chunks_for(natoms)) if layout == "chunk" and evaluator is not None and natoms else 1
    return dict(KERNEL_VARIANT, layout=layout, nchunk=nchunk)


def _embedding_terms(model):
    """Multiply-adds, activations, skip additions and idt scalings of one embedding-net evaluation."""
    d = _se_e2_a(model)
    emb, _ = network_dims(model)
    layers = list(zip(emb[:-1], emb[1:]))
    multiply_adds = sum(i * o for i, o in layers)
    activations = sum(o for _, o in layers)
    skips = sum(o for i, o in layers if o in (i, 2 * i))
    idt = skips if d.resnet_dt else 0
    return multiply_adds, activations, skips, idt


def _fitting_terms(model) -> tuple[int, int]:
    """FLOPs of the fitting net forward (with φ') and of its reverse pass (input gradient only)."""
    _, fit = network_dims(model)
    hidden = [(fit[k], fit[k + 1]) for k in range(len(fit) - 2)]
    multiply_adds = sum(i * o for i, o in hidden)
    activations = sum(o for _, o in hidden)
    residual = sum(o for i, o in hidden[1:] if i == o)
    idt = residual if model.fitting.resnet_dt else 0      # DeePMD-kit scales the residual layers only
    final = fit[-2]
    # forward: 2·multiply-adds + φ (1) + φ' (2) + idt (2: h and dh) + residual adds + output layer
    forward = 2 * multiply_adds + 3 * activations + 2 * idt + residual + 2 * final
    # reverse: buffer · φ' · w + add per weight, residual adds
    reverse = 3 * multiply_adds + residual
    return forward, reverse


def flop_model(model, n_real: float, n_padded_blocks: float, natoms: int, traits: dict | None = None) -> dict:
    """FLOPs of one energy+forces+virial evaluation: {"dpsycl", "deepmd", "useful", "parts", "terms"}.

    ``n_real``: real neighbour slots in total; ``n_padded_blocks``: (atom, neighbour species)
    blocks with at least one empty slot; ``traits``: :func:`kernel_traits` (default: today's kernels,
    one chunk per atom).

    * dpsycl: per real pair, the descriptor pass evaluates the embedding net (value only, φ' still
      taken; with its tangent when ``pass1_tangent``) and accumulates T; the gradient pass
      recomputes env row, embedding net and tangent, then ∂E/∂G, ∂E/∂s, ∂E/∂r̃.  Empty slots:
      n_pad·R_pad ⊗ G(R_pad) per (atom, block), G(R_pad) evaluated once per species pair (or per
      block when ``padding`` is per_atom_block).  Per atom: partial-T sums over ``nchunk`` chunks,
      D = TᵀT<, fitting net forward + reverse, ∂E/∂T; the gather kernel sums each slot and each
      reverse pair (force + virial).  The work-group layout's tree reductions (a few % of adds)
      are not counted.
    * DeePMD-kit: the embedding net forward on every ``sel`` slot (padded ones included),
      T = R̃ᵀG as a (4 × nnei)·(nnei × M) product, the reverse pass through the same tensors on
      every slot; env rows, force and virial products on real pairs.
    * useful: embedding forward + one reverse pass per real pair, the empty-slot share per (atom,
      block) with G(R_pad) once per species pair, the per-atom descriptor and fitting net.
    """
    d = _se_e2_a(model)
    traits = traits or kernel_traits()
    m, axis, nnei, ntypes = d.embedding_width, d.axis_neuron, d.nnei, model.ntypes
    s_e, a_e, r_e, idt_e = _embedding_terms(model)
    fit_forward, fit_reverse = _fitting_terms(model)
    emb_forward = 2 * s_e + a_e + r_e + idt_e                     # value only
    emb_forward_tangent = 4 * s_e + 4 * a_e + 2 * r_e + 2 * idt_e  # value + forward-mode tangent
    emb_forward_kernel = 2 * s_e + 4 * a_e + 2 * r_e + 2 * idt_e   # dpsycl's value pass (φ' still taken)
    emb_reverse = 2 * s_e + 3 * a_e + r_e + idt_e                 # reverse mode, input gradient only
    descriptor = 8 * m * axis + 4 * m                             # T scale, D = TᵀT<
    d_descriptor = 16 * m * axis + 4 * m                          # ∂E/∂T from ∂E/∂D
    per_atom = descriptor + fit_forward + fit_reverse + d_descriptor + 3
    n_real, n_pad = float(n_real), float(n_padded_blocks)
    slots = float(natoms) * nnei

    pass1_emb = emb_forward_tangent if traits["pass1_tangent"] else emb_forward_kernel
    if traits["padding"] == "per_atom_block":
        padding = n_pad * (12 + pass1_emb + 8 * m)
    else:
        padding = n_pad * (8 + 8 * m) + ntypes * ntypes * (12 + emb_forward_kernel)
    own_dpsycl = {
        "pass1_real_pairs": n_real * (GEOM_FLOPS + pass1_emb + 8 * m),
        "pass1_padded_blocks": padding,
        "partial_sums": natoms * 4 * m * max(0, int(traits.get("nchunk", 1)) - 1),
        "per_atom_descriptor_fitting": natoms * per_atom,
        "pass2_real_pairs": n_real * (GEOM_FLOPS + emb_forward_tangent + 10 * m + 8 * m + 4 * 7 + 1),
        "gather": slots * 3 + n_real * FORCE_VIRIAL_FLOPS,
    }
    own_deepmd = {
        "env_rows": n_real * (GEOM_FLOPS - 8) + slots * 8,
        "embedding_forward_all_slots": slots * emb_forward,
        "T_all_slots": slots * 8 * m,
        "per_atom_descriptor_fitting": natoms * per_atom,
        "backward_T_all_slots": slots * 16 * m,
        "embedding_reverse_all_slots": slots * (emb_reverse + 1),
        "force_virial_real_pairs": n_real * (ENV_DERIV_FLOPS + FORCE_VIRIAL_FLOPS),
    }
    useful = {
        "real_pairs": n_real * (GEOM_FLOPS + emb_forward + 8 * m + 16 * m + emb_reverse + 1 + ENV_DERIV_FLOPS
                                + FORCE_VIRIAL_FLOPS),
        "padded_blocks": n_pad * (8 + 8 * m) + ntypes * ntypes * (12 + emb_forward),
        "per_atom_descriptor_fitting": natoms * per_atom,
    }
    return {
        "dpsycl": sum(own_dpsycl.values()), "deepmd": sum(own_deepmd.values()), "useful": sum(useful.values()),
        "parts": {"dpsycl": own_dpsycl, "deepmd": own_deepmd, "useful": useful}, "traits": traits,
        "terms": {"embedding_multiply_adds": s_e, "embedding_activations": a_e,
                  "embedding_forward": emb_forward, "embedding_forward_tangent": emb_forward_tangent,
                  "embedding_reverse": emb_reverse, "fitting_forward": fit_forward, "fitting_reverse": fit_reverse,
                  "per_atom_descriptor_fitting": per_atom},
    }


def bytes_model(model, n_real: float, natoms: int, itemsize: int, rev_cap: int, traits: dict | None = None) -> dict:
    """Bytes moved per atom by one dpsycl ``compute`` (all its kernels), weights assumed cache-resident.

    ``streamed``: every array access goes to memory once per kernel pass (neighbour positions
    included); ``compulsory``: only the per-slot streams (nlist, nshift, pair gradients) and the
    per-atom inputs and outputs.  ``resident``: the bytes per atom those arrays occupy (the
    measured counterpart is ``DeviceEvaluator.workspace_bytes()``).
    """
    nnei = _se_e2_a(model).nnei
    i8 = 8
    per_atom_io = 3 * itemsize + i8 + (1 + 3 + 9) * itemsize    # pos_i, atype; energy, force, virial
    slot_streams = (2 * 2 * nnei * i8            # nlist + nshift, read in both passes
                    + 3 * nnei * itemsize        # pair gradients written
                    + 3 * nnei * itemsize)       # and read back by the gather kernel (own row)
    neighbour_reads = float(n_real) * (2 * 3 * itemsize      # neighbour positions, both passes
                                       + i8 + 3 * itemsize   # reverse slot id + its pair gradient
                                       + i8 + 3 * itemsize)  # its image shift + partner position
    t4m = 4 * model.descriptor.embedding_width * itemsize
    staged = staged_resident = 0.0
    if traits and traits.get("layout") == "chunk":
        # partial T per chunk written by the descriptor pass and read by the fitting kernel; ∂E/∂T
        # written once and read by every chunk of the gradient pass
        nchunk = int(traits.get("nchunk", 1))
        staged = 2 * nchunk * t4m + (1 + nchunk) * t4m
        staged_resident = (nchunk + 1) * t4m
    compulsory = natoms * (per_atom_io + slot_streams + staged)
    streamed = compulsory + neighbour_reads
    resident = natoms * (2 * nnei * i8 + 3 * nnei * itemsize + rev_cap * i8 + i8
                         + (3 + 1 + 3 + 9) * itemsize + i8 + staged_resident)
    return {"streamed_per_atom": streamed / natoms, "compulsory_per_atom": compulsory / natoms,
            "resident_per_atom": resident / natoms}


def neighbour_stats(model, neighbors, backend, natoms: int) -> dict:
    """Real and empty slots of a built neighbour list (``DeviceEvaluator.build_neighbors``), the
    inputs of the FLOP and byte models."""
    d = _se_e2_a(model)
    (lst,) = neighbors.lists       # se_e2_a reads one list
    real = backend.to_host(lst.nlist).reshape(natoms, d.nnei) >= 0
    offsets = d.sel_offsets
    per_block = np.stack([real[:, offsets[t]:offsets[t + 1]].sum(axis=1) for t in range(model.ntypes)], axis=1)
    padded_blocks = int((per_block < np.asarray(d.sel)[None, :]).sum())
    return {"n_real": int(real.sum()), "mean_real": float(real.sum() / natoms),
            "mean_real_per_block": [float(x) for x in per_block.mean(axis=0)],
            "max_real": int(real.sum(axis=1).max()), "padded_blocks": padded_blocks,
            "mean_padded_slots": float(d.nnei - real.sum() / natoms),
            "n_truncated": int(neighbors.n_truncated), "rev_cap": int(lst.rev_cap),
            "max_candidates": int(lst.max_candidates)}

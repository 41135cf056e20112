"""dpsycl's benchmark harness: dpsycl against DeePMD-kit on the same model, structures and hardware.

Not part of the installed library (it lives in the repository's benchmarks/ folder and uses only
dpsycl's public API).  The command line is ``python benchmarks/bench.py [options]`` (``make bench``).

Modules, one job each; each imports only modules listed above it (no cycles):

    structures      the benchmarked structures: sizes, supercells, the random Cu–Ag alloy
    machine         host and device facts: versions, CPU model, FLOP/s and bandwidth peaks, memory probes
    models          FLOP and byte models of one evaluation, neighbour statistics, kernel traits
    deepmd_pt_shim  makes DeePMD-kit's PyTorch backend importable on the bare GPU machine
    peers           DeePMD-kit's own inference (TensorFlow .pb or PyTorch .pth) as the peer
    dpsycl_target   dpsycl on one device and precision: kernels compiled, phases timed
    timing          one benchmark point: energy check, repeats within the budget, timers, memory
    md_throughput   MD ns/day of the ``make run`` system
    md_scaling      MD ns/day and peak memory per atom at given sizes (benchmarks/md_scaling.py)
    large_system    one DeepPot.eval of 10 M atoms, and the largest N the library predicts
    analysis        scaling exponents, performance portability, the project's targets
    results_files   the JSON file of a run: schema, atomic writes, the newest runs read back
    report          benchmarks/README.md sections, plots, the console summary
    runner          BenchConfig and run_benchmark: the whole run, JSON checkpointed after each size
    cli             the options of benchmarks/bench.py
    md_report       benchmarks/md_scaling.py's README section, plot and console table

Nothing here is imported by dpsycl.
"""

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
    analysis        scaling exponents, performance portability, the project's targets
    results_files   the JSON file of a run: schema, atomic writes, the newest runs read back
    report          benchmarks/README.md sections, plots, the console summary
    runner          BenchConfig and run_benchmark: the whole run, JSON checkpointed after each size
    cli             the options of benchmarks/bench.py

Nothing here is imported by dpsycl.
"""
